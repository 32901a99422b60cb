//! Which deliveries a run checks: the whole history, or those whose records changed since a
//! point in time (plus every running one), and where a scheduled run starts from.

use std::{
    fmt,
    io::{self, Write as _},
    path::Path,
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// The deliveries a run looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every delivery the three records know.
    All,
    /// Every running delivery, and every delivery whose workflow closed or whose ledger
    /// journal or list row changed at or after this time.
    Since(DateTime<Utc>),
}

impl Window {
    /// Where a run at `now` starts: from the last complete run's start less `overlap` when the
    /// state file has one, else `since` before `now`, else the whole history.
    pub fn starting(
        now: DateTime<Utc>,
        since: Option<Duration>,
        overlap: Duration,
        last_run: Option<DateTime<Utc>>,
    ) -> Self {
        match (last_run, since) {
            (Some(last), _) => Window::Since(last - delta(overlap)),
            (None, Some(since)) => Window::Since(now - delta(since)),
            (None, None) => Window::All,
        }
    }

    /// Whether something that happened at `at` is inside the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        match self {
            Window::All => true,
            Window::Since(start) => at >= *start,
        }
    }

    /// The start, `None` for the whole history.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        match self {
            Window::All => None,
            Window::Since(start) => Some(*start),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::All => f.write_str("the whole history"),
            Window::Since(start) => write!(
                f,
                "running, and changed since {}",
                start.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        }
    }
}

/// A duration far beyond any window saturates rather than overflowing.
pub(crate) fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// A duration as operators write it: whole numbers with a unit, `s`, `m`, `h` or `d`, one or
/// several (`90s`, `15m`, `2h`, `1h30m`, `7d`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("empty: give a number with a unit, such as 15m, 2h or 7d".to_owned());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            other => {
                return Err(format!(
                    "unknown unit {other:?} in {value:?}: use s, m, h or d, as 15m, 2h or 7d"
                ));
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("a unit without a number in {value:?}: write 15m, 2h or 7d"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| format!("{value:?} is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "{value:?} has no unit: write {digits}s, {digits}m, {digits}h or {digits}d"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// The start of the last complete run recorded in `path`; `None` when there is no such file
/// yet (the first run).
pub fn read_state(path: &Path) -> io::Result<Option<DateTime<Utc>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} does not hold an RFC 3339 time ({e}): delete it to start again",
                    path.display()
                ),
            )
        })
}

/// Records `started` as the start of the last complete run, whole or not at all (a temporary
/// file renamed over the old one), so a run killed meanwhile leaves the previous state.
pub fn write_state(path: &Path, started: DateTime<Utc>) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut file = std::fs::File::create(&tmp)?;
        writeln!(
            file,
            "{}",
            started.to_rfc3339_opts(SecondsFormat::Micros, true)
        )?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations_take_seconds_minutes_hours_days_and_sums_of_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_duration_without_a_unit_or_with_an_unknown_one_is_refused() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("15").unwrap_err().contains("15m"));
        assert!(parse_duration("2w").unwrap_err().contains("unit"));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn without_a_window_or_a_state_the_run_covers_the_whole_history() {
        let now = t("2026-12-01T12:00:00Z");
        let window = Window::starting(now, None, Duration::from_secs(300), None);
        assert_eq!(window, Window::All);
        assert!(window.contains(t("2000-01-01T00:00:00Z")));
    }

    #[test]
    fn since_reaches_back_from_now() {
        let now = t("2026-12-01T12:00:00Z");
        let window = Window::starting(now, Some(Duration::from_secs(3600)), Duration::ZERO, None);
        assert_eq!(window, Window::Since(t("2026-12-01T11:00:00Z")));
        assert!(window.contains(t("2026-12-01T11:00:00Z")));
        assert!(!window.contains(t("2026-12-01T10:59:59Z")));
    }

    #[test]
    fn a_recorded_run_wins_over_since_and_is_overlapped() {
        let now = t("2026-12-01T12:00:00Z");
        let last = t("2026-12-01T09:00:00Z");
        // The last run was three hours ago: everything since, not just the last hour.
        let window = Window::starting(
            now,
            Some(Duration::from_secs(3600)),
            Duration::from_secs(300),
            Some(last),
        );
        assert_eq!(window, Window::Since(t("2026-12-01T08:55:00Z")));
    }

    #[test]
    fn the_state_file_keeps_the_last_start_and_a_missing_one_is_the_first_run() {
        let dir = std::env::temp_dir().join(format!("delivery-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let _ = std::fs::remove_file(&path);
        assert_eq!(read_state(&path).unwrap(), None);
        let started = t("2026-12-01T12:00:00.123456Z");
        write_state(&path, started).unwrap();
        assert_eq!(read_state(&path).unwrap(), Some(started));
        write_state(&path, t("2026-12-01T12:15:00Z")).unwrap();
        assert_eq!(read_state(&path).unwrap(), Some(t("2026-12-01T12:15:00Z")));
        std::fs::write(&path, "yesterday").unwrap();
        let err = read_state(&path).unwrap_err();
        assert!(err.to_string().contains("delete it"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

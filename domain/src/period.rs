//! Accounting periods: the stretches of time a payout or an invoice covers.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// How long each period of a schedule is. Periods are aligned on UTC: days start at midnight,
/// months on the first, and `every N seconds` on multiples of N since the Unix epoch (the way
/// Temporal's interval schedules fire), so each instant belongs to exactly one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PeriodLength {
    /// Calendar months.
    Monthly,
    /// Days.
    Daily,
    /// A fixed number of seconds (1 to 86,400): short periods for tests and demos.
    Seconds(u32),
}

/// A period length that is not `daily`, `monthly` or a duration such as `60s`, `5m`, `1h`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be daily, monthly or a duration of 1s to 24h such as 60s, 5m or 1h")]
pub struct InvalidPeriodLength;

impl FromStr for PeriodLength {
    type Err = InvalidPeriodLength;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "daily" => return Ok(PeriodLength::Daily),
            "monthly" => return Ok(PeriodLength::Monthly),
            _ => {}
        }
        let (number, unit) = s.split_at(s.len().saturating_sub(1));
        let unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            _ => return Err(InvalidPeriodLength),
        };
        let seconds = number
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .filter(|s| (1..=86_400).contains(s))
            .ok_or(InvalidPeriodLength)?;
        Ok(match seconds {
            86_400 => PeriodLength::Daily,
            seconds => PeriodLength::Seconds(seconds),
        })
    }
}

impl fmt::Display for PeriodLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeriodLength::Monthly => f.write_str("monthly"),
            PeriodLength::Daily => f.write_str("daily"),
            PeriodLength::Seconds(s) => write!(f, "{s}s"),
        }
    }
}

/// One period: `[start, end)`, named by `label` (`2026-11` for a month, `2026-11-30` for a day,
/// the start such as `2026-11-30T08:58:00Z` for a shorter period).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl PeriodLength {
    /// The period that contains `at`.
    pub fn containing(self, at: DateTime<Utc>) -> Period {
        match self {
            PeriodLength::Monthly => {
                let first =
                    NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or(at.date_naive());
                let start = Utc.from_utc_datetime(&first.and_time(Default::default()));
                Period {
                    label: start.format("%Y-%m").to_string(),
                    start,
                    end: start + Months::new(1),
                }
            }
            PeriodLength::Daily => {
                let start = Utc.from_utc_datetime(&at.date_naive().and_time(Default::default()));
                Period {
                    label: start.format("%Y-%m-%d").to_string(),
                    start,
                    end: start + chrono::Duration::days(1),
                }
            }
            PeriodLength::Seconds(seconds) => {
                let seconds = i64::from(seconds.max(1));
                let start_secs = at.timestamp().div_euclid(seconds) * seconds;
                let start = Utc.timestamp_opt(start_secs, 0).single().unwrap_or(at);
                Period {
                    label: start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    start,
                    end: start + chrono::Duration::seconds(seconds),
                }
            }
        }
    }

    /// The last whole period that ended at or before `at`: what a run started at `at` settles.
    pub fn last_ended(self, at: DateTime<Utc>) -> Period {
        let current = self.containing(at);
        self.containing(current.start - chrono::Duration::nanoseconds(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn lengths_parse_from_words_and_durations() {
        assert_eq!("daily".parse(), Ok(PeriodLength::Daily));
        assert_eq!("monthly".parse(), Ok(PeriodLength::Monthly));
        assert_eq!("60s".parse(), Ok(PeriodLength::Seconds(60)));
        assert_eq!("5m".parse(), Ok(PeriodLength::Seconds(300)));
        assert_eq!("24h".parse(), Ok(PeriodLength::Daily));
        for bad in ["", "0s", "25h", "weekly", "1d", "-5s", "s", "1.5h"] {
            assert_eq!(
                bad.parse::<PeriodLength>(),
                Err(InvalidPeriodLength),
                "{bad}"
            );
        }
        for length in [
            PeriodLength::Daily,
            PeriodLength::Monthly,
            PeriodLength::Seconds(90),
        ] {
            assert_eq!(length.to_string().parse(), Ok(length));
        }
    }

    #[test]
    fn a_run_settles_the_period_that_ended_last() {
        let run = at("2026-12-01T00:00:00.250Z");
        let day = PeriodLength::Daily.last_ended(run);
        assert_eq!(day.label, "2026-11-30");
        assert_eq!(
            (day.start, day.end),
            (at("2026-11-30T00:00:00Z"), at("2026-12-01T00:00:00Z"))
        );
        let month = PeriodLength::Monthly.last_ended(run);
        assert_eq!(month.label, "2026-11");
        assert_eq!(
            (month.start, month.end),
            (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"))
        );
        let minute = PeriodLength::Seconds(60).last_ended(at("2026-11-30T08:59:00.100Z"));
        assert_eq!(minute.label, "2026-11-30T08:58:00Z");
        assert_eq!(minute.end, at("2026-11-30T08:59:00Z"));
        // February is shorter; January's end is February's start.
        let feb = PeriodLength::Monthly.containing(at("2027-02-15T12:00:00Z"));
        assert_eq!(
            (feb.start, feb.end),
            (at("2027-02-01T00:00:00Z"), at("2027-03-01T00:00:00Z"))
        );
        assert_eq!(PeriodLength::Monthly.last_ended(feb.start).end, feb.start);
    }
}

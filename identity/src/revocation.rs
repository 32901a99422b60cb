//! Revocation without a database read per request: each account's standing (role, not-before
//! time, deleted or unknown) cached for at most a refresh interval (60 s by default).
//!
//! A token is refused when its account is unknown or deleted, when it was issued before the
//! account's not-before time (its secret was rotated since), or when the role it claims is not
//! the account's. So a deleted or rotated account's tokens stop working within one interval in
//! every process, and at once in the process that made the change if it calls
//! [`NotBeforeCache::forget`].

use std::{
    collections::HashMap,
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use domain::AccountId;

use crate::{AccountError, Accounts, Principal, Standing};

/// How long a cached standing is trusted unless configured otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// Entries kept before stale ones are swept: bounds memory whatever callers send.
const MAX_ENTRIES: usize = 100_000;

/// Where standings come from: the account store, or a stand-in in tests.
pub trait StandingSource: Send + Sync {
    fn standing(
        &self,
        id: &AccountId,
    ) -> impl Future<Output = Result<Standing, AccountError>> + Send;
}

impl StandingSource for Accounts {
    async fn standing(&self, id: &AccountId) -> Result<Standing, AccountError> {
        Accounts::standing(self, id).await
    }
}

/// Why a verified token's account does not honour it.
#[derive(Debug, thiserror::Error)]
pub enum Revoked {
    /// No such account here.
    #[error("unknown account")]
    Unknown,
    /// The account was deleted.
    #[error("the account was deleted")]
    Deleted,
    /// Issued before the account's not-before time (its secret was rotated since).
    #[error("the token was issued before the account's secret was rotated")]
    Superseded,
    /// The token claims a role the account does not have.
    #[error("the token's role is not the account's")]
    WrongRole,
    /// The token comes from the external provider but the account is not an external one, or
    /// the other way round.
    #[error("the account does not sign in where the token comes from")]
    WrongProvider,
    /// The store could not answer (fails closed: `503`).
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// Per-account standings, each trusted for at most the refresh interval.
pub struct NotBeforeCache<S = Accounts> {
    source: S,
    refresh: Duration,
    entries: Mutex<HashMap<AccountId, (Standing, Instant)>>,
    clock: Clock,
}

/// Where the cache reads the time: the system's, or in unit tests a hand-moved one.
#[derive(Clone, Debug)]
enum Clock {
    System,
    #[cfg(test)]
    Manual(std::sync::Arc<Mutex<Instant>>),
}

impl Clock {
    fn now(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            #[cfg(test)]
            Self::Manual(now) => *now.lock().unwrap(),
        }
    }
}

impl<S> std::fmt::Debug for NotBeforeCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotBeforeCache")
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl<S: StandingSource> NotBeforeCache<S> {
    /// A cache over `source` refreshing each account at most every [`DEFAULT_REFRESH`].
    pub fn new(source: S) -> Self {
        Self {
            source,
            refresh: DEFAULT_REFRESH,
            entries: Mutex::new(HashMap::new()),
            clock: Clock::System,
        }
    }

    /// Trusts a cached standing for `refresh` (the contract's bound is 60 s).
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    /// The standing of `id`: cached if looked up within the refresh interval, else read from
    /// the source (an unknown account is cached too, so a flood of tokens naming strangers
    /// does not reach the database either).
    pub async fn standing(&self, id: &AccountId) -> Result<Standing, AccountError> {
        if let Some(standing) = self.cached(id) {
            return Ok(standing);
        }
        let standing = self.source.standing(id).await?;
        self.remember(id, standing.clone());
        Ok(standing)
    }

    /// Drops what is cached for `id`: the process that rotated or deleted it refuses its old
    /// tokens at once instead of within the interval.
    pub fn forget(&self, id: &AccountId) {
        self.lock().remove(id);
    }

    /// Whether a verified token of `principal`, issued at `issued_at` (seconds since the
    /// epoch; `None` if the token does not say), from the external provider or from us, is
    /// still honoured.
    pub async fn check(
        &self,
        principal: &Principal,
        issued_at: Option<i64>,
        external: bool,
    ) -> Result<(), Revoked> {
        match self.standing(&principal.id).await? {
            Standing::Unknown => Err(Revoked::Unknown),
            Standing::Deleted { .. } => Err(Revoked::Deleted),
            Standing::Active {
                role,
                external: account_is_external,
                not_before,
            } => {
                if role != principal.role {
                    return Err(Revoked::WrongRole);
                }
                if account_is_external != external {
                    return Err(Revoked::WrongProvider);
                }
                match (not_before, issued_at) {
                    (None, _) => Ok(()),
                    (Some(nb), Some(iat)) if iat >= nb.timestamp() => Ok(()),
                    // Issued before, or undated while the account has a not-before time.
                    (Some(_), _) => Err(Revoked::Superseded),
                }
            }
        }
    }

    fn cached(&self, id: &AccountId) -> Option<Standing> {
        let now = self.clock.now();
        let entries = self.lock();
        let (standing, fetched) = entries.get(id)?;
        (now.duration_since(*fetched) < self.refresh).then(|| standing.clone())
    }

    fn remember(&self, id: &AccountId, standing: Standing) {
        let now = self.clock.now();
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            let refresh = self.refresh;
            entries.retain(|_, (_, fetched)| now.duration_since(*fetched) < refresh);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id.clone(), (standing, now));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, (Standing, Instant)>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use chrono::{DateTime, Utc};

    use domain::Role;

    use super::*;

    /// A store stand-in whose standing a test sets, counting reads.
    #[derive(Clone, Default)]
    struct Fake {
        standing: Arc<Mutex<HashMap<AccountId, Standing>>>,
        reads: Arc<AtomicUsize>,
    }

    impl Fake {
        fn set(&self, id: &str, standing: Standing) {
            self.standing
                .lock()
                .unwrap()
                .insert(id.parse().unwrap(), standing);
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    impl StandingSource for Fake {
        async fn standing(&self, id: &AccountId) -> Result<Standing, AccountError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .standing
                .lock()
                .unwrap()
                .get(id)
                .cloned()
                .unwrap_or(Standing::Unknown))
        }
    }

    fn rider() -> Principal {
        Principal::new("rider-7".parse().unwrap(), Role::Rider)
    }

    /// A cache over `fake` on a clock that moves only when `advance` says.
    fn cache(fake: &Fake) -> (NotBeforeCache<Fake>, impl Fn(Duration)) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let mut cache = NotBeforeCache::new(fake.clone());
        cache.clock = Clock::Manual(now.clone());
        let advance = move |by: Duration| *now.lock().unwrap() += by;
        (cache, advance)
    }

    fn active(not_before: Option<i64>) -> Standing {
        Standing::Active {
            role: Role::Rider,
            external: false,
            not_before: not_before.map(|s| DateTime::<Utc>::from_timestamp(s, 0).unwrap()),
        }
    }

    #[tokio::test]
    async fn requests_within_the_interval_read_the_store_once() {
        let fake = Fake::default();
        fake.set("rider-7", active(None));
        let (cache, advance) = cache(&fake);
        for _ in 0..100 {
            cache.check(&rider(), Some(1_000), false).await.unwrap();
        }
        assert_eq!(fake.reads(), 1);
        advance(DEFAULT_REFRESH - Duration::from_millis(1));
        cache.check(&rider(), Some(1_000), false).await.unwrap();
        assert_eq!(fake.reads(), 1);
        advance(Duration::from_millis(1));
        cache.check(&rider(), Some(1_000), false).await.unwrap();
        assert_eq!(fake.reads(), 2);
    }

    #[tokio::test]
    async fn a_rotation_voids_older_tokens_once_the_interval_has_passed() {
        let fake = Fake::default();
        fake.set("rider-7", active(None));
        let (cache, advance) = cache(&fake);
        assert_eq!(cache.refresh(), Duration::from_secs(60));
        cache.check(&rider(), Some(1_000), false).await.unwrap();
        fake.set("rider-7", active(Some(2_000)));
        // Still cached: the old token passes for at most the interval...
        advance(Duration::from_secs(59));
        cache.check(&rider(), Some(1_000), false).await.unwrap();
        // ...and not a moment after.
        advance(Duration::from_secs(1));
        assert!(matches!(
            cache.check(&rider(), Some(1_000), false).await,
            Err(Revoked::Superseded)
        ));
        // Tokens issued at or after the rotation pass; undated ones do not.
        cache.check(&rider(), Some(2_000), false).await.unwrap();
        assert!(matches!(
            cache.check(&rider(), None, false).await,
            Err(Revoked::Superseded)
        ));
    }

    #[tokio::test]
    async fn forgetting_an_account_applies_its_change_at_once() {
        let fake = Fake::default();
        fake.set("rider-7", active(None));
        let (cache, _) = cache(&fake);
        cache.check(&rider(), Some(1_000), false).await.unwrap();
        fake.set(
            "rider-7",
            Standing::Deleted {
                at: DateTime::from_timestamp(2_000, 0).unwrap(),
            },
        );
        cache.forget(&rider().id);
        assert!(matches!(
            cache.check(&rider(), Some(3_000), false).await,
            Err(Revoked::Deleted)
        ));
    }

    #[tokio::test]
    async fn unknown_accounts_are_refused_and_cached_too() {
        let fake = Fake::default();
        let (cache, _) = cache(&fake);
        for _ in 0..10 {
            assert!(matches!(
                cache.check(&rider(), Some(1), false).await,
                Err(Revoked::Unknown)
            ));
        }
        assert_eq!(fake.reads(), 1);
    }

    #[tokio::test]
    async fn a_claimed_role_or_provider_other_than_the_accounts_is_refused() {
        let fake = Fake::default();
        fake.set("rider-7", active(None));
        let (cache, _) = cache(&fake);
        let as_operator = Principal::new("rider-7".parse().unwrap(), Role::Operator);
        assert!(matches!(
            cache.check(&as_operator, Some(1), false).await,
            Err(Revoked::WrongRole)
        ));
        assert!(matches!(
            cache.check(&rider(), Some(1), true).await,
            Err(Revoked::WrongProvider)
        ));
    }
}

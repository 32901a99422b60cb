//! Account secrets: generated from the OS, shown once, kept only as Argon2id hashes.
//!
//! Hashing is deliberately slow (tens of milliseconds, more in debug builds), so it runs on
//! tokio's blocking pool, never on an async worker thread, and only at sign-in: tokens exist so
//! that a request never hashes.

use std::{
    fmt,
    num::NonZeroUsize,
    sync::{
        LazyLock, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tokio::sync::Semaphore;

/// Bytes of OS randomness in a generated secret: 256 bits, twice the contract's minimum.
const SECRET_BYTES: usize = 32;

/// Longest secret accepted at sign-in: bounds the work a stranger can ask of Argon2.
pub const MAX_SECRET_LEN: usize = 256;

/// A secret in clear: generated for an account and shown once, or presented at sign-in.
///
/// `Debug` and `Display` never print it; [`Secret::expose`] is the one way to read it, so every
/// place that does is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new secret: 256 bits from the operating system's generator, URL-safe base64 without
    /// padding (43 characters).
    pub fn generate() -> Result<Secret, SecretError> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Secret(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A secret someone typed or sent (a sign-in form, HTTP Basic), or a fixed one for the local
    /// demo accounts.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret in clear, to show once to its owner or to check.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An Argon2id hash of a secret as a PHC string (`$argon2id$v=19$m=…`): what the database
/// stores. Its `Debug` hides it too: a hash is an offline guessing target.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretHash(String);

impl SecretHash {
    /// A stored PHC string.
    pub(crate) fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// Making or checking a secret failed for a reason other than a wrong secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The operating system's random generator failed.
    #[error("cannot draw randomness from the operating system: {0}")]
    Random(String),
    /// Argon2 refused its input or parameters.
    #[error("cannot hash a secret: {0}")]
    Hash(String),
    /// The blocking task that hashes was cancelled or panicked.
    #[error("the secret hashing task failed: {0}")]
    Task(String),
}

/// Where Argon2 runs: on the blocking pool, at most once per core at a time. Each run holds
/// 19 MiB (the default `m`) while it lasts; a burst of sign-ins spread over the blocking pool
/// (up to 512 threads) would hold that much per request at once, memory the allocator then
/// keeps (the API reached 2 GB signing in 150 accounts). Queued, a burst takes the same CPU
/// time, and memory stays at a few runs' worth.
struct Hashing {
    permits: Semaphore,
    running: AtomicUsize,
    peak: AtomicUsize,
}

static HASHING: LazyLock<Hashing> = LazyLock::new(|| Hashing {
    permits: Semaphore::new(cores()),
    running: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
});

impl Hashing {
    /// Runs `work` once a slot is free. The slot goes with the work, so a caller that gives up
    /// waiting (a client gone) does not free it before the work ends.
    async fn run<T: Send + 'static>(
        &'static self,
        work: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
    ) -> Result<T, SecretError> {
        let slot = self
            .permits
            .acquire()
            .await
            .map_err(|e| SecretError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let done = work();
            self.running.fetch_sub(1, Ordering::SeqCst);
            done
        })
        .await
        .map_err(|e| SecretError::Task(e.to_string()))?
    }

    /// The most runs there were at once.
    #[cfg(test)]
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Hashes `secret` with Argon2id and the crate's default parameters (see [`Hashing`]).
pub(crate) async fn hash(secret: &Secret) -> Result<SecretHash, SecretError> {
    let secret = secret.clone();
    HASHING.run(move || hash_blocking(&secret)).await
}

fn hash_blocking(secret: &Secret) -> Result<SecretHash, SecretError> {
    // `Argon2::default()` is Argon2id, version 19, the crate's recommended parameters.
    let phc = Argon2::default()
        .hash_password(secret.expose().as_bytes())
        .map_err(|e| SecretError::Hash(e.to_string()))?;
    Ok(SecretHash(phc.to_string()))
}

/// Whether `secret` matches `hash` (checked where [`Hashing`] says). With no hash (an unknown,
/// deleted or external account) a dummy hash is checked instead and the answer is `false`, so
/// the time taken does not tell whether the account exists.
pub(crate) async fn verify(secret: &Secret, hash: Option<SecretHash>) -> Result<bool, SecretError> {
    let secret = secret.clone();
    HASHING
        .run(move || {
            // Overlong input is refused before Argon2 sees it, after the same dummy work.
            let usable = secret.expose().len() <= MAX_SECRET_LEN;
            match hash {
                Some(hash) if usable => Ok(verify_blocking(&secret, hash.as_str())),
                _ => {
                    let dummy = dummy_hash()?;
                    let _ = verify_blocking(&secret, dummy.as_str());
                    Ok(false)
                }
            }
        })
        .await
}

fn verify_blocking(secret: &Secret, phc: &str) -> bool {
    // Only Argon2id hashes are ours; anything else in the column is refused, not trusted.
    phc.starts_with("$argon2id$")
        && Argon2::default()
            .verify_password(secret.expose().as_bytes(), phc)
            .is_ok()
}

/// A hash of a random secret with the same parameters as real ones, made once per process.
fn dummy_hash() -> Result<&'static SecretHash, SecretError> {
    static DUMMY: OnceLock<SecretHash> = OnceLock::new();
    if let Some(dummy) = DUMMY.get() {
        return Ok(dummy);
    }
    let made = hash_blocking(&Secret::generate()?)?;
    Ok(DUMMY.get_or_init(|| made))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_256_random_bits_in_url_safe_base64() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        let decoded = URL_SAFE_NO_PAD.decode(a.expose()).unwrap();
        assert_eq!(decoded.len() * 8, 256);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "not URL-safe"
        );
    }

    /// 150 people signing in at once must not run 150 Argon2 computations of 19 MiB each
    /// side by side (the API's memory reached 2 GB that way): they queue for the cores.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn argon2_runs_at_most_once_per_core_whatever_the_burst() {
        let stored = hash(&Secret::new("right")).await.unwrap();
        let checks: Vec<_> = (0..24)
            .map(|i| {
                let stored = stored.clone();
                tokio::spawn(async move {
                    let tried = Secret::new(if i % 2 == 0 { "right" } else { "wrong" });
                    verify(&tried, Some(stored)).await.unwrap()
                })
            })
            .collect();
        for (i, check) in checks.into_iter().enumerate() {
            assert_eq!(check.await.unwrap(), i % 2 == 0);
        }
        let peak = HASHING.peak();
        assert!(
            (1..=cores()).contains(&peak),
            "{peak} Argon2 runs at once, {} allowed",
            cores()
        );
    }

    #[test]
    fn debug_never_prints_a_secret_or_its_hash() {
        let secret = Secret::new("demo-r-1");
        let hash = hash_blocking(&secret).unwrap();
        let printed = format!("{secret:?} {hash:?} {:?}", Some(&secret));
        assert!(!printed.contains("demo-r-1"), "{printed}");
        assert!(!printed.contains(hash.as_str()), "{printed}");
        assert!(!printed.contains("argon2"), "{printed}");
    }

    #[tokio::test]
    async fn the_hash_is_argon2id_never_the_secret_and_only_the_secret_matches() {
        let secret = Secret::generate().unwrap();
        let hash = hash(&secret).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$"), "{hash:?}");
        assert!(!hash.as_str().contains(secret.expose()));
        // Salted: the same secret hashes differently twice.
        assert_ne!(super::hash(&secret).await.unwrap(), hash);
        assert!(verify(&secret, Some(hash.clone())).await.unwrap());
        let wrong = Secret::new(format!("{}x", secret.expose()));
        assert!(!verify(&wrong, Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn no_hash_and_overlong_secrets_never_match() {
        let secret = Secret::new("x".repeat(MAX_SECRET_LEN + 1));
        let hash = hash(&secret).await.unwrap();
        assert!(!verify(&secret, Some(hash)).await.unwrap());
        assert!(!verify(&Secret::new("anything"), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_of_another_argon2_variant_is_refused() {
        let secret = Secret::new("s3cret");
        let argon2i = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::default(),
        )
        .hash_password(b"s3cret")
        .unwrap()
        .to_string();
        assert!(argon2i.starts_with("$argon2i$"));
        let stored = SecretHash::from_stored(argon2i);
        assert!(!verify(&secret, Some(stored)).await.unwrap());
    }
}

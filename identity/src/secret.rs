//! Account secrets: generated from the OS, shown once, kept only as Argon2id hashes.
//!
//! Hashing is deliberately slow (tens of milliseconds, more in debug builds), so it runs on
//! tokio's blocking pool, never on an async worker thread, and only at sign-in: tokens exist so
//! that a request never hashes.

use std::{
    fmt,
    num::NonZeroUsize,
    sync::{
        LazyLock, Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};
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

/// Argon2's working memory: `m` blocks of 1 KiB (19 MiB with the default parameters).
type Memory = Vec<Block>;

/// Where Argon2 runs: on the blocking pool, at most once per core at a time, each run in
/// working memory allocated once per slot and reused.
///
/// A burst of sign-ins spread over the blocking pool (up to 512 threads) would hold 19 MiB
/// per request at once (the API reached 2 GB signing in 150 accounts); queued, it takes the
/// same CPU time. Reusing the memory matters too: allocated anew for each run, the freed
/// 19 MiB blocks stayed in glibc's per-thread arenas (its mmap threshold rises to the size
/// of the largest freed block), and the API's RSS grew by about 1 MB per sign-in, to 1.5 GB
/// over a thousand.
struct Hashing {
    permits: Semaphore,
    /// Working memories not in use: at most one per slot is ever made.
    memories: Mutex<Vec<Memory>>,
    running: AtomicUsize,
    peak: AtomicUsize,
}

static HASHING: LazyLock<Hashing> = LazyLock::new(|| Hashing {
    permits: Semaphore::new(cores()),
    memories: Mutex::new(Vec::new()),
    running: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
});

impl Hashing {
    /// Runs `work` in a free slot's working memory. The slot goes with the work, so a caller
    /// that gives up waiting (a client gone) does not free it before the work ends.
    async fn run<T: Send + 'static>(
        &'static self,
        work: impl FnOnce(&mut Memory) -> Result<T, SecretError> + Send + 'static,
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
            let mut memory = self.idle_memories().pop().unwrap_or_default();
            let done = work(&mut memory);
            self.idle_memories().push(memory);
            self.running.fetch_sub(1, Ordering::SeqCst);
            done
        })
        .await
        .map_err(|e| SecretError::Task(e.to_string()))?
    }

    /// The working memories not in use. A panic while the list was held cannot have left it
    /// half-changed (one push or pop), so a poisoned lock is used as it is.
    fn idle_memories(&self) -> std::sync::MutexGuard<'_, Vec<Memory>> {
        self.memories
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The most runs there were at once.
    #[cfg(test)]
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How many working memories are not in use.
    #[cfg(test)]
    fn memories(&self) -> usize {
        self.idle_memories().len()
    }
}

/// `memory`, grown if `params` need more blocks than it has, cut to exactly what they need.
fn blocks<'m>(memory: &'m mut Memory, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::new());
    }
    &mut memory[..needed]
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Hashes `secret` with Argon2id and the crate's default parameters (see [`Hashing`]).
pub(crate) async fn hash(secret: &Secret) -> Result<SecretHash, SecretError> {
    let secret = secret.clone();
    HASHING
        .run(move |memory| hash_blocking(&secret, memory))
        .await
}

/// What `Argon2::default().hash_password` makes (Argon2id, version 19, the crate's
/// recommended parameters, a 16-byte salt from the OS), in `memory`.
fn hash_blocking(secret: &Secret, memory: &mut Memory) -> Result<SecretHash, SecretError> {
    let failed = |e: &dyn fmt::Display| SecretError::Hash(e.to_string());
    let params = Params::default();
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| SecretError::Random(e.to_string()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            secret.expose().as_bytes(),
            &salt,
            &mut out,
            blocks(memory, &params),
        )
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(SecretHash(phc.to_string()))
}

/// Whether `secret` matches `hash` (checked where [`Hashing`] says). With no hash (an unknown,
/// deleted or external account) a dummy hash is checked instead and the answer is `false`, so
/// the time taken does not tell whether the account exists.
pub(crate) async fn verify(secret: &Secret, hash: Option<SecretHash>) -> Result<bool, SecretError> {
    let secret = secret.clone();
    HASHING
        .run(move |memory| {
            // Overlong input is refused before Argon2 sees it, after the same dummy work.
            let usable = secret.expose().len() <= MAX_SECRET_LEN;
            match hash {
                Some(hash) if usable => Ok(verify_blocking(&secret, hash.as_str(), memory)),
                _ => {
                    let dummy = dummy_hash(memory)?;
                    let _ = verify_blocking(&secret, dummy.as_str(), memory);
                    Ok(false)
                }
            }
        })
        .await
}

/// What `Argon2::default().verify_password` answers, in `memory`. Only Argon2id hashes are
/// ours; anything else in the column is refused, not trusted.
fn verify_blocking(secret: &Secret, phc: &str, memory: &mut Memory) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let version = stored.version.map_or(Ok(Version::V0x13), Version::try_from);
    let (true, Ok(version), Ok(params)) = (
        stored.algorithm == ARGON2ID_IDENT,
        version,
        Params::try_from(&stored),
    ) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(Algorithm::Argon2id, version, params.clone())
        .hash_password_into_with_memory(
            secret.expose().as_bytes(),
            salt,
            &mut out,
            blocks(memory, &params),
        )
        // `Output`'s equality is constant-time.
        .is_ok_and(|()| Output::new(&out).is_ok_and(|computed| &computed == expected))
}

/// A hash of a random secret with the same parameters as real ones, made once per process.
fn dummy_hash(memory: &mut Memory) -> Result<&'static SecretHash, SecretError> {
    static DUMMY: OnceLock<SecretHash> = OnceLock::new();
    if let Some(dummy) = DUMMY.get() {
        return Ok(dummy);
    }
    let made = hash_blocking(&Secret::generate()?, memory)?;
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
        // 25 runs (and other tests' meanwhile), and no more working memories than slots:
        // each is reused.
        let memories = HASHING.memories();
        assert!(
            memories <= cores(),
            "{memories} working memories for {} slots",
            cores()
        );
    }

    /// Hashes stored by earlier releases (the crate's own `hash_password`) still verify, and
    /// the crate verifies ours: the format is unchanged.
    #[tokio::test]
    async fn hashes_are_the_crates_own_phc_strings_both_ways() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let secret = Secret::new("demo-r-1");
        let earlier = argon2::Argon2::default()
            .hash_password(b"demo-r-1")
            .unwrap()
            .to_string();
        let stored = SecretHash::from_stored(earlier);
        assert!(verify(&secret, Some(stored.clone())).await.unwrap());
        assert!(
            !verify(&Secret::new("demo-r-2"), Some(stored))
                .await
                .unwrap()
        );
        let ours = hash(&secret).await.unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"demo-r-1", ours.as_str())
                .is_ok()
        );
    }

    #[test]
    fn debug_never_prints_a_secret_or_its_hash() {
        let secret = Secret::new("demo-r-1");
        let hash = hash_blocking(&secret, &mut Memory::new()).unwrap();
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
        use argon2::PasswordHasher as _;
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

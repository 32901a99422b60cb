//! Temporal payload encryption: [`EncryptionCodec`], an AES-256-GCM `PayloadCodec`.
//!
//! Every Temporal client of the workspace (the API, the worker, the checker, loadgen's ceiling
//! worker) is connected by `workflows::client`, which puts this codec into the client's data
//! converter; workers built from a client take its data converter, and the replay tests and
//! the API's codec server (`/codec/decode`, for the Web UI and the CLI) use the same codec. So
//! what reaches Temporal's history (workflow and activity inputs and results, updates, query
//! answers, the memo) is ciphertext: a destination or a customer id is never readable there.
//! Search attributes are never encoded (the server indexes them): they must hold no private data.
//!
//! The format is the one of Temporal's encryption samples (Go, Python), so their codec servers
//! and ours read each other's payloads: metadata `encoding` = `binary/encrypted` and
//! `encryption-key-id` = the key's id; data = a random 12-byte nonce, then AES-256-GCM (no
//! associated data) over the serialized inner `Payload` proto. Decoding passes a payload
//! without that encoding through unchanged, so histories written before encryption still read.
//!
//! Keys: a directory of `<key-id>.key` files, 32 random bytes each (raw, or base64 text). Every
//! key decrypts; one encrypts, named by id or else the greatest id. Rotation is adding a key
//! with a greater id (or naming it) and keeping the old ones as long as histories need them.

use std::{
    collections::BTreeMap,
    fmt, fs,
    future::Future,
    io,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
};

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE},
};
use prost::Message as _;
use temporalio_common::{
    data_converters::{
        DataConverter, DefaultFailureConverter, PayloadCodec, PayloadConversionError,
        PayloadConverter, SerializationContextData,
    },
    protos::temporal::api::common::v1::Payload,
};

/// The `encoding` metadata of an encrypted payload.
pub const ENCODING: &str = "binary/encrypted";
/// The metadata key naming the key that encrypted a payload.
pub const KEY_ID_METADATA: &str = "encryption-key-id";
/// The metadata key of a payload's encoding (Temporal's).
const ENCODING_METADATA: &str = "encoding";
/// AES-GCM's standard nonce size.
const NONCE_LEN: usize = 12;
/// AES-256.
const KEY_LEN: usize = 32;
/// The file extension of key files.
const KEY_EXTENSION: &str = "key";

/// Keys that cannot be loaded, and payloads that cannot be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A key file that holds neither 32 raw bytes nor their base64.
    #[error("{0} is not a 32-byte key (32 raw bytes, or their base64)")]
    BadKeyFile(PathBuf),
    /// A key id (a file's stem) that is not an id.
    #[error("key id {0:?} must be 1 to 64 letters, digits, '.', '_' or '-'")]
    BadKeyId(String),
    #[error("no payload encryption keys (*.key) in {0}")]
    NoKeys(PathBuf),
    /// The configured encrypting key is not among the keys.
    #[error("the payload encryption key {0:?} is not among the configured keys")]
    NoEncryptingKey(String),
    /// A payload encrypted with a key this process does not have: a key removed too early,
    /// or processes configured with different key directories.
    #[error("a payload is encrypted with key {0:?}, which is not configured here")]
    UnknownKeyId(String),
    #[error("an encrypted payload names no key id (metadata `encryption-key-id`)")]
    MissingKeyId,
    /// The authentication tag does not verify: the payload was altered, or the key file with
    /// this id is not the one that encrypted it.
    #[error(
        "an encrypted payload does not decrypt with key {0:?}: altered, or another key of that id"
    )]
    Decrypt(String),
    #[error("an encrypted payload is malformed: {0}")]
    Malformed(&'static str),
    #[error("cannot encrypt a payload")]
    Encrypt,
    #[error("cannot draw randomness from the operating system: {0}")]
    Random(String),
}

/// The AES-256-GCM payload codec: cheap to clone (the keys are shared).
#[derive(Clone)]
pub struct EncryptionCodec {
    keys: Arc<Keys>,
}

struct Keys {
    ciphers: BTreeMap<String, Aes256Gcm>,
    encrypting: String,
}

impl fmt::Debug for EncryptionCodec {
    // Key ids only: the keys are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionCodec")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .field("encrypting", &self.encrypting_key_id())
            .finish()
    }
}

impl EncryptionCodec {
    /// The keys of `dir`; `encrypting` names the one that encrypts, else the greatest id does.
    /// Refused when the directory holds no key.
    pub fn load(dir: &Path, encrypting: Option<&str>) -> Result<Self, CodecError> {
        let keys = read_dir_keys(dir)?;
        if keys.is_empty() {
            return Err(CodecError::NoKeys(dir.to_owned()));
        }
        let encrypting = match encrypting {
            Some(id) => id.to_owned(),
            None => keys
                .keys()
                .next_back()
                .cloned()
                .ok_or_else(|| CodecError::NoKeys(dir.to_owned()))?,
        };
        Self::from_keys(keys, &encrypting)
    }

    /// The local default: loads `dir` as [`load`](Self::load) does (the greatest id encrypts),
    /// first generating a key there (file mode 0600, directory 0700) when it holds none.
    ///
    /// The generated id is `local-<UTC date>`: processes that start together on an empty
    /// directory (the API and the worker of a local run) generate the same id, so one writes
    /// it and the others read that one, instead of each encrypting with a key the others lack.
    pub fn ensure_local(dir: &Path) -> Result<Self, CodecError> {
        if read_dir_keys(dir)?.is_empty() {
            let id = format!("local-{}", chrono::Utc::now().format("%Y%m%d"));
            match write_new_key(dir, &id) {
                Ok(path) => {
                    tracing::info!(path = %path.display(), key_id = id, "payload encryption key generated");
                }
                // Another process starting at the same moment wrote it first.
                Err(CodecError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Self::load(dir, None)
    }

    /// A codec of the given `(id, key)` pairs; `encrypting` encrypts.
    pub fn from_keys<K: Into<String>>(
        keys: impl IntoIterator<Item = (K, [u8; KEY_LEN])>,
        encrypting: &str,
    ) -> Result<Self, CodecError> {
        let mut ciphers = BTreeMap::new();
        for (id, key) in keys {
            let id = id.into();
            check_key_id(&id)?;
            ciphers.insert(id, Aes256Gcm::new(&key.into()));
        }
        if !ciphers.contains_key(encrypting) {
            return Err(CodecError::NoEncryptingKey(encrypting.to_owned()));
        }
        Ok(Self {
            keys: Arc::new(Keys {
                ciphers,
                encrypting: encrypting.to_owned(),
            }),
        })
    }

    /// The id of the key new payloads are encrypted with.
    pub fn encrypting_key_id(&self) -> &str {
        &self.keys.encrypting
    }

    /// Every key id that decrypts, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.ciphers.keys().map(String::as_str)
    }

    /// A data converter with Temporal's default payload and failure converters and this codec,
    /// for a client's options or a replayer's.
    pub fn data_converter(&self) -> DataConverter {
        DataConverter::new(
            PayloadConverter::default(),
            DefaultFailureConverter::default(),
            self.clone(),
        )
    }

    /// `payload` encrypted with the encrypting key.
    pub fn encrypt(&self, payload: &Payload) -> Result<Payload, CodecError> {
        let id = &self.keys.encrypting;
        let cipher = &self.keys.ciphers[id];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CodecError::Random(e.to_string()))?;
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), payload.encode_to_vec().as_slice())
            .map_err(|_| CodecError::Encrypt)?;
        let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&sealed);
        Ok(Payload {
            metadata: [
                (ENCODING_METADATA.to_owned(), ENCODING.as_bytes().to_vec()),
                (KEY_ID_METADATA.to_owned(), id.as_bytes().to_vec()),
            ]
            .into(),
            data,
            ..Payload::default()
        })
    }

    /// The payload inside an encrypted `payload`; any other payload as it is.
    pub fn decrypt(&self, payload: Payload) -> Result<Payload, CodecError> {
        if !is_encrypted(&payload) {
            return Ok(payload);
        }
        let id = payload
            .metadata
            .get(KEY_ID_METADATA)
            .ok_or(CodecError::MissingKeyId)?;
        let id = String::from_utf8_lossy(id);
        let cipher = self
            .keys
            .ciphers
            .get(id.as_ref())
            .ok_or_else(|| CodecError::UnknownKeyId(id.clone().into_owned()))?;
        if payload.data.len() < NONCE_LEN {
            return Err(CodecError::Malformed("shorter than its nonce"));
        }
        let (nonce, sealed) = payload.data.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| CodecError::Malformed("shorter than its nonce"))?;
        let inner = cipher
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| CodecError::Decrypt(id.clone().into_owned()))?;
        Payload::decode(inner.as_slice())
            .map_err(|_| CodecError::Malformed("the decrypted data is not a payload"))
    }

    fn encode_all(&self, payloads: Vec<Payload>) -> Result<Vec<Payload>, PayloadConversionError> {
        payloads
            .iter()
            .map(|p| self.encrypt(p))
            .collect::<Result<_, _>>()
            .map_err(|e| PayloadConversionError::EncodingError(Box::new(e)))
    }

    fn decode_all(&self, payloads: Vec<Payload>) -> Result<Vec<Payload>, PayloadConversionError> {
        payloads
            .into_iter()
            .map(|p| self.decrypt(p))
            .collect::<Result<_, _>>()
            .map_err(|e| PayloadConversionError::EncodingError(Box::new(e)))
    }
}

/// Whether `payload` is one this codec encrypted (by its `encoding`).
pub fn is_encrypted(payload: &Payload) -> bool {
    payload
        .metadata
        .get(ENCODING_METADATA)
        .is_some_and(|e| e == ENCODING.as_bytes())
}

type Coded = Pin<Box<dyn Future<Output = Result<Vec<Payload>, PayloadConversionError>> + Send>>;

// AES-GCM over a payload is microseconds of work: done at once, not on a blocking thread.
impl PayloadCodec for EncryptionCodec {
    fn encode(&self, _: &SerializationContextData, payloads: Vec<Payload>) -> Coded {
        Box::pin(std::future::ready(self.encode_all(payloads)))
    }

    fn decode(&self, _: &SerializationContextData, payloads: Vec<Payload>) -> Coded {
        Box::pin(std::future::ready(self.decode_all(payloads)))
    }
}

/// Writes a new random key as `dir/<id>.key` (base64, mode 0600; never over an existing file)
/// and returns its path: the first step of a rotation.
pub fn write_new_key(dir: &Path, id: &str) -> Result<PathBuf, CodecError> {
    check_key_id(id)?;
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CodecError::Io { path, source }
    };
    config::private::create_dir(dir).map_err(io_error(dir))?;
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| CodecError::Random(e.to_string()))?;
    let path = dir.join(format!("{id}.{KEY_EXTENSION}"));
    let text = format!("{}\n", STANDARD.encode(key));
    config::private::write_new(&path, text.as_bytes()).map_err(io_error(&path))?;
    Ok(path)
}

/// Every `<id>.key` of `dir` (none when `dir` does not exist); other files are ignored.
fn read_dir_keys(dir: &Path) -> Result<BTreeMap<String, [u8; KEY_LEN]>, CodecError> {
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CodecError::Io { path, source }
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut keys = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        let (Some(id), Some(KEY_EXTENSION)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|e| e.to_str()),
        ) else {
            continue;
        };
        // Temporary files of a key being written.
        if id.starts_with('.') {
            continue;
        }
        check_key_id(id)?;
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        let key = parse_key(&bytes).ok_or_else(|| CodecError::BadKeyFile(path.clone()))?;
        keys.insert(id.to_owned(), key);
    }
    Ok(keys)
}

/// 32 raw bytes, or their base64 (standard or URL-safe, padded or not) with blanks around.
fn parse_key(bytes: &[u8]) -> Option<[u8; KEY_LEN]> {
    if let Ok(raw) = <[u8; KEY_LEN]>::try_from(bytes) {
        return Some(raw);
    }
    let text = std::str::from_utf8(bytes)
        .ok()?
        .trim()
        .trim_end_matches('=');
    let padded = format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4));
    let decoded = STANDARD
        .decode(&padded)
        .or_else(|_| URL_SAFE.decode(&padded))
        .ok()?;
    decoded.try_into().ok()
}

fn check_key_id(id: &str) -> Result<(), CodecError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    match !id.is_empty() && id.len() <= 64 && !id.starts_with('.') && id.chars().all(allowed) {
        true => Ok(()),
        false => Err(CodecError::BadKeyId(id.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: text.as_bytes().to_vec(),
            ..Payload::default()
        }
    }

    fn codec(keys: &[(&str, u8)], encrypting: &str) -> EncryptionCodec {
        EncryptionCodec::from_keys(keys.iter().map(|(id, b)| (*id, [*b; 32])), encrypting).unwrap()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_payload_round_trips_and_its_text_is_nowhere_in_the_ciphertext() {
        let codec = codec(&[("k1", 1)], "k1");
        let plain = json(r#"{"destination":"Seoul, Gangnam-gu"}"#);
        let sealed = codec.encrypt(&plain).unwrap();
        assert_eq!(sealed.metadata["encoding"], b"binary/encrypted");
        assert_eq!(sealed.metadata["encryption-key-id"], b"k1");
        assert!(!contains(&sealed.data, b"Seoul"));
        assert!(!contains(&sealed.data, b"json/plain"));
        assert_eq!(codec.decrypt(sealed).unwrap(), plain);
    }

    #[test]
    fn each_encryption_draws_a_new_nonce() {
        let codec = codec(&[("k1", 1)], "k1");
        let plain = json("1");
        assert_ne!(
            codec.encrypt(&plain).unwrap().data,
            codec.encrypt(&plain).unwrap().data
        );
    }

    #[test]
    fn an_altered_payload_is_refused() {
        let codec = codec(&[("k1", 1)], "k1");
        let mut sealed = codec.encrypt(&json("20000")).unwrap();
        let last = sealed.data.len() - 1;
        sealed.data[last] ^= 1;
        assert!(matches!(codec.decrypt(sealed), Err(CodecError::Decrypt(id)) if id == "k1"));

        let mut truncated = codec.encrypt(&json("20000")).unwrap();
        truncated.data.truncate(5);
        assert!(matches!(
            codec.decrypt(truncated),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn another_key_under_the_same_id_is_refused() {
        let sealed = codec(&[("k1", 1)], "k1").encrypt(&json("1")).unwrap();
        let other = codec(&[("k1", 2)], "k1");
        assert!(matches!(other.decrypt(sealed), Err(CodecError::Decrypt(_))));
    }

    #[test]
    fn an_unknown_key_id_is_a_clear_error() {
        let sealed = codec(&[("old", 1)], "old").encrypt(&json("1")).unwrap();
        let err = codec(&[("new", 2)], "new").decrypt(sealed).unwrap_err();
        assert!(matches!(&err, CodecError::UnknownKeyId(id) if id == "old"));
        assert!(err.to_string().contains("\"old\""), "{err}");

        let mut nameless = codec(&[("k1", 1)], "k1").encrypt(&json("1")).unwrap();
        nameless.metadata.remove(KEY_ID_METADATA);
        assert!(matches!(
            codec(&[("k1", 1)], "k1").decrypt(nameless),
            Err(CodecError::MissingKeyId)
        ));
    }

    #[test]
    fn after_a_rotation_the_new_key_encrypts_and_the_old_one_still_decrypts() {
        let before = codec(&[("2026-01", 1)], "2026-01");
        let old = before.encrypt(&json("old")).unwrap();
        let after = codec(&[("2026-01", 1), ("2026-02", 2)], "2026-02");
        let new = after.encrypt(&json("new")).unwrap();
        assert_eq!(new.metadata[KEY_ID_METADATA], b"2026-02");
        assert_eq!(after.decrypt(old).unwrap(), json("old"));
        assert_eq!(after.decrypt(new.clone()).unwrap(), json("new"));
        assert!(matches!(
            before.decrypt(new),
            Err(CodecError::UnknownKeyId(_))
        ));
    }

    #[test]
    fn plaintext_payloads_pass_through_decode() {
        let codec = codec(&[("k1", 1)], "k1");
        for plain in [json(r#""Busan""#), Payload::default()] {
            assert_eq!(codec.decrypt(plain.clone()).unwrap(), plain);
        }
    }

    #[test]
    fn the_payload_codec_trait_encodes_and_decodes_lists() {
        let codec = codec(&[("k1", 1)], "k1");
        let context = SerializationContextData::None;
        let plain = vec![json("1"), json("2")];
        let sealed = ready(codec.encode(&context, plain.clone())).unwrap();
        assert!(sealed.iter().all(is_encrypted));
        assert_eq!(ready(codec.decode(&context, sealed)).unwrap(), plain);
        let elsewhere = self::codec(&[("k2", 2)], "k2").encrypt(&json("1")).unwrap();
        let err = ready(codec.decode(&context, vec![elsewhere])).unwrap_err();
        assert!(err.to_string().contains("not configured here"), "{err}");
    }

    /// The codec's futures are ready at once: polled once, no runtime needed.
    fn ready(mut f: Coded) -> Result<Vec<Payload>, PayloadConversionError> {
        use std::task::{Context, Poll, Waker};
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("the codec's futures are ready at once"),
        }
    }

    #[test]
    fn a_directory_without_keys_gets_one_that_is_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("codec-keys");
        assert!(matches!(
            EncryptionCodec::load(&keys, None),
            Err(CodecError::NoKeys(_))
        ));
        let first = EncryptionCodec::ensure_local(&keys).unwrap();
        let sealed = first.encrypt(&json("1")).unwrap();
        let again = EncryptionCodec::ensure_local(&keys).unwrap();
        assert_eq!(again.key_ids().count(), 1);
        assert_eq!(again.decrypt(sealed).unwrap(), json("1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = keys.join(format!("{}.key", first.encrypting_key_id()));
            let mode = fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn key_files_are_raw_or_base64_and_the_greatest_id_encrypts_unless_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.key"), [7u8; 32]).unwrap();
        fs::write(
            dir.path().join("b.key"),
            format!("{}\n", STANDARD.encode([8u8; 32])),
        )
        .unwrap();
        fs::write(dir.path().join("README"), "not a key").unwrap();
        let loaded = EncryptionCodec::load(dir.path(), None).unwrap();
        assert_eq!(loaded.key_ids().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(loaded.encrypting_key_id(), "b");
        let sealed = loaded.encrypt(&json("1")).unwrap();
        assert_eq!(
            codec(&[("b", 8)], "b").decrypt(sealed).unwrap(),
            json("1"),
            "b.key is the base64 of eight"
        );
        let named = EncryptionCodec::load(dir.path(), Some("a")).unwrap();
        assert_eq!(named.encrypting_key_id(), "a");
        assert!(matches!(
            EncryptionCodec::load(dir.path(), Some("c")),
            Err(CodecError::NoEncryptingKey(_))
        ));

        fs::write(dir.path().join("short.key"), "c2hvcnQ=").unwrap();
        assert!(matches!(
            EncryptionCodec::load(dir.path(), None),
            Err(CodecError::BadKeyFile(_))
        ));
    }

    #[test]
    fn the_debug_form_names_key_ids_only() {
        let shown = format!("{:?}", codec(&[("k1", 0xAB)], "k1"));
        assert!(shown.contains("k1"));
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, "));
    }
}

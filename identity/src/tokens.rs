//! Our access tokens: RFC 9068 JWTs signed with Ed25519 (`EdDSA`), and the keys behind them.
//!
//! A [`KeySet`] holds every configured key; one signs, all verify, so the signing key rotates
//! without signing anyone out: add a key (it verifies), make it the signing one, and drop the
//! old one once the longest token lifetime has passed. [`KeySet::jwks`] publishes the public
//! halves for `/.well-known/jwks.json`.

use std::{
    collections::BTreeMap,
    fmt, fs, io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::{AccountId, Role};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
        OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    },
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Principal, jwt::RawHeader};

/// The `typ` of our access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The audience our tokens are for unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "delivery-api";
/// Clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// What a token's lifetime is unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Why a token was refused. Every variant is a `401 unauthorized` except
/// [`TokenError::Provider`], which says the external provider could not be asked (`503`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, or its header or claims are not JSON.
    #[error("the token is malformed")]
    Malformed,
    /// The header's `typ` is not `at+jwt`: an ID token or another JWT, not an access token.
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    /// An algorithm we do not accept (`none`, HMAC, or any but the expected ones).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// No key with the header's `kid` is configured (or published by the provider).
    #[error("the token's key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the expected issuer.
    #[error("the token's issuer is not accepted")]
    Issuer,
    /// `aud` does not include our audience.
    #[error("the token is not for this audience")]
    Audience,
    /// A claim is missing or of the wrong form (the subject, the role…).
    #[error("the token's claims are invalid: {0}")]
    Claims(String),
    /// The external provider's discovery document or keys could not be fetched.
    #[error("the identity provider cannot be reached: {0}")]
    Provider(String),
}

/// A key set that cannot be loaded, or a token that cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A key file that is not a PKCS#8 PEM Ed25519 private key.
    #[error("{path} is not a PKCS#8 PEM Ed25519 private key: {reason}")]
    Pem { path: PathBuf, reason: String },
    /// A key id (a file's stem) that is not an id.
    #[error("key id {0:?} must be 1 to 64 letters, digits, '.', '_' or '-'")]
    BadKid(String),
    #[error("no signing keys (*.pem) in {0}")]
    NoKeys(PathBuf),
    #[error("the signing key {0:?} is not among the configured keys")]
    NoSigningKey(String),
    #[error("cannot draw randomness from the operating system: {0}")]
    Random(String),
    #[error("cannot sign a token: {0}")]
    Sign(String),
    #[error("a token's lifetime must be at least one second")]
    Ttl,
}

/// One Ed25519 key: signs with the private half, verifies and is published with the public.
struct Key {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: [u8; 32],
}

impl Key {
    fn new(signing: &SigningKey) -> Result<Key, String> {
        let der = signing.to_pkcs8_der().map_err(|e| e.to_string())?;
        let public = signing.verifying_key().to_bytes();
        Ok(Key {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public),
            public,
        })
    }
}

/// The configured signing keys, by key id: one signs, all verify.
pub struct KeySet {
    keys: BTreeMap<String, Key>,
    signing: String,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("signing", &self.signing)
            .finish()
    }
}

impl KeySet {
    /// Every `<kid>.pem` in `dir` (PKCS#8 PEM Ed25519 private keys); `signing` names the one
    /// that signs.
    pub fn load(dir: &Path, signing: &str) -> Result<KeySet, KeyError> {
        let keys = read_dir_keys(dir)?;
        if keys.is_empty() {
            return Err(KeyError::NoKeys(dir.to_owned()));
        }
        Self::from_keys(keys, signing)
    }

    /// The run command's local default: loads `dir`, first generating a key there (file mode
    /// 0600, directory 0700) when it holds none. The greatest key id signs, and generated ids
    /// sort by their creation time, so adding a newer key file rotates.
    pub fn ensure_local(dir: &Path) -> Result<KeySet, KeyError> {
        let mut keys = read_dir_keys(dir)?;
        if keys.is_empty() {
            let kid = format!("ed25519-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
            match Self::write_new_key(dir, &kid) {
                Ok(path) => {
                    tracing::info!(path = %path.display(), kid, "token signing key generated")
                }
                // Another process starting at the same moment wrote it first.
                Err(KeyError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            keys = read_dir_keys(dir)?;
        }
        let signing = keys
            .keys()
            .next_back()
            .cloned()
            .ok_or_else(|| KeyError::NoKeys(dir.to_owned()))?;
        Self::from_keys(keys, &signing)
    }

    /// Writes a new key as `dir/<kid>.pem` (mode 0600; never over an existing file) and
    /// returns its path: the first step of a rotation.
    pub fn write_new_key(dir: &Path, kid: &str) -> Result<PathBuf, KeyError> {
        check_kid(kid)?;
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| KeyError::Io { path, source }
        };
        config::private::create_dir(dir).map_err(io_error(dir))?;
        let pem = generate_key()?
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        let path = dir.join(format!("{kid}.pem"));
        config::private::write_new(&path, pem.as_bytes()).map_err(io_error(&path))?;
        Ok(path)
    }

    /// A set of one freshly generated key `kid`, held in memory only (tests, one-off tools).
    pub fn generate(kid: &str) -> Result<KeySet, KeyError> {
        check_kid(kid)?;
        let key = Key::new(&generate_key()?).map_err(KeyError::Sign)?;
        Self::from_keys(BTreeMap::from([(kid.to_owned(), key)]), kid)
    }

    /// Keys given as `(kid, PKCS#8 PEM)` pairs (from a secret store, say); `signing` signs.
    pub fn from_pems<K, P>(
        keys: impl IntoIterator<Item = (K, P)>,
        signing: &str,
    ) -> Result<KeySet, KeyError>
    where
        K: Into<String>,
        P: AsRef<str>,
    {
        let mut parsed = BTreeMap::new();
        for (kid, pem) in keys {
            let kid = kid.into();
            check_kid(&kid)?;
            let key = parse_pem(pem.as_ref()).map_err(|reason| KeyError::Pem {
                path: PathBuf::from(format!("{kid}.pem")),
                reason,
            })?;
            parsed.insert(kid, key);
        }
        Self::from_keys(parsed, signing)
    }

    fn from_keys(keys: BTreeMap<String, Key>, signing: &str) -> Result<KeySet, KeyError> {
        if !keys.contains_key(signing) {
            return Err(KeyError::NoSigningKey(signing.to_owned()));
        }
        Ok(KeySet {
            keys,
            signing: signing.to_owned(),
        })
    }

    /// The key id new tokens are signed with.
    pub fn signing_kid(&self) -> &str {
        &self.signing
    }

    /// Every configured key id, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether `kid` is one of ours.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The public keys as a JWK Set (`kty: OKP`, `crv: Ed25519`, `use: sig`, `alg: EdDSA`,
    /// `kid`), for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        let keys = self
            .keys
            .iter()
            .map(|(kid, key)| Jwk {
                common: CommonParameters {
                    public_key_use: Some(PublicKeyUse::Signature),
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    key_id: Some(kid.clone()),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(key.public),
                }),
            })
            .collect();
        JwkSet { keys }
    }

    fn signing_key(&self) -> &Key {
        &self.keys[&self.signing]
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    AccountId::parse(kid)
        .map(drop)
        .map_err(|_| KeyError::BadKid(kid.to_owned()))
}

fn generate_key() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn parse_pem(pem: &str) -> Result<Key, String> {
    let signing = SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
    Key::new(&signing)
}

/// `dir`'s `*.pem` files by key id (the file stem); no directory means no keys.
fn read_dir_keys(dir: &Path) -> Result<BTreeMap<String, Key>, KeyError> {
    let io_error = |source| KeyError::Io {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error(e)),
    };
    let mut keys = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(io_error)?.path();
        if path.extension().is_none_or(|ext| ext != "pem") {
            continue;
        }
        let kid = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        check_kid(&kid)?;
        let pem = fs::read_to_string(&path).map_err(|source| KeyError::Io {
            path: path.clone(),
            source,
        })?;
        let key = parse_pem(&pem).map_err(|reason| KeyError::Pem {
            path: path.clone(),
            reason,
        })?;
        keys.insert(kid, key);
    }
    Ok(keys)
}

/// The claims of our access tokens (RFC 9068 §2.2, plus `role`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The account.
    pub sub: AccountId,
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// This token's unique id.
    pub jti: Uuid,
    /// The client the token was issued to (the restaurant's system, the pages).
    pub client_id: String,
}

impl Claims {
    /// The caller the token names.
    pub fn principal(&self) -> Principal {
        Principal::new(self.sub.clone(), self.role)
    }
}

/// A token just issued: what the token endpoint answers.
#[derive(Clone)]
pub struct IssuedToken {
    /// The signed JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// What it says.
    pub claims: Claims,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a bearer credential: never in a log line.
        f.debug_struct("IssuedToken")
            .field("expires_in", &self.expires_in)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Issues and verifies our access tokens; cheap to clone.
#[derive(Clone, Debug)]
pub struct Tokens {
    keys: Arc<KeySet>,
    issuer: String,
    audience: String,
    leeway: Duration,
}

impl Tokens {
    /// Tokens from `issuer` (the API's public URL) for [`DEFAULT_AUDIENCE`].
    pub fn new(keys: KeySet, issuer: impl Into<String>) -> Tokens {
        Tokens {
            keys: Arc::new(keys),
            issuer: issuer.into(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            leeway: DEFAULT_LEEWAY,
        }
    }

    pub fn with_audience(mut self, audience: impl Into<String>) -> Tokens {
        self.audience = audience.into();
        self
    }

    pub fn with_leeway(mut self, leeway: Duration) -> Tokens {
        self.leeway = leeway;
        self
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The public keys for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        self.keys.jwks()
    }

    /// A token for `principal`, issued to `client_id`, valid for `ttl` (whole seconds).
    pub fn issue(
        &self,
        principal: &Principal,
        client_id: &str,
        ttl: Duration,
    ) -> Result<IssuedToken, KeyError> {
        let ttl = ttl.as_secs();
        if ttl == 0 {
            return Err(KeyError::Ttl);
        }
        let iat = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: principal.id.clone(),
            role: principal.role,
            iat,
            exp: iat.saturating_add_unsigned(ttl),
            jti: Uuid::new_v4(),
            client_id: client_id.to_owned(),
        };
        let access_token = self.sign(&self.header(), &claims)?;
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
            claims,
        })
    }

    fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(self.keys.signing.clone());
        header
    }

    fn sign<C: Serialize>(&self, header: &Header, claims: &C) -> Result<String, KeyError> {
        jsonwebtoken::encode(header, claims, &self.keys.signing_key().encoding)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The claims of `token` if it is one of ours and still valid: `typ: at+jwt`, `alg: EdDSA`,
    /// a configured `kid`, a good signature, our issuer and audience, not expired (beyond the
    /// leeway). Whether its account still stands is [`crate::NotBeforeCache`]'s to say.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = RawHeader::parse(token)?;
        // `none`, HMAC (a public key used as a shared secret), RSA, ECDSA: none are ours.
        if header.alg != "EdDSA" {
            return Err(TokenError::Algorithm);
        }
        if !header.is_access_token() {
            return Err(TokenError::WrongType);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(crate::jwt::classify)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const ISSUER: &str = "https://delivery.example";

    fn tokens(keys: KeySet) -> Tokens {
        Tokens::new(keys, ISSUER)
    }

    fn rider() -> Principal {
        Principal::new("rider-7".parse().unwrap(), Role::Rider)
    }

    /// Valid claims for `rider-7`, as JSON so a test can spoil one field.
    fn claims() -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "rider-7", "role": "rider",
            "iat": now, "exp": now + 600, "jti": Uuid::new_v4(), "client_id": "pages",
        })
    }

    /// `claims` signed with `tokens`' signing key under `header`.
    fn signed(tokens: &Tokens, header: &Header, claims: &Value) -> String {
        tokens.sign(header, claims).unwrap()
    }

    fn b64(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn an_issued_token_verifies_and_names_the_principal() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        let issued = tokens.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let claims = tokens.verify(&issued.access_token).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.principal(), rider());
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            (ISSUER, "delivery-api")
        );
        assert_eq!(claims.client_id, "pages");
        assert_eq!(claims.jti.get_version_num(), 4);
        // A second token is a different token.
        let again = tokens.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert_ne!(again.claims.jti, claims.jti);
    }

    #[test]
    fn the_header_is_at_jwt_eddsa_with_the_signing_kid() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        let issued = tokens.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        let header = jsonwebtoken::decode_header(&issued.access_token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn a_zero_lifetime_is_refused() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        assert!(matches!(
            tokens.issue(&rider(), "pages", Duration::from_millis(999)),
            Err(KeyError::Ttl)
        ));
    }

    #[test]
    fn a_token_signed_by_a_key_we_do_not_have_is_refused() {
        let ours = tokens(KeySet::generate("k1").unwrap());
        // Same kid, another key: the signature cannot verify.
        let forger = tokens(KeySet::generate("k1").unwrap());
        let forged = forger.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert_eq!(
            ours.verify(&forged.access_token),
            Err(TokenError::Signature)
        );
        // Another kid: unknown.
        let stranger = tokens(KeySet::generate("k9").unwrap());
        let foreign = stranger.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert_eq!(
            ours.verify(&foreign.access_token),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        let issued = tokens.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        let parts: Vec<&str> = issued.access_token.split('.').collect();
        let mut claims = claims();
        claims["role"] = json!("operator");
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(tokens.verify(&tampered), Err(TokenError::Signature));
    }

    #[test]
    fn alg_none_and_hmac_tokens_are_refused() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})),
            b64(&claims())
        );
        assert_eq!(tokens.verify(&none), Err(TokenError::Algorithm));
        // HS256 keyed with our public key: the classic confusion attack.
        let public = tokens.keys().signing_key().public;
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(&public).unwrap(),
        )
        .unwrap();
        assert_eq!(tokens.verify(&hmac), Err(TokenError::Algorithm));
    }

    #[test]
    fn a_token_of_another_type_is_refused() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        for typ in [Some("JWT"), None] {
            let mut header = tokens.header();
            header.typ = typ.map(str::to_owned);
            let token = signed(&tokens, &header, &claims());
            assert_eq!(tokens.verify(&token), Err(TokenError::WrongType), "{typ:?}");
        }
    }

    #[test]
    fn an_expired_token_is_refused_after_the_leeway_only() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        let now = chrono::Utc::now().timestamp();
        let mut claims = claims();
        claims["iat"] = json!(now - 4000);
        claims["exp"] = json!(now - 10);
        let within_leeway = signed(&tokens, &tokens.header(), &claims);
        assert!(tokens.verify(&within_leeway).is_ok());
        claims["exp"] = json!(now - 31 - 5);
        let expired = signed(&tokens, &tokens.header(), &claims);
        assert_eq!(tokens.verify(&expired), Err(TokenError::Expired));
    }

    #[test]
    fn wrong_issuer_audience_and_missing_claims_are_refused() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        let spoil = |field: &str, value: Value| {
            let mut claims = claims();
            claims[field] = value;
            tokens.verify(&signed(&tokens, &tokens.header(), &claims))
        };
        assert_eq!(
            spoil("iss", json!("https://evil.example")),
            Err(TokenError::Issuer)
        );
        assert_eq!(
            spoil("aud", json!("payment-service")),
            Err(TokenError::Audience)
        );
        assert!(matches!(
            spoil("role", json!("admin")),
            Err(TokenError::Claims(_))
        ));
        assert!(matches!(
            spoil("sub", json!("not an id")),
            Err(TokenError::Claims(_))
        ));
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove("exp");
        let no_exp = signed(&tokens, &tokens.header(), &claims);
        assert!(matches!(tokens.verify(&no_exp), Err(TokenError::Claims(_))));
    }

    #[test]
    fn garbage_is_malformed() {
        let tokens = tokens(KeySet::generate("k1").unwrap());
        for bad in ["", "Bearer x", "a.b.c", "e30.e30.e30"] {
            assert!(tokens.verify(bad).is_err(), "{bad:?}");
        }
        assert_eq!(tokens.verify("not-a-token"), Err(TokenError::Malformed));
    }

    #[test]
    fn the_jwks_publishes_every_public_key_and_nothing_private() {
        let dir = tempfile::tempdir().unwrap();
        KeySet::write_new_key(dir.path(), "k1").unwrap();
        KeySet::write_new_key(dir.path(), "k2").unwrap();
        let keys = KeySet::load(dir.path(), "k2").unwrap();
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        let published = jwks["keys"].as_array().unwrap();
        assert_eq!(published.len(), 2);
        for (jwk, kid) in published.iter().zip(["k1", "k2"]) {
            assert_eq!(jwk["kid"], kid);
            assert_eq!(jwk["kty"], "OKP");
            assert_eq!(jwk["crv"], "Ed25519");
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], "EdDSA");
            assert_eq!(
                URL_SAFE_NO_PAD
                    .decode(jwk["x"].as_str().unwrap())
                    .unwrap()
                    .len(),
                32
            );
            assert!(jwk.get("d").is_none(), "private half published: {jwk}");
        }
        // What we publish is what verifies: a verifier built from the JWKS accepts our token.
        let tokens = tokens(keys);
        let issued = tokens.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        let jwk = tokens.jwks().find("k2").unwrap().clone();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[DEFAULT_AUDIENCE]);
        let decoded = jsonwebtoken::decode::<Claims>(
            &issued.access_token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        );
        assert!(decoded.is_ok(), "{decoded:?}");
    }

    #[test]
    fn tokens_of_an_old_key_verify_while_it_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        KeySet::write_new_key(dir.path(), "k1").unwrap();
        let before = tokens(KeySet::load(dir.path(), "k1").unwrap());
        let old = before.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        // Rotation: a second key signs, the first still verifies.
        KeySet::write_new_key(dir.path(), "k2").unwrap();
        let during = tokens(KeySet::load(dir.path(), "k2").unwrap());
        assert!(during.verify(&old.access_token).is_ok());
        let new = during.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new.access_token)
                .unwrap()
                .kid
                .as_deref(),
            Some("k2")
        );
        assert!(during.verify(&new.access_token).is_ok());
        // The old key retired: its tokens are refused, the new key's still verify.
        fs::remove_file(dir.path().join("k1.pem")).unwrap();
        let after = tokens(KeySet::load(dir.path(), "k2").unwrap());
        assert_eq!(after.verify(&old.access_token), Err(TokenError::UnknownKey));
        assert!(after.verify(&new.access_token).is_ok());
    }

    #[test]
    fn ensure_local_generates_one_private_key_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let first = KeySet::ensure_local(&keys_dir).unwrap();
        let kid = first.signing_kid().to_owned();
        assert!(kid.starts_with("ed25519-"), "{kid}");
        let again = KeySet::ensure_local(&keys_dir).unwrap();
        assert_eq!(again.kids().collect::<Vec<_>>(), [kid.as_str()]);
        // The same key: a token of the first load verifies under the second.
        let token = tokens(first).issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert!(tokens(again).verify(&token.access_token).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&keys_dir.join(format!("{kid}.pem"))), 0o600);
            assert_eq!(mode(&keys_dir), 0o700);
        }
        // A newer key added by hand takes over signing.
        KeySet::write_new_key(&keys_dir, "ed25519-99991231-000000").unwrap();
        assert_eq!(
            KeySet::ensure_local(&keys_dir).unwrap().signing_kid(),
            "ed25519-99991231-000000"
        );
    }

    #[test]
    fn bad_key_files_and_missing_signing_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            KeySet::load(dir.path(), "k1"),
            Err(KeyError::NoKeys(_))
        ));
        KeySet::write_new_key(dir.path(), "k1").unwrap();
        assert!(matches!(
            KeySet::load(dir.path(), "k2"),
            Err(KeyError::NoSigningKey(kid)) if kid == "k2"
        ));
        assert!(matches!(
            KeySet::write_new_key(dir.path(), "k1"),
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists
        ));
        // The refused write left no temporary file behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["k1.pem"]);
        assert!(matches!(
            KeySet::write_new_key(dir.path(), "../k"),
            Err(KeyError::BadKid(_))
        ));
        fs::write(
            dir.path().join("k3.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = KeySet::load(dir.path(), "k1").unwrap_err();
        assert!(
            matches!(&err, KeyError::Pem { path, .. } if path.ends_with("k3.pem")),
            "{err}"
        );
    }

    #[test]
    fn a_key_set_from_pems_matches_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = KeySet::write_new_key(dir.path(), "k1").unwrap();
        let pem = fs::read_to_string(path).unwrap();
        let from_pems = tokens(KeySet::from_pems([("k1", pem)], "k1").unwrap());
        let from_dir = tokens(KeySet::load(dir.path(), "k1").unwrap());
        let token = from_pems.issue(&rider(), "pages", DEFAULT_TTL).unwrap();
        assert!(from_dir.verify(&token.access_token).is_ok());
        assert!(!format!("{:?}", from_dir.keys()).contains("PRIVATE"));
    }
}

//! An external OpenID provider's access tokens (oidc-provider, Keycloak, an enterprise IdP).
//!
//! Configured with the provider's issuer, our audience at that provider, and which claims hold
//! the role and the account id. Keys come from the issuer's discovery document
//! (`{issuer}/.well-known/openid-configuration` → `jwks_uri`) and are cached; a token naming
//! a key we do not have triggers a refetch, at most once per interval (a minute by default), so
//! the provider's key rotation is picked up while forged `kid`s cannot make us hammer it.
//! RS256 (oidc-provider's default), ES256 and EdDSA are accepted.

use std::time::Duration;

use domain::{AccountId, Role};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::{
    sync::{Mutex, RwLock},
    time::Instant,
};

use crate::{Principal, TokenError, jwt::RawHeader, tokens::DEFAULT_LEEWAY};

/// Algorithms accepted from a provider.
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Where and how to check an external provider's tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalConfig {
    /// The provider's issuer URL, exactly as its tokens' `iss` and its discovery document say.
    pub issuer: String,
    /// The audience its tokens must carry for us (oidc-provider: the resource indicator).
    pub audience: String,
    /// The claim holding the role (`restaurant`, `rider`, `operator`).
    pub role_claim: String,
    /// The claim holding the account id (`sub` by default).
    pub id_claim: String,
    /// Refuse tokens whose `typ` is not `at+jwt` (RFC 9068): an ID token is not an access
    /// token. On by default.
    pub require_access_token_type: bool,
    /// Least time between two fetches of the provider's keys.
    pub min_refetch_interval: Duration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// How long one request to the provider may take.
    pub http_timeout: Duration,
}

impl ExternalConfig {
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        role_claim: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            role_claim: role_claim.into(),
            id_claim: "sub".to_owned(),
            require_access_token_type: true,
            min_refetch_interval: Duration::from_secs(60),
            leeway: DEFAULT_LEEWAY,
            http_timeout: Duration::from_secs(5),
        }
    }

    pub fn with_id_claim(mut self, claim: impl Into<String>) -> Self {
        self.id_claim = claim.into();
        self
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// A verified external token: the caller and when the token was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalToken {
    pub principal: Principal,
    /// `iat`, if the token has one (seconds since the epoch).
    pub issued_at: Option<i64>,
    /// `exp` (seconds since the epoch).
    pub expires_at: i64,
}

/// One usable key of the provider.
#[derive(Clone)]
struct ProviderKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it states one: then only that algorithm may use it.
    alg: Option<KeyAlgorithm>,
    family: AlgorithmFamily,
    key: DecodingKey,
}

/// Verifies an external provider's tokens; share it (`Arc`) between requests.
pub struct ExternalVerifier {
    config: ExternalConfig,
    http: reqwest::Client,
    keys: RwLock<Vec<ProviderKey>>,
    /// When the keys were last fetched (or tried); held while fetching, so one fetch runs.
    last_fetch: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for ExternalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl ExternalVerifier {
    pub fn new(config: ExternalConfig) -> Result<Self, TokenError> {
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .build()
            .map_err(|e| TokenError::Provider(e.to_string()))?;
        Ok(Self {
            config,
            http,
            keys: RwLock::new(Vec::new()),
            last_fetch: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &ExternalConfig {
        &self.config
    }

    /// Fetches the provider's keys now (at start, so the first request does not wait).
    pub async fn refresh(&self) -> Result<(), TokenError> {
        let mut last_fetch = self.last_fetch.lock().await;
        *last_fetch = Some(Instant::now());
        let keys = self.fetch_keys().await?;
        *self.keys.write().await = keys;
        Ok(())
    }

    /// The caller named by `token` if the provider signed it for us and it is still valid.
    /// Whether the account exists here with that role is [`crate::NotBeforeCache`]'s to say.
    pub async fn verify(&self, token: &str) -> Result<ExternalToken, TokenError> {
        let header = RawHeader::parse(token)?;
        let alg = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|alg| ACCEPTED.contains(alg))
            .ok_or(TokenError::Algorithm)?;
        if self.config.require_access_token_type && !header.is_access_token() {
            return Err(TokenError::WrongType);
        }
        let key = self.key_for(header.kid.as_deref(), alg).await?;
        let mut validation = Validation::new(alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(crate::jwt::classify)?
            .claims;
        let text = |claim: &str| {
            claims
                .get(claim)
                .and_then(Value::as_str)
                .ok_or_else(|| TokenError::Claims(format!("no {claim} claim")))
        };
        let id = AccountId::parse(text(&self.config.id_claim)?)
            .map_err(|_| TokenError::Claims(format!("{} is not an id", self.config.id_claim)))?;
        let role = text(&self.config.role_claim)?
            .parse::<Role>()
            .map_err(|_| TokenError::Claims(format!("{} is not a role", self.config.role_claim)))?;
        Ok(ExternalToken {
            principal: Principal::new(id, role),
            issued_at: claims.get("iat").and_then(Value::as_i64),
            expires_at: claims
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
        })
    }

    /// The key for `kid` and `alg`: from the cache, else after a refetch if one is due.
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<ProviderKey, TokenError> {
        if let Some(key) = find(&self.keys.read().await, kid, alg) {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(key) = find(&self.keys.read().await, kid, alg) {
            return Ok(key);
        }
        let due = last_fetch.is_none_or(|at| at.elapsed() >= self.config.min_refetch_interval);
        if !due {
            return Err(TokenError::UnknownKey);
        }
        // Counted before fetching: a provider that is down is asked once per interval too.
        *last_fetch = Some(Instant::now());
        let keys = self.fetch_keys().await?;
        let found = find(&keys, kid, alg);
        *self.keys.write().await = keys;
        found.ok_or(TokenError::UnknownKey)
    }

    async fn fetch_keys(&self) -> Result<Vec<ProviderKey>, TokenError> {
        let unavailable = |what: &str, e: reqwest::Error| {
            TokenError::Provider(format!("{what}: {}", e.without_url()))
        };
        let discovery: Discovery = self
            .http
            .get(self.config.discovery_url())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable("discovery", e))?
            .json()
            .await
            .map_err(|e| unavailable("discovery document", e))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if discovery.issuer != self.config.issuer {
            return Err(TokenError::Provider(format!(
                "the discovery document names issuer {:?}, not {:?}",
                discovery.issuer, self.config.issuer
            )));
        }
        let jwks: JwkSet = self
            .http
            .get(&discovery.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable("jwks", e))?
            .json()
            .await
            .map_err(|e| unavailable("jwks document", e))?;
        let keys: Vec<ProviderKey> = jwks.keys.iter().filter_map(usable).collect();
        tracing::info!(issuer = %self.config.issuer, keys = keys.len(), "identity provider keys fetched");
        Ok(keys)
    }
}

/// The JWK as a verification key, if it is a signing key of a kind we accept. Keys of other
/// kinds (encryption keys, P-384, HMAC) are skipped, not errors: providers publish those too.
fn usable(jwk: &Jwk) -> Option<ProviderKey> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            AlgorithmFamily::Ec
        }
        // jsonwebtoken reads the first 32 bytes of an Ed25519 key unchecked: check the length.
        AlgorithmParameters::OctetKeyPair(okp)
            if okp.curve == EllipticCurve::Ed25519
                && base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &okp.x,
                )
                .is_ok_and(|x| x.len() == 32) =>
        {
            AlgorithmFamily::Ed
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(ProviderKey {
        kid: jwk.common.key_id.clone(),
        alg: jwk.common.key_algorithm,
        family,
        key,
    })
}

/// The key a token with `kid` and `alg` names: by `kid`, or the only key of `alg`'s family when
/// the token names none.
fn find(keys: &[ProviderKey], kid: Option<&str>, alg: Algorithm) -> Option<ProviderKey> {
    let fits = |key: &&ProviderKey| {
        key.family == alg.family()
            && key
                .alg
                .is_none_or(|key_alg| key_alg == KeyAlgorithm::from(alg))
    };
    match kid {
        Some(kid) => keys
            .iter()
            .filter(fits)
            .find(|key| key.kid.as_deref() == Some(kid))
            .cloned(),
        None => {
            let mut candidates = keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        net::SocketAddr,
        sync::{
            Arc, Mutex as StdMutex,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use axum::{Json, Router, extract::State, routing::get};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{
        EncodingKey, Header,
        jwk::{CommonParameters, OctetKeyPairParameters, OctetKeyPairType},
    };
    use serde_json::json;

    use super::*;

    const RSA_PEM: &str = include_str!("testdata/provider-rsa.pem");
    const P256_PEM: &str = include_str!("testdata/provider-p256.pem");
    const AUDIENCE: &str = "https://delivery.example/api";

    /// A provider's signing key: what signs tokens and what the JWKS publishes.
    struct TestKey {
        kid: String,
        alg: Algorithm,
        encoding: EncodingKey,
        jwk: Jwk,
    }

    impl TestKey {
        fn rsa(kid: &str) -> Self {
            Self::from_encoding(
                kid,
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
            )
        }

        fn p256(kid: &str) -> Self {
            Self::from_encoding(
                kid,
                Algorithm::ES256,
                EncodingKey::from_ec_pem(P256_PEM.as_bytes()).unwrap(),
            )
        }

        fn ed25519(kid: &str) -> Self {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).unwrap();
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            let der = signing.to_pkcs8_der().unwrap();
            let jwk = Jwk {
                common: CommonParameters {
                    key_id: Some(kid.into()),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()),
                }),
            };
            Self {
                kid: kid.into(),
                alg: Algorithm::EdDSA,
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                jwk,
            }
        }

        fn from_encoding(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
            let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
            jwk.common.key_id = Some(kid.into());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            Self {
                kid: kid.into(),
                alg,
                encoding,
                jwk,
            }
        }

        /// `claims` signed as an RFC 9068 access token.
        fn sign(&self, claims: &Value) -> String {
            let mut header = Header::new(self.alg);
            header.typ = Some("at+jwt".into());
            header.kid = Some(self.kid.clone());
            self.sign_with(&header, claims)
        }

        fn sign_with(&self, header: &Header, claims: &Value) -> String {
            jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
        }
    }

    /// An in-process provider: a discovery document and a JWKS that a test can change, and how
    /// often the JWKS was fetched.
    struct Provider {
        issuer: String,
        jwks: Arc<StdMutex<JwkSet>>,
        fetches: Arc<AtomicUsize>,
        /// The issuer the discovery document names (a test may make it lie).
        claimed_issuer: Arc<StdMutex<Option<String>>>,
    }

    #[derive(Clone)]
    struct ProviderState {
        addr: SocketAddr,
        jwks: Arc<StdMutex<JwkSet>>,
        fetches: Arc<AtomicUsize>,
        claimed_issuer: Arc<StdMutex<Option<String>>>,
    }

    impl Provider {
        async fn start(keys: &[&TestKey]) -> Provider {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = ProviderState {
                addr,
                jwks: Arc::new(StdMutex::new(JwkSet {
                    keys: keys.iter().map(|k| k.jwk.clone()).collect(),
                })),
                fetches: Arc::new(AtomicUsize::new(0)),
                claimed_issuer: Arc::new(StdMutex::new(None)),
            };
            let app = Router::new()
                .route(
                    "/.well-known/openid-configuration",
                    get(|State(s): State<ProviderState>| async move {
                        let issuer = format!("http://{}", s.addr);
                        let claimed = s.claimed_issuer.lock().unwrap().clone();
                        Json(json!({
                            "issuer": claimed.unwrap_or_else(|| issuer.clone()),
                            "jwks_uri": format!("{issuer}/jwks"),
                        }))
                    }),
                )
                .route(
                    "/jwks",
                    get(|State(s): State<ProviderState>| async move {
                        s.fetches.fetch_add(1, Ordering::SeqCst);
                        Json(s.jwks.lock().unwrap().clone())
                    }),
                )
                .with_state(state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Provider {
                issuer: format!("http://{addr}"),
                jwks: state.jwks,
                fetches: state.fetches,
                claimed_issuer: state.claimed_issuer,
            }
        }

        fn config(&self) -> ExternalConfig {
            ExternalConfig::new(&self.issuer, AUDIENCE, "https://delivery.example/role")
                .with_id_claim("account_id")
        }

        fn verifier(&self) -> ExternalVerifier {
            ExternalVerifier::new(self.config()).unwrap()
        }

        fn publish(&self, keys: &[&TestKey]) {
            *self.jwks.lock().unwrap() = JwkSet {
                keys: keys.iter().map(|k| k.jwk.clone()).collect(),
            };
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }

        /// Claims of a valid token for restaurant `r-1`.
        fn claims(&self) -> Value {
            let now = chrono::Utc::now().timestamp();
            json!({
                "iss": self.issuer, "aud": AUDIENCE, "sub": "user-123", "account_id": "r-1",
                "https://delivery.example/role": "restaurant", "iat": now, "exp": now + 600,
                "client_id": "restaurant-pos",
            })
        }
    }

    fn restaurant() -> Principal {
        Principal::new("r-1".parse().unwrap(), Role::Restaurant)
    }

    #[tokio::test]
    async fn rs256_es256_and_eddsa_tokens_of_the_provider_name_the_caller() {
        let keys = [
            TestKey::rsa("rsa-1"),
            TestKey::p256("ec-1"),
            TestKey::ed25519("ed-1"),
        ];
        let provider = Provider::start(&keys.iter().collect::<Vec<_>>()).await;
        let verifier = provider.verifier();
        for key in &keys {
            let verified = verifier.verify(&key.sign(&provider.claims())).await;
            let verified = verified.unwrap_or_else(|e| panic!("{}: {e}", key.kid));
            assert_eq!(verified.principal, restaurant(), "{}", key.kid);
            assert!(verified.issued_at.is_some());
        }
        // One fetch served all three keys.
        assert_eq!(provider.fetches(), 1);
    }

    #[tokio::test]
    async fn tokens_for_another_issuer_audience_or_lifetime_are_refused() {
        let key = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&key]).await;
        let verifier = provider.verifier();
        let spoil = |field: &str, value: Value| {
            let mut claims = provider.claims();
            claims[field] = value;
            key.sign(&claims)
        };
        let now = chrono::Utc::now().timestamp();
        let cases = [
            (
                spoil("iss", json!("https://evil.example")),
                TokenError::Issuer,
            ),
            (spoil("aud", json!("another-api")), TokenError::Audience),
            (spoil("exp", json!(now - 120)), TokenError::Expired),
            (spoil("nbf", json!(now + 600)), TokenError::NotYetValid),
        ];
        for (token, expected) in cases {
            assert_eq!(verifier.verify(&token).await, Err(expected));
        }
    }

    #[tokio::test]
    async fn id_tokens_unsigned_and_hmac_tokens_are_refused() {
        let key = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&key]).await;
        let verifier = provider.verifier();
        // An ID token (typ JWT) is not an access token.
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".into());
        let id_token = key.sign_with(&header, &provider.claims());
        assert_eq!(verifier.verify(&id_token).await, Err(TokenError::WrongType));
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "at+jwt", "kid": "rsa-1"})),
            b64(provider.claims())
        );
        assert_eq!(verifier.verify(&none).await, Err(TokenError::Algorithm));
        let mut hs = Header::new(Algorithm::HS256);
        hs.typ = Some("at+jwt".into());
        hs.kid = Some("rsa-1".into());
        let hmac = jsonwebtoken::encode(
            &hs,
            &provider.claims(),
            &EncodingKey::from_secret(b"k").unwrap(),
        )
        .unwrap();
        assert_eq!(verifier.verify(&hmac).await, Err(TokenError::Algorithm));
        // RS384 is a fine algorithm, but not one we accept.
        let mut rs384 = Header::new(Algorithm::RS384);
        rs384.typ = Some("at+jwt".into());
        rs384.kid = Some("rsa-1".into());
        let token = key.sign_with(&rs384, &provider.claims());
        assert_eq!(verifier.verify(&token).await, Err(TokenError::Algorithm));
    }

    #[tokio::test]
    async fn a_key_used_with_another_algorithm_than_its_own_is_refused() {
        let key = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&key]).await;
        let verifier = provider.verifier();
        // A token claiming ES256 under the RSA key's kid finds no ES256 key of that id.
        let ec = TestKey::p256("rsa-1");
        assert_eq!(
            verifier.verify(&ec.sign(&provider.claims())).await,
            Err(TokenError::UnknownKey)
        );
    }

    #[tokio::test]
    async fn a_forged_signature_is_refused() {
        let key = TestKey::ed25519("ed-1");
        let provider = Provider::start(&[&key]).await;
        // Same kid, another key.
        let forger = TestKey::ed25519("ed-1");
        assert_eq!(
            provider
                .verifier()
                .verify(&forger.sign(&provider.claims()))
                .await,
            Err(TokenError::Signature)
        );
    }

    #[tokio::test]
    async fn missing_or_malformed_role_and_id_claims_are_refused() {
        let key = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&key]).await;
        let verifier = provider.verifier();
        for (field, value) in [
            ("https://delivery.example/role", Value::Null),
            ("https://delivery.example/role", json!("admin")),
            ("account_id", Value::Null),
            ("account_id", json!("not an id")),
            ("account_id", json!(42)),
        ] {
            let mut claims = provider.claims();
            claims[field] = value.clone();
            let refused = verifier.verify(&key.sign(&claims)).await;
            assert!(
                matches!(refused, Err(TokenError::Claims(_))),
                "{field}={value}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_kids_refetch_the_keys_at_most_once_per_interval() {
        let key = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&key]).await;
        let verifier = provider.verifier();
        verifier
            .verify(&key.sign(&provider.claims()))
            .await
            .unwrap();
        assert_eq!(provider.fetches(), 1);
        // A flood of made-up kids costs one fetch (the first), then none within the minute.
        let stranger = TestKey::ed25519("made-up");
        for _ in 0..20 {
            assert_eq!(
                verifier.verify(&stranger.sign(&provider.claims())).await,
                Err(TokenError::UnknownKey)
            );
        }
        assert_eq!(provider.fetches(), 1);
        // Known keys keep working from the cache meanwhile.
        verifier
            .verify(&key.sign(&provider.claims()))
            .await
            .unwrap();
        assert_eq!(provider.fetches(), 1);
    }

    #[tokio::test]
    async fn a_key_the_provider_rotates_in_is_fetched_when_a_token_names_it() {
        let old = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&old]).await;
        let mut config = provider.config();
        config.min_refetch_interval = Duration::ZERO;
        let verifier = ExternalVerifier::new(config).unwrap();
        verifier.refresh().await.unwrap();
        // The provider rotates: a new key in, the old one out.
        let new = TestKey::p256("ec-2");
        provider.publish(&[&new]);
        let verified = verifier
            .verify(&new.sign(&provider.claims()))
            .await
            .unwrap();
        assert_eq!(verified.principal, restaurant());
        assert_eq!(provider.fetches(), 2);
        // The refetch replaced the cached set: the dropped key's tokens are refused.
        assert_eq!(
            verifier.verify(&old.sign(&provider.claims())).await,
            Err(TokenError::UnknownKey)
        );
    }

    #[tokio::test]
    async fn a_discovery_document_for_another_issuer_is_refused() {
        let key = TestKey::rsa("rsa-1");
        let provider = Provider::start(&[&key]).await;
        *provider.claimed_issuer.lock().unwrap() = Some("https://evil.example".into());
        let refused = provider
            .verifier()
            .verify(&key.sign(&provider.claims()))
            .await;
        assert!(
            matches!(refused, Err(TokenError::Provider(_))),
            "{refused:?}"
        );
        assert_eq!(
            provider.fetches(),
            0,
            "the keys of a lying document were fetched"
        );
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_unavailable_not_unauthorized() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let verifier =
            ExternalVerifier::new(ExternalConfig::new(&issuer, AUDIENCE, "role")).unwrap();
        let key = TestKey::rsa("rsa-1");
        let now = chrono::Utc::now().timestamp();
        let token = key.sign(&json!({"iss": issuer, "aud": AUDIENCE, "sub": "r-1", "role": "restaurant", "exp": now + 60}));
        assert!(matches!(
            verifier.verify(&token).await,
            Err(TokenError::Provider(_))
        ));
    }

    #[test]
    fn keys_we_cannot_use_are_skipped_not_trusted() {
        let short_ed = Jwk {
            common: CommonParameters::default(),
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode([1u8; 16]),
            }),
        };
        assert!(usable(&short_ed).is_none());
        let mut encryption = TestKey::rsa("enc").jwk;
        encryption.common.public_key_use = Some(PublicKeyUse::Encryption);
        assert!(usable(&encryption).is_none());
        assert!(usable(&TestKey::rsa("sig").jwk).is_some());
        let other: Jwk =
            serde_json::from_value(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"})).unwrap();
        assert!(
            usable(&other).is_none(),
            "an HMAC secret is not a provider's public key"
        );
    }

    #[test]
    fn a_token_without_a_kid_uses_the_only_key_of_its_family() {
        let rsa = usable(&TestKey::rsa("a").jwk).unwrap();
        let ec = usable(&TestKey::p256("b").jwk).unwrap();
        let keys = vec![rsa.clone(), ec];
        assert!(find(&keys, None, Algorithm::RS256).is_some());
        assert!(find(&keys, None, Algorithm::EdDSA).is_none());
        let two_rsa = vec![rsa.clone(), usable(&TestKey::rsa("c").jwk).unwrap()];
        assert!(
            find(&two_rsa, None, Algorithm::RS256).is_none(),
            "ambiguous"
        );
    }
}

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

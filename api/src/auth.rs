//! Who is calling: the identity the API was started with, and [`Caller`], the one extractor
//! that turns `Authorization: Bearer …` into a [`Principal`] (or `401`).

use std::{sync::Arc, time::Duration};

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use identity::{
    Accounts, Authenticator, ExternalConfig, ExternalVerifier, KeySet, NotBeforeCache, Principal,
    Tokens,
};

use crate::{AppState, error::ApiError, settings::IdentitySettings};

/// The account store, our token issuer and the token check, built once at start.
pub(crate) struct Identity {
    pub(crate) accounts: Accounts,
    pub(crate) auth: Authenticator,
    pub(crate) token_ttl: Duration,
    /// Sign-in attempts per account id: a burst of [`SIGN_IN_BURST`], then one every
    /// [`SIGN_IN_EVERY`], so guessing one account's secret is slow whatever the number of
    /// addresses it comes from (the listener's limit counts per address).
    pub(crate) sign_in_attempts: Arc<governor::DefaultKeyedRateLimiter<identity::AccountId>>,
}

/// Sign-in attempts one account may take at once.
const SIGN_IN_BURST: u32 = 30;
/// How often one more attempt is allowed after the burst.
const SIGN_IN_EVERY: Duration = Duration::from_secs(6);

/// Why the identity could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("accounts database: {0}")]
    Accounts(#[from] identity::AccountError),
    #[error("token signing keys: {0}")]
    Keys(#[from] identity::KeyError),
    #[error("external OpenID provider: {0}")]
    External(#[from] identity::TokenError),
}

impl Identity {
    /// Opens the (migrated) accounts, loads the signing keys (generating one in an empty
    /// directory) and, when configured, prepares the external provider's verifier.
    pub(crate) async fn connect(
        settings: &IdentitySettings,
        database: &readmodel::DatabaseSettings,
    ) -> Result<Self, IdentityError> {
        let accounts =
            Accounts::connect_with(&database.database_url, &database.pool_options()).await?;
        let keys = match &settings.signing_key_id {
            Some(kid) => KeySet::load(&settings.signing_keys_dir, kid)?,
            None => KeySet::ensure_local(&settings.signing_keys_dir)?,
        };
        let tokens = Tokens::new(keys, settings.token_issuer.clone())
            .with_audience(settings.token_audience.clone());
        let revocation = Arc::new(NotBeforeCache::new(accounts.clone()));
        let mut auth = Authenticator::new(tokens, revocation);
        if let Some(issuer) = &settings.oidc_issuer {
            let config = ExternalConfig::new(
                issuer.clone(),
                settings.token_audience.clone(),
                settings.oidc_role_claim.clone(),
            )
            .with_id_claim(settings.oidc_id_claim.clone());
            auth = auth.with_external(Arc::new(ExternalVerifier::new(config)?));
        }
        let quota = governor::Quota::with_period(SIGN_IN_EVERY)
            .expect("a non-zero period")
            .allow_burst(std::num::NonZeroU32::new(SIGN_IN_BURST).expect("a non-zero burst"));
        let sign_in_attempts = Arc::new(governor::RateLimiter::keyed(quota));
        crate::limits::forget_quiet_keys(&sign_in_attempts);
        Ok(Self {
            accounts,
            auth,
            token_ttl: settings.token_ttl(),
            sign_in_attempts,
        })
    }

    /// After a secret rotation or a deletion: this instance refuses the account's older
    /// tokens at once (other instances within the cache's minute).
    pub(crate) fn forget(&self, id: &identity::AccountId) {
        self.auth.revocation().forget(id);
    }
}

/// The signed-in caller of a request: every endpoint but the public ones takes one, so a
/// request without a valid bearer token never reaches a handler (`401 unauthorized` with
/// `WWW-Authenticate: Bearer`).
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let principal = state.identity().auth.principal(token).await?;
        Ok(Self(principal))
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 7235).
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::Unauthorized(
            "sign in: this request needs a bearer token".into(),
        ));
    }
    authorization(&parts.headers)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
        })
}

/// The `Authorization` header as `(scheme, credentials)` (the scheme as sent; RFC 7235 makes
/// it case-insensitive), or `None` when there is none or it is not `<scheme> <credentials>`.
/// The one reading of the header: the caller extractor, the rate limiter's key and the token
/// endpoint's HTTP Basic all use it.
pub(crate) fn authorization(headers: &axum::http::HeaderMap) -> Option<(&str, &str)> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .map(|(scheme, credentials)| (scheme, credentials.trim()))
}

//! Signing in: the OAuth 2.0 token endpoint (RFC 6749: client credentials for restaurants'
//! systems, password for the pages) and the public keys that verify its tokens.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use identity::{Role, Secret, SignInError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;

/// The `client_id` of tokens the pages get with the password grant.
const PAGES_CLIENT: &str = "pages";

/// `POST /oauth/token` form (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
pub(crate) struct TokenForm {
    /// `client_credentials` (a restaurant's system) or `password` (the pages, any role).
    #[schema(pattern = "^(client_credentials|password)$")]
    grant_type: String,
    /// client_credentials: the restaurant id (or HTTP Basic).
    #[serde(default)]
    client_id: Option<String>,
    /// client_credentials: the restaurant's secret (or HTTP Basic).
    #[serde(default)]
    client_secret: Option<String>,
    /// password: the account id.
    #[serde(default)]
    username: Option<String>,
    /// password: the account's secret.
    #[serde(default)]
    password: Option<String>,
}

/// A token (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenAnswer {
    /// A JWT (RFC 9068) to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until it expires; sign in again then (there are no refresh tokens).
    expires_in: u64,
}

/// A refused token request (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client` or
    /// `unsupported_grant_type`.
    error: &'static str,
    error_description: String,
    #[serde(skip)]
    basic: bool,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
            basic: false,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // A client that authenticated with HTTP Basic and failed gets 401 and the scheme to
        // use (§5.2); every other refusal is 400.
        let status = if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let basic = self.basic;
        let mut response = (status, no_store(), Json(self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if basic {
                r#"Basic realm="delivery-api""#
            } else {
                r#"Bearer realm="delivery-api""#
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Token answers must never be cached (RFC 6749 §5.1).
fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Sign in and get an access token.
#[utoipa::path(post, path = "/oauth/token", tag = "identity", security(()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "`grant_type=client_credentials` with `client_id`/`client_secret` (form fields or HTTP Basic), or `grant_type=password` with `username`/`password`"),
    responses(
        (status = 200, description = "signed in", body = TokenAnswer),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unauthorized_client` or `unsupported_grant_type`", body = OAuthError),
        (status = 401, description = "`invalid_client`: wrong client id or secret", body = OAuthError),
        (status = 413, description = "the body is over 16 KiB (`payload_too_large`)", body = crate::ErrorBody),
        (status = 503, description = "the accounts database is unreachable", body = crate::ErrorBody),
    ))]
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return Ok(crate::ApiError::from(rejection).into_response()),
    };
    let form: TokenForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        OAuthError::new(
            "invalid_request",
            format!("the body must be a form with grant_type: {e}"),
        )
    })?;
    let basic = basic_credentials(&headers)?;
    let (id, secret, client_id, grant) = match form.grant_type.as_str() {
        "client_credentials" => {
            let from_basic = basic.is_some();
            let (id, secret) = match (basic, form.client_id, form.client_secret) {
                (Some(pair), None, None) => pair,
                (None, Some(id), Some(secret)) => (id, secret),
                (Some(_), _, _) => {
                    return Err(OAuthError::new(
                        "invalid_request",
                        "send the client's credentials once: HTTP Basic or form fields",
                    ));
                }
                _ => {
                    return Err(OAuthError::new(
                        "invalid_request",
                        "client_id and client_secret are required",
                    ));
                }
            };
            let grant = Grant::ClientCredentials { basic: from_basic };
            (id.clone(), secret, id, grant)
        }
        "password" => match (form.username, form.password) {
            (Some(id), Some(secret)) => (id, secret, PAGES_CLIENT.to_owned(), Grant::Password),
            _ => {
                return Err(OAuthError::new(
                    "invalid_request",
                    "username and password are required",
                ));
            }
        },
        other => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!(
                    "grant_type {other:?} is not supported: use client_credentials or password"
                ),
            ));
        }
    };
    let identity = state.identity();
    if let Ok(account_id) = identity::AccountId::parse(id.as_str())
        && let Err(not_until) = identity.sign_in_attempts.check_key(&account_id)
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Ok(crate::limits::rate_limited(wait.as_secs() + 1));
    }
    let account = match identity
        .accounts
        .authenticate(&id, &Secret::new(secret))
        .await
    {
        Ok(account) => account,
        Err(SignInError::InvalidCredentials) => return Err(grant.refused()),
        Err(SignInError::Store(e)) => {
            tracing::warn!(error = %e, "sign-in: accounts database");
            return Ok(crate::ApiError::Unavailable("the accounts database").into_response());
        }
    };
    if matches!(grant, Grant::ClientCredentials { .. }) && account.role() != Role::Restaurant {
        return Err(OAuthError::new(
            "unauthorized_client",
            "client credentials are for restaurants' systems; riders and operators sign in with the password grant",
        ));
    }
    let issued = identity
        .auth
        .tokens()
        .issue(&account.principal(), &client_id, identity.token_ttl)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot sign a token");
            OAuthError::new("server_error", "cannot sign a token now")
        })?;
    let answer = TokenAnswer {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
    };
    Ok((no_store(), Json(answer)).into_response())
}

enum Grant {
    ClientCredentials { basic: bool },
    Password,
}

impl Grant {
    /// One answer for an unknown id, a deleted account and a wrong secret.
    fn refused(&self) -> OAuthError {
        match self {
            Self::ClientCredentials { basic } => OAuthError {
                basic: *basic,
                ..OAuthError::new("invalid_client", "unknown client or wrong secret")
            },
            Self::Password => OAuthError::new("invalid_grant", "unknown account or wrong secret"),
        }
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1), if sent.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let malformed = || OAuthError::new("invalid_request", "malformed HTTP Basic credentials");
    let Some((scheme, encoded)) = crate::auth::authorization(headers) else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |part: &str| {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The public keys of every configured signing key (JWK Set, RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity", security(()),
    responses((status = 200, description = "`{\"keys\":[…]}`: Ed25519 keys (`kty: OKP`, `crv: Ed25519`), one per `kid`", body = Object)))]
pub(crate) async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.identity().auth.tokens().jwks()),
    )
}

//! Temporal's remote codec protocol, for operators: the Web UI and the CLI
//! (`temporal workflow show --codec-endpoint …/codec --codec-auth 'Bearer …'`) send the
//! encrypted payloads of a history to `POST /codec/decode` and show what comes back.
//!
//! Only operators are answered, with their bearer token or, for the browser UI (which cannot
//! send our token), the session cookie `POST /codec/session` sets: HttpOnly (no script reads
//! it), `SameSite=Strict` (another site cannot make the browser send it; the dev UI on
//! `127.0.0.1:8233` and the API on `127.0.0.1:8080` are one site, ports do not count), scoped to
//! `/codec`, valid for [`SESSION_TTL`]. CORS lets the UI's configured origins call these
//! routes, with credentials; no other route of the API answers another origin.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{DefaultBodyLimit, FromRequestParts, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD},
};
use identity::Role;
use serde::{Deserialize, Serialize};
use temporalio_common::protos::temporal::api::common::v1::Payload;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, BadInput, ErrorBody},
    extract::JsonBody,
};

/// The session cookie's name.
const SESSION_COOKIE: &str = "codec_session";
/// How long a codec session lasts: an operator looking at a few histories, not a day.
pub(crate) const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The `client_id` of the session's token.
const SESSION_CLIENT: &str = "codec-session";
/// Largest codec request: a set of payloads can be far larger than any other request (Temporal
/// takes payloads up to 2 MiB, which base64 makes 2.7 MiB).
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The codec routes, behind CORS for `origins` (the Temporal UI's) and their own body limit.
pub(crate) fn router(origins: &[HeaderValue]) -> OpenApiRouter<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("x-namespace"),
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
        ])
        // The UI's "include cross-origin credentials": the session cookie. Allowed only with the
        // explicit origins above (tower-http refuses it with a wildcard).
        .allow_credentials(true);
    OpenApiRouter::new()
        .routes(routes!(decode))
        .routes(routes!(encode))
        .routes(routes!(sign_in, sign_out))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
}

/// A set of payloads in proto3 JSON: the request and the answer of `/codec/decode` and
/// `/codec/encode`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct PayloadsBody {
    /// Left out when empty (proto3 JSON omits empty lists: the CLI sends `{}`).
    #[serde(default)]
    payloads: Vec<JsonPayload>,
}

/// A Temporal `Payload` in proto3 JSON: bytes as base64.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub(crate) struct JsonPayload {
    /// Metadata values, base64 (`encoding`: `binary/encrypted` for an encrypted payload).
    #[serde(default)]
    metadata: BTreeMap<String, Base64>,
    /// The data, base64.
    #[serde(default)]
    data: Base64,
}

/// Bytes as proto3 JSON writes them: base64, standard or URL-safe, padded or not. The
/// document's pattern and [`Base64::bytes`] accept exactly the same strings.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub(crate) struct Base64(String);

impl Base64 {
    /// Groups of four, then a last group of two or three (with its canonical padding or none);
    /// either alphabet, even mixed.
    const PATTERN: &str =
        "^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$";

    /// The bytes, or `None` when the text is not base64 as [`Self::PATTERN`] says.
    fn bytes(&self) -> Option<Vec<u8>> {
        // Bits left over in the last symbol are ignored, as the pattern cannot see them.
        const fn engine(padding: DecodePaddingMode) -> GeneralPurpose {
            GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(padding),
            )
        }
        const PADDED: GeneralPurpose = engine(DecodePaddingMode::RequireCanonical);
        const UNPADDED: GeneralPurpose = engine(DecodePaddingMode::RequireNone);
        let standard = self.0.replace('-', "+").replace('_', "/");
        PADDED
            .decode(&standard)
            .or_else(|_| UNPADDED.decode(&standard))
            .ok()
    }
}

impl utoipa::PartialSchema for Base64 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some(
                "bytes in base64 (standard or URL-safe, padded or not)",
            ))
            .pattern(Some(Self::PATTERN))
            .into()
    }
}

impl ToSchema for Base64 {}

impl PayloadsBody {
    /// The answer of a codec route: `codec` applied to each payload (given its index), the
    /// first refusal answered instead.
    fn map(
        self,
        codec: impl Fn(usize, Payload) -> Result<Payload, ApiError>,
    ) -> Result<Json<PayloadsBody>, ApiError> {
        let payloads = self
            .payloads
            .into_iter()
            .enumerate()
            .map(|(index, payload)| codec(index, payload.into_payload(index)?).map(JsonPayload::of))
            .collect::<Result<_, _>>()?;
        Ok(Json(PayloadsBody { payloads }))
    }
}

impl JsonPayload {
    fn into_payload(self, index: usize) -> Result<Payload, ApiError> {
        let field = |name: &str| format!("payloads[{index}].{name}");
        let metadata = self
            .metadata
            .into_iter()
            .map(|(key, value)| {
                let value = value
                    .bytes()
                    .ok_or_else(|| ApiError::invalid(field("metadata"), "must be base64"))?;
                Ok((key, value))
            })
            .collect::<Result<_, ApiError>>()?;
        let data = self
            .data
            .bytes()
            .ok_or_else(|| ApiError::invalid(field("data"), "must be base64"))?;
        Ok(Payload {
            metadata,
            data,
            ..Payload::default()
        })
    }

    fn of(payload: Payload) -> Self {
        Self {
            metadata: payload
                .metadata
                .into_iter()
                .map(|(key, value)| (key, Base64(STANDARD.encode(value))))
                .collect(),
            data: Base64(STANDARD.encode(payload.data)),
        }
    }
}

/// An operator: by bearer token, else by the codec session cookie. Everyone else is refused
/// as elsewhere in the API (401 without valid credentials, 403 for another role).
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = match (
            parts.headers.contains_key(header::AUTHORIZATION),
            session_cookie(parts),
        ) {
            (false, Some(token)) => state.identity().auth.principal(token).await?,
            _ => Caller::from_request_parts(parts, state).await?.0,
        };
        principal.require(&[Role::Operator])?;
        Ok(Self)
    }
}

/// The value of the session cookie, when the request carries it.
fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Decrypt payloads (operators only).
///
/// Payloads encrypted by the agency's processes come back as they were before encryption;
/// others are returned unchanged.
#[utoipa::path(post, path = "/codec/decode", tag = "operations",
    params(("X-Namespace" = Option<String>, Header, description = "the Temporal namespace of the payloads (one key set serves every namespace)")),
    request_body = PayloadsBody,
    responses(
        (status = 200, description = "the payloads, decrypted", body = PayloadsBody),
        BadInput,
        (status = 401, description = "no operator's bearer token or codec session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "the caller is not an operator (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn decode(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<PayloadsBody>,
) -> Result<Json<PayloadsBody>, ApiError> {
    let codec = &state.inner.codec;
    body.map(|index, payload| {
        codec.decrypt(payload).map_err(|e| {
            // An operator's tool failing to show a history: the cause (a key id at most, never a
            // key or a payload) belongs in the log too.
            tracing::warn!(error = %e, index, "a payload could not be decoded");
            ApiError::invalid(format!("payloads[{index}]"), e.to_string())
        })
    })
}

/// Encrypt payloads (operators only), as the agency's processes would before sending them to
/// Temporal (the UI encodes what an operator types, such as a signal's input).
#[utoipa::path(post, path = "/codec/encode", tag = "operations",
    params(("X-Namespace" = Option<String>, Header, description = "the Temporal namespace of the payloads (one key set serves every namespace)")),
    request_body = PayloadsBody,
    responses(
        (status = 200, description = "the payloads, encrypted with the current key", body = PayloadsBody),
        BadInput,
        (status = 401, description = "no operator's bearer token or codec session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "the caller is not an operator (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn encode(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<PayloadsBody>,
) -> Result<Json<PayloadsBody>, ApiError> {
    let codec = &state.inner.codec;
    body.map(|_, payload| codec.encrypt(&payload).map_err(ApiError::internal))
}

/// A codec session's lifetime.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionAnswer {
    /// Seconds until the session cookie expires; sign in again then.
    expires_in: u64,
}

/// Start a codec session for the browser (operators only).
///
/// Sets the `codec_session` cookie (HttpOnly, SameSite=Strict, Path=/codec) that the Temporal
/// UI sends to `/codec/decode` when its codec settings include cross-origin credentials.
#[utoipa::path(post, path = "/codec/session", tag = "operations",
    responses(
        (status = 200, description = "signed in; `Set-Cookie: codec_session=…`", body = SessionAnswer,
            headers(("Set-Cookie" = String, description = "the session cookie"))),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "the caller is not an operator (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Operator])?;
    let ttl = SESSION_TTL.min(state.identity().token_ttl);
    let token = state
        .identity()
        .auth
        .tokens()
        .issue(&caller, SESSION_CLIENT, ttl)
        .map_err(ApiError::internal)?;
    let cookie = session_cookie_header(&state, &token.access_token, token.expires_in)?;
    let answer = SessionAnswer {
        expires_in: token.expires_in,
    };
    Ok(([(header::SET_COOKIE, cookie), no_store()], Json(answer)).into_response())
}

/// End the codec session of this browser: its cookie is cleared. Answers anyone, signed in or
/// not (there is nothing to refuse).
#[utoipa::path(delete, path = "/codec/session", tag = "operations", security(()),
    responses((status = 204, description = "the cookie is cleared")))]
pub(crate) async fn sign_out(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cookie = session_cookie_header(&state, "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

fn session_cookie_header(
    state: &AppState,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, ApiError> {
    // `Secure` whenever the API is served over HTTPS (its issuer URL says); the local run is
    // plain HTTP on the loopback, where a browser would drop a Secure cookie.
    let secure = match state
        .settings()
        .identity
        .token_issuer
        .starts_with("https://")
    {
        true => "; Secure",
        false => "",
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/codec; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(ApiError::internal)
}

/// A session answer carries a credential: never cached.
fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_base64_pattern_and_the_decoder_agree() {
        let pattern = regex::Regex::new(Base64::PATTERN).unwrap();
        let alphabet = ["A", "b", "9", "+", "/", "-", "_", "=", "!"];
        // Every string of up to 5 of these symbols, and longer ones built from them.
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, String::len))
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        texts.extend(
            [
                "IkJ1c2FuIg==",
                "IkJ1c2FuIg",
                "anNvbi9wbGFpbg",
                "a-_b",
                "AB==AB==",
            ]
            .map(String::from),
        );
        for text in texts {
            assert_eq!(
                pattern.is_match(&text),
                Base64(text.clone()).bytes().is_some(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn payloads_read_and_write_proto3_json() {
        let body: PayloadsBody = serde_json::from_value(serde_json::json!({
            "payloads": [
                {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IkJ1c2FuIg=="},
                {"metadata": {"encoding": "anNvbi9wbGFpbg"}, "data": "IkJ1c2FuIg", "externalPayloads": []},
                {}
            ]
        }))
        .unwrap();
        let payloads: Vec<Payload> = body
            .payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.into_payload(i).unwrap())
            .collect();
        assert_eq!(payloads[0], payloads[1], "padding is optional");
        assert_eq!(payloads[0].data, br#""Busan""#);
        assert_eq!(payloads[0].metadata["encoding"], b"json/plain");
        assert_eq!(payloads[2], Payload::default());
        let answer = serde_json::to_value(JsonPayload::of(payloads[0].clone())).unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IkJ1c2FuIg=="})
        );
        let empty: PayloadsBody = serde_json::from_str("{}").unwrap();
        assert!(
            empty.payloads.is_empty(),
            "proto3 JSON leaves an empty list out"
        );
        let bad = JsonPayload {
            data: Base64("not base64!".into()),
            ..JsonPayload::default()
        };
        assert!(
            matches!(bad.into_payload(3), Err(ApiError::Validation { field, .. }) if field == "payloads[3].data")
        );
    }
}

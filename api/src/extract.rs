//! Typed request input: JSON bodies and query strings deserialize straight into the `domain`
//! types, which parse themselves, so a handler only ever sees valid values; every failure
//! becomes the contract's error (`400 malformed_json`, `415 unsupported_media_type`,
//! `413 payload_too_large`, `422 validation_failed` naming the field).
//!
//! Why no validation derive (garde, validator): every rule (the id grammar, text, the fee's
//! range) lives in the type that carries the value, where the workflow and the stores rely on
//! it too; a second list of rules on the HTTP structs would be the duplicate this replaces.
//! `serde_path_to_error` names the field that failed.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, required (an empty body is `400 malformed_json`).
pub(crate) struct JsonBody<T>(pub(crate) T);

/// A JSON body that may be left out: an empty body reads as `T::default()`.
pub(crate) struct OptionalJsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        if is_blank(&bytes) || first_byte(&bytes) != Some(b'{') {
            return Err(ApiError::MalformedJson(
                "the body must be a JSON object".into(),
            ));
        }
        parse_json(&bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        if is_blank(&bytes) {
            return Ok(Self(T::default()));
        }
        // A struct reads from a JSON array too (serde's sequence form): only an object will do.
        if !matches!(first_byte(&bytes), Some(b'{' | b'n')) {
            return Err(ApiError::MalformedJson(
                "the body must be a JSON object".into(),
            ));
        }
        // `null` is the body left out, too.
        parse_json::<Option<T>>(&bytes).map(|body| Self(body.unwrap_or_default()))
    }
}

/// The body, checked to be declared JSON unless it is empty (a body-less POST needs no
/// content type).
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let declared_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_media_type);
    let bytes = Bytes::from_request(req, state).await?;
    if !declared_json && !is_blank(&bytes) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(bytes)
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// The body's first byte that is not JSON whitespace.
fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let message = without_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => {
                field_error(&field, &message).unwrap_or_else(|| {
                    ApiError::MalformedJson(format!("the body must be a JSON object: {message}"))
                })
            }
            // A lone `\ud800` in a string is well-formed JSON (RFC 8259 allows it) that names
            // no character: refused like any other character a field may not hold.
            serde_json::error::Category::Syntax if is_lone_surrogate(&message) => {
                top_level_field(&field).map_or_else(
                    || ApiError::MalformedJson(format!("the body is not valid JSON: {message}")),
                    |field| {
                        ApiError::invalid(
                            field,
                            format!(
                                "{field} must not contain a lone surrogate (\\uD800-\\uDFFF \
                                 without its pair)"
                            ),
                        )
                    },
                )
            }
            _ => ApiError::MalformedJson(format!("the body is not valid JSON: {message}")),
        }
    })?;
    // Trailing characters after the object are malformed JSON too.
    de.end().map_err(|e| {
        ApiError::MalformedJson(format!(
            "the body is not valid JSON: {}",
            without_position(&e.to_string())
        ))
    })?;
    Ok(value)
}

/// serde_json's refusals of a `\u` escape that is half of a surrogate pair: a leading one not
/// followed by `\u` ("unexpected end of hex escape") or followed by anything but a trailing
/// one, or a trailing one alone (both "lone leading surrogate in hex escape").
fn is_lone_surrogate(message: &str) -> bool {
    message.starts_with("lone leading surrogate in hex escape")
        || message.starts_with("unexpected end of hex escape")
}

/// The top-level field of a `serde_path_to_error` path (`zones[0]` → `zones`); `None` for the
/// body itself or a map key.
fn top_level_field(path: &str) -> Option<&str> {
    path.split(['.', '['])
        .next()
        .filter(|f| !f.is_empty() && *f != "?")
}

/// A data error at `path` as a validation error of its top-level field, phrased after the
/// field's name ("cost must be a positive integer up to 1000000"), as the pages show it; `None`
/// when it is about the body as a whole (not an object).
fn field_error(path: &str, message: &str) -> Option<ApiError> {
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return Some(ApiError::invalid(missing, format!("{missing} is required")));
    }
    let field = top_level_field(path)?;
    let phrase = if message.starts_with("invalid type: null") {
        "is required".to_owned()
    } else if let Some((_, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        format!("must be {expected}")
    } else if let Some((_, variants)) = message
        .strip_prefix("unknown variant ")
        .and_then(|rest| rest.split_once("expected one of "))
    {
        format!("must be one of {}", variants.replace('`', ""))
    } else {
        // Our own types' refusals are already phrased to follow the field's name.
        message.to_owned()
    };
    Some(ApiError::invalid(field, format!("{field} {phrase}")))
}

/// serde_json's messages end in " at line L column C", which says nothing to an API caller.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string, deserialized into `T`; a bad parameter is `422` naming it.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(|err| {
                let field = err.path().to_string();
                let message = err.into_inner().to_string();
                field_error(&field, &message).unwrap_or_else(|| ApiError::invalid("query", message))
            })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        #[allow(dead_code)]
        restaurant_id: domain::RestaurantId,
        #[allow(dead_code)]
        cost: domain::Cost,
    }

    fn field_of(json: &str) -> Option<String> {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn a_bad_field_is_named() {
        assert_eq!(
            field_of(r#"{"restaurantId":"r 1","cost":5}"#).as_deref(),
            Some("restaurantId")
        );
        assert_eq!(
            field_of(r#"{"restaurantId":"r-1","cost":0}"#).as_deref(),
            Some("cost")
        );
        assert_eq!(
            field_of(r#"{"restaurantId":"r-1","cost":1.5}"#).as_deref(),
            Some("cost")
        );
        assert_eq!(
            field_of(r#"{"restaurantId":"r-1"}"#).as_deref(),
            Some("cost")
        );
        assert_eq!(
            field_of(r#"{"restaurantId":null,"cost":5}"#).as_deref(),
            Some("restaurantId")
        );
    }

    #[test]
    fn what_is_not_a_json_object_is_malformed() {
        for bad in [
            "{",
            "[1, 2]",
            "\"x\"",
            r#"{"restaurantId":"r-1","cost":5} trailing"#,
        ] {
            assert!(
                matches!(
                    parse_json::<Body>(bad.as_bytes()),
                    Err(ApiError::MalformedJson(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_media_types_are_recognized() {
        for good in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json_media_type(good), "{good}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
            "",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    fn message_of(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation { message, .. }) => message,
            other => panic!("{json}: not a validation error: {:?}", other.err()),
        }
    }

    #[test]
    fn messages_name_the_field_first_as_the_pages_show_them() {
        assert_eq!(message_of(r#"{"restaurantId":"r-1"}"#), "cost is required");
        assert_eq!(
            message_of(r#"{"restaurantId":"r-1","cost":null}"#),
            "cost is required"
        );
        for cost in ["0", "1.5", "\"5\"", "1000001"] {
            assert_eq!(
                message_of(&format!(r#"{{"restaurantId":"r-1","cost":{cost}}}"#)),
                "cost must be a positive integer up to 1000000"
            );
        }
        assert_eq!(
            message_of(r#"{"restaurantId":42,"cost":5}"#),
            "restaurantId must be a string"
        );
        assert!(
            message_of(r#"{"restaurantId":"r 1","cost":5}"#)
                .starts_with("restaurantId must be 1 to 64 letters")
        );
    }

    #[test]
    fn a_lone_surrogate_is_a_bad_character_of_its_field() {
        for string in [
            r"\ud800",
            r"x\ud800y",
            r"\udc00",
            r"\ud800\u0041",
            r"\ud800\n",
        ] {
            let json = format!(r#"{{"restaurantId":"{string}","cost":5}}"#);
            match parse_json::<Body>(json.as_bytes()) {
                Err(ApiError::Validation { field, message }) => {
                    assert_eq!(field, "restaurantId", "{json}");
                    assert!(message.starts_with("restaurantId must not contain a lone surrogate"));
                }
                other => panic!("{json}: {:?}", other.err()),
            }
        }
        // A pair is a character; a surrogate in a key names no field; a raw (UTF-8 encoded)
        // surrogate is not UTF-8, so not JSON.
        assert_eq!(
            field_of(r#"{"restaurantId":"\ud83d\ude00","cost":5}"#).as_deref(),
            Some("restaurantId")
        );
        for bad in [
            br#"{"\ud800":1}"#.to_vec(),
            b"{\"restaurantId\":\"\xed\xa0\x80\",\"cost\":5}".to_vec(),
        ] {
            assert!(
                matches!(parse_json::<Body>(&bad), Err(ApiError::MalformedJson(_))),
                "{}",
                String::from_utf8_lossy(&bad)
            );
        }
    }

    #[test]
    fn messages_carry_no_parser_positions() {
        let Err(ApiError::Validation { message, .. }) =
            parse_json::<Body>(br#"{"restaurantId":"r-1","cost":"5"}"#)
        else {
            panic!("not a validation error");
        };
        assert!(!message.contains("line"), "{message}");
    }
}

//! Reading request bodies field by field, so each bad field gets its own clear message.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Longest string the API accepts in any field, in characters.
pub(crate) const MAX_TEXT_LEN: usize = 256;

/// A JSON object body. An empty body counts as `{}` when `empty_ok`.
pub(crate) fn object(bytes: &[u8], empty_ok: bool) -> Result<Map<String, Value>, ApiError> {
    if empty_ok && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::MalformedJson(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::MalformedJson(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// A required, non-blank string of at most [`MAX_TEXT_LEN`] characters.
pub(crate) fn required_text(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<String, ApiError> {
    optional_text(body, field)?
        .ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
}

/// An optional string; when present it must be non-blank and at most [`MAX_TEXT_LEN`] characters.
pub(crate) fn optional_text(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        )),
        Some(Value::String(s)) if s.chars().count() > MAX_TEXT_LEN => Err(ApiError::invalid(
            field,
            format!("{field} must be at most {MAX_TEXT_LEN} characters"),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// The delivery fee: an integer number of KRW from 1 to [`workflows::model::MAX_COST`].
pub(crate) fn cost(body: &Map<String, Value>) -> Result<i64, ApiError> {
    let message = || {
        format!(
            "cost must be a positive integer up to {}",
            workflows::model::MAX_COST
        )
    };
    match body.get("cost") {
        None | Some(Value::Null) => Err(ApiError::invalid("cost", "cost is required")),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|c| (1..=workflows::model::MAX_COST).contains(c))
            .ok_or_else(|| ApiError::invalid("cost", message())),
        Some(_) => Err(ApiError::invalid("cost", message())),
    }
}

/// A delivery or rider id taken from the path: ids are short and plain, anything else is unknown.
pub(crate) fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Map<String, Value> {
        object(json.as_bytes(), false).unwrap()
    }

    #[test]
    fn cost_accepts_only_integers_in_range() {
        assert_eq!(cost(&body(r#"{"cost":20000}"#)).unwrap(), 20_000);
        for bad in [
            r#"{"cost":0}"#,
            r#"{"cost":-5}"#,
            r#"{"cost":1000001}"#,
            r#"{"cost":1.5}"#,
            r#"{"cost":"100"}"#,
            r#"{}"#,
        ] {
            assert!(cost(&body(bad)).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn text_fields_must_be_present_non_blank_and_short() {
        assert_eq!(required_text(&body(r#"{"a":"x"}"#), "a").unwrap(), "x");
        assert!(required_text(&body(r#"{}"#), "a").is_err());
        assert!(required_text(&body(r#"{"a":"  "}"#), "a").is_err());
        assert!(required_text(&body(r#"{"a":7}"#), "a").is_err());
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_TEXT_LEN + 1));
        assert!(required_text(&body(&long), "a").is_err());
    }

    #[test]
    fn a_body_must_be_a_json_object() {
        assert!(object(b"[1]", false).is_err());
        assert!(object(b"{", false).is_err());
        assert!(object(b"", false).is_err());
        assert!(object(b"", true).unwrap().is_empty());
    }
}

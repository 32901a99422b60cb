//! What both verifiers read before choosing a key: the token's header, unverified.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

use crate::TokenError;

/// Longest token either verifier reads; a bearer token is a few hundred bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The header fields that pick the key and the checks, as the token states them.
#[derive(Debug, Deserialize)]
pub(crate) struct RawHeader {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) typ: Option<String>,
    #[serde(default)]
    pub(crate) kid: Option<String>,
}

impl RawHeader {
    /// The header of a compact JWS (`header.payload.signature`), not yet trusted.
    pub(crate) fn parse(token: &str) -> Result<RawHeader, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
    }

    /// Whether `typ` names an RFC 9068 access token: `at+jwt`, or the full media type
    /// `application/at+jwt` (media types compare case-insensitively).
    pub(crate) fn is_access_token(&self) -> bool {
        self.typ.as_deref().is_some_and(|typ| {
            let typ = typ.to_ascii_lowercase();
            typ == "at+jwt" || typ == "application/at+jwt"
        })
    }
}

/// Sorts a `jsonwebtoken` failure into the reasons a caller may be told.
pub(crate) fn classify(error: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
        ErrorKind::MissingRequiredClaim(claim) => TokenError::Claims(format!("no {claim} claim")),
        ErrorKind::InvalidClaimFormat(claim) => TokenError::Claims(format!("bad {claim} claim")),
        ErrorKind::Json(e) => TokenError::Claims(e.to_string()),
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn the_header_is_read_from_a_three_part_token_only() {
        let h = RawHeader::parse(&token(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#)).unwrap();
        assert_eq!((h.alg.as_str(), h.kid.as_deref()), ("EdDSA", Some("k1")));
        assert!(h.is_access_token());
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.c2ln", &"x".repeat(9000)] {
            assert!(RawHeader::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            RawHeader::parse(&token(r#"{"typ":"JWT"}"#)).is_err(),
            "no alg"
        );
    }

    #[test]
    fn only_at_jwt_is_an_access_token_type() {
        for (typ, ok) in [
            ("at+jwt", true),
            ("AT+JWT", true),
            ("application/at+jwt", true),
            ("JWT", false),
            ("jwt", false),
            ("", false),
        ] {
            let h = RawHeader {
                alg: "EdDSA".into(),
                typ: Some(typ.into()),
                kid: None,
            };
            assert_eq!(h.is_access_token(), ok, "{typ:?}");
        }
        let untyped = RawHeader {
            alg: "EdDSA".into(),
            typ: None,
            kid: None,
        };
        assert!(!untyped.is_access_token());
    }
}

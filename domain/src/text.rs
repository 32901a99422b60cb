//! Free text from people (a destination, a reason): normalized, bounded, printable.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::MAX_TEXT_LEN;

/// Characters the documented pattern refuses: C0 and C1 controls, the format and bidirectional
/// controls, the byte-order mark and the Basic Multilingual Plane's private-use area. The parser
/// refuses more than a portable regex can say (every format, surrogate, private-use and
/// unassigned code point); the schema's description says so.
const FORBIDDEN_CLASS: &str = r"\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ue000-\uf8ff";

/// Text that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidText {
    #[error("must not be empty")]
    Blank,
    #[error("must be at most 256 characters")]
    TooLong,
    #[error(
        "must not contain control, format, bidirectional, private-use or unassigned characters (found U+{0:04X})"
    )]
    Forbidden(u32),
}

/// Non-blank text of at most [`MAX_TEXT_LEN`] characters in Unicode NFC, free of control,
/// format (bidirectional overrides included), surrogate, private-use and unassigned
/// characters: what the agency stores, shows to riders and sends to databases is plain,
/// printable and comparable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub fn parse(text: &str) -> Result<Self, InvalidText> {
        let normalized: String = text.nfc().collect();
        if let Some(c) = normalized.chars().find(|c| forbidden(*c)) {
            return Err(InvalidText::Forbidden(u32::from(c)));
        }
        if normalized.trim().is_empty() {
            return Err(InvalidText::Blank);
        }
        if normalized.chars().count() > MAX_TEXT_LEN {
            return Err(InvalidText::TooLong);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The OpenAPI pattern: at least one visible character, none of the forbidden ones.
    pub fn pattern() -> String {
        let f = FORBIDDEN_CLASS;
        format!("^[^{f}]*[^{f}\\s][^{f}]*$")
    }
}

fn forbidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    )
}

impl TryFrom<String> for Text {
    type Error = InvalidText;

    fn try_from(text: String) -> Result<Self, InvalidText> {
        Self::parse(&text)
    }
}

impl FromStr for Text {
    type Err = InvalidText;

    fn from_str(text: &str) -> Result<Self, InvalidText> {
        Self::parse(text)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for Text {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::string(
            "free text: 1 to 256 characters after Unicode NFC normalization, not only spaces, \
             without control, format, bidirectional, surrogate, private-use or unassigned characters",
            Some(&Self::pattern()),
            MAX_TEXT_LEN,
            "Seoul, Gangnam-gu, Teheran-ro 1",
        )
    }
}

impl utoipa::ToSchema for Text {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalized_to_nfc() {
        let decomposed = "Cafe\u{301}";
        assert_eq!(Text::parse(decomposed).unwrap().as_str(), "Caf\u{e9}");
        assert_eq!(Text::parse("서울 강남구").unwrap().as_str(), "서울 강남구");
    }

    #[test]
    fn blank_long_and_unprintable_text_is_refused() {
        assert_eq!(Text::parse(""), Err(InvalidText::Blank));
        assert_eq!(Text::parse("   "), Err(InvalidText::Blank));
        assert_eq!(Text::parse(&"x".repeat(257)), Err(InvalidText::TooLong));
        assert!(Text::parse(&"x".repeat(256)).is_ok());
        for poison in [
            "a\u{0}b",
            "a\u{202e}b",
            "a\u{200b}b",
            "a\u{e000}b",
            "a\u{7}b",
            "a\nb",
            "a\u{378}b",
        ] {
            assert!(
                matches!(Text::parse(poison), Err(InvalidText::Forbidden(_))),
                "{poison:?} was accepted"
            );
        }
    }

    #[test]
    fn combining_marks_count_after_normalization() {
        // 64 KiB of combining marks on one letter stays far over the limit after NFC.
        let heavy = format!("a{}", "\u{301}".repeat(32 * 1024));
        assert_eq!(Text::parse(&heavy), Err(InvalidText::TooLong));
    }
}

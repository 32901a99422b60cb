//! Free text from people (a destination, a reason): normalized, bounded, printable.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::MAX_TEXT_LEN;

/// The code points text must not contain, as inclusive ranges: C0 and C1 controls, the soft
/// hyphen, the Arabic and Syriac format marks, the zero-width and bidirectional marks, embeddings,
/// overrides and isolates, the invisible operators, the byte-order mark, the interlinear
/// annotation controls and the Basic Multilingual Plane's private-use area. These are what can
/// hide, reorder or corrupt what a rider reads and what a database stores (PostgreSQL refuses
/// U+0000). The parser and the documented pattern are both made from this one table, so the
/// OpenAPI document says exactly what is accepted. Supplementary-plane format characters (emoji
/// tag sequences use them) and unassigned code points are allowed: they are harmless to store.
const FORBIDDEN: &[(char, char)] = &[
    ('\u{0}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{206f}'),
    ('\u{e000}', '\u{f8ff}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
];

/// Text that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidText {
    #[error("must not be empty")]
    Blank,
    #[error("must be at most 256 characters")]
    TooLong,
    #[error(
        "must not contain control, format, bidirectional or private-use characters (found U+{0:04X})"
    )]
    Forbidden(u32),
}

/// Non-blank text of at most [`MAX_TEXT_LEN`] characters in Unicode NFC, free of the
/// control, format, bidirectional and private-use characters of [`FORBIDDEN`]: what the agency stores, shows to riders and sends to databases is plain,
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
        let f: String = FORBIDDEN
            .iter()
            .map(|&(first, last)| {
                let (first, last) = (u32::from(first), u32::from(last));
                if first == last {
                    format!("\\u{first:04x}")
                } else {
                    format!("\\u{first:04x}-\\u{last:04x}")
                }
            })
            .collect();
        format!("^[^{f}]*[^{f}\\s][^{f}]*$")
    }
}

fn forbidden(c: char) -> bool {
    FORBIDDEN
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
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
             without control, format, bidirectional or private-use characters (see the pattern)",
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
        ] {
            assert!(
                matches!(Text::parse(poison), Err(InvalidText::Forbidden(_))),
                "{poison:?} was accepted"
            );
        }
    }

    #[test]
    fn supplementary_and_unassigned_code_points_are_plain_text() {
        // Found by the fuzzer: the documented pattern allows these, so the parser must too.
        for text in [
            "O}\u{b7}\u{5d79c}!A$",
            "1\u{a40b7}",
            "\u{1f3f4}\u{e0067}\u{e007f}",
            "a\u{378}b",
        ] {
            assert!(Text::parse(text).is_ok(), "{text:?} was refused");
        }
    }

    #[test]
    fn the_pattern_refuses_exactly_what_the_parser_refuses() {
        let pattern = regex::Regex::new(&Text::pattern()).unwrap();
        for code in (0..=0x10ffff).step_by(7).chain(
            FORBIDDEN
                .iter()
                .flat_map(|&(a, b)| [u32::from(a), u32::from(b)]),
        ) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let text = format!("a{c}");
            assert_eq!(
                pattern.is_match(&text),
                Text::parse(&text).is_ok(),
                "U+{code:04X}"
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

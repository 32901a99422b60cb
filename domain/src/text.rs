//! Free text from people (a destination, a reason): normalized, bounded, printable.

use std::{fmt, ops::RangeInclusive, str::FromStr, sync::LazyLock};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::MAX_TEXT_LEN;

/// The tag characters (U+E0020–U+E007F): format characters, but what spells the flags of
/// England, Scotland and Wales (U+1F3F4 then tags), so text may carry them.
const EMOJI_TAGS: RangeInclusive<char> = '\u{e0020}'..='\u{e007f}';

/// Whether text must not contain `c`: controls (Cc: U+0000–U+001F, U+007F–U+009F), format
/// characters (Cf: the soft hyphen, the zero-width and bidirectional marks, embeddings,
/// overrides and isolates, the byte-order mark, …; all but [`EMOJI_TAGS`]), private use (Co:
/// U+E000–U+F8FF and planes 15 and 16) and unassigned code points (Cn, noncharacters such as
/// U+FFFE included), by the general categories of the Unicode version `unicode-properties`
/// carries. These are what can hide, reorder or corrupt what a rider reads and what a
/// database stores (PostgreSQL refuses U+0000); an unassigned code point has no meaning yet,
/// and may get one (a new control or format character) later. Surrogates (Cs) cannot be in a
/// Rust string at all: a JSON body's lone `\ud800` is refused where it is parsed.
fn forbidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::Surrogate
    ) && !EMOJI_TAGS.contains(&c)
}

/// [`forbidden`] as the inclusive ranges of code points it refuses, made once (a walk over
/// every code point): what the documented pattern lists.
fn forbidden_ranges() -> &'static [(char, char)] {
    static RANGES: LazyLock<Vec<(char, char)>> = LazyLock::new(|| {
        let mut ranges: Vec<(char, char)> = Vec::new();
        for c in ('\0'..=char::MAX).filter(|&c| forbidden(c)) {
            match ranges.last_mut() {
                // A code point next to the last joins its range. Char ranges skip the
                // surrogates, so U+D7FF and U+E000 are neighbours: one range across the gap
                // (the `regex` crate negated `[^\ud7fc-\ud7ff\ue000-\uf8ff]` wrong, letting
                // U+E000 through), which refuses the surrogates too where a pattern's strings
                // can hold them (Python, ECMAScript).
                Some((_, last)) if (*last..=c).count() == 2 => *last = c,
                _ => ranges.push((c, c)),
            }
        }
        ranges
    });
    &RANGES
}

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

/// Non-blank text of at most [`MAX_TEXT_LEN`] characters in Unicode NFC, free of the
/// control, format, bidirectional, private-use and unassigned characters of [`forbidden`]:
/// what the agency stores, shows to riders and sends to databases is plain, printable and
/// comparable.
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
    /// Escapes are `\uXXXX` in the Basic Multilingual Plane and `\UXXXXXXXX` above it, which
    /// the `regex` crate and Python's `re` (the fuzzer's) both read.
    pub fn pattern() -> String {
        let escape = |c: char| match u32::from(c) {
            code @ 0..=0xffff => format!("\\u{code:04x}"),
            code => format!("\\U{code:08x}"),
        };
        let f: String = forbidden_ranges()
            .iter()
            .map(|&(first, last)| match first == last {
                true => escape(first),
                false => format!("{}-{}", escape(first), escape(last)),
            })
            .collect();
        format!("^[^{f}]*[^{f}\\s][^{f}]*$")
    }
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
             without control, format, bidirectional, private-use or unassigned characters \
             (see the pattern)",
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
    fn every_class_of_unprintable_code_point_is_refused() {
        for (class, code) in [
            ("NUL", 0x0),
            ("C1 control", 0x85),
            ("soft hyphen", 0xad),
            ("Arabic number mark", 0x600),
            ("Arabic pound mark above", 0x890),
            ("zero-width space", 0x200b),
            ("zero-width joiner", 0x200d),
            ("right-to-left mark", 0x200f),
            ("right-to-left override", 0x202e),
            ("left-to-right isolate", 0x2066),
            ("pop directional isolate", 0x2069),
            ("byte-order mark", 0xfeff),
            ("interlinear annotation", 0xfff9),
            ("musical format", 0x1d173),
            ("language tag", 0xe0001),
            ("private use", 0xe000),
            ("private use, plane 15", 0xf0000),
            ("private use, plane 16", 0x10fffd),
            ("unassigned", 0x378),
            ("unassigned, plane 5", 0x5d79c),
            ("unassigned, plane 10", 0xa40b7),
            ("noncharacter", 0xfdd0),
            ("noncharacter", 0xfffe),
            ("noncharacter", 0x10ffff),
        ] {
            let c = char::from_u32(code).unwrap();
            assert_eq!(
                Text::parse(&format!("a{c}b")),
                Err(InvalidText::Forbidden(code)),
                "{class} U+{code:04X} was accepted"
            );
        }
    }

    #[test]
    fn printable_text_of_any_plane_is_accepted() {
        for text in [
            "O}\u{b7}!A$",
            "\u{1f600} \u{20000}",
            // The flag of Scotland: a black flag, then tag characters.
            "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
            "\u{5d0}\u{5d1} 12",
            "a\u{a0}b",
        ] {
            assert!(Text::parse(text).is_ok(), "{text:?} was refused");
        }
    }

    #[test]
    fn the_pattern_refuses_exactly_what_the_parser_refuses() {
        let pattern = regex::Regex::new(&Text::pattern()).unwrap();
        let edges = forbidden_ranges().iter().flat_map(|&(a, b)| {
            let (a, b) = (u32::from(a), u32::from(b));
            [a.saturating_sub(1), a, b, b + 1]
        });
        for code in (0..=0x10ffff).step_by(7).chain(edges) {
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

//! Whole numbers as JSON carries them.

use serde::{Deserialize, Deserializer, de};

/// A whole number read from JSON, where `3` and `3.0` are the same number (JSON has one number
/// type, and JSON Schema's `integer` accepts both). Types with a range deserialize through it
/// (`#[serde(try_from = "WholeNumber")]`) and check the range themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WholeNumber(pub i64);

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Whole;

        impl de::Visitor<'_> for Whole {
            type Value = WholeNumber;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<WholeNumber, E> {
                Ok(WholeNumber(n))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<WholeNumber, E> {
                i64::try_from(n)
                    .map(WholeNumber)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<WholeNumber, E> {
                // Within ±2^53 every whole f64 is exact.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if n.fract() == 0.0 && n.abs() <= EXACT {
                    Ok(WholeNumber(n as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(n), &self))
                }
            }
        }

        de.deserialize_any(Whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_are_whole_numbers_and_fractions_are_not() {
        let read = |json: &str| serde_json::from_str::<WholeNumber>(json).map(|n| n.0);
        assert_eq!(read("3").unwrap(), 3);
        assert_eq!(read("-3").unwrap(), -3);
        assert_eq!(read("1565.0").unwrap(), 1565);
        assert_eq!(read("1e3").unwrap(), 1000);
        for bad in ["1.5", "\"3\"", "1e300", "null", "18446744073709551615"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}

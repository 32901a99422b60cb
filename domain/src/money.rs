//! Money: integer won (KRW), never floating point.

use serde::{Deserialize, Serialize};

use crate::{CommissionBps, MAX_COST};

/// A fee that is not a whole number of won from 1 to [`MAX_COST`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be a positive integer up to 1000000")]
pub struct InvalidCost;

/// What a restaurant pays for a delivery: 1 to [`MAX_COST`] KRW.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "i64")]
pub struct Cost(i64);

/// By hand, so that every wrong value (a fraction, a string, out of range) is refused with the
/// one message people read: "must be a positive integer up to 1000000".
impl<'de> Deserialize<'de> for Cost {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Won;

        impl serde::de::Visitor<'_> for Won {
            type Value = Cost;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a positive integer up to 1000000")
            }

            fn visit_i64<E: serde::de::Error>(self, won: i64) -> Result<Cost, E> {
                Cost::new(won).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, won: u64) -> Result<Cost, E> {
                let won = i64::try_from(won).map_err(|_| E::custom(InvalidCost))?;
                self.visit_i64(won)
            }

            /// JSON has one number type: `20000.0` is the integer 20000 (JSON Schema agrees),
            /// `20000.5` is not a whole number of won.
            fn visit_f64<E: serde::de::Error>(self, won: f64) -> Result<Cost, E> {
                if won.fract() != 0.0 || !(1.0..=MAX_COST as f64).contains(&won) {
                    return Err(E::custom(InvalidCost));
                }
                self.visit_i64(won as i64)
            }
        }

        de.deserialize_i64(Won)
    }
}

impl Cost {
    pub fn new(won: i64) -> Result<Self, InvalidCost> {
        match (1..=MAX_COST).contains(&won) {
            true => Ok(Self(won)),
            false => Err(InvalidCost),
        }
    }

    pub fn won(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Cost {
    type Error = InvalidCost;

    fn try_from(won: i64) -> Result<Self, InvalidCost> {
        Self::new(won)
    }
}

impl From<Cost> for i64 {
    fn from(cost: Cost) -> i64 {
        cost.0
    }
}

impl utoipa::PartialSchema for Cost {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{Type, schema::ObjectBuilder};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .description(Some("the delivery fee in KRW (won)"))
            .minimum(Some(1))
            .maximum(Some(MAX_COST))
            .examples([20_000])
            .into()
    }
}

impl utoipa::ToSchema for Cost {}

/// How a settled fee divides between the agency and the rider: the one rounding rule of the
/// money, stated here only. The commission is `floor(cost × bps / 10000)` (rounded down, in the
/// rider's favour); the rider gets the remainder, so the two parts add up to the fee exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// The agency's part.
    pub commission: i64,
    /// The rider's part: the fee less the commission.
    pub earning: i64,
}

impl Split {
    /// Divides `cost` (won, 0 or more) at `rate`.
    pub fn of(cost: i64, rate: CommissionBps) -> Split {
        // i128: a fee times 10,000 fits easily, but nothing here should be able to overflow.
        let commission = (i128::from(cost) * i128::from(rate.bps()) / 10_000) as i64;
        Split {
            commission,
            earning: cost - commission,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commission_rounds_down_and_the_rider_gets_the_remainder() {
        let rate = |bps| CommissionBps::new(bps).unwrap();
        assert_eq!(
            Split::of(20_000, rate(1_000)),
            Split {
                commission: 2_000,
                earning: 18_000
            }
        );
        // 999 × 15% = 149.85: the agency takes 149, the rider 850.
        assert_eq!(
            Split::of(999, rate(1_500)),
            Split {
                commission: 149,
                earning: 850
            }
        );
        assert_eq!(
            Split::of(1, rate(9_999)),
            Split {
                commission: 0,
                earning: 1
            }
        );
        assert_eq!(
            Split::of(7, rate(10_000)),
            Split {
                commission: 7,
                earning: 0
            }
        );
        assert_eq!(
            Split::of(7, rate(0)),
            Split {
                commission: 0,
                earning: 7
            }
        );
        for cost in [1, 3, 999, 12_345, MAX_COST] {
            for bps in [0, 1, 333, 1_000, 3_333, 9_999, 10_000] {
                let split = Split::of(cost, rate(bps));
                assert_eq!(split.commission + split.earning, cost);
                assert!(split.commission >= 0 && split.earning >= 0);
                assert!(split.commission * 10_000 <= cost * bps);
            }
        }
    }

    #[test]
    fn a_cost_is_a_whole_number_of_won_in_range() {
        assert_eq!(Cost::new(1).map(Cost::won), Ok(1));
        assert_eq!(Cost::new(MAX_COST).map(Cost::won), Ok(MAX_COST));
        for bad in [0, -5, MAX_COST + 1] {
            assert_eq!(Cost::new(bad), Err(InvalidCost));
        }
        for bad in [
            "1500.5",
            "0.0",
            "1e7",
            "\"100\"",
            "0",
            "-5",
            "1000001",
            "18446744073709551615",
        ] {
            let err = serde_json::from_str::<Cost>(bad).unwrap_err().to_string();
            assert!(
                err.contains("a positive integer up to 1000000"),
                "{bad}: {err}"
            );
        }
        assert_eq!(serde_json::from_str::<Cost>("20000").unwrap().won(), 20_000);
        // Found by the fuzzer: JSON Schema's integer includes 371.0.
        assert_eq!(serde_json::from_str::<Cost>("371.0").unwrap().won(), 371);
        assert_eq!(serde_json::from_str::<Cost>("2e4").unwrap().won(), 20_000);
    }
}

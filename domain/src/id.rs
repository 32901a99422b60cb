//! Ids: one grammar for every id the agency hands out or accepts.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::MAX_ID_LEN;

/// The grammar of every id: a letter or digit, then up to 63 letters, digits, `.`, `_` or `-`.
pub const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A string that is not an id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")]
pub struct InvalidId;

fn check(id: &str) -> Result<(), InvalidId> {
    let mut bytes = id.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match first_ok && rest_ok && id.len() <= MAX_ID_LEN {
        true => Ok(()),
        false => Err(InvalidId),
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses `id` against [`ID_PATTERN`].
            pub fn parse(id: impl Into<String>) -> Result<Self, InvalidId> {
                let id = id.into();
                check(&id)?;
                Ok(Self(id))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(id: String) -> Result<Self, InvalidId> {
                Self::parse(id)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(id: &str) -> Result<Self, InvalidId> {
                Self::parse(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schema::string($what, Some(ID_PATTERN), MAX_ID_LEN, $example)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A delivery, and its workflow (`delivery-{id}`).
    DeliveryId,
    "a delivery's id",
    "0193a3b0-7c1e-7d2a-9f3e-1b2c3d4e5f60"
);
id_type!(
    /// A restaurant's account.
    RestaurantId,
    "a restaurant's id",
    "r-1"
);
id_type!(
    /// A rider's account.
    RiderId,
    "a rider's id",
    "rider-7"
);
id_type!(
    /// An account: a restaurant, a rider or an operator. Restaurant and rider ids are account
    /// ids.
    AccountId,
    "an account's id",
    "r-1"
);
id_type!(
    /// A dispatch zone (a district), named like an id: `gangnam`, `mapo`.
    Zone,
    "a dispatch zone's name",
    "gangnam"
);

/// Restaurant and rider ids *are* account ids (the grammar is the same): the conversions
/// cannot fail. Which role an account has is a fact of the account store, checked where the
/// caller is known (the `identity` crate's `Principal`).
macro_rules! same_grammar {
    ($($from:ident => $to:ident),* $(,)?) => {
        $(impl From<$from> for $to {
            fn from(id: $from) -> Self {
                Self(id.0)
            }
        })*
    };
}

same_grammar!(
    RestaurantId => AccountId,
    RiderId => AccountId,
    AccountId => RestaurantId,
    AccountId => RiderId,
);

id_type!(
    /// The restaurant's own reference for its customer; private (never shown to riders).
    CustomerId,
    "the restaurant's reference for its customer",
    "c-9"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_one_grammar() {
        for good in [
            "r-1",
            "rider.7",
            "A",
            "0193a3b0-7c1e-7d2a-9f3e-1b2c3d4e5f60",
            &"x".repeat(64),
        ] {
            assert!(RiderId::parse(good).is_ok(), "{good:?} was refused");
        }
        for bad in [
            "",
            "-r",
            ".r",
            "_r",
            "bad rider",
            "r/1",
            "ra\u{e9}",
            &"x".repeat(65),
            "r\u{0}",
        ] {
            assert_eq!(RiderId::parse(bad), Err(InvalidId), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_id_deserializes_only_when_it_parses() {
        let id: DeliveryId = serde_json::from_str("\"d-1\"").unwrap();
        assert_eq!(id.as_str(), "d-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"d-1\"");
        let err = serde_json::from_str::<DeliveryId>("\"not an id\"").unwrap_err();
        assert!(err.to_string().contains("letters, digits"), "{err}");
    }
}

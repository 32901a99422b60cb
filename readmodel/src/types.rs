//! The read model's own types; the rows it stores and serves are the `domain` crate's.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use domain::{DeliveryId, DeliveryRow, DeliveryStatus, RestaurantId, RiderId};
use serde::{Deserialize, Serialize};

/// Whether [`ReadModel::project`](crate::ReadModel::project) changed the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The projection was newer than the stored row (or the first) and is now shown.
    Written,
    /// The stored row is as new or newer; the projection was ignored.
    Stale,
}

/// Which deliveries [`ReadModel::list`](crate::ReadModel::list) returns.
///
/// Set filters are combined with AND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFilter {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of this restaurant.
    pub restaurant_id: Option<RestaurantId>,
    /// Only deliveries picked up by this rider.
    pub rider_id: Option<RiderId>,
    /// Only deliveries last updated at or after this instant.
    pub updated_from: Option<DateTime<Utc>>,
    /// Only deliveries last updated before this instant.
    pub updated_before: Option<DateTime<Utc>>,
    /// Only the rows after this position in the list's order: the previous page's
    /// [`ListPage::next_cursor`].
    pub cursor: Option<ListCursor>,
    /// At most this many rows; the caller bounds it.
    pub limit: u64,
}

impl ListFilter {
    /// The limit of [`ListFilter::default`].
    pub const DEFAULT_LIMIT: u64 = 50;
}

impl Default for ListFilter {
    /// No filter, from the first row, [`ListFilter::DEFAULT_LIMIT`] rows.
    fn default() -> Self {
        ListFilter {
            status: None,
            restaurant_id: None,
            rider_id: None,
            updated_from: None,
            updated_before: None,
            cursor: None,
            limit: ListFilter::DEFAULT_LIMIT,
        }
    }
}

/// One page of [`ReadModel::list`](crate::ReadModel::list): its rows, most recently updated
/// first, and where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub items: Vec<DeliveryRow>,
    /// The position after the page's last row, if more rows match; `None` on the last page.
    pub next_cursor: Option<ListCursor>,
}

/// A position in the delivery list's order (`updated_at` descending, then `delivery_id`
/// ascending): the rows after it are the next page's.
///
/// Written `{updated_at as nanoseconds since the Unix epoch}.{delivery id}`, which needs no
/// encoding in a URL; ids may hold '.', the number never does, so it ends at the first '.'.
/// Clients treat it as opaque.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ListCursor {
    updated_at: DateTime<Utc>,
    delivery_id: DeliveryId,
}

impl ListCursor {
    /// The position just after `row`.
    pub fn after(row: &DeliveryRow) -> Self {
        Self {
            updated_at: row.updated_at,
            delivery_id: row.call.delivery_id.clone(),
        }
    }

    /// When the row before the position was last updated.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// The id of the row before the position.
    pub fn delivery_id(&self) -> &DeliveryId {
        &self.delivery_id
    }
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A cursor this service did not give out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor from a previous page's nextCursor")]
pub struct InvalidCursor;

impl FromStr for ListCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, InvalidCursor> {
        let (nanos, id) = s.split_once('.').ok_or(InvalidCursor)?;
        let digits = nanos.strip_prefix('-').unwrap_or(nanos);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidCursor);
        }
        let nanos: i128 = nanos.parse().map_err(|_| InvalidCursor)?;
        let seconds =
            i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).map_err(|_| InvalidCursor)?;
        let subsec =
            u32::try_from(nanos.rem_euclid(NANOS_PER_SECOND)).map_err(|_| InvalidCursor)?;
        Ok(Self {
            updated_at: DateTime::from_timestamp(seconds, subsec).ok_or(InvalidCursor)?,
            delivery_id: id.parse().map_err(|_| InvalidCursor)?,
        })
    }
}

impl TryFrom<String> for ListCursor {
    type Error = InvalidCursor;

    fn try_from(s: String) -> Result<Self, InvalidCursor> {
        s.parse()
    }
}

impl From<ListCursor> for String {
    fn from(cursor: ListCursor) -> String {
        cursor.to_string()
    }
}

impl fmt::Display for ListCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.updated_at.timestamp()) * NANOS_PER_SECOND
            + i128::from(self.updated_at.timestamp_subsec_nanos());
        write!(f, "{nanos}.{}", self.delivery_id)
    }
}

impl fmt::Debug for ListCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListCursor({self})")
    }
}

impl utoipa::PartialSchema for ListCursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{Type, schema::ObjectBuilder};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "an opaque cursor from a previous page's nextCursor; needs no URL encoding",
            ))
            .pattern(Some(r"^-?[0-9]+\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"))
            .min_length(Some(3))
            .max_length(Some(110))
            .into()
    }
}

impl utoipa::ToSchema for ListCursor {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written_even_with_dots_in_the_id() {
        for (seconds, nanos, id) in [
            (1_800_000_000, 123_456_789, "d-1"),
            (1_800_000_000, 0, "a.b.c"),
            (-5, 1, "x"),
            (0, 0, "0"),
        ] {
            let cursor = ListCursor {
                updated_at: DateTime::from_timestamp(seconds, nanos).unwrap(),
                delivery_id: id.parse().unwrap(),
            };
            let written = cursor.to_string();
            assert_eq!(
                written.parse::<ListCursor>(),
                Ok(cursor.clone()),
                "{written}"
            );
            assert!(written.ends_with(&format!(".{id}")), "{written}");
        }
        let cursor: ListCursor = "1800000000123456789.a.b".parse().unwrap();
        assert_eq!(cursor.delivery_id().as_str(), "a.b");
        assert_eq!(
            cursor.updated_at(),
            DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap()
        );
    }

    #[test]
    fn anything_else_is_no_cursor() {
        for bad in [
            "",
            ".",
            "123",
            "123.",
            ".d-1",
            "+123.d-1",
            "-.d-1",
            "12a.d-1",
            "1 2.d-1",
            "123.bad id",
            "123.-d",
            "99999999999999999999999999999999999999.d-1",
            "999999999999999999999999999999999999999999.d-1",
        ] {
            assert_eq!(bad.parse::<ListCursor>(), Err(InvalidCursor), "{bad:?}");
        }
    }
}

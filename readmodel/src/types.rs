//! The data types the read model stores and serves.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a delivery is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum DeliveryStatus {
    /// A restaurant called for a rider; the call is open.
    Called,
    /// A rider picked the call up.
    Picked,
    /// The rider delivered.
    Completed,
    /// The delivery was cancelled before completion.
    Cancelled,
}

impl DeliveryStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Called,
        DeliveryStatus::Picked,
        DeliveryStatus::Completed,
        DeliveryStatus::Cancelled,
    ];

    /// The name used in JSON and in the database, e.g. `"Called"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Called => "Called",
            DeliveryStatus::Picked => "Picked",
            DeliveryStatus::Completed => "Completed",
            DeliveryStatus::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a [`DeliveryStatus`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery status {0:?}")]
pub struct ParseStatusError(pub String);

impl FromStr for DeliveryStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseStatusError(s.to_owned()))
    }
}

/// One delivery as the delivery list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    /// The delivery's id (its workflow id).
    pub delivery_id: String,
    /// The restaurant that called for the delivery.
    pub restaurant_id: String,
    /// Where the delivery goes.
    pub destination: String,
    /// What the restaurant pays for the delivery, in minor currency units.
    pub cost: i64,
    /// Where the delivery is in its life cycle.
    pub status: DeliveryStatus,
    /// The rider who picked the call up, once one has.
    pub rider_id: Option<String>,
    /// The amount settled with the rider, once settled.
    pub settled: Option<i64>,
    /// When the delivery last changed.
    pub updated_at: DateTime<Utc>,
}

/// A write to the delivery list: the row's fields plus its per-delivery
/// sequence number.
///
/// Writes of one delivery carry increasing `seq`; the read model keeps the
/// state with the highest `seq` it has seen, whatever order writes arrive in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// The delivery's id (its workflow id).
    pub delivery_id: String,
    /// The restaurant that called for the delivery.
    pub restaurant_id: String,
    /// Where the delivery goes.
    pub destination: String,
    /// What the restaurant pays for the delivery, in minor currency units.
    pub cost: i64,
    /// Where the delivery is in its life cycle.
    pub status: DeliveryStatus,
    /// The rider who picked the call up, once one has.
    pub rider_id: Option<String>,
    /// The amount settled with the rider, once settled.
    pub settled: Option<i64>,
    /// When the delivery last changed.
    pub updated_at: DateTime<Utc>,
    /// Position of this state in the delivery's history; higher is newer.
    pub seq: i64,
}

impl Projection {
    /// The write that shows `row` as the delivery's state number `seq`.
    pub fn new(row: DeliveryRow, seq: i64) -> Projection {
        Projection {
            delivery_id: row.delivery_id,
            restaurant_id: row.restaurant_id,
            destination: row.destination,
            cost: row.cost,
            status: row.status,
            rider_id: row.rider_id,
            settled: row.settled,
            updated_at: row.updated_at,
            seq,
        }
    }

    /// The row this write shows once applied.
    pub fn row(&self) -> DeliveryRow {
        DeliveryRow {
            delivery_id: self.delivery_id.clone(),
            restaurant_id: self.restaurant_id.clone(),
            destination: self.destination.clone(),
            cost: self.cost,
            status: self.status,
            rider_id: self.rider_id.clone(),
            settled: self.settled,
            updated_at: self.updated_at,
        }
    }
}

/// Whether [`ReadModel::project`](crate::ReadModel::project) changed the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The projection was newer than the stored row (or the first) and is now shown.
    Written,
    /// The stored row is as new or newer; the projection was ignored.
    Stale,
}

/// A call open to riders: a delivery waiting for pick-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenCall {
    /// The delivery's id (its workflow id).
    pub delivery_id: String,
    /// The restaurant that called.
    pub restaurant_id: String,
    /// Where the delivery goes.
    pub destination: String,
    /// What the delivery pays, in minor currency units.
    pub cost: i64,
    /// When the restaurant called.
    pub called_at: DateTime<Utc>,
}

/// Which deliveries [`ReadModel::list`](crate::ReadModel::list) returns.
///
/// Set filters are combined with AND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFilter {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of this restaurant.
    pub restaurant_id: Option<String>,
    /// Only deliveries picked up by this rider.
    pub rider_id: Option<String>,
    /// At most this many rows; the caller bounds it.
    pub limit: u64,
}

impl ListFilter {
    /// The limit of [`ListFilter::default`].
    pub const DEFAULT_LIMIT: u64 = 50;
}

impl Default for ListFilter {
    /// No filter, [`ListFilter::DEFAULT_LIMIT`] rows.
    fn default() -> Self {
        ListFilter {
            status: None,
            restaurant_id: None,
            rider_id: None,
            limit: ListFilter::DEFAULT_LIMIT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DeliveryRow {
        DeliveryRow {
            delivery_id: "d-1".into(),
            restaurant_id: "r-1".into(),
            destination: "1 main st".into(),
            cost: 1200,
            status: DeliveryStatus::Picked,
            rider_id: Some("rider-1".into()),
            settled: None,
            updated_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn every_status_round_trips_through_display_and_from_str() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.to_string().parse(), Ok(status));
        }
        assert_eq!(
            "called".parse::<DeliveryStatus>(),
            Err(ParseStatusError("called".into()))
        );
    }

    #[test]
    fn status_serializes_as_its_name() {
        assert_eq!(
            serde_json::to_value(DeliveryStatus::Cancelled).unwrap(),
            "Cancelled"
        );
    }

    #[test]
    fn a_delivery_row_serializes_with_camel_case_fields() {
        let json = serde_json::to_value(row()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "deliveryId": "d-1",
                "restaurantId": "r-1",
                "destination": "1 main st",
                "cost": 1200,
                "status": "Picked",
                "riderId": "rider-1",
                "settled": null,
                "updatedAt": "2027-01-15T08:00:00Z",
            })
        );
    }

    #[test]
    fn a_projection_is_its_row_plus_seq() {
        let projection = Projection::new(row(), 3);
        assert_eq!(projection.row(), row());
        let json = serde_json::to_value(&projection).unwrap();
        assert_eq!(json["deliveryId"], "d-1");
        assert_eq!(json["seq"], 3);
        assert_eq!(
            serde_json::from_value::<Projection>(json).unwrap(),
            projection
        );
    }

    #[test]
    fn an_open_call_serializes_with_camel_case_fields() {
        let call = OpenCall {
            delivery_id: "d-1".into(),
            restaurant_id: "r-1".into(),
            destination: "1 main st".into(),
            cost: 1200,
            called_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        assert_eq!(
            serde_json::to_value(call).unwrap(),
            serde_json::json!({
                "deliveryId": "d-1",
                "restaurantId": "r-1",
                "destination": "1 main st",
                "cost": 1200,
                "calledAt": "2027-01-15T08:00:00Z",
            })
        );
    }
}

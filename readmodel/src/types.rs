//! The read model's own types; the rows it stores and serves are the `domain` crate's.

use domain::{DeliveryStatus, RestaurantId, RiderId};

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

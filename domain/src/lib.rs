//! The delivery agency's vocabulary, free of Temporal and of any database.
//!
//! Every crate speaks these types: ids with one grammar, the fee, free text, the statuses and
//! the delivery row. Each is *parsed* once where it enters the system (an HTTP body, a path, a
//! database row) and can only hold a valid value afterwards ("parse, don't validate"): a
//! [`RiderId`] is a well-formed id wherever it travels, so nothing checks it again. Serde
//! deserialization goes through the same parsers, and each type documents itself in OpenAPI
//! with the rule it enforces.

mod account;
mod delivery;
mod id;
mod money;
mod number;
mod period;
mod schema;
mod text;

pub use account::{
    CommissionBps, DispatchMode, InvalidCapacity, InvalidCommission, InvalidDispatchMode,
    InvalidRole, InvalidZones, MAX_COMMISSION_BPS, MAX_RIDER_CAPACITY, MAX_RIDER_ZONES,
    RiderCapacity, RiderZones, Role,
};
pub use delivery::{
    Assignment, Attention, Call, CallReach, DeliveryFailure, DeliveryRow, DeliveryStatus,
    DeliveryView, DispatchSummary, FailureMoney, FailureReason, OpenCall, ParseFailureReasonError,
    ParseStatusError, PaymentStatus, PaymentSummary, PendingOffer, Projection, Resolution,
    StoredView, Timeline,
};
pub use id::{
    AccountId, CustomerId, DeliveryId, ID_PATTERN, InvalidId, RestaurantId, RiderId, Zone,
};
pub use money::{Cost, InvalidCost, Split};
pub use number::WholeNumber;
pub use period::{InvalidPeriodLength, Period, PeriodLength};
pub use text::{InvalidText, Text};

/// Longest free text (a destination, a reason) in characters, after NFC normalization.
pub const MAX_TEXT_LEN: usize = 256;
/// Longest id in characters (ids are ASCII, see [`ID_PATTERN`]).
pub const MAX_ID_LEN: usize = 64;
/// Largest delivery fee the agency accepts, in KRW.
pub const MAX_COST: i64 = 1_000_000;

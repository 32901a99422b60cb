//! sea-orm entities for the read tables, the riders' dispatch state and the API's idempotency keys; private, the public types live in the crate root.

// `DeriveEntityModel` generates `pub` items (Entity, Column, ActiveModel) that
// name `Model` and `Relation`, so those must be `pub` too even though the
// module is private.
#![allow(unreachable_pub)]

pub(crate) mod delivery_list;
pub(crate) mod delivery_views;
pub(crate) mod idempotency_keys;
pub(crate) mod open_calls;
pub(crate) mod rider_assignments;
pub(crate) mod rider_availability;

//! sea-orm entities of the account tables; private, the public types are in [`crate::accounts`].

// `DeriveEntityModel` generates `pub` items (Entity, Column, ActiveModel) that name `Model` and
// `Relation`, so those must be `pub` too even though the module is private.
#![allow(unreachable_pub)]

pub(crate) mod account;
pub(crate) mod restaurant_profile;
pub(crate) mod rider_profile;
pub(crate) mod rider_zone;

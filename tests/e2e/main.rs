//! The end-to-end suite: every component real (Temporal dev server, gRPC payment service,
//! SQLite databases, the HTTP API), driven through public interfaces only.

mod access;
mod bad_input;
mod cancel;
mod checker;
mod control_room;
mod dead_ends;
mod delivery_list;
mod deploy;
mod dispatch;
mod encryption;
mod external_provider;
mod faults;
mod happy_path;
mod idempotency;
mod identity;
mod load;
mod money;
mod observability;
mod offers;
mod operations;
mod payment_faults;
mod reads;
mod replay;
mod versioning;

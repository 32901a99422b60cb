//! Who is calling, and whether they may: the identity core of the delivery agency.
//!
//! Free of HTTP and of Temporal; the API wires it in:
//!
//! - [`Accounts`]: restaurants, riders and operators in their own tables. Secrets are made here
//!   (256 bits from the OS), shown once ([`CreatedAccount`], [`Accounts::rotate_secret`]) and
//!   stored only as Argon2id hashes; [`Accounts::authenticate`] checks one on the blocking pool
//!   (the token endpoint's password and client-credentials grants).
//! - [`Tokens`] and [`KeySet`]: RFC 9068 access tokens (`typ: at+jwt`) signed with Ed25519,
//!   `kid` in the header; several keys at once, one signing, all verifying; the public keys as a
//!   JWK Set for `/.well-known/jwks.json`.
//! - [`ExternalVerifier`]: an external OpenID provider's access tokens, keys from its discovery
//!   document, cached.
//! - [`NotBeforeCache`]: a deleted or rotated account's tokens stop working within a minute,
//!   without a database read per request.
//! - [`Authenticator`]: bearer token → [`Principal`] (the extractor's one call), and
//!   [`Principal::require`] for the role check (`403`).
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use std::{path::Path, sync::Arc};
//! use identity::{Accounts, Authenticator, KeySet, NotBeforeCache, Role, Secret, Tokens, DEFAULT_TTL};
//!
//! let accounts = Accounts::connect("sqlite://.data/deliveries.db?mode=rwc").await?;
//! let tokens = Tokens::new(KeySet::ensure_local(Path::new(".data/keys"))?, "http://localhost:8080");
//! let auth = Authenticator::new(tokens.clone(), Arc::new(NotBeforeCache::new(accounts.clone())));
//!
//! // POST /oauth/token (password grant)
//! let account = accounts.authenticate("rider-7", &Secret::new("demo-rider-7")).await?;
//! let issued = tokens.issue(&account.principal(), "pages", DEFAULT_TTL)?;
//!
//! // Every other request
//! let caller = auth.principal(&issued.access_token).await?;
//! caller.require(&[Role::Rider, Role::Operator])?;
//! # Ok(()) }
//! ```

pub mod accounts;
mod authenticator;
pub mod external;
mod jwt;
mod migration;
mod principal;
pub mod revocation;
mod secret;
pub mod tokens;

pub use accounts::{
    Account, AccountError, AccountPatch, Accounts, CreatedAccount, Cursor, NewAccount, NewProfile,
    NewRestaurant, Page, PageLimit, Profile, RestaurantProfile, RiderProfile, SignInError,
    Standing,
};
pub use authenticator::{AuthError, Authenticator};
pub use domain::{AccountId, Role};
pub use external::{ExternalConfig, ExternalToken, ExternalVerifier};
pub use principal::{Forbidden, Principal};
pub use revocation::{NotBeforeCache, Revoked};
pub use secret::{MAX_SECRET_LEN, Secret, SecretError};
pub use tokens::{Claims, DEFAULT_TTL, IssuedToken, KeyError, KeySet, TokenError, Tokens};

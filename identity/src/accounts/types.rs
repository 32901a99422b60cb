//! What the account store takes and gives: accounts as the contract shows them (flat JSON,
//! camelCase, never a secret), new accounts, patches, pages and an account's standing.

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use domain::{AccountId, CommissionBps, DispatchMode, RiderCapacity, RiderZones, Role, Text, Zone};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Principal, Secret};

/// An account as every answer shows it: `{"id","role","name","createdAt","external",…attributes}`.
/// It never holds a secret or a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    pub name: Text,
    pub created_at: DateTime<Utc>,
    /// Signs in at the external OpenID provider; has no secret here.
    pub external: bool,
    /// The role and its attributes.
    #[serde(flatten)]
    pub profile: Profile,
}

impl Account {
    pub fn role(&self) -> Role {
        self.profile.role()
    }

    /// The account as a caller.
    pub fn principal(&self) -> Principal {
        Principal::new(self.id.clone(), self.role())
    }
}

/// An account's role and the attributes that go with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Profile {
    Restaurant(RestaurantProfile),
    Rider(RiderProfile),
    Operator,
}

impl Profile {
    pub fn role(&self) -> Role {
        match self {
            Self::Restaurant(_) => Role::Restaurant,
            Self::Rider(_) => Role::Rider,
            Self::Operator => Role::Operator,
        }
    }
}

/// A restaurant's attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestaurantProfile {
    /// Where riders pick the food up.
    pub pickup_address: Text,
    /// The zone its calls go to.
    pub zone: Zone,
    /// How its calls reach riders.
    pub dispatch_mode: DispatchMode,
    /// The agency's commission on its deliveries.
    pub commission_bps: CommissionBps,
}

/// A rider's attributes (its availability is dispatch's, not the account's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiderProfile {
    /// The zones it works in; empty = every zone.
    #[serde(default)]
    pub zones: RiderZones,
    /// Most active deliveries it holds at once.
    #[serde(default)]
    pub capacity: RiderCapacity,
}

/// What `POST /accounts` takes: `{"role","id"?,"name","external"?,…attributes}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount {
    /// The id to give the account; generated (`r-…`, `rider-…`, `ops-…`) when absent.
    #[serde(default)]
    pub id: Option<AccountId>,
    pub name: Text,
    /// An account of the external OpenID provider: no secret is made.
    #[serde(default)]
    pub external: bool,
    #[serde(flatten)]
    pub profile: NewProfile,
}

impl NewAccount {
    pub fn role(&self) -> Role {
        match self.profile {
            NewProfile::Restaurant(_) => Role::Restaurant,
            NewProfile::Rider(_) => Role::Rider,
            NewProfile::Operator => Role::Operator,
        }
    }

    /// An operator with a secret, named `name`.
    pub fn operator(id: Option<AccountId>, name: Text) -> Self {
        Self {
            id,
            name,
            external: false,
            profile: NewProfile::Operator,
        }
    }
}

/// The role of a new account and its attributes; omitted ones take their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum NewProfile {
    Restaurant(NewRestaurant),
    Rider(RiderProfile),
    Operator,
}

/// A new restaurant's attributes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRestaurant {
    pub pickup_address: Text,
    pub zone: Zone,
    /// `broadcast` when absent.
    #[serde(default)]
    pub dispatch_mode: DispatchMode,
    /// The deployment's default commission when absent.
    #[serde(default)]
    pub commission_bps: Option<CommissionBps>,
}

/// What `PATCH /accounts/{id}` takes: the fields to change, each of the account's own role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountPatch {
    pub name: Option<Text>,
    pub pickup_address: Option<Text>,
    pub zone: Option<Zone>,
    pub dispatch_mode: Option<DispatchMode>,
    pub commission_bps: Option<CommissionBps>,
    pub zones: Option<RiderZones>,
    pub capacity: Option<RiderCapacity>,
}

impl AccountPatch {
    /// The JSON names of the fields this patch sets, so the API can check who may set them
    /// (a rider may change only its own `zones` and `capacity`).
    pub fn fields(&self) -> Vec<&'static str> {
        let set = [
            ("name", self.name.is_some()),
            ("pickupAddress", self.pickup_address.is_some()),
            ("zone", self.zone.is_some()),
            ("dispatchMode", self.dispatch_mode.is_some()),
            ("commissionBps", self.commission_bps.is_some()),
            ("zones", self.zones.is_some()),
            ("capacity", self.capacity.is_some()),
        ];
        set.into_iter()
            .filter_map(|(name, is_set)| is_set.then_some(name))
            .collect()
    }

    /// The first set field that `role` does not have.
    pub(crate) fn foreign_field(&self, role: Role) -> Option<&'static str> {
        let own: &[&str] = match role {
            Role::Restaurant => &[
                "name",
                "pickupAddress",
                "zone",
                "dispatchMode",
                "commissionBps",
            ],
            Role::Rider => &["name", "zones", "capacity"],
            Role::Operator => &["name"],
        };
        self.fields().into_iter().find(|field| !own.contains(field))
    }
}

/// A new account and, unless it is external, its secret: shown once, never stored in clear.
#[derive(Clone, Debug)]
pub struct CreatedAccount {
    pub account: Account,
    pub secret: Option<Secret>,
}

/// One page of a listing: `{"items":[…],"nextCursor"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub items: Vec<Account>,
    /// Where the next page starts; `null` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// Where a listing goes on: opaque to clients, stable (accounts in id order).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cursor {
    /// The last id of the previous page.
    after: AccountId,
    encoded: String,
}

/// Version tag inside a cursor, so the encoding can change without misreading old ones.
const CURSOR_TAG: &str = "a1:";

impl Cursor {
    pub(crate) fn after(id: AccountId) -> Self {
        let encoded = URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}{id}"));
        Self { after: id, encoded }
    }

    pub(crate) fn last_id(&self) -> &AccountId {
        &self.after
    }

    pub fn as_str(&self) -> &str {
        &self.encoded
    }
}

/// A cursor this service did not give out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor from a previous page")]
pub struct InvalidCursor;

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(encoded: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let id = text.strip_prefix(CURSOR_TAG).ok_or(InvalidCursor)?;
        let after = AccountId::parse(id).map_err(|_| InvalidCursor)?;
        Ok(Self::after(after))
    }
}

impl TryFrom<String> for Cursor {
    type Error = InvalidCursor;

    fn try_from(encoded: String) -> Result<Self, InvalidCursor> {
        encoded.parse()
    }
}

impl From<Cursor> for String {
    fn from(cursor: Cursor) -> String {
        cursor.encoded
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({})", self.encoded)
    }
}

impl utoipa::PartialSchema for Cursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{Type, schema::ObjectBuilder};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("an opaque cursor from a previous page's nextCursor"))
            .pattern(Some("^[A-Za-z0-9_-]+$"))
            .min_length(Some(1))
            .max_length(Some(128))
            .into()
    }
}

impl utoipa::ToSchema for Cursor {}

/// How many items a page holds: 1 to 200, 50 unless asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PageLimit(u8);

impl PageLimit {
    pub const DEFAULT: PageLimit = PageLimit(50);
    pub const MAX: u8 = 200;
    /// The largest page, for callers that read every account.
    pub const LARGEST: PageLimit = PageLimit(Self::MAX);

    pub fn new(limit: i64) -> Result<Self, InvalidLimit> {
        match u8::try_from(limit) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidLimit),
        }
    }

    pub fn get(self) -> u64 {
        u64::from(self.0)
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A page size out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number from 1 to 200")]
pub struct InvalidLimit;

impl TryFrom<i64> for PageLimit {
    type Error = InvalidLimit;

    fn try_from(limit: i64) -> Result<Self, InvalidLimit> {
        Self::new(limit)
    }
}

impl From<PageLimit> for i64 {
    fn from(limit: PageLimit) -> i64 {
        i64::from(limit.0)
    }
}

impl FromStr for PageLimit {
    type Err = InvalidLimit;

    fn from_str(limit: &str) -> Result<Self, InvalidLimit> {
        limit
            .parse::<i64>()
            .map_err(|_| InvalidLimit)
            .and_then(Self::new)
    }
}

impl utoipa::PartialSchema for PageLimit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{KnownFormat, SchemaFormat, Type, schema::ObjectBuilder};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .description(Some("items per page, 1 to 200"))
            .minimum(Some(1))
            .maximum(Some(i64::from(Self::MAX)))
            .default(Some(50.into()))
            .into()
    }
}

impl utoipa::ToSchema for PageLimit {}

/// Whether an account's tokens may still be honoured, as of the last look at the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The account exists and is not deleted.
    Active {
        role: Role,
        external: bool,
        /// Tokens issued before this are void (its secret was rotated then).
        not_before: Option<DateTime<Utc>>,
    },
    /// The account was deleted: every token of it is void.
    Deleted { at: DateTime<Utc> },
    /// No such account was ever created.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_serializes_flat_with_its_role_and_attributes() {
        let account = Account {
            id: "r-1".parse().unwrap(),
            name: Text::parse("Gangnam Kitchen").unwrap(),
            created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            external: false,
            profile: Profile::Restaurant(RestaurantProfile {
                pickup_address: Text::parse("Teheran-ro 1").unwrap(),
                zone: "gangnam".parse().unwrap(),
                dispatch_mode: DispatchMode::Offer,
                commission_bps: CommissionBps::DEFAULT,
            }),
        };
        let json = serde_json::to_value(&account).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "r-1", "role": "restaurant", "name": "Gangnam Kitchen",
                "createdAt": "2027-01-15T08:00:00Z", "external": false,
                "pickupAddress": "Teheran-ro 1", "zone": "gangnam",
                "dispatchMode": "offer", "commissionBps": 1000,
            })
        );
        assert_eq!(serde_json::from_value::<Account>(json).unwrap(), account);
        let operator = Account {
            profile: Profile::Operator,
            ..account
        };
        let json = serde_json::to_value(&operator).unwrap();
        assert_eq!(json["role"], "operator");
        assert!(json.get("zone").is_none());
    }

    #[test]
    fn a_new_account_takes_defaults_for_omitted_attributes() {
        let rider: NewAccount = serde_json::from_str(r#"{"role":"rider","name":"Kim"}"#).unwrap();
        assert_eq!(rider.id, None);
        assert_eq!(rider.profile, NewProfile::Rider(RiderProfile::default()));
        let restaurant: NewAccount = serde_json::from_str(
            r#"{"role":"restaurant","id":"r-9","name":"Mapo Noodles","pickupAddress":"Mapo-daero 2","zone":"mapo"}"#,
        )
        .unwrap();
        let NewProfile::Restaurant(attributes) = &restaurant.profile else {
            panic!("not a restaurant: {restaurant:?}");
        };
        assert_eq!(attributes.dispatch_mode, DispatchMode::Broadcast);
        assert_eq!(attributes.commission_bps, None);
        assert_eq!(restaurant.role(), Role::Restaurant);
        // A restaurant needs its address and zone; an unknown role is refused.
        assert!(serde_json::from_str::<NewAccount>(r#"{"role":"restaurant","name":"x"}"#).is_err());
        assert!(serde_json::from_str::<NewAccount>(r#"{"role":"admin","name":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<NewAccount>(r#"{"role":"rider","name":"x","capacity":9}"#)
                .is_err()
        );
    }

    #[test]
    fn a_patch_names_its_fields_and_refuses_unknown_ones() {
        let patch: AccountPatch =
            serde_json::from_str(r#"{"zones":["mapo"],"capacity":2}"#).unwrap();
        assert_eq!(patch.fields(), ["zones", "capacity"]);
        assert_eq!(patch.foreign_field(Role::Rider), None);
        assert_eq!(patch.foreign_field(Role::Restaurant), Some("zones"));
        assert_eq!(patch.foreign_field(Role::Operator), Some("zones"));
        assert!(serde_json::from_str::<AccountPatch>(r#"{"role":"operator"}"#).is_err());
    }

    #[test]
    fn a_cursor_round_trips_and_foreign_text_is_refused() {
        let cursor = Cursor::after("rider-7".parse().unwrap());
        let parsed: Cursor = cursor.as_str().parse().unwrap();
        assert_eq!(parsed.last_id().as_str(), "rider-7");
        assert!(!cursor.as_str().contains("rider-7"), "not opaque: {cursor}");
        for bad in ["", "rider-7", "!!", &URL_SAFE_NO_PAD.encode("a1:bad id")] {
            assert_eq!(bad.parse::<Cursor>(), Err(InvalidCursor), "{bad:?}");
        }
    }

    #[test]
    fn a_page_limit_is_one_to_two_hundred() {
        assert_eq!(PageLimit::default().get(), 50);
        assert_eq!("200".parse::<PageLimit>().map(PageLimit::get), Ok(200));
        for bad in ["0", "201", "-1", "ten", "1.5"] {
            assert_eq!(bad.parse::<PageLimit>(), Err(InvalidLimit), "{bad}");
        }
    }
}

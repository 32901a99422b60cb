//! Accounts: who acts (a restaurant, a rider, an operator) and the settings each role carries.
//!
//! Restaurant and rider ids *are* account ids: [`AccountId`] converts to and from
//! [`RestaurantId`] and [`RiderId`] without a check (the grammar is the same); which role an
//! account has is a fact of the account store, not of the id, so the role check lives where the
//! caller is known (the `identity` crate's `Principal`).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::WholeNumber;

use crate::Zone;

/// What an account may do: the three roles of the contract.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Calls riders for its deliveries and pays for them.
    Restaurant,
    /// Picks deliveries up and completes them.
    Rider,
    /// Runs the agency: every delivery, accounts, adjustments.
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Restaurant, Role::Rider, Role::Operator];

    /// The name in JSON, tokens and the database: `restaurant`, `rider`, `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restaurant => "restaurant",
            Self::Rider => "rider",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a [`Role`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be one of restaurant, rider, operator")]
pub struct InvalidRole;

impl FromStr for Role {
    type Err = InvalidRole;

    fn from_str(s: &str) -> Result<Self, InvalidRole> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(InvalidRole)
    }
}

/// How a restaurant's calls reach riders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DispatchMode {
    /// Every eligible rider sees the call; the first pickup wins (the default).
    #[default]
    Broadcast,
    /// The call is offered to one rider at a time, who accepts or declines.
    Offer,
}

impl DispatchMode {
    /// The name in JSON and the database: `broadcast`, `offer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broadcast => "broadcast",
            Self::Offer => "offer",
        }
    }
}

impl fmt::Display for DispatchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a [`DispatchMode`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be broadcast or offer")]
pub struct InvalidDispatchMode;

impl FromStr for DispatchMode {
    type Err = InvalidDispatchMode;

    fn from_str(s: &str) -> Result<Self, InvalidDispatchMode> {
        match s {
            "broadcast" => Ok(Self::Broadcast),
            "offer" => Ok(Self::Offer),
            _ => Err(InvalidDispatchMode),
        }
    }
}

/// Largest commission: all of the fee.
pub const MAX_COMMISSION_BPS: u16 = 10_000;

/// A commission that is not a whole number of basis points from 0 to 10000.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number of basis points from 0 to 10000")]
pub struct InvalidCommission;

/// The agency's commission on a restaurant's deliveries, in basis points of the fee: 0 to
/// 10000 (100%); 1000 (10%) unless the deployment or the account says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "WholeNumber", into = "i64")]
pub struct CommissionBps(u16);

impl CommissionBps {
    /// The contract's default: 10%.
    pub const DEFAULT: CommissionBps = CommissionBps(1_000);

    pub fn new(bps: i64) -> Result<Self, InvalidCommission> {
        match u16::try_from(bps) {
            Ok(bps) if bps <= MAX_COMMISSION_BPS => Ok(Self(bps)),
            _ => Err(InvalidCommission),
        }
    }

    pub fn bps(self) -> u16 {
        self.0
    }
}

impl Default for CommissionBps {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<WholeNumber> for CommissionBps {
    type Error = InvalidCommission;

    fn try_from(bps: WholeNumber) -> Result<Self, InvalidCommission> {
        Self::new(bps.0)
    }
}

impl From<CommissionBps> for i64 {
    fn from(bps: CommissionBps) -> i64 {
        i64::from(bps.0)
    }
}

impl utoipa::PartialSchema for CommissionBps {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        integer(
            "the agency's commission in basis points of the fee (1000 = 10%), 0 to 10000",
            0,
            i64::from(MAX_COMMISSION_BPS),
            i64::from(Self::DEFAULT.0),
        )
    }
}

impl utoipa::ToSchema for CommissionBps {}

/// Most deliveries a rider may hold at once, whatever the rider asks.
pub const MAX_RIDER_CAPACITY: u8 = 5;

/// A capacity that is not a whole number from 1 to 5.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number from 1 to 5")]
pub struct InvalidCapacity;

/// How many active (assigned or picked) deliveries a rider holds at most: 1 to 5, default 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "WholeNumber", into = "i64")]
pub struct RiderCapacity(u8);

impl RiderCapacity {
    /// The contract's default.
    pub const DEFAULT: RiderCapacity = RiderCapacity(3);

    pub fn new(deliveries: i64) -> Result<Self, InvalidCapacity> {
        match u8::try_from(deliveries) {
            Ok(n) if (1..=MAX_RIDER_CAPACITY).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidCapacity),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for RiderCapacity {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<WholeNumber> for RiderCapacity {
    type Error = InvalidCapacity;

    fn try_from(n: WholeNumber) -> Result<Self, InvalidCapacity> {
        Self::new(n.0)
    }
}

impl From<RiderCapacity> for i64 {
    fn from(capacity: RiderCapacity) -> i64 {
        i64::from(capacity.0)
    }
}

impl utoipa::PartialSchema for RiderCapacity {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        integer(
            "most active (assigned or picked) deliveries the rider holds at once, 1 to 5",
            1,
            i64::from(MAX_RIDER_CAPACITY),
            i64::from(Self::DEFAULT.0),
        )
    }
}

impl utoipa::ToSchema for RiderCapacity {}

/// Most zones one rider can list.
pub const MAX_RIDER_ZONES: usize = 64;

/// A zone list that is too long.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must list at most 64 zones")]
pub struct InvalidZones;

/// The zones a rider works in, without repeats, in the order given; empty means every zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<Zone>", into = "Vec<Zone>")]
pub struct RiderZones(Vec<Zone>);

impl RiderZones {
    /// Every zone.
    pub fn everywhere() -> Self {
        Self(Vec::new())
    }

    /// `zones` without repeats (the first of each kept). A list of more than
    /// [`MAX_RIDER_ZONES`] entries is refused, repeats counted, as the schema's `maxItems` says.
    pub fn new(zones: impl IntoIterator<Item = Zone>) -> Result<Self, InvalidZones> {
        let mut unique: Vec<Zone> = Vec::new();
        for (given, zone) in zones.into_iter().enumerate() {
            if given == MAX_RIDER_ZONES {
                return Err(InvalidZones);
            }
            if !unique.contains(&zone) {
                unique.push(zone);
            }
        }
        Ok(Self(unique))
    }

    /// Whether a call in `zone` is for this rider.
    pub fn covers(&self, zone: &Zone) -> bool {
        self.0.is_empty() || self.0.contains(zone)
    }

    /// Whether the rider works everywhere.
    pub fn is_everywhere(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Zone] {
        &self.0
    }
}

impl TryFrom<Vec<Zone>> for RiderZones {
    type Error = InvalidZones;

    fn try_from(zones: Vec<Zone>) -> Result<Self, InvalidZones> {
        Self::new(zones)
    }
}

impl From<RiderZones> for Vec<Zone> {
    fn from(zones: RiderZones) -> Vec<Zone> {
        zones.0
    }
}

impl utoipa::PartialSchema for RiderZones {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::ArrayBuilder;
        ArrayBuilder::new()
            .items(<Zone as utoipa::PartialSchema>::schema())
            .max_items(Some(MAX_RIDER_ZONES))
            .description(Some(
                "the zones the rider works in (at most 64, repeats dropped); empty = every zone",
            ))
            .examples([vec!["gangnam", "mapo"]])
            .into()
    }
}

impl utoipa::ToSchema for RiderZones {}

/// An integer schema with inclusive bounds and a default.
fn integer(
    description: &str,
    minimum: i64,
    maximum: i64,
    default: i64,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{KnownFormat, SchemaFormat, Type, schema::ObjectBuilder};
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .description(Some(description))
        .minimum(Some(minimum))
        .maximum(Some(maximum))
        .default(Some(default.into()))
        .examples([default])
        .into()
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;
    use crate::{AccountId, ID_PATTERN, InvalidId, RestaurantId, RiderId};

    #[test]
    fn account_ids_and_zones_follow_the_one_id_grammar() {
        assert_eq!(AccountId::parse("ops-1").unwrap().as_str(), "ops-1");
        assert_eq!(Zone::parse("gangnam").unwrap().as_str(), "gangnam");
        for bad in ["", "-x", "a b", "강남", &"x".repeat(65)] {
            assert_eq!(AccountId::parse(bad), Err(InvalidId), "{bad:?}");
            assert_eq!(Zone::parse(bad), Err(InvalidId), "{bad:?}");
        }
        assert!(serde_json::from_str::<AccountId>("\"no spaces\"").is_err());
    }

    #[test]
    fn restaurant_and_rider_ids_are_account_ids_both_ways() {
        let restaurant: RestaurantId = "r-1".parse().unwrap();
        let account = AccountId::from(restaurant.clone());
        assert_eq!(account.as_str(), "r-1");
        assert_eq!(RestaurantId::from(account), restaurant);
        let rider: RiderId = "rider-7".parse().unwrap();
        assert_eq!(RiderId::from(AccountId::from(rider.clone())), rider);
    }

    #[test]
    fn roles_and_dispatch_modes_are_lowercase_words() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(serde_json::from_str::<Role>("\"Operator\"").is_err());
        assert_eq!("admin".parse::<Role>(), Err(InvalidRole));
        assert_eq!(DispatchMode::default(), DispatchMode::Broadcast);
        assert_eq!(
            serde_json::to_string(&DispatchMode::Offer).unwrap(),
            "\"offer\""
        );
        assert_eq!("offer".parse(), Ok(DispatchMode::Offer));
        assert!(serde_json::from_str::<DispatchMode>("\"round-robin\"").is_err());
    }

    #[test]
    fn a_commission_is_zero_to_ten_thousand_basis_points_defaulting_to_ten_percent() {
        assert_eq!(CommissionBps::default().bps(), 1_000);
        assert_eq!(CommissionBps::new(0).map(CommissionBps::bps), Ok(0));
        assert_eq!(
            CommissionBps::new(10_000).map(CommissionBps::bps),
            Ok(10_000)
        );
        for bad in [-1, 10_001, 70_000] {
            assert_eq!(CommissionBps::new(bad), Err(InvalidCommission), "{bad}");
        }
        assert!(serde_json::from_str::<CommissionBps>("12.5").is_err());
        assert_eq!(
            serde_json::from_str::<CommissionBps>("250").unwrap().bps(),
            250
        );
    }

    #[test]
    fn a_rider_capacity_is_one_to_five_defaulting_to_three() {
        assert_eq!(RiderCapacity::default().get(), 3);
        for good in 1..=5 {
            assert_eq!(
                RiderCapacity::new(good).map(RiderCapacity::get),
                Ok(good as u8)
            );
        }
        for bad in [0, 6, -1, 256] {
            assert_eq!(RiderCapacity::new(bad), Err(InvalidCapacity), "{bad}");
        }
        assert!(serde_json::from_str::<RiderCapacity>("0").is_err());
    }

    #[test]
    fn rider_zones_drop_repeats_and_empty_means_every_zone() {
        let zones: RiderZones = serde_json::from_str(r#"["mapo","gangnam","mapo"]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&zones).unwrap(),
            r#"["mapo","gangnam"]"#
        );
        assert!(zones.covers(&Zone::parse("mapo").unwrap()));
        assert!(!zones.covers(&Zone::parse("jongno").unwrap()));
        assert!(RiderZones::everywhere().covers(&Zone::parse("jongno").unwrap()));
        // Found by the fuzzer: 65 repeats of one zone are 65 entries, over the schema's maxItems.
        let repeats = std::iter::repeat_n(Zone::parse("gangnam").unwrap(), MAX_RIDER_ZONES + 1);
        assert_eq!(RiderZones::new(repeats), Err(InvalidZones));
        let too_many = (0..=MAX_RIDER_ZONES).map(|i| Zone::parse(format!("z{i}")).unwrap());
        assert_eq!(RiderZones::new(too_many), Err(InvalidZones));
        assert!(serde_json::from_str::<RiderZones>(r#"["bad zone"]"#).is_err());
    }

    #[test]
    fn the_schemas_state_the_rules() {
        let json = |schema| serde_json::to_value(schema).unwrap();
        let commission = json(CommissionBps::schema());
        assert_eq!(commission["minimum"], 0);
        assert_eq!(commission["maximum"], 10_000);
        assert_eq!(commission["default"], 1_000);
        let capacity = json(RiderCapacity::schema());
        assert_eq!(
            (capacity["minimum"].clone(), capacity["maximum"].clone()),
            (1.into(), 5.into())
        );
        assert_eq!(json(Zone::schema())["pattern"], ID_PATTERN);
        assert_eq!(json(RiderZones::schema())["maxItems"], 64);
        assert_eq!(
            json(Role::schema())["enum"],
            serde_json::json!(["restaurant", "rider", "operator"])
        );
    }
}

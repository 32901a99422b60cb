//! The caller, as a verified token names it, and the one authorization check on roles.

use std::fmt;

use domain::{AccountId, RestaurantId, RiderId, Role};
use serde::{Deserialize, Serialize};

/// Who is calling: an account and its role, from a verified token whose account is still in
/// standing. Handlers take it as an argument and never read the caller's id from a body or a
/// path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    pub id: AccountId,
    pub role: Role,
}

impl Principal {
    pub fn new(id: AccountId, role: Role) -> Self {
        Self { id, role }
    }

    /// `Ok` when the caller's role is one of `allowed`, else [`Forbidden`] (a `403`).
    pub fn require(&self, allowed: &[Role]) -> Result<&Self, Forbidden> {
        if allowed.contains(&self.role) {
            Ok(self)
        } else {
            Err(Forbidden {
                role: self.role,
                allowed: allowed.to_vec(),
            })
        }
    }

    /// Whether the caller is an operator (who may act on every account's behalf).
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// Whether the caller is the account `id` itself (`/accounts/me` and the like).
    pub fn is(&self, id: &AccountId) -> bool {
        &self.id == id
    }

    /// The caller as a restaurant: the restaurant id comes from the token, never the body.
    pub fn restaurant_id(&self) -> Result<RestaurantId, Forbidden> {
        self.require(&[Role::Restaurant])?;
        Ok(self.id.clone().into())
    }

    /// The caller as a rider.
    pub fn rider_id(&self) -> Result<RiderId, Forbidden> {
        self.require(&[Role::Rider])?;
        Ok(self.id.clone().into())
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role, self.id)
    }
}

/// The caller's role may not do this: `403 forbidden`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {role} may not do this")]
pub struct Forbidden {
    /// The caller's role.
    pub role: Role,
    /// The roles that may.
    pub allowed: Vec<Role>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(id: &str, role: Role) -> Principal {
        Principal::new(id.parse().unwrap(), role)
    }

    #[test]
    fn require_admits_the_listed_roles_and_forbids_the_others() {
        let operator = principal("ops-1", Role::Operator);
        assert!(operator.require(&[Role::Operator]).is_ok());
        let rider = principal("rider-7", Role::Rider);
        assert_eq!(
            rider.require(&[Role::Operator, Role::Restaurant]),
            Err(Forbidden {
                role: Role::Rider,
                allowed: vec![Role::Operator, Role::Restaurant],
            })
        );
        assert!(rider.require(&[]).is_err());
    }

    #[test]
    fn only_a_restaurant_has_a_restaurant_id_and_only_a_rider_a_rider_id() {
        let restaurant = principal("r-1", Role::Restaurant);
        assert_eq!(restaurant.restaurant_id().unwrap().as_str(), "r-1");
        assert!(restaurant.rider_id().is_err());
        let rider = principal("rider-7", Role::Rider);
        assert_eq!(rider.rider_id().unwrap().as_str(), "rider-7");
        assert!(rider.restaurant_id().is_err());
        assert!(principal("ops-1", Role::Operator).restaurant_id().is_err());
    }

    #[test]
    fn a_principal_is_itself_and_nobody_else() {
        let rider = principal("rider-7", Role::Rider);
        assert!(rider.is(&"rider-7".parse().unwrap()));
        assert!(!rider.is(&"rider-8".parse().unwrap()));
        assert!(!rider.is_operator());
        assert_eq!(rider.to_string(), "rider rider-7");
    }
}

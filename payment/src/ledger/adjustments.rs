//! Adjustments: an operator's correction of a rider's or a restaurant's account, balanced
//! against `agency:adjustments`. The amount is signed as it shows on the account's next
//! document: positive pays a rider more or bills a restaurant more; negative takes back from
//! a rider or credits a restaurant.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::book::{self, Account, Kind, Leg};
use super::entity::adjustment;
use super::{Ledger, LedgerError, validate_account_id, validate_delivery_id};

/// Largest adjustment either way, in won.
pub const MAX_ADJUSTMENT: i64 = 10_000_000;
/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 256;

/// Whose account an adjustment corrects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Rider,
    Restaurant,
}

impl Holder {
    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Rider => "rider",
            Holder::Restaurant => "restaurant",
        }
    }

    fn parse(s: &str) -> Option<Holder> {
        match s {
            "rider" => Some(Holder::Rider),
            "restaurant" => Some(Holder::Restaurant),
            _ => None,
        }
    }
}

/// An adjustment as asked for: `id` is its idempotency id (the caller's key, or a fresh one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentRequest {
    pub id: String,
    pub holder: Holder,
    pub account_id: String,
    pub amount: i64,
    pub reason: String,
    pub delivery_id: Option<String>,
    pub created_by: String,
}

/// An adjustment as booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub id: String,
    pub holder: Holder,
    pub account_id: String,
    pub amount: i64,
    pub reason: String,
    pub delivery_id: Option<String>,
    pub created_by: String,
    pub at: DateTime<Utc>,
}

impl Adjustment {
    /// The entry that books it.
    pub(super) fn leg(holder: Holder, account_id: &str, amount: i64) -> Leg {
        let account = match holder {
            Holder::Rider => Account::Rider(account_id.to_owned()),
            Holder::Restaurant => Account::Restaurant(account_id.to_owned()),
        };
        // A rider's account is owed (credit-normal), a restaurant's owes (debit-normal): "more
        // on the document" is a credit for the one and a debit for the other.
        let more = match holder {
            Holder::Rider => amount > 0,
            Holder::Restaurant => amount < 0,
        };
        match more {
            true => Leg::new(Account::Adjustments, account, amount.abs()),
            false => Leg::new(account, Account::Adjustments, amount.abs()),
        }
    }

    fn same_request(&self, request: &AdjustmentRequest) -> bool {
        (
            self.holder,
            &self.account_id,
            self.amount,
            &self.reason,
            &self.delivery_id,
        ) == (
            request.holder,
            &request.account_id,
            request.amount,
            &request.reason,
            &request.delivery_id,
        )
    }
}

impl TryFrom<adjustment::Model> for Adjustment {
    type Error = LedgerError;

    fn try_from(row: adjustment::Model) -> Result<Self, LedgerError> {
        let holder = Holder::parse(&row.role).ok_or_else(|| {
            LedgerError::Database(sea_orm::DbErr::Custom(format!(
                "adjustment {} has an unknown role {:?}",
                row.movement_id, row.role
            )))
        })?;
        Ok(Adjustment {
            id: row
                .movement_id
                .strip_prefix("adjustment:")
                .unwrap_or(&row.movement_id)
                .to_owned(),
            holder,
            account_id: row.account_id,
            amount: row.amount,
            reason: row.reason,
            delivery_id: row.delivery_id,
            created_by: row.created_by,
            at: row.at,
        })
    }
}

impl Ledger {
    /// Books an adjustment once: repeating the request returns the first booking; the same id
    /// with another request is `FailedPrecondition`.
    pub async fn adjust(&self, request: &AdjustmentRequest) -> Result<Adjustment, LedgerError> {
        validate(request)?;
        let movement_id = format!("adjustment:{}", request.id);
        let now = super::now();
        let txn = self.db().begin().await?;
        let posted = book::post(
            &txn,
            book::Movement {
                id: movement_id.clone(),
                kind: Kind::Adjustment,
                delivery_id: request.delivery_id.as_deref(),
                at: now,
                legs: vec![Adjustment::leg(
                    request.holder,
                    &request.account_id,
                    request.amount,
                )],
            },
        )
        .await?;
        if posted {
            adjustment::Entity::insert(adjustment::ActiveModel::from(adjustment::Model {
                movement_id: movement_id.clone(),
                role: request.holder.as_str().to_owned(),
                account_id: request.account_id.clone(),
                amount: request.amount,
                reason: request.reason.clone(),
                delivery_id: request.delivery_id.clone(),
                created_by: request.created_by.clone(),
                at: now,
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        txn.commit().await?;
        let booked: Adjustment = adjustment::Entity::find_by_id(movement_id.clone())
            .one(self.db())
            .await?
            .ok_or_else(|| LedgerError::NotFound(movement_id))?
            .try_into()?;
        if !booked.same_request(request) {
            return Err(LedgerError::FailedPrecondition(format!(
                "adjustment {} was already booked with other details",
                request.id
            )));
        }
        if posted {
            tracing::info!(
                id = %request.id,
                holder = request.holder.as_str(),
                account_id = %request.account_id,
                amount = request.amount,
                "adjustment booked"
            );
        }
        Ok(booked)
    }

    /// An account's adjustments booked in `[from, to)`, oldest first.
    pub async fn adjustments_of(
        &self,
        holder: Holder,
        account_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Adjustment>, LedgerError> {
        adjustment::Entity::find()
            .filter(adjustment::Column::Role.eq(holder.as_str()))
            .filter(adjustment::Column::AccountId.eq(account_id))
            .filter(adjustment::Column::At.gte(from))
            .filter(adjustment::Column::At.lt(to))
            .order_by_asc(adjustment::Column::At)
            .all(self.db())
            .await?
            .into_iter()
            .map(Adjustment::try_from)
            .collect()
    }
}

fn validate(request: &AdjustmentRequest) -> Result<(), LedgerError> {
    let invalid = |message: String| Err(LedgerError::InvalidArgument(message));
    if request.id.is_empty()
        || request.id.len() > 128
        || !request.id.chars().all(|c| c.is_ascii_graphic())
    {
        return invalid("an adjustment id is 1 to 128 visible ASCII characters".to_owned());
    }
    validate_account_id("account id", &request.account_id)?;
    validate_account_id("created_by", &request.created_by)?;
    if request.amount == 0 || request.amount.abs() > MAX_ADJUSTMENT {
        return invalid(format!(
            "amount must be non-zero and at most {MAX_ADJUSTMENT} either way, got {}",
            request.amount
        ));
    }
    let chars = request.reason.chars().count();
    if request.reason.trim().is_empty() || chars > MAX_REASON_CHARS {
        return invalid(format!(
            "reason must be 1 to {MAX_REASON_CHARS} characters, got {chars}"
        ));
    }
    if let Some(delivery_id) = &request.delivery_id {
        validate_delivery_id(delivery_id)?;
    }
    Ok(())
}

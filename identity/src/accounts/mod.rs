//! The account store: restaurants, riders and operators with their secrets' hashes.
//!
//! Every write that touches several tables runs in one transaction. Nothing is ever deleted:
//! [`Accounts::delete`] marks the row, clears the secret's hash and voids the account's tokens,
//! so its id stays taken and history can still name it.

mod entity;
mod types;

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use domain::{AccountId, CommissionBps, DispatchMode, RiderCapacity, RiderZones, Role, Text, Zone};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    sea_query::Expr,
};

use entity::{account, restaurant_profile, rider_profile, rider_zone};
pub use types::{
    Account, AccountPatch, CreatedAccount, Cursor, InvalidCursor, InvalidLimit, NewAccount,
    NewProfile, NewRestaurant, Page, PageLimit, Profile, RestaurantProfile, RiderProfile, Standing,
};

use crate::{
    migration::Migrator,
    secret::{self, Secret, SecretError, SecretHash},
};

/// The command that migrates the accounts, named when a service finds them unmigrated.
pub const MIGRATE_COMMAND: &str = "delivery-api migrate";

/// What went wrong with an account.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// An account with this id exists, or existed and was deleted (ids are never reused):
    /// `409 account_exists`.
    #[error("an account {0} already exists")]
    Exists(AccountId),
    /// No live account has this id: `404`.
    #[error("no account {0}")]
    NotFound(AccountId),
    /// The patch sets an attribute the account's role does not have: `422`.
    #[error("{field} is not an attribute of {role} accounts")]
    NotForRole { field: &'static str, role: Role },
    /// The account signs in at the external provider and has no secret to rotate: `409`.
    #[error("account {0} signs in at the external provider and has no secret")]
    External(AccountId),
    /// Making or hashing a secret failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The database refused or failed a query, or could not be reached.
    #[error("accounts database: {0}")]
    Database(#[from] DbErr),
    /// The database cannot be opened, or its schema was not migrated.
    #[error("accounts database: {0}")]
    Open(#[from] db::DbError),
    /// A stored row cannot be read back as its public type.
    #[error("corrupt account row {id}: {what}")]
    Corrupt { id: String, what: &'static str },
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown, deleted or external account, or the wrong secret: one answer for all, so a
    /// caller cannot tell which (`invalid_client` / `invalid_grant`).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// Handle on the account store; cheap to clone (it shares one pool).
#[derive(Clone, Debug)]
pub struct Accounts {
    db: DatabaseConnection,
    default_commission: CommissionBps,
}

impl Accounts {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`) and refuses a database whose
    /// account schema is not up to date, naming [`MIGRATE_COMMAND`]: services never migrate.
    pub async fn connect(database_url: &str) -> Result<Accounts, AccountError> {
        Self::connect_with(database_url, &db::PoolOptions::default()).await
    }

    /// [`Accounts::connect`] with a pool sized and timed by `options` (the API's delivery-list
    /// database settings: the accounts live in that database).
    pub async fn connect_with(
        database_url: &str,
        options: &db::PoolOptions,
    ) -> Result<Accounts, AccountError> {
        let db = db::connect(database_url, options).await?;
        db::check_schema::<Migrator>(&db, "accounts", MIGRATE_COMMAND).await?;
        Ok(Self::from_connection(db))
    }

    /// Brings the account schema at `database_url` up to date: the one-off migrate step.
    pub async fn migrate(database_url: &str) -> Result<(), AccountError> {
        let db = db::connect(database_url, &db::PoolOptions::default()).await?;
        db::migrate::<Migrator>(&db).await?;
        db.close().await?;
        Ok(())
    }

    /// Migrates and connects in one pool: for tests and in-memory databases.
    pub async fn open_migrated(database_url: &str) -> Result<Accounts, AccountError> {
        let db = db::connect(database_url, &db::PoolOptions::default()).await?;
        db::migrate::<Migrator>(&db).await?;
        Ok(Self::from_connection(db))
    }

    /// Uses a pool opened elsewhere (the API's), whose schema the caller has checked with
    /// [`Accounts::check_schema`] or migrated with [`Accounts::migrate_connection`].
    pub fn from_connection(db: DatabaseConnection) -> Accounts {
        Accounts {
            db,
            default_commission: CommissionBps::DEFAULT,
        }
    }

    /// Applies the account migrations through an open pool.
    pub async fn migrate_connection(db: &DatabaseConnection) -> Result<(), AccountError> {
        Ok(db::migrate::<Migrator>(db).await?)
    }

    /// Refuses a pool whose account schema lacks a migration.
    pub async fn check_schema(db: &DatabaseConnection) -> Result<(), AccountError> {
        Ok(db::check_schema::<Migrator>(db, "accounts", MIGRATE_COMMAND).await?)
    }

    /// The commission new restaurants get when they do not name one (the deployment's
    /// setting; 1000 basis points unless set).
    pub fn with_default_commission(mut self, commission: CommissionBps) -> Accounts {
        self.default_commission = commission;
        self
    }

    /// Creates an account. Its secret is made here (256 bits from the OS) and returned once;
    /// an external account gets none. [`AccountError::Exists`] when the id is taken, also by a
    /// deleted account.
    pub async fn create(&self, new: NewAccount) -> Result<CreatedAccount, AccountError> {
        let secret = match new.external {
            true => None,
            false => Some(Secret::generate()?),
        };
        let account = self.insert(new, secret.as_ref()).await?;
        Ok(CreatedAccount { account, secret })
    }

    /// Creates an account with a secret chosen by the caller: only for the local demo accounts
    /// (`demo-` + id) and tests; everything else uses [`Accounts::create`].
    pub async fn create_with_secret(
        &self,
        new: NewAccount,
        secret: &Secret,
    ) -> Result<Account, AccountError> {
        self.insert(new, Some(secret)).await
    }

    async fn insert(
        &self,
        new: NewAccount,
        secret: Option<&Secret>,
    ) -> Result<Account, AccountError> {
        let role = new.role();
        let id = match new.id {
            Some(id) => id,
            None => generated_id(role),
        };
        // Hash before the transaction: it is slow and needs no connection.
        let hash = match (new.external, secret) {
            (false, Some(secret)) => Some(secret::hash(secret).await?),
            _ => None,
        };
        let now = now();
        let profile = match new.profile {
            NewProfile::Restaurant(r) => Profile::Restaurant(RestaurantProfile {
                pickup_address: r.pickup_address,
                zone: r.zone,
                dispatch_mode: r.dispatch_mode,
                commission_bps: r.commission_bps.unwrap_or(self.default_commission),
            }),
            NewProfile::Rider(r) => Profile::Rider(r),
            NewProfile::Operator => Profile::Operator,
        };
        let account = Account {
            id,
            name: new.name,
            created_at: now,
            external: new.external,
            profile,
        };
        let txn = self.db.begin().await?;
        let row = account::ActiveModel {
            id: Set(account.id.to_string()),
            role: Set(role.as_str().to_owned()),
            name: Set(account.name.to_string()),
            external: Set(account.external),
            secret_hash: Set(hash.map(|h| h.as_str().to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
            not_before: Set(None),
            deleted_at: Set(None),
        };
        match account::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(AccountError::Exists(account.id));
            }
            Err(e) => return Err(e.into()),
        }
        write_profile(&txn, &account.id, &account.profile).await?;
        txn.commit().await?;
        tracing::info!(account_id = %account.id, role = %role, external = account.external, "account created");
        Ok(account)
    }

    /// The live account `id`; [`AccountError::NotFound`] when unknown or deleted.
    pub async fn get(&self, id: &AccountId) -> Result<Account, AccountError> {
        let row = self.live_row(&self.db, id).await?;
        let mut accounts = load_profiles(&self.db, vec![row]).await?;
        Ok(accounts.remove(0))
    }

    /// The live accounts among `ids`, by id (unknown and deleted ones are left out).
    pub async fn get_many(
        &self,
        ids: &[AccountId],
    ) -> Result<HashMap<AccountId, Account>, AccountError> {
        let mut found = HashMap::with_capacity(ids.len());
        // Bounded batches keep each statement under every backend's parameter limit.
        for batch in ids.chunks(500) {
            let rows = account::Entity::find()
                .filter(account::Column::Id.is_in(batch.iter().map(AccountId::as_str)))
                .filter(account::Column::DeletedAt.is_null())
                .all(&self.db)
                .await?;
            for account in load_profiles(&self.db, rows).await? {
                found.insert(account.id.clone(), account);
            }
        }
        Ok(found)
    }

    /// Live accounts of `role` in id order, `limit` at most, after `cursor`'s position.
    pub async fn list(
        &self,
        role: Role,
        cursor: Option<&Cursor>,
        limit: PageLimit,
    ) -> Result<Page, AccountError> {
        use account::Column;
        let mut query = account::Entity::find()
            .filter(Column::Role.eq(role.as_str()))
            .filter(Column::DeletedAt.is_null());
        if let Some(cursor) = cursor {
            query = query.filter(Column::Id.gt(cursor.last_id().as_str()));
        }
        // One more than asked tells whether another page follows.
        let mut rows = query
            .order_by_asc(Column::Id)
            .limit(limit.get() + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > limit.get();
        rows.truncate(limit.get() as usize);
        let items = load_profiles(&self.db, rows).await?;
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(Cursor::after(last.id.clone())),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Every live account of `role`, in id order (the fleet: riders are hundreds, not
    /// millions), read a page at a time.
    pub async fn all(&self, role: Role) -> Result<Vec<Account>, AccountError> {
        let mut accounts = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list(role, cursor.as_ref(), PageLimit::LARGEST).await?;
            accounts.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(accounts),
            }
        }
    }

    /// Whether any live account has `role` (the first-operator command refuses a second
    /// "first" operator).
    pub async fn any_with_role(&self, role: Role) -> Result<bool, AccountError> {
        use account::Column;
        let found = account::Entity::find()
            .filter(Column::Role.eq(role.as_str()))
            .filter(Column::DeletedAt.is_null())
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Changes the name and attributes that `patch` sets; [`AccountError::NotForRole`] when it
    /// sets one the account's role does not have (nothing changes then).
    pub async fn patch(
        &self,
        id: &AccountId,
        patch: AccountPatch,
    ) -> Result<Account, AccountError> {
        let now = now();
        let txn = self.db.begin().await?;
        // Write first: the update locks the row on PostgreSQL and takes SQLite's write lock, so
        // two patches of one account apply one after the other instead of colliding in the
        // profile tables (or deadlocking on SQLite's read-to-write upgrade).
        let touched = account::Entity::update_many()
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(id.as_str()))
            .filter(account::Column::DeletedAt.is_null())
            .exec(&txn)
            .await?;
        if touched.rows_affected == 0 {
            return Err(AccountError::NotFound(id.clone()));
        }
        let row = self.live_row(&txn, id).await?;
        let mut account = load_profiles(&txn, vec![row.clone()]).await?.remove(0);
        if let Some(field) = patch.foreign_field(account.role()) {
            return Err(AccountError::NotForRole {
                field,
                role: account.role(),
            });
        }
        if let Some(name) = patch.name {
            account.name = name;
        }
        match &mut account.profile {
            Profile::Restaurant(r) => {
                r.pickup_address = patch.pickup_address.unwrap_or(r.pickup_address.clone());
                r.zone = patch.zone.unwrap_or(r.zone.clone());
                r.dispatch_mode = patch.dispatch_mode.unwrap_or(r.dispatch_mode);
                r.commission_bps = patch.commission_bps.unwrap_or(r.commission_bps);
            }
            Profile::Rider(r) => {
                r.zones = patch.zones.unwrap_or(r.zones.clone());
                r.capacity = patch.capacity.unwrap_or(r.capacity);
            }
            Profile::Operator => {}
        }
        let mut active = row.into_active_model();
        active.name = Set(account.name.to_string());
        active.updated_at = Set(now);
        active.update(&txn).await?;
        write_profile(&txn, &account.id, &account.profile).await?;
        txn.commit().await?;
        Ok(account)
    }

    /// Replaces the account's secret and returns the new one (shown once). The old secret stops
    /// working at once and tokens issued before now are void (see [`Accounts::standing`]).
    pub async fn rotate_secret(&self, id: &AccountId) -> Result<Secret, AccountError> {
        let row = self.live_row(&self.db, id).await?;
        if row.external {
            return Err(AccountError::External(id.clone()));
        }
        let secret = Secret::generate()?;
        let hash = secret::hash(&secret).await?;
        let now = now();
        // Guarded by `deleted_at IS NULL`: a deletion between the read and this write wins.
        let updated = account::Entity::update_many()
            .col_expr(account::Column::SecretHash, Expr::value(hash.as_str()))
            .col_expr(account::Column::NotBefore, Expr::value(not_before(now)))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(id.as_str()))
            .filter(account::Column::DeletedAt.is_null())
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(AccountError::NotFound(id.clone()));
        }
        tracing::info!(account_id = %id, "account secret rotated");
        Ok(secret)
    }

    /// Deletes the account softly: the row stays (the id is never reused, history keeps its
    /// name), the secret's hash is cleared, sign-in stops and every token is void.
    pub async fn delete(&self, id: &AccountId) -> Result<(), AccountError> {
        let now = now();
        let updated = account::Entity::update_many()
            .col_expr(
                account::Column::SecretHash,
                Expr::value(Option::<String>::None),
            )
            .col_expr(account::Column::DeletedAt, Expr::value(now))
            .col_expr(account::Column::NotBefore, Expr::value(not_before(now)))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(id.as_str()))
            .filter(account::Column::DeletedAt.is_null())
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(AccountError::NotFound(id.clone()));
        }
        tracing::info!(account_id = %id, "account deleted");
        Ok(())
    }

    /// Checks `secret` against the live account `id`'s Argon2id hash, on the blocking pool.
    /// An unknown, malformed, deleted or external id costs the same hashing work and gives the
    /// same [`SignInError::InvalidCredentials`] as a wrong secret.
    pub async fn authenticate(&self, id: &str, secret: &Secret) -> Result<Account, SignInError> {
        let row = match AccountId::parse(id) {
            Ok(id) => account::Entity::find_by_id(id.as_str())
                .filter(account::Column::DeletedAt.is_null())
                .one(&self.db)
                .await
                .map_err(AccountError::from)?,
            Err(_) => None,
        };
        let hash = row
            .as_ref()
            .and_then(|row| row.secret_hash.clone())
            .map(SecretHash::from_stored);
        let matches = secret::verify(secret, hash)
            .await
            .map_err(AccountError::from)?;
        match (matches, row) {
            (true, Some(row)) => Ok(load_profiles(&self.db, vec![row]).await?.remove(0)),
            _ => Err(SignInError::InvalidCredentials),
        }
    }

    /// Whether tokens of `id` may be honoured: its role and not-before time, deleted, or
    /// unknown. One indexed read; [`crate::NotBeforeCache`] keeps requests from making it.
    pub async fn standing(&self, id: &AccountId) -> Result<Standing, AccountError> {
        let Some(row) = account::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?
        else {
            return Ok(Standing::Unknown);
        };
        if let Some(at) = row.deleted_at {
            return Ok(Standing::Deleted { at });
        }
        Ok(Standing::Active {
            role: parse_role(&row)?,
            external: row.external,
            not_before: row.not_before,
        })
    }

    /// The time before which tokens of `id` are void: its last secret rotation or its deletion
    /// (`None` if neither happened). [`AccountError::NotFound`] for an id never created.
    pub async fn not_before(&self, id: &AccountId) -> Result<Option<DateTime<Utc>>, AccountError> {
        match self.standing(id).await? {
            Standing::Active { not_before, .. } => Ok(not_before),
            Standing::Deleted { at } => Ok(Some(not_before(at))),
            Standing::Unknown => Err(AccountError::NotFound(id.clone())),
        }
    }

    /// Checks that the database answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), AccountError> {
        Ok(self.db.ping().await?)
    }

    async fn live_row(
        &self,
        db: &impl ConnectionTrait,
        id: &AccountId,
    ) -> Result<account::Model, AccountError> {
        account::Entity::find_by_id(id.as_str())
            .filter(account::Column::DeletedAt.is_null())
            .one(db)
            .await?
            .ok_or_else(|| AccountError::NotFound(id.clone()))
    }
}

/// Now, to the microsecond: what both databases store, so a written time reads back equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The not-before time for an event at `at`: whole seconds, because tokens' `iat` is whole
/// seconds. Truncating (not rounding up) keeps a token issued right after a rotation, in the
/// same second, valid; the price is that one issued in that second just *before* the rotation
/// survives too.
fn not_before(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(0)
}

/// A fresh id for an account created without one: the role's prefix and 128 random bits.
fn generated_id(role: Role) -> AccountId {
    let prefix = match role {
        Role::Restaurant => "r",
        Role::Rider => "rider",
        Role::Operator => "ops",
    };
    AccountId::parse(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
        .expect("a prefix and 32 hex digits form an id")
}

/// Replaces the role attributes of `id` with `profile`.
async fn write_profile(
    db: &impl ConnectionTrait,
    id: &AccountId,
    profile: &Profile,
) -> Result<(), AccountError> {
    let key = id.to_string();
    match profile {
        Profile::Restaurant(r) => {
            restaurant_profile::Entity::delete_by_id(key.clone())
                .exec(db)
                .await?;
            restaurant_profile::ActiveModel {
                account_id: Set(key),
                pickup_address: Set(r.pickup_address.to_string()),
                zone: Set(r.zone.to_string()),
                dispatch_mode: Set(r.dispatch_mode.as_str().to_owned()),
                commission_bps: Set(i32::from(r.commission_bps.bps())),
            }
            .insert(db)
            .await?;
        }
        Profile::Rider(r) => {
            rider_profile::Entity::delete_by_id(key.clone())
                .exec(db)
                .await?;
            rider_zone::Entity::delete_many()
                .filter(rider_zone::Column::AccountId.eq(key.as_str()))
                .exec(db)
                .await?;
            rider_profile::ActiveModel {
                account_id: Set(key.clone()),
                capacity: Set(i32::from(r.capacity.get())),
            }
            .insert(db)
            .await?;
            let zones: Vec<rider_zone::ActiveModel> = r
                .zones
                .as_slice()
                .iter()
                .enumerate()
                .map(|(position, zone)| rider_zone::ActiveModel {
                    account_id: Set(key.clone()),
                    zone: Set(zone.to_string()),
                    position: Set(position as i32),
                })
                .collect();
            if !zones.is_empty() {
                rider_zone::Entity::insert_many(zones)
                    .exec_without_returning(db)
                    .await?;
            }
        }
        Profile::Operator => {}
    }
    Ok(())
}

/// Reads the role attributes of `rows` (three queries however many rows) and builds accounts,
/// in the rows' order.
async fn load_profiles(
    db: &impl ConnectionTrait,
    rows: Vec<account::Model>,
) -> Result<Vec<Account>, AccountError> {
    let ids = |role: Role| -> Vec<String> {
        rows.iter()
            .filter(|row| row.role == role.as_str())
            .map(|row| row.id.clone())
            .collect()
    };
    let (restaurant_ids, rider_ids) = (ids(Role::Restaurant), ids(Role::Rider));
    let mut restaurants: HashMap<String, restaurant_profile::Model> = HashMap::new();
    if !restaurant_ids.is_empty() {
        for p in restaurant_profile::Entity::find()
            .filter(restaurant_profile::Column::AccountId.is_in(restaurant_ids))
            .all(db)
            .await?
        {
            restaurants.insert(p.account_id.clone(), p);
        }
    }
    let mut riders: HashMap<String, rider_profile::Model> = HashMap::new();
    let mut zones: HashMap<String, Vec<Zone>> = HashMap::new();
    if !rider_ids.is_empty() {
        for p in rider_profile::Entity::find()
            .filter(rider_profile::Column::AccountId.is_in(rider_ids.clone()))
            .all(db)
            .await?
        {
            riders.insert(p.account_id.clone(), p);
        }
        for z in rider_zone::Entity::find()
            .filter(rider_zone::Column::AccountId.is_in(rider_ids))
            .order_by_asc(rider_zone::Column::AccountId)
            .order_by_asc(rider_zone::Column::Position)
            .all(db)
            .await?
        {
            let zone = Zone::parse(z.zone).map_err(|_| corrupt(&z.account_id, "bad zone"))?;
            zones.entry(z.account_id).or_default().push(zone);
        }
    }
    rows.into_iter()
        .map(|row| {
            let profile = match parse_role(&row)? {
                Role::Restaurant => {
                    let p = restaurants
                        .remove(&row.id)
                        .ok_or_else(|| corrupt(&row.id, "no restaurant profile"))?;
                    Profile::Restaurant(RestaurantProfile {
                        pickup_address: Text::parse(&p.pickup_address)
                            .map_err(|_| corrupt(&row.id, "bad pickup address"))?,
                        zone: Zone::parse(p.zone).map_err(|_| corrupt(&row.id, "bad zone"))?,
                        dispatch_mode: p
                            .dispatch_mode
                            .parse::<DispatchMode>()
                            .map_err(|_| corrupt(&row.id, "bad dispatch mode"))?,
                        commission_bps: CommissionBps::new(i64::from(p.commission_bps))
                            .map_err(|_| corrupt(&row.id, "bad commission"))?,
                    })
                }
                Role::Rider => {
                    let p = riders
                        .remove(&row.id)
                        .ok_or_else(|| corrupt(&row.id, "no rider profile"))?;
                    Profile::Rider(RiderProfile {
                        zones: RiderZones::new(zones.remove(&row.id).unwrap_or_default())
                            .map_err(|_| corrupt(&row.id, "too many zones"))?,
                        capacity: RiderCapacity::new(i64::from(p.capacity))
                            .map_err(|_| corrupt(&row.id, "bad capacity"))?,
                    })
                }
                Role::Operator => Profile::Operator,
            };
            Ok(Account {
                id: AccountId::parse(row.id.as_str()).map_err(|_| corrupt(&row.id, "bad id"))?,
                name: Text::parse(&row.name).map_err(|_| corrupt(&row.id, "bad name"))?,
                created_at: row.created_at,
                external: row.external,
                profile,
            })
        })
        .collect()
}

fn parse_role(row: &account::Model) -> Result<Role, AccountError> {
    row.role.parse().map_err(|_| corrupt(&row.id, "bad role"))
}

fn corrupt(id: &str, what: &'static str) -> AccountError {
    AccountError::Corrupt {
        id: id.to_owned(),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_the_role_and_are_unique() {
        let a = generated_id(Role::Restaurant);
        assert!(
            a.as_str().starts_with("r-") && a.as_str().len() == 34,
            "{a}"
        );
        assert!(generated_id(Role::Rider).as_str().starts_with("rider-"));
        assert!(generated_id(Role::Operator).as_str().starts_with("ops-"));
        assert_ne!(generated_id(Role::Rider), generated_id(Role::Rider));
    }

    #[test]
    fn not_before_is_whole_seconds_never_after_the_event() {
        let at = DateTime::from_timestamp(1_800_000_000, 999_999_000).unwrap();
        assert_eq!(
            not_before(at),
            DateTime::from_timestamp(1_800_000_000, 0).unwrap()
        );
    }
}

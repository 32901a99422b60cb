//! The sea-orm entities of the ledger's tables (the schema itself, with its constraints, is in
//! [`super::migration`]).

// The derive macros generate public items (Column, ActiveModel, ...) for private modules.
#![allow(unreachable_pub)]

/// `payments`: one row per delivery, the document of its fee (registered, then settled or
/// voided); its money is in the journal.
pub mod payment {
    use sea_orm::entity::prelude::*;

    use crate::ledger::PaymentStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub delivery_id: String,
        pub amount: i64,
        pub status: PaymentStatus,
        pub registered_at: DateTimeUtc,
        pub settled_at: Option<DateTimeUtc>,
        pub voided_at: Option<DateTimeUtc>,
        pub restaurant_id: Option<String>,
        pub commission_bps: i32,
        pub commission: i64,
        pub rider_id: Option<String>,
        pub failure_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `ledger_accounts`: each account's running totals, kept in the transaction of every entry.
pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub debits: i64,
        pub credits: i64,
        pub debits_must_not_exceed_credits: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `ledger_movements`: one row per movement, keyed by its idempotency id.
pub mod movement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_movements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub delivery_id: Option<String>,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `ledger_entries`: one amount from a debit account to a credit account.
pub mod entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_entries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub movement_id: String,
        pub debit_account: String,
        pub credit_account: String,
        pub amount: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `payouts`: what a rider was paid for a period.
pub mod payout {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub movement_id: String,
        pub rider_id: String,
        pub period: String,
        pub period_start: DateTimeUtc,
        pub period_end: DateTimeUtc,
        pub amount: i64,
        pub paid_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `adjustments`: an operator's correction of a rider's or restaurant's account.
pub mod adjustment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "adjustments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub movement_id: String,
        pub role: String,
        pub account_id: String,
        pub amount: i64,
        pub reason: String,
        pub delivery_id: Option<String>,
        pub created_by: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `invoices`: a restaurant's bill for a period, numbered without gaps.
pub mod invoice {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invoices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub number: String,
        pub restaurant_id: String,
        pub seq: i64,
        pub period: String,
        pub period_start: DateTimeUtc,
        pub period_end: DateTimeUtc,
        pub total: i64,
        pub issued_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `invoice_items`: the settlements and adjustments an invoice lists; each movement at most
/// once on any invoice (its primary key).
pub mod invoice_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invoice_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub movement_id: String,
        pub invoice_number: String,
        pub delivery_id: Option<String>,
        pub amount: i64,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

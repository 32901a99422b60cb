//! A row of the delivery list as stored.

use sea_orm::entity::prelude::*;

/// `status` stays a string here so a row written by a newer version with an
/// unknown status surfaces as [`ReadModelError::Corrupt`](crate::ReadModelError::Corrupt)
/// instead of a decoding failure deep inside sea-orm.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_list")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub restaurant_id: String,
    pub destination: String,
    pub cost: i64,
    pub status: String,
    pub rider_id: Option<String>,
    pub settled: Option<i64>,
    pub failure_reason: Option<String>,
    pub updated_at: ChronoDateTimeUtc,
    pub seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<&domain::Projection> for ActiveModel {
    fn from(p: &domain::Projection) -> Self {
        use sea_orm::ActiveValue::Set;
        let row = &p.row;
        Self {
            delivery_id: Set(row.call.delivery_id.to_string()),
            restaurant_id: Set(row.call.restaurant_id.to_string()),
            destination: Set(row.call.destination.to_string()),
            cost: Set(row.call.cost.won()),
            status: Set(row.status.to_string()),
            rider_id: Set(row.rider_id.as_ref().map(ToString::to_string)),
            settled: Set(row.settled),
            failure_reason: Set(row.failure_reason.map(|r| r.as_str().to_owned())),
            updated_at: Set(row.updated_at),
            seq: Set(p.seq),
        }
    }
}

/// A stored row is parsed like any input: a row that no longer parses is reported as
/// corrupt, never served.
impl TryFrom<Model> for domain::DeliveryRow {
    type Error = crate::ReadModelError;

    fn try_from(m: Model) -> Result<Self, Self::Error> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            crate::ReadModelError::Corrupt(format!("delivery {}: {what}: {e}", m.delivery_id))
        };
        Ok(Self {
            call: domain::Call {
                delivery_id: m.delivery_id.parse().map_err(|e| corrupt("id", &e))?,
                restaurant_id: m
                    .restaurant_id
                    .parse()
                    .map_err(|e| corrupt("restaurant", &e))?,
                destination: m
                    .destination
                    .parse()
                    .map_err(|e| corrupt("destination", &e))?,
                cost: domain::Cost::new(m.cost).map_err(|e| corrupt("cost", &e))?,
            },
            status: m.status.parse().map_err(|e| corrupt("status", &e))?,
            rider_id: m
                .rider_id
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt("rider", &e))?,
            settled: m.settled,
            failure_reason: m
                .failure_reason
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt("failure reason", &e))?,
            updated_at: m.updated_at,
        })
    }
}

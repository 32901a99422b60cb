//! The delivery list: the CQRS read model for reports, scoped to the caller: a restaurant's
//! rows, the rows a rider held, every row for operators.

use axum::{Json, extract::State};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::{DeliveryRow, DeliveryStatus, RestaurantId, RiderId};
use readmodel::{ListCursor, ListFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use identity::Role;

use crate::{
    AppState, access,
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::Query,
    routes::deliveries::DeliveryPath,
};

/// How `from` and `to` are documented: a day or an instant, each as JSON Schema formats it.
pub(crate) struct DayOrInstant;

impl utoipa::PartialSchema for DayOrInstant {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{
            KnownFormat, SchemaFormat, Type,
            schema::{AnyOfBuilder, ObjectBuilder},
        };
        let string = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        AnyOfBuilder::new()
            .item(string(KnownFormat::Date))
            .item(string(KnownFormat::DateTime))
            .description(Some("a day `YYYY-MM-DD` (UTC) or an RFC 3339 instant"))
            .into()
    }
}

impl utoipa::ToSchema for DayOrInstant {}

/// Filters and position of `GET /delivery-list`; each filter left out is no filter.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only deliveries in this status.
    #[serde(default)]
    status: Option<DeliveryStatus>,
    /// Only this restaurant's deliveries (operators; a restaurant sees only its own).
    #[serde(default)]
    restaurant_id: Option<RestaurantId>,
    /// Only deliveries this rider picked up (operators; a rider sees only its own).
    #[serde(default)]
    rider_id: Option<RiderId>,
    /// Only deliveries last updated at or after this: a day `YYYY-MM-DD` (UTC, from its
    /// start) or an RFC 3339 instant (included).
    #[serde(default)]
    #[param(value_type = Option<DayOrInstant>, example = "2027-01-15")]
    from: Option<Bound>,
    /// Only deliveries last updated up to this: a day `YYYY-MM-DD` (UTC, to its end,
    /// included) or an RFC 3339 instant (excluded).
    #[serde(default)]
    #[param(value_type = Option<DayOrInstant>, example = "2027-01-31")]
    to: Option<Bound>,
    /// `nextCursor` of the previous page; left out, the first page.
    #[serde(default)]
    #[param(value_type = Option<ListCursor>)]
    cursor: Option<ListCursor>,
    /// Most rows per page.
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200, default = 50)]
    limit: Option<Limit>,
}

/// `GET /delivery-list` answer: one page of rows.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryListPage {
    /// The rows, most recently updated first (ties by delivery id).
    items: Vec<DeliveryRow>,
    /// Where the next page starts (send it as `cursor`); `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<ListCursor>,
}

/// How many rows a page holds: 1 to [`Limit::MAX`].
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Limit(u64);

impl Limit {
    const DEFAULT: u64 = 50;
    const MAX: u64 = 200;
}

impl TryFrom<String> for Limit {
    type Error = String;

    fn try_from(limit: String) -> Result<Self, String> {
        limit
            .parse()
            .ok()
            .filter(|l| (1..=Self::MAX).contains(l))
            .map(Self)
            .ok_or_else(|| format!("must be a whole number from 1 to {}", Self::MAX))
    }
}

/// A `from` or `to` of `GET /delivery-list`: a whole UTC day, or an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
enum Bound {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

impl Bound {
    /// The first instant included, as a `from`.
    fn start(self) -> DateTime<Utc> {
        match self {
            Bound::Day(day) => day.and_time(NaiveTime::MIN).and_utc(),
            Bound::Instant(at) => at,
        }
    }

    /// The first instant excluded, as a `to`: the next day's start, or the instant. `None`
    /// past the last day chrono knows, which excludes nothing.
    fn end(self) -> Option<DateTime<Utc>> {
        match self {
            Bound::Day(day) => day
                .succ_opt()
                .map(|next| next.and_time(NaiveTime::MIN).and_utc()),
            Bound::Instant(at) => Some(at),
        }
    }
}

impl TryFrom<String> for Bound {
    type Error = &'static str;

    fn try_from(bound: String) -> Result<Self, Self::Error> {
        // Exactly `YYYY-MM-DD`: chrono alone would read `2027-1-5` too.
        let is_day = bound.len() == 10
            && bound.bytes().enumerate().all(|(i, b)| {
                matches!((i, b), (4 | 7, b'-')) || (i != 4 && i != 7 && b.is_ascii_digit())
            });
        let parsed = if is_day {
            NaiveDate::parse_from_str(&bound, "%Y-%m-%d")
                .ok()
                .map(Bound::Day)
        } else {
            DateTime::parse_from_rfc3339(&bound)
                .ok()
                .map(|at| Bound::Instant(at.with_timezone(&Utc)))
        };
        parsed.ok_or(
            "must be a day (YYYY-MM-DD, UTC) or an RFC 3339 instant such as \
             2027-01-15T08:30:00Z (with its '+' sent as %2B)",
        )
    }
}

/// Deliveries the caller may see, newest change first, a page at a time.
#[utoipa::path(get, path = "/delivery-list", tag = "reports", params(ListParams),
    responses(
        (status = 200, description = "a page of matching rows, newest first: a restaurant's own, the ones a rider held, all for operators", body = DeliveryListPage),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 422, description = "invalid filter, cursor or limit (`validation_failed`, `field` names it)", body = ErrorBody),
    ))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<DeliveryListPage>, ApiError> {
    // The caller's own id replaces the filter of its role, whatever the query says.
    let (restaurant_id, rider_id) = match caller.role {
        Role::Operator => (params.restaurant_id, params.rider_id),
        Role::Restaurant => (Some(caller.restaurant_id()?), params.rider_id),
        Role::Rider => (params.restaurant_id, Some(caller.rider_id()?)),
    };
    let filter = ListFilter {
        status: params.status,
        restaurant_id,
        rider_id,
        updated_from: params.from.map(Bound::start),
        updated_before: params.to.and_then(Bound::end),
        cursor: params.cursor,
        limit: params.limit.map_or(Limit::DEFAULT, |l| l.0),
    };
    let page = state.inner.readmodel.list(&filter).await?;
    Ok(Json(DeliveryListPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One delivery-list row.
#[utoipa::path(get, path = "/delivery-list/{delivery_id}", tag = "reports",
    params(("delivery_id" = domain::DeliveryId, Path)),
    responses(
        (status = 200, description = "the row", body = DeliveryRow),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "not in the delivery list, or not one the caller may see", body = ErrorBody),
    ))]
pub(crate) async fn get_list_row(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
) -> Result<Json<DeliveryRow>, ApiError> {
    let row = state.inner.readmodel.delivery(&delivery_id).await?;
    row.filter(|row| access::may_see(&caller, &row.call, row.status, row.rider_id.as_ref()))
        .map(Json)
        .ok_or_else(|| ApiError::delivery_not_found(delivery_id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(s: &str) -> Result<Bound, &'static str> {
        Bound::try_from(s.to_owned())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_day_runs_from_its_start_to_its_end_in_utc() {
        let day = bound("2027-01-15").unwrap();
        assert_eq!(day.start(), utc("2027-01-15T00:00:00Z"));
        assert_eq!(day.end(), Some(utc("2027-01-16T00:00:00Z")));
        let leap = bound("2028-02-29").unwrap();
        assert_eq!(leap.end(), Some(utc("2028-03-01T00:00:00Z")));
    }

    #[test]
    fn an_instant_is_itself_in_utc() {
        for (text, at) in [
            ("2027-01-15T08:30:00Z", "2027-01-15T08:30:00Z"),
            ("2027-01-15T08:30:00.250Z", "2027-01-15T08:30:00.250Z"),
            ("2027-01-15T17:30:00+09:00", "2027-01-15T08:30:00Z"),
            ("2027-01-15T00:30:00-01:00", "2027-01-15T01:30:00Z"),
        ] {
            let instant = bound(text).unwrap();
            assert_eq!(instant.start(), utc(at), "{text}");
            assert_eq!(instant.end(), Some(utc(at)), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "today",
            "2027-1-15",
            "2027-01-5",
            "2027-13-01",
            "2027-02-30",
            "20270115",
            "+2027-01-1",
            "2027-01-15T08:30:00",
            // A '+' sent unencoded arrives as a space.
            "2027-01-15T08:30:00 09:00",
            "1800000000",
        ] {
            assert!(bound(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_limit_is_1_to_200() {
        for good in ["1", "50", "200"] {
            assert!(Limit::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["0", "201", "-1", "lots", "", "1.5"] {
            assert!(Limit::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}

//! Money: riders' statements and payouts, restaurants' invoices and operators' adjustments,
//! answered by the payment service (its ledger is the only record of money). A rider or a
//! restaurant sees only its own; an operator names whose (`?riderId=`, `?restaurantId=`).

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use domain::{AccountId, DeliveryId, RestaurantId, RiderId, Text};
use identity::{Principal, Role};
use payment_api::{datetime, proto};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, BadInput, ErrorBody},
    extract::{JsonBody, Query},
    routes::deliveries::IdempotencyHeader,
};

/// How long a money read or an adjustment may take at the payment service.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Items per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;

/// `GET /rider/statement` range and, for operators, whose.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatementQuery {
    /// First day (UTC), `YYYY-MM-DD`.
    from: NaiveDate,
    /// Last day (UTC), included; at most 366 days after `from`.
    to: NaiveDate,
    /// Whose statement (operators; a rider may name only itself).
    rider_id: Option<RiderId>,
}

/// A delivery settled to the rider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatementLine {
    delivery_id: String,
    completed_at: Option<DateTime<Utc>>,
    cost: i64,
    commission: i64,
    /// `cost − commission`: what the rider earned.
    earning: i64,
    /// Set when a failed delivery settled (the rider made the trip).
    failure_reason: Option<String>,
}

/// An operator's adjustment as a statement or invoice shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdjustmentLine {
    id: String,
    /// Signed as it counts on the document: positive pays a rider more or bills a restaurant
    /// more.
    amount: i64,
    reason: String,
    at: Option<DateTime<Utc>>,
}

/// What a rider earned over a range of days.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Statement {
    rider_id: String,
    from: String,
    to: String,
    lines: Vec<StatementLine>,
    adjustments: Vec<AdjustmentLine>,
    /// Σ earnings + Σ adjustments.
    total: i64,
    /// The payouts for periods starting in the range.
    paid_out: i64,
    /// `total − paidOut`.
    balance: i64,
}

/// A rider's statement for the days `from` to `to` (UTC, both included); `Accept: text/csv`
/// gives its lines as CSV with a header row.
#[utoipa::path(get, path = "/rider/statement", tag = "money", params(StatementQuery),
    responses(
        (status = 200, description = "the statement (JSON, or CSV for `Accept: text/csv`)",
            content((Statement = "application/json"), (String = "text/csv"))),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a restaurant, or a rider naming another rider (`forbidden`)", body = ErrorBody),
        (status = 422, description = "days that are not `YYYY-MM-DD`, `to` before `from` or more than 366 days, an operator without `riderId` (`validation_failed`)", body = ErrorBody),
        (status = 503, description = "the payment service did not answer (`dependency_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn statement(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Query(query): Query<StatementQuery>,
) -> Result<Response, ApiError> {
    let rider_id = whose(
        &caller,
        Role::Rider,
        query.rider_id.map(Into::into),
        "riderId",
    )?;
    let reply = state
        .inner
        .payments
        .clone()
        .get_statement(timed(proto::GetStatementRequest {
            rider_id: rider_id.to_string(),
            from: query.from.to_string(),
            to: query.to.to_string(),
        }))
        .await
        .map_err(|status| from_status(status, "from"))?
        .into_inner();
    let statement = Statement {
        rider_id: reply.rider_id,
        from: reply.from,
        to: reply.to,
        lines: reply
            .lines
            .into_iter()
            .map(|l| StatementLine {
                completed_at: l.completed_at.as_ref().and_then(datetime),
                delivery_id: l.delivery_id,
                cost: l.cost,
                commission: l.commission,
                earning: l.earning,
                failure_reason: l.failure_reason,
            })
            .collect(),
        adjustments: reply.adjustments.into_iter().map(adjustment_line).collect(),
        total: reply.total,
        paid_out: reply.paid_out,
        balance: reply.balance,
    };
    if wants_csv(&headers) {
        let rows = statement.lines.iter().map(|l| {
            vec![
                l.delivery_id.clone(),
                l.completed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                l.cost.to_string(),
                l.commission.to_string(),
                l.earning.to_string(),
                l.failure_reason.clone().unwrap_or_default(),
            ]
        });
        let name = format!(
            "statement-{rider_id}-{}-{}.csv",
            statement.from, statement.to
        );
        return csv(
            &name,
            &[
                "deliveryId",
                "completedAt",
                "cost",
                "commission",
                "earning",
                "failureReason",
            ],
            rows,
        );
    }
    Ok(Json(statement).into_response())
}

/// `GET /rider/payouts` and `GET /restaurant/invoices` paging and, for operators, whose.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageQuery {
    /// The `nextCursor` of the page before (opaque; one the API did not give out is `422`).
    #[param(value_type = Option<String>, min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9._:-]+$")]
    cursor: Option<Cursor>,
    /// Items per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// Whose payouts (operators; a rider may name only itself).
    rider_id: Option<RiderId>,
    /// Whose invoices (operators; a restaurant may name only itself).
    restaurant_id: Option<RestaurantId>,
}

/// A page cursor as the query carries it: 1 to 200 of the characters the API's cursors use.
#[derive(Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Cursor(String);

impl TryFrom<String> for Cursor {
    type Error = &'static str;

    fn try_from(cursor: String) -> Result<Self, Self::Error> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        match (1..=200).contains(&cursor.len()) && cursor.chars().all(allowed) {
            true => Ok(Cursor(cursor)),
            false => Err("must be a nextCursor the API gave out"),
        }
    }
}

impl PageQuery {
    fn cursor(&self) -> Option<String> {
        self.cursor.as_ref().map(|c| c.0.clone())
    }

    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            limit @ 1..=200 => Ok(limit),
            _ => Err(ApiError::invalid("limit", "limit must be 1 to 200")),
        }
    }
}

/// One payout to a rider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PayoutBody {
    /// `payout:{riderId}:{period}`.
    payout_id: String,
    /// The period it pays: `2026-11-30` (a day), or the start of a shorter period.
    period: String,
    amount: i64,
    /// `paid`: booked to the agency's payouts account.
    status: &'static str,
    paid_at: Option<DateTime<Utc>>,
}

/// A page of payouts, newest period first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PayoutPage {
    items: Vec<PayoutBody>,
    /// The `cursor` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// A rider's payouts, newest period first.
#[utoipa::path(get, path = "/rider/payouts", tag = "money", params(PageQuery),
    responses(
        (status = 200, description = "a page of payouts", body = PayoutPage),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a restaurant, or a rider naming another rider (`forbidden`)", body = ErrorBody),
        (status = 422, description = "a bad `limit` or `cursor`, an operator without `riderId` (`validation_failed`)", body = ErrorBody),
        (status = 503, description = "the payment service did not answer (`dependency_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn payouts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<PayoutPage>, ApiError> {
    let rider_id = whose(
        &caller,
        Role::Rider,
        query.rider_id.clone().map(Into::into),
        "riderId",
    )?;
    let reply = state
        .inner
        .payments
        .clone()
        .list_payouts(timed(proto::ListPayoutsRequest {
            rider_id: rider_id.to_string(),
            cursor: query.cursor(),
            limit: query.limit()?,
        }))
        .await
        .map_err(|status| from_status(status, "cursor"))?
        .into_inner();
    Ok(Json(PayoutPage {
        items: reply
            .items
            .into_iter()
            .map(|p| PayoutBody {
                payout_id: p.payout_id,
                period: p.period.map(|p| p.label).unwrap_or_default(),
                amount: p.amount,
                status: "paid",
                paid_at: p.paid_at.as_ref().and_then(datetime),
            })
            .collect(),
        next_cursor: reply.next_cursor,
    }))
}

/// A delivery an invoice charges.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvoiceLine {
    delivery_id: String,
    completed_at: Option<DateTime<Utc>>,
    cost: i64,
}

/// A restaurant's invoice: immutable once issued, numbered `{restaurantId}-{n}` without gaps.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Invoice {
    number: String,
    restaurant_id: String,
    /// `2026-11` (a month), or the start of a shorter period.
    period: String,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    /// The deliveries charged (empty in a list: read one invoice for its lines).
    lines: Vec<InvoiceLine>,
    adjustments: Vec<AdjustmentLine>,
    /// Σ costs + Σ adjustments.
    total: i64,
    issued_at: Option<DateTime<Utc>>,
}

impl From<proto::Invoice> for Invoice {
    fn from(i: proto::Invoice) -> Self {
        let period = i.period.unwrap_or_default();
        Invoice {
            number: i.number,
            restaurant_id: i.restaurant_id,
            period_start: period.start.as_ref().and_then(datetime),
            period_end: period.end.as_ref().and_then(datetime),
            period: period.label,
            lines: i
                .lines
                .into_iter()
                .map(|l| InvoiceLine {
                    completed_at: l.completed_at.as_ref().and_then(datetime),
                    delivery_id: l.delivery_id,
                    cost: l.cost,
                })
                .collect(),
            adjustments: i.adjustments.into_iter().map(adjustment_line).collect(),
            total: i.total,
            issued_at: i.issued_at.as_ref().and_then(datetime),
        }
    }
}

/// A page of invoices, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvoicePage {
    items: Vec<Invoice>,
    next_cursor: Option<String>,
}

/// A restaurant's invoices, newest first (without their lines).
#[utoipa::path(get, path = "/restaurant/invoices", tag = "money", params(PageQuery),
    responses(
        (status = 200, description = "a page of invoices", body = InvoicePage),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a rider, or a restaurant naming another (`forbidden`)", body = ErrorBody),
        (status = 422, description = "a bad `limit` or `cursor`, an operator without `restaurantId` (`validation_failed`)", body = ErrorBody),
        (status = 503, description = "the payment service did not answer (`dependency_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn invoices(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<InvoicePage>, ApiError> {
    let restaurant_id = whose(
        &caller,
        Role::Restaurant,
        query.restaurant_id.clone().map(Into::into),
        "restaurantId",
    )?;
    let reply = state
        .inner
        .payments
        .clone()
        .list_invoices(timed(proto::ListInvoicesRequest {
            restaurant_id: restaurant_id.to_string(),
            cursor: query.cursor(),
            limit: query.limit()?,
        }))
        .await
        .map_err(|status| from_status(status, "cursor"))?
        .into_inner();
    Ok(Json(InvoicePage {
        items: reply.items.into_iter().map(Invoice::from).collect(),
        next_cursor: reply.next_cursor,
    }))
}

/// One invoice with its lines; `Accept: text/csv` gives the lines and adjustments as CSV.
#[utoipa::path(get, path = "/restaurant/invoices/{number}", tag = "money",
    params(("number" = String, Path, description = "`{restaurantId}-{n}`")),
    responses(
        (status = 200, description = "the invoice (JSON, or CSV for `Accept: text/csv`)",
            content((Invoice = "application/json"), (String = "text/csv"))),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a rider (`forbidden`)", body = ErrorBody),
        (status = 404, description = "no such invoice, or another restaurant's (`invoice_not_found`)", body = ErrorBody),
        (status = 503, description = "the payment service did not answer (`dependency_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn invoice(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Restaurant, Role::Operator])?;
    let not_found = || ApiError::NotFound {
        code: "invoice_not_found",
        message: format!("no invoice {number:?}"),
    };
    let reply = match state
        .inner
        .payments
        .clone()
        .get_invoice(timed(proto::GetInvoiceRequest {
            number: number.clone(),
        }))
        .await
    {
        Ok(reply) => reply.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound => return Err(not_found()),
        Err(status) => return Err(from_status(status, "number")),
    };
    // Another restaurant's invoice is unknown to this one.
    if caller.role == Role::Restaurant && reply.restaurant_id != caller.id.as_str() {
        return Err(not_found());
    }
    let invoice = Invoice::from(reply);
    if wants_csv(&headers) {
        let lines = invoice.lines.iter().map(|l| {
            vec![
                "delivery".to_owned(),
                l.delivery_id.clone(),
                l.completed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                l.cost.to_string(),
                String::new(),
            ]
        });
        let adjustments = invoice.adjustments.iter().map(|a| {
            vec![
                "adjustment".to_owned(),
                a.id.clone(),
                a.at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                a.amount.to_string(),
                a.reason.clone(),
            ]
        });
        return csv(
            &format!("invoice-{}.csv", invoice.number),
            &["kind", "id", "at", "amount", "reason"],
            lines.chain(adjustments),
        );
    }
    Ok(Json(invoice).into_response())
}

/// Whose account an adjustment corrects.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdjustedAccount {
    /// `rider` or `restaurant`.
    #[schema(value_type = String, pattern = "^(rider|restaurant)$")]
    role: Role,
    id: AccountId,
}

/// `POST /adjustments` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AdjustmentBody {
    account: AdjustedAccount,
    /// Won, signed as it shows on the account's next statement or invoice: positive pays a
    /// rider more or bills a restaurant more; non-zero, at most 10,000,000 either way.
    #[schema(schema_with = adjustment_amount)]
    amount: i64,
    /// Why, for the record and the document.
    reason: Text,
    /// The delivery it concerns, if any.
    delivery_id: Option<DeliveryId>,
}

/// An adjustment's amount: 1 to 10,000,000 won either way (never 0).
fn adjustment_amount() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::{Type, schema::ObjectBuilder};
    let range = |min: i64, max: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min))
            .maximum(Some(max))
    };
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(range(-10_000_000, -1))
        .item(range(1, 10_000_000))
        .description(Some("won, non-zero, at most 10,000,000 either way"))
        .build()
        .into()
}

/// An adjustment as booked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdjustmentCreated {
    id: String,
    account: AccountRef,
    amount: i64,
    reason: String,
    delivery_id: Option<String>,
    created_by: String,
    at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountRef {
    role: &'static str,
    id: String,
}

/// Books an operator's adjustment, balanced against the agency's adjustments account; it
/// shows once on the account's next statement or invoice. An id that is no account of the role
/// is `422` naming `account.id`. With an `Idempotency-Key`, the same
/// key books once (another body under it is `409`).
#[utoipa::path(post, path = "/adjustments", tag = "money", request_body = AdjustmentBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x20-\\x7E]{1,64}$",
        description = "the same key books the adjustment once")),
    responses(
        (status = 201, description = "booked", body = AdjustmentCreated),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
        (status = 409, description = "the key was used for another adjustment (`conflict`)", body = ErrorBody),
        (status = 503, description = "the payment service did not answer (`dependency_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn adjust(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<AdjustmentBody>,
) -> Result<(StatusCode, Json<AdjustmentCreated>), ApiError> {
    caller.require(&[Role::Operator])?;
    let holder = match body.account.role {
        Role::Rider => proto::Holder::Rider,
        Role::Restaurant => proto::Holder::Restaurant,
        Role::Operator => {
            return Err(ApiError::invalid(
                "account.role",
                "an adjustment corrects a rider's or a restaurant's account",
            ));
        }
    };
    // The account must be one of that role: money booked to an account nobody has would stay
    // on the books with nobody to pay or bill.
    let not_theirs = || {
        ApiError::invalid(
            "account.id",
            format!(
                "there is no {} {}",
                body.account.role.as_str(),
                body.account.id
            ),
        )
    };
    match state.identity().accounts.get(&body.account.id).await {
        Ok(account) if account.role() == body.account.role => {}
        Ok(_) | Err(identity::AccountError::NotFound(_)) => return Err(not_theirs()),
        Err(e) => return Err(e.into()),
    }
    if body.amount == 0 || body.amount.abs() > 10_000_000 {
        return Err(ApiError::invalid(
            "amount",
            "amount must be non-zero and at most 10000000 either way",
        ));
    }
    let id = match &key {
        Some(key) => format!("{}:{}", caller.id, key.as_str()),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let booked = state
        .inner
        .payments
        .clone()
        .adjust(timed(proto::AdjustRequest {
            id,
            holder: holder.into(),
            account_id: body.account.id.to_string(),
            amount: body.amount,
            reason: body.reason.as_str().to_owned(),
            delivery_id: body.delivery_id.map(|d| d.to_string()),
            created_by: caller.id.to_string(),
        }))
        .await
        .map_err(|status| match status.code() {
            tonic::Code::FailedPrecondition => ApiError::Conflict(
                "this Idempotency-Key was used for another adjustment".to_owned(),
            ),
            _ => from_status(status, "account"),
        })?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(AdjustmentCreated {
            id: booked.id,
            account: AccountRef {
                role: body.account.role.as_str(),
                id: booked.account_id,
            },
            amount: booked.amount,
            reason: booked.reason,
            delivery_id: booked.delivery_id,
            created_by: booked.created_by,
            at: booked.at.as_ref().and_then(datetime),
        }),
    ))
}

/// The account a money read is about: the caller's own when it has `role` (naming another is
/// `403`), the one named by `field` for an operator (who must name one), and `403` for others.
fn whose(
    caller: &Principal,
    role: Role,
    named: Option<AccountId>,
    field: &str,
) -> Result<AccountId, ApiError> {
    caller.require(&[role, Role::Operator])?;
    match (caller.role == role, named) {
        (true, Some(named)) if named != caller.id => Err(ApiError::NotAllowed {
            code: "forbidden",
            message: format!("a {} sees only its own money", role.as_str()),
        }),
        (true, _) => Ok(caller.id.clone()),
        (false, Some(named)) => Ok(named),
        (false, None) => Err(ApiError::invalid(
            field,
            format!("an operator names whose money with {field}"),
        )),
    }
}

/// A request bounded by [`CALL_TIMEOUT`].
fn timed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// The payment service's answer as ours: its refusal of the input is a `422` on `field`;
/// anything else means it could not answer.
fn from_status(status: tonic::Status, field: &str) -> ApiError {
    match status.code() {
        tonic::Code::InvalidArgument => ApiError::invalid(field, status.message()),
        code => {
            tracing::warn!(?code, message = status.message(), "payment call failed");
            ApiError::Unavailable("payment service")
        }
    }
}

fn adjustment_line(a: proto::Adjustment) -> AdjustmentLine {
    AdjustmentLine {
        at: a.at.as_ref().and_then(datetime),
        id: a.id,
        amount: a.amount,
        reason: a.reason,
    }
}

/// Whether the client asked for CSV (`Accept: text/csv`).
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"))
}

/// A CSV download of `rows` under `columns`, as `name`.
fn csv(
    name: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Response, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(columns).map_err(ApiError::internal)?;
    for row in rows {
        writer.write_record(&row).map_err(ApiError::internal)?;
    }
    let body = writer.into_inner().map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

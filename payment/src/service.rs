//! The tonic implementation of `payment.v2.PaymentService` over a [`Ledger`].

use chrono::NaiveDate;
use domain::{CommissionBps, Period};
use payment_api::{datetime, proto, proto::payment_service_server::PaymentService, timestamp};
use tonic::{Request, Response, Status};

use crate::ledger::{
    Ledger, LedgerError, Payment, PaymentStatus, Registration,
    adjustments::{Adjustment, AdjustmentRequest, Holder},
    invoices::Invoice,
    payouts::Payout,
    statements::Statement,
};

/// Serves the payment rpcs from a ledger; wrap it in
/// [`proto::payment_service_server::PaymentServiceServer`] to mount it.
#[derive(Debug, Clone)]
pub struct PaymentApi {
    ledger: Ledger,
}

impl PaymentApi {
    /// Builds the service over `ledger`.
    pub fn new(ledger: Ledger) -> Self {
        PaymentApi { ledger }
    }
}

type Answer<T> = Result<Response<T>, Status>;

fn answer<T, P: From<T>>(result: Result<T, LedgerError>) -> Answer<P> {
    result
        .map(|value| Response::new(value.into()))
        .map_err(to_status)
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn register_payment(
        &self,
        request: Request<proto::RegisterPaymentRequest>,
    ) -> Answer<proto::Payment> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        let commission = CommissionBps::new(i64::from(request.commission_bps))
            .map_err(|e| Status::invalid_argument(format!("commission_bps {e}")))?;
        answer(
            self.ledger
                .register(&Registration {
                    delivery_id: request.delivery_id,
                    restaurant_id: request.restaurant_id,
                    amount: request.amount,
                    commission,
                })
                .await,
        )
    }

    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn settle_payment(
        &self,
        request: Request<proto::SettlePaymentRequest>,
    ) -> Answer<proto::Payment> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        answer(
            self.ledger
                .settle(
                    &request.delivery_id,
                    &request.rider_id,
                    request.failure_reason.as_deref(),
                )
                .await,
        )
    }

    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn void_payment(
        &self,
        request: Request<proto::VoidPaymentRequest>,
    ) -> Answer<proto::Payment> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        answer(
            self.ledger
                .void(&request.delivery_id, request.failure_reason.as_deref())
                .await,
        )
    }

    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn get_payment(
        &self,
        request: Request<proto::GetPaymentRequest>,
    ) -> Answer<proto::Payment> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        answer(self.ledger.get(&request.delivery_id).await)
    }

    #[tracing::instrument(skip_all)]
    async fn adjust(&self, request: Request<proto::AdjustRequest>) -> Answer<proto::Adjustment> {
        let request = request.into_inner();
        let holder = match proto::Holder::try_from(request.holder) {
            Ok(proto::Holder::Rider) => Holder::Rider,
            Ok(proto::Holder::Restaurant) => Holder::Restaurant,
            _ => {
                return Err(Status::invalid_argument(
                    "holder must be rider or restaurant",
                ));
            }
        };
        answer(
            self.ledger
                .adjust(&AdjustmentRequest {
                    id: request.id,
                    holder,
                    account_id: request.account_id,
                    amount: request.amount,
                    reason: request.reason,
                    delivery_id: request.delivery_id,
                    created_by: request.created_by,
                })
                .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn list_riders_with_balance(
        &self,
        _request: Request<proto::ListRidersWithBalanceRequest>,
    ) -> Answer<proto::AccountIds> {
        let ids = self.ledger.riders_with_balance().await.map_err(to_status)?;
        Ok(Response::new(proto::AccountIds { ids }))
    }

    #[tracing::instrument(skip_all, fields(rider_id))]
    async fn pay_rider(
        &self,
        request: Request<proto::PayRiderRequest>,
    ) -> Answer<proto::PayRiderResponse> {
        let request = request.into_inner();
        tracing::Span::current().record("rider_id", &request.rider_id);
        let period = period(request.period)?;
        let payout = self
            .ledger
            .pay_rider(&request.rider_id, &period)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::PayRiderResponse {
            payout: payout.map(Into::into),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_payouts(
        &self,
        request: Request<proto::ListPayoutsRequest>,
    ) -> Answer<proto::PayoutPage> {
        let request = request.into_inner();
        let (items, next_cursor) = self
            .ledger
            .payouts_of(
                &request.rider_id,
                request.cursor.as_deref(),
                u64::from(request.limit),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::PayoutPage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_statement(
        &self,
        request: Request<proto::GetStatementRequest>,
    ) -> Answer<proto::Statement> {
        let request = request.into_inner();
        let day = |field: &str, value: &str| {
            value
                .parse::<NaiveDate>()
                .map_err(|_| Status::invalid_argument(format!("{field} must be a day, YYYY-MM-DD")))
        };
        let (from, to) = (day("from", &request.from)?, day("to", &request.to)?);
        answer(self.ledger.statement(&request.rider_id, from, to).await)
    }

    #[tracing::instrument(skip_all)]
    async fn list_restaurants_to_invoice(
        &self,
        request: Request<proto::ListRestaurantsToInvoiceRequest>,
    ) -> Answer<proto::AccountIds> {
        let before = request
            .into_inner()
            .before
            .as_ref()
            .and_then(datetime)
            .ok_or_else(|| Status::invalid_argument("before must be a time"))?;
        let ids = self
            .ledger
            .restaurants_to_invoice(before)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::AccountIds { ids }))
    }

    #[tracing::instrument(skip_all, fields(restaurant_id))]
    async fn issue_invoice(
        &self,
        request: Request<proto::IssueInvoiceRequest>,
    ) -> Answer<proto::IssueInvoiceResponse> {
        let request = request.into_inner();
        tracing::Span::current().record("restaurant_id", &request.restaurant_id);
        let period = period(request.period)?;
        let invoice = self
            .ledger
            .issue_invoice(&request.restaurant_id, &period)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::IssueInvoiceResponse {
            invoice: invoice.map(Into::into),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_invoices(
        &self,
        request: Request<proto::ListInvoicesRequest>,
    ) -> Answer<proto::InvoicePage> {
        let request = request.into_inner();
        let (items, next_cursor) = self
            .ledger
            .invoices_of(
                &request.restaurant_id,
                request.cursor.as_deref(),
                u64::from(request.limit),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::InvoicePage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_invoice(
        &self,
        request: Request<proto::GetInvoiceRequest>,
    ) -> Answer<proto::Invoice> {
        answer(self.ledger.invoice(&request.into_inner().number).await)
    }
}

/// Fills the span's `delivery_id` field, which is only known once the request is decoded.
fn record_delivery_id(delivery_id: &str) {
    tracing::Span::current().record("delivery_id", delivery_id);
}

/// A period from the wire: all three parts required.
fn period(period: Option<proto::Period>) -> Result<Period, Status> {
    let missing = || Status::invalid_argument("period needs a label, a start and an end");
    let period = period.ok_or_else(missing)?;
    Ok(Period {
        start: period
            .start
            .as_ref()
            .and_then(datetime)
            .ok_or_else(missing)?,
        end: period.end.as_ref().and_then(datetime).ok_or_else(missing)?,
        label: period.label,
    })
}

/// Maps ledger errors to gRPC codes. Database details stay in the log: they
/// mean nothing to callers and may reveal internals, while UNAVAILABLE tells
/// them a retry may succeed.
fn to_status(error: LedgerError) -> Status {
    match error {
        LedgerError::InvalidArgument(message) => Status::invalid_argument(message),
        LedgerError::NotFound(_) => Status::not_found(error.to_string()),
        LedgerError::FailedPrecondition(message) => Status::failed_precondition(message),
        // The workflow's register activity takes FAILED_PRECONDITION as a final refusal:
        // the delivery ends with its payment rejected, no money moved, no retries.
        LedgerError::AlreadyClosed { .. } => Status::failed_precondition(error.to_string()),
        LedgerError::Database(_) | LedgerError::Open(_) => {
            tracing::error!(error = %error, "ledger database error");
            Status::unavailable("payment ledger temporarily unavailable")
        }
    }
}

impl From<PaymentStatus> for proto::PaymentStatus {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Registered => proto::PaymentStatus::Registered,
            PaymentStatus::Settled => proto::PaymentStatus::Settled,
            PaymentStatus::Voided => proto::PaymentStatus::Voided,
        }
    }
}

impl From<Payment> for proto::Payment {
    fn from(payment: Payment) -> Self {
        proto::Payment {
            delivery_id: payment.delivery_id,
            amount: payment.amount,
            status: proto::PaymentStatus::from(payment.status).into(),
            registered_at: Some(timestamp(payment.registered_at)),
            settled_at: payment.settled_at.map(timestamp),
            voided_at: payment.voided_at.map(timestamp),
            restaurant_id: payment.restaurant_id,
            commission_bps: u32::from(payment.commission_bps),
            commission: payment.commission,
            rider_id: payment.rider_id,
            failure_reason: payment.failure_reason,
        }
    }
}

impl From<Holder> for proto::Holder {
    fn from(holder: Holder) -> Self {
        match holder {
            Holder::Rider => proto::Holder::Rider,
            Holder::Restaurant => proto::Holder::Restaurant,
        }
    }
}

impl From<Adjustment> for proto::Adjustment {
    fn from(a: Adjustment) -> Self {
        proto::Adjustment {
            id: a.id,
            holder: proto::Holder::from(a.holder).into(),
            account_id: a.account_id,
            amount: a.amount,
            reason: a.reason,
            delivery_id: a.delivery_id,
            created_by: a.created_by,
            at: Some(timestamp(a.at)),
        }
    }
}

fn period_proto(period: Period) -> proto::Period {
    proto::Period {
        label: period.label,
        start: Some(timestamp(period.start)),
        end: Some(timestamp(period.end)),
    }
}

impl From<Payout> for proto::Payout {
    fn from(p: Payout) -> Self {
        proto::Payout {
            payout_id: p.payout_id,
            rider_id: p.rider_id,
            period: Some(period_proto(p.period)),
            amount: p.amount,
            paid_at: Some(timestamp(p.paid_at)),
        }
    }
}

impl From<Statement> for proto::Statement {
    fn from(s: Statement) -> Self {
        proto::Statement {
            rider_id: s.rider_id,
            from: s.from.to_string(),
            to: s.to.to_string(),
            lines: s
                .lines
                .into_iter()
                .map(|l| proto::StatementLine {
                    delivery_id: l.delivery_id,
                    completed_at: Some(timestamp(l.completed_at)),
                    cost: l.cost,
                    commission: l.commission,
                    earning: l.earning,
                    failure_reason: l.failure_reason,
                })
                .collect(),
            adjustments: s.adjustments.into_iter().map(Into::into).collect(),
            total: s.total,
            paid_out: s.paid_out,
            balance: s.balance,
        }
    }
}

impl From<Invoice> for proto::Invoice {
    fn from(i: Invoice) -> Self {
        let restaurant_id = i.restaurant_id.clone();
        proto::Invoice {
            number: i.number,
            period: Some(period_proto(i.period)),
            lines: i
                .lines
                .into_iter()
                .map(|l| proto::InvoiceLine {
                    delivery_id: l.delivery_id,
                    completed_at: Some(timestamp(l.completed_at)),
                    cost: l.cost,
                })
                .collect(),
            adjustments: i
                .adjustments
                .into_iter()
                .map(|a| proto::Adjustment {
                    id: a.id,
                    holder: proto::Holder::Restaurant.into(),
                    account_id: restaurant_id.clone(),
                    amount: a.amount,
                    reason: a.reason,
                    delivery_id: None,
                    created_by: String::new(),
                    at: Some(timestamp(a.at)),
                })
                .collect(),
            restaurant_id,
            total: i.total,
            issued_at: Some(timestamp(i.issued_at)),
        }
    }
}

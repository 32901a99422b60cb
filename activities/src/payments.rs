//! Payment activities: the gRPC client of the payment service.

use std::sync::Arc;

use payment_api::{
    PaymentClient,
    proto::{self, RegisterPaymentRequest, SettlePaymentRequest, VoidPaymentRequest},
};
use telemetry::metrics::Metrics;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tonic::{Code, Status};
use workflows::model::{
    DeliveryId, IssueInvoiceInput, MoneyDocument, PayRiderInput, PaymentRecord, Period,
    RegisterPaymentInput, RestaurantId, RiderId, SettleRequest,
};

use crate::Failures;

/// The restaurant and rider of tasks scheduled before the double-entry ledger named them.
const LEGACY: &str = "legacy";

/// Failure type of a payment the payment service refused for good.
pub(crate) const PAYMENT_REJECTED: &str = "PaymentRejected";

/// Calls the payment service; a cheap clone of one pooled HTTP/2 channel.
pub struct Payments {
    client: PaymentClient,
    failures: Failures,
}

impl Payments {
    /// `client` may point at a service that is down: calls fail and are retried.
    pub fn new(client: PaymentClient) -> Self {
        Self {
            client,
            failures: Failures::default(),
        }
    }

    /// Counts failed attempts into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<&Metrics>) -> Self {
        self.failures = Failures::new(metrics);
        self
    }
}

#[activities]
impl Payments {
    #[activity(definition = workflows::activities::definitions::RegisterPayment)]
    #[tracing::instrument(skip_all, fields(delivery_id = %input.delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn register_payment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RegisterPaymentInput,
    ) -> Result<PaymentRecord, ActivityError> {
        let request = RegisterPaymentRequest {
            delivery_id: input.delivery_id.to_string(),
            amount: input.amount,
            restaurant_id: input
                .restaurant_id
                .map_or_else(|| LEGACY.to_owned(), String::from),
            commission_bps: u32::from(input.commission_bps.unwrap_or_default().bps()),
        };
        let reply = self.client.clone().register_payment(request).await;
        self.record(reply.map(tonic::Response::into_inner), "register payment")
    }

    #[activity(definition = workflows::activities::definitions::SettlePayment)]
    #[tracing::instrument(skip_all, fields(trace_id = %telemetry::current_trace_id()))]
    pub async fn settle_payment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        request: SettleRequest,
    ) -> Result<PaymentRecord, ActivityError> {
        let request = match request {
            SettleRequest::ToRider(input) => SettlePaymentRequest {
                delivery_id: input.delivery_id.to_string(),
                rider_id: input.rider_id.to_string(),
                failure_reason: input.failure_reason.map(|r| r.as_str().to_owned()),
            },
            SettleRequest::Legacy(delivery_id) => SettlePaymentRequest {
                delivery_id: delivery_id.to_string(),
                rider_id: LEGACY.to_owned(),
                failure_reason: None,
            },
        };
        tracing::Span::current().record("delivery_id", &request.delivery_id);
        let reply = self.client.clone().settle_payment(request).await;
        self.record(reply.map(tonic::Response::into_inner), "settle payment")
    }

    #[activity(definition = workflows::activities::definitions::VoidPayment)]
    #[tracing::instrument(skip_all, fields(delivery_id = %delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn void_payment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        delivery_id: DeliveryId,
    ) -> Result<Option<PaymentRecord>, ActivityError> {
        let delivery_id = delivery_id.to_string();
        match self
            .client
            .clone()
            .void_payment(VoidPaymentRequest {
                delivery_id,
                failure_reason: None,
            })
            .await
        {
            // Nothing was registered, so nothing is owed back.
            Err(status) if status.code() == Code::NotFound => Ok(None),
            reply => self
                .record(reply.map(tonic::Response::into_inner), "void payment")
                .map(Some),
        }
    }

    #[activity(definition = workflows::activities::definitions::ListRidersWithBalance)]
    pub async fn list_riders_with_balance(
        self: Arc<Self>,
        _ctx: ActivityContext,
        _: (),
    ) -> Result<Vec<RiderId>, ActivityError> {
        let what = "list riders with a balance";
        let reply = self
            .client
            .clone()
            .list_riders_with_balance(proto::ListRidersWithBalanceRequest {})
            .await
            .map_err(|status| self.classify(status, what))?;
        self.ids(reply.into_inner().ids, what)
    }

    #[activity(definition = workflows::activities::definitions::PayRider)]
    #[tracing::instrument(skip_all, fields(rider_id = %input.rider_id, period = %input.period.label))]
    pub async fn pay_rider(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PayRiderInput,
    ) -> Result<Option<MoneyDocument>, ActivityError> {
        let reply = self
            .client
            .clone()
            .pay_rider(proto::PayRiderRequest {
                rider_id: input.rider_id.to_string(),
                period: Some(period(&input.period)),
            })
            .await
            .map_err(|status| self.classify(status, "pay a rider"))?;
        Ok(reply.into_inner().payout.map(|p| MoneyDocument {
            document: p.payout_id,
            amount: p.amount,
        }))
    }

    #[activity(definition = workflows::activities::definitions::ListRestaurantsToInvoice)]
    pub async fn list_restaurants_to_invoice(
        self: Arc<Self>,
        _ctx: ActivityContext,
        period: Period,
    ) -> Result<Vec<RestaurantId>, ActivityError> {
        let what = "list restaurants to invoice";
        let reply = self
            .client
            .clone()
            .list_restaurants_to_invoice(proto::ListRestaurantsToInvoiceRequest {
                before: Some(payment_api::timestamp(period.end)),
            })
            .await
            .map_err(|status| self.classify(status, what))?;
        self.ids(reply.into_inner().ids, what)
    }

    #[activity(definition = workflows::activities::definitions::IssueInvoice)]
    #[tracing::instrument(skip_all, fields(restaurant_id = %input.restaurant_id, period = %input.period.label))]
    pub async fn issue_invoice(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: IssueInvoiceInput,
    ) -> Result<Option<MoneyDocument>, ActivityError> {
        let reply = self
            .client
            .clone()
            .issue_invoice(proto::IssueInvoiceRequest {
                restaurant_id: input.restaurant_id.to_string(),
                period: Some(period(&input.period)),
            })
            .await
            .map_err(|status| self.classify(status, "issue an invoice"))?;
        Ok(reply.into_inner().invoice.map(|i| MoneyDocument {
            document: i.number,
            amount: i.total,
        }))
    }
}

/// A period on the wire.
fn period(period: &Period) -> proto::Period {
    proto::Period {
        label: period.label.clone(),
        start: Some(payment_api::timestamp(period.start)),
        end: Some(payment_api::timestamp(period.end)),
    }
}

impl Payments {
    /// Account ids from the payment service, as ours (an id that is not one is its bug: retried).
    fn ids<T: std::str::FromStr>(
        &self,
        ids: Vec<String>,
        what: &str,
    ) -> Result<Vec<T>, ActivityError>
    where
        T::Err: std::fmt::Display,
    {
        ids.into_iter()
            .map(|id| {
                id.parse().map_err(|e| {
                    self.failures.retryable(
                        what,
                        format!("payment service answered a bad id {id:?}: {e}"),
                    )
                })
            })
            .collect()
    }

    fn record(
        &self,
        reply: Result<proto::Payment, Status>,
        what: &str,
    ) -> Result<PaymentRecord, ActivityError> {
        let payment = reply.map_err(|status| self.classify(status, what))?;
        let status = payment
            .payment_status()
            .map_err(|e| self.failures.retryable(what, e))?;
        let delivery_id = payment.delivery_id.parse().map_err(|e| {
            self.failures
                .retryable(what, format!("payment service answered a bad id: {e}"))
        })?;
        Ok(PaymentRecord {
            delivery_id,
            amount: payment.amount,
            status,
        })
    }

    /// A refusal on the merits is final; everything else (unavailable, timeouts) is retried.
    fn classify(&self, status: Status, what: &str) -> ActivityError {
        match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
                self.failures.permanent(
                    what,
                    PAYMENT_REJECTED,
                    format!("refused: {}", status.message()),
                )
            }
            _ => self
                .failures
                .retryable(what, format!("{:?}: {}", status.code(), status.message())),
        }
    }
}

//! The tonic implementation of `payment.v1.PaymentService` over a [`Ledger`].

use payment_api::proto::{self, payment_service_server::PaymentService};
use tonic::{Request, Response, Status};

use crate::ledger::{Ledger, LedgerError, Payment, PaymentStatus};

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

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn register_payment(
        &self,
        request: Request<proto::RegisterPaymentRequest>,
    ) -> Result<Response<proto::Payment>, Status> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        let payment = self
            .ledger
            .register(&request.delivery_id, request.amount)
            .await
            .map_err(to_status)?;
        Ok(Response::new(payment.into()))
    }

    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn settle_payment(
        &self,
        request: Request<proto::SettlePaymentRequest>,
    ) -> Result<Response<proto::Payment>, Status> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        let payment = self
            .ledger
            .settle(&request.delivery_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(payment.into()))
    }

    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn void_payment(
        &self,
        request: Request<proto::VoidPaymentRequest>,
    ) -> Result<Response<proto::Payment>, Status> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        let payment = self
            .ledger
            .void(&request.delivery_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(payment.into()))
    }

    #[tracing::instrument(skip_all, fields(delivery_id))]
    async fn get_payment(
        &self,
        request: Request<proto::GetPaymentRequest>,
    ) -> Result<Response<proto::Payment>, Status> {
        let request = request.into_inner();
        record_delivery_id(&request.delivery_id);
        let payment = self
            .ledger
            .get(&request.delivery_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(payment.into()))
    }
}

/// Fills the span's `delivery_id` field, which is only known once the request is decoded.
fn record_delivery_id(delivery_id: &str) {
    tracing::Span::current().record("delivery_id", delivery_id);
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
            registered_at: Some(payment_api::timestamp(payment.registered_at)),
            settled_at: payment.settled_at.map(payment_api::timestamp),
            voided_at: payment.voided_at.map(payment_api::timestamp),
        }
    }
}

//! The API's conversations with delivery workflows, each bounded in time and mapped to
//! [`ApiError`]s the contract names.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryOptions,
    WorkflowStartUpdateOptions,
    errors::{WorkflowInteractionError, WorkflowQueryError, WorkflowUpdateError},
};
use temporalio_common::{HasWorkflowDefinition, UpdateDefinition};
use workflows::{
    DeliveryWorkflow,
    model::{DeliveryId, DeliveryView, PaymentStatus, Rejection, RejectionKind},
    names,
};

use crate::{AppState, error::ApiError};

type Handle = WorkflowHandle<Client, DeliveryWorkflow>;
/// The delivery workflow's run, the `Workflow` of its update definitions.
pub(crate) type Run = <DeliveryWorkflow as HasWorkflowDefinition>::Run;

pub(crate) fn handle(state: &AppState, delivery_id: &DeliveryId) -> Handle {
    state
        .inner
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(delivery_id.as_str()))
}

/// Why a query gave no view.
pub(crate) enum QueryFailure {
    /// No such workflow.
    NotFound,
    /// No worker answered in time, or Temporal is unreachable.
    Unanswered,
}

/// The live view from the workflow's `status` query, bounded by `timeout`.
pub(crate) async fn query(
    handle: &Handle,
    timeout: Duration,
) -> Result<DeliveryView, QueryFailure> {
    let query = handle.query(
        DeliveryWorkflow::status,
        (),
        WorkflowQueryOptions::default(),
    );
    match tokio::time::timeout(timeout, query).await {
        Ok(Ok(view)) => Ok(view),
        Ok(Err(WorkflowQueryError::NotFound(_))) => Err(QueryFailure::NotFound),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "status query failed");
            Err(QueryFailure::Unanswered)
        }
        Err(_) => Err(QueryFailure::Unanswered),
    }
}

/// Polls the view until the payment registration is decided or `wait` runs out; the last
/// view seen (if any) when it runs out.
pub(crate) async fn await_registration(handle: &Handle, wait: Duration) -> Option<DeliveryView> {
    let deadline = Instant::now() + wait;
    let mut last = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return last;
        }
        match query(handle, remaining).await {
            Ok(view) if view.payment.status != PaymentStatus::Pending => return Some(view),
            Ok(view) => last = Some(view),
            Err(QueryFailure::NotFound) => {}
            // The query waited out the whole budget: no worker is answering.
            Err(QueryFailure::Unanswered) => return last,
        }
        tokio::time::sleep(Duration::from_millis(25).min(remaining)).await;
    }
}

/// The workflow's execution status, or `None` when there is no such workflow.
pub(crate) async fn execution_status(
    handle: &Handle,
) -> Result<Option<WorkflowExecutionStatus>, ApiError> {
    match handle.describe(WorkflowDescribeOptions::default()).await {
        Ok(d) => Ok(Some(d.status())),
        Err(WorkflowInteractionError::NotFound(_)) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "describe failed");
            Err(ApiError::Unavailable("temporal"))
        }
    }
}

/// How much longer than an update's expiry the API waits for its acceptance: covers the trip
/// back from the server and clock skew between this host and Temporal's.
const EXPIRY_GRACE: Duration = Duration::from_secs(2);

/// The `expiresAtMs` of an update sent now: after it, the workflow refuses the update, so an
/// update left waiting for a worker that is down can never apply after the API answered 503.
pub(crate) fn update_expiry(state: &AppState) -> i64 {
    let deadline = SystemTime::now() + state.settings().update_wait;
    deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sends an update (carrying its [`update_expiry`]) and waits for its result. `update` names
/// it (the SDK's update markers are not `Clone`): an update the server rolled back is sent
/// again ([`rolled_back`]).
///
/// A refusal by the validator becomes 409/403/422; no worker answering in time becomes 503:
/// the update either was never accepted or will be refused as expired, so nothing changed.
/// When the update was accepted but its result is slow (a cancel waiting for the payment
/// void), the current view is returned.
pub(crate) async fn update<U>(
    state: &AppState,
    delivery_id: &DeliveryId,
    update: impl Fn() -> U,
    input: U::Input,
) -> Result<DeliveryView, ApiError>
where
    U: UpdateDefinition<Workflow = Run, Output = DeliveryView>,
    U::Input: Clone + Send,
{
    let wait = state.settings().update_wait + EXPIRY_GRACE;
    let deadline = Instant::now() + wait;
    let handle = handle(state, delivery_id);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let started = tokio::time::timeout(
            left,
            handle.start_update(
                update(),
                input.clone(),
                WorkflowStartUpdateOptions::default(),
            ),
        )
        .await;
        let answer = match started {
            Err(_) => return Err(ApiError::WorkerUnavailable),
            Ok(Err(e)) => Err(e),
            Ok(Ok(update_handle)) => {
                let remaining = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100));
                match tokio::time::timeout(remaining, update_handle.get_result(Default::default()))
                    .await
                {
                    Ok(answer) => answer,
                    Err(_) => {
                        return query(&handle, state.settings().query_timeout)
                            .await
                            .map_err(|_| ApiError::WorkerUnavailable);
                    }
                }
            }
        };
        match answer {
            Ok(view) => return Ok(view),
            Err(e) if rolled_back(&e) && attempt < UPDATE_ATTEMPTS => {
                tracing::debug!(
                    attempt,
                    "update rolled back with its workflow task; sending it again"
                );
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return refused(state, &handle, delivery_id, e).await,
        }
    }
}

/// Times an update is sent when the server rolls it back (see [`rolled_back`]).
const UPDATE_ATTEMPTS: u64 = 3;

/// Whether the server dropped the update with the workflow task that carried it: the task
/// failed for a reason of the server's own (typically `UnhandledCommand`: a timer fired while
/// the worker completed the task), so the update never applied and sending it again is safe.
fn rolled_back(err: &WorkflowUpdateError) -> bool {
    matches!(err, WorkflowUpdateError::Rpc(status)
        if status.code() == tonic::Code::FailedPrecondition
            && status.message().contains("workflow task failure"))
}

/// The answer to an update that did not apply (its refusal may come with the start or with
/// the result). A repeat of what the caller already did was refused before it reached the
/// history and is answered with the current state; anything else is an error.
async fn refused(
    state: &AppState,
    handle: &Handle,
    delivery_id: &DeliveryId,
    err: WorkflowUpdateError,
) -> Result<DeliveryView, ApiError> {
    if rejection(&err).is_some_and(|r| r.kind == RejectionKind::Unchanged) {
        return query(handle, state.settings().query_timeout)
            .await
            .map_err(|_| ApiError::WorkerUnavailable);
    }
    Err(update_error(handle, delivery_id, err).await)
}

/// The update's validator refusal, if that is what `err` is.
fn rejection(err: &WorkflowUpdateError) -> Option<Rejection> {
    match err {
        WorkflowUpdateError::Failed(failure) => Rejection::parse(&failure.message),
        _ => None,
    }
}

async fn update_error(
    handle: &Handle,
    delivery_id: &DeliveryId,
    err: WorkflowUpdateError,
) -> ApiError {
    if let Some(Rejection { kind, message }) = rejection(&err) {
        return match kind {
            RejectionKind::Conflict => ApiError::Conflict(message),
            RejectionKind::Forbidden => ApiError::Forbidden(message),
            RejectionKind::Expired => ApiError::WorkerUnavailable,
            RejectionKind::TooManyUpdates => ApiError::TooManyUpdates(message),
            // Answered with the current state before we get here (see `refused`).
            RejectionKind::Unchanged => ApiError::Conflict(message),
        };
    }
    match err {
        WorkflowUpdateError::Failed(failure) => {
            ApiError::internal(format!("update failed: {}", failure.message))
        }
        // The workflow is gone, or finished: tell the two apart.
        WorkflowUpdateError::NotFound(_) => finished_or_unknown(handle, delivery_id).await,
        WorkflowUpdateError::Rpc(status) => match status.code() {
            tonic::Code::NotFound | tonic::Code::FailedPrecondition => {
                finished_or_unknown(handle, delivery_id).await
            }
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                ApiError::WorkerUnavailable
            }
            _ => ApiError::internal(format!("update rpc failed: {status}")),
        },
        other => ApiError::internal(format!("update failed: {other}")),
    }
}

async fn finished_or_unknown(handle: &Handle, delivery_id: &DeliveryId) -> ApiError {
    match execution_status(handle).await {
        Ok(None) => ApiError::delivery_not_found(delivery_id.as_str()),
        Ok(Some(_)) => ApiError::Conflict("the delivery is already finished".into()),
        Err(e) => e,
    }
}

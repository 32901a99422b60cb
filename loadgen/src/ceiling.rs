//! The ceiling: what the Temporal server sustains for our client-visible interaction pattern
//! alone, measured in the same run as the system.
//!
//! [`CeilingWorkflow`] is a delivery with nothing inside: started like one (same input, task
//! timeout and id policies), it waits for an update `pickup`, then an update `complete`, then
//! returns. No activities, timers, search attributes or queries: one start, two updates and
//! one completion per delivery is everything the server does for it. [`run`] serves it from a
//! worker inside this process, on a task queue of its own, and drives it with the same load
//! model as the HTTP run, so `our deliveries/s ÷ ceiling deliveries/s` says how much of the
//! server's limit the saga and the services around it leave on the table.

use std::{
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use temporalio_client::{
    Client, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy, WorkflowStartOptions, WorkflowTerminateOptions,
    errors::WorkflowInteractionError,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, Worker, WorkerOptions, WorkflowContext, WorkflowContextView,
    WorkflowResult,
    runtime::{PollerBehavior, Runtime},
};
use tokio::sync::oneshot;
use workflows::{
    client::{CodecSettings, ConnectError, TemporalSettings},
    model::{Call, CommissionBps, Cost, DeliveryInput, RiderRequest},
    names,
};

use crate::{Plan, Recorder, Report};

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Where the no-op delivery is: `Called` → `Picked` → `Completed`, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Called,
    Picked,
    Completed,
}

/// A delivery of the same client-visible shape as `DeliveryWorkflow`, doing nothing.
#[workflow]
pub struct CeilingWorkflow {
    stage: Stage,
}

#[workflow_methods]
impl CeilingWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, _input: DeliveryInput) -> Self {
        Self {
            stage: Stage::Called,
        }
    }

    #[run(name = "CeilingWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        ctx.wait_condition(|w: &Self| w.stage == Stage::Completed)
            .await?;
        Ok(())
    }

    #[update_validator(pickup)]
    fn validate_pickup(
        &self,
        _ctx: &WorkflowContextView,
        _req: &RiderRequest,
    ) -> Result<(), HandlerError> {
        self.expect(Stage::Called, "pickup")
    }

    /// Moves `Called` → `Picked`.
    #[update(name = "pickup")]
    pub fn pickup(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        _req: RiderRequest,
    ) -> Result<(), HandlerError> {
        self.expect(Stage::Called, "pickup")?;
        self.stage = Stage::Picked;
        Ok(())
    }

    #[update_validator(complete)]
    fn validate_complete(
        &self,
        _ctx: &WorkflowContextView,
        _req: &RiderRequest,
    ) -> Result<(), HandlerError> {
        self.expect(Stage::Picked, "complete")
    }

    /// Moves `Picked` → `Completed`, which ends the workflow.
    #[update(name = "complete")]
    pub fn complete(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        _req: RiderRequest,
    ) -> Result<(), HandlerError> {
        self.expect(Stage::Picked, "complete")?;
        self.stage = Stage::Completed;
        Ok(())
    }
}

impl CeilingWorkflow {
    fn expect(&self, stage: Stage, update: &str) -> Result<(), HandlerError> {
        match self.stage == stage {
            true => Ok(()),
            false => Err(format!("{update} refused: the delivery is {:?}", self.stage).into()),
        }
    }
}

/// The Temporal server a ceiling run measures.
#[derive(Debug, Clone)]
pub struct Server {
    /// `host:port` or a URL, as `TEMPORAL_ADDRESS`.
    pub address: String,
    pub namespace: String,
    /// The payload encryption keys, as the worker and the API have them: the ceiling's
    /// deliveries pay for encryption as ours do.
    pub codec: CodecSettings,
}

impl Server {
    /// The server `settings` and Temporal's standard client configuration name, as the worker
    /// and the API find theirs.
    pub fn from_settings(settings: &TemporalSettings) -> Result<Self, ConnectError> {
        let (connection, namespace) = workflows::client::resolve(settings, None)?;
        Ok(Self {
            address: connection.target.to_string(),
            namespace,
            codec: settings.codec.clone(),
        })
    }

    /// A client of this server, with its keys.
    async fn connect(&self) -> Result<temporalio_client::Client, ConnectError> {
        let settings = TemporalSettings {
            codec: self.codec.clone(),
            ..TemporalSettings::at(&self.address, &self.namespace)
        };
        workflows::client::connect_with(&settings, None, false).await
    }
}

/// Why a ceiling run could not be measured (failed deliveries are counted in the report).
#[derive(Debug, thiserror::Error)]
pub enum CeilingError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("ceiling worker: {0}")]
    Worker(String),
    #[error("ceiling load driver: {0}")]
    Driver(#[from] tokio::task::JoinError),
}

fn worker_err(e: impl std::fmt::Display) -> CeilingError {
    CeilingError::Worker(e.to_string())
}

/// Drives `plan.deliveries` no-op deliveries at `plan.load` (each bounded by `plan.timeout`)
/// against `server`, measuring the processes in `watch`; `plan.api` is not used. The report's
/// steps are `start`, `pickup`, `complete` (each call until its result) and `start_to_done`
/// (start until the workflow's result).
pub async fn run(
    plan: &Plan,
    server: &Server,
    watch: &[(String, u32)],
) -> Result<Report, CeilingError> {
    let worker = CeilingWorker::start(server).await?;
    let client = server.connect().await?;
    let queue = worker.task_queue.clone();
    let batch = uuid::Uuid::new_v4().simple().to_string();
    let cleanups = Cleanups::default();
    let mode = format!(
        "ceiling ({}), {}",
        server.address,
        crate::load_name(plan.load)
    );
    let driven = crate::drive(plan, mode, watch, {
        let cleanups = cleanups.clone();
        move |i, recorder| {
            let (client, queue, cleanups) = (client.clone(), queue.clone(), cleanups.clone());
            let id = format!("ceiling-{batch}-{i}");
            async move { delivery(client, &queue, id, i, &recorder, cleanups).await }
        }
    })
    .await;
    cleanups.finish().await;
    // Every delivery has finished or been given up on: the worker has nothing left to do.
    worker.shutdown().await?;
    Ok(driven?)
}

/// One no-op delivery: start → pickup → complete → result; `Err` names what went wrong.
async fn delivery(
    client: Client,
    queue: &str,
    id: String,
    i: usize,
    recorder: &Recorder,
    cleanups: Cleanups,
) -> Result<(), String> {
    let bad = |e: &dyn std::fmt::Display| format!("ceiling input: {e}");
    let input = DeliveryInput {
        call: Call {
            delivery_id: id.parse().map_err(|e| bad(&e))?,
            restaurant_id: format!("load-{}", i % 50).parse().map_err(|e| bad(&e))?,
            destination: "Seoul, Gangnam-gu".parse().map_err(|e| bad(&e))?,
            cost: Cost::new(10_000).map_err(|e| bad(&e))?,
        },
        customer_id: None,
        pickup_deadline_secs: None,
        completion_deadline_secs: None,
        retry_budget_secs: None,
        offers: None,
        commission_bps: Some(CommissionBps::DEFAULT),
    };
    // The same start options as the API's, minus the search attributes and memo.
    let options = WorkflowStartOptions::new(queue, id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::Fail)
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .task_timeout(names::WORKFLOW_TASK_TIMEOUT)
        .build();
    let t0 = Instant::now();
    let handle = client
        .start_workflow(CeilingWorkflow::run, input, options)
        .await
        .map_err(|e| error_kind("start", &e))?;
    recorder.record("start", t0.elapsed());
    let mut unfinished = Unfinished(Some((client, id, cleanups)));
    let rider = RiderRequest {
        rider_id: format!("rider-{}", i % 100).parse().map_err(|e| bad(&e))?,
        expires_at_ms: None,
    };
    let t = Instant::now();
    handle
        .execute_update(
            CeilingWorkflow::pickup,
            rider.clone(),
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| error_kind("pickup", &e))?;
    recorder.record("pickup", t.elapsed());
    let t = Instant::now();
    handle
        .execute_update(
            CeilingWorkflow::complete,
            rider,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| error_kind("complete", &e))?;
    recorder.record("complete", t.elapsed());
    handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .map_err(|e| error_kind("result", &e))?;
    recorder.record("start_to_done", t0.elapsed());
    unfinished.0 = None;
    Ok(())
}

/// A stable error kind for the report: the gRPC code when the server answered with one.
fn error_kind(step: &str, e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(status) = c.downcast_ref::<temporalio_client::tonic::Status>() {
            return format!("{step} {:?}", status.code());
        }
        cause = c.source();
    }
    let text = e.to_string();
    format!("{step}: {}", text.chars().take(80).collect::<String>())
}

/// The workflow of a delivery that did not finish (an error, or the plan's timeout dropped it
/// half-way): terminated when this is dropped armed, so no execution is left waiting for an
/// update nobody will send on a queue nobody will poll.
struct Unfinished(Option<(Client, String, Cleanups)>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        let (Some((client, id, cleanups)), Ok(runtime)) =
            (self.0.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let terminate = runtime.spawn(async move {
            let options = WorkflowTerminateOptions::builder()
                .reason("loadgen ceiling run gave up on this delivery".to_owned())
                .build();
            let handle = client.get_workflow_handle::<CeilingWorkflow>(id);
            match handle.terminate(options).await {
                // Finished on its own after all.
                Ok(()) | Err(WorkflowInteractionError::NotFound(_)) => {}
                Err(e) => eprintln!("could not terminate an unfinished ceiling workflow: {e}"),
            }
        });
        cleanups.push(terminate);
    }
}

/// The terminations of unfinished deliveries, awaited before the run reports.
#[derive(Clone, Default)]
struct Cleanups(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Cleanups {
    fn push(&self, task: tokio::task::JoinHandle<()>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    async fn finish(&self) {
        let tasks = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .is_err()
        {
            eprintln!("some unfinished ceiling workflows may still be running");
        }
    }
}

/// The worker serving [`CeilingWorkflow`], on a thread of its own (the SDK's worker future is
/// not `Send`, and a current-thread runtime keeps it off the load driver's threads).
struct CeilingWorker {
    task_queue: String,
    /// Dropping it stops the worker too.
    stop: oneshot::Sender<()>,
    stopped: oneshot::Receiver<Result<(), CeilingError>>,
    thread: JoinHandle<()>,
}

impl CeilingWorker {
    /// Starts the worker on a fresh task queue; returns once it is registered with `server`.
    async fn start(server: &Server) -> Result<Self, CeilingError> {
        let task_queue = format!("loadgen-ceiling-{}", uuid::Uuid::new_v4().simple());
        let (ready_tx, ready) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel();
        let (stopped_tx, mut stopped) = oneshot::channel();
        let (server, queue) = (server.clone(), task_queue.clone());
        let thread = std::thread::Builder::new()
            .name("ceiling-worker".into())
            .spawn(move || {
                let result = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(serve(server, queue, ready_tx, stop_rx)),
                    Err(e) => Err(worker_err(e)),
                };
                let _ = stopped_tx.send(result);
            })
            .map_err(worker_err)?;
        if ready.await.is_err() {
            // It stopped before polling: its result says why.
            let why = match (&mut stopped).await {
                Ok(Err(e)) => e,
                _ => CeilingError::Worker("stopped before polling".into()),
            };
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            return Err(why);
        }
        Ok(Self {
            task_queue,
            stop,
            stopped,
            thread,
        })
    }

    /// Stops polling, waits for the worker to finish and its thread to end.
    async fn shutdown(self) -> Result<(), CeilingError> {
        let _ = self.stop.send(());
        let result = self
            .stopped
            .await
            .unwrap_or_else(|_| Err(CeilingError::Worker("worker thread panicked".into())));
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| CeilingError::Worker("worker thread panicked".into()))?;
        result
    }
}

/// The worker's life on its thread: register, say so on `ready`, poll until `stop` fires (or
/// its sender is dropped), then drain.
async fn serve(
    server: Server,
    task_queue: String,
    ready: oneshot::Sender<()>,
    stop: oneshot::Receiver<()>,
) -> Result<(), CeilingError> {
    let runtime = Runtime::from_current_tokio(Default::default()).map_err(worker_err)?;
    let client = server.connect().await?;
    let options = WorkerOptions::new(task_queue.as_str())
        // Polled like our own worker, so the comparison measures the server, not the poller.
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(
            workflows::names::WORKFLOW_TASK_POLLS,
        ))
        .nonsticky_to_sticky_poll_ratio(workflows::names::SHARED_QUEUE_POLL_RATIO)
        .register_workflow::<CeilingWorkflow>()
        .map_err(worker_err)?
        .build();
    let mut worker = Worker::new(&runtime, client, options).map_err(worker_err)?;
    let shutdown = worker.shutdown_handle();
    let _ = ready.send(());
    let run = worker.run();
    futures::pin_mut!(run);
    let result = match futures::future::select(run, stop).await {
        futures::future::Either::Left((result, _)) => result,
        futures::future::Either::Right((_, run)) => {
            shutdown();
            // Bounded: a drain that hangs must not hang the report.
            tokio::time::timeout(Duration::from_secs(30), run)
                .await
                .map_err(|_| CeilingError::Worker("did not stop within 30 s".into()))?
        }
    };
    result.map_err(worker_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_only_advance_from_the_stage_before_them() {
        let mut w = CeilingWorkflow {
            stage: Stage::Called,
        };
        assert!(w.expect(Stage::Picked, "complete").is_err());
        assert!(w.expect(Stage::Called, "pickup").is_ok());
        w.stage = Stage::Picked;
        assert!(w.expect(Stage::Called, "pickup").is_err());
        assert!(w.expect(Stage::Picked, "complete").is_ok());
    }

    #[test]
    fn an_rpc_error_is_reported_by_its_code() {
        let status = temporalio_client::tonic::Status::unavailable("connection refused to x");
        let e = temporalio_client::errors::WorkflowStartError::Rpc(status);
        assert_eq!(error_kind("start", &e), "start Unavailable");
    }
}

//! The workflows, as Temporal sees them: listed a page at a time, looked up by id, and the
//! namespace's retention of closed runs.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use temporalio_client::{
    Client, NamespacedClient, WorkflowDescribeOptions, WorkflowExecutionStatus,
    errors::WorkflowInteractionError, grpc::WorkflowService, tonic::IntoRequest,
};
use temporalio_common::{
    protos::temporal::api::{
        enums::v1::WorkflowExecutionStatus as ProtoStatus,
        workflow::v1::WorkflowExecutionInfo,
        workflowservice::v1::{DescribeNamespaceRequest, ListWorkflowExecutionsRequest},
    },
    search_attributes::SearchAttributes,
};
use workflows::{DeliveryWorkflow, names};

use crate::{CheckError, records::BATCH, window::Window};

/// Ids per visibility lookup (`WorkflowId IN (…)`): keeps each query string short.
const LOOKUP: usize = 100;

/// One delivery as its workflow reports it.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowRecord {
    pub delivery_id: String,
    pub execution: WorkflowExecutionStatus,
    /// The `DeliveryStatus` search attribute.
    pub status: Option<String>,
    pub task_queue: String,
    pub close_time: Option<DateTime<Utc>>,
}

/// The client, and the query that selects our deliveries.
pub(crate) struct Temporal {
    client: Client,
    task_queue: String,
}

fn time(seconds: i64, nanos: i32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
}

impl Temporal {
    pub(crate) fn new(client: Client, task_queue: &str) -> Self {
        Self {
            client,
            task_queue: task_queue.to_owned(),
        }
    }

    /// The visibility query for the deliveries of `window` on our task queue: every one, or
    /// the running ones and those closed in the window.
    pub(crate) fn query(&self, window: &Window) -> String {
        let mut query = format!(
            "WorkflowType = 'DeliveryWorkflow' AND TaskQueue = '{}'",
            self.task_queue
        );
        if let Some(start) = window.start() {
            // Whole seconds, rounded down: the window only grows.
            query.push_str(&format!(
                " AND (ExecutionStatus = 'Running' OR CloseTime >= '{}')",
                start.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
        query
    }

    /// Whether the run's listing (`query(window)`) includes `wf`.
    pub(crate) fn listed_in(&self, wf: &WorkflowRecord, window: &Window) -> bool {
        wf.task_queue == self.task_queue
            && (wf.execution == WorkflowExecutionStatus::Running
                || match window.start() {
                    None => true,
                    // The listing compares whole seconds, rounded down.
                    Some(start) => wf
                        .close_time
                        .is_some_and(|closed| closed.timestamp() >= start.timestamp()),
                })
    }

    /// One page (at most [`BATCH`]) of the workflows `query` selects, and the token of the
    /// next page (empty after the last).
    pub(crate) async fn page(
        &self,
        query: &str,
        token: Vec<u8>,
    ) -> Result<(Vec<WorkflowRecord>, Vec<u8>), CheckError> {
        let request = ListWorkflowExecutionsRequest {
            namespace: self.client.namespace(),
            page_size: BATCH as i32,
            next_page_token: token,
            query: query.to_owned(),
        };
        let response = WorkflowService::list_workflow_executions(
            &mut self.client.clone(),
            request.into_request(),
        )
        .await
        .map_err(|e| CheckError::List(e.message().to_owned()))?
        .into_inner();
        let records = response.executions.iter().filter_map(record_of).collect();
        Ok((records, response.next_page_token))
    }

    /// The workflows of `ids` that visibility knows, by delivery id.
    pub(crate) async fn lookup(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, WorkflowRecord>, CheckError> {
        let mut found = HashMap::new();
        // An id outside the grammar cannot be quoted safely; describe finds it instead.
        let quotable: Vec<&String> = ids
            .iter()
            .filter(|id| !id.contains(['\'', '"', '\\']))
            .collect();
        for chunk in quotable.chunks(LOOKUP) {
            let ids = chunk
                .iter()
                .map(|id| format!("'{}'", names::workflow_id(id)))
                .collect::<Vec<_>>()
                .join(", ");
            let query = format!("WorkflowType = 'DeliveryWorkflow' AND WorkflowId IN ({ids})");
            let mut token = Vec::new();
            loop {
                let (records, next) = self.page(&query, token).await?;
                for wf in records {
                    // Several runs of one id: keep the newest (listed first).
                    found.entry(wf.delivery_id.clone()).or_insert(wf);
                }
                if next.is_empty() {
                    break;
                }
                token = next;
            }
        }
        Ok(found)
    }

    /// The workflow of `delivery_id` from Temporal's own records rather than visibility;
    /// `None` when Temporal has none (never started, or deleted after its retention).
    pub(crate) async fn describe(
        &self,
        delivery_id: &str,
    ) -> Result<Option<WorkflowRecord>, CheckError> {
        let handle = self
            .client
            .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(delivery_id));
        match handle.describe(WorkflowDescribeOptions::default()).await {
            Ok(description) => Ok(description
                .raw()
                .workflow_execution_info
                .as_ref()
                .and_then(record_of)),
            Err(WorkflowInteractionError::NotFound(_)) => Ok(None),
            Err(e) => Err(CheckError::List(format!("describing {delivery_id}: {e}"))),
        }
    }

    /// How long the namespace keeps closed runs before deleting them.
    pub(crate) async fn retention(&self) -> Result<Duration, CheckError> {
        let request = DescribeNamespaceRequest {
            namespace: self.client.namespace(),
            ..Default::default()
        };
        let response =
            WorkflowService::describe_namespace(&mut self.client.clone(), request.into_request())
                .await
                .map_err(|e| {
                    CheckError::Retention(format!(
                        "{} (set DELIVERY_CHECK_RETENTION instead)",
                        e.message()
                    ))
                })?
                .into_inner();
        response
            .config
            .and_then(|c| c.workflow_execution_retention_ttl)
            .map(|ttl| {
                Duration::new(
                    u64::try_from(ttl.seconds).unwrap_or(0),
                    u32::try_from(ttl.nanos).unwrap_or(0),
                )
            })
            .ok_or_else(|| {
                CheckError::Retention(
                    "the namespace states no retention (set DELIVERY_CHECK_RETENTION)".into(),
                )
            })
    }
}

fn record_of(info: &WorkflowExecutionInfo) -> Option<WorkflowRecord> {
    let id = &info.execution.as_ref()?.workflow_id;
    let delivery_id = id.strip_prefix("delivery-")?;
    Some(WorkflowRecord {
        delivery_id: delivery_id.to_owned(),
        execution: ProtoStatus::try_from(info.status)
            .map_or(WorkflowExecutionStatus::Unspecified, Into::into),
        status: info
            .search_attributes
            .as_ref()
            .map(SearchAttributes::from_proto)
            .and_then(|attributes| attributes.get(&names::DELIVERY_STATUS)),
        task_queue: info.task_queue.clone(),
        close_time: info
            .close_time
            .as_ref()
            .and_then(|t| time(t.seconds, t.nanos)),
    })
}

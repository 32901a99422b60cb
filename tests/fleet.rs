//! A fleet of simulated riders racing for calls, and the checks that none of them ever held
//! more deliveries than its capacity: by the operators' fleet view while they work, and by the
//! deliveries' own timelines afterwards.

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::{ApiClient, Stack, view_when};

/// Signs in riders `rider-0` … `rider-{count-1}`, online with `capacity` each.
pub async fn riders_online(stack: &Stack, count: usize, capacity: usize) -> Vec<ApiClient> {
    let mut riders = Vec::new();
    for i in 0..count {
        let rider = stack
            .signed_in(identity::Role::Rider, &format!("rider-{i}"))
            .await;
        let (status, body) = rider
            .put(
                "/rider/availability",
                json!({"online": true, "capacity": capacity}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        riders.push(rider);
    }
    riders
}

/// Waits for the riders' `tasks`, checking meanwhile that the fleet view (`GET /ops/riders`
/// as `operator`) never shows a rider holding more than `capacity`.
pub async fn watch_capacity(operator: &ApiClient, tasks: Vec<JoinHandle<()>>, capacity: usize) {
    while !tasks.iter().all(JoinHandle::is_finished) {
        let (_, fleet) = operator.get("/ops/riders").await;
        for rider in fleet.as_array().expect("fleet") {
            let active = rider["active"].as_array().map_or(0, Vec::len);
            assert!(active <= capacity, "over capacity: {rider}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        task.await.expect("rider");
    }
}

/// Waits until every delivery of `ids` is settled and checks, from their timelines, that no
/// rider ever held more than `capacity` at once, counting from the timeline's `held_from`
/// (`assignedAt` or `pickedAt`) to `completedAt`. Returns the settled views.
pub async fn assert_timelines_within_capacity(
    operator: &ApiClient,
    ids: &[String],
    held_from: &str,
    capacity: usize,
) -> Vec<Value> {
    let time = |v: &Value| -> chrono::DateTime<chrono::Utc> {
        v.as_str().and_then(|t| t.parse().ok()).expect("a time")
    };
    let mut spans: HashMap<String, Vec<_>> = HashMap::new();
    let mut views = Vec::new();
    for id in ids {
        let view = view_when(operator, id, "the settlement", |v| {
            v["payment"]["status"] == "Settled"
        })
        .await;
        let timeline = &view["timeline"];
        spans
            .entry(view["riderId"].as_str().expect("rider").to_owned())
            .or_default()
            .push((time(&timeline[held_from]), time(&timeline["completedAt"])));
        views.push(view);
    }
    for (rider, spans) in spans {
        for (start, _) in &spans {
            let holding = spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count();
            assert!(holding <= capacity, "{rider} held {holding} at {start}");
        }
    }
    views
}

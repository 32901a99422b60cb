//! Reading a delivery never asks its workflow: `GET /deliveries/{id}` answers from the view
//! the workflow stores beside the delivery list, whole, consistent with the caller's own
//! writes, and the same with no worker running at all.

use std::time::Duration;

use e2e::{Stack, StackOptions, eventually};
use identity::Role;
use serde_json::{Value, json};

/// `GET /deliveries/{id}`'s answer, checking it is the workflow's own view (no
/// `x-delivery-source`: not the delivery list's lossy stand-in).
async fn read(client: &e2e::ApiClient, id: &str) -> Value {
    let response = client
        .request(reqwest::Method::GET, &format!("/deliveries/{id}"))
        .send()
        .await
        .expect("GET the delivery");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers().get("x-delivery-source"),
        None,
        "the whole view, not a stand-in"
    );
    response.json().await.expect("a view")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_shows_the_callers_own_writes_at_once_and_needs_no_worker() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-reads").await;

    // Each write, then a read straight after it: the read shows the write, every time.
    let mut finished = Vec::new();
    for round in 0..5 {
        let id = restaurant.call_rider(9000 + round).await;
        let called = read(&restaurant, &id).await;
        assert_eq!(called["status"], "Called", "{called}");
        assert_eq!(called["payment"]["status"], "Registered");
        assert!(called["timeline"]["calledAt"].is_string(), "{called}");

        let (status, picked) = rider
            .post(&format!("/deliveries/{id}/pickup"), json!({}))
            .await;
        assert_eq!(status, 200, "{picked}");
        let read_back = read(&rider, &id).await;
        assert_eq!(read_back["status"], "Picked", "{read_back}");
        assert_eq!(read_back["riderId"], "rider-reads");
        assert_eq!(read_back["assignments"], picked["assignments"]);

        let (status, completed) = rider
            .post(&format!("/deliveries/{id}/complete"), json!({}))
            .await;
        assert_eq!(status, 200, "{completed}");
        let read_back = read(&restaurant, &id).await;
        assert_eq!(read_back["status"], "Completed", "{read_back}");
        assert_eq!(
            read_back["timeline"]["completedAt"],
            completed["timeline"]["completedAt"]
        );
        finished.push(id);
    }
    let open = restaurant.call_rider(7000).await;
    let cancelled = restaurant.call_rider(6000).await;
    let (status, _) = restaurant
        .post(
            &format!("/deliveries/{cancelled}/cancel"),
            json!({"reason": "kitchen closed"}),
        )
        .await;
    assert_eq!(status, 200);
    // Settling comes after the completion's answer: wait for it before the worker goes.
    let last = finished.last().expect("deliveries").clone();
    eventually(
        "the last payment to settle",
        Duration::from_secs(10),
        || async {
            let view = read(&restaurant, &last).await;
            (view["payment"]["status"] == "Settled").then_some(())
        },
    )
    .await;
    let before: Vec<Value> = futures::future::join_all(
        finished
            .iter()
            .chain([&open, &cancelled])
            .map(|id| read(&restaurant, id)),
    )
    .await;

    // No worker at all: every delivery reads the same, whole (a query would find no worker
    // and the API would answer the delivery list's stand-in instead).
    stack.stop_worker();
    for (id, before) in finished.iter().chain([&open, &cancelled]).zip(&before) {
        let now = read(&restaurant, id).await;
        assert_eq!(
            &now, before,
            "delivery {id} reads the same without a worker"
        );
    }
    let open_view = read(&restaurant, &open).await;
    assert_eq!(open_view["status"], "Called");
    let cancelled_view = read(&restaurant, &cancelled).await;
    assert_eq!(cancelled_view["status"], "Cancelled");
    assert_eq!(cancelled_view["cancelReason"], "kitchen closed");
    assert_eq!(cancelled_view["payment"]["status"], "Voided");
    let done = read(&restaurant, &finished[0]).await;
    assert_eq!(done["payment"]["status"], "Settled");
    assert!(done["settled"].is_number(), "{done}");
    // Another restaurant still does not see it.
    let other = stack.signed_in(Role::Restaurant, "r-2").await;
    let (status, _) = other.get(&format!("/deliveries/{open}")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_held_past_its_deadline_reads_overdue_without_a_write() {
    let mut stack = Stack::start(StackOptions {
        completion_deadline_secs: Some(2),
        ..StackOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-late").await;
    let id = restaurant.call_rider(5000).await;
    let (status, _) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(read(&restaurant, &id).await["overdue"], false);
    // The workflow flags it on its timer; the read derives it from the stored deadline, so
    // it shows even while no worker runs.
    stack.stop_worker();
    eventually(
        "the delivery to read overdue",
        Duration::from_secs(10),
        || async {
            let view = read(&restaurant, &id).await;
            (view["overdue"] == true && view["status"] == "Picked").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickups_of_a_call_still_registering_are_refused_without_a_worker() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-early").await;

    // No worker runs the workflow, so nobody registers the fee: the call is answered 202,
    // and its pickups are refused at once as not open yet (an update would find no worker:
    // 503), however often they come.
    stack.stop_worker();
    let (status, called) = restaurant
        .post(
            "/deliveries",
            json!({"destination": "Seoul, Mapo-gu 3", "cost": 4500}),
        )
        .await;
    assert_eq!(status, 202, "{called}");
    let pending = called["deliveryId"]
        .as_str()
        .expect("deliveryId")
        .to_owned();
    for _ in 0..20 {
        let (status, refused) = rider
            .post(&format!("/deliveries/{pending}/pickup"), json!({}))
            .await;
        assert_eq!(status, 409, "{refused}");
        assert_eq!(refused["code"], "wrong_state");
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.contains("not open yet")),
            "{refused}"
        );
    }
    // Unknown is still unknown.
    let (status, _) = rider
        .post("/deliveries/no-such-delivery/pickup", json!({}))
        .await;
    assert_eq!(status, 404);

    // Once a worker runs, the call opens and the same rider takes it.
    stack.start_worker(worker::Role::ALL.to_vec());
    let view = eventually("the call to open", Duration::from_secs(30), || async {
        let (status, view) = rider
            .post(&format!("/deliveries/{pending}/pickup"), json!({}))
            .await;
        (status == 200).then_some(view)
    })
    .await;
    assert_eq!(view["riderId"], "rider-early");
}

//! What operators and careful clients rely on: health, the OpenAPI document, bounded waits
//! when workers are down, and idempotent calls.

use std::time::{Duration, Instant};

use e2e::{Stack, StackOptions, eventually};
use identity::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_the_openapi_document_answer() {
    let stack = Stack::start(StackOptions::default()).await;
    assert_eq!(stack.get("/healthz").await.0, 200);
    let (status, ready) = stack.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");

    let (status, doc) = stack.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{doc}"
    );
    for path in [
        "/deliveries",
        "/deliveries/{delivery_id}",
        "/deliveries/{delivery_id}/cancel",
        "/deliveries/{delivery_id}/pickup",
        "/deliveries/{delivery_id}/complete",
        "/rider/calls",
        "/delivery-list",
        "/delivery-list/{delivery_id}",
        "/payments/{delivery_id}",
        "/ops/summary",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(
        doc["paths"]["/deliveries/{delivery_id}/complete"]["post"]["responses"]["403"].is_object()
    );
    // Every operation of the delivery API documents its answer to a caller without a token.
    for (path, method) in [
        ("/deliveries", "post"),
        ("/deliveries/{delivery_id}", "get"),
        ("/deliveries/{delivery_id}/cancel", "post"),
        ("/deliveries/{delivery_id}/pickup", "post"),
        ("/deliveries/{delivery_id}/complete", "post"),
        ("/rider/calls", "get"),
        ("/delivery-list", "get"),
        ("/delivery-list/{delivery_id}", "get"),
        ("/payments/{delivery_id}", "get"),
        ("/ops/summary", "get"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["401"].is_object(),
            "{method} {path} documents 401"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_worker_down_updates_answer_503_and_reads_fall_back_to_the_list() {
    let mut stack = Stack::start(StackOptions {
        update_wait: Duration::from_secs(2),
        query_timeout: Duration::from_secs(1),
        ..StackOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider_1 = stack.signed_in(Role::Rider, "rider-1").await;
    let rider_2 = stack.signed_in(Role::Rider, "rider-2").await;
    let id = restaurant.call_rider(11000).await;
    eventually(
        "the list to show the call",
        Duration::from_secs(10),
        || async {
            let (status, _) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (status == 200).then_some(())
        },
    )
    .await;
    stack.stop_worker();

    let started = Instant::now();
    let response = rider_1
        .request(reqwest::Method::POST, &format!("/deliveries/{id}/pickup"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "worker_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "bounded wait, took {:?}",
        started.elapsed()
    );

    let response = restaurant
        .request(reqwest::Method::GET, &format!("/deliveries/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // The view the workflow stored (reads never need a worker), whole: not a stand-in.
    assert_eq!(response.headers().get("x-delivery-source"), None);
    let view: serde_json::Value = response.json().await.unwrap();
    assert_eq!(view["status"], "Called");
    assert_eq!(view["payment"]["status"], "Registered");
    assert!(view["timeline"]["calledAt"].is_string(), "{view}");

    // Once a worker is back, the delivery carries on where it was: the refused pickup stayed
    // refused (it expired while no worker ran), so rider 2 gets it when retrying.
    stack.start_worker(worker::Role::ALL.to_vec());
    let live = eventually(
        "a retried pickup to succeed",
        Duration::from_secs(30),
        || async {
            let (status, live) = rider_2
                .post(&format!("/deliveries/{id}/pickup"), json!({}))
                .await;
            assert!(
                matches!(status, 200 | 503),
                "only 503 until the worker answers: {status} {live}"
            );
            (status == 200).then_some(live)
        },
    )
    .await;
    assert_eq!(live["riderId"], "rider-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_gives_the_same_delivery_and_a_different_body_is_refused() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-5").await;
    let body = json!({"destination": "Daegu", "cost": 4000});
    let send = |body: serde_json::Value| {
        let request = restaurant
            .request(reqwest::Method::POST, "/deliveries")
            .header("Idempotency-Key", "order-77")
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let answers = futures::future::join_all((0..10).map(|_| send(body.clone()))).await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|(_, b)| b["deliveryId"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "one delivery: {answers:?}");
    assert!(
        answers.iter().all(|(status, _)| *status == 201),
        "{answers:?}"
    );

    let (status, refused) = send(json!({"destination": "Daegu", "cost": 5000})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "idempotency_key_reused");
    eventually("one row in the list", Duration::from_secs(5), || async {
        let (_, list) = restaurant.get("/delivery-list").await;
        (list["items"].as_array()?.len() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_delivery_list_answers_503_and_leaves_calls_and_readiness_alone() {
    use sea_orm::ConnectionTrait as _;
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let list = sea_orm::Database::connect(&stack.readmodel_database_url)
        .await
        .expect("open the delivery list");
    list.execute_unprepared("ALTER TABLE delivery_list RENAME TO delivery_list_away")
        .await
        .expect("take the delivery list away");

    let response = restaurant
        .request(reqwest::Method::GET, "/delivery-list")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "dependency_unavailable", "{body}");
    let (status, ready) = stack.get("/readyz").await;
    assert_eq!(status, 200, "readiness needs Temporal only: {ready}");
    // Calling needs the payment service and Temporal, not the list.
    let id = restaurant.call_rider(12000).await;

    list.execute_unprepared("ALTER TABLE delivery_list_away RENAME TO delivery_list")
        .await
        .expect("bring the delivery list back");
    eventually(
        "the list to show the call made meanwhile",
        Duration::from_secs(30),
        || async {
            let (status, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (status == 200 && row["status"] == "Called").then_some(())
        },
    )
    .await;
}

//! Bad requests get the contract's 4xx JSON error and change nothing.

use e2e::{Stack, StackOptions};
use futures::StreamExt;
use serde_json::{Value, json};
use temporalio_client::WorkflowListOptions;

/// One bad request and what the contract says about it.
struct Case {
    method: &'static str,
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

enum Body {
    None,
    Raw(String),
    Json(Value),
}

fn case(
    method: &'static str,
    path: impl Into<String>,
    body: Body,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        status,
        code,
        field,
    }
}

fn call(fields: Value) -> Body {
    let mut body = json!({"restaurantId": "r-1", "destination": "Seoul", "cost": 20000});
    for (k, v) in fields.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    Body::Json(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_clear_4xx_and_writes_nothing() {
    let stack = Stack::start(StackOptions::default()).await;
    // One real delivery, for the wrong-state and wrong-rider rows.
    let id = stack.call_rider("r-ok", 10000).await;
    let long = "x".repeat(257);
    let unknown = "00000000-0000-0000-0000-000000000000";

    let invalid = |field: &'static str, fields: Value| {
        case(
            "POST",
            "/deliveries",
            call(fields),
            422,
            "validation_failed",
            Some(field),
        )
    };
    let cases = vec![
        case(
            "POST",
            "/deliveries",
            Body::Raw("{".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            "POST",
            "/deliveries",
            Body::Raw("[1, 2]".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            "POST",
            "/deliveries",
            Body::Raw(String::new()),
            400,
            "malformed_json",
            None,
        ),
        case(
            "POST",
            "/deliveries",
            Body::Raw("x".repeat(20_000)),
            413,
            "payload_too_large",
            None,
        ),
        invalid("restaurantId", json!({"restaurantId": null})),
        invalid("restaurantId", json!({"restaurantId": ""})),
        invalid("restaurantId", json!({"restaurantId": "   "})),
        invalid("restaurantId", json!({"restaurantId": 42})),
        invalid("restaurantId", json!({"restaurantId": long})),
        invalid("destination", json!({"destination": null})),
        invalid("destination", json!({"destination": ""})),
        invalid("destination", json!({"destination": long})),
        invalid("cost", json!({"cost": null})),
        invalid("cost", json!({"cost": 0})),
        invalid("cost", json!({"cost": -100})),
        invalid("cost", json!({"cost": 1_000_001})),
        invalid("cost", json!({"cost": 1500.5})),
        invalid("cost", json!({"cost": "20000"})),
        invalid("customerId", json!({"customerId": long})),
        invalid("customerId", json!({"customerId": ""})),
        case(
            "POST",
            format!("/deliveries/{unknown}/pickup"),
            Body::Json(json!({"riderId": "rider-1"})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            "POST",
            format!("/deliveries/{unknown}/complete"),
            Body::Json(json!({"riderId": "rider-1"})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            "POST",
            format!("/deliveries/{unknown}/cancel"),
            Body::Json(json!({})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            "POST",
            "/deliveries/not%20an%20id/pickup",
            Body::Json(json!({"riderId": "rider-1"})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Json(json!({})),
            422,
            "validation_failed",
            Some("riderId"),
        ),
        case(
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Json(json!({"riderId": ""})),
            422,
            "validation_failed",
            Some("riderId"),
        ),
        case(
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Json(json!({"riderId": long})),
            422,
            "validation_failed",
            Some("riderId"),
        ),
        case(
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Raw("{nope".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            "POST",
            format!("/deliveries/{id}/cancel"),
            Body::Json(json!({"reason": long})),
            422,
            "validation_failed",
            Some("reason"),
        ),
        case(
            "POST",
            format!("/deliveries/{id}/complete"),
            Body::Json(json!({"riderId": "rider-1"})),
            409,
            "wrong_state",
            None,
        ),
        case(
            "GET",
            format!("/deliveries/{unknown}"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            "GET",
            format!("/delivery-list/{unknown}"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            "GET",
            format!("/payments/{unknown}"),
            Body::None,
            404,
            "payment_not_found",
            None,
        ),
        case(
            "GET",
            "/delivery-list?status=Lost",
            Body::None,
            422,
            "validation_failed",
            Some("status"),
        ),
        case(
            "GET",
            "/delivery-list?limit=0",
            Body::None,
            422,
            "validation_failed",
            Some("limit"),
        ),
        case(
            "GET",
            "/delivery-list?limit=lots",
            Body::None,
            422,
            "validation_failed",
            Some("limit"),
        ),
        case(
            "GET",
            format!("/delivery-list?restaurantId={long}"),
            Body::None,
            422,
            "validation_failed",
            Some("restaurantId"),
        ),
        case(
            "GET",
            "/riders/bad%20rider/calls",
            Body::None,
            422,
            "validation_failed",
            Some("riderId"),
        ),
        case("GET", "/no/such/route", Body::None, 404, "not_found", None),
    ];

    for c in &cases {
        let request = match c.method {
            "GET" => stack.http.get(stack.url(&c.path)),
            _ => stack.http.post(stack.url(&c.path)),
        };
        let request = match &c.body {
            Body::None => request,
            Body::Raw(raw) => request
                .header("content-type", "application/json")
                .body(raw.clone()),
            Body::Json(json) => request.json(json),
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let label = format!(
            "{} {} {}",
            c.method,
            c.path.chars().take(80).collect::<String>(),
            match &c.body {
                Body::Json(j) => j.to_string().chars().take(80).collect(),
                Body::Raw(r) => r.chars().take(20).collect(),
                Body::None => String::new(),
            }
        );
        assert_eq!(status, c.status, "{label}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{label}: content-type {content_type}"
        );
        assert_eq!(body["code"], c.code, "{label}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{label}: {body}"
        );
        if let Some(field) = c.field {
            assert_eq!(body["field"], field, "{label}: {body}");
        }
    }

    // An over-long Idempotency-Key is refused like any other bad field.
    let response = stack
        .http
        .post(stack.url("/deliveries"))
        .header("Idempotency-Key", "k".repeat(300))
        .json(&json!({"restaurantId": "r-1", "destination": "Seoul", "cost": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);

    // Nothing was written: one workflow, one row, one payment, and that delivery untouched.
    let query = format!("TaskQueue = '{}'", stack.task_queue);
    let started: Vec<_> = stack
        .temporal
        .list_workflows(query, WorkflowListOptions::builder().limit(100).build())
        .collect()
        .await;
    assert_eq!(started.len(), 1, "only the valid call started a workflow");
    let (_, list) = stack.get("/delivery-list").await;
    let rows = list.as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["deliveryId"] == id.as_str()),
        "{list}"
    );
    let (_, live) = stack.get(&format!("/deliveries/{id}")).await;
    assert_eq!(live["status"], "Called");
    assert!(live["riderId"].is_null());
    assert_eq!(live["payment"]["status"], "Registered");
}

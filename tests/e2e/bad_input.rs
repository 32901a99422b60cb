//! Bad requests get the contract's 4xx JSON error and change nothing: malformed or invalid
//! bodies and filters, unknown deliveries, wrong states, and requests without a (valid)
//! bearer token or from a role that may not make them.

use e2e::{ApiClient, Stack, StackOptions};
use futures::StreamExt;
use identity::Role;
use serde_json::{Value, json};
use temporalio_client::WorkflowListOptions;

/// Who sends a request of the table.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// Restaurant `r-ok`, whose delivery the wrong-state rows use.
    Restaurant,
    /// Rider `rider-1`.
    Rider,
    /// Operator `ops-bad`.
    Operator,
    /// No `Authorization` header.
    Nobody,
    /// `Authorization: Bearer not-a-jwt`.
    BadToken,
}

/// One bad request and what the contract says about it.
struct Case {
    who: Who,
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
    who: Who,
    method: &'static str,
    path: impl Into<String>,
    body: Body,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        who,
        method,
        path: path.into(),
        body,
        status,
        code,
        field,
    }
}

/// A valid call body with `fields` changed (`null` removes one).
fn call(fields: Value) -> Body {
    let mut body = json!({"destination": "Seoul", "cost": 20000});
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
    use Who::{BadToken, Nobody, Operator, Restaurant, Rider};
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-ok").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "ops-bad").await;
    let client = |who: Who| -> ApiClient {
        match who {
            Restaurant => restaurant.clone(),
            Rider => rider.clone(),
            Operator => operator.clone(),
            Nobody => stack.api_client.clone(),
            BadToken => stack.with_token("not-a-jwt"),
        }
    };
    // One real delivery, for the wrong-state rows.
    let id = restaurant.call_rider(10000).await;
    let long = "x".repeat(257);
    let unknown = "00000000-0000-0000-0000-000000000000";

    let invalid = |field: &'static str, fields: Value| {
        case(
            Restaurant,
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
            Restaurant,
            "POST",
            "/deliveries",
            Body::Raw("{".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            Restaurant,
            "POST",
            "/deliveries",
            Body::Raw("[1, 2]".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            Restaurant,
            "POST",
            "/deliveries",
            Body::Raw(String::new()),
            400,
            "malformed_json",
            None,
        ),
        case(
            Restaurant,
            "POST",
            "/deliveries",
            Body::Raw("x".repeat(20_000)),
            413,
            "payload_too_large",
            None,
        ),
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
        // Signed in or not: no token, a token that is not one, the wrong role.
        case(
            Nobody,
            "POST",
            "/deliveries",
            call(json!({})),
            401,
            "unauthorized",
            None,
        ),
        case(
            BadToken,
            "POST",
            "/deliveries",
            call(json!({})),
            401,
            "unauthorized",
            None,
        ),
        case(
            Rider,
            "POST",
            "/deliveries",
            call(json!({})),
            403,
            "forbidden",
            None,
        ),
        case(
            Operator,
            "POST",
            "/deliveries",
            call(json!({})),
            403,
            "forbidden",
            None,
        ),
        case(
            Nobody,
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Json(json!({})),
            401,
            "unauthorized",
            None,
        ),
        case(
            Restaurant,
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::None,
            403,
            "forbidden",
            None,
        ),
        case(
            Operator,
            "POST",
            format!("/deliveries/{id}/complete"),
            Body::Json(json!({})),
            403,
            "forbidden",
            None,
        ),
        case(
            Rider,
            "POST",
            format!("/deliveries/{id}/cancel"),
            Body::Json(json!({})),
            403,
            "forbidden",
            None,
        ),
        case(
            Nobody,
            "POST",
            format!("/deliveries/{id}/cancel"),
            Body::None,
            401,
            "unauthorized",
            None,
        ),
        case(
            Nobody,
            "GET",
            format!("/deliveries/{id}"),
            Body::None,
            401,
            "unauthorized",
            None,
        ),
        case(
            Nobody,
            "GET",
            "/delivery-list",
            Body::None,
            401,
            "unauthorized",
            None,
        ),
        case(
            Nobody,
            "GET",
            "/rider/calls",
            Body::None,
            401,
            "unauthorized",
            None,
        ),
        case(
            Restaurant,
            "GET",
            "/rider/calls",
            Body::None,
            403,
            "forbidden",
            None,
        ),
        case(
            Rider,
            "GET",
            format!("/payments/{id}"),
            Body::None,
            403,
            "forbidden",
            None,
        ),
        case(
            Restaurant,
            "GET",
            "/ops/summary",
            Body::None,
            403,
            "forbidden",
            None,
        ),
        // Unknown deliveries.
        case(
            Rider,
            "POST",
            format!("/deliveries/{unknown}/pickup"),
            Body::Json(json!({})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Rider,
            "POST",
            format!("/deliveries/{unknown}/complete"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Restaurant,
            "POST",
            format!("/deliveries/{unknown}/cancel"),
            Body::Json(json!({})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Operator,
            "POST",
            format!("/deliveries/{unknown}/cancel"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Rider,
            "POST",
            "/deliveries/not%20an%20id/pickup",
            Body::Json(json!({})),
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Rider,
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Raw("{nope".into()),
            400,
            "malformed_json",
            None,
        ),
        // Found by the fuzzer: serde reads a field-less struct from `[]` too.
        case(
            Rider,
            "POST",
            format!("/deliveries/{id}/pickup"),
            Body::Raw("[]".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            Restaurant,
            "POST",
            format!("/deliveries/{id}/cancel"),
            Body::Raw("[\"changed my mind\"]".into()),
            400,
            "malformed_json",
            None,
        ),
        case(
            Restaurant,
            "POST",
            format!("/deliveries/{id}/cancel"),
            Body::Json(json!({"reason": long})),
            422,
            "validation_failed",
            Some("reason"),
        ),
        case(
            Rider,
            "POST",
            format!("/deliveries/{id}/complete"),
            Body::Json(json!({})),
            409,
            "wrong_state",
            None,
        ),
        case(
            Operator,
            "GET",
            format!("/deliveries/{unknown}"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Restaurant,
            "GET",
            format!("/deliveries/{unknown}"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Operator,
            "GET",
            format!("/delivery-list/{unknown}"),
            Body::None,
            404,
            "delivery_not_found",
            None,
        ),
        case(
            Operator,
            "GET",
            format!("/payments/{unknown}"),
            Body::None,
            404,
            "payment_not_found",
            None,
        ),
        case(
            Restaurant,
            "GET",
            format!("/payments/{unknown}"),
            Body::None,
            404,
            "payment_not_found",
            None,
        ),
        case(
            Operator,
            "GET",
            "/delivery-list?status=Lost",
            Body::None,
            422,
            "validation_failed",
            Some("status"),
        ),
        case(
            Restaurant,
            "GET",
            "/delivery-list?limit=0",
            Body::None,
            422,
            "validation_failed",
            Some("limit"),
        ),
        case(
            Operator,
            "GET",
            "/delivery-list?limit=lots",
            Body::None,
            422,
            "validation_failed",
            Some("limit"),
        ),
        case(
            Operator,
            "GET",
            format!("/delivery-list?restaurantId={long}"),
            Body::None,
            422,
            "validation_failed",
            Some("restaurantId"),
        ),
        case(
            Operator,
            "GET",
            "/delivery-list?riderId=bad%20rider",
            Body::None,
            422,
            "validation_failed",
            Some("riderId"),
        ),
        case(
            Operator,
            "GET",
            "/no/such/route",
            Body::None,
            404,
            "not_found",
            None,
        ),
    ];

    for c in &cases {
        let method = match c.method {
            "GET" => reqwest::Method::GET,
            _ => reqwest::Method::POST,
        };
        let request = client(c.who).request(method, &c.path);
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
            "{:?} {} {} {}",
            c.who,
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
    let response = restaurant
        .request(reqwest::Method::POST, "/deliveries")
        .header("Idempotency-Key", "k".repeat(300))
        .json(&json!({"destination": "Seoul", "cost": 100}))
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
    let (_, list) = operator.get("/delivery-list").await;
    let rows = list.as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["deliveryId"] == id.as_str()),
        "{list}"
    );
    let (_, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(live["status"], "Called");
    assert!(live["riderId"].is_null());
    assert_eq!(live["payment"]["status"], "Registered");
}

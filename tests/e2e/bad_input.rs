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
    let rows = list["items"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["deliveryId"] == id.as_str()),
        "{list}"
    );
    let (_, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(live["status"], "Called");
    assert!(live["riderId"].is_null());
    assert_eq!(live["payment"]["status"], "Registered");
}

/// Text no field may hold, by what makes it poison: each is `a`, the code point, `b`.
const POISON: &[(&str, char)] = &[
    ("NUL", '\u{0}'),
    ("right-to-left override", '\u{202e}'),
    ("left-to-right isolate", '\u{2066}'),
    ("zero-width space", '\u{200b}'),
    ("private use", '\u{e000}'),
    ("private use, plane 15", '\u{f0000}'),
    ("unassigned", '\u{378}'),
    ("noncharacter", '\u{fffe}'),
];

/// What a poison run needs of a stack, whichever database it runs on.
struct Target<'a> {
    database: &'static str,
    /// The API, signed in as nobody.
    api: &'a ApiClient,
    temporal: &'a temporalio_client::Client,
    task_queue: &'a str,
    readmodel_database_url: &'a str,
    checker: checker::Settings,
}

/// The contract's answer to a request, checked; `field` too when given.
async fn expect_refusal(
    label: &str,
    request: reqwest::RequestBuilder,
    status: u16,
    code: &str,
    field: Option<&str>,
) {
    let response = request.send().await.expect("request");
    let got = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{label}: {body}");
    assert_eq!(body["code"], code, "{label}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{label}: {body}"
    );
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{label}: {body}");
    }
}

/// A path segment holding `text`, percent-encoded as a client would send it.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every poison input at every place it can enter, refused with the contract's 4xx; then
/// nothing written: one delivery in Temporal, the delivery list and the ledger (the valid one
/// made first, still untouched), and no account beyond the two signed in.
async fn poison_is_refused_and_writes_nothing(target: Target<'_>) {
    let db = target.database;
    e2e::stack::create_account(target.readmodel_database_url, Role::Restaurant, "r-poison").await;
    e2e::stack::create_account(target.readmodel_database_url, Role::Operator, "ops-poison").await;
    let restaurant = target.api.signed_in("r-poison", "test-r-poison").await;
    let operator = target.api.signed_in("ops-poison", "test-ops-poison").await;
    let id = restaurant.call_rider(10000).await;
    let post = |client: &ApiClient, path: &str, body: Value| {
        client.request(reqwest::Method::POST, path).json(&body)
    };
    let raw = |client: &ApiClient, path: &str, body: Vec<u8>| {
        client
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body)
    };
    let cancel = format!("/deliveries/{id}/cancel");

    for &(what, c) in POISON {
        let text = format!("a{c}b");
        let label = |place: &str| format!("{db}: {what} in {place}");
        expect_refusal(
            &label("destination"),
            post(
                &restaurant,
                "/deliveries",
                json!({"destination": text, "cost": 100}),
            ),
            422,
            "validation_failed",
            Some("destination"),
        )
        .await;
        expect_refusal(
            &label("customerId"),
            post(
                &restaurant,
                "/deliveries",
                json!({"destination": "Seoul", "cost": 100, "customerId": text}),
            ),
            422,
            "validation_failed",
            Some("customerId"),
        )
        .await;
        expect_refusal(
            &label("a cancel's reason"),
            post(&restaurant, &cancel, json!({"reason": text})),
            422,
            "validation_failed",
            Some("reason"),
        )
        .await;
        expect_refusal(
            &label("an account's name"),
            post(
                &operator,
                "/accounts",
                json!({"role": "operator", "id": "ops-new", "name": text}),
            ),
            422,
            "validation_failed",
            Some("name"),
        )
        .await;
        expect_refusal(
            &label("an account's id"),
            post(
                &operator,
                "/accounts",
                json!({"role": "operator", "id": text, "name": "New"}),
            ),
            422,
            "validation_failed",
            Some("id"),
        )
        .await;
        // Ids in paths: outside the grammar is unknown.
        let segment = path_segment(&text);
        expect_refusal(
            &label("a delivery path"),
            post(
                &restaurant,
                &format!("/deliveries/{segment}/cancel"),
                json!({}),
            ),
            404,
            "delivery_not_found",
            None,
        )
        .await;
        expect_refusal(
            &label("an account path"),
            operator.request(reqwest::Method::GET, &format!("/accounts/{segment}")),
            404,
            "account_not_found",
            None,
        )
        .await;
        // A header cannot carry NUL at all (below); the others reach the API and are refused.
        if let Ok(key) = reqwest::header::HeaderValue::from_bytes(text.as_bytes()) {
            expect_refusal(
                &label("Idempotency-Key"),
                post(
                    &restaurant,
                    "/deliveries",
                    json!({"destination": "Seoul", "cost": 100}),
                )
                .header("Idempotency-Key", key),
                422,
                "validation_failed",
                Some("Idempotency-Key"),
            )
            .await;
        }
    }

    // Lone surrogates: well-formed JSON naming no character, refused as a bad character of the
    // field; raw (UTF-8 encoded) they are not UTF-8, so not JSON.
    for (label, path, client, body, status, code, field) in [
        (
            "lone leading surrogate in destination",
            "/deliveries",
            &restaurant,
            br#"{"destination":"\ud800","cost":100}"#.to_vec(),
            422,
            "validation_failed",
            Some("destination"),
        ),
        (
            "lone trailing surrogate in customerId",
            "/deliveries",
            &restaurant,
            br#"{"destination":"Seoul","cost":100,"customerId":"\udc00"}"#.to_vec(),
            422,
            "validation_failed",
            Some("customerId"),
        ),
        (
            "lone surrogate in a reason",
            cancel.as_str(),
            &restaurant,
            br#"{"reason":"x\ud83dy"}"#.to_vec(),
            422,
            "validation_failed",
            Some("reason"),
        ),
        (
            "lone surrogate in an account's name",
            "/accounts",
            &operator,
            br#"{"role":"operator","id":"ops-new","name":"\udfff"}"#.to_vec(),
            422,
            "validation_failed",
            Some("name"),
        ),
        (
            "raw surrogate bytes",
            "/deliveries",
            &restaurant,
            b"{\"destination\":\"\xed\xa0\x80\",\"cost\":100}".to_vec(),
            400,
            "malformed_json",
            None,
        ),
    ] {
        expect_refusal(
            &format!("{db}: {label}"),
            raw(client, path, body),
            status,
            code,
            field,
        )
        .await;
    }

    // Combining marks on one letter: under the 16 KiB body limit they are too long a field
    // (each U+0301 is two bytes of UTF-8); 64 KiB of them is refused by the limit first.
    let marks = |bytes: usize| format!("a{}", "\u{301}".repeat(bytes / 2));
    let under_limit = 16 * 1024 - 100;
    expect_refusal(
        &format!("{db}: combining marks in destination"),
        post(
            &restaurant,
            "/deliveries",
            json!({"destination": marks(under_limit), "cost": 100}),
        ),
        422,
        "validation_failed",
        Some("destination"),
    )
    .await;
    expect_refusal(
        &format!("{db}: combining marks in a reason"),
        post(&restaurant, &cancel, json!({"reason": marks(under_limit)})),
        422,
        "validation_failed",
        Some("reason"),
    )
    .await;
    expect_refusal(
        &format!("{db}: 64 KiB of combining marks"),
        post(
            &restaurant,
            "/deliveries",
            json!({"destination": marks(64 * 1024), "cost": 100}),
        ),
        413,
        "payload_too_large",
        None,
    )
    .await;

    // NUL in a header never reaches the API: HTTP refuses it (hyper answers 400, no JSON).
    let status = raw_request_status(
        &restaurant,
        "POST /deliveries HTTP/1.1\r\nIdempotency-Key: a\0b\r\ncontent-type: application/json\r\n",
        r#"{"destination":"Seoul","cost":100}"#,
    )
    .await;
    assert_eq!(status, 400, "{db}: NUL in a header");

    // Nothing was written.
    let query = format!("TaskQueue = '{}'", target.task_queue);
    let started: Vec<_> = target
        .temporal
        .list_workflows(query, WorkflowListOptions::builder().limit(100).build())
        .collect()
        .await;
    assert_eq!(
        started.len(),
        1,
        "{db}: only the valid call started a workflow"
    );
    let (_, list) = restaurant.get("/delivery-list").await;
    let rows = list["items"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["deliveryId"] == id.as_str()),
        "{db}: {list}"
    );
    let (_, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(live["status"], "Called", "{db}: {live}");
    let mut ids = Vec::new();
    for role in ["restaurant", "rider", "operator"] {
        let (_, page) = operator.get(&format!("/accounts?role={role}")).await;
        let items = page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{db}: {page}"));
        ids.extend(
            items
                .iter()
                .filter_map(|a| a["id"].as_str().map(str::to_owned)),
        );
    }
    ids.sort_unstable();
    assert_eq!(ids, ["ops-poison", "r-poison"], "{db}: no account was made");
    let report = e2e::assert_invariants(&target.checker).await;
    assert_eq!(report.deliveries, 1, "{db}: {report}");
    assert_eq!(report.payments, 1, "{db}: {report}");
}

/// The status line's code of `head` (a request line and headers, each ending in CRLF) with a
/// bearer token and `body`, sent on a raw connection to the API.
async fn raw_request_status(client: &ApiClient, head: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = client.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let token = client.token.as_deref().unwrap_or_default();
    let request = format!(
        "{head}host: {address}\r\nauthorization: Bearer {token}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_inputs_are_refused_and_write_nothing_on_sqlite() {
    let stack = Stack::start(StackOptions::default()).await;
    poison_is_refused_and_writes_nothing(Target {
        database: "sqlite",
        api: &stack.api_client,
        temporal: &stack.temporal,
        task_queue: &stack.task_queue,
        readmodel_database_url: &stack.readmodel_database_url,
        checker: stack.checker_settings(),
    })
    .await;
}

/// The same on PostgreSQL (`TEST_DATABASE_URL`, a server the test may create databases on);
/// skipped when it is unset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_inputs_are_refused_and_write_nothing_on_postgresql() {
    let Ok(server_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL is unset: skipping the PostgreSQL run");
        return;
    };
    let stack = Stack::start(StackOptions {
        postgres: Some(server_url),
        ..StackOptions::default()
    })
    .await;
    poison_is_refused_and_writes_nothing(Target {
        database: "postgresql",
        api: &stack.api_client,
        temporal: &stack.temporal,
        task_queue: &stack.task_queue,
        readmodel_database_url: &stack.readmodel_database_url,
        checker: stack.checker_settings(),
    })
    .await;
}

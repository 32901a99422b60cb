//! Payload encryption, seen from outside: what Temporal stores of a delivery (its history,
//! memo and summary, read raw with the Temporal CLI) names neither its destination nor its
//! customer; the API's codec server decrypts those payloads for operators only (bearer token
//! or codec session cookie), answers the Temporal UI's origin (CORS), and the CLI with
//! `--codec-endpoint` shows the destination again.

use std::time::Duration;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use e2e::{ApiClient, Stack, StackOptions, eventually, temporal_server};
use identity::Role;
use serde_json::{Value, json};
use temporalio_client::WorkflowExecutionStatus;
use workflows::{DeliveryWorkflow, names};

const DESTINATION: &str = "Seoul, Mapo-gu, Worldcup-ro 240";
const CUSTOMER: &str = "cust-7731";

/// Whether `needle` can be read anywhere in `json`: in a string, a key, or the bytes of a
/// string that is base64 (how Temporal's JSON carries payload data and metadata).
pub(crate) fn readable_anywhere(json: &Value, needle: &str) -> bool {
    match json {
        Value::String(text) => {
            text.contains(needle)
                || base64_bytes(text).is_some_and(|bytes| {
                    bytes
                        .windows(needle.len())
                        .any(|window| window == needle.as_bytes())
                })
        }
        Value::Array(items) => items.iter().any(|item| readable_anywhere(item, needle)),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains(needle) || readable_anywhere(value, needle)),
        _ => false,
    }
}

fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// Every payload (`{"metadata": {…}, "data": "…"}`) in `json` that is encrypted.
fn encrypted_payloads(json: &Value, found: &mut Vec<Value>) {
    match json {
        Value::Object(fields) => {
            let encrypted = fields
                .get("metadata")
                .and_then(|m| m.get("encoding"))
                .and_then(Value::as_str)
                .and_then(base64_bytes)
                .is_some_and(|encoding| encoding == codec::ENCODING.as_bytes());
            if encrypted && fields.get("data").is_some_and(Value::is_string) {
                found.push(json.clone());
            } else {
                fields
                    .values()
                    .for_each(|value| encrypted_payloads(value, found));
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| encrypted_payloads(item, found)),
        _ => {}
    }
}

/// `temporal <args> --address … --output json`, parsed. Run without blocking the runtime: with
/// a codec endpoint, the CLI calls the API this test serves.
async fn cli_json(stack: &Stack, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(temporal_server::temporal_cli())
        .args(args)
        .args([
            "--address",
            &stack.temporal_address,
            "--namespace",
            "default",
            "--output",
            "json",
        ])
        .output()
        .await
        .expect("run the Temporal CLI");
    assert!(
        out.status.success(),
        "temporal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "temporal {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A delivery with a destination and a customer, called, picked up and completed, so its
/// history has the start, the update, activities, queries' answers and the result.
async fn delivered(stack: &Stack) -> String {
    let restaurant = stack.signed_in(Role::Restaurant, "r-enc").await;
    let rider = stack.signed_in(Role::Rider, "rider-enc").await;
    let (status, called) = restaurant
        .post(
            "/deliveries",
            json!({"destination": DESTINATION, "cost": 12000, "customerId": CUSTOMER}),
        )
        .await;
    assert_eq!(status, 201, "{called}");
    let id = called["deliveryId"]
        .as_str()
        .expect("deliveryId")
        .to_owned();
    for step in ["pickup", "complete"] {
        let (status, body) = rider
            .post(&format!("/deliveries/{id}/{step}"), json!({}))
            .await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&id));
    eventually("the delivery to close", Duration::from_secs(20), || async {
        let description = handle.describe(Default::default()).await.ok()?;
        (description.status() == WorkflowExecutionStatus::Completed).then_some(())
    })
    .await;
    // The API's own reads go through the same codec: the delivery reads back whole.
    let (status, view) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["destination"], DESTINATION);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_stores_neither_destination_nor_customer_and_operators_decode_them() {
    let stack = Stack::start(StackOptions::default()).await;
    let id = delivered(&stack).await;
    let workflow_id = names::workflow_id(&id);

    // What Temporal stores, read raw: the history, the memo and the summary.
    let history = cli_json(&stack, &["workflow", "show", "--workflow-id", &workflow_id]).await;
    let description = cli_json(
        &stack,
        &["workflow", "describe", "--workflow-id", &workflow_id],
    )
    .await;
    for (what, json) in [("history", &history), ("description", &description)] {
        for secret in [DESTINATION, "Worldcup", CUSTOMER] {
            assert!(
                !readable_anywhere(json, secret),
                "the raw {what} shows {secret:?}: {json}"
            );
        }
    }
    assert!(
        readable_anywhere(&description, "r-enc, 12000 KRW"),
        "the summary names the restaurant and the fee: {description}"
    );
    let mut memo = Vec::new();
    encrypted_payloads(&description, &mut memo);
    assert!(
        memo.len() >= 2,
        "the memo's values are encrypted: {description}"
    );

    // The codec server decrypts the history's payloads for an operator.
    let mut payloads = Vec::new();
    encrypted_payloads(&history, &mut payloads);
    assert!(payloads.len() >= 5, "{history}");
    let request = json!({"payloads": payloads});
    let operator = stack.signed_in(Role::Operator, "ops-enc").await;
    let decode = |client: &ApiClient| {
        client
            .request(reqwest::Method::POST, "/codec/decode")
            .header("X-Namespace", "default")
            .json(&request)
            .send()
    };
    let (status, decoded) = ApiClient::read(decode(&operator).await.expect("decode")).await;
    assert_eq!(status, 200, "{decoded}");
    assert_eq!(
        decoded["payloads"].as_array().map(Vec::len),
        Some(payloads.len())
    );
    assert!(readable_anywhere(&decoded, DESTINATION), "{decoded}");
    assert!(readable_anywhere(&decoded, CUSTOMER), "{decoded}");
    let mut still_encrypted = Vec::new();
    encrypted_payloads(&decoded, &mut still_encrypted);
    assert!(still_encrypted.is_empty(), "{decoded}");

    // Encoding is for operators too, and what it encodes decodes.
    let plain = json!({"payloads": [{"metadata": {"encoding": STANDARD.encode("json/plain")},
                                     "data": STANDARD.encode("\"Busan\"")}]});
    let (status, encoded) = ApiClient::read(
        operator
            .request(reqwest::Method::POST, "/codec/encode")
            .json(&plain)
            .send()
            .await
            .expect("encode"),
    )
    .await;
    assert_eq!(status, 200, "{encoded}");
    assert!(!readable_anywhere(&encoded, "Busan"), "{encoded}");
    let (status, round_trip) = operator.post("/codec/decode", encoded).await;
    assert_eq!((status, round_trip), (200, plain));

    // Restaurants, riders and anonymous callers are refused, as elsewhere in the API.
    let restaurant = stack.signed_in(Role::Restaurant, "r-enc").await;
    let rider = stack.signed_in(Role::Rider, "rider-enc").await;
    for (who, client, expected, code) in [
        ("a restaurant", &restaurant, 403, "forbidden"),
        ("a rider", &rider, 403, "forbidden"),
        (
            "an anonymous caller",
            &stack.api_client,
            401,
            "unauthorized",
        ),
    ] {
        let (status, body) = ApiClient::read(decode(client).await.expect("decode")).await;
        assert_eq!(status, expected, "{who}: {body}");
        assert_eq!(body["code"], code, "{who}: {body}");
        let (status, _) = client.post("/codec/session", json!({})).await;
        assert_eq!(status, expected, "{who} opens no codec session");
    }

    // The browser's way: a codec session cookie, HttpOnly, SameSite=Strict, for /codec only.
    let session = operator
        .request(reqwest::Method::POST, "/codec/session")
        .send()
        .await
        .expect("codec session");
    assert_eq!(session.status(), 200);
    let set_cookie = session
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("Set-Cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/codec", "Max-Age=900"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let by_cookie = |cookie: String| {
        stack
            .api_client
            .http
            .post(stack.api_client.url("/codec/decode"))
            .header("Cookie", cookie)
            .header("Origin", "http://127.0.0.1:8233")
            .json(&request)
            .send()
    };
    let response = by_cookie(cookie.clone()).await.expect("decode by cookie");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:8233"
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let (status, by_session) = ApiClient::read(response).await;
    assert_eq!(status, 200, "{by_session}");
    assert_eq!(by_session, decoded);
    let (status, _) = ApiClient::read(
        by_cookie("codec_session=forged".into())
            .await
            .expect("decode"),
    )
    .await;
    assert_eq!(status, 401, "a forged cookie");
    // A restaurant's token in the cookie is still a restaurant.
    let restaurant_token = restaurant.token.clone().expect("token");
    let (status, _) = ApiClient::read(
        by_cookie(format!("codec_session={restaurant_token}"))
            .await
            .expect("decode"),
    )
    .await;
    assert_eq!(status, 403, "a restaurant's token as the cookie");

    // The CLI with the codec server shows the destination again.
    let endpoint = stack.api_client.url("/codec");
    let bearer = format!("Bearer {}", operator.token.clone().expect("token"));
    let shown = cli_json(
        &stack,
        &[
            "workflow",
            "show",
            "--workflow-id",
            &workflow_id,
            "--codec-endpoint",
            &endpoint,
            "--codec-auth",
            &bearer,
        ],
    )
    .await;
    assert!(readable_anywhere(&shown, DESTINATION), "{shown}");
}

/// The Temporal UI's preflight is answered for its origin on the codec routes only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codec_routes_answer_the_temporal_uis_origin_and_no_other() {
    let stack = Stack::start(StackOptions::default()).await;
    let preflight = |path: &str, origin: &str| {
        stack
            .api_client
            .http
            .request(reqwest::Method::OPTIONS, stack.api_client.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "x-namespace,content-type,authorization",
            )
            .send()
    };
    for origin in ["http://127.0.0.1:8233", "http://localhost:8233"] {
        let response = preflight("/codec/decode", origin).await.expect("preflight");
        assert!(response.status().is_success(), "{}", response.status());
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], origin);
        assert_eq!(headers["access-control-allow-credentials"], "true");
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for header in ["x-namespace", "content-type", "authorization"] {
            assert!(allowed.contains(header), "{allowed}");
        }
    }
    let elsewhere = preflight("/codec/decode", "http://evil.example")
        .await
        .expect("preflight");
    assert!(
        elsewhere
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "another origin"
    );
    let other_route = preflight("/deliveries", "http://127.0.0.1:8233")
        .await
        .expect("preflight");
    assert!(
        other_route
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "CORS is for the codec routes only"
    );
}

//! What operators see: one trace per delivery across the three processes, logs that carry
//! its ids, Prometheus series that move, and the drift check between the delivery list and
//! Temporal.

use std::{collections::HashMap, time::Duration};

use e2e::{
    ApiClient, drive_to_completion, eventually,
    metrics::{sample, scrape},
    otlp::{OtlpReceiver, ReceivedSpan},
    procs::{ProcOptions, ProcStack},
};
use identity::Role;
use serde_json::Value;

/// Waits until the delivery's payment is settled, as `reader` (its restaurant) sees it.
async fn settled(reader: &ApiClient, id: &str) {
    eventually("the payment to settle", Duration::from_secs(30), || async {
        let (_, view) = reader.get(&format!("/deliveries/{id}")).await;
        (view["payment"]["status"] == "Settled").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_one_trace_across_the_api_the_worker_and_the_payment_service() {
    let receiver = OtlpReceiver::start().await;
    let stack = ProcStack::start(ProcOptions {
        otlp_endpoint: Some(receiver.endpoint()),
        env: vec![("LOG_FORMAT".into(), "json".into())],
        ..ProcOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-trace").await;
    let rider = stack.signed_in(Role::Rider, "rider-trace").await;
    let id = restaurant.call_rider(2500).await;
    drive_to_completion(&rider, &id, Duration::from_secs(30)).await;
    settled(&restaurant, &id).await;

    // The call's trace is complete once the workflow's own span (ended when it finishes)
    // and the settlement's server span have arrived.
    let trace: Vec<ReceivedSpan> = eventually(
        "the call's trace from all three services",
        Duration::from_secs(20),
        || async {
            let spans = receiver.spans();
            let root = spans
                .iter()
                .find(|s| s.service == "delivery-api" && s.name == "POST /deliveries")?;
            let trace: Vec<_> = spans
                .iter()
                .filter(|s| s.trace_id == root.trace_id)
                .cloned()
                .collect();
            let has = |service: &str, name: &str| {
                trace
                    .iter()
                    .any(|s| s.service == service && s.name.contains(name))
            };
            (has("delivery-worker", "RunWorkflow:DeliveryWorkflow")
                && has("payment-service", "PaymentService/RegisterPayment")
                && has("payment-service", "PaymentService/SettlePayment"))
            .then_some(trace)
        },
    )
    .await;
    let by_id: HashMap<&str, &ReceivedSpan> =
        trace.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let roots: Vec<_> = trace
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    assert_eq!(roots[0].name, "POST /deliveries");
    for span in &trace {
        assert!(
            span.parent_span_id.is_empty() || by_id.contains_key(span.parent_span_id.as_str()),
            "{} ({}) has a parent outside the trace",
            span.name,
            span.service
        );
    }
    // The payment service's span leads back, through the worker, to the API's request.
    let settle = trace
        .iter()
        .find(|s| s.name.ends_with("PaymentService/SettlePayment"))
        .expect("settle span");
    let mut services = vec![settle.service.as_str()];
    let mut at = settle;
    while let Some(parent) = by_id.get(at.parent_span_id.as_str()) {
        if services.last() != Some(&parent.service.as_str()) {
            services.push(parent.service.as_str());
        }
        at = parent;
    }
    assert_eq!(
        services,
        ["payment-service", "delivery-worker", "delivery-api"]
    );
    let parent = by_id[settle.parent_span_id.as_str()];
    assert_eq!(parent.service, "delivery-worker", "{parent:?}");

    // Every log line is JSON; the request's and the payment's lines name the trace and the
    // delivery, so logs and traces join on either.
    let trace_id = &roots[0].trace_id;
    let names = |line: &Value, field: &str| {
        line["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|span| span[field].as_str().is_some_and(|v| !v.is_empty()))
    };
    for (proc, needle) in [
        (stack.api.as_ref(), "POST /deliveries"),
        (stack.payment.as_ref(), "payment registered"),
    ] {
        let text = proc.expect("process running").log_text();
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let line = lines
            .iter()
            .find(|l| l["fields"]["message"].as_str() == Some(needle))
            .unwrap_or_else(|| panic!("no {needle:?} line in {text}"));
        let text = line.to_string();
        assert!(text.contains(trace_id.as_str()), "{needle}: {text}");
        assert!(text.contains(&id), "{needle}: {text}");
        assert!(names(line, "trace_id") && names(line, "delivery_id"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_serves_prometheus_series_that_move_with_a_delivery() {
    let stack = ProcStack::start(ProcOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-metrics").await;
    let rider = stack.signed_in(Role::Rider, "rider-metrics").await;
    let api = stack.api_metrics_port;
    let worker = stack.worker_metrics_ports[0];
    let payment = stack.payment_metrics_port;
    let created = [("route", "/deliveries"), ("status", "201")];
    let before_calls = sample(
        &scrape(api).await,
        "delivery_http_request_duration_seconds_count",
        &created,
    );

    let id = restaurant.call_rider(1800).await;
    // One step at a time, so each phase reaches the delivery list (a completion arriving
    // while the pickup is being written skips the `Picked` row, and its phase timing).
    eventually("the pickup", Duration::from_secs(20), || async {
        let (status, _) = rider
            .post(&format!("/deliveries/{id}/pickup"), serde_json::json!({}))
            .await;
        (status == 200).then_some(())
    })
    .await;
    eventually(
        "the list to show the pickup",
        Duration::from_secs(20),
        || async {
            let (_, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (row["status"] == "Picked").then_some(())
        },
    )
    .await;
    let (status, body) = rider
        .post(&format!("/deliveries/{id}/complete"), serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&restaurant, &id).await;

    let api_text = scrape(api).await;
    assert_eq!(
        sample(
            &api_text,
            "delivery_http_request_duration_seconds_count",
            &created
        ),
        before_calls + 1.0
    );
    assert!(
        sample(
            &api_text,
            "delivery_http_request_duration_seconds_count",
            &[
                ("route", "/deliveries/{delivery_id}/pickup"),
                ("status", "200")
            ]
        ) >= 1.0
    );
    // The Temporal client's own series, from the SDK.
    assert!(api_text.contains("temporal_request"), "{api_text}");

    let worker_text = eventually("the worker's series", Duration::from_secs(10), || async {
        let text = scrape(worker).await;
        (sample(
            &text,
            "delivery_status_changes_total",
            &[("status", "Completed")],
        ) >= 1.0)
            .then_some(text)
    })
    .await;
    for status in ["Called", "Picked", "Completed"] {
        assert_eq!(
            sample(
                &worker_text,
                "delivery_status_changes_total",
                &[("status", status)]
            ),
            1.0,
            "{status}"
        );
    }
    for phase in [
        "delivery_call_to_pickup_seconds_count",
        "delivery_pickup_to_completion_seconds_count",
    ] {
        assert_eq!(sample(&worker_text, phase, &[]), 1.0, "{phase}");
    }
    assert_eq!(
        sample(&worker_text, "delivery_projection_lag_seconds_count", &[]),
        3.0
    );
    for method in ["RegisterPayment", "SettlePayment"] {
        assert!(
            sample(
                &worker_text,
                "delivery_payment_call_duration_seconds_count",
                &[("method", method), ("code", "0")]
            ) >= 1.0,
            "{method}"
        );
    }
    // The SDK's worker series.
    assert!(
        worker_text.contains("temporal_workflow_completed"),
        "{worker_text}"
    );

    let payment_text = scrape(payment).await;
    for method in ["RegisterPayment", "SettlePayment"] {
        assert_eq!(
            sample(
                &payment_text,
                "payment_grpc_request_duration_seconds_count",
                &[("method", method), ("code", "0")]
            ),
            1.0,
            "{method}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_summary_counts_both_sides_and_names_a_delivery_the_list_got_wrong() {
    let stack = ProcStack::start(ProcOptions {
        env: vec![("OPS_DRIFT_GRACE_MS".into(), "300".into())],
        ..ProcOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-drift").await;
    let rider = stack.signed_in(Role::Rider, "rider-drift").await;
    let operator = stack.signed_in(Role::Operator, "ops-drift").await;
    let waiting = restaurant.call_rider(1000).await;
    let done = restaurant.call_rider(1200).await;
    drive_to_completion(&rider, &done, Duration::from_secs(30)).await;
    settled(&restaurant, &done).await;

    let agreed = eventually("both sides to agree", Duration::from_secs(20), || async {
        let (status, summary) = operator.get("/ops/summary").await;
        assert_eq!(status, 200, "{summary}");
        let counts = serde_json::json!({"Called": 1, "Assigned": 0, "Picked": 0, "Completed": 1,
            "Failed": 0, "Cancelled": 0});
        (summary["deliveryList"] == counts && summary["temporal"] == counts).then_some(summary)
    })
    .await;
    assert_eq!(agreed["drifted"], serde_json::json!([]), "{agreed}");
    assert_eq!(agreed["scanned"], 2);
    assert_eq!(agreed["complete"], true);

    // A row the workflow never wrote: the list says the open call was cancelled.
    let list = readmodel::ReadModel::connect(&stack.readmodel_database_url())
        .await
        .expect("open the delivery list");
    let row = list
        .delivery(&waiting.parse().unwrap())
        .await
        .expect("read row")
        .expect("listed");
    let wrong = readmodel::DeliveryRow {
        status: readmodel::DeliveryStatus::Cancelled,
        rider_id: None,
        settled: None,
        ..row
    };
    // Numbered above anything a workflow writes (their numbers lead with the history's
    // length), so the list keeps it.
    list.project(&readmodel::Projection::new(wrong, i64::MAX))
        .await
        .expect("write the wrong row");

    let (status, summary) = operator.get("/ops/summary").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["deliveryList"]["Cancelled"], 1, "{summary}");
    assert_eq!(summary["temporal"]["Called"], 1, "{summary}");
    assert_eq!(
        summary["drifted"],
        serde_json::json!([{"deliveryId": waiting, "deliveryList": "Cancelled", "temporal": "Called"}]),
        "{summary}"
    );
}

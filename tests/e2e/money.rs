//! Money end to end, with periods of seconds: deliveries complete, fail or are cancelled; the
//! `payouts` and `invoices` Schedules run; each rider is paid exactly its statement's total and
//! each restaurant's invoices list exactly its charged deliveries. The ledger's own audit is
//! clean at the end. (A worker SIGKILLed in the middle of a payout run: `faults.rs`.)

use std::time::Duration;

use e2e::{ApiClient, Stack, StackOptions, drive_to_completion, eventually, fleet};
use futures::StreamExt as _;
use identity::Role;
use serde_json::{Value, json};
use temporalio_client::WorkflowListOptions;
use workflows::{PayoutRunWorkflow, model::PeriodLength};

/// Periods short enough for a test, long enough that a run sees the deliveries of several.
const PERIOD: PeriodLength = PeriodLength::Seconds(5);

fn options() -> StackOptions {
    StackOptions {
        money_periods: Some((PERIOD, PERIOD)),
        ..StackOptions::default()
    }
}

/// Today's statement of the rider `client` is signed in as.
async fn statement(client: &ApiClient) -> Value {
    let today = chrono::Utc::now().date_naive();
    let (status, body) = client
        .get(&format!("/rider/statement?from={today}&to={today}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every payout of the rider `client` is signed in as, all pages.
async fn payouts(client: &ApiClient) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/rider/payouts?limit=2&cursor={c}"),
            None => "/rider/payouts?limit=2".to_owned(),
        };
        let (status, page) = client.get(&path).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn sum(items: &[Value], field: &str) -> i64 {
    items.iter().map(|i| i[field].as_i64().expect(field)).sum()
}

/// Waits until every rider of `riders` has been paid its statement's whole total.
async fn all_paid(riders: &[ApiClient]) {
    for rider in riders {
        eventually(
            "the rider to be paid its total",
            Duration::from_secs(60),
            || async {
                let total = statement(rider).await["total"].as_i64().expect("total");
                let paid = sum(&payouts(rider).await, "amount");
                assert!(paid <= total, "paid {paid} beyond the total {total}");
                (paid == total).then_some(())
            },
        )
        .await;
    }
}

/// The ledger's own audit finds nothing.
async fn audit_is_clean(stack: &Stack) {
    let ledger = payment::Ledger::connect(&stack.payment_database_url)
        .await
        .expect("open the ledger");
    assert_eq!(ledger.audit(None).await.expect("audit"), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedules_pay_each_rider_its_statement_and_bill_each_restaurant_its_deliveries() {
    let stack = Stack::start(options()).await;
    let riders = fleet::riders_online(&stack, 2, 3).await;
    let restaurants = [
        stack.signed_in(Role::Restaurant, "r-money-1").await,
        stack.signed_in(Role::Restaurant, "r-money-2").await,
    ];
    let operator = stack.signed_in(Role::Operator, "ops-money").await;
    // An operator's correction: rider-0 bought a helmet through the agency. Booked before
    // rider-0 earns anything: with 5-second periods a payout may run between any two steps
    // here, and one that paid the delivery before the helmet was booked would leave the rider
    // owing 1,000 (right, but not the statement this test expects).
    let (status, adjustment) = operator
        .post(
            "/adjustments",
            json!({"account": {"role": "rider", "id": "rider-0"}, "amount": -1_000, "reason": "helmet"}),
        )
        .await;
    assert_eq!(status, 201, "{adjustment}");

    // r-money-1: one completed by rider-0, one cancelled; r-money-2: one completed by rider-1,
    // one failed (customer unreachable: it settles, the rider made the trip) by rider-1.
    let completed_1 = restaurants[0].call_rider(20_000).await;
    drive_to_completion(&riders[0], &completed_1, Duration::from_secs(60)).await;
    let cancelled = restaurants[0].call_rider(7_000).await;
    let (status, body) = restaurants[0]
        .post(&format!("/deliveries/{cancelled}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let completed_2 = restaurants[1].call_rider(15_555).await;
    drive_to_completion(&riders[1], &completed_2, Duration::from_secs(60)).await;
    let failed = restaurants[1].call_rider(9_999).await;
    let (status, body) = riders[1]
        .post(&format!("/deliveries/{failed}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = riders[1]
        .post(
            &format!("/deliveries/{failed}/fail"),
            json!({"reason": "customer_unreachable"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // And a credit note for r-money-2, on exactly one of its invoices.
    let (status, credit) = operator
        .post(
            "/adjustments",
            json!({"account": {"role": "restaurant", "id": "r-money-2"}, "amount": -500, "reason": "late delivery"}),
        )
        .await;
    assert_eq!(status, 201, "{credit}");

    // Each rider's statement: its deliveries at their earnings (10% commission), the failed one
    // with its reason, the adjustment once.
    eventually(
        "the failed delivery to settle",
        Duration::from_secs(30),
        || async {
            let (_, view) = operator.get(&format!("/deliveries/{failed}")).await;
            (view["payment"]["status"] == "Settled").then_some(())
        },
    )
    .await;
    let first = statement(&riders[0]).await;
    assert_eq!(first["lines"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["lines"][0]["earning"], 18_000);
    assert_eq!(first["adjustments"][0]["amount"], -1_000, "{first}");
    assert_eq!(first["total"], 17_000);
    let second = statement(&riders[1]).await;
    let lines = second["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{second}");
    // 15,555 − floor(1,555.5) = 14,000; 9,999 − 999 = 9,000.
    assert_eq!(second["total"], 14_000 + 9_000, "{second}");
    assert!(
        lines
            .iter()
            .any(|l| l["deliveryId"] == failed.as_str()
                && l["failureReason"] == "customer_unreachable"),
        "{second}"
    );

    // The payouts Schedule pays each exactly its total; the statement then balances to zero.
    all_paid(&riders).await;
    for rider in &riders {
        let paid = statement(rider).await;
        assert_eq!(paid["balance"], 0, "{paid}");
    }
    // The control room lists the Schedules' latest runs, each a workflow of its Schedule
    // (the run that paid may still be closing).
    let runs = eventually(
        "a payout run to complete",
        Duration::from_secs(30),
        || async {
            let (status, runs) = operator.get("/ops/runs").await;
            assert_eq!(status, 200, "{runs}");
            let done = runs["payouts"]["runs"]
                .as_array()?
                .iter()
                .any(|run| run["status"] == "Completed" && run["closedAt"].is_string());
            done.then_some(runs)
        },
    )
    .await;
    for kind in ["payouts", "invoices"] {
        let schedule = runs[kind]["scheduleId"].as_str().expect("scheduleId");
        assert!(schedule.ends_with(kind), "{runs}");
        let listed = runs[kind]["runs"].as_array().expect("runs");
        assert!((1..=10).contains(&listed.len()), "{runs}");
        for run in listed {
            let id = run["workflowId"].as_str().expect("workflowId");
            assert!(id.starts_with(&format!("{schedule}-")), "{run}");
            assert!(run["startedAt"].is_string(), "{run}");
        }
    }

    // The invoices Schedule bills each restaurant exactly its charged deliveries.
    for (restaurant, charged) in [
        (&restaurants[0], vec![completed_1.clone()]),
        (&restaurants[1], vec![completed_2.clone(), failed.clone()]),
    ] {
        let mut charged = charged;
        charged.sort();
        let expected_credit = match charged.len() {
            2 => vec![credit["id"].clone()],
            _ => Vec::new(),
        };
        // Deliveries settled late in a period, or the credit booked after a run, go on the
        // next period's invoice: wait until everything is billed, then compare exactly.
        let (invoices, listed, credited) =
            eventually("the invoices", Duration::from_secs(60), || async {
                let (status, page) = restaurant.get("/restaurant/invoices").await;
                assert_eq!(status, 200, "{page}");
                let invoices = page["items"].as_array().cloned().unwrap_or_default();
                let mut listed = Vec::new();
                let mut credited: Vec<Value> = Vec::new();
                for invoice in &invoices {
                    let number = invoice["number"].as_str().expect("number");
                    let (status, full) = restaurant
                        .get(&format!("/restaurant/invoices/{number}"))
                        .await;
                    assert_eq!(status, 200, "{full}");
                    let adjustments = full["adjustments"].as_array().unwrap();
                    assert_eq!(
                        full["total"],
                        sum(full["lines"].as_array().unwrap(), "cost") + sum(adjustments, "amount")
                    );
                    for line in full["lines"].as_array().unwrap() {
                        listed.push(line["deliveryId"].as_str().unwrap().to_owned());
                    }
                    credited.extend(adjustments.iter().map(|a| a["id"].clone()));
                }
                listed.sort();
                (listed.len() >= charged.len() && credited.len() >= expected_credit.len())
                    .then_some((invoices, listed, credited))
            })
            .await;
        assert_eq!(listed, charged, "{invoices:?}");
        assert_eq!(credited, expected_credit, "the credit note, once");
        // Numbered 1, 2, 3… for the restaurant.
        let mut numbers: Vec<String> = invoices
            .iter()
            .map(|i| i["number"].as_str().unwrap().to_owned())
            .collect();
        numbers.sort();
        let restaurant_id = invoices[0]["restaurantId"].as_str().unwrap();
        let expected: Vec<String> = (1..=numbers.len())
            .map(|n| format!("{restaurant_id}-{n}"))
            .collect();
        assert_eq!(numbers, expected);
    }
    // Another restaurant's invoice is unknown to this one; CSV is the same lines.
    let (_, page) = restaurants[1].get("/restaurant/invoices").await;
    let theirs = page["items"][0]["number"].as_str().unwrap().to_owned();
    let (status, _) = restaurants[0]
        .get(&format!("/restaurant/invoices/{theirs}"))
        .await;
    assert_eq!(status, 404);
    let csv = restaurants[1]
        .request(
            reqwest::Method::GET,
            &format!("/restaurant/invoices/{theirs}"),
        )
        .header("accept", "text/csv")
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("csv body");
    assert!(csv.starts_with("kind,id,at,amount,reason\n"), "{csv}");
    audit_is_clean(&stack).await;

    // Operators find the runs in the Temporal UI by type; a run that paid (or billed) someone
    // replays on the current code (and is the committed history with `RECORD_HISTORIES=1`).
    for (workflow_type, path) in [
        ("PayoutRunWorkflow", "payout-run"),
        ("InvoiceRunWorkflow", "invoice-run"),
    ] {
        let query = format!(
            "WorkflowType = '{workflow_type}' AND TaskQueue = '{}' AND ExecutionStatus = 'Completed'",
            stack.task_queue
        );
        let runs: Vec<_> = stack
            .temporal
            .list_workflows(query, WorkflowListOptions::builder().limit(100).build())
            .collect()
            .await;
        let mut busiest: Option<(usize, Vec<u8>)> = None;
        for run in runs {
            let run = run.expect("listed run");
            let json = stack
                .temporal
                .get_workflow_handle::<PayoutRunWorkflow>(run.id())
                .fetch_history(Default::default())
                .to_json()
                .await
                .expect("history");
            let events = serde_json::from_slice::<Value>(&json).expect("json")["events"]
                .as_array()
                .map_or(0, Vec::len);
            if busiest.as_ref().is_none_or(|(most, _)| events > *most) {
                busiest = Some((events, json));
            }
        }
        let (events, json) = busiest.unwrap_or_else(|| panic!("no {workflow_type} ran"));
        assert!(
            events > 11,
            "a {workflow_type} that did something: {events} events"
        );
        crate::replay::replay_and_record(path, &json).await;
    }
}

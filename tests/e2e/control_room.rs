//! The reads of the operators' control room (`/ops`): the board puts the deliveries needing a
//! decision first, then the calls nobody took, then the longest waiting, each with its
//! restaurant's name and zone and its workflow; finished deliveries leave it.

use std::time::Duration;

use e2e::{
    eventually,
    http::ApiClient,
    stack::{Stack, StackOptions},
};
use identity::Role;
use serde_json::{Value, json};

/// The board's rows, by delivery id, in its order.
async fn read_board(operator: &ApiClient) -> (Value, Vec<String>) {
    let (status, board) = operator.get("/ops/board").await;
    assert_eq!(status, 200, "{board}");
    let order = board["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| row["deliveryId"].as_str().expect("id").to_owned())
        .collect();
    (board, order)
}

fn row<'a>(board: &'a Value, id: &str) -> &'a Value {
    board["items"]
        .as_array()
        .and_then(|items| items.iter().find(|row| row["deliveryId"] == id))
        .unwrap_or_else(|| panic!("{id} not on the board: {board}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_puts_decisions_first_then_calls_nobody_took_then_the_longest_waiting() {
    let stack = Stack::start(StackOptions {
        offer_timeout_secs: Some(30),
        offer_rounds: Some(3),
        ..StackOptions::default()
    })
    .await;
    let operator = stack.signed_in(Role::Operator, "op-board").await;
    let offering = stack.restaurant_in_offer_mode("r-offers").await;
    let broadcasting = stack.signed_in(Role::Restaurant, "r-board").await;

    // A call nobody can be offered (no rider exists yet): unassigned at once.
    let unassigned = offering.call_rider(9_000).await;
    eventually("the fallback", Duration::from_secs(20), || async {
        let (_, view) = operator.get(&format!("/deliveries/{unassigned}")).await;
        (view["dispatch"]["unassigned"] == true).then_some(())
    })
    .await;
    // Two broadcast calls, the older waiting longer; a rider takes the newer one and it fails
    // in a way only an operator can settle.
    let waiting = broadcasting.call_rider(12_000).await;
    let failing = broadcasting.call_rider(15_000).await;
    let rider = stack.signed_in(Role::Rider, "rider-board").await;
    let (status, body) = rider
        .post(&format!("/deliveries/{failing}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = rider
        .post(
            &format!("/deliveries/{failing}/fail"),
            json!({"reason": "other", "note": "the shop was closed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (board, order) = eventually("the board in order", Duration::from_secs(30), || async {
        let (board, order) = read_board(&operator).await;
        (order == [failing.clone(), unassigned.clone(), waiting.clone()]).then_some((board, order))
    })
    .await;
    let decision = row(&board, &failing);
    assert_eq!(decision["status"], "Failed", "{decision}");
    assert_eq!(decision["failureReason"], "other");
    assert!(
        decision["attention"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{decision}"
    );
    assert_eq!(decision["riderId"], "rider-board");
    let nobody = row(&board, &unassigned);
    assert_eq!(nobody["unassigned"], true, "{nobody}");
    assert!(nobody["attention"].is_null());
    assert_eq!(nobody["restaurantName"], "Restaurant r-offers");
    assert_eq!(nobody["zone"], "gangnam");
    assert_eq!(nobody["workflowId"], format!("delivery-{unassigned}"));
    let called = row(&board, &waiting);
    assert_eq!(called["status"], "Called");
    assert_eq!(called["unassigned"], false);
    assert_eq!(called["cost"], 12_000);
    assert!(called["since"].is_string(), "{called}");
    assert_eq!(board["counts"]["Called"], 2, "{board}");
    assert_eq!(board["counts"]["Failed"], 1);
    assert_eq!(board["counts"]["Completed"], 0);
    assert_eq!(board["truncated"], false);
    assert_eq!(board["temporalUi"]["url"], "http://127.0.0.1:8233");
    assert_eq!(board["temporalUi"]["namespace"], "default");
    assert_eq!(order.len(), 3);

    // Decided and delivered, they leave the board.
    let (status, body) = operator
        .post(
            &format!("/deliveries/{failing}/resolve"),
            json!({"outcome": "settle", "note": "the rider made the trip"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for id in [&unassigned, &waiting] {
        for step in ["pickup", "complete"] {
            let (status, body) = rider
                .post(&format!("/deliveries/{id}/{step}"), json!({}))
                .await;
            assert_eq!(status, 200, "{step} {id}: {body}");
        }
    }
    eventually("an empty board", Duration::from_secs(30), || async {
        let (board, order) = read_board(&operator).await;
        (order.is_empty() && board["counts"]["Completed"] == 2).then_some(())
    })
    .await;

    for who in [stack.signed_in(Role::Restaurant, "r-board").await, rider] {
        for path in ["/ops/board", "/ops/runs"] {
            let (status, body) = who.get(path).await;
            assert_eq!(status, 403, "{path}: {body}");
        }
    }
}

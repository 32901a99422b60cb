//! Call → pickup → complete over HTTP, with payment and the delivery list following: a
//! restaurant, riders and an operator, each signed in.

use std::time::Duration;

use e2e::{Stack, StackOptions, eventually};
use identity::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_goes_from_call_to_settlement() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider_7 = stack.signed_in(Role::Rider, "rider-7").await;
    let rider_8 = stack.signed_in(Role::Rider, "rider-8").await;
    let operator = stack.signed_in(Role::Operator, "ops-happy").await;

    let (status, called) = restaurant
        .post(
            "/deliveries",
            json!({"destination": "Seoul, Gangnam-gu, Teheran-ro 1", "cost": 20000}),
        )
        .await;
    assert_eq!(status, 201, "{called}");
    assert_eq!(called["status"], "Called");
    assert_eq!(called["cost"], 20000);
    assert_eq!(called["restaurantId"], "r-1", "the token's restaurant");
    assert_eq!(called["payment"]["status"], "Registered");
    assert_eq!(called["payment"]["amount"], 20000);
    let id = called["deliveryId"]
        .as_str()
        .expect("deliveryId")
        .to_owned();

    // Riders see the call shortly after it is made; the delivery list shows it too.
    eventually(
        "the call to reach riders",
        Duration::from_secs(10),
        || async {
            let (_, calls) = rider_7.get("/rider/calls").await;
            calls
                .as_array()?
                .iter()
                .any(|c| c["deliveryId"] == id.as_str())
                .then_some(())
        },
    )
    .await;
    let (status, calls) = rider_7.get("/rider/calls").await;
    assert_eq!(status, 200, "{calls}");
    let call = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["deliveryId"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(call["cost"], 20000);
    assert_eq!(call["destination"], "Seoul, Gangnam-gu, Teheran-ro 1");
    assert!(call["calledAt"].is_string());
    eventually(
        "the list to show Called",
        Duration::from_secs(10),
        || async {
            let (status, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (status == 200 && row["status"] == "Called" && row["cost"] == 20000).then_some(())
        },
    )
    .await;

    let (status, picked) = rider_7
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{picked}");
    assert_eq!(picked["status"], "Picked");
    assert_eq!(picked["riderId"], "rider-7", "the token's rider");

    // A second rider is too late; it cannot complete another rider's delivery either.
    let (status, body) = rider_8
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "wrong_state");
    let (status, body) = rider_8
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "not_your_delivery");

    eventually(
        "the list to show Picked",
        Duration::from_secs(10),
        || async {
            let (_, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (row["status"] == "Picked" && row["riderId"] == "rider-7").then_some(())
        },
    )
    .await;

    let (status, done) = rider_7
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "Completed");
    // A repeat by the holder answers with the current state and changes nothing.
    let (status, body) = rider_7
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("Completed")),
        "{body}"
    );

    let payment = eventually("the payment to settle", Duration::from_secs(10), || async {
        let (status, payment) = restaurant.get(&format!("/payments/{id}")).await;
        (status == 200 && payment["status"] == "Settled").then_some(payment)
    })
    .await;
    assert_eq!(payment["amount"], 20000);
    assert!(payment["settledAt"].is_string());

    let row = eventually(
        "the list to show Completed",
        Duration::from_secs(10),
        || async {
            let (_, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (row["status"] == "Completed").then_some(row)
        },
    )
    .await;
    assert_eq!(row["settled"], 20000);
    assert_eq!(row["riderId"], "rider-7");

    let (status, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(live["status"], "Completed");
    assert_eq!(live["settled"], 20000);
    assert_eq!(live["payment"]["status"], "Settled");
    // The rider who delivered it still reads it; the list shows it among its own rows.
    let (status, held) = rider_7.get(&format!("/deliveries/{id}")).await;
    assert_eq!((status, &held["status"]), (200, &json!("Completed")));
    let (_, ridden) = rider_7.get("/delivery-list").await;
    assert!(
        ridden["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["deliveryId"] == id.as_str()),
        "{ridden}"
    );

    let (_, calls) = rider_7.get("/rider/calls").await;
    assert!(
        !calls
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["deliveryId"] == id.as_str()),
        "the call is gone from open calls"
    );

    for client in [&restaurant, &operator] {
        let (status, list) = client
            .get("/delivery-list?status=Completed&restaurantId=r-1")
            .await;
        assert_eq!(status, 200, "{list}");
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["deliveryId"] == id.as_str()),
            "{list}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signals_drive_the_same_flow_as_the_updates() {
    use workflows::{DeliveryWorkflow, model::RiderRequest};
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-2").await;
    let id = restaurant.call_rider(15000).await;
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(workflows::names::workflow_id(&id));
    let rider = || RiderRequest {
        rider_id: "rider-1".parse().unwrap(),
        expires_at_ms: None,
    };
    handle
        .signal(DeliveryWorkflow::picked_signal, rider(), Default::default())
        .await
        .expect("picked signal");
    handle
        .signal(
            DeliveryWorkflow::completed_signal,
            rider(),
            Default::default(),
        )
        .await
        .expect("completed signal");
    let row = eventually(
        "the list to show Completed",
        Duration::from_secs(15),
        || async {
            let (_, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (row["status"] == "Completed").then_some(row)
        },
    )
    .await;
    assert_eq!(row["settled"], 15000);
}

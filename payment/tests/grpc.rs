//! The payment service over real gRPC: a server on 127.0.0.1:0 backed by a
//! SQLite temp file, called through the generated tonic client.

use std::time::Duration;

use payment::Ledger;
use payment_api::PaymentClient;
use payment_api::proto::{
    GetPaymentRequest, Payment, PaymentStatus, RegisterPaymentRequest, SettlePaymentRequest,
    VoidPaymentRequest,
};
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;

/// A running server plus the handles a test needs to talk to it and stop it.
struct TestServer {
    client: PaymentClient,
    /// The connection the client uses, for other services on the same server (health).
    channel: tonic::transport::Channel,
    ledger: Ledger,
    database_url: String,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    _dir: tempfile::TempDir,
}

async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().expect("create temp dir");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("payment.db").display()
    );
    Ledger::migrate(&database_url)
        .await
        .expect("migrate ledger");
    let ledger = Ledger::connect(&database_url)
        .await
        .expect("connect ledger");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(payment::serve(listener, ledger.clone(), None, async {
        // A dropped sender also means stop.
        let _ = stop.await;
    }));
    // The listener is already bound, so the connection is accepted at once.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect client");
    let client = payment_api::client(channel.clone(), None);
    TestServer {
        client,
        channel,
        ledger,
        database_url,
        shutdown,
        server,
        _dir: dir,
    }
}

async fn register(
    client: &mut PaymentClient,
    delivery_id: &str,
    amount: i64,
) -> Result<Payment, tonic::Status> {
    client
        .register_payment(RegisterPaymentRequest {
            delivery_id: delivery_id.to_owned(),
            amount,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn settle(client: &mut PaymentClient, delivery_id: &str) -> Result<Payment, tonic::Status> {
    client
        .settle_payment(SettlePaymentRequest {
            delivery_id: delivery_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn void(client: &mut PaymentClient, delivery_id: &str) -> Result<Payment, tonic::Status> {
    client
        .void_payment(VoidPaymentRequest {
            delivery_id: delivery_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(client: &mut PaymentClient, delivery_id: &str) -> Result<Payment, tonic::Status> {
    client
        .get_payment(GetPaymentRequest {
            delivery_id: delivery_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn assert_code(result: Result<Payment, tonic::Status>, code: Code) -> tonic::Status {
    match result {
        Err(status) if status.code() == code => status,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_payment_can_be_registered_settled_and_read_back() {
    let mut server = start_server().await;
    let registered = register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    assert_eq!(registered.delivery_id, "d-1");
    assert_eq!(registered.amount, 500);
    assert_eq!(registered.status(), PaymentStatus::Registered);
    assert!(registered.registered_at.is_some());
    assert_eq!(registered.settled_at, None);

    let settled = settle(&mut server.client, "d-1").await.expect("settle");
    assert_eq!(settled.status(), PaymentStatus::Settled);
    assert_eq!(settled.registered_at, registered.registered_at);
    assert!(settled.settled_at.is_some());
    assert_eq!(settled.voided_at, None);

    assert_eq!(get(&mut server.client, "d-1").await.expect("get"), settled);
}

#[tokio::test]
async fn a_registered_payment_can_be_voided() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    let voided = void(&mut server.client, "d-1").await.expect("void");
    assert_eq!(voided.status(), PaymentStatus::Voided);
    assert!(voided.voided_at.is_some());
    assert_eq!(voided.settled_at, None);
    assert_eq!(get(&mut server.client, "d-1").await.expect("get"), voided);
}

#[tokio::test]
async fn repeated_calls_return_the_same_payment() {
    let mut server = start_server().await;
    let first = register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    assert_eq!(
        register(&mut server.client, "d-1", 500)
            .await
            .expect("register again"),
        first
    );
    let settled = settle(&mut server.client, "d-1").await.expect("settle");
    assert_eq!(
        settle(&mut server.client, "d-1")
            .await
            .expect("settle again"),
        settled
    );
    assert_eq!(
        register(&mut server.client, "d-1", 500)
            .await
            .expect("register after settle"),
        settled
    );

    register(&mut server.client, "d-2", 700)
        .await
        .expect("register d-2");
    let voided = void(&mut server.client, "d-2").await.expect("void");
    assert_eq!(
        void(&mut server.client, "d-2").await.expect("void again"),
        voided
    );

    assert_eq!(server.ledger.list_all().await.expect("list").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_registrations_produce_one_payment() {
    let server = start_server().await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let mut client = server.client.clone();
            tokio::spawn(async move { register(&mut client, "d-1", 500).await })
        })
        .collect();
    let mut payments = Vec::new();
    for call in calls {
        payments.push(call.await.expect("task").expect("register"));
    }
    assert!(
        payments.iter().all(|p| *p == payments[0]),
        "payments differ: {payments:?}"
    );
    assert_eq!(server.ledger.list_all().await.expect("list").len(), 1);
}

#[tokio::test]
async fn settling_a_voided_payment_is_failed_precondition() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    void(&mut server.client, "d-1").await.expect("void");
    assert_code(
        settle(&mut server.client, "d-1").await,
        Code::FailedPrecondition,
    );
    let stored = get(&mut server.client, "d-1").await.expect("get");
    assert_eq!(stored.status(), PaymentStatus::Voided);
}

#[tokio::test]
async fn voiding_a_settled_payment_is_failed_precondition() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    settle(&mut server.client, "d-1").await.expect("settle");
    assert_code(
        void(&mut server.client, "d-1").await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn registering_with_a_different_amount_is_failed_precondition() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    let status = assert_code(
        register(&mut server.client, "d-1", 600).await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .contains("already registered with amount 500"),
        "unexpected message: {}",
        status.message()
    );
}

#[tokio::test]
async fn out_of_range_amounts_and_empty_ids_are_invalid_arguments() {
    let mut server = start_server().await;
    for amount in [0, -1, 1_000_001] {
        let status = assert_code(
            register(&mut server.client, "d-1", amount).await,
            Code::InvalidArgument,
        );
        assert!(
            status.message().contains("amount"),
            "unexpected message: {}",
            status.message()
        );
    }
    let status = assert_code(
        register(&mut server.client, "", 500).await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("delivery_id"),
        "unexpected message: {}",
        status.message()
    );
    assert_code(get(&mut server.client, "").await, Code::InvalidArgument);
}

#[tokio::test]
async fn unknown_deliveries_are_not_found() {
    let mut server = start_server().await;
    assert_code(settle(&mut server.client, "nope").await, Code::NotFound);
    assert_code(void(&mut server.client, "nope").await, Code::NotFound);
    assert_code(get(&mut server.client, "nope").await, Code::NotFound);
}

#[tokio::test]
async fn database_failures_are_unavailable_without_leaking_details() {
    let mut server = start_server().await;
    // Dropping the table behind the server's back makes every query fail.
    let saboteur = Database::connect(&server.database_url)
        .await
        .expect("connect");
    saboteur
        .execute_unprepared("DROP TABLE payments")
        .await
        .expect("drop table");
    let status = assert_code(
        register(&mut server.client, "d-1", 500).await,
        Code::Unavailable,
    );
    assert!(
        !status.message().contains("payments"),
        "database detail leaked: {}",
        status.message()
    );
}

#[tokio::test]
async fn the_health_protocol_reports_serving_overall_and_for_the_payment_service() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let server = start_server().await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in ["", payment_api::SERVICE_NAME] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_owned(),
        })
        .await
        .expect_err("an unknown service is not found");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn shutdown_completes_gracefully_with_a_connected_client() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    server.shutdown.send(()).expect("server still running");
    // A timeout turns a hang into a failure; it is not a wait for readiness.
    tokio::time::timeout(Duration::from_secs(10), server.server)
        .await
        .expect("server stops within 10s")
        .expect("server task")
        .expect("server exits cleanly");
    assert!(
        register(&mut server.client, "d-2", 500).await.is_err(),
        "a stopped server must not answer"
    );
}

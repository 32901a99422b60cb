//! The payment service over real gRPC: a server on 127.0.0.1:0 backed by a
//! SQLite temp file, called through the generated tonic client over mutual TLS, with the
//! certificates of the local default (and, for callers it never issues, a CA made here).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use payment::Ledger;
use payment_api::proto::{
    self as pb, GetPaymentRequest, Payment, PaymentStatus, RegisterPaymentRequest,
    SettlePaymentRequest, VoidPaymentRequest,
};
use payment_api::{
    PaymentClient,
    tls::{self, Caller, Method},
};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{
    Code,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};

/// A running server plus the handles a test needs to talk to it and stop it.
struct TestServer {
    client: PaymentClient,
    /// The connection the client uses, for other services on the same server (health).
    channel: tonic::transport::Channel,
    ledger: Ledger,
    database_url: String,
    /// The PKI directory the server's TLS material comes from.
    pki: PathBuf,
    /// Where the server listens.
    url: String,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A client presenting `tls` (a client's identity and the CA it trusts), connecting on first
    /// use: a refused handshake shows as the first call's error.
    fn client_with(&self, tls: ClientTlsConfig) -> PaymentClient {
        let endpoint = Endpoint::from_shared(self.url.clone())
            .expect("endpoint")
            .tls_config(tls)
            .expect("tls config");
        payment_api::client(endpoint.connect_lazy(), None)
    }

    /// A client presenting `caller`'s certificate from the server's PKI directory.
    fn client_as(&self, caller: Caller) -> PaymentClient {
        self.client_with(tls::client_config(&self.pki, caller).expect("client tls"))
    }
}

/// A server whose TLS material is the local default's, generated into its temp dir; its
/// client is the worker's.
async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().expect("create temp dir");
    let pki = dir.path().join("pki");
    tls::ensure_local(&pki).expect("generate the pki");
    start_server_in(dir, pki, payment::Limits::default()).await
}

/// A server over a fresh ledger in `dir`, with the TLS material in `pki`, bounded by `limits`.
async fn start_server_in(
    dir: tempfile::TempDir,
    pki: PathBuf,
    limits: payment::Limits,
) -> TestServer {
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
    let server = tokio::spawn(payment::serve(
        listener,
        None,
        ledger.clone(),
        tls::server_config(&pki).expect("server tls"),
        limits,
        None,
        async {
            // A dropped sender also means stop.
            let _ = stop.await;
        },
    ));
    let url = format!("https://{addr}");
    // The listener is already bound, so the connection is accepted at once.
    let channel = Endpoint::from_shared(url.clone())
        .expect("endpoint")
        .tls_config(tls::client_config(&pki, Caller::Worker).expect("client tls"))
        .expect("tls config")
        .connect()
        .await
        .expect("connect client");
    let client = payment_api::client(channel.clone(), None);
    TestServer {
        client,
        channel,
        ledger,
        database_url,
        pki,
        url,
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
            restaurant_id: "r-1".to_owned(),
            commission_bps: 1_000,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn settle(client: &mut PaymentClient, delivery_id: &str) -> Result<Payment, tonic::Status> {
    client
        .settle_payment(SettlePaymentRequest {
            delivery_id: delivery_id.to_owned(),
            rider_id: "k-1".to_owned(),
            failure_reason: None,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn void(client: &mut PaymentClient, delivery_id: &str) -> Result<Payment, tonic::Status> {
    client
        .void_payment(VoidPaymentRequest {
            delivery_id: delivery_id.to_owned(),
            failure_reason: None,
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

fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code) -> tonic::Status {
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

/// The worker's register activity takes FAILED_PRECONDITION as final: a delivery id that
/// comes back after its payment closed ends its new run without moving money.
#[tokio::test]
async fn registering_a_settled_or_voided_delivery_again_is_failed_precondition() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    let settled = settle(&mut server.client, "d-1").await.expect("settle");
    register(&mut server.client, "d-2", 700)
        .await
        .expect("register d-2");
    let voided = void(&mut server.client, "d-2").await.expect("void");
    for (id, amount, word) in [("d-1", 500, "settled"), ("d-2", 700, "voided")] {
        let status = assert_code(
            register(&mut server.client, id, amount).await,
            Code::FailedPrecondition,
        );
        assert!(
            status
                .message()
                .contains(&format!("already {word} and cannot be registered again")),
            "{}",
            status.message()
        );
    }
    assert_eq!(get(&mut server.client, "d-1").await.expect("get"), settled);
    assert_eq!(get(&mut server.client, "d-2").await.expect("get"), voided);
    assert_eq!(server.ledger.journal().await.expect("journal").len(), 4);
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

/// Calls `method` for `delivery_id` (a registration of 500), or with a valid request of its
/// own: what matters is whether the service lets the caller in, not the answer.
async fn call(
    client: &mut PaymentClient,
    method: Method,
    delivery_id: &str,
) -> Result<(), tonic::Status> {
    let period = || {
        Some(pb::Period {
            label: "2026-11-30".to_owned(),
            start: chrono::DateTime::from_timestamp(1_796_000_000, 0).map(payment_api::timestamp),
            end: chrono::DateTime::from_timestamp(1_796_086_400, 0).map(payment_api::timestamp),
        })
    };
    let rider_id = "k-1".to_owned();
    let restaurant_id = "r-1".to_owned();
    match method {
        Method::RegisterPayment => register(client, delivery_id, 500).await.map(drop),
        Method::SettlePayment => settle(client, delivery_id).await.map(drop),
        Method::VoidPayment => void(client, delivery_id).await.map(drop),
        Method::GetPayment => get(client, delivery_id).await.map(drop),
        Method::Adjust => client
            .adjust(pb::AdjustRequest {
                id: format!("a-{delivery_id}"),
                holder: pb::Holder::Rider.into(),
                account_id: rider_id,
                amount: 100,
                reason: "test".to_owned(),
                delivery_id: None,
                created_by: "ops".to_owned(),
            })
            .await
            .map(drop),
        Method::ListRidersWithBalance => client
            .list_riders_with_balance(pb::ListRidersWithBalanceRequest {})
            .await
            .map(drop),
        Method::PayRider => client
            .pay_rider(pb::PayRiderRequest {
                rider_id,
                period: period(),
            })
            .await
            .map(drop),
        Method::ListPayouts => client
            .list_payouts(pb::ListPayoutsRequest {
                rider_id,
                cursor: None,
                limit: 10,
            })
            .await
            .map(drop),
        Method::GetStatement => client
            .get_statement(pb::GetStatementRequest {
                rider_id,
                from: "2026-11-01".to_owned(),
                to: "2026-11-30".to_owned(),
            })
            .await
            .map(drop),
        Method::ListRestaurantsToInvoice => client
            .list_restaurants_to_invoice(pb::ListRestaurantsToInvoiceRequest {
                before: period().and_then(|p| p.end),
            })
            .await
            .map(drop),
        Method::IssueInvoice => client
            .issue_invoice(pb::IssueInvoiceRequest {
                restaurant_id,
                period: period(),
            })
            .await
            .map(drop),
        Method::ListInvoices => client
            .list_invoices(pb::ListInvoicesRequest {
                restaurant_id,
                cursor: None,
                limit: 10,
            })
            .await
            .map(drop),
        // No invoice has this number: NOT_FOUND is an answer, a refusal is not.
        Method::GetInvoice => match client
            .get_invoice(pb::GetInvoiceRequest {
                number: "r-1-99".to_owned(),
            })
            .await
        {
            Err(status) if status.code() == Code::NotFound => Ok(()),
            other => other.map(drop),
        },
    }
}

#[tokio::test]
async fn each_caller_may_call_exactly_the_methods_the_table_grants_it() {
    let mut server = start_server().await;
    // A payment for every method to act on: settle and void need a registered one each.
    for id in ["d-settle", "d-void", "d-get"] {
        register(&mut server.client, id, 500)
            .await
            .expect("register");
    }
    let target = |method: Method, caller: Caller| match method {
        Method::RegisterPayment => format!("d-new-{}", caller.name()),
        Method::SettlePayment => "d-settle".to_owned(),
        Method::VoidPayment => "d-void".to_owned(),
        Method::Adjust => caller.name().to_owned(),
        _ => "d-get".to_owned(),
    };
    // The read-only caller first, so the worker's calls find the payments untouched.
    for caller in [Caller::Api, Caller::Worker] {
        let mut client = server.client_as(caller);
        for method in Method::ALL {
            let before = server.ledger.list_all().await.expect("list");
            let answer = call(&mut client, method, &target(method, caller)).await;
            if caller.may_call(method) {
                answer.unwrap_or_else(|e| panic!("{caller:?} {method:?}: {e:?}"));
            } else {
                let status = assert_code(answer, Code::PermissionDenied);
                assert!(
                    status.message().contains(caller.name())
                        && status.message().contains(method.name()),
                    "the refusal says who and what: {}",
                    status.message()
                );
                // A refused call moves no money.
                assert_eq!(
                    server.ledger.list_all().await.expect("list"),
                    before,
                    "{caller:?} {method:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_apis_certificate_reads_but_moves_no_money() {
    let mut server = start_server().await;
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register");
    let mut api = server.client_as(Caller::Api);
    assert_eq!(
        get(&mut api, "d-1").await.expect("get").status(),
        PaymentStatus::Registered
    );
    let status = assert_code(register(&mut api, "d-2", 500).await, Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("delivery-api may not call RegisterPayment"),
        "{}",
        status.message()
    );
    assert_code(settle(&mut api, "d-1").await, Code::PermissionDenied);
    assert_code(void(&mut api, "d-1").await, Code::PermissionDenied);
    let payments = server.ledger.list_all().await.expect("list");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, payment::PaymentStatus::Registered);
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_at_the_handshake() {
    let server = start_server().await;
    let ca = std::fs::read(server.pki.join(tls::CA_FILE)).expect("ca");
    let mut anonymous =
        server.client_with(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)));
    for method in Method::ALL {
        let answer = call(&mut anonymous, method, "d-1").await;
        assert!(answer.is_err(), "{method:?} answered {answer:?}");
    }
    // Plaintext gets nowhere either.
    let plain = Endpoint::from_shared(server.url.replace("https://", "http://"))
        .expect("endpoint")
        .connect_lazy();
    let answer = get(&mut payment_api::client(plain, None), "d-1").await;
    assert!(answer.is_err(), "plaintext answered {answer:?}");
    assert!(server.ledger.list_all().await.expect("list").is_empty());
}

#[tokio::test]
async fn a_worker_certificate_from_another_ca_is_refused() {
    let server = start_server().await;
    let elsewhere = server._dir.path().join("elsewhere");
    tls::ensure_local(&elsewhere).expect("another pki");
    let read = |dir: &Path, name: &str| std::fs::read(dir.join(name)).expect("read");
    // It trusts the right CA, so the server's certificate passes; its own is the other CA's.
    let mut impostor = server.client_with(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&server.pki, tls::CA_FILE)))
            .identity(Identity::from_pem(
                read(&elsewhere, "delivery-worker.pem"),
                read(&elsewhere, "delivery-worker.key"),
            )),
    );
    for method in Method::ALL {
        let answer = call(&mut impostor, method, "d-1").await;
        assert!(answer.is_err(), "{method:?} answered {answer:?}");
    }
    assert!(server.ledger.list_all().await.expect("list").is_empty());
}

/// A CA made here, which (unlike the local default's, whose key is not kept) can issue a
/// client certificate for any identity.
struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("ca"),
        }
    }

    /// A certificate and key (PEM) with `names` as DNS/IP SANs, `uri` as URI SAN, for `usage`.
    fn issue(
        &self,
        names: &[&str],
        uri: Option<&str>,
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("params");
        if let Some(uri) = uri {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI(uri.to_owned().try_into().expect("uri")));
        }
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

#[tokio::test]
async fn a_certificate_of_the_right_ca_for_no_known_caller_is_refused_for_every_method() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = dir.path().join("pki");
    std::fs::create_dir(&pki).expect("pki dir");
    let ca = TestCa::new();
    let (cert, key) = ca.issue(
        &tls::SERVER_NAMES,
        Some(&tls::spiffe_id(tls::SERVER)),
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let write =
        |name: &str, contents: &str| std::fs::write(pki.join(name), contents).expect("write");
    write(tls::CA_FILE, &ca.issuer.pem());
    write("payment-service.pem", &cert);
    write("payment-service.key", &key);
    let (cert, key) = ca.issue(
        &[],
        Some(&tls::spiffe_id("delivery-worker")),
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    write("delivery-worker.pem", &cert);
    write("delivery-worker.key", &key);
    let server = start_server_in(dir, pki, payment::Limits::default()).await;

    let client = |uri: Option<&str>| {
        let (cert, key) = ca.issue(&[], uri, rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        server.client_with(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.issuer.pem()))
                .identity(Identity::from_pem(cert, key)),
        )
    };
    let strangers = [
        (
            "an unknown workload",
            Some("spiffe://delivery.internal/delivery-intruder"),
        ),
        (
            "another trust domain",
            Some("spiffe://elsewhere.internal/delivery-worker"),
        ),
        (
            "the payment service's own id",
            Some("spiffe://delivery.internal/payment-service"),
        ),
        ("no spiffe id", None),
    ];
    for (what, uri) in strangers {
        let mut stranger = client(uri);
        for method in Method::ALL {
            let status = assert_code(
                call(&mut stranger, method, "d-1").await,
                Code::PermissionDenied,
            );
            assert!(
                status.message().contains("names no caller"),
                "{what} {method:?}: {}",
                status.message()
            );
        }
    }
    // The same CA's worker certificate, made the same way, is let through: the refusals above
    // are the identity's.
    let mut worker = client(Some("spiffe://delivery.internal/delivery-worker"));
    register(&mut worker, "d-1", 500)
        .await
        .expect("the worker registers");
    assert_eq!(server.ledger.list_all().await.expect("list").len(), 1);
}

/// A payment service that takes every call and never answers: a stalled handler behind a
/// healthy connection, which only a deadline ends.
struct Stalled;

/// Implements the service for [`Stalled`]: every method waits forever.
macro_rules! stalled {
    ($($name:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl payment_api::proto::payment_service_server::PaymentService for Stalled {
            $(
                async fn $name(
                    &self,
                    _: tonic::Request<pb::$request>,
                ) -> Result<tonic::Response<pb::$response>, tonic::Status> {
                    std::future::pending().await
                }
            )*
        }
    };
}

stalled! {
    register_payment(RegisterPaymentRequest) -> Payment;
    settle_payment(SettlePaymentRequest) -> Payment;
    void_payment(VoidPaymentRequest) -> Payment;
    get_payment(GetPaymentRequest) -> Payment;
    adjust(AdjustRequest) -> Adjustment;
    list_riders_with_balance(ListRidersWithBalanceRequest) -> AccountIds;
    pay_rider(PayRiderRequest) -> PayRiderResponse;
    list_payouts(ListPayoutsRequest) -> PayoutPage;
    get_statement(GetStatementRequest) -> Statement;
    list_restaurants_to_invoice(ListRestaurantsToInvoiceRequest) -> AccountIds;
    issue_invoice(IssueInvoiceRequest) -> IssueInvoiceResponse;
    list_invoices(ListInvoicesRequest) -> InvoicePage;
    get_invoice(GetInvoiceRequest) -> Invoice;
}

/// The code a call that ran out of time ends with: `CANCELLED` ("timeout expired") is how tonic
/// reports its own timeouts, client's and server's; `DEADLINE_EXCEEDED` is another stack's.
fn assert_timed_out<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    match result {
        Err(status) if matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_call_to_a_service_that_never_answers_fails_at_the_callers_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = dir.path().join("pki");
    tls::ensure_local(&pki).expect("generate the pki");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tonic::transport::Server::builder()
        .tls_config(tls::server_config(&pki).expect("server tls"))
        .expect("tls config")
        .add_service(payment_api::proto::payment_service_server::PaymentServiceServer::new(Stalled))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let server = tokio::spawn(server);
    let deadline = Duration::from_millis(300);
    let settings = payment_api::ClientSettings {
        payment_url: format!("https://{addr}"),
        tls_dir: pki,
        call_timeout: deadline,
    };
    let mut client = settings
        .connect_lazy(Caller::Worker, None)
        .expect("payment client");
    // The first call also connects (the handshake completes: only the handlers stall), which is
    // bounded apart by CONNECT_TIMEOUT.
    for method in Method::ALL {
        let started = std::time::Instant::now();
        // A timeout turns a hang into a failure; it is not a wait for readiness.
        let answer =
            tokio::time::timeout(Duration::from_secs(10), call(&mut client, method, "d-1"))
                .await
                .unwrap_or_else(|_| panic!("{method:?} still waiting after 10 s"));
        let took = started.elapsed();
        assert_timed_out(answer);
        // Not before the deadline (so it is the deadline that ended it), and not long after
        // (connecting is bounded apart, by CONNECT_TIMEOUT).
        assert!(took >= deadline, "{method:?} gave up after {took:?}");
        assert!(
            took < deadline + payment_api::CONNECT_TIMEOUT,
            "{method:?} took {took:?}"
        );
    }
    server.abort();
}

#[tokio::test]
async fn a_call_stuck_on_the_ledger_is_ended_by_the_servers_request_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = dir.path().join("pki");
    tls::ensure_local(&pki).expect("generate the pki");
    let timeout = Duration::from_millis(300);
    let mut server = start_server_in(
        dir,
        pki,
        payment::Limits {
            request_timeout: timeout,
            ..payment::Limits::default()
        },
    )
    .await;
    // An open write transaction holds SQLite's write lock: the service's write waits for it
    // (the ledger's busy timeout is 5 s), longer than the request timeout.
    let saboteur = Database::connect(&server.database_url)
        .await
        .expect("connect");
    let holding = saboteur.begin().await.expect("begin");
    holding
        .execute_unprepared("CREATE TABLE write_lock_holder (x INTEGER)")
        .await
        .expect("take the write lock");
    let started = std::time::Instant::now();
    // The test's client has no deadline of its own: only the server's timeout can end the call.
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        register(&mut server.client, "d-1", 500),
    )
    .await
    .expect("the call still waiting after 10 s");
    let took = started.elapsed();
    assert_timed_out(answer);
    assert!(took >= timeout, "gave up after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    holding.rollback().await.expect("rollback");
    // The lock gone, the same call goes through: the timeout ended the call, not the server.
    register(&mut server.client, "d-1", 500)
        .await
        .expect("register once the lock is released");
}

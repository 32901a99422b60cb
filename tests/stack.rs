//! `Stack`: the whole system for one test (payment service, worker, API) on free loopback
//! ports, with fresh SQLite databases and task queues of its own, against a real Temporal
//! dev server.

use std::{net::SocketAddr, path::PathBuf, thread::JoinHandle, time::Duration};

use temporalio_client::Client;
use tokio::sync::oneshot;
use workflows::model::PeriodLength;

use crate::{ApiClient, free_port, init_test_log, temporal_server};

/// What a test may change about its stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Start the payment service with the stack (else call [`Stack::start_payment`] later).
    pub payment_up: bool,
    pub pickup_deadline_secs: Option<u64>,
    pub completion_deadline_secs: Option<u64>,
    /// How long a failing step is retried before the delivery waits for an operator.
    pub step_retry_budget_secs: Option<u64>,
    /// The API's bounded wait for payment registration.
    pub payment_wait: Duration,
    /// The API's bounded wait for a worker to answer an update.
    pub update_wait: Duration,
    /// The API's bounded wait for a query before it falls back to the delivery list.
    pub query_timeout: Duration,
    /// The API listener's limits (rate, timeouts, concurrency); the defaults when `None`.
    pub limits: Option<api::LimitSettings>,
    /// An external OpenID provider whose tokens the API accepts: its issuer URL and the
    /// audience (ours too) its tokens carry.
    pub oidc: Option<(String, String)>,
    /// A PostgreSQL server (a URL the test may create databases with) to keep the delivery
    /// list, the accounts and the ledger on, in fresh databases dropped with the stack;
    /// SQLite files when `None`.
    pub postgres: Option<String>,
    /// How long an offer waits for its rider (offer mode); the API's default when `None`.
    pub offer_timeout_secs: Option<u64>,
    /// Offers of a call before it goes to every rider; the API's default when `None`.
    pub offer_rounds: Option<u32>,
    /// The payout and invoice periods the worker's Schedules follow (daily and monthly unless
    /// a test wants them short).
    pub money_periods: Option<(PeriodLength, PeriodLength)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            payment_up: true,
            pickup_deadline_secs: None,
            completion_deadline_secs: None,
            step_retry_budget_secs: None,
            payment_wait: Duration::from_secs(10),
            update_wait: Duration::from_secs(10),
            query_timeout: Duration::from_secs(5),
            limits: None,
            oidc: None,
            postgres: None,
            offer_timeout_secs: None,
            offer_rounds: None,
            money_periods: None,
        }
    }
}

/// A component running until its stop channel fires.
struct Running {
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The worker, on a thread of its own (the SDK's worker future is not `Send`).
struct WorkerThread {
    running: Running,
    thread: Option<JoinHandle<()>>,
}

impl WorkerThread {
    fn stop(&mut self) {
        self.running.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub struct Stack {
    /// Talks to the API.
    pub api_client: ApiClient,
    /// A Temporal client bound to the `default` namespace.
    pub temporal: Client,
    /// The workflow task queue (activity queues share its prefix).
    pub task_queue: String,
    pub temporal_address: String,
    pub payment_addr: SocketAddr,
    /// The stack's own payment PKI (the local default's, generated into its temp dir).
    pub payment_tls_dir: PathBuf,
    pub payment_database_url: String,
    pub readmodel_database_url: String,
    /// The PostgreSQL databases made for this stack, dropped with it.
    postgres: Option<FreshDatabases>,
    _dir: tempfile::TempDir,
    payment: Option<Running>,
    worker: Option<WorkerThread>,
    api: Running,
    money_periods: Option<(PeriodLength, PeriodLength)>,
}

impl Stack {
    /// A stack on the process's shared Temporal dev server.
    pub async fn start(options: StackOptions) -> Self {
        let server = temporal_server::shared().await;
        Self::start_with(&server.address, options).await
    }

    /// A stack on the Temporal server at `temporal_address`.
    pub async fn start_with(temporal_address: &str, options: StackOptions) -> Self {
        init_test_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("t{}-", uuid::Uuid::new_v4().simple());
        let task_queue = format!("{prefix}{}", workflows::names::DELIVERIES_QUEUE);
        let payment_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let (payment_database_url, readmodel_database_url, postgres) = match &options.postgres {
            Some(server) => {
                let databases = FreshDatabases::create(server, &prefix).await;
                (databases.url(0), databases.url(1), Some(databases))
            }
            None => {
                let sqlite =
                    |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
                (sqlite("payment.db"), sqlite("deliveries.db"), None)
            }
        };
        let payment_tls_dir = dir.path().join("pki");
        payment_api::tls::ensure_local(&payment_tls_dir).expect("generate the payment pki");
        let temporal = temporal_server::client(temporal_address).await;
        // The one-off step before the services, as `delivery-api migrate` and
        // `payment-service migrate` run it.
        readmodel::ReadModel::migrate(&readmodel_database_url)
            .await
            .expect("migrate the delivery list");
        identity::Accounts::migrate(&readmodel_database_url)
            .await
            .expect("migrate the accounts");
        payment::Ledger::migrate(&payment_database_url)
            .await
            .expect("migrate the ledger");

        let mut settings = api::Settings::new(
            temporal_address,
            &format!("https://{payment_addr}"),
            &readmodel_database_url,
        );
        settings.payment.tls_dir = payment_tls_dir.clone();
        settings.queue.task_queue = task_queue.clone();
        settings.temporal.codec = temporal_server::codec_keys();
        settings.identity.signing_keys_dir = dir.path().join("keys");
        if let Some(limits) = options.limits.clone() {
            settings.limits = limits;
        }
        if let Some((issuer, audience)) = options.oidc.clone() {
            settings.identity.oidc_issuer = Some(issuer);
            settings.identity.token_audience = audience;
        }
        settings.payment_wait = options.payment_wait;
        settings.update_wait = options.update_wait;
        settings.query_timeout = options.query_timeout;
        settings.pickup_deadline_secs = options.pickup_deadline_secs;
        settings.completion_deadline_secs = options.completion_deadline_secs;
        settings.step_retry_budget_secs = options.step_retry_budget_secs;
        if let Some(timeout) = options.offer_timeout_secs {
            settings.offer_timeout_secs = timeout;
        }
        if let Some(rounds) = options.offer_rounds {
            settings.offer_rounds = rounds;
        }
        let state = api::AppState::connect(settings)
            .await
            .expect("api connects");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind api");
        let api_url = format!("http://{}", listener.local_addr().expect("api addr"));
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(api::serve(listener, state, async move {
            let _ = stopped.await;
        }));

        let mut stack = Self {
            api_client: ApiClient::new(api_url),
            temporal,
            task_queue,
            temporal_address: temporal_address.to_owned(),
            payment_addr,
            payment_tls_dir,
            payment_database_url,
            readmodel_database_url,
            postgres,
            _dir: dir,
            payment: None,
            worker: None,
            api: Running { stop: Some(stop) },
            money_periods: options.money_periods,
        };
        if options.payment_up {
            stack.start_payment().await;
        }
        stack.start_worker(worker::Role::ALL.to_vec());
        stack
    }

    /// Starts the payment service on its reserved port (its ledger survives restarts).
    pub async fn start_payment(&mut self) {
        let ledger = payment::Ledger::connect(&self.payment_database_url)
            .await
            .expect("open ledger");
        let listener = tokio::net::TcpListener::bind(self.payment_addr)
            .await
            .expect("bind payment port");
        let (stop, stopped) = oneshot::channel();
        let tls = payment_api::tls::server_config(&self.payment_tls_dir).expect("payment tls");
        tokio::spawn(payment::serve(
            listener,
            None,
            ledger,
            tls,
            payment::Limits::default(),
            None,
            async move {
                let _ = stopped.await;
            },
        ));
        self.payment = Some(Running { stop: Some(stop) });
    }

    /// Starts the worker serving `roles`.
    pub fn start_worker(&mut self, roles: Vec<worker::Role>) {
        self.start_worker_deferring(roles, Vec::new());
    }

    /// Starts the worker serving `roles`, not activating `deferred_patches` for new executions
    /// (how a rolling deploy keeps a new workflow version dormant).
    pub fn start_worker_deferring(
        &mut self,
        roles: Vec<worker::Role>,
        deferred_patches: Vec<String>,
    ) {
        let mut settings = worker::Settings::new(&self.temporal_address, roles);
        settings.queue.task_queue = self.task_queue.clone();
        settings.temporal.codec = temporal_server::codec_keys();
        settings.payment.payment_url = format!("https://{}", self.payment_addr);
        settings.payment.tls_dir = self.payment_tls_dir.clone();
        settings.readmodel.database_url = self.readmodel_database_url.clone();
        settings.shutdown_grace = Duration::from_secs(1);
        settings.deferred_patches = deferred_patches;
        if let Some((payouts, invoices)) = self.money_periods {
            settings.payout_period = payouts;
            settings.invoice_period = invoices;
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("worker runtime");
            let result = runtime.block_on(worker::run(settings, async move {
                let _ = stopped.await;
            }));
            if let Err(e) = result {
                eprintln!("worker stopped with an error: {e}");
            }
        });
        self.worker = Some(WorkerThread {
            running: Running { stop: Some(stop) },
            thread: Some(thread),
        });
    }

    /// A client of the stack's payment service presenting `caller`'s certificate.
    pub fn payment_client(&self, caller: payment_api::tls::Caller) -> payment_api::PaymentClient {
        payment_api::ClientSettings {
            payment_url: format!("https://{}", self.payment_addr),
            tls_dir: self.payment_tls_dir.clone(),
            call_timeout: payment_api::DEFAULT_CALL_TIMEOUT,
        }
        .connect_lazy(caller, None)
        .expect("payment client")
    }

    /// Stops the worker and waits until it has drained.
    pub fn stop_worker(&mut self) {
        if let Some(mut worker) = self.worker.take() {
            worker.stop();
        }
    }

    /// An API client signed in as account `id` of `role`, made on first use the way an
    /// operator would (its secret is `test-<id>`); extra attributes such as a restaurant's
    /// zone take test defaults.
    pub async fn signed_in(&self, role: identity::Role, id: &str) -> ApiClient {
        create_account(&self.readmodel_database_url, role, id).await;
        self.api_client.signed_in(id, &format!("test-{id}")).await
    }

    /// A client signed in as restaurant `id`, whose calls an operator has switched to offer
    /// mode (`PATCH /accounts/{id}` `{"dispatchMode":"offer"}`).
    pub async fn restaurant_in_offer_mode(&self, id: &str) -> ApiClient {
        let restaurant = self.signed_in(identity::Role::Restaurant, id).await;
        let operator = self.signed_in(identity::Role::Operator, "op-offers").await;
        let (status, account) = operator
            .patch(
                &format!("/accounts/{id}"),
                serde_json::json!({"dispatchMode": "offer"}),
            )
            .await;
        assert_eq!(status, 200, "offer mode: {account}");
        restaurant
    }

    /// Waits until delivery `id`'s workflow has completed (not failed, not cancelled).
    pub async fn workflow_completed(&self, id: &str) {
        let handle = self
            .temporal
            .get_workflow_handle::<workflows::DeliveryWorkflow>(workflows::names::workflow_id(id));
        crate::eventually(
            "the workflow to complete",
            Duration::from_secs(30),
            || async {
                let described = handle.describe(Default::default()).await.ok()?;
                (described.status() == temporalio_client::WorkflowExecutionStatus::Completed)
                    .then_some(())
            },
        )
        .await;
    }

    /// The invariant checker's view of this stack.
    pub fn checker_settings(&self) -> checker::Settings {
        let mut settings = checker::Settings::new(
            &self.temporal_address,
            &self.task_queue,
            &self.payment_database_url,
            &self.readmodel_database_url,
        );
        settings.temporal.codec = temporal_server::codec_keys();
        settings
    }
}

impl std::ops::Deref for Stack {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api_client
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.api.stop();
        if let Some(payment) = &mut self.payment {
            payment.stop();
        }
        self.stop_worker();
        if let Some(databases) = self.postgres.take() {
            databases.drop_all();
        }
    }
}

/// The payment and delivery-list databases of a stack on PostgreSQL: made fresh, so tests on
/// one server never see each other's rows.
struct FreshDatabases {
    server: String,
    names: [String; 2],
}

impl FreshDatabases {
    async fn create(server: &str, prefix: &str) -> Self {
        use sea_orm::ConnectionTrait as _;
        let names = ["payment", "deliveries"].map(|what| format!("e2e_{prefix}{what}"));
        let admin = sea_orm::Database::connect(server)
            .await
            .expect("connect to the PostgreSQL server");
        for name in &names {
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create a database");
        }
        let _ = admin.close().await;
        Self {
            server: server.to_owned(),
            names,
        }
    }

    /// The URL of database `i` (0: payment, 1: the delivery list and accounts).
    fn url(&self, i: usize) -> String {
        let mut url = reqwest::Url::parse(&self.server).expect("a PostgreSQL URL");
        url.set_path(&format!("/{}", self.names[i]));
        url.to_string()
    }

    /// Drops the databases, whatever connections remain (on a thread of its own: `Drop`
    /// cannot wait for a future).
    fn drop_all(self) {
        let dropped = std::thread::spawn(move || {
            use sea_orm::ConnectionTrait as _;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let Ok(admin) = sea_orm::Database::connect(&self.server).await else {
                    return;
                };
                for name in &self.names {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = admin.execute_unprepared(&drop).await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// Creates account `id` of `role` with secret `test-<id>` in the accounts at `database_url`,
/// unless it exists.
pub async fn create_account(database_url: &str, role: identity::Role, id: &str) {
    let accounts = identity::Accounts::connect(database_url)
        .await
        .expect("open the accounts");
    let new = match role {
        identity::Role::Restaurant => serde_json::json!({"id": id, "role": "restaurant",
            "name": format!("Restaurant {id}"), "zone": "gangnam",
            "pickupAddress": "Seoul, Gangnam-gu, Teheran-ro 101"}),
        identity::Role::Rider => {
            serde_json::json!({"id": id, "role": "rider", "name": format!("Rider {id}")})
        }
        identity::Role::Operator => {
            serde_json::json!({"id": id, "role": "operator", "name": format!("Operator {id}")})
        }
    };
    let new = serde_json::from_value(new).expect("a new account");
    match accounts
        .create_with_secret(new, &identity::Secret::new(format!("test-{id}")))
        .await
    {
        Ok(_) | Err(identity::AccountError::Exists(_)) => {}
        Err(e) => panic!("create account {id}: {e}"),
    }
}

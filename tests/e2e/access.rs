//! Who may do what to whose delivery: every endpoint of the delivery API against every kind of
//! caller (the restaurant that owns the delivery, another restaurant, the rider holding it,
//! another rider, an operator, no token), answered as the contract's table says. Another
//! tenant's delivery is answered exactly as an unknown one, so its id leaks nothing; a role
//! that may not make a request is `403 forbidden` whoever owns the delivery; no token is `401`.

use std::{collections::HashMap, time::Duration};

use e2e::{ApiClient, Stack, StackOptions, eventually};
use identity::Role;
use reqwest::Method;
use serde_json::{Value, json};

/// Who sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    /// `r-own`, whose deliveries the rows are about.
    Owner,
    /// `r-other`, a restaurant with deliveries of its own.
    OtherRestaurant,
    /// `rider-holder`, who picks the delivery up.
    Holder,
    /// `rider-other`, a rider who does not hold it.
    OtherRider,
    /// `ops-access`.
    Operator,
    /// No `Authorization` header.
    Nobody,
}

const CALLERS: [Caller; 6] = [
    Caller::Owner,
    Caller::OtherRestaurant,
    Caller::Holder,
    Caller::OtherRider,
    Caller::Operator,
    Caller::Nobody,
];

/// The contract's answer to one caller.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// This success status.
    Success(u16),
    /// `404` with exactly the body (the id aside) the same caller gets for an unknown id.
    Unknown,
    /// `403 forbidden`: the caller's role may not do this.
    Forbidden,
    /// `401 unauthorized`: no token.
    Unauthorized,
    /// Another refusal on the merits: status and code.
    Refused(u16, &'static str),
}

/// One endpoint on one delivery, and each caller's answer in the order they are sent.
struct Row {
    label: &'static str,
    method: Method,
    path: String,
    /// The same request for an id nobody has, for the `Unknown` cells.
    unknown: String,
    body: Option<Value>,
    cells: Vec<(Caller, Want)>,
}

fn row(
    label: &'static str,
    method: Method,
    path: impl Into<String>,
    unknown: impl Into<String>,
    body: Option<Value>,
    cells: &[(Caller, Want)],
) -> Row {
    Row {
        label,
        method,
        path: path.into(),
        unknown: unknown.into(),
        body,
        cells: cells.to_vec(),
    }
}

async fn send(
    client: &ApiClient,
    method: &Method,
    path: &str,
    body: &Option<Value>,
) -> (u16, Value) {
    let request = client.request(method.clone(), path);
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    ApiClient::read(request.send().await.expect("send")).await
}

/// The ids of a list of rows: the `items` of a `GET /delivery-list` page, or `GET /rider/calls`.
fn ids_of(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| r["deliveryId"].as_str().expect("deliveryId"))
        .collect()
}

/// Each caller's answer per row label.
type Answers = HashMap<(&'static str, Caller), Value>;

/// The statuses of each row as run, for the printed table.
type Matrix = Vec<(&'static str, HashMap<Caller, u16>)>;

/// Sends every cell of `rows`, in order, asserting the contract's answer; keeps the answers.
async fn check(
    rows: Vec<Row>,
    clients: &HashMap<Caller, ApiClient>,
    answers: &mut Answers,
    matrix: &mut Matrix,
) {
    for r in rows {
        let mut statuses = HashMap::new();
        for (caller, want) in &r.cells {
            let client = &clients[caller];
            let (status, body) = send(client, &r.method, &r.path, &r.body).await;
            let cell = format!("{} as {caller:?}: {status} {body}", r.label);
            match *want {
                Want::Success(expected) => assert_eq!(status, expected, "{cell}"),
                Want::Unknown => {
                    let (unknown_status, unknown_body) =
                        send(client, &r.method, &r.unknown, &r.body).await;
                    assert_eq!(
                        (status, unknown_status),
                        (404, 404),
                        "{cell} / {unknown_body}"
                    );
                    let id_of = |path: &str| path.split('/').nth(2).unwrap_or_default().to_owned();
                    assert_eq!(
                        body.to_string().replace(&id_of(&r.path), "<id>"),
                        unknown_body.to_string().replace(&id_of(&r.unknown), "<id>"),
                        "{cell}: not the answer to an unknown id"
                    );
                }
                Want::Forbidden => assert_eq!(
                    (status, body["code"].as_str()),
                    (403, Some("forbidden")),
                    "{cell}"
                ),
                Want::Unauthorized => assert_eq!(
                    (status, body["code"].as_str()),
                    (401, Some("unauthorized")),
                    "{cell}"
                ),
                Want::Refused(expected, code) => assert_eq!(
                    (status, body["code"].as_str()),
                    (expected, Some(code)),
                    "{cell}"
                ),
            }
            statuses.insert(*caller, status);
            answers.insert((r.label, *caller), body);
        }
        matrix.push((r.label, statuses));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_the_contracts_answer_on_every_delivery_endpoint() {
    use Caller::*;
    use Want::*;
    let stack = Stack::start(StackOptions::default()).await;
    let clients: HashMap<Caller, ApiClient> = HashMap::from([
        (Owner, stack.signed_in(Role::Restaurant, "r-own").await),
        (
            OtherRestaurant,
            stack.signed_in(Role::Restaurant, "r-other").await,
        ),
        (Holder, stack.signed_in(Role::Rider, "rider-holder").await),
        (
            OtherRider,
            stack.signed_in(Role::Rider, "rider-other").await,
        ),
        (
            Operator,
            stack.signed_in(Role::Operator, "ops-access").await,
        ),
        (Nobody, stack.api_client.clone()),
    ]);
    let client = |caller: Caller| &clients[&caller];

    // `held`: picked up by rider-holder (the pickup row); `open`: a call still open to every
    // rider, cancelled by its restaurant at the end; `spare`: cancelled by the operator;
    // `theirs`: the other restaurant's.
    let held = client(Owner).call_rider(4100).await;
    let open = client(Owner).call_rider(4200).await;
    let spare = client(Owner).call_rider(4300).await;
    let theirs = client(OtherRestaurant).call_rider(4400).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for (reader, id) in [(Owner, &held), (Owner, &open), (OtherRestaurant, &theirs)] {
        eventually(
            "the calls to be listed",
            Duration::from_secs(10),
            || async {
                let (status, _) = client(reader).get(&format!("/delivery-list/{id}")).await;
                (status == 200).then_some(())
            },
        )
        .await;
    }
    eventually(
        "the open call to be offered to riders",
        Duration::from_secs(10),
        || async {
            let (_, calls) = client(OtherRider).get("/rider/calls").await;
            calls
                .as_array()?
                .iter()
                .any(|c| c["deliveryId"] == open.as_str())
                .then_some(())
        },
    )
    .await;

    let on = |id: &str, suffix: &str| format!("/deliveries/{id}{suffix}");
    let reads = |id: &str| -> Vec<(Caller, Want)> {
        vec![
            (Owner, Success(200)),
            (OtherRestaurant, Unknown),
            (Holder, Success(200)),
            (OtherRider, if id == open { Success(200) } else { Unknown }),
            (Operator, Success(200)),
            (Nobody, Unauthorized),
        ]
    };
    let first = vec![
        // The body's restaurantId and riderId are ignored: the token says who calls.
        row(
            "POST /deliveries",
            Method::POST,
            "/deliveries",
            "/deliveries",
            Some(json!({"restaurantId": "r-other", "destination": "Seoul", "cost": 4500})),
            &[
                (Owner, Success(201)),
                (OtherRestaurant, Success(201)),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/pickup",
            Method::POST,
            on(&held, "/pickup"),
            on(&unknown, "/pickup"),
            Some(json!({"riderId": "rider-other"})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
                (Holder, Success(200)),
                (OtherRider, Refused(409, "wrong_state")),
            ],
        ),
    ];
    let mut answers = Answers::new();
    let mut matrix = Vec::new();
    check(first, &clients, &mut answers, &mut matrix).await;
    // The pickup went to the token's rider, not the body's.
    assert_eq!(
        answers[&("POST /deliveries", Owner)]["restaurantId"],
        "r-own"
    );
    assert_eq!(
        answers[&("POST /deliveries", OtherRestaurant)]["restaurantId"],
        "r-other"
    );
    assert_eq!(
        answers[&("POST /deliveries/{id}/pickup", Holder)]["riderId"],
        "rider-holder"
    );
    eventually(
        "the list to show the pickup",
        Duration::from_secs(10),
        || async {
            let (_, row) = client(Owner).get(&format!("/delivery-list/{held}")).await;
            (row["status"] == "Picked").then_some(())
        },
    )
    .await;

    let every_role_reads = [
        (Owner, Success(200)),
        (OtherRestaurant, Success(200)),
        (Holder, Success(200)),
        (OtherRider, Success(200)),
        (Operator, Success(200)),
        (Nobody, Unauthorized),
    ];
    let rest = vec![
        row(
            "GET /deliveries/{id} (picked)",
            Method::GET,
            on(&held, ""),
            on(&unknown, ""),
            None,
            &reads(&held),
        ),
        row(
            "GET /deliveries/{id} (open)",
            Method::GET,
            on(&open, ""),
            on(&unknown, ""),
            None,
            &reads(&open),
        ),
        row(
            "GET /delivery-list/{id}",
            Method::GET,
            format!("/delivery-list/{held}"),
            format!("/delivery-list/{unknown}"),
            None,
            &reads(&held),
        ),
        row(
            "GET /payments/{id}",
            Method::GET,
            format!("/payments/{held}"),
            format!("/payments/{unknown}"),
            None,
            &[
                (Owner, Success(200)),
                (OtherRestaurant, Unknown),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "GET /delivery-list",
            Method::GET,
            "/delivery-list",
            "/delivery-list",
            None,
            &every_role_reads,
        ),
        row(
            "GET /delivery-list?restaurantId=r-own",
            Method::GET,
            "/delivery-list?restaurantId=r-own",
            "/delivery-list",
            None,
            &every_role_reads,
        ),
        row(
            "GET /delivery-list?riderId=rider-holder",
            Method::GET,
            "/delivery-list?riderId=rider-holder",
            "/delivery-list",
            None,
            &every_role_reads,
        ),
        row(
            "GET /rider/calls",
            Method::GET,
            "/rider/calls",
            "/rider/calls",
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Success(200)),
                (OtherRider, Success(200)),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "GET /ops/summary",
            Method::GET,
            "/ops/summary",
            "/ops/summary",
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/fail (open)",
            Method::POST,
            on(&open, "/fail"),
            on(&unknown, "/fail"),
            Some(json!({"reason": "damaged"})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Refused(409, "wrong_state")),
                (OtherRider, Refused(409, "wrong_state")),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/fail (picked)",
            Method::POST,
            on(&held, "/fail"),
            on(&unknown, "/fail"),
            Some(json!({"reason": "damaged"})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (OtherRider, Refused(403, "not_your_delivery")),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        // Offered to nobody (its restaurant broadcasts): no rider may answer it as an offer.
        row(
            "POST /deliveries/{id}/accept (open)",
            Method::POST,
            on(&open, "/accept"),
            on(&unknown, "/accept"),
            Some(json!({})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Refused(403, "not_your_delivery")),
                (OtherRider, Refused(403, "not_your_delivery")),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/decline (open)",
            Method::POST,
            on(&open, "/decline"),
            on(&unknown, "/decline"),
            Some(json!({"reason": "too far"})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Refused(403, "not_your_delivery")),
                (OtherRider, Refused(403, "not_your_delivery")),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        // Given to the rider who holds it already: nothing changes.
        row(
            "POST /deliveries/{id}/reassign (picked)",
            Method::POST,
            on(&held, "/reassign"),
            on(&unknown, "/reassign"),
            Some(json!({"riderId": "rider-holder"})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "GET /rider/availability",
            Method::GET,
            "/rider/availability",
            "/rider/availability",
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Success(200)),
                (OtherRider, Success(200)),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "PUT /rider/availability",
            Method::PUT,
            "/rider/availability",
            "/rider/availability",
            Some(json!({"online": true})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Success(200)),
                (OtherRider, Success(200)),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "GET /ops/riders",
            Method::GET,
            "/ops/riders",
            "/ops/riders",
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "GET /ops/board",
            Method::GET,
            "/ops/board",
            "/ops/board",
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "GET /ops/runs",
            Method::GET,
            "/ops/runs",
            "/ops/runs",
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/cancel (picked)",
            Method::POST,
            on(&held, "/cancel"),
            on(&unknown, "/cancel"),
            Some(json!({"reason": "access table"})),
            &[
                (Owner, Refused(409, "wrong_state")),
                (OtherRestaurant, Unknown),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Refused(409, "wrong_state")),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/cancel (open)",
            Method::POST,
            on(&open, "/cancel"),
            on(&unknown, "/cancel"),
            None,
            &[
                (OtherRestaurant, Unknown),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Nobody, Unauthorized),
                (Owner, Success(200)),
            ],
        ),
        row(
            "POST /deliveries/{id}/cancel (operator)",
            Method::POST,
            on(&spare, "/cancel"),
            on(&unknown, "/cancel"),
            Some(json!({})),
            &[(Operator, Success(200))],
        ),
        row(
            "POST /deliveries/{id}/resolve (not waiting)",
            Method::POST,
            on(&held, "/resolve"),
            on(&unknown, "/resolve"),
            Some(json!({"outcome": "retry"})),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Refused(409, "wrong_state")),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /deliveries/{id}/complete",
            Method::POST,
            on(&held, "/complete"),
            on(&unknown, "/complete"),
            None,
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (OtherRider, Refused(403, "not_your_delivery")),
                (Operator, Forbidden),
                (Nobody, Unauthorized),
                (Holder, Success(200)),
            ],
        ),
    ];
    check(rest, &clients, &mut answers, &mut matrix).await;

    // Money, once `held` is completed and settled to its rider: each sees only its own; an
    // operator names whose.
    let today = chrono::Utc::now().date_naive();
    let statement = format!("/rider/statement?from={today}&to={today}");
    let get = |label, path: String, cells: &[(Caller, Want)]| {
        row(label, Method::GET, path.clone(), path, None, cells)
    };
    let money = vec![
        get(
            "GET /rider/statement",
            statement.clone(),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Success(200)),
                (OtherRider, Success(200)),
                (Operator, Refused(422, "validation_failed")),
                (Nobody, Unauthorized),
            ],
        ),
        get(
            "GET /rider/statement?riderId=rider-holder",
            format!("{statement}&riderId=rider-holder"),
            &[
                (Holder, Success(200)),
                (OtherRider, Forbidden),
                (Operator, Success(200)),
            ],
        ),
        get(
            "GET /rider/payouts",
            "/rider/payouts".to_owned(),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Success(200)),
                (OtherRider, Success(200)),
                (Operator, Refused(422, "validation_failed")),
                (Nobody, Unauthorized),
            ],
        ),
        get(
            "GET /rider/payouts?riderId=rider-holder",
            "/rider/payouts?riderId=rider-holder".to_owned(),
            &[(OtherRider, Forbidden), (Operator, Success(200))],
        ),
        get(
            "GET /restaurant/invoices",
            "/restaurant/invoices".to_owned(),
            &[
                (Owner, Success(200)),
                (OtherRestaurant, Success(200)),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Refused(422, "validation_failed")),
                (Nobody, Unauthorized),
            ],
        ),
        get(
            "GET /restaurant/invoices?restaurantId=r-own",
            "/restaurant/invoices?restaurantId=r-own".to_owned(),
            &[(OtherRestaurant, Forbidden), (Operator, Success(200))],
        ),
        get(
            "GET /restaurant/invoices/{number}",
            "/restaurant/invoices/r-own-1".to_owned(),
            &[
                (Owner, Refused(404, "invoice_not_found")),
                (OtherRestaurant, Refused(404, "invoice_not_found")),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Refused(404, "invoice_not_found")),
                (Nobody, Unauthorized),
            ],
        ),
        row(
            "POST /adjustments",
            Method::POST,
            "/adjustments",
            "/adjustments",
            Some(
                json!({"account": {"role": "rider", "id": "rider-holder"}, "amount": -500, "reason": "helmet"}),
            ),
            &[
                (Owner, Forbidden),
                (OtherRestaurant, Forbidden),
                (Holder, Forbidden),
                (OtherRider, Forbidden),
                (Operator, Success(201)),
                (Nobody, Unauthorized),
            ],
        ),
    ];
    check(money, &clients, &mut answers, &mut matrix).await;
    // The holder's statement has the delivery at its earning (10% commission) and nobody
    // else's has it.
    let line_of = |caller: Caller| {
        answers[&("GET /rider/statement", caller)]["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|l| l["deliveryId"] == held.as_str())
            .cloned()
    };
    let line = line_of(Holder).expect("the holder's statement lists the delivery");
    let cost = line["cost"].as_i64().expect("cost");
    assert_eq!(line["commission"].as_i64(), Some(cost / 10), "{line}");
    assert_eq!(line["earning"].as_i64(), Some(cost - cost / 10), "{line}");
    assert_eq!(line_of(OtherRider), None);
    assert_eq!(
        answers[&("GET /rider/statement?riderId=rider-holder", Operator)]["total"],
        answers[&("GET /rider/statement", Holder)]["total"]
    );

    // What each one's list holds: a restaurant its own rows only, whatever it filters on; a
    // rider the rows it held, whatever it filters on; an operator everyone's, filtered as asked.
    // Each list is one page of `{"items":[…],"nextCursor"}`: all there is here.
    let list = |label: &'static str, caller: Caller| -> &Value {
        let page = &answers[&(label, caller)];
        assert!(
            page["nextCursor"].is_null(),
            "{label} as {caller:?}: {page}"
        );
        &page["items"]
    };
    let all = "GET /delivery-list";
    let by_restaurant = "GET /delivery-list?restaurantId=r-own";
    let by_rider = "GET /delivery-list?riderId=rider-holder";
    let holds = |rows: &Value, id: &str| ids_of(rows).contains(&id);
    let every = |rows: &Value, field: &str, value: &str| {
        rows.as_array().unwrap().iter().all(|r| r[field] == value)
    };
    for (caller, restaurant) in [(Owner, "r-own"), (OtherRestaurant, "r-other")] {
        for label in [all, by_restaurant, by_rider] {
            let rows = list(label, caller);
            assert!(
                every(rows, "restaurantId", restaurant),
                "{label} as {caller:?}: {rows}"
            );
            assert_eq!(
                holds(rows, &held),
                caller == Owner,
                "{label} as {caller:?}: {rows}"
            );
        }
        for label in [all, by_restaurant] {
            let rows = list(label, caller);
            assert_eq!(
                holds(rows, &theirs),
                caller == OtherRestaurant,
                "{label} as {caller:?}: {rows}"
            );
        }
    }
    for (caller, rider) in [(Holder, "rider-holder"), (OtherRider, "rider-other")] {
        for label in [all, by_restaurant, by_rider] {
            let rows = list(label, caller);
            assert!(
                every(rows, "riderId", rider),
                "{label} as {caller:?}: {rows}"
            );
            assert_eq!(
                holds(rows, &held),
                caller == Holder,
                "{label} as {caller:?}: {rows}"
            );
        }
    }
    let rows = list(all, Operator);
    assert!(holds(rows, &held) && holds(rows, &theirs), "{rows}");
    let rows = list(by_restaurant, Operator);
    assert!(
        every(rows, "restaurantId", "r-own") && holds(rows, &held),
        "{rows}"
    );
    assert!(!holds(rows, &theirs), "{rows}");
    let rows = list(by_rider, Operator);
    assert_eq!(ids_of(rows), vec![held.as_str()], "{rows}");
    // Open calls: the same for every rider and operator, and the open one among them.
    let calls = |caller: Caller| ids_of(&answers[&("GET /rider/calls", caller)]);
    assert!(
        calls(OtherRider).contains(&open.as_str()),
        "{:?}",
        calls(OtherRider)
    );
    assert_eq!(
        answers[&("POST /deliveries/{id}/cancel (open)", Owner)]["status"],
        "Cancelled"
    );
    assert_eq!(
        answers[&("POST /deliveries/{id}/cancel (operator)", Operator)]["status"],
        "Cancelled"
    );
    assert_eq!(
        answers[&("POST /deliveries/{id}/complete", Holder)]["status"],
        "Completed"
    );
    assert_eq!(
        answers[&("GET /rider/availability", Holder)]["active"],
        json!([held])
    );
    assert_eq!(
        answers[&("POST /deliveries/{id}/reassign (picked)", Operator)]["assignments"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a reassignment to the holder changed the delivery"
    );

    // The table, as run.
    let mut printed = format!("{:<60}", "endpoint");
    for caller in CALLERS {
        printed += &format!(" {:>16}", format!("{caller:?}"));
    }
    for (label, statuses) in &matrix {
        printed += &format!("\n{label:<60}");
        for caller in CALLERS {
            let cell = statuses.get(&caller).map_or("-".to_owned(), u16::to_string);
            printed += &format!(" {cell:>16}");
        }
    }
    eprintln!("{printed}");
}

//! Signing in and accounts, over HTTP: the token endpoint's grants and refusals, the public
//! keys, every role on every `/accounts` endpoint, rotation and deletion ending sign-in and
//! tokens, and the first operator made by the command line.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{Stack, StackOptions};
use identity::Role;
use serde_json::{Value, json};

/// A token request's form fields.
type Form<'a> = &'a [(&'a str, &'a str)];

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_signs_in_every_role_and_refuses_everything_else() {
    let stack = Stack::start(StackOptions::default()).await;
    for (role, id) in [
        (Role::Restaurant, "r-tok"),
        (Role::Rider, "rider-tok"),
        (Role::Operator, "ops-tok"),
    ] {
        e2e::stack::create_account(&stack.readmodel_database_url, role, id).await;
    }

    // The password grant, for every role: a signed JWT whose kid the JWK Set publishes.
    let (status, jwks) = stack.get("/.well-known/jwks.json").await;
    assert_eq!(status, 200, "{jwks}");
    for id in ["r-tok", "rider-tok", "ops-tok"] {
        let secret = format!("test-{id}");
        let (status, body) = stack
            .token_request(&[
                ("grant_type", "password"),
                ("username", id),
                ("password", &secret),
            ])
            .await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        let header = header_of(body["access_token"].as_str().unwrap());
        assert_eq!(
            (header["alg"].as_str(), header["typ"].as_str()),
            (Some("EdDSA"), Some("at+jwt"))
        );
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == header["kid"]),
            "{header} not in {jwks}"
        );
        let (status, me) = stack
            .with_token(body["access_token"].as_str().unwrap())
            .get("/accounts/me")
            .await;
        assert_eq!((status, me["id"].as_str()), (200, Some(id)), "{me}");
    }

    // Client credentials, as form fields and as HTTP Basic: restaurants only.
    let (status, body) = stack
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "r-tok"),
            ("client_secret", "test-r-tok"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let response = stack
        .http
        .post(stack.url("/oauth/token"))
        .basic_auth("r-tok", Some("test-r-tok"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = stack
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "rider-tok"),
            ("client_secret", "test-rider-tok"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );

    // Wrong secrets, unknown accounts, missing fields, unknown grants: RFC 6749's answers, and
    // the same answer for an unknown account as for a wrong secret.
    let refusals: [(Form, u16, &str); 6] = [
        (
            &[
                ("grant_type", "password"),
                ("username", "rider-tok"),
                ("password", "wrong"),
            ],
            400,
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", "nobody"),
                ("password", "wrong"),
            ],
            400,
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "r-tok"),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            &[("grant_type", "password"), ("username", "rider-tok")],
            400,
            "invalid_request",
        ),
        (
            &[("grant_type", "authorization_code"), ("code", "x")],
            400,
            "unsupported_grant_type",
        ),
        (&[("username", "rider-tok")], 400, "invalid_request"),
    ];
    for (form, want_status, want_error) in refusals {
        let (status, body) = stack.token_request(form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (want_status, Some(want_error)),
            "{form:?}: {body}"
        );
        assert!(body["error_description"].is_string(), "{body}");
    }

    // No token, a malformed one, `alg: none`, a forged signature: 401 with the Bearer challenge.
    let good = stack
        .signed_in(Role::Rider, "rider-tok")
        .await
        .token
        .unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    let forged_claims = URL_SAFE_NO_PAD.encode(
        String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
            .unwrap()
            .replace("\"rider\"", "\"operator\""),
    );
    parts[1] = &forged_claims;
    let forged = parts.join(".");
    for token in [
        None,
        Some("not-a-jwt"),
        Some(unsigned.as_str()),
        Some(forged.as_str()),
    ] {
        let mut request = stack.http.get(stack.url("/accounts/me"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (_, body) = e2e::ApiClient::read(response).await;
        assert_eq!(body["code"], "unauthorized", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_may_do_on_accounts_what_the_contract_says_and_nothing_more() {
    let stack = Stack::start(StackOptions::default()).await;
    let operator = stack.signed_in(Role::Operator, "ops-acc").await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-acc").await;
    let rider = stack.signed_in(Role::Rider, "rider-acc").await;

    // Operators create (the secret shown once, never again), list, read and patch.
    let (status, created) = operator
        .post(
            "/accounts",
            json!({"role": "rider", "id": "rider-new", "name": "New Rider", "zones": ["mapo"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["role"].as_str(), created["capacity"].as_i64()),
        (Some("rider"), Some(3))
    );
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.len() >= 22, "at least 128 bits: {secret}");
    let (status, again) = operator
        .post(
            "/accounts",
            json!({"role": "rider", "id": "rider-new", "name": "Twin"}),
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("account_exists")),
        "{again}"
    );
    let (status, page) = operator.get("/accounts?role=rider&limit=1").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["nextCursor"].as_str().expect("a second page");
    let (status, next) = operator
        .get(&format!("/accounts?role=rider&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{next}");
    assert_ne!(next["items"][0]["id"], page["items"][0]["id"]);
    let (status, got) = operator.get("/accounts/rider-new").await;
    assert_eq!(status, 200);
    assert!(
        got.get("secret").is_none() && !got.to_string().contains(&secret),
        "{got}"
    );
    let patch = |client: &e2e::ApiClient, path: &str, body: Value| {
        let request = client.request(reqwest::Method::PATCH, path).json(&body);
        async move { e2e::ApiClient::read(request.send().await.unwrap()).await }
    };
    let (status, patched) = patch(
        &operator,
        "/accounts/r-acc",
        json!({"dispatchMode": "offer"}),
    )
    .await;
    assert_eq!(
        (status, patched["dispatchMode"].as_str()),
        (200, Some("offer")),
        "{patched}"
    );
    let (status, wrong) = patch(&operator, "/accounts/r-acc", json!({"capacity": 2})).await;
    assert_eq!(
        (status, wrong["field"].as_str()),
        (422, Some("capacity")),
        "{wrong}"
    );

    // Restaurants and riders read themselves only; a rider sets its own zones and capacity.
    for (client, own) in [(&restaurant, "r-acc"), (&rider, "rider-acc")] {
        assert_eq!(client.get("/accounts/me").await.1["id"], own);
        assert_eq!(client.get(&format!("/accounts/{own}")).await.0, 200);
        for (status, body) in [
            client.get("/accounts/rider-new").await,
            client.get("/accounts?role=rider").await,
            client
                .post("/accounts", json!({"role": "operator", "name": "Me too"}))
                .await,
        ] {
            assert_eq!(
                (status, body["code"].as_str()),
                (403, Some("forbidden")),
                "{body}"
            );
        }
        let response = client
            .request(reqwest::Method::DELETE, &format!("/accounts/{own}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    let (status, body) = patch(
        &rider,
        "/accounts/me",
        json!({"capacity": 5, "zones": ["gangnam"]}),
    )
    .await;
    assert_eq!(
        (status, body["capacity"].as_i64()),
        (200, Some(5)),
        "{body}"
    );
    for (client, body) in [
        (&rider, json!({"name": "Renamed"})),
        (&restaurant, json!({"name": "Renamed"})),
    ] {
        let (status, answer) = patch(client, "/accounts/me", body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("forbidden")),
            "{answer}"
        );
    }

    // Rotating a secret: the old secret and the tokens issued before stop working at once.
    let fresh = stack.api_client.signed_in("rider-new", &secret).await;
    // Tokens carry whole seconds (`iat`): one issued in the second of the rotation still
    // counts, so rotate in a later second than this one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, rotated) = fresh.post("/accounts/me/secret", json!({})).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        fresh.get("/accounts/me").await.0,
        401,
        "a token from before the rotation"
    );
    let (status, _) = stack
        .token_request(&[
            ("grant_type", "password"),
            ("username", "rider-new"),
            ("password", &secret),
        ])
        .await;
    assert_eq!(status, 400, "the old secret");
    let renewed = stack.api_client.signed_in("rider-new", new_secret).await;
    assert_eq!(renewed.get("/accounts/me").await.0, 200);

    // Deleting: sign-in and tokens stop, and the id is never given out again.
    let response = operator
        .request(reqwest::Method::DELETE, "/accounts/rider-new")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        renewed.get("/accounts/me").await.0,
        401,
        "a deleted account's token"
    );
    let (status, _) = stack
        .token_request(&[
            ("grant_type", "password"),
            ("username", "rider-new"),
            ("password", new_secret),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(operator.get("/accounts/rider-new").await.0, 404);
    let (status, _) = operator
        .post(
            "/accounts",
            json!({"role": "rider", "id": "rider-new", "name": "Again"}),
        )
        .await;
    assert_eq!(status, 409, "a deleted id is not reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_operator_comes_from_the_command_line_and_its_secret_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("deliveries.db").display()
    );
    let run = |args: &[&str]| {
        std::process::Command::new(e2e::procs::binary("delivery-api"))
            .args(args)
            .env("READMODEL_DATABASE_URL", &database_url)
            .output()
            .expect("run delivery-api")
    };
    assert!(run(&["migrate"]).status.success());
    let created = run(&["accounts", "create-operator", "--id", "ops-cli"]);
    assert!(created.status.success(), "{created:?}");
    let stdout = String::from_utf8(created.stdout).unwrap();
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("secret"))
        .map(str::trim)
        .expect("the secret is printed once");
    let accounts = identity::Accounts::connect(&database_url).await.unwrap();
    let account = accounts
        .authenticate("ops-cli", &identity::Secret::new(secret))
        .await
        .expect("the printed secret signs in");
    assert_eq!(account.role(), Role::Operator);
    let again = run(&["accounts", "create-operator", "--id", "ops-cli"]);
    assert!(
        !again.status.success(),
        "a second operator with the same id"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_has_its_own_rate_limit_and_a_slow_client_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let limits = api::LimitSettings {
        rate_per_sec: 1,
        rate_burst: 3,
        request_timeout: std::time::Duration::from_secs(30),
        header_read_timeout: std::time::Duration::from_millis(300),
        max_in_flight: 64,
    };
    let stack = Stack::start(StackOptions {
        limits: Some(limits),
        ..StackOptions::default()
    })
    .await;
    let first = stack.signed_in(Role::Rider, "rider-busy").await;
    let second = stack.signed_in(Role::Rider, "rider-calm").await;

    // The burst, then 429 with Retry-After and the error body; another caller is not affected.
    for _ in 0..3 {
        assert_eq!(first.get("/accounts/me").await.0, 200);
    }
    let response = first
        .request(reqwest::Method::GET, "/accounts/me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (_, body) = e2e::ApiClient::read(response).await;
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(second.get("/accounts/me").await.0, 200);

    // Headers sent slower than the header-read timeout: the connection is closed.
    let addr = stack.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut buf),
    )
    .await
    .expect("the server closes a connection that trickles its headers");
    assert!(read.is_ok(), "{read:?}");
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_one_accounts_secret_is_slowed_down_whatever_the_address() {
    let stack = Stack::start(StackOptions::default()).await;
    e2e::stack::create_account(&stack.readmodel_database_url, Role::Rider, "rider-guess").await;
    let attempt = |secret: &'static str| {
        let stack = &stack;
        async move {
            stack
                .token_request(&[
                    ("grant_type", "password"),
                    ("username", "rider-guess"),
                    ("password", secret),
                ])
                .await
        }
    };
    for _ in 0..30 {
        assert_eq!(attempt("wrong").await.0, 400);
    }
    // The account's attempts are spent: even the right secret waits now.
    let (status, body) = attempt("test-rider-guess").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    // Another account is not affected.
    e2e::stack::create_account(&stack.readmodel_database_url, Role::Rider, "rider-other").await;
    stack
        .api_client
        .signed_in("rider-other", "test-rider-other")
        .await;
}

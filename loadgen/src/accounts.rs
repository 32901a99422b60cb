//! Signing in before a run: every request of a run carries the bearer token of the account it
//! acts as (a restaurant calls, a rider picks up and completes). The operator account of the
//! settings makes the run's restaurant and rider accounts, or, when an id exists already,
//! rotates its secret to get one; then each account signs in. None of this is measured: the
//! run starts once every account holds its token.
//!
//! Tokens live an hour (the API's `API_TOKEN_TTL_SECS`): a longer run sees `401`s.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::Dispatch;

/// Accounts made and signed in at once: each costs the API a slow (Argon2) hash and a check.
const SETUP_CONCURRENCY: usize = 8;

/// How often a setup request answered `429` or `503` is sent again before the run gives up.
const SETUP_RETRIES: usize = 30;

/// An account id and its secret, to sign in with (the password grant).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
}

impl Credentials {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
        }
    }
}

/// A restaurant a run calls as, and how it dispatches.
pub(crate) struct Restaurant {
    pub(crate) id: String,
    pub(crate) dispatch: Dispatch,
}

/// The role of an account a run acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Restaurant(Dispatch),
    Rider,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Restaurant(_) => "restaurant",
            Role::Rider => "rider",
        }
    }

    /// `POST /accounts` for a new account `id` of this role. Riders work in every zone.
    fn new_account(self, id: &str) -> Value {
        match self {
            Role::Restaurant(dispatch) => json!({
                "role": "restaurant", "id": id, "name": format!("Load restaurant {id}"),
                "zone": dispatch.zone(), "pickupAddress": "Seoul, Gangnam-gu, Teheran-ro 101",
                "dispatchMode": dispatch.mode(),
            }),
            Role::Rider => json!({"role": "rider", "id": id, "name": format!("Load rider {id}")}),
        }
    }
}

/// The bearer tokens of a run: the operator's, and one per restaurant and rider id.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) operator: Arc<str>,
    tokens: Arc<HashMap<String, Arc<str>>>,
}

impl SignedIn {
    /// The token of account `id`, which [`sign_in`] was given.
    pub(crate) fn token(&self, id: &str) -> Arc<str> {
        self.get(id)
            .unwrap_or_else(|| panic!("account {id} was not signed in before the run"))
    }

    /// The token of account `id`, if [`sign_in`] was given it.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<str>> {
        self.tokens.get(id).cloned()
    }
}

/// Signs in as `operator`, makes (or takes over) the accounts `restaurants` and `riders`, and
/// signs each of them in.
pub(crate) async fn sign_in(
    http: &reqwest::Client,
    api: &str,
    operator: &Credentials,
    restaurants: impl IntoIterator<Item = Restaurant>,
    riders: impl IntoIterator<Item = String>,
) -> anyhow::Result<SignedIn> {
    let operator_token: Arc<str> = token(http, api, operator)
        .await
        .with_context(|| {
            format!(
                "sign in as the operator {} (--operator, --operator-secret)",
                operator.id
            )
        })?
        .into();
    let accounts: BTreeMap<String, Role> = restaurants
        .into_iter()
        .map(|r| (r.id, Role::Restaurant(r.dispatch)))
        .chain(riders.into_iter().map(|id| (id, Role::Rider)))
        .collect();
    let total = accounts.len();
    eprintln!("signing in {total} accounts as operator {}", operator.id);
    let tokens: HashMap<String, Arc<str>> = futures::stream::iter(accounts)
        .map(|(id, role)| {
            let operator_token = operator_token.clone();
            async move {
                let secret = account(http, api, &operator_token, role, &id).await?;
                let token = token(http, api, &Credentials::new(id.as_str(), secret))
                    .await
                    .with_context(|| format!("sign in as {} {id}", role.name()))?;
                anyhow::Ok((id, Arc::from(token)))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(SignedIn {
        operator: operator_token,
        tokens: Arc::new(tokens),
    })
}

/// A secret of account `id` of `role`: the new account's, or, when the id exists with that
/// role, a freshly rotated one (which ends the account's other sessions). An existing
/// restaurant is set to the dispatch mode the run wants first.
async fn account(
    http: &reqwest::Client,
    api: &str,
    operator: &str,
    role: Role,
    id: &str,
) -> anyhow::Result<String> {
    let body = role.new_account(id);
    let (status, created) = send(|| {
        http.post(format!("{api}/accounts"))
            .bearer_auth(operator)
            .json(&body)
    })
    .await?;
    match status {
        201 => return secret_of(&created).with_context(|| format!("create account {id}")),
        409 => {}
        _ => bail!("create account {id}: {status} {created}"),
    }
    let (status, existing) = send(|| {
        http.get(format!("{api}/accounts/{id}"))
            .bearer_auth(operator)
    })
    .await?;
    if status != 200 {
        bail!("account {id} exists but cannot be read: {status} {existing}");
    }
    if existing["role"] != role.name() {
        bail!(
            "account {id} exists as a {}, not a {}",
            existing["role"],
            role.name()
        );
    }
    if let Role::Restaurant(dispatch) = role {
        let (status, patched) = send(|| {
            http.patch(format!("{api}/accounts/{id}"))
                .bearer_auth(operator)
                .json(&json!({ "dispatchMode": dispatch.mode() }))
        })
        .await?;
        if status != 200 {
            bail!("set the dispatch mode of account {id}: {status} {patched}");
        }
    }
    let (status, rotated) = send(|| {
        http.post(format!("{api}/accounts/{id}/secret"))
            .bearer_auth(operator)
    })
    .await?;
    if status != 200 {
        bail!("rotate the secret of account {id}: {status} {rotated}");
    }
    secret_of(&rotated).with_context(|| format!("rotate the secret of account {id}"))
}

fn secret_of(answer: &Value) -> anyhow::Result<String> {
    answer["secret"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no secret in {answer}"))
}

/// `POST /oauth/token` with the password grant: the access token.
async fn token(
    http: &reqwest::Client,
    api: &str,
    credentials: &Credentials,
) -> anyhow::Result<String> {
    let form = [
        ("grant_type", "password"),
        ("username", credentials.id.as_str()),
        ("password", credentials.secret.as_str()),
    ];
    let (status, answer) = send(|| http.post(format!("{api}/oauth/token")).form(&form)).await?;
    if status != 200 {
        bail!("{status} {answer}");
    }
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no access_token in {answer}"))
}

/// Sends the request `make` builds: the status and the JSON answer (`Null` when none), after
/// waiting out `429 rate_limited` and `503` answers (Retry-After, else a second).
async fn send(make: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let mut tries = 0;
    loop {
        let response = make().send().await?;
        let status = response.status().as_u16();
        if matches!(status, 429 | 503) && tries < SETUP_RETRIES {
            tries += 1;
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.clamp(1, 10))).await;
            continue;
        }
        let text = response.text().await?;
        return Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)));
    }
}

//! An external OpenID provider's tokens, proven against a real one: npm `oidc-provider`
//! (OpenID-certified) run by this test (`tests/oidc/provider.mjs`; `./infra/test.sh` installs
//! it), issuing RFC 9068 JWT access tokens signed RS256 with the role as a claim.

use std::{path::PathBuf, process::Stdio, time::Duration};

use e2e::{Stack, StackOptions, free_port, procs::wait_until};
use identity::Role;
use serde_json::json;

const AUDIENCE: &str = "https://delivery.test/api";

/// The provider as a child process, killed when dropped.
struct Provider {
    child: std::process::Child,
    issuer: String,
}

impl Provider {
    async fn start() -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run `npm ci --prefix tests/oidc` (./infra/test.sh does)"
        );
        let port = free_port();
        let child = std::process::Command::new("node")
            .arg(dir.join("provider.mjs"))
            .env("PORT", port.to_string())
            .env("AUDIENCE", AUDIENCE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node");
        let issuer = format!("http://127.0.0.1:{port}");
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let http = reqwest::Client::new();
        wait_until("the OpenID provider", Duration::from_secs(30), || {
            let (http, discovery) = (http.clone(), discovery.clone());
            async move {
                http.get(&discovery)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        Self { child, issuer }
    }

    /// An access token for `client` (client credentials grant), for `resource`.
    async fn token(&self, client: &str, resource: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", &format!("{client}-secret")),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token request");
        let body: serde_json::Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token for {client}: {body}"))
            .to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_providers_tokens_work_for_its_accounts_and_only_for_them() {
    let provider = Provider::start().await;
    let stack = Stack::start(StackOptions {
        oidc: Some((provider.issuer.clone(), AUDIENCE.to_owned())),
        ..StackOptions::default()
    })
    .await;
    let operator = stack.signed_in(Role::Operator, "ops-ext").await;
    for (id, role) in [("ext-r-1", "restaurant"), ("ext-rider", "restaurant")] {
        let (status, body) = operator
            .post(
                "/accounts",
                json!({"role": role, "id": id, "name": id, "external": true,
                       "zone": "gangnam", "pickupAddress": "Seoul, Gangnam-gu 1"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert!(
            body["secret"].is_null(),
            "an external account has no secret: {body}"
        );
    }

    // The provider's token for an external account of that role: the account, as itself.
    let restaurant = stack
        .api_client
        .with_token(&provider.token("ext-r-1", AUDIENCE).await);
    let (status, me) = restaurant.get("/accounts/me").await;
    assert_eq!((status, me["id"].as_str()), (200, Some("ext-r-1")), "{me}");
    let (status, list) = restaurant.get("/delivery-list").await;
    assert_eq!(status, 200, "{list}");
    let (status, call) = restaurant
        .post(
            "/deliveries",
            json!({"destination": "Seoul, Gangnam-gu", "cost": 9000}),
        )
        .await;
    assert!(status == 201 || status == 202, "{status} {call}");
    assert_eq!(call["restaurantId"], "ext-r-1");

    // No account here, or an account of another role: 403 unknown_account.
    for client in ["ext-nobody", "ext-rider"] {
        let stranger = stack
            .api_client
            .with_token(&provider.token(client, AUDIENCE).await);
        let (status, body) = stranger.get("/accounts/me").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("unknown_account")),
            "{client}: {body}"
        );
    }

    // A token of the provider for another audience: 401.
    let elsewhere = stack
        .api_client
        .with_token(&provider.token("ext-r-1", "https://elsewhere.example").await);
    assert_eq!(elsewhere.get("/accounts/me").await.0, 401);

    // Our own tokens keep working beside the provider's.
    assert_eq!(operator.get("/accounts/me").await.0, 200);
}

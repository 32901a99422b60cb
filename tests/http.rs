//! A small client of the delivery API for tests.

use std::time::Duration;

use serde_json::Value;

/// The API at `base` (`http://127.0.0.1:PORT`), signed in or not.
#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    pub http: reqwest::Client,
    /// The bearer token every request carries, once signed in.
    pub token: Option<String>,
}

impl ApiClient {
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            base,
            http,
            token: None,
        }
    }

    /// `POST /oauth/token` with `form`: the status and the JSON answer.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .expect("POST /oauth/token");
        Self::read(response).await
    }

    /// This client signed in as `id` (password grant), asserting a 200.
    pub async fn signed_in(&self, id: &str, secret: &str) -> ApiClient {
        let (status, body) = self
            .token_request(&[
                ("grant_type", "password"),
                ("username", id),
                ("password", secret),
            ])
            .await;
        assert_eq!(status, 200, "sign in as {id}: {body}");
        self.with_token(body["access_token"].as_str().expect("access_token"))
    }

    /// This client sending `token` as its bearer token.
    pub fn with_token(&self, token: &str) -> ApiClient {
        ApiClient {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// A request builder carrying the bearer token, if any.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with a JSON body; the status and the JSON answer (`Null` when none).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST");
        Self::read(response).await
    }

    /// `PUT path` with a JSON body; the status and the JSON answer (`Null` when none).
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::PUT, path)
            .json(&body)
            .send()
            .await
            .expect("PUT");
        Self::read(response).await
    }

    /// `PATCH path` with a JSON body; the status and the JSON answer (`Null` when none).
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::PATCH, path)
            .json(&body)
            .send()
            .await
            .expect("PATCH");
        Self::read(response).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET");
        Self::read(response).await
    }

    pub async fn read(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("read body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Calls a rider for a fresh delivery as this client (a signed-in restaurant: the
    /// restaurant is the token's account) and returns its id, asserting a 201.
    pub async fn call_rider(&self, cost: i64) -> String {
        let (status, body) = self
            .post(
                "/deliveries",
                serde_json::json!({"destination": "Seoul, Gangnam-gu, Teheran-ro 1", "cost": cost}),
            )
            .await;
        assert_eq!(status, 201, "call: {body}");
        body["deliveryId"].as_str().expect("deliveryId").to_owned()
    }
}

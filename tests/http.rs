//! A small client of the delivery API for tests.

use std::time::Duration;

use serde_json::Value;

/// The API at `base` (`http://127.0.0.1:PORT`).
#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    pub http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { base, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with a JSON body; the status and the JSON answer (`Null` when none).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        Self::read(response).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        Self::read(response).await
    }

    pub async fn read(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("read body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Calls a rider for a fresh delivery and returns its id, asserting a 201.
    pub async fn call_rider(&self, restaurant_id: &str, cost: i64) -> String {
        let (status, body) = self
            .post("/deliveries", serde_json::json!({"restaurantId": restaurant_id, "destination": "Seoul, Gangnam-gu, Teheran-ro 1", "cost": cost}))
            .await;
        assert_eq!(status, 201, "call: {body}");
        body["deliveryId"].as_str().expect("deliveryId").to_owned()
    }
}

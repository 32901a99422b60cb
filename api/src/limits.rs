//! Limits of the public listener: a token bucket per caller (`429 rate_limited`), a request
//! timeout, a concurrency limit that sheds load (`503 overloaded`), all standard tower layers;
//! the header-read timeout is hyper's, set where the connections are served (`crate::serve`).

use std::{
    hash::{BuildHasher, RandomState},
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    BoxError, Router,
    error_handling::HandleErrorLayer,
    extract::ConnectInfo,
    http::{HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::ServiceBuilder;
use tower_governor::{
    GovernorError, GovernorLayer, governor::GovernorConfigBuilder, key_extractor::KeyExtractor,
};

use crate::error::ErrorBody;

/// The listener's limits (`delivery-api --help`).
#[derive(clap::Args, Debug, Clone)]
pub struct LimitSettings {
    /// Requests per second each caller may make on average (per bearer token; per address for
    /// requests without one, such as sign-in); 0 turns the rate limit off
    #[arg(
        long = "rate-limit-per-sec",
        env = "API_RATE_LIMIT_PER_SEC",
        value_name = "N",
        default_value = "100"
    )]
    pub rate_per_sec: u32,
    /// Requests a caller may make at once above the average rate
    #[arg(
        long = "rate-limit-burst",
        env = "API_RATE_LIMIT_BURST",
        value_name = "N",
        default_value = "200",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub rate_burst: u32,
    /// Longest a request may take before it is answered 503 `timeout`, in milliseconds
    #[arg(
        long = "request-timeout-ms",
        env = "API_REQUEST_TIMEOUT_MS",
        value_name = "MS",
        default_value = "30000",
        value_parser = config::millis
    )]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers before the connection is closed,
    /// in milliseconds
    #[arg(
        long = "header-read-timeout-ms",
        env = "API_HEADER_READ_TIMEOUT_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = config::millis
    )]
    pub header_read_timeout: Duration,
    /// Requests served at once; more are answered 503 `overloaded` at once (with Retry-After)
    /// instead of queueing
    #[arg(
        long = "max-in-flight",
        env = "API_MAX_IN_FLIGHT",
        value_name = "N",
        default_value = "1024",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_in_flight: u32,
}

/// Whom a request is counted against: its bearer token (hashed with a per-process key, so
/// the table never holds a credential), else the address it came from.
#[derive(Clone)]
struct CallerKey(RandomState);

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Caller {
    Token(u64),
    Address(IpAddr),
}

impl KeyExtractor for CallerKey {
    type Key = Caller;

    fn extract<T>(&self, req: &Request<T>) -> Result<Caller, GovernorError> {
        let token = crate::auth::authorization(req.headers())
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token);
        if let Some(token) = token {
            return Ok(Caller::Token(self.0.hash_one(token)));
        }
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| Caller::Address(addr.ip()))
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// `router` behind the limits.
pub(crate) fn apply(router: Router, settings: &LimitSettings) -> Router {
    let shedding = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overload_answer))
        .load_shed()
        .concurrency_limit(settings.max_in_flight as usize)
        .timeout(settings.request_timeout);
    let router = router.layer(shedding);
    if settings.rate_per_sec == 0 {
        return router;
    }
    let Some(config) = GovernorConfigBuilder::default()
        .key_extractor(CallerKey(RandomState::new()))
        .per_nanosecond(1_000_000_000 / u64::from(settings.rate_per_sec).max(1))
        .burst_size(settings.rate_burst)
        .finish()
    else {
        tracing::warn!("rate limit settings refused; serving without a rate limit");
        return router;
    };
    let config = Arc::new(config);
    forget_quiet_keys(config.limiter());
    router.layer(GovernorLayer::new(config).error_handler(rate_limited_answer))
}

/// Drops, once a minute, the buckets of keys that went quiet (full again), so a keyed limiter
/// holds only the callers of the last minute; stops when the limiter is dropped.
pub(crate) fn forget_quiet_keys<K, M>(
    limiter: &Arc<
        governor::RateLimiter<
            K,
            governor::state::keyed::DefaultKeyedStateStore<K>,
            governor::clock::DefaultClock,
            M,
        >,
    >,
) where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    M: governor::middleware::RateLimitingMiddleware<governor::clock::QuantaInstant>
        + Send
        + Sync
        + 'static,
{
    let limiter = Arc::downgrade(limiter);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                return;
            };
            limiter.retain_recent();
        }
    });
}

fn rate_limited_answer(error: GovernorError) -> Response {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => rate_limited(wait_time),
        other => crate::ApiError::internal(other).into_response(),
    }
}

/// `429 rate_limited` with `Retry-After`: retry in `seconds` (at least one).
pub(crate) fn rate_limited(seconds: u64) -> Response {
    let seconds = seconds.max(1);
    let body = ErrorBody {
        code: "rate_limited",
        message: format!("too many requests; retry in {seconds} s"),
        field: None,
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

async fn overload_answer(error: BoxError) -> Response {
    let (code, message) = if error.is::<tower::load_shed::error::Overloaded>() {
        ("overloaded", "the server is at capacity; retry shortly")
    } else if error.is::<tower::timeout::error::Elapsed>() {
        ("timeout", "the request took too long; retry shortly")
    } else {
        return crate::ApiError::internal(error).into_response();
    };
    let body = ErrorBody {
        code,
        message: message.into(),
        field: None,
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

//! The one error type of the API: every 4xx/5xx body is `{"code","message"}`.

use axum::{
    Json,
    extract::rejection::{BytesRejection, PathRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable, snake_case.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The answers to input the API cannot take, documented on every endpoint that reads a body.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum BadInput {
    /// The body is not a JSON object.
    #[response(status = 400, description = "malformed JSON (`malformed_json`)")]
    Malformed(ErrorBody),
    #[response(
        status = 413,
        description = "the body is over 16 KiB (`payload_too_large`)"
    )]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "a body that is not `application/json` (`unsupported_media_type`)"
    )]
    MediaType(ErrorBody),
    #[response(
        status = 422,
        description = "a field or header is missing, of the wrong type or invalid (`validation_failed`, `field` names it), or the Idempotency-Key was used with another request (`idempotency_key_reused`)"
    )]
    Invalid(ErrorBody),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON or not an object.
    #[error("{0}")]
    MalformedJson(String),
    /// 415: a JSON endpoint got a body of another media type.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 422: a field is missing, empty, of the wrong type or out of range.
    #[error("{message}")]
    Validation { field: String, message: String },
    /// 404: no such delivery, payment or route.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 409: the delivery is in the wrong state for this request.
    #[error("{0}")]
    Conflict(String),
    /// 403: another rider holds this delivery.
    #[error("{0}")]
    Forbidden(String),
    /// 409: the rider cannot take the delivery now (`rider_offline`, `rider_at_capacity`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// 401 + `WWW-Authenticate: Bearer`: no token, or one that is not (or no longer) valid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller's role may not do this (`forbidden`), or an external provider's
    /// account unknown here (`unknown_account`).
    #[error("{message}")]
    NotAllowed { code: &'static str, message: String },
    /// 409: an account with this id exists or existed (ids are never reused).
    #[error("{0}")]
    AccountExists(String),
    /// 422: an `Idempotency-Key` was reused with a different request.
    #[error("{0}")]
    IdempotencyMismatch(String),
    /// 409: an `Idempotency-Key` whose delivery is closed and can no longer be shown (neither
    /// Temporal nor the delivery list has it); it is never made again.
    #[error("{0}")]
    DeliveryClosed(String),
    /// 429: the delivery took more updates than any delivery needs.
    #[error("{0}")]
    TooManyUpdates(String),
    /// 413: the body is larger than the API accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 503 + `Retry-After`: no worker answered within the bounded wait; nothing changed.
    #[error("no worker answered in time; nothing was changed, retry shortly")]
    WorkerUnavailable,
    /// 503 + `Retry-After`: a dependency (payment service, database, Temporal) is unreachable.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    /// 500: a bug or an unexpected failure; detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl From<readmodel::ReadModelError> for ApiError {
    /// The delivery list failing a request: unreachable or failing for now (503, try again),
    /// unless a stored row cannot be read back (a bug: 500).
    fn from(e: readmodel::ReadModelError) -> Self {
        match e {
            readmodel::ReadModelError::Corrupt(_) => Self::internal(e),
            _ => {
                tracing::warn!(error = %e, "delivery list database failed a request");
                Self::Unavailable("the delivery list database")
            }
        }
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn delivery_not_found(id: &str) -> Self {
        Self::NotFound {
            code: "delivery_not_found",
            message: format!("no delivery with id {id:?}"),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::NotFound { code, .. } => (StatusCode::NOT_FOUND, code),
            Self::Conflict(_) => (StatusCode::CONFLICT, "wrong_state"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "not_your_delivery"),
            Self::Refused { code, .. } => (StatusCode::CONFLICT, code),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotAllowed { code, .. } => (StatusCode::FORBIDDEN, code),
            Self::AccountExists(_) => (StatusCode::CONFLICT, "account_exists"),
            Self::IdempotencyMismatch(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            Self::DeliveryClosed(_) => (StatusCode::CONFLICT, "delivery_closed"),
            Self::TooManyUpdates(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_updates"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::WorkerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "worker_unavailable"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let field = match &self {
            Self::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        let body = ErrorBody {
            code,
            message: self.to_string(),
            field,
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            // Nothing changed, and the cause passes: say when to try again.
            Self::WorkerUnavailable | Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<identity::AuthError> for ApiError {
    fn from(e: identity::AuthError) -> Self {
        match e {
            identity::AuthError::UnknownAccount => Self::NotAllowed {
                code: "unknown_account",
                message: e.to_string(),
            },
            identity::AuthError::Unavailable(detail) => {
                tracing::warn!(%detail, "cannot check a token");
                Self::Unavailable("the token check")
            }
            other => Self::Unauthorized(format!("the bearer token is not valid: {other}")),
        }
    }
}

impl From<identity::Forbidden> for ApiError {
    fn from(e: identity::Forbidden) -> Self {
        Self::NotAllowed {
            code: "forbidden",
            message: e.to_string(),
        }
    }
}

impl From<identity::AccountError> for ApiError {
    fn from(e: identity::AccountError) -> Self {
        use identity::AccountError as E;
        match e {
            E::Exists(_) => Self::AccountExists(e.to_string()),
            E::NotFound(_) => Self::NotFound {
                code: "account_not_found",
                message: e.to_string(),
            },
            E::NotForRole { field, .. } => Self::invalid(field, e.to_string()),
            E::External(_) => Self::Conflict(e.to_string()),
            E::Database(_) | E::Open(_) => {
                tracing::warn!(error = %e, "accounts database");
                Self::Unavailable("the accounts database")
            }
            E::Secret(_) | E::Corrupt { .. } => Self::internal(e),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::NotFound {
            code: "not_found",
            message: r.body_text(),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            _ => Self::MalformedJson(r.body_text()),
        }
    }
}

//! Who may call what: every request to `payment.v2.PaymentService` passes [`AuthorizeLayer`],
//! which reads the caller from its client certificate (verified by the TLS handshake against
//! the CA) and lets it through only to the methods `payment_api::tls::GRANTS` gives it.
//!
//! One layer keyed by the request's path, rather than a check in each handler: a method added
//! to the proto is refused until the table names who may call it.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use payment_api::tls::{Caller, Method};
use tonic::{
    Status,
    codegen::http,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};
use x509_parser::{extensions::GeneralName, prelude::FromDer};

/// The layer of [`Authorize`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizeLayer;

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize { inner }
    }
}

/// Answers a payment call the caller may not make with its gRPC status (`UNAUTHENTICATED`
/// without a client certificate, `PERMISSION_DENIED` for a certificate that names no caller or a
/// caller without the grant) and passes every other request on. Other services on the same
/// server (the health protocol) need only the verified certificate the handshake required.
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Authorize<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.peer_certs());
        let leaf = peer.as_deref().and_then(|certs| certs.first());
        match authorize(request.uri().path(), leaf.map(|cert| cert.as_ref())) {
            Ok(_) => Box::pin(self.inner.call(request)),
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

/// Whether the caller whose certificate is `leaf` (DER; `None` without one) may make the call
/// at `path`: `Ok(Some(caller))` for a payment method it is granted, `Ok(None)` for a path of
/// another service, otherwise the status to answer.
pub fn authorize(path: &str, leaf: Option<&[u8]>) -> Result<Option<Caller>, Status> {
    let Some(service_path) = path.strip_prefix(&format!("/{}/", payment_api::SERVICE_NAME)) else {
        return Ok(None);
    };
    let Some(leaf) = leaf else {
        return Err(Status::unauthenticated(
            "the payment service requires a client certificate",
        ));
    };
    let caller = match caller_of(leaf) {
        Ok(caller) => caller,
        Err(reason) => {
            tracing::warn!(method = service_path, reason, "payment call refused");
            return Err(Status::permission_denied(format!(
                "the client certificate names no caller of the payment service: {reason}"
            )));
        }
    };
    match Method::from_path(path) {
        Some(method) if caller.may_call(method) => Ok(Some(caller)),
        method => {
            let allowed: Vec<_> = caller.methods().iter().map(|m| m.name()).collect();
            tracing::warn!(
                caller = caller.name(),
                method = service_path,
                "payment call refused"
            );
            let what = method.map_or(service_path, |method| method.name());
            Err(Status::permission_denied(format!(
                "{} may not call {what}; it may call only {}",
                caller.name(),
                allowed.join(", ")
            )))
        }
    }
}

/// The caller a certificate names: its one SPIFFE URI SAN must be a known caller's id.
fn caller_of(der: &[u8]) -> Result<Caller, &'static str> {
    let (_, certificate) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|_| "the certificate cannot be parsed")?;
    let names = certificate
        .subject_alternative_name()
        .map_err(|_| "its subject alternative names cannot be parsed")?
        .ok_or("it has no subject alternative name")?;
    let mut ids = names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with("spiffe://") => Some(*uri),
            _ => None,
        });
    // A SPIFFE certificate carries exactly one id: with two, which one is calling is unclear.
    match (ids.next(), ids.next()) {
        (Some(id), None) => Caller::from_spiffe_id(id).ok_or("its spiffe id is no known caller's"),
        (None, _) => Err("it has no spiffe id"),
        (Some(_), Some(_)) => Err("it has more than one spiffe id"),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn other_services_pass_and_payment_calls_need_a_certificate() {
        assert!(matches!(
            authorize("/grpc.health.v1.Health/Check", None),
            Ok(None)
        ));
        let refused = authorize(&Method::GetPayment.path(), None).unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }

    #[test]
    fn a_certificate_that_is_not_one_names_no_caller() {
        let refused = authorize(&Method::GetPayment.path(), Some(b"garbage")).unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert!(
            refused.message().contains("cannot be parsed"),
            "{refused:?}"
        );
    }
}

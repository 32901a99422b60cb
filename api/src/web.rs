//! The web pages served beside the API: an index (`GET /`), the restaurant console
//! (`GET /restaurant`), the rider app (`GET /rider`), the operators' control room (`GET /ops`,
//! which also opens the codec session the Temporal UI decodes payloads with) and Swagger UI
//! (`GET /docs`) over the API's own `/openapi.json`.
//!
//! The pages are plain HTML, CSS and a little JavaScript from `api/web/`, compiled into the
//! binary with `include_str!`: nothing comes from a CDN or is downloaded at run time, and a
//! deployed API always serves the pages that match it. They are ordinary clients of the
//! public contract (`shared/api-contract.md`), with no privileged path into the API, and
//! they are tested in a real browser by `tests/browser/`.

use axum::{
    Router,
    http::{HeaderName, header},
    response::IntoResponse,
    routing::get,
};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// The pages may load only what this origin serves and talk only to this API; no inline
/// script runs, so text that slipped into the markup could never execute.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Path, content type and body of every page and asset.
const FILES: [(&str, &str, &str); 9] = [
    // Someone who opens the bare address lands on a page, not on a JSON 404.
    ("/", HTML, include_str!("../web/index.html")),
    ("/restaurant", HTML, include_str!("../web/restaurant.html")),
    ("/rider", HTML, include_str!("../web/rider.html")),
    ("/ops", HTML, include_str!("../web/ops.html")),
    ("/web/ops.js", JS, include_str!("../web/ops.js")),
    ("/web/app.css", CSS, include_str!("../web/app.css")),
    ("/web/common.js", JS, include_str!("../web/common.js")),
    (
        "/web/restaurant.js",
        JS,
        include_str!("../web/restaurant.js"),
    ),
    ("/web/rider.js", JS, include_str!("../web/rider.js")),
];
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The pages, their assets and Swagger UI; stateless, so it merges into any router.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = FILES
        .into_iter()
        .fold(Router::new(), |router, (path, content_type, body)| {
            router.route(path, get(move || async move { file(content_type, body) }))
        });
    // Swagger UI reads the document `/openapi.json` already serves instead of mounting a
    // second copy of it; `validator_url("none")` keeps it from calling swagger.io.
    let docs = SwaggerUi::new("/docs").config(Config::from("/openapi.json").validator_url("none"));
    // The codec session has no page of its own any more: signing in to the control room opens
    // it. `/codec/decode` and the other codec routes are the API's (`routes::codec`).
    let codec = get(|| async { axum::response::Redirect::to("/ops") });
    pages.route("/codec", codec).merge(docs)
}

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, &str); 4] = [
        (header::CONTENT_TYPE, content_type),
        // Revalidate on every load: a new build serves new pages at once.
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
    ];
    (headers, body)
}

#[cfg(test)]
mod tests {
    use axum::{
        body::{Body, to_bytes},
        http::{Request, StatusCode},
    };
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn the_bare_address_leads_to_the_pages() {
        let (status, content_type, index) = get("/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(HTML));
        for page in ["/restaurant", "/rider", "/ops"] {
            assert!(
                index.contains(&format!("href=\"{page}\"")),
                "no link to {page}"
            );
        }
    }

    #[tokio::test]
    async fn the_old_codec_page_leads_to_the_control_room() {
        let response = router::<()>()
            .oneshot(Request::get("/codec").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/ops");
    }

    async fn get(path: &str) -> (StatusCode, Option<String>, String) {
        let response = router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn every_page_and_asset_is_served_with_its_content_type() {
        for (path, content_type, body) in FILES {
            let (status, served_type, served) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(served_type.as_deref(), Some(content_type), "{path}");
            assert_eq!(served, body, "{path}");
        }
    }

    #[test]
    fn pages_load_nothing_from_another_origin() {
        for (path, _, body) in FILES {
            for remote in ["http://", "https://", "//cdn", "@import"] {
                assert!(!body.contains(remote), "{path} refers to {remote}");
            }
        }
    }

    #[test]
    fn scripts_build_the_dom_with_text_never_html() {
        for (path, _, body) in FILES.iter().filter(|(p, _, _)| p.ends_with(".js")) {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
            ] {
                assert!(!body.contains(sink), "{path} uses {sink}");
            }
        }
    }

    #[test]
    fn pages_run_no_inline_script() {
        for (path, _, body) in FILES.iter().filter(|(_, t, _)| *t == HTML) {
            assert!(!body.contains("<script>"), "{path} has an inline script");
            let handler = body.split(" on").skip(1).any(|rest| {
                let name = rest.trim_start_matches(|c: char| c.is_ascii_lowercase());
                name.len() < rest.len() && name.starts_with('=')
            });
            assert!(!handler, "{path} has an inline event handler");
        }
    }

    #[tokio::test]
    async fn swagger_ui_reads_the_served_openapi_document() {
        let (status, _, _) = get("/docs").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, content_type, index) = get("/docs/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.unwrap().starts_with("text/html"));
        assert!(index.contains("swagger-ui"));
        let (status, _, init) = get("/docs/swagger-initializer.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(init.contains("\"/openapi.json\""), "{init}");
    }
}

//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the routes themselves.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(title = "Delivery agency API", version = "2", description = "Restaurants call riders, riders pick up and complete, payment is registered and settled; every delivery is a Temporal workflow. Callers sign in at `POST /oauth/token` and send `Authorization: Bearer <token>`."),
    components(schemas(ErrorBody, domain::Role, crate::routes::reports::DayOrInstant)),
    modifiers(&BearerAuth, &ListenerAnswers),
    security(("bearer" = [])),
    tags(
        (name = "identity"), (name = "accounts"), (name = "restaurants"), (name = "riders"), (name = "reports"), (name = "payments"), (name = "money"), (name = "operations"),
    ),
)]
pub(crate) struct ApiDoc;

/// What the listener's limits may answer on any operation (`crate::limits`): `429
/// rate_limited`, and `503 overloaded` or `timeout`, each with `Retry-After`.
struct ListenerAnswers;

impl Modify for ListenerAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            ContentBuilder, Ref, ResponseBuilder, header::HeaderBuilder, schema::Type,
        };
        let answer = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(utoipa::openapi::schema::Object::with_type(Type::Integer))
                        .description(Some("seconds to wait"))
                        .build(),
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut operation.responses.responses;
                responses.entry("429".into()).or_insert_with(|| {
                    answer("too many requests from this caller (`rate_limited`)").into()
                });
                responses.entry("503".into()).or_insert_with(|| {
                    answer("at capacity (`overloaded`) or too slow (`timeout`); nothing was changed by an overloaded request").into()
                });
            }
        }
    }
}

/// The bearer token scheme every operation needs, except those that say `security(())`:
/// health, sign-in and the public keys.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "an access token from POST /oauth/token (or the configured OpenID provider)",
                    ))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        let document = serde_json::to_value(crate::openapi()).expect("serializable");
        if let Some(path) = std::env::var_os("OPENAPI_OUT") {
            std::fs::write(path, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
        }
        document
    }

    /// Every `$ref` names a schema the document holds: a reference generators cannot
    /// resolve leaves that part of a request untested (the fuzzer skipped `from`/`to` once).
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        found.push(target);
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let document = document();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(found.len() > 50, "{}", found.len());
        let dangling: Vec<_> = found
            .into_iter()
            .filter(|target| {
                target
                    .strip_prefix("#/components/schemas/")
                    .is_none_or(|name| document["components"]["schemas"].get(name).is_none())
            })
            .collect();
        assert!(dangling.is_empty(), "unresolved: {dangling:?}");
    }

    #[test]
    fn every_endpoint_that_reads_a_body_documents_its_bad_input_answers() {
        let document = document();
        let mut bodies = 0;
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                // The token endpoint answers in OAuth 2.0's own shape (RFC 6749 §5.2).
                if operation.get("requestBody").is_none() || path == "/oauth/token" {
                    continue;
                }
                bodies += 1;
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} does not document {status}"
                    );
                }
            }
        }
        assert_eq!(
            bodies, 15,
            "call, cancel, accept, decline, pickup, complete, fail, reassign, resolve, availability, account create and patch, adjustments, codec decode and encode read a body"
        );
    }

    #[test]
    fn ids_text_and_money_carry_their_rules() {
        let document = document();
        let schemas = &document["components"]["schemas"];
        assert_eq!(schemas["DeliveryId"]["pattern"], domain::ID_PATTERN);
        assert_eq!(schemas["RiderId"]["maxLength"], 64);
        assert_eq!(schemas["Text"]["maxLength"], domain::MAX_TEXT_LEN);
        assert_eq!(schemas["Text"]["pattern"], domain::Text::pattern());
        assert_eq!(schemas["Cost"]["minimum"], 1);
        assert_eq!(schemas["Cost"]["maximum"], domain::MAX_COST);
        let status = &document["paths"]["/delivery-list"]["get"]["parameters"];
        assert!(
            status
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "limit" && p["schema"]["maximum"] == 200),
            "{status}"
        );
    }

    #[test]
    fn the_delivery_list_documents_its_pages() {
        let document = document();
        let list = &document["paths"]["/delivery-list"]["get"];
        let names: Vec<_> = list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "status",
                "restaurantId",
                "riderId",
                "from",
                "to",
                "cursor",
                "limit"
            ]
        );
        assert_eq!(
            list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/DeliveryListPage"
        );
        let page = &document["components"]["schemas"]["DeliveryListPage"];
        assert_eq!(
            page["required"],
            serde_json::json!(["items", "nextCursor"]),
            "{page}"
        );
        assert_eq!(
            page["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/DeliveryRow"
        );
        assert!(list["responses"]["422"].is_object());
    }
}

//! OpenAPI schemas of the parsed types, so the document states exactly the rule the parser
//! enforces.

use utoipa::openapi::{
    RefOr, Type,
    schema::{ObjectBuilder, Schema},
};

/// A string schema with the given constraints.
pub(crate) fn string(
    description: &str,
    pattern: Option<&str>,
    max_length: usize,
    example: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(1))
        .max_length(Some(max_length))
        .pattern(pattern)
        .examples([example])
        .into()
}

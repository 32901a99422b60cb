//! Accounts: operators manage every account; any account reads itself and rotates its own
//! secret; a rider sets its own zones and capacity.

use axum::{
    Json,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use identity::{Account, AccountId, AccountPatch, Cursor, NewAccount, Page, PageLimit, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, BadInput, ErrorBody},
    extract::{JsonBody, Query},
};

/// `POST /accounts` answer: the account and, unless it is external, its secret, shown this
/// once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedAnswer {
    #[serde(flatten)]
    account: Account,
    /// The secret to sign in with; the server keeps only its hash.
    secret: Option<String>,
}

/// `POST /accounts/{id}/secret` answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct SecretAnswer {
    /// The new secret, shown this once; the old one stopped working.
    secret: String,
}

/// Filters of `GET /accounts`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The role to list.
    role: Role,
    /// `nextCursor` of the previous page.
    #[serde(default)]
    cursor: Option<Cursor>,
    /// Most accounts per page.
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200, default = 50)]
    limit: Option<PageLimit>,
}

/// The `{id}` of an account path: `me` is the caller; an id outside the grammar is unknown.
pub(crate) struct AccountPath(String);

impl<S: Send + Sync> FromRequestParts<S> for AccountPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(Self(id))
    }
}

impl AccountPath {
    /// The account meant, if the caller may act on it: operators on any, others on their own.
    fn resolve(&self, caller: &Caller) -> Result<AccountId, ApiError> {
        let Caller(principal) = caller;
        if self.0 == "me" {
            return Ok(principal.id.clone());
        }
        let id = AccountId::parse(self.0.as_str()).map_err(|_| not_found(&self.0))?;
        if principal.is_operator() || principal.is(&id) {
            Ok(id)
        } else {
            Err(ApiError::NotAllowed {
                code: "forbidden",
                message: format!("a {} may act only on its own account", principal.role),
            })
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "account_not_found",
        message: format!("no account {id:?}"),
    }
}

/// Create an account (operators).
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = NewAccount,
    responses(
        (status = 201, description = "created; the secret is shown this once", body = CreatedAnswer,
            headers(("Location" = String, description = "the account"))),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
        (status = 409, description = "the id is taken, now or before (`account_exists`)", body = ErrorBody),
    ))]
pub(crate) async fn create_account(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(new): JsonBody<NewAccount>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Operator])?;
    let created = state.identity().accounts.create(new).await?;
    let location = [(
        header::LOCATION,
        format!("/accounts/{}", created.account.id),
    )];
    let answer = CreatedAnswer {
        account: created.account,
        secret: created.secret.map(|s| s.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, location, Json(answer)).into_response())
}

/// List the accounts of one role, in id order (operators).
#[utoipa::path(get, path = "/accounts", tag = "accounts", params(ListParams),
    responses(
        (status = 200, description = "a page of accounts", body = Page),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
        (status = 422, description = "invalid filter", body = ErrorBody),
    ))]
pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Page>, ApiError> {
    caller.require(&[Role::Operator])?;
    let page = state
        .identity()
        .accounts
        .list(
            params.role,
            params.cursor.as_ref(),
            params.limit.unwrap_or_default(),
        )
        .await?;
    Ok(Json(page))
}

/// One account: operators any, every account itself (`/accounts/me`).
#[utoipa::path(get, path = "/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path, description = "an account id, or `me`")),
    responses(
        (status = 200, description = "the account (never a secret)", body = Account),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "another account, and not an operator (`forbidden`)", body = ErrorBody),
        (status = 404, description = "no such account (`account_not_found`)", body = ErrorBody),
    ))]
pub(crate) async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    path: AccountPath,
) -> Result<Json<Account>, ApiError> {
    let id = path.resolve(&caller)?;
    Ok(Json(state.identity().accounts.get(&id).await?))
}

/// Change an account's name and attributes: operators any; a rider its own `zones` and
/// `capacity`.
#[utoipa::path(patch, path = "/accounts/{account_id}", tag = "accounts", request_body = AccountPatch,
    params(("account_id" = String, Path, description = "an account id, or `me`")),
    responses(
        (status = 200, description = "the changed account", body = Account),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not allowed to change this account or these fields (`forbidden`)", body = ErrorBody),
        (status = 404, description = "no such account (`account_not_found`)", body = ErrorBody),
    ))]
pub(crate) async fn patch_account(
    State(state): State<AppState>,
    caller: Caller,
    path: AccountPath,
    JsonBody(patch): JsonBody<AccountPatch>,
) -> Result<Json<Account>, ApiError> {
    let id = path.resolve(&caller)?;
    let Caller(principal) = &caller;
    if !principal.is_operator() {
        let own = principal.role == Role::Rider;
        if let Some(field) = patch
            .fields()
            .into_iter()
            .find(|field| !own || !["zones", "capacity"].contains(field))
        {
            return Err(ApiError::NotAllowed {
                code: "forbidden",
                message: format!(
                    "a {} may not change {field}; an operator can",
                    principal.role
                ),
            });
        }
    }
    Ok(Json(state.identity().accounts.patch(&id, patch).await?))
}

/// Rotate a secret: operators any, every account its own. The old secret stops working at
/// once, and tokens issued with it within a minute.
#[utoipa::path(post, path = "/accounts/{account_id}/secret", tag = "accounts",
    params(("account_id" = String, Path, description = "an account id, or `me`")),
    responses(
        (status = 200, description = "the new secret, shown this once", body = SecretAnswer),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "another account, and not an operator (`forbidden`)", body = ErrorBody),
        (status = 404, description = "no such account (`account_not_found`)", body = ErrorBody),
        (status = 409, description = "an external account has no secret (`wrong_state`)", body = ErrorBody),
    ))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    path: AccountPath,
) -> Result<Json<SecretAnswer>, ApiError> {
    let id = path.resolve(&caller)?;
    let identity = state.identity();
    let secret = identity.accounts.rotate_secret(&id).await?;
    identity.forget(&id);
    Ok(Json(SecretAnswer {
        secret: secret.expose().to_owned(),
    }))
}

/// Delete an account (operators): sign-in stops and its tokens stop working within a minute;
/// its deliveries and money stay, and its id is never given out again.
#[utoipa::path(delete, path = "/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator, or its own account (`forbidden`)", body = ErrorBody),
        (status = 404, description = "no such account (`account_not_found`)", body = ErrorBody),
    ))]
pub(crate) async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    path: AccountPath,
) -> Result<StatusCode, ApiError> {
    caller.0.require(&[Role::Operator])?;
    let id = path.resolve(&caller)?;
    if caller.0.is(&id) {
        // The last operator deleting itself would lock the agency out of its accounts.
        return Err(ApiError::NotAllowed {
            code: "forbidden",
            message: "an operator cannot delete its own account; another operator can".into(),
        });
    }
    let identity = state.identity();
    identity.accounts.delete(&id).await?;
    identity.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

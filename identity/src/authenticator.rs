//! From a bearer token to a [`Principal`]: the one check every request goes through.

use std::sync::Arc;

use crate::{
    Accounts, ExternalVerifier, NotBeforeCache, Principal, Revoked, TokenError, Tokens,
    jwt::RawHeader, revocation::StandingSource,
};

/// Why a bearer token does not make a caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, wrongly signed, expired, foreign or otherwise invalid: `401
    /// unauthorized` with `WWW-Authenticate: Bearer`.
    #[error(transparent)]
    Token(TokenError),
    /// A valid token whose account deleted or rotated since (or claims another role): `401`.
    #[error("{0}")]
    Revoked(Revoked),
    /// A valid external token for an account that does not exist here as an external account
    /// of that role: `403 unknown_account`.
    #[error("the account is not known here")]
    UnknownAccount,
    /// The store or the external provider could not answer: `503`.
    #[error("cannot check the token now: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// Whether the caller should authenticate again (`401`), rather than being refused
    /// (`403`) or asked to retry later (`503`).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Token(_) | Self::Revoked(_))
    }

    /// The contract's error code for the answer: `unauthorized` (401), `unknown_account` (403)
    /// or `unavailable` (503).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Token(_) | Self::Revoked(_) => "unauthorized",
            Self::UnknownAccount => "unknown_account",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Provider(reason) => Self::Unavailable(reason),
            other => Self::Token(other),
        }
    }
}

/// Our tokens, optionally an external provider's, and the revocation cache; cheap to clone.
pub struct Authenticator<S = Accounts> {
    tokens: Tokens,
    external: Option<Arc<ExternalVerifier>>,
    revocation: Arc<NotBeforeCache<S>>,
}

impl<S> Clone for Authenticator<S> {
    fn clone(&self) -> Self {
        Self {
            tokens: self.tokens.clone(),
            external: self.external.clone(),
            revocation: self.revocation.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Authenticator<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens)
            .field("external", &self.external)
            .finish_non_exhaustive()
    }
}

impl<S: StandingSource> Authenticator<S> {
    pub fn new(tokens: Tokens, revocation: Arc<NotBeforeCache<S>>) -> Self {
        Self {
            tokens,
            external: None,
            revocation,
        }
    }

    /// Also accepts the external provider's tokens.
    pub fn with_external(mut self, external: Arc<ExternalVerifier>) -> Self {
        self.external = Some(external);
        self
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn revocation(&self) -> &NotBeforeCache<S> {
        &self.revocation
    }

    /// The caller a bearer token (without the `Bearer ` prefix) names. Our tokens are told
    /// from the provider's by their key id; either way the account must still stand.
    pub async fn principal(&self, token: &str) -> Result<Principal, AuthError> {
        let kid = RawHeader::parse(token)?.kid;
        let ours = kid
            .as_deref()
            .is_some_and(|kid| self.tokens.keys().contains(kid));
        match (&self.external, ours) {
            (Some(external), false) => {
                let verified = external.verify(token).await?;
                match self
                    .revocation
                    .check(&verified.principal, verified.issued_at, true)
                    .await
                {
                    Ok(()) => Ok(verified.principal),
                    Err(Revoked::Store(e)) => Err(AuthError::Unavailable(e.to_string())),
                    Err(Revoked::Superseded) => Err(AuthError::Revoked(Revoked::Superseded)),
                    // The contract: the account must exist here, external, with that role.
                    Err(_) => Err(AuthError::UnknownAccount),
                }
            }
            _ => {
                let claims = self.tokens.verify(token)?;
                let principal = claims.principal();
                match self
                    .revocation
                    .check(&principal, Some(claims.iat), false)
                    .await
                {
                    Ok(()) => Ok(principal),
                    Err(Revoked::Store(e)) => Err(AuthError::Unavailable(e.to_string())),
                    Err(revoked) => Err(AuthError::Revoked(revoked)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_outages_are_unavailable_and_bad_tokens_unauthorized() {
        let outage = AuthError::from(TokenError::Provider("timeout".into()));
        assert!(matches!(outage, AuthError::Unavailable(_)));
        assert_eq!(
            (outage.is_unauthorized(), outage.code()),
            (false, "unavailable")
        );
        let expired = AuthError::from(TokenError::Expired);
        assert_eq!(
            (expired.is_unauthorized(), expired.code()),
            (true, "unauthorized")
        );
        let revoked = AuthError::Revoked(Revoked::Deleted);
        assert_eq!(
            (revoked.is_unauthorized(), revoked.code()),
            (true, "unauthorized")
        );
        let unknown = AuthError::UnknownAccount;
        assert_eq!(
            (unknown.is_unauthorized(), unknown.code()),
            (false, "unknown_account")
        );
    }
}

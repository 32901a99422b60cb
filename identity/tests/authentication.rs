//! Bearer token → caller, end to end over a real store: sign in, issue, verify, revoke.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{TestDb, after_second, new_account, on_both_backends};
use domain::Role;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use identity::{
    Accounts, AuthError, Authenticator, DEFAULT_TTL, ExternalConfig, ExternalVerifier, KeySet,
    NotBeforeCache, Principal, Revoked, Secret, TokenError, Tokens,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

on_both_backends!(
    a_signed_in_callers_token_names_them_until_it_expires,
    forged_expired_unsigned_and_foreign_tokens_are_unauthorized,
    a_rotated_secrets_old_tokens_are_refused_once_the_cache_window_passes,
    a_deleted_accounts_tokens_are_refused_within_the_window,
    a_token_claiming_another_role_or_an_unknown_account_is_refused,
    tokens_signed_by_a_retired_key_stop_while_the_old_keys_verify_during_rotation,
    an_external_providers_token_needs_an_external_account_of_that_role_here,
);

const ISSUER: &str = "http://localhost:8080";

struct Setup {
    accounts: Accounts,
    tokens: Tokens,
    keys_dir: tempfile::TempDir,
}

impl Setup {
    async fn new(db: &TestDb) -> anyhow::Result<Setup> {
        let keys_dir = tempfile::tempdir()?;
        KeySet::write_new_key(keys_dir.path(), "k1")?;
        Ok(Setup {
            accounts: db.accounts().await?,
            tokens: Tokens::new(KeySet::load(keys_dir.path(), "k1")?, ISSUER),
            keys_dir,
        })
    }

    /// An authenticator over this store with a cache trusting standings for `refresh`.
    fn authenticator(&self, refresh: Duration) -> Authenticator {
        let cache = NotBeforeCache::new(self.accounts.clone()).with_refresh(refresh);
        Authenticator::new(self.tokens.clone(), Arc::new(cache))
    }

    /// A rider `rider-7` with secret `demo-rider-7`.
    async fn rider(&self) -> anyhow::Result<Secret> {
        let secret = Secret::new("demo-rider-7");
        self.accounts
            .create_with_secret(
                new_account(json!({"role": "rider", "id": "rider-7", "name": "Kim"})),
                &secret,
            )
            .await?;
        Ok(secret)
    }

    /// A token for `rider-7` after signing in with `secret`, as the token endpoint makes it.
    async fn sign_in(&self, secret: &Secret) -> anyhow::Result<String> {
        let account = self.accounts.authenticate("rider-7", secret).await?;
        Ok(self
            .tokens
            .issue(&account.principal(), "pages", DEFAULT_TTL)?
            .access_token)
    }

    /// `claims` signed with the key file `kid` under `header`, bypassing [`Tokens::issue`].
    fn sign_raw(&self, kid: &str, header: &Header, claims: &Value) -> anyhow::Result<String> {
        let pem = std::fs::read_to_string(self.keys_dir.path().join(format!("{kid}.pem")))?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)?;
        let encoding = EncodingKey::from_ed_der(key.to_pkcs8_der()?.as_bytes());
        Ok(jsonwebtoken::encode(header, claims, &encoding)?)
    }
}

fn rider() -> Principal {
    Principal::new("rider-7".parse().unwrap(), Role::Rider)
}

/// Good claims for `rider-7`.
fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": ISSUER, "aud": "delivery-api", "sub": "rider-7", "role": "rider",
        "iat": now, "exp": now + 600, "jti": uuid::Uuid::new_v4(), "client_id": "pages",
    })
}

fn at_jwt(alg: Algorithm, kid: &str) -> Header {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.into());
    header
}

async fn a_signed_in_callers_token_names_them_until_it_expires(db: &TestDb) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    let secret = setup.rider().await?;
    let token = setup.sign_in(&secret).await?;
    let auth = setup.authenticator(Duration::from_secs(60));
    let caller = auth.principal(&token).await?;
    assert_eq!(caller, rider());
    assert!(caller.require(&[Role::Rider]).is_ok());
    assert!(caller.require(&[Role::Operator]).is_err());
    // Expired beyond the 30 s leeway: refused as such.
    let mut old = claims();
    old["iat"] = json!(chrono::Utc::now().timestamp() - 7200);
    old["exp"] = json!(chrono::Utc::now().timestamp() - 31);
    let expired = setup.sign_raw("k1", &at_jwt(Algorithm::EdDSA, "k1"), &old)?;
    assert!(matches!(
        auth.principal(&expired).await,
        Err(AuthError::Token(TokenError::Expired))
    ));
    Ok(())
}

async fn forged_expired_unsigned_and_foreign_tokens_are_unauthorized(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    setup.rider().await?;
    let auth = setup.authenticator(Duration::from_secs(60));
    let good = setup.sign_raw("k1", &at_jwt(Algorithm::EdDSA, "k1"), &claims())?;
    assert_eq!(
        auth.principal(&good).await?,
        rider(),
        "the control case fails"
    );

    let spoiled = |field: &str, value: Value| {
        let mut c = claims();
        c[field] = value;
        setup.sign_raw("k1", &at_jwt(Algorithm::EdDSA, "k1"), &c)
    };
    let mut jwt_typ = at_jwt(Algorithm::EdDSA, "k1");
    jwt_typ.typ = Some("JWT".into());
    let forger = KeySet::generate("k1")?;
    let forged = Tokens::new(forger, ISSUER).issue(&rider(), "pages", DEFAULT_TTL)?;
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})),
        b64(claims())
    );
    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "forged signature",
            forged.access_token,
            TokenError::Signature,
        ),
        ("alg none", unsigned, TokenError::Algorithm),
        (
            "expired",
            spoiled("exp", json!(chrono::Utc::now().timestamp() - 120))?,
            TokenError::Expired,
        ),
        (
            "wrong issuer",
            spoiled("iss", json!("https://evil.example"))?,
            TokenError::Issuer,
        ),
        (
            "wrong audience",
            spoiled("aud", json!("payment-service"))?,
            TokenError::Audience,
        ),
        (
            "wrong typ",
            setup.sign_raw("k1", &jwt_typ, &claims())?,
            TokenError::WrongType,
        ),
        (
            "unknown kid",
            setup.sign_raw("k1", &at_jwt(Algorithm::EdDSA, "k7"), &claims())?,
            TokenError::UnknownKey,
        ),
        ("garbage", "Bearer abc".to_owned(), TokenError::Malformed),
    ];
    for (what, token, expected) in cases {
        let refused = auth.principal(&token).await;
        assert!(
            matches!(&refused, Err(AuthError::Token(e)) if *e == expected),
            "{what}: {refused:?}"
        );
        assert!(refused.unwrap_err().is_unauthorized(), "{what}");
    }
    Ok(())
}

async fn a_rotated_secrets_old_tokens_are_refused_once_the_cache_window_passes(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    let secret = setup.rider().await?;
    let old_token = setup.sign_in(&secret).await?;
    // One cache that trusts what it saw for an hour, one for a quarter second.
    let slow = setup.authenticator(Duration::from_secs(3600));
    let quick = setup.authenticator(Duration::from_millis(250));
    slow.principal(&old_token).await?;
    quick.principal(&old_token).await?;
    // Tokens carry whole seconds: rotate in a later second than the old token's.
    after_second(chrono::Utc::now().timestamp()).await;
    let id = "rider-7".parse()?;
    let new_secret = setup.accounts.rotate_secret(&id).await?;
    // The old secret fails at once; the new one signs in and its token works at once.
    assert!(
        setup
            .accounts
            .authenticate("rider-7", &secret)
            .await
            .is_err()
    );
    let new_token = setup.sign_in(&new_secret).await?;
    assert_eq!(quick.principal(&new_token).await?, rider());
    // Within its window the slow cache still honours the old token: no read per request...
    assert_eq!(slow.principal(&old_token).await?, rider());
    // ...the quick one refuses it once its window has passed (polled, with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match quick.principal(&old_token).await {
            Err(AuthError::Revoked(Revoked::Superseded)) => break,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("the old token was not refused in time: {other:?}"),
        }
    }
    // And the process that rotated applies it at once by forgetting the account.
    slow.revocation().forget(&id);
    assert!(matches!(
        slow.principal(&old_token).await,
        Err(AuthError::Revoked(Revoked::Superseded))
    ));
    assert_eq!(slow.principal(&new_token).await?, rider());
    Ok(())
}

async fn a_deleted_accounts_tokens_are_refused_within_the_window(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    let secret = setup.rider().await?;
    let token = setup.sign_in(&secret).await?;
    let auth = setup.authenticator(Duration::from_millis(250));
    auth.principal(&token).await?;
    setup.accounts.delete(&"rider-7".parse()?).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match auth.principal(&token).await {
            Err(AuthError::Revoked(Revoked::Deleted)) => break,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("the deleted account's token was not refused: {other:?}"),
        }
    }
    // A token issued after the deletion (by a stale process, say) is refused too.
    let late = setup.tokens.issue(&rider(), "pages", DEFAULT_TTL)?;
    assert!(matches!(
        auth.principal(&late.access_token).await,
        Err(AuthError::Revoked(Revoked::Deleted))
    ));
    Ok(())
}

async fn a_token_claiming_another_role_or_an_unknown_account_is_refused(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    setup.rider().await?;
    let auth = setup.authenticator(Duration::from_secs(60));
    // Signed by us, but the account is a rider: the store's role wins.
    let as_operator = Principal::new("rider-7".parse()?, Role::Operator);
    let token = setup.tokens.issue(&as_operator, "pages", DEFAULT_TTL)?;
    assert!(matches!(
        auth.principal(&token.access_token).await,
        Err(AuthError::Revoked(Revoked::WrongRole))
    ));
    let stranger = Principal::new("ops-9".parse()?, Role::Operator);
    let token = setup.tokens.issue(&stranger, "pages", DEFAULT_TTL)?;
    let refused = auth.principal(&token.access_token).await;
    assert!(
        matches!(refused, Err(AuthError::Revoked(Revoked::Unknown))),
        "{refused:?}"
    );
    assert!(refused.unwrap_err().is_unauthorized());
    Ok(())
}

async fn tokens_signed_by_a_retired_key_stop_while_the_old_keys_verify_during_rotation(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    let secret = setup.rider().await?;
    let k1_token = setup.sign_in(&secret).await?;
    // Rotation step 1: a second key signs; k1 still verifies.
    let dir: &Path = setup.keys_dir.path();
    KeySet::write_new_key(dir, "k2")?;
    let rotating = Tokens::new(KeySet::load(dir, "k2")?, ISSUER);
    let cache = Arc::new(NotBeforeCache::new(setup.accounts.clone()));
    let auth = Authenticator::new(rotating.clone(), cache.clone());
    assert_eq!(auth.principal(&k1_token).await?, rider());
    let k2_token = rotating.issue(&rider(), "pages", DEFAULT_TTL)?.access_token;
    assert_eq!(auth.principal(&k2_token).await?, rider());
    let published: Vec<String> = rotating
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(published, ["k1", "k2"]);
    // Step 2, once k1's tokens have expired: k1 is removed and its tokens are refused.
    std::fs::remove_file(dir.join("k1.pem"))?;
    let rotated = Authenticator::new(Tokens::new(KeySet::load(dir, "k2")?, ISSUER), cache);
    assert!(matches!(
        rotated.principal(&k1_token).await,
        Err(AuthError::Token(TokenError::UnknownKey))
    ));
    assert_eq!(rotated.principal(&k2_token).await?, rider());
    Ok(())
}

/// A stand-in OpenID provider on a free local port: its discovery document and one Ed25519
/// key. Returns its issuer URL and the key to sign its tokens with.
async fn start_provider() -> anyhow::Result<(String, EncodingKey)> {
    use axum::{Json, Router, routing::get};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "idp-1",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
    }]});
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route("/jwks", get(move || async move { Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((
        issuer,
        EncodingKey::from_ed_der(key.to_pkcs8_der()?.as_bytes()),
    ))
}

async fn an_external_providers_token_needs_an_external_account_of_that_role_here(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new(db).await?;
    let secret = setup.rider().await?;
    setup
        .accounts
        .create(new_account(json!({
            "role": "restaurant", "id": "r-9", "name": "Jongno Grill", "external": true,
            "pickupAddress": "Jongno-gu 3", "zone": "jongno",
        })))
        .await?;
    let (issuer, idp_key) = start_provider().await?;
    let external = ExternalVerifier::new(ExternalConfig::new(&issuer, "delivery-api", "role"))?;
    let auth = setup
        .authenticator(Duration::from_secs(60))
        .with_external(Arc::new(external));
    let idp_token = |sub: &str, role: &str| {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": issuer, "aud": "delivery-api", "sub": sub, "role": role,
            "iat": now, "exp": now + 600, "client_id": "pos",
        });
        jsonwebtoken::encode(&at_jwt(Algorithm::EdDSA, "idp-1"), &claims, &idp_key)
    };
    let restaurant = auth.principal(&idp_token("r-9", "restaurant")?).await?;
    assert_eq!(restaurant, Principal::new("r-9".parse()?, Role::Restaurant));
    // The account must exist here, be external, and have the role the provider claims.
    for (sub, role) in [
        ("r-404", "restaurant"),
        ("rider-7", "rider"),
        ("r-9", "operator"),
    ] {
        let refused = auth.principal(&idp_token(sub, role)?).await;
        assert!(
            matches!(refused, Err(AuthError::UnknownAccount)),
            "{sub} as {role}: {refused:?}"
        );
    }
    // Our own tokens still work beside the provider's.
    assert_eq!(
        auth.principal(&setup.sign_in(&secret).await?).await?,
        rider()
    );
    // A deleted external account is unknown here too.
    setup.accounts.delete(&"r-9".parse()?).await?;
    auth.revocation().forget(&"r-9".parse()?);
    assert!(matches!(
        auth.principal(&idp_token("r-9", "restaurant")?).await,
        Err(AuthError::UnknownAccount)
    ));
    Ok(())
}

//! The account store on SQLite and PostgreSQL: creation, listing, patches, secrets, deletion.

mod common;

use common::{TestDb, new_account, on_both_backends};
use domain::{CommissionBps, DispatchMode, RiderCapacity, Role};
use identity::{
    AccountError, AccountPatch, Accounts, PageLimit, Profile, Secret, SignInError, Standing,
};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

on_both_backends!(
    a_new_account_gets_a_secret_shown_once_and_stored_only_as_an_argon2id_hash,
    an_id_that_exists_or_existed_is_refused,
    omitted_attributes_take_the_defaults_and_the_deployments_commission,
    accounts_without_an_id_get_one_with_their_roles_prefix,
    get_answers_live_accounts_only,
    listing_pages_through_one_role_in_id_order_with_an_opaque_cursor,
    a_patch_changes_only_attributes_of_the_accounts_own_role,
    concurrent_patches_of_one_account_all_apply_one_after_another,
    sign_in_accepts_only_the_current_secret_of_a_live_account,
    a_rotated_secret_fails_at_once_and_voids_earlier_tokens,
    a_deleted_account_keeps_its_row_but_cannot_sign_in,
    an_external_account_has_no_secret,
    a_service_refuses_an_unmigrated_database_naming_the_command,
);

fn restaurant_json(id: &str) -> serde_json::Value {
    json!({
        "role": "restaurant", "id": id, "name": "Gangnam Kitchen",
        "pickupAddress": "Seoul, Gangnam-gu, Teheran-ro 1", "zone": "gangnam",
    })
}

fn rider_json(id: &str) -> serde_json::Value {
    json!({"role": "rider", "id": id, "name": "Kim", "zones": ["gangnam", "mapo"], "capacity": 2})
}

/// The stored hash column of `id`, read past the store as an attacker with the database would.
async fn stored_hash(db: &TestDb, id: &str) -> anyhow::Result<Option<String>> {
    let conn = Database::connect(&db.url).await?;
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "SELECT secret_hash FROM accounts WHERE id = $1",
        _ => "SELECT secret_hash FROM accounts WHERE id = ?",
    };
    let row = conn
        .query_one(Statement::from_sql_and_values(backend, sql, [id.into()]))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row for {id}"))?;
    let hash = row.try_get_by_index::<Option<String>>(0)?;
    conn.close().await?;
    Ok(hash)
}

async fn a_new_account_gets_a_secret_shown_once_and_stored_only_as_an_argon2id_hash(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let created = accounts.create(new_account(rider_json("rider-7"))).await?;
    let secret = created.secret.clone().expect("a secret");
    assert!(secret.expose().len() >= 22, "under 128 bits");
    let printed = format!("{created:?}");
    assert!(!printed.contains(secret.expose()), "{printed}");
    let hash = stored_hash(db, "rider-7").await?.expect("a hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_ne!(hash, secret.expose());
    assert!(!hash.contains(secret.expose()));
    // The account as answers show it: no secret, no hash.
    let json = serde_json::to_string(&accounts.get(&"rider-7".parse()?).await?)?;
    assert!(
        !json.contains(secret.expose()) && !json.contains("argon2"),
        "{json}"
    );
    assert_eq!(
        accounts.authenticate("rider-7", &secret).await?.id.as_str(),
        "rider-7"
    );
    Ok(())
}

async fn an_id_that_exists_or_existed_is_refused(db: &TestDb) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    accounts.create(new_account(restaurant_json("r-1"))).await?;
    let again = accounts.create(new_account(rider_json("r-1"))).await;
    assert!(matches!(again, Err(AccountError::Exists(id)) if id.as_str() == "r-1"));
    // The first account is untouched by the refused one.
    assert_eq!(
        accounts.get(&"r-1".parse()?).await?.role(),
        Role::Restaurant
    );
    // A deleted account's id is never reused.
    accounts.delete(&"r-1".parse()?).await?;
    let reuse = accounts.create(new_account(restaurant_json("r-1"))).await;
    assert!(matches!(reuse, Err(AccountError::Exists(_))), "{reuse:?}");
    Ok(())
}

async fn omitted_attributes_take_the_defaults_and_the_deployments_commission(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db
        .accounts()
        .await?
        .with_default_commission(CommissionBps::new(1_500)?);
    let restaurant = accounts
        .create(new_account(restaurant_json("r-1")))
        .await?
        .account;
    let Profile::Restaurant(r) = &restaurant.profile else {
        panic!("not a restaurant: {restaurant:?}");
    };
    assert_eq!(r.dispatch_mode, DispatchMode::Broadcast);
    assert_eq!(r.commission_bps.bps(), 1_500);
    let mut offer = restaurant_json("r-2");
    offer["dispatchMode"] = json!("offer");
    offer["commissionBps"] = json!(800);
    let offer = accounts.create(new_account(offer)).await?.account;
    let rider = accounts
        .create(new_account(
            json!({"role": "rider", "id": "rider-8", "name": "Lee"}),
        ))
        .await?
        .account;
    // What was stored reads back as created.
    assert_eq!(accounts.get(&restaurant.id).await?, restaurant);
    assert_eq!(accounts.get(&offer.id).await?, offer);
    assert_eq!(accounts.get(&rider.id).await?, rider);
    let Profile::Rider(p) = &rider.profile else {
        panic!("not a rider: {rider:?}");
    };
    assert!(p.zones.is_everywhere());
    assert_eq!(p.capacity, RiderCapacity::DEFAULT);
    Ok(())
}

async fn accounts_without_an_id_get_one_with_their_roles_prefix(db: &TestDb) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let a = accounts
        .create(new_account(json!({"role": "operator", "name": "Ops"})))
        .await?
        .account;
    let b = accounts
        .create(new_account(json!({"role": "operator", "name": "Ops"})))
        .await?
        .account;
    assert!(a.id.as_str().starts_with("ops-"), "{}", a.id);
    assert_ne!(a.id, b.id);
    assert!(accounts.any_with_role(Role::Operator).await?);
    assert!(!accounts.any_with_role(Role::Rider).await?);
    Ok(())
}

async fn get_answers_live_accounts_only(db: &TestDb) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let unknown = accounts.get(&"nobody".parse()?).await;
    assert!(
        matches!(unknown, Err(AccountError::NotFound(_))),
        "{unknown:?}"
    );
    accounts.create(new_account(rider_json("rider-7"))).await?;
    let rider = accounts.get(&"rider-7".parse()?).await?;
    let Profile::Rider(p) = &rider.profile else {
        panic!("not a rider: {rider:?}");
    };
    // Zones keep the order they were given in.
    let zones: Vec<&str> = p.zones.as_slice().iter().map(|z| z.as_str()).collect();
    assert_eq!(zones, ["gangnam", "mapo"]);
    accounts.delete(&rider.id).await?;
    assert!(matches!(
        accounts.get(&rider.id).await,
        Err(AccountError::NotFound(_))
    ));
    Ok(())
}

async fn listing_pages_through_one_role_in_id_order_with_an_opaque_cursor(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    for id in ["rider-3", "rider-1", "rider-5", "rider-2", "rider-4"] {
        accounts.create(new_account(rider_json(id))).await?;
    }
    accounts.create(new_account(restaurant_json("r-1"))).await?;
    accounts.delete(&"rider-4".parse()?).await?;
    let limit = PageLimit::new(2)?;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = accounts.list(Role::Rider, cursor.as_ref(), limit).await?;
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|a| a.id.to_string()));
        match page.next_cursor {
            Some(next) => {
                // Opaque: the cursor does not show the id it stands for.
                assert!(!next.as_str().contains("rider"), "{next}");
                // And it survives a round trip through a query string.
                cursor = Some(next.as_str().parse()?);
            }
            None => break,
        }
        assert!(pages < 10, "the listing does not end");
    }
    assert_eq!(seen, ["rider-1", "rider-2", "rider-3", "rider-5"]);
    assert_eq!(pages, 2);
    let restaurants = accounts
        .list(Role::Restaurant, None, PageLimit::default())
        .await?;
    assert_eq!(restaurants.items.len(), 1);
    assert_eq!(restaurants.next_cursor, None);
    Ok(())
}

async fn a_patch_changes_only_attributes_of_the_accounts_own_role(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    accounts.create(new_account(rider_json("rider-7"))).await?;
    accounts.create(new_account(restaurant_json("r-1"))).await?;
    let rider_id = "rider-7".parse()?;
    let patch: AccountPatch = serde_json::from_value(json!({"zones": ["mapo"], "capacity": 5}))?;
    let patched = accounts.patch(&rider_id, patch).await?;
    assert_eq!(accounts.get(&rider_id).await?, patched);
    let Profile::Rider(p) = &patched.profile else {
        panic!("not a rider: {patched:?}");
    };
    assert_eq!(p.zones.as_slice().len(), 1);
    assert_eq!(p.capacity.get(), 5);
    assert_eq!(patched.name.as_str(), "Kim", "an unset field changed");
    // A restaurant's attribute on a rider: refused, nothing changes.
    let before = accounts.get(&rider_id).await?;
    let foreign: AccountPatch =
        serde_json::from_value(json!({"name": "Park", "dispatchMode": "offer"}))?;
    let refused = accounts.patch(&rider_id, foreign).await;
    assert!(
        matches!(
            refused,
            Err(AccountError::NotForRole {
                field: "dispatchMode",
                role: Role::Rider
            })
        ),
        "{refused:?}"
    );
    assert_eq!(accounts.get(&rider_id).await?, before);
    let restaurant_patch: AccountPatch = serde_json::from_value(
        json!({"name": "Mapo Kitchen", "zone": "mapo", "commissionBps": 0}),
    )?;
    let restaurant = accounts.patch(&"r-1".parse()?, restaurant_patch).await?;
    let Profile::Restaurant(r) = &restaurant.profile else {
        panic!("not a restaurant: {restaurant:?}");
    };
    assert_eq!(
        (restaurant.name.as_str(), r.zone.as_str()),
        ("Mapo Kitchen", "mapo")
    );
    assert_eq!(r.commission_bps.bps(), 0);
    let unknown = accounts
        .patch(&"nobody".parse()?, AccountPatch::default())
        .await;
    assert!(
        matches!(unknown, Err(AccountError::NotFound(_))),
        "{unknown:?}"
    );
    Ok(())
}

async fn concurrent_patches_of_one_account_all_apply_one_after_another(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    accounts.create(new_account(rider_json("rider-7"))).await?;
    let id: domain::AccountId = "rider-7".parse()?;
    // Half the patches change only the capacity (never to the original 2), half only the name.
    // Applied one after another, both end changed; a patch that read the account before
    // another committed would write the stale field back.
    let patches: Vec<_> = (0..12)
        .map(|i| {
            let capacity = [1, 3, 4, 5][i / 2 % 4];
            let body = match i % 2 {
                0 => json!({ "capacity": capacity }),
                _ => json!({"name": format!("Rider {i}")}),
            };
            let accounts = accounts.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let patch: AccountPatch = serde_json::from_value(body)?;
                anyhow::Ok(accounts.patch(&id, patch).await?)
            })
        })
        .collect();
    for patch in patches {
        patch.await??;
    }
    let stored = accounts.get(&id).await?;
    let Profile::Rider(p) = &stored.profile else {
        panic!("not a rider: {stored:?}");
    };
    assert_ne!(
        stored.name.as_str(),
        "Kim",
        "a capacity patch wrote the old name back"
    );
    assert_ne!(
        p.capacity.get(),
        2,
        "a name patch wrote the old capacity back"
    );
    Ok(())
}

async fn sign_in_accepts_only_the_current_secret_of_a_live_account(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let secret = Secret::new("demo-r-1");
    accounts
        .create_with_secret(new_account(restaurant_json("r-1")), &secret)
        .await?;
    let account = accounts.authenticate("r-1", &secret).await?;
    assert_eq!(account.principal().role, Role::Restaurant);
    for (id, secret) in [
        ("r-1", "demo-r-2"),
        ("r-1", ""),
        ("r-2", "demo-r-1"),
        ("not an id", "demo-r-1"),
        ("r-1", &"x".repeat(10_000)),
    ] {
        let refused = accounts.authenticate(id, &Secret::new(secret)).await;
        assert!(
            matches!(refused, Err(SignInError::InvalidCredentials)),
            "{id:?} signed in: {refused:?}"
        );
    }
    Ok(())
}

async fn a_rotated_secret_fails_at_once_and_voids_earlier_tokens(
    db: &TestDb,
) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let old = accounts
        .create(new_account(rider_json("rider-7")))
        .await?
        .secret
        .expect("a secret");
    let id = "rider-7".parse()?;
    assert_eq!(accounts.not_before(&id).await?, None);
    let before = chrono::Utc::now().timestamp();
    let new = accounts.rotate_secret(&id).await?;
    assert_ne!(new, old);
    assert!(matches!(
        accounts.authenticate("rider-7", &old).await,
        Err(SignInError::InvalidCredentials)
    ));
    accounts.authenticate("rider-7", &new).await?;
    let not_before = accounts.not_before(&id).await?.expect("a not-before time");
    assert!(not_before.timestamp() >= before, "{not_before}");
    assert!(not_before <= chrono::Utc::now());
    assert!(matches!(
        accounts.standing(&id).await?,
        Standing::Active {
            role: Role::Rider,
            external: false,
            not_before: Some(_)
        }
    ));
    let unknown = accounts.rotate_secret(&"nobody".parse()?).await;
    assert!(
        matches!(unknown, Err(AccountError::NotFound(_))),
        "{unknown:?}"
    );
    Ok(())
}

async fn a_deleted_account_keeps_its_row_but_cannot_sign_in(db: &TestDb) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let secret = accounts
        .create(new_account(rider_json("rider-7")))
        .await?
        .secret
        .expect("a secret");
    let id = "rider-7".parse()?;
    accounts.delete(&id).await?;
    assert!(matches!(
        accounts.authenticate("rider-7", &secret).await,
        Err(SignInError::InvalidCredentials)
    ));
    assert!(matches!(
        accounts.standing(&id).await?,
        Standing::Deleted { .. }
    ));
    assert!(accounts.not_before(&id).await?.is_some());
    // The row stays (for history) without its hash; a second delete finds nothing live.
    assert_eq!(stored_hash(db, "rider-7").await?, None);
    assert!(matches!(
        accounts.delete(&id).await,
        Err(AccountError::NotFound(_))
    ));
    assert!(matches!(
        accounts.rotate_secret(&id).await,
        Err(AccountError::NotFound(_))
    ));
    assert!(matches!(
        accounts.standing(&"nobody".parse()?).await?,
        Standing::Unknown
    ));
    assert!(matches!(
        accounts.not_before(&"nobody".parse()?).await,
        Err(AccountError::NotFound(_))
    ));
    Ok(())
}

async fn an_external_account_has_no_secret(db: &TestDb) -> anyhow::Result<()> {
    let accounts = db.accounts().await?;
    let mut body = restaurant_json("r-9");
    body["external"] = json!(true);
    let created = accounts.create(new_account(body)).await?;
    assert!(created.secret.is_none());
    assert!(created.account.external);
    assert_eq!(stored_hash(db, "r-9").await?, None);
    let id = "r-9".parse()?;
    assert!(matches!(
        accounts.rotate_secret(&id).await,
        Err(AccountError::External(_))
    ));
    for guess in ["", "demo-r-9"] {
        assert!(matches!(
            accounts.authenticate("r-9", &Secret::new(guess)).await,
            Err(SignInError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        accounts.standing(&id).await?,
        Standing::Active { external: true, .. }
    ));
    Ok(())
}

async fn a_service_refuses_an_unmigrated_database_naming_the_command(
    db: &TestDb,
) -> anyhow::Result<()> {
    let refused = Accounts::connect(&db.url).await.unwrap_err();
    assert!(
        refused.to_string().contains("delivery-api migrate"),
        "{refused}"
    );
    // Migrating twice is harmless; then services connect.
    Accounts::migrate(&db.url).await?;
    Accounts::migrate(&db.url).await?;
    Accounts::connect(&db.url).await?.ping().await?;
    Ok(())
}

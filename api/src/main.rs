//! `delivery-api`: serves the HTTP API until SIGINT or SIGTERM, then finishes in-flight
//! requests; `delivery-api migrate` brings the delivery-list and accounts schema up to date
//! and exits; `delivery-api accounts create-operator` makes the first operator.
//! `delivery-api --help` lists every setting.

use anyhow::Context;
use api::{AccountsCommand, Command, Settings};
use domain::{AccountId, Text};
use identity::{Accounts, NewAccount, Secret};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = config::parse();
    let telemetry =
        workflows::observability::init_telemetry("delivery-api", "info", &settings.telemetry)
            .context("set up telemetry")?;
    let result = match settings.command {
        Some(Command::Migrate) => migrate(&settings).await,
        Some(Command::Accounts(ref command)) => accounts(&settings, command).await,
        None => serve(settings).await,
    };
    telemetry.shutdown();
    result
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    readmodel::ReadModel::migrate(&settings.readmodel.database_url)
        .await
        .context("migrate the delivery list database")?;
    Accounts::migrate(&settings.readmodel.database_url)
        .await
        .context("migrate the accounts")?;
    tracing::info!("delivery list and accounts migrated");
    Ok(())
}

async fn accounts(settings: &Settings, command: &AccountsCommand) -> anyhow::Result<()> {
    let accounts = Accounts::connect(&settings.readmodel.database_url)
        .await
        .context("open the accounts database")?;
    match command {
        AccountsCommand::CreateOperator { id, name } => {
            let id = AccountId::parse(id.as_str()).context("--id")?;
            let name = Text::parse(name).context("--name")?;
            let created = accounts
                .create(NewAccount::operator(Some(id), name))
                .await
                .context("create the operator")?;
            let secret = created.secret.context("an operator has a secret")?;
            // The one place a secret is printed: to the terminal of whoever ran the command.
            println!("operator {}", created.account.id);
            println!("secret   {}", secret.expose());
            println!("(shown once; sign in with grant_type=password)");
        }
        AccountsCommand::CreateDemo => {
            for new in demo_accounts()? {
                let id = new.id.clone().context("demo accounts have ids")?;
                let secret = Secret::new(format!("demo-{id}"));
                match accounts.create_with_secret(new, &secret).await {
                    Ok(_) => println!("demo account {id} created (secret demo-{id})"),
                    Err(identity::AccountError::Exists(_)) => {}
                    Err(e) => return Err(e).with_context(|| format!("create demo account {id}")),
                }
            }
        }
    }
    Ok(())
}

/// The contract's demo accounts, for a local run only.
fn demo_accounts() -> anyhow::Result<Vec<NewAccount>> {
    let accounts = serde_json::json!([
        {"id": "r-1", "role": "restaurant", "name": "Gangnam Kitchen", "zone": "gangnam",
         "pickupAddress": "Seoul, Gangnam-gu, Teheran-ro 101"},
        {"id": "r-2", "role": "restaurant", "name": "Mapo Noodles", "zone": "mapo",
         "pickupAddress": "Seoul, Mapo-gu, World Cup-ro 12", "dispatchMode": "offer"},
        {"id": "rider-7", "role": "rider", "name": "Minjun", "zones": ["gangnam", "mapo"], "capacity": 3},
        {"id": "rider-8", "role": "rider", "name": "Seoyeon", "zones": ["gangnam", "mapo"], "capacity": 3},
        {"id": "ops-1", "role": "operator", "name": "Operations"},
    ]);
    serde_json::from_value(accounts).context("the demo accounts")
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let shutdown = config::shutdown_signal().context("install signal handlers")?;
    let addr = settings.addr;
    let state = api::AppState::connect(settings)
        .await
        .context("connect to dependencies")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "delivery api listening");
    if let Some(metrics) = state.metrics_addr() {
        tracing::info!("api metrics at http://{metrics}/metrics");
    }
    api::serve(listener, state, shutdown).await.context("serve")
}

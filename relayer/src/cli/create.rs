use anyhow::{anyhow, Context, Result};
use clap::Subcommand;

use super::Ctx;
use crate::chain::attested::create::PathCreated;
use crate::chain::cosmos::handshake;
use crate::ibc::ChainId;

#[derive(Subcommand)]
pub enum CreateCmd {
    /// A client on `--host` tracking `--reference` (reuses an active one).
    Client {
        #[arg(long)]
        host: ChainId,
        #[arg(long)]
        reference: ChainId,
    },
    /// Clients and a connection for a path.
    Connection { path: String },
    /// Clients, connection and ICS-20 channel for a path.
    Channel { path: String },
    /// The whole path: clients, connection, channel. On a cosmos–evm path: the attestations
    /// clients on both sides, registered as each other's counterparty.
    Path {
        path: String,
        #[command(flatten)]
        evm: EvmAdminArgs,
    },
}

/// Adding a missing client to Ferry's EVM router (cosmos–evm paths only).
#[derive(clap::Args, Default)]
pub struct EvmAdminArgs {
    /// Key of the EVM router's owner, which adds the client (default: the chain's own key).
    #[arg(long)]
    admin_key: Option<String>,
    /// Folder of compiled contracts (`node contracts/compile.mjs <dir>`), for deploying the
    /// EVM client.
    #[arg(long)]
    contracts: Option<std::path::PathBuf>,
}

pub async fn run(cmd: CreateCmd, ctx: &Ctx) -> Result<()> {
    let cfg = ctx.load_config()?;
    match cmd {
        CreateCmd::Client { host, reference } => {
            let (h, r) = (
                ctx.chain(&cfg, &host, None)?,
                ctx.chain(&cfg, &reference, None)?,
            );
            let (client, created) = handshake::ensure_client(&h, &r).await?;
            ctx.emit(&serde_json::json!({ "host": host, "reference": reference, "client": client, "created": created }), || {
                format!("{} client {client} on {host} tracking {reference}", if created { "created" } else { "reusing" })
            });
        }
        CreateCmd::Connection { path } => {
            let p = ctx.path(&cfg, &path)?;
            let (a, b) = (
                ctx.chain(&cfg, &p.a.chain, None)?,
                ctx.chain(&cfg, &p.b.chain, None)?,
            );
            let (ca, cb, conn_a, conn_b, created) = handshake::ensure_connection(&a, &b).await?;
            ctx.emit(&serde_json::json!({ "path": path, "client_a": ca, "client_b": cb, "connection_a": conn_a, "connection_b": conn_b, "created": created }), || {
                format!("{} connection {conn_a} ({}) <-> {conn_b} ({})", if created { "opened" } else { "reusing" }, a.id, b.id)
            });
        }
        CreateCmd::Channel { path } => open_path(ctx, &cfg, path, EvmAdminArgs::default()).await?,
        CreateCmd::Path { path, evm } => open_path(ctx, &cfg, path, evm).await?,
    }
    Ok(())
}

/// `create channel` and `create path`: everything a path needs, reusing what exists.
async fn open_path(
    ctx: &Ctx,
    cfg: &crate::config::Config,
    path: String,
    evm_args: EvmAdminArgs,
) -> Result<()> {
    let p = ctx.path(cfg, &path)?;
    if let Some(done) = mixed_path(ctx, cfg, p, evm_args).await? {
        ctx.emit(
            &serde_json::json!({ "path": path, "cosmos": done.cosmos, "evm": done.evm }),
            || describe_mixed(&path, &done),
        );
        return Ok(());
    }
    let (a, b) = (
        ctx.chain(cfg, &p.a.chain, None)?,
        ctx.chain(cfg, &p.b.chain, None)?,
    );
    let progress = crate::progress::Progress::start(format!("opening path {path}"));
    let result =
        handshake::create_path_steps(&a, &b, &p.a.port, &p.b.port, &|s| progress.step(s)).await;
    progress.finish(if result.is_ok() { "done" } else { "failed" });
    let (ids, created) = result.map_err(|e| anyhow!("creating path `{path}`: {e}"))?;
    ctx.emit(
        &serde_json::json!({ "path": path, "ids": ids, "created": created }),
        || {
            format!(
                "{} path {path}: {} {}/{} ({}, {}) <-> {} {}/{} ({}, {})",
                if created { "opened" } else { "reusing" },
                a.id,
                ids.port_a,
                ids.channel_a,
                ids.connection_a,
                ids.client_a,
                b.id,
                ids.port_b,
                ids.channel_b,
                ids.connection_b,
                ids.client_b
            )
        },
    );
    Ok(())
}

fn describe_mixed(path: &str, done: &PathCreated) -> String {
    use crate::chain::attested::create_evm::EvmStep;
    let (c, e) = (&done.cosmos, &done.evm);
    let evm = match e.step {
        EvmStep::Exists => format!("{} (exists)", e.client),
        EvmStep::Added => format!("{} (added, light client {:?})", e.client, e.light_client),
        EvmStep::Scheduled => format!(
            "{} (scheduled behind the router's timelock, light client {:?}; run this again from \
             unix time {})",
            e.client,
            e.light_client,
            e.ready_at.unwrap_or_default()
        ),
    };
    format!(
        "{} path {path}: attestations client {} ({}; counterparty {}) <-> {evm}",
        if c.created { "opened" } else { "reusing" },
        c.client,
        if c.created { "created" } else { "exists" },
        if c.registered {
            "registered now"
        } else {
            "already registered"
        },
    )
}

/// A cosmos–evm path (IBC v2, attestations clients): `None` for other paths.
async fn mixed_path(
    ctx: &Ctx,
    cfg: &crate::config::Config,
    p: &crate::config::PathConfig,
    args: EvmAdminArgs,
) -> Result<Option<PathCreated>> {
    use crate::chain::attested::create::ensure_path;
    use crate::chain::attested::create_evm::EvmAdmin;
    use crate::supervisor::Chain;
    let (a, b) = (
        ctx.open_any(cfg, &p.a.chain)?,
        ctx.open_any(cfg, &p.b.chain)?,
    );
    let (cosmos, c_end, evm, e_end) = match (&a, &b) {
        (Chain::Cosmos(c), Chain::Evm(e)) => (c, &p.a, e, &p.b),
        (Chain::Evm(e), Chain::Cosmos(c)) => (c, &p.b, e, &p.a),
        _ => return Ok(None),
    };
    let evm_client = e_end
        .client
        .as_ref()
        .ok_or_else(|| anyhow!("path `{}`: the evm end needs `client`", p.name))?;
    let admin = match &args.admin_key {
        Some(name) => EvmAdmin {
            key: name.clone(),
            wallet: ctx
                .keystore()
                .load_evm(name, evm.evm.chain_id)
                .with_context(|| format!("loading key `{name}` for chain {}", evm.id))?,
            contracts: args.contracts,
        },
        None => EvmAdmin {
            key: evm.config.key.clone(),
            wallet: evm.wallet.clone(),
            contracts: args.contracts,
        },
    };
    let done = ensure_path(cosmos, c_end.client.as_ref(), evm, evm_client, Some(&admin))
        .await
        .map_err(|e| anyhow!("creating path `{}`: {e}", p.name))?;
    Ok(Some(done))
}

use anyhow::{anyhow, Result};
use clap::Subcommand;

use super::Ctx;
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
    /// The whole path: clients, connection, channel.
    Path { path: String },
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
        CreateCmd::Channel { path } | CreateCmd::Path { path } => {
            let p = ctx.path(&cfg, &path)?;
            if let Some(done) = mixed_path(ctx, &cfg, p).await? {
                ctx.emit(&serde_json::json!({ "path": path, "cosmos": done }), || {
                    format!(
                        "{} path {path}: attestations client {} ({}; counterparty {})",
                        if done.created { "opened" } else { "reusing" },
                        done.client,
                        if done.created { "created" } else { "exists" },
                        if done.registered {
                            "registered now"
                        } else {
                            "already registered"
                        },
                    )
                });
                return Ok(());
            }
            let (a, b) = (
                ctx.chain(&cfg, &p.a.chain, None)?,
                ctx.chain(&cfg, &p.b.chain, None)?,
            );
            let progress = crate::progress::Progress::start(format!("opening path {path}"));
            let result =
                handshake::create_path_steps(&a, &b, &p.a.port, &p.b.port, &|s| progress.step(s))
                    .await;
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
        }
    }
    Ok(())
}

/// A cosmos–evm path (IBC v2, attestations clients): `None` for other paths.
async fn mixed_path(
    ctx: &Ctx,
    cfg: &crate::config::Config,
    p: &crate::config::PathConfig,
) -> Result<Option<crate::chain::attested::create::Created>> {
    use crate::chain::attested::create::ensure_path;
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
    let done = ensure_path(cosmos, c_end.client.as_ref(), evm, evm_client)
        .await
        .map_err(|e| anyhow!("creating path `{}`: {e}", p.name))?;
    Ok(Some(done))
}

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
            let (a, b) = (
                ctx.chain(&cfg, &p.a.chain, None)?,
                ctx.chain(&cfg, &p.b.chain, None)?,
            );
            let (ids, created) = handshake::create_path(&a, &b, &p.a.port, &p.b.port)
                .await
                .map_err(|e| anyhow!("creating path `{path}`: {e}"))?;
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

//! The `ferry devnet` subcommands: up, down, status, demo.

use anyhow::{anyhow, Result};
use clap::Subcommand;

use crate::{Devnet, DevnetState};
use ferry::cli::Ctx;

#[derive(Subcommand)]
pub enum DevnetCmd {
    /// Build simd if needed and start both chains.
    Up,
    /// Stop the chains `up` started.
    Down,
    /// Show the chains, their heights and the devnet's Ferry home.
    Status,
    /// The main job: devnet up, path created, relayer started, one transfer each way with balances
    /// before and after, then keep relaying (Ctrl-C stops; `--exit` stops after the transfers).
    Demo {
        #[arg(long)]
        exit: bool,
    },
}

pub(crate) fn describe(s: &DevnetState) -> String {
    let mut out: Vec<String> = s
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{:<15} rpc {}  pid {}  log {}",
                n.chain_id,
                n.rpc,
                n.pid,
                n.log.display()
            )
        })
        .collect();
    for n in &s.evm {
        out.push(format!(
            "{:<15} rpc {}  pid {}  log {}\n{:<15} chain id {}, router {:?}, ics20 {:?}, test token {:?}",
            n.chain_id,
            n.rpc,
            n.pid,
            n.log.display(),
            "",
            n.evm_chain_id,
            n.router,
            n.transfer,
            n.token
        ));
    }
    if let Some(n) = &s.v2 {
        out.push(format!(
            "{:<15} rpc {}  grpc {}  pid {}  log {}  (ibc-go v11, IBC v2)",
            n.chain_id,
            n.rpc,
            n.grpc,
            n.pid,
            n.log.display()
        ));
    }
    for a in s.attestors.iter().chain(&s.cosmos_attestors) {
        out.push(format!(
            "{:<15} {}  signer {}  pid {}  log {}",
            a.name,
            a.url,
            a.address,
            a.pid,
            a.log.display()
        ));
    }
    out.push(format!(
        "ferry home: {} (use `ferry --devnet ...`)",
        s.ferry_home.display()
    ));
    out.join("\n")
}

pub async fn run(cmd: DevnetCmd, ctx: &Ctx) -> Result<()> {
    let dn = Devnet::with_v2(Devnet::default_dir());
    match cmd {
        DevnetCmd::Up => {
            let s = dn.up().await?;
            ctx.emit(&s, || format!("devnet up\n{}", describe(&s)));
        }
        DevnetCmd::Down => {
            let stopped = dn.down()?;
            let v: Vec<_> = stopped
                .iter()
                .map(|(c, p, was)| serde_json::json!({ "chain": c, "pid": p, "was_running": was }))
                .collect();
            ctx.emit(&v, || {
                if stopped.is_empty() {
                    "devnet not running".into()
                } else {
                    stopped
                        .iter()
                        .map(|(c, p, w)| {
                            format!(
                                "{c}: pid {p} {}",
                                if *w { "stopped" } else { "was not running" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        DevnetCmd::Status => {
            let s = dn.state().ok_or_else(|| {
                anyhow!("no devnet in {}; run `ferry devnet up`", dn.dir.display())
            })?;
            let mut heights = serde_json::Map::new();
            for n in &s.nodes {
                let h = reqwest::get(format!("{}/status", n.rpc)).await.ok();
                let h = match h {
                    Some(r) => r.json::<serde_json::Value>().await.ok().and_then(|v| {
                        v["result"]["sync_info"]["latest_block_height"]
                            .as_str()
                            .map(String::from)
                    }),
                    None => None,
                };
                heights.insert(
                    n.chain_id.clone(),
                    h.map(Into::into).unwrap_or(serde_json::Value::Null),
                );
            }
            ctx.emit(
                &serde_json::json!({ "devnet": s, "heights": heights }),
                || {
                    format!(
                        "{}\nheights: {}",
                        describe(&s),
                        serde_json::Value::Object(heights.clone())
                    )
                },
            );
        }
        DevnetCmd::Demo { exit } => crate::demo::run(&dn, exit).await?,
    }
    Ok(())
}

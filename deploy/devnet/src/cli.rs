use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::Ctx;
use crate::chain::cosmos::handshake;
use crate::devnet::{Devnet, DevnetState};
use crate::transfer::TransferState;

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

fn describe(s: &DevnetState) -> String {
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
        DevnetCmd::Demo { exit } => demo(ctx, &dn, exit).await?,
    }
    Ok(())
}

/// `ibc/HASH` of a voucher denom trace.
pub fn voucher_denom(trace: &str) -> String {
    format!(
        "ibc/{}",
        hex::encode_upper(Sha256::digest(trace.as_bytes()))
    )
}

async fn demo(_outer: &Ctx, dn: &Devnet, exit: bool) -> Result<()> {
    println!("==> starting the devnet (first run builds simd from Go modules)");
    let state = dn.up().await?;
    println!("{}", describe(&state));
    let ctx = Ctx {
        home: state.ferry_home.clone(),
        config_path: state.ferry_home.join("config.toml"),
        json: false,
    };
    let cfg = ctx.load_config()?;
    let path = ctx.path(&cfg, "l3-settlement")?.clone();
    let (l3, hub) = (
        ctx.chain(&cfg, &path.a.chain, None)?,
        ctx.chain(&cfg, &path.b.chain, None)?,
    );

    let progress = crate::progress::Progress::start(
        "==> opening path l3-settlement (clients, connection, channel)",
    );
    let result =
        handshake::create_path_steps(&l3, &hub, &path.a.port, &path.b.port, &|s| progress.step(s))
            .await;
    progress.finish(if result.is_ok() { "done" } else { "failed" });
    let (ids, created) = result.context("creating path")?;
    println!(
        "{} {}/{} <-> {}/{}",
        if created { "opened" } else { "reusing" },
        l3.id,
        ids.channel_a,
        hub.id,
        ids.channel_b
    );

    if state.v2.is_some() {
        println!(
            "==> opening path {} (attestations clients, counterparties)",
            crate::devnet::V2_PATH
        );
        super::demo_v2::open_path(&ctx).await?;
    }

    println!("==> starting the relayer");
    let console = cfg.telemetry.console;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let home = ctx.home.clone();
    let relayer =
        tokio::spawn(
            async move { crate::supervisor::run(cfg, &home, stop_rx, Some(bound_tx)).await },
        );
    let metrics = bound_rx
        .await
        .map_err(|_| anyhow!("relayer failed to start"))?;
    println!(
        "metrics: http://{metrics}/metrics  (health: /healthz, /readyz; API: /v1, /openapi.json)"
    );
    if console {
        println!("console: http://{metrics}/");
    }

    let user = state
        .addresses
        .get("user")
        .cloned()
        .ok_or_else(|| anyhow!("no devnet user"))?;
    let voucher = voucher_denom(&format!("{}/{}/samoleans", ids.port_b, ids.channel_b));
    let show = |label: &str,
                l3b: &std::collections::BTreeMap<String, String>,
                hubb: &std::collections::BTreeMap<String, String>| {
        println!(
            "{label}: {} samoleans on {}; {} {voucher} (transfer/{}/samoleans) on {}",
            l3b.get("samoleans").map(String::as_str).unwrap_or("0"),
            l3.id,
            hubb.get(&voucher).map(String::as_str).unwrap_or("0"),
            ids.channel_b,
            hub.id
        );
    };
    let before = (
        super::query::balances(&l3, &user).await?,
        super::query::balances(&hub, &user).await?,
    );
    show("balances before", &before.0, &before.1);

    let sender_l3 = ctx.chain(&ctx.load_config()?, &l3.id, Some("user"))?;
    let sender_hub = ctx.chain(&ctx.load_config()?, &hub.id, Some("user"))?;
    println!("==> transfer 1000samoleans {} -> {}", l3.id, hub.id);
    let t = crate::transfer::Transfer {
        port: &ids.port_a,
        channel: &ids.channel_a,
        amount: 1000,
        denom: "samoleans",
        receiver: &user,
        timeout: Duration::from_secs(600),
        memo: "ferry demo",
    };
    let (hash, _) = crate::transfer::send(&sender_l3, &t).await?;
    let st = super::transfer::follow(&ctx, &hash, Duration::from_secs(180), || {
        crate::transfer::status(&l3, &hub, &hash)
    })
    .await?;
    if st
        != (TransferState::Acknowledged {
            ok: true,
            error: None,
        })
    {
        return Err(anyhow!("transfer 1 ended {}", st.label()));
    }
    println!(
        "==> transfer 400{voucher} {} -> {} (back to samoleans)",
        hub.id, l3.id
    );
    let t = crate::transfer::Transfer {
        port: &ids.port_b,
        channel: &ids.channel_b,
        amount: 400,
        denom: &voucher,
        receiver: &user,
        timeout: Duration::from_secs(600),
        memo: "ferry demo",
    };
    let (hash, _) = crate::transfer::send(&sender_hub, &t).await?;
    let st = super::transfer::follow(&ctx, &hash, Duration::from_secs(180), || {
        crate::transfer::status(&hub, &l3, &hash)
    })
    .await?;
    if st
        != (TransferState::Acknowledged {
            ok: true,
            error: None,
        })
    {
        return Err(anyhow!("transfer 2 ended {}", st.label()));
    }
    let after = (
        super::query::balances(&l3, &user).await?,
        super::query::balances(&hub, &user).await?,
    );
    show("balances after ", &after.0, &after.1);
    super::demo_evm::run(&ctx, &state).await?;
    if state.v2.is_some() {
        super::demo_v2::run(&ctx, &state).await?;
    }
    if exit {
        let _ = stop_tx.send(true);
        relayer.await??;
        return Ok(());
    }
    println!("==> relaying; metrics at http://{metrics}/metrics, console at http://{metrics}/; Ctrl-C stops the relayer (the devnet keeps running: `ferry devnet down`)");
    tokio::signal::ctrl_c().await?;
    let _ = stop_tx.send(true);
    relayer.await??;
    Ok(())
}

//! `ferry devnet demo`: the main job on the embedded default. Starts the devnet, opens its paths,
//! runs the relayer in this process and sends transfers each way on every path, printing balances.

mod evm;
mod v2;

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use ferry::chain::cosmos::handshake;
use ferry::cli::Ctx;
use ferry::transfer::TransferState;
use tokio::sync::watch;

use crate::Devnet;

pub async fn run(dn: &Devnet, exit: bool) -> Result<()> {
    println!("==> starting the devnet (first run builds simd from Go modules)");
    let state = dn.up().await?;
    println!("{}", crate::cli::describe(&state));
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

    let progress = ferry::progress::Progress::start(
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
            crate::V2_PATH
        );
        v2::open_path(&ctx).await?;
    }

    println!("==> starting the relayer");
    let console = cfg.telemetry.console;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let home = ctx.home.clone();
    let relayer =
        tokio::spawn(
            async move { ferry::supervisor::run(cfg, &home, stop_rx, Some(bound_tx)).await },
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
    let voucher = ferry::cli::voucher_denom(&format!("{}/{}/samoleans", ids.port_b, ids.channel_b));
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
        ferry::cli::query::balances(&l3, &user).await?,
        ferry::cli::query::balances(&hub, &user).await?,
    );
    show("balances before", &before.0, &before.1);

    let sender_l3 = ctx.chain(&ctx.load_config()?, &l3.id, Some("user"))?;
    let sender_hub = ctx.chain(&ctx.load_config()?, &hub.id, Some("user"))?;
    println!("==> transfer 1000samoleans {} -> {}", l3.id, hub.id);
    let t = ferry::transfer::Transfer {
        port: &ids.port_a,
        channel: &ids.channel_a,
        amount: 1000,
        denom: "samoleans",
        receiver: &user,
        timeout: Duration::from_secs(600),
        memo: "ferry demo",
    };
    let (hash, _) = ferry::transfer::send(&sender_l3, &t).await?;
    let st = ferry::cli::transfer::follow(&ctx, &hash, Duration::from_secs(180), || {
        ferry::transfer::status(&l3, &hub, &hash)
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
    let t = ferry::transfer::Transfer {
        port: &ids.port_b,
        channel: &ids.channel_b,
        amount: 400,
        denom: &voucher,
        receiver: &user,
        timeout: Duration::from_secs(600),
        memo: "ferry demo",
    };
    let (hash, _) = ferry::transfer::send(&sender_hub, &t).await?;
    let st = ferry::cli::transfer::follow(&ctx, &hash, Duration::from_secs(180), || {
        ferry::transfer::status(&hub, &l3, &hash)
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
        ferry::cli::query::balances(&l3, &user).await?,
        ferry::cli::query::balances(&hub, &user).await?,
    );
    show("balances after ", &after.0, &after.1);
    evm::run(&ctx, &state).await?;
    if state.v2.is_some() {
        v2::run(&ctx, &state).await?;
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

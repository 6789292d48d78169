//! `ferry attestor start | address | validate`: an independent attestor holding one key
//! (`crate::attestor`, `docs/ATTESTOR.md`). Its config is `<home>/attestor.toml` unless
//! `--config` names another file.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use ethers::signers::Signer;
use tokio::signal::unix::{signal, SignalKind};

use super::Ctx;
use crate::attestor::config::{self, Issue, Severity};
use crate::attestor::{self as att, CONFIG_FILE};

#[derive(Subcommand)]
pub enum AttestorCmd {
    /// Serve signatures over HTTP until SIGINT or SIGTERM (see docs/ATTESTOR.md).
    Start,
    /// Print the address of the attestor's key (what the committee lists).
    Address,
    /// Check attestor.toml and the key; errors name the key and what is wrong.
    Validate,
}

/// `--config` when given, else `<home>/attestor.toml`.
fn config_path(ctx: &Ctx) -> PathBuf {
    if ctx.config_path == ctx.home.join("config.toml") {
        ctx.home.join(CONFIG_FILE)
    } else {
        ctx.config_path.clone()
    }
}

pub async fn run(cmd: AttestorCmd, ctx: &Ctx) -> Result<()> {
    let path = config_path(ctx);
    match cmd {
        AttestorCmd::Start => start(ctx, path).await,
        AttestorCmd::Address => address(ctx, path),
        AttestorCmd::Validate => validate(ctx, path),
    }
}

async fn start(ctx: &Ctx, path: PathBuf) -> Result<()> {
    let (cfg, warnings) =
        config::load(&path).map_err(|e| anyhow!("{}: invalid:\n{e}", path.display()))?;
    for w in warnings {
        eprintln!("{}: {w}", path.display());
    }
    let shutdown = async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
    };
    att::serve(&ctx.home, &cfg, shutdown).await?;
    Ok(())
}

/// The key named by the config; without a config file yet, the home's only key.
fn address(ctx: &Ctx, path: PathBuf) -> Result<()> {
    let name = match std::fs::read_to_string(&path) {
        Ok(text) => config::key_name(&text).map_err(|e| anyhow!("{}:\n{e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = ctx.keystore().list()?;
            match keys.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(anyhow!(
                        "{} does not exist and {} holds {} keys ({}): write the config's `key` \
                         first, or keep exactly one key in an attestor home",
                        path.display(),
                        ctx.home.join("keys").display(),
                        keys.len(),
                        keys.join(", ")
                    ))
                }
            }
        }
        Err(e) => return Err(anyhow!("reading {}: {e}", path.display())),
    };
    let wallet = att::load_key(&ctx.home, &name)?;
    let address = format!("{:?}", wallet.address());
    ctx.emit(
        &serde_json::json!({ "key": name, "address": address }),
        || address.clone(),
    );
    Ok(())
}

fn validate(ctx: &Ctx, path: PathBuf) -> Result<()> {
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let (cfg, mut issues) = config::parse(&text);
    let mut address = None;
    if let Ok(name) = config::key_name(&text) {
        match att::load_key(&ctx.home, &name) {
            Ok(w) => address = Some(format!("{:?}", w.address())),
            Err(e) => issues.push(Issue {
                severity: Severity::Error,
                key: "key".into(),
                reason: e.to_string().trim_start_matches("`key`: ").to_string(),
            }),
        }
    }
    let ok = cfg.is_some() && !issues.iter().any(|i| i.severity == Severity::Error);
    ctx.emit(
        &serde_json::json!({ "valid": ok, "address": address, "issues": issues }),
        || {
            let mut s: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
            s.push(format!(
                "{}: {}",
                path.display(),
                if ok { "valid" } else { "invalid" }
            ));
            s.join("\n")
        },
    );
    if ok {
        Ok(())
    } else {
        Err(anyhow!("{}: attestor config has errors", path.display()))
    }
}

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
    /// Sign an AttestorRotation (EIP-712) handing a light client over to a new attestor set;
    /// a quorum of the current set's signatures go to `rotateAttestors`. Offline: no chain is read.
    SignRotation(SignRotationArgs),
}

#[derive(clap::Args)]
pub struct SignRotationArgs {
    /// EIP-155 chain id of the chain the light client runs on.
    #[arg(long)]
    host_chain_id: u64,
    /// The AttestedLightClient contract.
    #[arg(long)]
    light_client: ethers::types::Address,
    /// The new attestor set, in the order it will be passed to `rotateAttestors`
    /// (comma-separated or repeated).
    #[arg(long = "attestor", value_delimiter = ',', required = true)]
    attestors: Vec<ethers::types::Address>,
    /// The new quorum.
    #[arg(long)]
    quorum: u8,
    /// The client's current `epoch()` (the rotation is valid for that epoch only).
    #[arg(long)]
    epoch: u64,
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
        AttestorCmd::SignRotation(a) => sign_rotation(ctx, path, a),
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

fn sign_rotation(ctx: &Ctx, path: PathBuf, a: SignRotationArgs) -> Result<()> {
    use crate::chain::evm::attestation::{rotation_digest, Domain};
    let set = &a.attestors;
    if let Some(dup) = set.iter().enumerate().find(|(i, x)| set[..*i].contains(x)) {
        return Err(anyhow!("--attestor {:?} is listed twice", dup.1));
    }
    if set.iter().any(|x| x.is_zero()) {
        return Err(anyhow!("--attestor 0x0000…0000 is not an attestor"));
    }
    if a.quorum == 0 || usize::from(a.quorum) > set.len() {
        return Err(anyhow!(
            "--quorum {} must be between 1 and the number of attestors ({})",
            a.quorum,
            set.len()
        ));
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let name = config::key_name(&text).map_err(|e| anyhow!("{}:\n{e}", path.display()))?;
    let wallet = att::load_key(&ctx.home, &name)?;
    let domain = Domain {
        host_chain_id: a.host_chain_id,
        light_client: a.light_client,
    };
    let digest = rotation_digest(&domain, set, a.quorum, a.epoch);
    let sig = wallet
        .sign_hash(digest)
        .map_err(|e| anyhow!("signing the rotation: {e}"))?;
    let signature = format!("0x{}", hex::encode(sig.to_vec()));
    let out = serde_json::json!({
        "signer": format!("{:?}", wallet.address()),
        "domain": domain,
        "attestors": set,
        "quorum": a.quorum,
        "epoch": a.epoch,
        "digest": format!("{digest:?}"),
        "signature": signature,
    });
    ctx.emit(&out, || {
        format!(
            "{:?} signs AttestorRotation(attestors: [{}], quorum: {}, epoch: {}) for light client \
             {:?} on chain {}\ndigest {digest:?}\nsignature {signature}",
            wallet.address(),
            set.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            a.quorum,
            a.epoch,
            a.light_client,
            a.host_chain_id
        )
    });
    Ok(())
}

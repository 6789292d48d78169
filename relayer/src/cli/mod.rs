//! The `ferry` command: one file per command group. `anyhow` lives only here, at the edge.

mod attestor;
mod create;
mod devnet;
mod keys;
pub mod query;
mod start;
mod status;
pub mod transfer;

pub use query::voucher_denom;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::chain::cosmos::handshake::{find_path, PathIds};
use crate::chain::cosmos::CosmosChain;
use crate::config::{Config, PathConfig};
use crate::ibc::ChainId;
use crate::keys::KeyStore;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry: a verifying relayer for IBC-style token transfers"
)]
pub struct Cli {
    /// Ferry home (config.toml and keys/). Default: $FERRY_HOME or ~/.ferry.
    #[arg(long, global = true, env = "FERRY_HOME")]
    home: Option<PathBuf>,
    /// Config file. Default: <home>/config.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Use the local devnet's home (written by `ferry devnet up`).
    #[arg(long, global = true)]
    devnet: bool,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Local devnet: ibc-go chains and anvil on loopback (runs the separate `ferry-devnet` binary).
    #[command(disable_help_flag = true)]
    Devnet {
        /// Arguments for `ferry-devnet`: up, down, status, demo [--exit].
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Configuration checks.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The keystore.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Create clients, connections, channels or a whole path (reusing what exists).
    #[command(subcommand)]
    Create(create::CreateCmd),
    /// Run the relayer daemon for every configured path.
    Start,
    /// Who relays what: with a shared store, each lane's owner and the instances seen.
    Status,
    /// Send an ICS-20 transfer.
    Transfer(transfer::TransferArgs),
    /// Query transfers, pending packets and balances.
    #[command(subcommand)]
    Query(query::QueryCmd),
    /// An independent attestor holding one key (config: <home>/attestor.toml).
    #[command(subcommand)]
    Attestor(attestor::AttestorCmd),
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check the config; errors name the key and the reason.
    Validate,
}

/// What every command gets: where things are and how to print.
pub struct Ctx {
    pub home: PathBuf,
    pub config_path: PathBuf,
    pub json: bool,
}

impl Ctx {
    /// Print `value` as JSON with `--json`, else the human text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string(value).expect("serialisable output")
            );
        } else {
            println!("{}", human());
        }
    }

    pub fn load_config(&self) -> Result<Config> {
        let (cfg, warnings) = crate::config::load(&self.config_path)?;
        for w in warnings {
            eprintln!("{w}");
        }
        Ok(cfg)
    }

    pub fn keystore(&self) -> KeyStore {
        KeyStore::new(&self.home)
    }

    /// Open one chain with its configured key, or with `key` when given.
    pub fn chain(&self, cfg: &Config, id: &ChainId, key: Option<&str>) -> Result<Arc<CosmosChain>> {
        let c = cfg
            .chain(id)
            .ok_or_else(|| anyhow!("chain `{id}` is not in {}", self.config_path.display()))?;
        if c.evm.is_some() {
            return Err(anyhow!(
                "chain {id} is an evm chain; this command works on Cosmos chains (on EVM paths use \
                 `ferry transfer`, `ferry query transfer` and `ferry query balance`)"
            ));
        }
        let name = key.unwrap_or(&c.key);
        let k = self
            .keystore()
            .load(name)
            .with_context(|| format!("loading key `{name}` for chain {id}"))?;
        Ok(CosmosChain::new(c.clone(), k)?)
    }

    /// Open configured chain `id`, of either family, with its configured key.
    pub fn open_any(&self, cfg: &Config, id: &ChainId) -> Result<crate::supervisor::Chain> {
        let c = cfg
            .chain(id)
            .ok_or_else(|| anyhow!("chain `{id}` is not in {}", self.config_path.display()))?;
        Ok(crate::supervisor::open_chain(c, &self.home, &c.key)?)
    }

    /// Open configured EVM chain `id` with its configured key.
    pub fn evm_chain(
        &self,
        cfg: &Config,
        id: &ChainId,
    ) -> Result<Arc<crate::chain::evm::EvmChain>> {
        match self.open_any(cfg, id)? {
            crate::supervisor::Chain::Evm(e) => Ok(e),
            crate::supervisor::Chain::Cosmos(_) => Err(anyhow!("chain {id} is not an evm chain")),
        }
    }

    pub fn path<'a>(&self, cfg: &'a Config, name: &str) -> Result<&'a PathConfig> {
        cfg.path(name).ok_or_else(|| {
            let known: Vec<_> = cfg.paths.iter().map(|p| p.name.as_str()).collect();
            anyhow!(
                "no path named `{name}` in {} (configured: {})",
                self.config_path.display(),
                known.join(", ")
            )
        })
    }

    /// Both chains of a path and its open channel ends.
    pub async fn open_path(
        &self,
        cfg: &Config,
        name: &str,
    ) -> Result<(Arc<CosmosChain>, Arc<CosmosChain>, PathIds)> {
        let p = self.path(cfg, name)?;
        let a = self.chain(cfg, &p.a.chain, None)?;
        let b = self.chain(cfg, &p.b.chain, None)?;
        let ids = find_path(&a, &b, &p.a.port, p.a.channel.as_ref())
            .await?
            .ok_or_else(|| {
                anyhow!("path `{name}` has no open channel yet; run `ferry create path {name}`")
            })?;
        Ok((a, b, ids))
    }
}

/// The `ferry=<level>,warn` log filter on stderr (`RUST_LOG` overrides it).
pub fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ferry={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colours only on a terminal: files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let home = if cli.devnet {
        crate::config::devnet_dir().join("ferry")
    } else {
        cli.home.clone().unwrap_or_else(crate::config::default_home)
    };
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| home.join("config.toml"));
    let ctx = Ctx {
        home,
        config_path,
        json: cli.json,
    };
    let level = crate::config::load(&ctx.config_path)
        .map(|(c, _)| c.log_level)
        .unwrap_or_else(|_| "info".into());
    init_tracing(&level);
    if let Command::Devnet { args } = cli.command {
        // Replaces this process, so a signal sent to this pid reaches the devnet command.
        let err = devnet::exec(&args, ctx.json);
        eprintln!("error: {err:#}");
        return std::process::ExitCode::FAILURE;
    }
    block_on_command(&ctx, run(cli.command, &ctx))
}

/// Runs a command on a new multi-threaded runtime; its error is printed as `ferry` prints errors
/// (JSON with `--json`) and becomes the exit code. Shared with the `ferry-devnet` binary.
pub fn block_on_command(
    ctx: &Ctx,
    command: impl std::future::Future<Output = Result<()>>,
) -> std::process::ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if ctx.json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Command, ctx: &Ctx) -> Result<()> {
    match cmd {
        Command::Devnet { .. } => {
            unreachable!("`ferry devnet` is handed to ferry-devnet before the runtime starts")
        }
        Command::Config(ConfigCmd::Validate) => validate(ctx),
        Command::Keys(c) => keys::run(c, ctx),
        Command::Create(c) => create::run(c, ctx).await,
        Command::Start => start::run(ctx).await,
        Command::Status => status::run(ctx),
        Command::Transfer(a) => transfer::run(a, ctx).await,
        Command::Query(c) => query::run(c, ctx).await,
        Command::Attestor(c) => attestor::run(c, ctx).await,
    }
}

fn validate(ctx: &Ctx) -> Result<()> {
    let text = std::fs::read_to_string(&ctx.config_path)
        .with_context(|| format!("reading {}", ctx.config_path.display()))?;
    let raw = crate::config::raw::parse(&text)
        .map_err(|e| anyhow!("{}: {e}", ctx.config_path.display()))?;
    let (cfg, issues) = crate::config::validate(&raw);
    let ok = cfg.is_some();
    ctx.emit(
        &serde_json::json!({ "valid": ok, "issues": issues }),
        || {
            let mut s: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
            s.push(if ok {
                format!("{}: valid", ctx.config_path.display())
            } else {
                format!("{}: invalid", ctx.config_path.display())
            });
            s.join("\n")
        },
    );
    if ok {
        Ok(())
    } else {
        Err(anyhow!("config has errors"))
    }
}

//! Configuration: the TOML schema as written by operators ([`raw`]), and the validated, typed form the
//! rest of Ferry uses ([`Config`]). Loading goes through the `config` crate so that `FERRY_` environment
//! variables override file values (`FERRY_TELEMETRY__LISTEN=0.0.0.0:9464`).

mod evm;
pub mod raw;
#[cfg(test)]
mod signer_keys_tests;
mod store;
mod telemetry;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::ibc::{ChainId, ChannelId, ClientId, ConnectionId, PortId};
pub use evm::parse_checkpoint;
pub use validate::{validate, Issue, Severity};

/// The configuration Ferry runs with: every value checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub log_level: String,
    /// `ferry transfer`'s key without `--key`; never a relayer key unless configured so.
    pub default_transfer_key: Option<String>,
    pub telemetry: TelemetryConfig,
    pub chains: Vec<ChainConfig>,
    pub paths: Vec<PathConfig>,
    pub store: StoreConfig,
}

/// `[store]`: the embedded state store (in-flight txs survive a restart).
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub enabled: bool,
    /// Relative paths are under Ferry's home.
    pub path: std::path::PathBuf,
    /// A PostgreSQL store shared by several instances, instead of the file at `path`.
    pub url: Option<String>,
    pub instance: Option<String>,
    pub lease_ttl: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Connections served at once (1–4096).
    pub max_connections: usize,
    /// Where the API's bearer token is (relative paths are under Ferry's home).
    pub token_file: Option<std::path::PathBuf>,
    pub console: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainKind {
    Cosmos,
    Evm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// WebSocket subscription, with `block_results` polling on reconnect.
    WebSocket,
    /// `block_results` polling only.
    Poll,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GasPrice {
    pub amount: f64,
    pub denom: String,
}

#[derive(Clone, Debug)]
pub struct ChainConfig {
    pub id: ChainId,
    pub kind: ChainKind,
    /// RPC endpoints in order of preference; the first that answers is used.
    pub rpc: Vec<String>,
    /// A second, independent RPC endpoint used to cross-check headers (misbehaviour detection).
    pub witness_rpc: Option<String>,
    pub event_source: EventSource,
    pub account_prefix: String,
    /// The primary signer: handshakes, client creation and the wallet the API shows first.
    pub key: String,
    /// Every signer (the primary first): relayer txs are spread across them, each with its own
    /// locally tracked sequence. One entry unless `keys = [...]` is configured.
    pub keys: Vec<String>,
    pub gas_price: GasPrice,
    pub gas_multiplier: f64,
    pub default_gas: u64,
    pub max_gas: u64,
    pub max_msgs_per_tx: usize,
    pub max_tx_bytes: usize,
    pub trusting_period: Duration,
    pub clock_drift: Duration,
    pub trust_threshold: (u64, u64),
    pub poll_interval: Duration,
    pub tx_confirm_timeout: Duration,
    /// The committee attesting this chain in the ibc-go attestations format (a Cosmos chain on a
    /// path to an EVM chain; an EVM chain's are `evm.attestor_endpoints`).
    pub attestor_endpoints: Vec<reqwest::Url>,
    pub attestation_timeout: Duration,
    /// Present exactly when `kind` is [`ChainKind::Evm`].
    pub evm: Option<EvmConfig>,
}

impl ChainConfig {
    /// The attestor endpoints of this chain's committee, whichever family it is.
    pub fn attestors(&self) -> (&[reqwest::Url], Duration) {
        match &self.evm {
            Some(e) => (&e.attestor_endpoints, e.attestation_timeout),
            None => (&self.attestor_endpoints, self.attestation_timeout),
        }
    }
}

/// An EVM chain's contracts and policies (`[chains.evm]`).
#[derive(Clone, Debug)]
pub struct EvmConfig {
    /// EIP-155 chain id; transactions are signed for it and the node must report it.
    pub chain_id: u64,
    pub router: ethers::types::Address,
    /// The ICS-20 app, for `ferry transfer`.
    pub transfer: Option<ethers::types::Address>,
    /// Blocks on top of a block before Ferry treats it (and its events) as final.
    pub confirmations: u64,
    /// Tip per gas, in wei; the fee cap is `gas_price`.
    pub priority_fee_wei: u128,
    pub max_fee_wei: u128,
    /// `ferry attestor` endpoints asked to attest this chain's state for counterparties' light
    /// clients; the relayer itself holds no attestor key.
    pub attestor_endpoints: Vec<reqwest::Url>,
    /// How long to wait for the attestors' signatures before giving up on a quorum this round.
    pub attestation_timeout: std::time::Duration,
    /// Trusted (number, hash) the header chain is verified from; genesis when absent.
    pub checkpoint: Option<(u64, ethers::types::H256)>,
    /// Largest block range of one `eth_getLogs`.
    pub log_range: u64,
    pub ws: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PathEnd {
    pub chain: ChainId,
    pub port: PortId,
    pub client: Option<ClientId>,
    pub connection: Option<ConnectionId>,
    pub channel: Option<ChannelId>,
}

#[derive(Clone, Debug)]
pub struct PathConfig {
    pub name: String,
    pub a: PathEnd,
    pub b: PathEnd,
    pub clear_interval: Duration,
    pub filter: ChannelFilter,
}

/// Per-channel allow/deny lists; an empty allow list allows every channel.
#[derive(Clone, Debug, Default)]
pub struct ChannelFilter {
    pub allow: Vec<ChannelId>,
    pub deny: Vec<ChannelId>,
}

impl ChannelFilter {
    pub fn permits(&self, channel: &ChannelId) -> bool {
        (self.allow.is_empty() || self.allow.contains(channel)) && !self.deny.contains(channel)
    }
}

impl Config {
    pub fn chain(&self, id: &ChainId) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| &c.id == id)
    }
    pub fn path(&self, name: &str) -> Option<&PathConfig> {
        self.paths.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config has {} error(s):\n{}", .0.len(), .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Issue>),
}

/// Load, apply `FERRY_*` overrides, and validate. Warnings are returned beside the config.
pub fn load(path: &Path) -> Result<(Config, Vec<Issue>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    load_str(&text, path)
}

/// Like [`load`], for TOML already in memory (`origin` names it in errors).
pub fn load_str(text: &str, origin: &Path) -> Result<(Config, Vec<Issue>), ConfigError> {
    let raw = raw::parse(text).map_err(|message| ConfigError::Parse {
        path: origin.into(),
        message,
    })?;
    let (config, issues) = validate(&raw);
    let (errors, warnings): (Vec<_>, Vec<_>) = issues
        .into_iter()
        .partition(|i| i.severity == Severity::Error);
    match config {
        Some(c) if errors.is_empty() => Ok((c, warnings)),
        _ => Err(ConfigError::Invalid(errors)),
    }
}

/// Ferry's home: `$FERRY_HOME`, else `$HOME/.ferry`.
pub fn default_home() -> PathBuf {
    if let Ok(h) = std::env::var("FERRY_HOME") {
        return PathBuf::from(h);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".ferry")
}

/// The local devnet's folder: `$FERRY_DEVNET_DIR`, else `<default home>/devnet`. The devnet writes
/// its Ferry home to `ferry/` inside it, which `ferry --devnet` uses.
pub fn devnet_dir() -> PathBuf {
    std::env::var_os("FERRY_DEVNET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_home().join("devnet"))
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn allow_and_deny_lists() {
        let (c0, c1): (ChannelId, ChannelId) =
            ("channel-0".parse().unwrap(), "channel-1".parse().unwrap());
        assert!(ChannelFilter::default().permits(&c0));
        let allow = ChannelFilter {
            allow: vec![c0.clone()],
            deny: vec![],
        };
        assert!(allow.permits(&c0) && !allow.permits(&c1));
        let deny = ChannelFilter {
            allow: vec![],
            deny: vec![c1.clone()],
        };
        assert!(deny.permits(&c0) && !deny.permits(&c1));
    }
}

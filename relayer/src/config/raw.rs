//! The configuration as written: serde structs with defaults. Every key is documented in
//! `config/example.toml`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub telemetry: RawTelemetry,
    #[serde(default)]
    pub chains: Vec<RawChain>,
    #[serde(default)]
    pub paths: Vec<RawPath>,
    #[serde(default)]
    pub store: RawStore,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Relative to Ferry's home.
    #[serde(default = "d_store_path")]
    pub path: String,
    /// `postgres://…`: a store shared by several instances (leases spread the lanes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// This instance's name among those sharing `url` (default: HOST-PID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// How long a lane's lease lasts without renewal: a dead owner's lanes move after this.
    #[serde(default = "d_lease_ttl")]
    pub lease_ttl: String,
}
impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            enabled: true,
            path: d_store_path(),
            url: None,
            instance: None,
            lease_ttl: d_lease_ttl(),
        }
    }
}
fn d_lease_ttl() -> String {
    "10s".into()
}
fn d_store_path() -> String {
    "state.db".into()
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    #[serde(default = "d_log_level")]
    pub log_level: String,
    /// The key `ferry transfer` signs with when `--key` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_transfer_key: Option<String>,
}
impl Default for RawGlobal {
    fn default() -> Self {
        RawGlobal {
            log_level: d_log_level(),
            default_transfer_key: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    #[serde(default = "d_true")]
    pub enabled: bool,
    #[serde(default = "d_listen")]
    pub listen: String,
    /// Connections served at once; more wait to be accepted.
    #[serde(default = "d_max_connections")]
    pub max_connections: u64,
    /// File (relative to Ferry's home) holding the bearer token that `POST` API calls need;
    /// without it they are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Serve the web console at `/` (off by default).
    #[serde(default)]
    pub console: bool,
}
impl Default for RawTelemetry {
    fn default() -> Self {
        RawTelemetry {
            enabled: true,
            listen: d_listen(),
            max_connections: d_max_connections(),
            token_file: None,
            console: false,
        }
    }
}

fn d_max_connections() -> u64 {
    64
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawChain {
    pub id: String,
    #[serde(rename = "type", default = "d_cosmos")]
    pub kind: String,
    pub rpc: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_rpc: Option<String>,
    #[serde(default = "d_event_source")]
    pub event_source: String,
    #[serde(default = "d_prefix")]
    pub account_prefix: String,
    /// The signing key's name; or `keys`, several signers (Cosmos chains).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    pub gas_price: String,
    #[serde(default = "d_gas_multiplier")]
    pub gas_multiplier: f64,
    #[serde(default = "d_default_gas")]
    pub default_gas: u64,
    #[serde(default = "d_max_gas")]
    pub max_gas: u64,
    #[serde(default = "d_max_msgs")]
    pub max_msgs_per_tx: usize,
    #[serde(default = "d_max_tx_bytes")]
    pub max_tx_bytes: usize,
    #[serde(default = "d_trusting_period")]
    pub trusting_period: String,
    #[serde(default = "d_clock_drift")]
    pub clock_drift: String,
    #[serde(default = "d_trust_threshold")]
    pub trust_threshold: String,
    #[serde(default = "d_poll_interval")]
    pub poll_interval: String,
    #[serde(default = "d_tx_confirm_timeout")]
    pub tx_confirm_timeout: String,
    /// Cosmos chains on a path to an EVM chain: the `ferry attestor` endpoints of the committee
    /// attesting this chain in the ibc-go attestations format (EVM chains list theirs in
    /// `[chains.evm]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestor_endpoints: Vec<String>,
    #[serde(default = "d_attestation_timeout")]
    pub attestation_timeout: String,
    /// Required for `type = "evm"`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evm: Option<RawEvm>,
}

/// `[chains.evm]`: where Ferry's contracts live and how to treat the chain.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvm {
    pub chain_id: u64,
    pub router: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
    #[serde(default = "d_confirmations")]
    pub confirmations: u64,
    #[serde(default = "d_priority_fee")]
    pub priority_fee: String,
    /// Refused: the relayer holds no attestor key (kept only to say so clearly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestors: Option<Vec<String>>,
    /// `ferry attestor` HTTP endpoints that attest this chain for counterparties' light clients.
    #[serde(default)]
    pub attestor_endpoints: Vec<String>,
    #[serde(default = "d_attestation_timeout")]
    pub attestation_timeout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    #[serde(default = "d_log_range")]
    pub log_range: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPathEnd {
    pub chain: String,
    #[serde(default = "d_port")]
    pub port: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPath {
    pub name: String,
    pub a: RawPathEnd,
    pub b: RawPathEnd,
    #[serde(default = "d_clear_interval")]
    pub clear_interval: String,
    #[serde(default)]
    pub filter: RawFilter,
}

/// Parse TOML through the `config` crate so `FERRY_SECTION__KEY` environment variables override it.
pub fn parse(text: &str) -> Result<RawConfig, String> {
    let built = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("FERRY")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(overrides())),
        )
        .build()
        .map_err(|e| e.to_string())?;
    built
        .try_deserialize::<RawConfig>()
        .map_err(|e| e.to_string())
}

/// Only `FERRY_SECTION__KEY` variables are overrides; `FERRY_HOME` and friends are not config keys.
fn overrides() -> config::Map<String, String> {
    std::env::vars()
        .filter(|(k, _)| {
            k.strip_prefix("FERRY_")
                .is_some_and(|rest| rest.contains("__"))
        })
        .collect()
}

fn d_log_level() -> String {
    "info".into()
}
fn d_true() -> bool {
    true
}
fn d_listen() -> String {
    "127.0.0.1:9464".into()
}
fn d_cosmos() -> String {
    "cosmos".into()
}
fn d_event_source() -> String {
    "websocket".into()
}
fn d_prefix() -> String {
    "cosmos".into()
}
fn d_gas_multiplier() -> f64 {
    1.3
}
fn d_default_gas() -> u64 {
    300_000
}
fn d_max_gas() -> u64 {
    10_000_000
}
fn d_max_msgs() -> usize {
    50
}
fn d_max_tx_bytes() -> usize {
    1_000_000
}
fn d_trusting_period() -> String {
    "14days".into()
}
fn d_clock_drift() -> String {
    "10s".into()
}
fn d_trust_threshold() -> String {
    "1/3".into()
}
fn d_poll_interval() -> String {
    "500ms".into()
}
fn d_tx_confirm_timeout() -> String {
    "30s".into()
}
fn d_confirmations() -> u64 {
    2
}
fn d_priority_fee() -> String {
    "1gwei".into()
}
fn d_attestation_timeout() -> String {
    "10s".into()
}
fn d_log_range() -> u64 {
    1000
}
fn d_port() -> String {
    "transfer".into()
}
fn d_clear_interval() -> String {
    "30s".into()
}

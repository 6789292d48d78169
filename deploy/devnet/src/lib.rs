//! The local devnet: two ibc-go `simd` chains on loopback (the L3 appchain and the settlement hub),
//! with funded deterministic test keys, free ports, and logs and pid files under one folder; anvil
//! chains with Ferry's contracts; the IBC v2 appchain and the attestors. A crate of its own so the
//! production library and binary carry none of it: the `ferry-devnet` binary serves
//! `ferry devnet up|down|status|demo`, and the integration tests use this library.

mod cli;
pub mod demo;

pub mod attestors;
pub mod contracts;
pub mod evm;
pub mod fork;
mod node;
pub mod npm;
mod simd;
pub mod simd_v11;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use cli::{run as run_command, DevnetCmd};
pub use simd::ensure_simd;

/// A free loopback port.
pub fn free_port() -> u16 {
    node::free_ports(1).map(|p| p[0]).unwrap_or(0)
}

pub const CHAIN_IDS: [&str; 2] = ["l3-appchain-1", "settlement-1"];
/// The embedded default configuration.
pub const DEVNET_TOML: &str = include_str!("../../../config/devnet.toml");
/// Accounts funded in every devnet chain's genesis, by role. `relayer-2` and `relayer-3` are extra
/// signers for `keys = ["relayer", "relayer-2", "relayer-3"]`.
pub const ROLES: [&str; 5] = ["validator", "relayer", "user", "relayer-2", "relayer-3"];
/// The devnet keys imported into Ferry's home.
pub const FERRY_KEYS: [&str; 4] = ["relayer", "user", "relayer-2", "relayer-3"];
/// The IBC v2 appchain (ibc-go v11.2.0), on a path to `evm-settlement`; only in a devnet started
/// with [`Devnet::with_v2`].
pub const V2_CHAIN_ID: &str = "v2-appchain-1";
/// The path joining it to `evm-settlement` in `config/devnet.toml`.
pub const V2_PATH: &str = "v2-settlement-evm";
pub const GENESIS_COINS: &str = "100000000000stake,100000000000samoleans";

#[derive(Debug, Error)]
pub enum DevnetError {
    #[error("`{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    #[error("devnet I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chain {chain} did not serve RPC within {secs}s; see {log}")]
    NotReady {
        chain: String,
        secs: u64,
        log: PathBuf,
    },
    /// The process died before it was ready: its log says why (the devnet folder may be gone by
    /// the time anyone looks, so the end of it travels with the error).
    #[error("{name} exited while starting; the end of {log}:\n{tail}")]
    Exited {
        name: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{0}")]
    Other(String),
}

impl DevnetError {
    /// `name`, whose log is `log`, died while starting.
    pub(crate) fn exited(name: &str, log: &Path) -> DevnetError {
        const LINES: usize = 20;
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        DevnetError::Exited {
            name: name.to_string(),
            log: log.to_path_buf(),
            tail: lines[lines.len().saturating_sub(LINES)..].join("\n"),
        }
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    pub chain_id: String,
    pub home: PathBuf,
    pub rpc: String,
    pub grpc: String,
    pub p2p: String,
    pub pid: u32,
    pub log: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetState {
    pub dir: PathBuf,
    pub simd: PathBuf,
    pub nodes: Vec<NodeInfo>,
    /// Ferry home for the devnet: `config.toml` and keys `relayer` and `user`.
    pub ferry_home: PathBuf,
    pub metrics: String,
    pub addresses: std::collections::BTreeMap<String, String>,
    /// The anvil chains and Ferry's contracts on them.
    #[serde(default)]
    pub evm: Vec<evm::EvmNode>,
    /// The attestor committee of the anvil chains (separate processes, one key each).
    #[serde(default)]
    pub attestors: Vec<attestors::AttestorNode>,
    /// The IBC v2 appchain, its binary, and the committee attesting it.
    #[serde(default)]
    pub v2: Option<NodeInfo>,
    #[serde(default)]
    pub simd_v11: Option<PathBuf>,
    #[serde(default)]
    pub cosmos_attestors: Vec<attestors::AttestorNode>,
}

impl DevnetState {
    pub fn node(&self, chain: &str) -> Option<&NodeInfo> {
        self.nodes
            .iter()
            .chain(self.v2.iter())
            .find(|n| n.chain_id == chain)
    }
}

pub struct Devnet {
    pub dir: PathBuf,
    /// Also start the IBC v2 appchain, its committee, and the client of it on `evm-settlement`.
    pub v2: bool,
}

impl Devnet {
    pub fn new(dir: impl Into<PathBuf>) -> Devnet {
        Devnet {
            dir: dir.into(),
            v2: false,
        }
    }

    /// The whole devnet, with the IBC v2 appchain and its path to `evm-settlement`.
    pub fn with_v2(dir: impl Into<PathBuf>) -> Devnet {
        Devnet {
            dir: dir.into(),
            v2: true,
        }
    }

    /// `$FERRY_DEVNET_DIR`, else `<ferry home>/devnet`.
    pub fn default_dir() -> PathBuf {
        ferry::config::devnet_dir()
    }

    /// The devnet's Ferry home; `ferry --devnet` finds it at the same place under
    /// [`ferry::config::devnet_dir`].
    pub fn ferry_home(&self) -> PathBuf {
        self.dir.join("ferry")
    }

    fn state_file(&self) -> PathBuf {
        self.dir.join("devnet.json")
    }

    pub fn state(&self) -> Option<DevnetState> {
        let body = std::fs::read(self.state_file()).ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// Start both chains (or report the running ones). Builds `simd` on first use.
    pub async fn up(&self) -> Result<DevnetState, DevnetError> {
        if let Some(state) = self.state() {
            if state.nodes.iter().all(|n| node::alive(n.pid, &n.home))
                && state.evm.iter().all(evm::alive)
                && state.evm.len() == evm::EVM_CHAINS.len()
                && state.attestors.iter().all(attestors::alive)
                && state.attestors.len() == evm::ATTESTORS.len()
                && state.v2.is_some() == self.v2
                && state.v2.iter().all(|n| node::alive(n.pid, &n.home))
                && state.cosmos_attestors.iter().all(attestors::alive)
            {
                return Ok(state);
            }
            self.down()?;
        }
        let simd = ensure_simd().await?;
        // A fresh start: previous chain data is discarded.
        for id in CHAIN_IDS.iter().chain([&V2_CHAIN_ID]) {
            let home = self.dir.join(id);
            if home.exists() {
                std::fs::remove_dir_all(&home).map_err(io(&home))?;
            }
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let ports = node::free_ports(CHAIN_IDS.len() * 3 + 4)?;
        let mut nodes = Vec::new();
        for (i, id) in CHAIN_IDS.iter().enumerate() {
            let p = &ports[i * 3..i * 3 + 3];
            let info = node::init_and_start(&simd, &self.dir, id, p[0], p[1], p[2]).await?;
            nodes.push(info);
        }
        // The v2 appchain starts with the others, so the EVM client of it can trust its header.
        let (v2, simd_v11) = if self.v2 {
            let bin = simd_v11::ensure_simd_v11().await?;
            let p = &ports[CHAIN_IDS.len() * 3..CHAIN_IDS.len() * 3 + 3];
            let info = node::init_and_start(&bin, &self.dir, V2_CHAIN_ID, p[0], p[1], p[2]).await?;
            (Some(info), Some(bin))
        } else {
            (None, None)
        };
        for n in nodes.iter().chain(v2.iter()) {
            node::wait_ready(n, 90).await?;
        }
        // Recorded before deploying, so `down` stops these chains even if the deploy fails.
        let mut state = DevnetState {
            dir: self.dir.clone(),
            simd,
            nodes,
            ferry_home: self.ferry_home(),
            metrics: node::metrics_addr(ports[ports.len() - 1]),
            addresses: Default::default(),
            evm: vec![],
            attestors: vec![],
            v2,
            simd_v11,
            cosmos_attestors: vec![],
        };
        self.save(&state)?;
        let start = match &state.v2 {
            Some(n) => Some(v2_start(n).await?),
            None => None,
        };
        state.evm = evm::up(&self.dir, start.as_ref().map(|s| s.0)).await?;
        self.save(&state)?;
        state.attestors = attestors::up(&self.dir, &state.evm).await?;
        self.save(&state)?;
        if let (Some(n), Some((_, checkpoint))) = (&state.v2, &start) {
            state.cosmos_attestors =
                attestors::up_cosmos(&self.dir, V2_CHAIN_ID, &n.rpc, checkpoint).await?;
            self.save(&state)?;
        }
        self.write_ferry_home(&state)?;
        for role in ROLES {
            let key = ferry::keys::Key::from_mnemonic(role, &mnemonic(role))
                .map_err(|e| DevnetError::Other(e.to_string()))?;
            state.addresses.insert(
                role.to_string(),
                key.address("cosmos")
                    .map_err(|e| DevnetError::Other(e.to_string()))?,
            );
        }
        for role in evm::EVM_ROLES {
            let w = ferry::keys::evm_wallet(&mnemonic(role), 0)
                .map_err(|e| DevnetError::Other(e.to_string()))?;
            use ethers::signers::Signer;
            state
                .addresses
                .insert(format!("evm-{role}"), format!("{:?}", w.address()));
        }
        self.save(&state)?;
        Ok(state)
    }

    fn save(&self, state: &DevnetState) -> Result<(), DevnetError> {
        let body = serde_json::to_vec_pretty(state).expect("state serialises");
        std::fs::write(self.state_file(), body).map_err(io(&self.state_file()))
    }

    /// Ferry's config (devnet.toml with the real ports) and keys for the devnet.
    fn write_ferry_home(&self, state: &DevnetState) -> Result<PathBuf, DevnetError> {
        let (nodes, metrics) = (&state.nodes, &state.metrics);
        let home = self.ferry_home();
        std::fs::create_dir_all(&home).map_err(io(&home))?;
        let mut raw: ferry::config::raw::RawConfig = toml::from_str(DEVNET_TOML)
            .map_err(|e| DevnetError::Other(format!("embedded devnet.toml: {e}")))?;
        if state.v2.is_none() {
            raw.chains.retain(|c| c.id != V2_CHAIN_ID);
            raw.paths.retain(|p| p.name != V2_PATH);
        }
        for chain in &mut raw.chains {
            if let Some(n) = nodes
                .iter()
                .chain(state.v2.iter())
                .find(|n| n.chain_id == chain.id)
            {
                chain.rpc = vec![n.rpc.clone()];
            }
            if chain.id == V2_CHAIN_ID {
                chain.attestor_endpoints = state
                    .cosmos_attestors
                    .iter()
                    .map(|a| a.url.clone())
                    .collect();
            }
            if let (Some(n), Some(e)) = (
                state.evm.iter().find(|n| n.chain_id == chain.id),
                chain.evm.as_mut(),
            ) {
                chain.rpc = vec![n.rpc.clone()];
                e.chain_id = n.evm_chain_id;
                e.router = format!("{:?}", n.router);
                e.transfer = Some(format!("{:?}", n.transfer));
                e.checkpoint = Some(n.checkpoint.clone());
                e.ws = Some(n.rpc.replacen("http://", "ws://", 1));
                e.attestor_endpoints = state.attestors.iter().map(|a| a.url.clone()).collect();
            }
        }
        raw.telemetry.listen = metrics.to_string();
        let path = home.join("config.toml");
        let text = toml::to_string_pretty(&raw).map_err(|e| DevnetError::Other(e.to_string()))?;
        std::fs::write(
            &path,
            format!("# Written by `ferry devnet up` from config/devnet.toml.\n{text}"),
        )
        .map_err(io(&path))?;
        let ks = ferry::keys::KeyStore::new(&home);
        // No attestor key here: the committee runs as its own processes (`attestors.rs`).
        for role in FERRY_KEYS {
            match ks.import(role, &mnemonic(role)) {
                Ok(_) | Err(ferry::keys::KeyError::Exists(_)) => {}
                Err(e) => return Err(DevnetError::Other(e.to_string())),
            }
        }
        Ok(home)
    }

    /// Stop exactly the processes `up` started (by pid, checked against their home folder).
    pub fn down(&self) -> Result<Vec<(String, u32, bool)>, DevnetError> {
        let Some(state) = self.state() else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for n in &state.nodes {
            let was = node::alive(n.pid, &n.home);
            if was {
                node::stop(n.pid, &n.home);
            }
            out.push((n.chain_id.clone(), n.pid, was));
        }
        for n in state.v2.iter() {
            let was = node::alive(n.pid, &n.home);
            if was {
                node::stop(n.pid, &n.home);
            }
            out.push((n.chain_id.clone(), n.pid, was));
        }
        for a in state.attestors.iter().chain(&state.cosmos_attestors) {
            let was = attestors::alive(a);
            if was {
                attestors::stop(a);
            }
            out.push((a.name.clone(), a.pid, was));
        }
        for n in &state.evm {
            let was = evm::alive(n);
            if was {
                evm::stop(n);
            }
            out.push((n.chain_id.clone(), n.pid, was));
        }
        let _ = std::fs::remove_file(self.state_file());
        Ok(out)
    }
}

/// Where `evm-settlement`'s client of the v2 appchain starts (its latest header), and the
/// checkpoint (`HEIGHT:HASH`) its committee verifies from.
async fn v2_start(n: &NodeInfo) -> Result<(evm::CosmosStart, String), DevnetError> {
    use tendermint_rpc::Client;
    let url = n.rpc.as_str();
    let client = tendermint_rpc::HttpClient::new(url)
        .map_err(|e| DevnetError::Other(format!("{url}: {e}")))?;
    let s = client
        .status()
        .await
        .map_err(|e| DevnetError::Other(format!("{url} status: {e}")))?;
    let height = s.sync_info.latest_block_height.value();
    let secs = s.sync_info.latest_block_time.unix_timestamp().max(0) as u64;
    Ok((
        evm::CosmosStart {
            height,
            timestamp_secs: secs,
        },
        format!("{height}:{}", s.sync_info.latest_block_hash),
    ))
}

/// The devnet's test mnemonic for a role (the same on both chains; never for real funds).
pub fn mnemonic(role: &str) -> String {
    ferry::keys::deterministic_mnemonic(&format!("ferry-devnet/{role}"))
}

//! `ferry attestor`: an independent attestor holding ONE key. Relayers collect its signatures over
//! HTTP; a quorum of such processes, each run by its own operator, is what Ferry's attested light
//! clients (`contracts/src/AttestedLightClient.sol`) trust.
//!
//! It signs EIP-712 `StateAttestation {attested_chain, height, timestamp, state_root}`
//! (`chain::evm::attestation`) of EVM chains for a block that is
//! 1. read identically from all of the chain's endpoints (at least two; [`source`]),
//! 2. verified by Ferry's Ethereum light client from the configured checkpoint ([`chain`]),
//! 3. final under the configured rule at every endpoint, and
//! 4. not in conflict with a state this key signed before for the same chain and height, across
//!    restarts ([`record`]: appended and fsync'd before the signature leaves).
//!
//! For at most ONE chain it also signs the ibc-go `attestations` light client format ([`ibc`]):
//! state attestations `(height, timestamp)` and packet attestations (store values under
//! `keccak256(raw key)`), of that EVM chain ([`evm_packets`]: EIP-1186 proofs of the router's
//! slots) or of a Cosmos chain ([`cosmos`]: headers verified with Ferry's Tendermint light client,
//! values with ICS-23 proofs, [`cosmos_proof`]). That format names no chain, so a key that signed
//! it for two chains would vouch for each on the other's clients.
//!
//! Operator guide: `docs/ATTESTOR.md`.

pub mod chain;
pub mod config;
pub mod cosmos;
pub mod cosmos_proof;
pub mod cosmos_rpc;
pub mod evm_packets;
pub mod ibc;
mod ibc_api;
pub mod metrics;
pub mod record;
pub mod refusal;
pub mod server;
pub mod source;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ethers::signers::{LocalWallet, Signer};
use ethers::types::Address;
use serde::{Deserialize, Serialize};

use crate::chain::evm::attestation::{state_digest, Domain, StateAttestation};
use crate::keys::{KeyError, KeyStore};
pub use config::{AttestorConfig, ChainConfig, Finality};
use record::{Record, RecordError, Recorded};
use refusal::{Kind, Refusal};

/// The config file in the attestor's home, unless `--config` names another.
pub const CONFIG_FILE: &str = "attestor.toml";
/// How often each chain's verified tip is moved up to its final height in the background.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(5);

/// `POST /v1/attest/state` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    /// CAIP-2 name of the attested chain, `eip155:<chain id>`.
    pub chain: String,
    pub height: u64,
    /// The light client (and its host chain) the signature is for.
    pub domain: Domain,
}

/// `POST /v1/attest/state` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttestResponse {
    pub attestation: StateAttestation,
    pub signer: Address,
    /// `0x` + 65 bytes `r ‖ s ‖ v` (v = 27 or 28) over `state_digest(domain, attestation)`.
    pub signature: String,
}

/// `GET /v1/info` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Info {
    pub address: Address,
    pub chains: Vec<ChainInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChainInfo {
    pub chain: String,
    pub name: String,
    pub verified_height: Option<u64>,
    /// Whether this chain is signed in the ibc attestation format (`/v1/attest/ibc/*`).
    #[serde(default)]
    pub ibc_attestations: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AttestorError {
    #[error("`key`: {0}")]
    Key(String),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{0}")]
    Endpoint(String),
    #[error("`listen`: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// The attestor's key: the one key in `<home>/keys`, which must be `name`.
pub fn load_key(home: &Path, name: &str) -> Result<LocalWallet, AttestorError> {
    let ks = KeyStore::new(home);
    let keys = ks
        .list()
        .map_err(|e: KeyError| AttestorError::Key(e.to_string()))?;
    if keys != [name] {
        let dir = home.join("keys");
        return Err(AttestorError::Key(
            if keys.is_empty() || !keys.iter().any(|k| k == name) {
                format!(
                "no key named `{name}` in {} (found: {}); create it with `ferry --home {} keys add {name}`",
                dir.display(),
                if keys.is_empty() { "none".into() } else { keys.join(", ") },
                home.display()
            )
            } else {
                format!(
                    "{} holds {} keys ({}); an attestor home holds exactly one key, its own — \
                 move the others to their own homes",
                    dir.display(),
                    keys.len(),
                    keys.join(", ")
                )
            },
        ));
    }
    // The chain id is not used: the attestor signs EIP-712 digests, never transactions.
    ks.load_evm(name, 1)
        .map_err(|e| AttestorError::Key(e.to_string()))
}

/// The one chain signed in the ibc attestation format.
#[derive(Clone)]
pub enum IbcChain {
    /// An EVM chain and the FerryRouter whose `commitments` its packet attestations prove.
    Evm(Arc<chain::Chain>, Address),
    Cosmos(Arc<cosmos::CosmosChain>),
}

impl IbcChain {
    pub fn caip2(&self) -> &str {
        match self {
            IbcChain::Evm(c, _) => &c.caip2,
            IbcChain::Cosmos(c) => &c.caip2,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            IbcChain::Evm(c, _) => c.name(),
            IbcChain::Cosmos(c) => c.name(),
        }
    }
}

/// A running attestor's state, shared by the HTTP handlers and the followers.
pub struct Attestor {
    wallet: LocalWallet,
    pub address: Address,
    /// EVM chains (EIP-712, and the ibc format for the one flagged so).
    pub chains: Vec<Arc<chain::Chain>>,
    /// Cosmos chains (the ibc format only).
    pub cosmos: Vec<Arc<cosmos::CosmosChain>>,
    pub ibc: Option<IbcChain>,
    record: Arc<Mutex<Record>>,
    pub metrics: Arc<metrics::Metrics>,
}

impl Attestor {
    /// Load the key, open (and lock) the signed record, set up the chains. No I/O to the chains.
    pub fn open(home: &Path, cfg: &AttestorConfig) -> Result<Attestor, AttestorError> {
        let wallet = load_key(home, &cfg.key)?;
        let address = wallet.address();
        let record = Record::open(home, address)?;
        let metrics = Arc::new(metrics::Metrics::new(
            &cfg.chains
                .iter()
                .map(|c| (c.name.clone(), c.rpc.len()))
                .chain(cfg.cosmos.iter().map(|c| (c.name.clone(), c.rpc.len())))
                .collect::<Vec<_>>(),
        ));
        metrics.records(record.len());
        let chains = cfg
            .chains
            .iter()
            .map(|c| {
                let endpoints = c
                    .rpc
                    .iter()
                    .map(|u| {
                        Arc::new(source::HttpEndpoint::new(u.clone(), cfg.rpc_timeout))
                            as Arc<dyn source::Endpoint>
                    })
                    .collect();
                let src =
                    source::Source::new(c.name.clone(), c.evm_chain_id, endpoints, metrics.clone());
                Arc::new(chain::Chain::new(c.clone(), src, metrics.clone()))
            })
            .collect::<Vec<_>>();
        let mut cosmos_chains = Vec::new();
        for c in &cfg.cosmos {
            let mut endpoints: Vec<Arc<dyn cosmos_rpc::CometEndpoint>> = Vec::new();
            for u in &c.rpc {
                let e = cosmos_rpc::HttpComet::new(u.clone(), cfg.rpc_timeout)
                    .map_err(|e| AttestorError::Endpoint(format!("chain `{}`: {e}", c.name)))?;
                endpoints.push(Arc::new(e));
            }
            cosmos_chains.push(Arc::new(cosmos::CosmosChain::new(
                c.clone(),
                endpoints,
                metrics.clone(),
            )));
        }
        let ibc = chains
            .iter()
            .find_map(|c| {
                c.config
                    .router
                    .filter(|_| c.config.ibc_attestations)
                    .map(|r| IbcChain::Evm(c.clone(), r))
            })
            .or_else(|| cosmos_chains.first().cloned().map(IbcChain::Cosmos));
        if let Some(i) = &ibc {
            metrics.init_ibc(i.name());
        }
        Ok(Attestor {
            wallet,
            address,
            chains,
            cosmos: cosmos_chains,
            ibc,
            record: Arc::new(Mutex::new(record)),
            metrics,
        })
    }

    pub fn info(&self) -> Info {
        Info {
            address: self.address,
            chains: self
                .chains
                .iter()
                .map(|c| ChainInfo {
                    chain: c.caip2.clone(),
                    name: c.name().to_string(),
                    verified_height: c.verified_height(),
                    ibc_attestations: c.config.ibc_attestations,
                })
                .chain(self.cosmos.iter().map(|c| ChainInfo {
                    chain: c.caip2.clone(),
                    name: c.name().to_string(),
                    verified_height: c.verified_height(),
                    ibc_attestations: true,
                }))
                .collect(),
        }
    }

    /// Sign the state of `req.chain` at `req.height` for `req.domain`, if it may be signed.
    pub async fn attest(&self, req: AttestRequest) -> Result<AttestResponse, Refusal> {
        let Some(chain) = self.chains.iter().find(|c| c.caip2 == req.chain) else {
            self.metrics.bad_request(Kind::UnknownChain);
            let known: Vec<_> = self.chains.iter().map(|c| c.caip2.as_str()).collect();
            if self.cosmos.iter().any(|c| c.caip2 == req.chain) {
                return Err(Refusal::new(
                    Kind::UnknownChain,
                    format!(
                        "`{}` is attested only in the ibc attestation format \
                         (POST /v1/attest/ibc/state and /v1/attest/ibc/packets)",
                        req.chain
                    ),
                ));
            }
            return Err(Refusal::new(
                Kind::UnknownChain,
                format!(
                    "this attestor does not attest `{}` in EIP-712 (it attests: {})",
                    req.chain,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        let started = Instant::now();
        match self.attest_on(chain, &req).await {
            Ok(signed) => {
                self.metrics
                    .signed(chain.name(), started.elapsed().as_secs_f64());
                tracing::info!(
                    chain = chain.name(),
                    height = req.height,
                    state_root = ?signed.attestation.state_root,
                    host_chain_id = req.domain.host_chain_id,
                    light_client = ?req.domain.light_client,
                    "signed state attestation"
                );
                Ok(signed)
            }
            Err(r) => {
                self.note_refusal(chain.name(), req.height, &r);
                Err(r)
            }
        }
    }

    /// Count and log a refusal concerning `chain` (bad requests apart).
    fn note_refusal(&self, chain: &str, height: u64, r: &Refusal) {
        if r.kind == Kind::BadRequest {
            self.metrics.bad_request(r.kind);
        } else {
            self.metrics.refused(chain, r.kind);
        }
        match r.kind {
            Kind::Conflict | Kind::Disagreement | Kind::VerificationFailed => {
                tracing::error!(
                    chain,
                    height,
                    kind = r.kind.label(),
                    "refused: {}",
                    r.message
                )
            }
            _ => {
                tracing::warn!(
                    chain,
                    height,
                    kind = r.kind.label(),
                    "refused: {}",
                    r.message
                )
            }
        }
    }

    async fn attest_on(
        &self,
        chain: &chain::Chain,
        req: &AttestRequest,
    ) -> Result<AttestResponse, Refusal> {
        let a = chain.state_at(req.height).await?;
        let record = self.record.clone();
        let to_record = a.clone();
        let internal = |e: String| {
            Refusal::new(
                Kind::Internal,
                format!("cannot record the state before signing it, so it is not signed: {e}"),
            )
        };
        let (recorded, total) = tokio::task::spawn_blocking(move || {
            let mut r = record
                .lock()
                .map_err(|_| "record lock poisoned".to_string())?;
            let out = r.check_and_append(&to_record).map_err(|e| e.to_string())?;
            Ok::<_, String>((out, r.len()))
        })
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(internal)?;
        self.metrics.records(total);
        if let Recorded::Conflict {
            timestamp,
            state_root,
        } = recorded
        {
            return Err(Refusal::new(
                Kind::Conflict,
                format!(
                    "{}: CONFLICT at height {}: this attestor already signed timestamp {timestamp} \
                     state root {state_root:?}, and the verified chain now says timestamp {} state \
                     root {:?}; refusing to sign a second state (a deep reorg, a compromised \
                     checkpoint or endpoints, or a replaced record: investigate before anything else)",
                    chain.name(),
                    a.height,
                    a.timestamp,
                    a.state_root
                ),
            ));
        }
        let digest = state_digest(&req.domain, &a);
        let sig = self
            .wallet
            .sign_hash(digest)
            .map_err(|e| Refusal::new(Kind::Internal, format!("signing: {e}")))?;
        Ok(AttestResponse {
            attestation: a,
            signer: self.address,
            signature: format!("0x{}", hex::encode(sig.to_vec())),
        })
    }

    /// Check every chain's endpoints and checkpoint once, and log what was found. Nothing here
    /// stops the attestor: a chain that fails keeps failing every request (refused, counted and
    /// logged), while the other chains are served and `/metrics` shows what is wrong.
    pub async fn check_chains(&self) {
        for c in &self.chains {
            match c.check().await {
                Ok(()) => tracing::info!(
                    chain = c.name(),
                    caip2 = %c.caip2,
                    checkpoint = c.config.checkpoint.number,
                    endpoints = c.config.rpc.len(),
                    "endpoints agree on the checkpoint"
                ),
                Err(r) if r.kind == Kind::RpcError => {
                    tracing::warn!(
                        chain = c.name(),
                        "cannot check the checkpoint yet: {}",
                        r.message
                    )
                }
                Err(r) => tracing::error!(
                    chain = c.name(),
                    kind = r.kind.label(),
                    "this chain will not be attested until fixed: {}",
                    r.message
                ),
            }
        }
        for c in &self.cosmos {
            match c.check().await {
                Ok(()) => tracing::info!(
                    chain = c.name(),
                    caip2 = %c.caip2,
                    checkpoint = c.config.checkpoint.height,
                    endpoints = c.config.rpc.len(),
                    "endpoints agree on the checkpoint header"
                ),
                Err(r) if r.kind == Kind::RpcError => {
                    tracing::warn!(
                        chain = c.name(),
                        "cannot check the checkpoint yet: {}",
                        r.message
                    )
                }
                Err(r) => tracing::error!(
                    chain = c.name(),
                    kind = r.kind.label(),
                    "this chain will not be attested until fixed: {}",
                    r.message
                ),
            }
        }
    }
}

/// Move a chain's verified tip up to its final height every [`FOLLOW_INTERVAL`] (`step`), so
/// requests find it verified. Failures are counted and logged when they change.
async fn follow<F, Fut>(name: String, metrics: Arc<metrics::Metrics>, step: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), Refusal>>,
{
    let mut last_error: Option<String> = None;
    loop {
        match step().await {
            Ok(()) => {
                if last_error.take().is_some() {
                    tracing::info!(chain = %name, "following again");
                }
            }
            Err(r) => {
                metrics.follow_failed(&name, r.kind);
                if last_error.as_deref() != Some(r.message.as_str()) {
                    tracing::warn!(
                        chain = %name,
                        kind = r.kind.label(),
                        "cannot extend the verified chain: {}",
                        r.message
                    );
                    last_error = Some(r.message);
                }
            }
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}

/// Run the attestor until `shutdown` completes: open it, check the chains, listen, follow.
pub async fn serve(
    home: &Path,
    cfg: &AttestorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AttestorError> {
    let att = Arc::new(Attestor::open(home, cfg)?);
    tracing::info!(
        address = ?att.address,
        key = %cfg.key,
        record = %home.join(record::FILE_NAME).display(),
        "attestor key loaded"
    );
    att.check_chains().await;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| AttestorError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(AttestorError::Serve)?;
    let mut followers: Vec<_> = att
        .chains
        .iter()
        .map(|c| {
            let c = c.clone();
            tokio::spawn(follow(
                c.name().to_string(),
                att.metrics.clone(),
                move || {
                    let c = c.clone();
                    async move { c.follow().await.map(|_| ()) }
                },
            ))
        })
        .collect();
    followers.extend(att.cosmos.iter().map(|c| {
        let c = c.clone();
        tokio::spawn(follow(
            c.name().to_string(),
            att.metrics.clone(),
            move || {
                let c = c.clone();
                async move { c.follow().await.map(|_| ()) }
            },
        ))
    }));
    tracing::info!(address = ?att.address, "attestor listening on http://{local}");
    let result = axum::serve(listener, server::router(att.clone()))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(AttestorError::Serve);
    for f in followers {
        f.abort();
    }
    tracing::info!("attestor stopped");
    result
}

//! `ferry attestor`: an independent attestor holding ONE key. Relayers collect its signatures over
//! HTTP; a quorum of such processes, each run by its own operator, is what Ferry's attested light
//! clients (`contracts/src/AttestedLightClient.sol`) trust.
//!
//! It signs one thing: EIP-712 `StateAttestation {attested_chain, height, timestamp, state_root}`
//! (`chain::evm::attestation`) for a block that is
//! 1. read identically from all of the chain's endpoints (at least two; [`source`]),
//! 2. verified by Ferry's Ethereum light client from the configured checkpoint ([`chain`]),
//! 3. final under the configured rule at every endpoint, and
//! 4. not in conflict with a state this key signed before for the same chain and height, across
//!    restarts ([`record`]: appended and fsync'd before the signature leaves).
//!
//! Operator guide: `docs/ATTESTOR.md`.

pub mod chain;
pub mod config;
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
}

#[derive(Debug, thiserror::Error)]
pub enum AttestorError {
    #[error("`key`: {0}")]
    Key(String),
    #[error(transparent)]
    Record(#[from] RecordError),
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

/// A running attestor's state, shared by the HTTP handlers and the followers.
pub struct Attestor {
    wallet: LocalWallet,
    pub address: Address,
    pub chains: Vec<Arc<chain::Chain>>,
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
            .collect();
        Ok(Attestor {
            wallet,
            address,
            chains,
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
                })
                .collect(),
        }
    }

    /// Sign the state of `req.chain` at `req.height` for `req.domain`, if it may be signed.
    pub async fn attest(&self, req: AttestRequest) -> Result<AttestResponse, Refusal> {
        let Some(chain) = self.chains.iter().find(|c| c.caip2 == req.chain) else {
            self.metrics.bad_request(Kind::UnknownChain);
            let known: Vec<_> = self.chains.iter().map(|c| c.caip2.as_str()).collect();
            return Err(Refusal::new(
                Kind::UnknownChain,
                format!(
                    "this attestor does not attest `{}` (it attests: {})",
                    req.chain,
                    known.join(", ")
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
                if r.kind == Kind::BadRequest {
                    self.metrics.bad_request(r.kind);
                } else {
                    self.metrics.refused(chain.name(), r.kind);
                }
                match r.kind {
                    Kind::Conflict | Kind::Disagreement | Kind::VerificationFailed => {
                        tracing::error!(
                            chain = chain.name(),
                            height = req.height,
                            kind = r.kind.label(),
                            "refused: {}",
                            r.message
                        )
                    }
                    _ => {
                        tracing::warn!(
                            chain = chain.name(),
                            height = req.height,
                            kind = r.kind.label(),
                            "refused: {}",
                            r.message
                        )
                    }
                }
                Err(r)
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
    }
}

/// Move `chain`'s verified tip up to its final height every [`FOLLOW_INTERVAL`], so requests
/// find it verified. Failures are counted and logged when they change.
async fn follow(chain: Arc<chain::Chain>, metrics: Arc<metrics::Metrics>) {
    let mut last_error: Option<String> = None;
    loop {
        match chain.follow().await {
            Ok(_) => {
                if last_error.take().is_some() {
                    tracing::info!(chain = chain.name(), "following again");
                }
            }
            Err(r) => {
                metrics.follow_failed(chain.name(), r.kind);
                if last_error.as_deref() != Some(r.message.as_str()) {
                    tracing::warn!(
                        chain = chain.name(),
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
    let followers: Vec<_> = att
        .chains
        .iter()
        .map(|c| tokio::spawn(follow(c.clone(), att.metrics.clone())))
        .collect();
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

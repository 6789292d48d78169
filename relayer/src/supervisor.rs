//! The daemon: opens every configured chain, resolves each path's channel ends, runs one worker per
//! path plus health monitors, and on shutdown lets in-flight transactions finish.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::sync::watch;

use crate::chain::cosmos::handshake::{find_path, PathIds};
use crate::chain::cosmos::CosmosChain;
use crate::chain::{ChainError, Heights};
use crate::config::{ChainKind, Config, PathConfig};
use crate::ibc::ChainId;
use crate::keys::{KeyError, KeyStore};
use crate::router::{PathWorker, Side};
use crate::telemetry::{metrics, Readiness};

#[derive(Debug, Error)]
pub enum SupervisorError {
    #[error("chain `{chain}`: {source}")]
    Key { chain: ChainId, source: KeyError },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("chain `{0}` has type evm, which `ferry start` cannot relay yet")]
    Unsupported(ChainId),
    #[error("path `{path}`: no open channel between {a} and {b}; run `ferry create path {path}`")]
    NoPath {
        path: String,
        a: ChainId,
        b: ChainId,
    },
    #[error("cannot serve metrics on {addr}: {source}")]
    Telemetry {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Every configured chain, opened with its key.
pub fn open_chains(
    cfg: &Config,
    home: &Path,
) -> Result<HashMap<ChainId, Arc<CosmosChain>>, SupervisorError> {
    let keys = KeyStore::new(home);
    let mut out = HashMap::new();
    for c in &cfg.chains {
        if c.kind != ChainKind::Cosmos {
            return Err(SupervisorError::Unsupported(c.id.clone()));
        }
        let key = keys.load(&c.key).map_err(|source| SupervisorError::Key {
            chain: c.id.clone(),
            source,
        })?;
        out.insert(c.id.clone(), CosmosChain::new(c.clone(), key)?);
    }
    Ok(out)
}

pub async fn resolve_path(
    path: &PathConfig,
    a: &CosmosChain,
    b: &CosmosChain,
) -> Result<PathIds, SupervisorError> {
    find_path(a, b, &path.a.port, path.a.channel.as_ref())
        .await?
        .ok_or_else(|| SupervisorError::NoPath {
            path: path.name.clone(),
            a: a.id.clone(),
            b: b.id.clone(),
        })
}

/// Run until `shutdown` turns true. `bound` receives the metrics address once listening.
pub async fn run(
    cfg: Config,
    home: &Path,
    shutdown: watch::Receiver<bool>,
    bound: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), SupervisorError> {
    let ready = Readiness::default();
    let mut server = None;
    if cfg.telemetry.enabled {
        let (addr, task) = crate::telemetry::serve(cfg.telemetry.listen, ready.clone())
            .await
            .map_err(|source| SupervisorError::Telemetry {
                addr: cfg.telemetry.listen,
                source,
            })?;
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
        if let Some(tx) = bound {
            let _ = tx.send(addr);
        }
        server = Some(task);
    }
    metrics().set_up(true);
    let chains = open_chains(&cfg, home)?;
    for chain in chains.values() {
        chain.latest().await?;
        metrics().init_chain(chain.id.as_str());
        metrics().init_verification(
            chain.id.as_str(),
            ferry_light_client_tendermint::VerificationError::REASONS,
        );
    }
    let mut workers = Vec::new();
    for path in &cfg.paths {
        let (a, b) = (chains[&path.a.chain].clone(), chains[&path.b.chain].clone());
        let ids = resolve_path(path, &a, &b).await?;
        tracing::info!(path = %path.name, channel_a = %ids.channel_a, channel_b = %ids.channel_b, "relaying path");
        metrics().init_path_side(
            a.id.as_str(),
            b.id.as_str(),
            ids.channel_a.as_str(),
            ids.client_a.as_str(),
        );
        metrics().init_path_side(
            b.id.as_str(),
            a.id.as_str(),
            ids.channel_b.as_str(),
            ids.client_b.as_str(),
        );
        let worker = PathWorker {
            name: path.name.clone(),
            a: Side {
                chain: a.clone(),
                client: ids.client_a.clone(),
                port: ids.port_a.clone(),
                channel: ids.channel_a.clone(),
            },
            b: Side {
                chain: b.clone(),
                client: ids.client_b.clone(),
                port: ids.port_b.clone(),
                channel: ids.channel_b.clone(),
            },
            clear_interval: path.clear_interval,
            filter: path.filter.clone(),
        };
        workers.push(tokio::spawn(worker.run(shutdown.clone())));
        tokio::spawn(monitor_clients(
            a.clone(),
            b.clone(),
            ids.clone(),
            shutdown.clone(),
        ));
        crate::chain::cosmos::misbehaviour::watch_path(
            a.clone(),
            b.clone(),
            ids.client_a.clone(),
            ids.client_b.clone(),
            shutdown.clone(),
        );
    }
    for chain in chains.values() {
        tokio::spawn(monitor_wallet(chain.clone(), shutdown.clone()));
    }
    ready.set(true);
    for w in workers {
        let _ = w.await;
    }
    let mut shutdown = shutdown;
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    ready.set(false);
    metrics().set_up(false);
    if let Some(s) = server {
        s.abort();
    }
    Ok(())
}

async fn sleep_or_stop(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.changed() => *shutdown.borrow(),
    }
}

/// Wallet balance and runway: balance divided by the spend rate seen since the first sample.
async fn monitor_wallet(chain: Arc<CosmosChain>, mut shutdown: watch::Receiver<bool>) {
    let denom = chain.config.gas_price.denom.clone();
    let mut first: Option<(Instant, u128)> = None;
    loop {
        if let Ok(bal) = chain.balance(&chain.address, &denom).await {
            let (t0, b0) = *first.get_or_insert((Instant::now(), bal));
            let spent = b0.saturating_sub(bal) as f64;
            let elapsed = t0.elapsed().as_secs_f64();
            let runway = if spent > 0.0 && elapsed > 0.0 {
                bal as f64 / (spent / elapsed)
            } else {
                1e12
            };
            metrics().wallet(
                chain.id.as_str(),
                &chain.config.key,
                &denom,
                bal as f64,
                runway,
            );
        }
        if sleep_or_stop(Duration::from_secs(15), &mut shutdown).await {
            return;
        }
    }
}

/// Seconds until each client of the path leaves its trusting period.
async fn monitor_clients(
    a: Arc<CosmosChain>,
    b: Arc<CosmosChain>,
    ids: PathIds,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        for (host, client, cp) in [(&a, &ids.client_a, &b.id), (&b, &ids.client_b, &a.id)] {
            let Ok(cs) = host.client_state(client).await else {
                continue;
            };
            let Some(h) = cs.latest_height else { continue };
            let h = crate::ibc::Height::new(h.revision_number, h.revision_height);
            let Ok(cons) = host.consensus_state(client, h).await else {
                continue;
            };
            let (Some(ts), Some(tp)) = (cons.timestamp, cs.trusting_period) else {
                continue;
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            let period = tp.seconds as f64;
            let remaining = ts.seconds as f64 + period - now;
            metrics().client_trust(
                host.id.as_str(),
                client.as_str(),
                cp.as_str(),
                remaining,
                period,
            );
        }
        if sleep_or_stop(Duration::from_secs(30), &mut shutdown).await {
            return;
        }
    }
}

//! The daemon: opens every configured chain, resolves each path's channel ends, runs one worker per
//! path plus health monitors, and on shutdown lets in-flight transactions finish.

mod wallet;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::sync::watch;

use crate::api::Readiness;
use crate::chain::cosmos::handshake::{find_path, PathIds};
use crate::chain::cosmos::CosmosChain;
use crate::chain::evm::EvmChain;
use crate::chain::{ChainError, RelayChain};
use crate::config::{ChainConfig, ChainKind, Config, PathConfig};
use crate::ibc::ChainId;
use crate::keys::{KeyError, KeyStore};
use crate::router::{PathWorker, Side};
use crate::telemetry::metrics;

#[derive(Debug, Error)]
pub enum SupervisorError {
    #[error("chain `{chain}`: {source}")]
    Key { chain: ChainId, source: KeyError },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("path `{path}`: {reason}")]
    EvmPath { path: String, reason: String },
    #[error("path `{path}`: no open channel between {a} and {b}; run `ferry create path {path}`")]
    NoPath {
        path: String,
        a: ChainId,
        b: ChainId,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Token(#[from] crate::api::TokenError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Telemetry {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// An opened chain of either family.
#[derive(Clone)]
pub enum Chain {
    Cosmos(Arc<CosmosChain>),
    Evm(Arc<EvmChain>),
}

impl Chain {
    pub fn relay(&self) -> Arc<dyn RelayChain> {
        match self {
            Chain::Cosmos(c) => c.clone(),
            Chain::Evm(c) => c.clone(),
        }
    }
}

/// Open one chain with key `key`. No attestor key is ever loaded here: attestations come from the
/// committee's own `ferry attestor` processes.
pub fn open_chain(c: &ChainConfig, home: &Path, key: &str) -> Result<Chain, SupervisorError> {
    let keys = KeyStore::new(home);
    let err = |source| SupervisorError::Key {
        chain: c.id.clone(),
        source,
    };
    Ok(match (&c.kind, &c.evm) {
        (ChainKind::Evm, Some(evm)) => {
            let wallet = keys.load_evm(key, evm.chain_id).map_err(err)?;
            Chain::Evm(EvmChain::new(c.clone(), wallet)?)
        }
        // The daemon's own key (`key == c.key`) brings every configured signer; another key
        // (`ferry transfer --key`) signs alone.
        _ if key == c.key && c.keys.len() > 1 => {
            let loaded = c
                .keys
                .iter()
                .map(|name| Ok((name.clone(), keys.load(name).map_err(err)?)))
                .collect::<Result<Vec<_>, SupervisorError>>()?;
            Chain::Cosmos(CosmosChain::with_signers(c.clone(), loaded)?)
        }
        _ => {
            let loaded = keys.load(key).map_err(err)?;
            Chain::Cosmos(CosmosChain::with_signers(
                c.clone(),
                vec![(key.to_string(), loaded)],
            )?)
        }
    })
}

/// Every configured chain, opened with its key.
pub fn open_chains(cfg: &Config, home: &Path) -> Result<HashMap<ChainId, Chain>, SupervisorError> {
    cfg.chains
        .iter()
        .map(|c| Ok((c.id.clone(), open_chain(c, home, &c.key)?)))
        .collect()
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

/// An EVM path's ends: IBC v2 has no channels, the configured client ids play their role, and each
/// router must name the other's client as its counterparty.
pub async fn resolve_evm_path(
    path: &PathConfig,
    a: &Arc<EvmChain>,
    b: &Arc<EvmChain>,
) -> Result<(Side, Side), SupervisorError> {
    let bad = |reason: String| SupervisorError::EvmPath {
        path: path.name.clone(),
        reason,
    };
    let (Some(ca), Some(cb)) = (&path.a.client, &path.b.client) else {
        return Err(bad(
            "both ends of an evm path need `client` (the IBC v2 client id)".into(),
        ));
    };
    for (chain, mine, theirs) in [(a, ca, cb), (b, cb, ca)] {
        let r = chain.router();
        let cp = r
            .counterparty_of(mine.to_string())
            .call()
            .await
            .map_err(|e| bad(format!("{}: reading client `{mine}`: {e}", chain.id)))?;
        if cp != theirs.as_str() {
            return Err(bad(format!(
                "client `{mine}` on {} has counterparty `{cp}`, not `{theirs}`",
                chain.id
            )));
        }
    }
    let side =
        |chain: &Arc<EvmChain>, client: &crate::ibc::ClientId, port: &crate::ibc::PortId| Side {
            chain: chain.clone(),
            client: client.clone(),
            port: port.clone(),
            channel: client
                .as_str()
                .parse()
                .expect("a client id is a valid channel id"),
        };
    Ok((side(a, ca, &path.a.port), side(b, cb, &path.b.port)))
}

/// Run until `shutdown` turns true. `bound` receives the metrics address once listening.
pub async fn run(
    cfg: Config,
    home: &Path,
    shutdown: watch::Receiver<bool>,
    bound: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), SupervisorError> {
    let ready = Readiness::default();
    let token = match &cfg.telemetry.token_file {
        Some(f) => Some(crate::api::Token::load(&home.join(f))?),
        None => None,
    };
    let api = Arc::new(crate::api::ApiState::new(&cfg, ready.clone(), token));
    let mut server = None;
    if cfg.telemetry.enabled {
        let (addr, task) = crate::api::serve(
            cfg.telemetry.listen,
            cfg.telemetry.max_connections,
            api.clone(),
        )
        .await
        .map_err(|source| SupervisorError::Telemetry {
            addr: cfg.telemetry.listen,
            source,
        })?;
        tracing::info!(%addr, console = cfg.telemetry.console, writes = api.token.is_some(), "serving /metrics, /healthz, /readyz and the API (/openapi.json)");
        if let Some(tx) = bound {
            let _ = tx.send(addr);
        }
        server = Some(task);
    }
    metrics().set_up(true);
    let chains = open_chains(&cfg, home)?;
    let _ = api.open.set(
        chains
            .iter()
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect(),
    );
    let (store, leases) = open_store(&cfg, home)?;
    if let Some(m) = &leases {
        let _ = api.leases.set(m.clone());
        tokio::spawn(m.clone().run(shutdown.clone()));
    }
    if let Some(store) = &store {
        for chain in chains.values() {
            if let Chain::Evm(e) = chain {
                e.set_store(store.clone());
            }
        }
    }
    for chain in chains.values() {
        let id = chain.relay().id().clone();
        // A chain unreachable now is not fatal: its paths wait for it below.
        if let Err(e) = chain.relay().latest().await {
            tracing::warn!(chain = %id, error = %e, "chain not reachable at start; its paths wait for it");
        }
        metrics().init_chain(id.as_str());
        let reasons = match chain {
            Chain::Cosmos(_) => ferry_light_client_tendermint::VerificationError::REASONS,
            Chain::Evm(_) => ferry_light_client_ethereum::Error::REASONS,
        };
        metrics().init_verification(id.as_str(), reasons);
        if let Some(c) = cfg.chain(&id) {
            if !c.attestors().0.is_empty() {
                metrics()
                    .init_attestation(id.as_str(), &crate::chain::evm::collect::Outcome::LABELS);
            }
        }
    }
    // Each path resolves on its own (a path not ready yet never stops the others), then its
    // worker runs under `supervise`, which restarts it if it panics or returns.
    let mut workers = Vec::new();
    for path in &cfg.paths {
        let (a, b) = (chains[&path.a.chain].clone(), chains[&path.b.chain].clone());
        workers.push(tokio::spawn(start_path(
            path.clone(),
            a,
            b,
            store.clone(),
            leases.clone(),
            ready.clone(),
            shutdown.clone(),
        )));
    }
    for chain in chains.values() {
        match chain {
            Chain::Cosmos(c) => {
                tokio::spawn(wallet::monitor_wallet(c.clone(), shutdown.clone()));
            }
            Chain::Evm(c) => {
                tokio::spawn(wallet::monitor_evm_wallet(c.clone(), shutdown.clone()));
            }
        }
    }
    ready.set(true);
    for w in workers {
        if let Err(e) = w.await {
            tracing::error!(error = %e, "a path supervisor stopped unexpectedly");
        }
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

/// What `[store]` gives the lanes and chains to keep state in.
type Stores = (
    Option<Arc<dyn crate::store::Store>>,
    Option<Arc<crate::lease::LeaseManager>>,
);

/// The state store `[store]` names: the file (under `home` when relative), or the PostgreSQL at
/// `url` shared with other instances, with the lease manager that spreads lanes among them;
/// nothing when disabled. A foreign, corrupt or newer store stops Ferry with the reason: it is
/// never reset.
fn open_store(cfg: &Config, home: &Path) -> Result<Stores, SupervisorError> {
    if !cfg.store.enabled {
        tracing::warn!("[store] enabled = false: txs in flight are not kept across restarts");
        return Ok((None, None));
    }
    if let Some(url) = &cfg.store.url {
        let store = Arc::new(crate::store::PgStore::open(url)?);
        let instance = cfg
            .store
            .instance
            .clone()
            .unwrap_or_else(crate::lease::default_instance);
        tracing::info!(store = %store.shown(), %instance, lease_ttl_secs = cfg.store.lease_ttl.as_secs_f64(), "shared state store open; lanes are leased");
        let manager = crate::lease::LeaseManager::new(store.clone(), instance, cfg.store.lease_ttl);
        return Ok((Some(store), Some(manager)));
    }
    let path = home.join(&cfg.store.path);
    let store = crate::store::SqliteStore::open(&path)?;
    tracing::info!(path = %path.display(), "state store open");
    Ok((Some(Arc::new(store)), None))
}

/// Both sides of `path`, resolved from the chains (its open channel, or the v2 clients).
async fn resolve_sides(
    path: &PathConfig,
    a: &Chain,
    b: &Chain,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Side, Side), SupervisorError> {
    Ok(match (a, b) {
        (Chain::Cosmos(a), Chain::Cosmos(b)) => cosmos_sides(path, a, b, shutdown).await?,
        (Chain::Evm(a), Chain::Evm(b)) => resolve_evm_path(path, a, b).await?,
        (Chain::Cosmos(c), Chain::Evm(e)) => {
            crate::chain::attested::path::resolve(path, c, &path.a, e, &path.b).await?
        }
        (Chain::Evm(e), Chain::Cosmos(c)) => {
            let (sc, se) =
                crate::chain::attested::path::resolve(path, c, &path.b, e, &path.a).await?;
            (se, sc)
        }
    })
}

/// Resolve `path` until it is ready (backing off between tries; logged, `ferry_path_ready` 0,
/// named by `/readyz`), then relay it under `supervise`.
async fn start_path(
    path: PathConfig,
    a: Chain,
    b: Chain,
    store: Option<Arc<dyn crate::store::Store>>,
    leases: Option<Arc<crate::lease::LeaseManager>>,
    ready: Readiness,
    mut shutdown: watch::Receiver<bool>,
) {
    let component = format!("path {}", path.name);
    metrics().init_worker(&path.name);
    metrics().path_ready(&path.name, false);
    let live = crate::telemetry::live();
    live.path_waiting(
        &path.name,
        path.a.chain.as_str(),
        path.b.chain.as_str(),
        None,
    );
    let mut wait = RESTART_FIRST;
    let (sa, sb) = loop {
        match resolve_sides(&path, &a, &b, &shutdown).await {
            Ok(sides) => break sides,
            Err(e) => {
                ready.waiting(&component, &e.to_string());
                live.path_waiting(
                    &path.name,
                    path.a.chain.as_str(),
                    path.b.chain.as_str(),
                    Some(e.to_string()),
                );
                tracing::warn!(path = %path.name, error = %e, retry_in_secs = wait.as_secs(), "path not ready; the others relay meanwhile");
                if sleep_or_stop(wait, &mut shutdown).await || *shutdown.borrow() {
                    return;
                }
                wait = (wait * 2).min(RESTART_MAX);
            }
        }
    };
    ready.up(&component);
    metrics().path_ready(&path.name, true);
    live.path_relaying(&path.name, Some((sa.clone(), sb.clone())));
    tracing::info!(path = %path.name, channel_a = %sa.channel, channel_b = %sb.channel, "relaying path");
    metrics().init_path_side(sa.id(), sb.id(), sa.channel.as_str(), sa.client.as_str());
    metrics().init_path_side(sb.id(), sa.id(), sb.channel.as_str(), sb.client.as_str());
    let worker = PathWorker {
        name: path.name.clone(),
        a: sa,
        b: sb,
        clear_interval: path.clear_interval,
        filter: path.filter.clone(),
        store,
        leases,
    };
    supervise(worker, ready, shutdown).await
}

/// First wait before a stopped path worker is restarted, and the longest (it doubles between).
const RESTART_FIRST: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A worker that ran this long before it stopped restarts after the first wait again.
const RESTART_RESET: Duration = Duration::from_secs(300);

/// Run `worker` until shutdown, restarting it with backoff whenever it panics or returns early:
/// each restart is counted (`ferry_worker_restarts_total{path}`) and logged, and `/readyz` reports
/// not ready, naming the path and why, until the worker runs again.
pub async fn supervise(worker: PathWorker, ready: Readiness, mut shutdown: watch::Receiver<bool>) {
    let name = worker.name.clone();
    let component = format!("path {name}");
    let mut wait = RESTART_FIRST;
    loop {
        let started = Instant::now();
        let outcome = tokio::spawn(worker.clone().run(shutdown.clone())).await;
        if *shutdown.borrow() {
            return;
        }
        let why = match outcome {
            Ok(()) => "worker stopped by itself".to_string(),
            Err(e) if e.is_panic() => {
                let p = e.into_panic();
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-text panic".into());
                format!("worker panicked: {msg}")
            }
            Err(e) => format!("worker task failed: {e}"),
        };
        if started.elapsed() > RESTART_RESET {
            wait = RESTART_FIRST;
        }
        metrics().worker_restarted(&name);
        crate::telemetry::live().path_restarting(&name, &why);
        ready.down(
            &component,
            &format!("{why}; restarting in {}s", wait.as_secs()),
        );
        tracing::error!(path = %name, reason = %why, restart_in_secs = wait.as_secs(), "path worker down; restarting it");
        if sleep_or_stop(wait, &mut shutdown).await || *shutdown.borrow() {
            return;
        }
        // The new worker's lanes start empty: its old quarantine list goes (clearing refills
        // what is still pending).
        crate::telemetry::quarantine().clear_path(&name);
        crate::telemetry::live().clear_pending(&name);
        crate::telemetry::live().path_relaying(&name, None);
        ready.up(&component);
        tracing::info!(path = %name, "path worker restarted");
        wait = (wait * 2).min(RESTART_MAX);
    }
}

/// A Cosmos path's sides from its open channel, with the client monitors and misbehaviour watch.
async fn cosmos_sides(
    path: &PathConfig,
    a: &Arc<CosmosChain>,
    b: &Arc<CosmosChain>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Side, Side), SupervisorError> {
    let ids = resolve_path(path, a, b).await?;
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
    Ok((
        Side {
            chain: a.clone(),
            client: ids.client_a,
            port: ids.port_a,
            channel: ids.channel_a,
        },
        Side {
            chain: b.clone(),
            client: ids.client_b,
            port: ids.port_b,
            channel: ids.channel_b,
        },
    ))
}

async fn sleep_or_stop(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.changed() => *shutdown.borrow(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::fake::{side, FakeChain};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_worker_is_restarted_counted_and_not_ready_meanwhile() {
        let a = FakeChain::new("sup-a");
        let b = FakeChain::new("sup-b");
        a.with(|s| s.panics = 1);
        let worker = PathWorker {
            name: "sup-path".into(),
            a: side(&a, "channel-0"),
            b: side(&b, "channel-1"),
            clear_interval: Duration::from_secs(3600),
            filter: Default::default(),
            store: None,
            leases: None,
        };
        let ready = Readiness::default();
        ready.set(true);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(supervise(worker, ready.clone(), shutdown));
        let t = Instant::now();
        while ready.get() {
            assert!(t.elapsed() < Duration::from_secs(5), "never reported down");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let why = ready.reasons();
        assert!(
            why.contains("path sup-path: worker panicked: fake chain sup-a panics"),
            "{why}"
        );
        while !ready.get() {
            assert!(t.elapsed() < Duration::from_secs(10), "never restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(metrics()
            .render()
            .contains(r#"ferry_worker_restarts_total{path="sup-path"} 1"#));
        // It runs now: shutdown stops it for good.
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("supervisor stops on shutdown")
            .unwrap();
    }
}

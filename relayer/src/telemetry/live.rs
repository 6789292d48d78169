//! What the running relayer shows through its HTTP API besides metrics: each path's state and
//! resolved ends, each chain's relayer wallet, and each lane's pending packets. The supervisor
//! and the lanes publish here; the API only reads (and wakes a path's clearing).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::router::Side;

/// At most this many sequences are listed per kind in a lane's pending packets.
pub const PENDING_LISTED: usize = 100;

/// Where a path stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathStatus {
    /// Not resolved yet (no open channel or clients); retried with backoff.
    Waiting,
    /// Its worker relays.
    Relaying,
    /// Its worker stopped and is restarted with backoff.
    Restarting,
}

/// One end of a resolved path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SideInfo {
    pub chain: String,
    pub port: String,
    /// The channel (IBC classic) or the client id (IBC v2).
    pub channel: String,
    pub client: String,
}

/// A path as the supervisor last saw it.
#[derive(Clone)]
pub struct PathEntry {
    pub chain_a: String,
    pub chain_b: String,
    pub status: PathStatus,
    /// Why it waits or restarts.
    pub reason: Option<String>,
    pub since_unix: u64,
    /// Both ends once resolved.
    pub sides: Option<(Side, Side)>,
    /// Wakes the path's clearing task.
    pub clear: Option<Arc<Notify>>,
}

impl PathEntry {
    pub fn side_info(&self) -> Vec<SideInfo> {
        self.sides
            .iter()
            .flat_map(|(a, b)| [a, b])
            .map(|s| SideInfo {
                chain: s.id().to_string(),
                port: s.port.to_string(),
                channel: s.channel.to_string(),
                client: s.client.to_string(),
            })
            .collect()
    }
}

/// A chain's relayer wallet, as last sampled.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WalletInfo {
    /// The key's name in Ferry's key store.
    pub key: String,
    pub denom: String,
    /// In the denom's smallest unit, as a decimal string (wei do not fit a JSON number).
    pub balance: String,
    /// Balance over the spend rate seen since start; absent while nothing was spent.
    pub runway_seconds: Option<f64>,
    pub sampled_unix: u64,
}

/// What one lane (`FROM->TO`) still has to deliver to `TO`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct LanePending {
    pub path: String,
    /// `FROM->TO`.
    pub direction: String,
    /// The chain the messages go to (`TO`).
    pub chain: String,
    /// Packets to receive on `TO` (sent on `FROM`), acks and timeouts to deliver to `TO` (for
    /// packets sent on `TO`): the first [`PENDING_LISTED`] sequences of each.
    pub recv: Vec<u64>,
    pub acks: Vec<u64>,
    pub timeouts: Vec<u64>,
    /// All of them, listed or not.
    pub total: usize,
    /// Age of the oldest, in seconds (0 when none).
    pub oldest_age_seconds: f64,
}

#[derive(Default)]
pub struct LiveBoard {
    paths: Mutex<BTreeMap<String, PathEntry>>,
    /// Per chain, each signer's wallet, the primary first.
    wallets: Mutex<BTreeMap<String, Vec<WalletInfo>>>,
    pending: Mutex<BTreeMap<(String, String), LanePending>>,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl LiveBoard {
    /// A configured path, not resolved yet.
    pub fn path_waiting(&self, name: &str, chain_a: &str, chain_b: &str, reason: Option<String>) {
        let mut paths = self.paths.lock().expect("not poisoned");
        let e = paths.entry(name.to_string()).or_insert_with(|| PathEntry {
            chain_a: chain_a.to_string(),
            chain_b: chain_b.to_string(),
            status: PathStatus::Waiting,
            reason: None,
            since_unix: now_unix(),
            sides: None,
            clear: None,
        });
        e.status = PathStatus::Waiting;
        e.reason = reason;
    }

    /// A path whose ends are resolved and whose worker runs (again).
    pub fn path_relaying(&self, name: &str, sides: Option<(Side, Side)>) {
        if let Some(e) = self.paths.lock().expect("not poisoned").get_mut(name) {
            if e.status != PathStatus::Relaying {
                e.since_unix = now_unix();
            }
            e.status = PathStatus::Relaying;
            e.reason = None;
            if sides.is_some() {
                e.sides = sides;
            }
        }
    }

    pub fn path_restarting(&self, name: &str, reason: &str) {
        if let Some(e) = self.paths.lock().expect("not poisoned").get_mut(name) {
            e.status = PathStatus::Restarting;
            e.reason = Some(reason.to_string());
            e.since_unix = now_unix();
        }
    }

    /// The notify that starts a clearing round of `name` at once.
    pub fn set_clear(&self, name: &str, wake: Arc<Notify>) {
        if let Some(e) = self.paths.lock().expect("not poisoned").get_mut(name) {
            e.clear = Some(wake);
        }
    }

    pub fn paths(&self) -> BTreeMap<String, PathEntry> {
        self.paths.lock().expect("not poisoned").clone()
    }

    pub fn path(&self, name: &str) -> Option<PathEntry> {
        self.paths.lock().expect("not poisoned").get(name).cloned()
    }

    /// Replace the sample of `wallet.key`'s wallet on `chain`.
    pub fn wallet(&self, chain: &str, wallet: WalletInfo) {
        let mut all = self.wallets.lock().expect("not poisoned");
        let list = all.entry(chain.to_string()).or_default();
        match list.iter_mut().find(|w| w.key == wallet.key) {
            Some(w) => *w = wallet,
            None => list.push(wallet),
        }
    }

    /// The primary signer's wallet (the first sampled).
    pub fn wallet_of(&self, chain: &str) -> Option<WalletInfo> {
        self.wallets_of(chain).into_iter().next()
    }

    /// Every signer's wallet on `chain`, the primary first.
    pub fn wallets_of(&self, chain: &str) -> Vec<WalletInfo> {
        self.wallets
            .lock()
            .expect("not poisoned")
            .get(chain)
            .cloned()
            .unwrap_or_default()
    }

    /// Replace what one lane has pending.
    pub fn publish_pending(&self, lane: LanePending) {
        let key = (lane.path.clone(), lane.direction.clone());
        self.pending.lock().expect("not poisoned").insert(key, lane);
    }

    /// Forget a path's lanes (its worker restarts with fresh lanes).
    pub fn clear_pending(&self, path: &str) {
        self.pending
            .lock()
            .expect("not poisoned")
            .retain(|(p, _), _| p != path);
    }

    /// Every lane's pending packets, or one path's.
    pub fn pending(&self, path: Option<&str>) -> Vec<LanePending> {
        self.pending
            .lock()
            .expect("not poisoned")
            .values()
            .filter(|l| path.is_none_or(|p| l.path == p))
            .cloned()
            .collect()
    }
}

/// The process-wide live board.
pub fn live() -> &'static LiveBoard {
    static BOARD: OnceLock<LiveBoard> = OnceLock::new();
    BOARD.get_or_init(LiveBoard::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(path: &str, dir: &str, recv: Vec<u64>) -> LanePending {
        LanePending {
            path: path.into(),
            direction: dir.into(),
            chain: "b".into(),
            total: recv.len(),
            recv,
            acks: vec![],
            timeouts: vec![],
            oldest_age_seconds: 1.5,
        }
    }

    #[test]
    fn paths_move_between_states_and_lanes_replace_their_pending() {
        let b = LiveBoard::default();
        b.path_waiting("p", "a", "b", Some("no open channel".into()));
        assert_eq!(b.path("p").unwrap().status, PathStatus::Waiting);
        // A path the config does not name is never created by the other calls.
        b.path_relaying("q", None);
        assert!(b.path("q").is_none());
        b.path_relaying("p", None);
        let p = b.path("p").unwrap();
        assert_eq!((p.status, p.reason), (PathStatus::Relaying, None));
        b.path_restarting("p", "worker panicked");
        assert_eq!(b.path("p").unwrap().status, PathStatus::Restarting);

        b.publish_pending(lane("p", "a->b", vec![1, 2]));
        b.publish_pending(lane("p", "b->a", vec![]));
        b.publish_pending(lane("r", "a->b", vec![7]));
        assert_eq!(b.pending(None).len(), 3);
        b.publish_pending(lane("p", "a->b", vec![2]));
        assert_eq!(b.pending(Some("p"))[0].recv, vec![2]);
        b.clear_pending("p");
        assert_eq!(b.pending(None), vec![lane("r", "a->b", vec![7])]);
    }
}

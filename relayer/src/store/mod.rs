//! What survives a restart. The embedded default is a SQLite file in Ferry's home (no server to
//! run): the transactions each lane has in flight, with the packets they carry, so that after a
//! crash `ferry start` looks them up before anything is resent and counts their packets once; the
//! packets held back; each EVM chain's verified anchor; and each path's last scanned height per
//! chain, where its subscriptions go on after a restart.
//!
//! The store is behind a small trait: the router sees [`Store`], the daemon opens [`SqliteStore`],
//! and unit tests use [`MemoryStore`].

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ibc::Packet;
pub use postgres::{redact, PgStore};
pub use sqlite::SqliteStore;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("state store {path}: {reason}")]
    Open { path: String, reason: String },
    /// A database that is not Ferry's (another application's, or a file that is not SQLite):
    /// refused, never reset.
    #[error("state store {path} is not a Ferry store ({reason}); move it away or set [store] path to another file")]
    Foreign { path: String, reason: String },
    #[error("state store {path} has format version {found}; this Ferry reads version {supported} (an older Ferry cannot read a newer store)")]
    Version {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("state store: {0}")]
    Io(String),
    /// Another live process uses this `[store] instance` name: this one takes no lease.
    #[error("another live Ferry process runs as instance `{instance}` on this store (or this one restarted less than lease_ttl ago; it waits until then); give each instance its own [store] instance name")]
    InstanceInUse { instance: String },
}

/// Test hook: when `FERRY_TEST_FAILPOINT` names this point, the process aborts here (as if
/// killed), so the crash-recovery tests can stop Ferry at an exact step. Unset in production.
pub fn failpoint(point: &str) {
    static SET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let set = SET.get_or_init(|| std::env::var("FERRY_TEST_FAILPOINT").ok());
    if set.as_deref() == Some(point) {
        eprintln!("failpoint {point}: aborting as asked by FERRY_TEST_FAILPOINT");
        std::process::abort();
    }
}

/// What one packet message in a tx carries, enough to rebuild the lane's item after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredItem {
    /// recv | ack | timeout
    pub kind: String,
    pub packet: Packet,
    /// Height of the event it needs proven (0 for timeouts).
    pub height: u64,
    #[serde(with = "hex_vec")]
    pub ack: Vec<u8>,
}

/// A tx a lane broadcast and has not seen final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub path: String,
    /// The lane's destination chain (where the tx was sent).
    pub dst_chain: String,
    pub hash: String,
    pub packets: usize,
    pub fee: u128,
    pub items: Vec<StoredItem>,
}

/// The newest EVM block whose header chain Ferry verified from its checkpoint: a restart goes on
/// from here instead of walking the headers from the checkpoint again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub number: u64,
    pub hash: [u8; 32],
    pub timestamp: u64,
}

/// A packet message a lane holds back (quarantine), as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldBack {
    /// recv | ack | timeout
    pub kind: String,
    pub sequence: u64,
    pub reason: String,
    /// Unix seconds.
    pub since: u64,
    pub attempts: u32,
    pub paid: u32,
}

/// Where a lane keeps what it has in flight and holds back, and a chain its verified anchor.
pub trait Store: Send + Sync {
    /// Record `tx` (durably) before its confirmation is awaited.
    fn put_inflight(&self, tx: &InFlight) -> Result<(), StoreError>;
    /// Forget tx `hash`: settled (confirmed, failed, or given up on).
    fn remove_inflight(&self, hash: &str) -> Result<(), StoreError>;
    /// What lane (`path`, `dst_chain`) had in flight, oldest first.
    fn inflight(&self, path: &str, dst_chain: &str) -> Result<Vec<InFlight>, StoreError>;
    /// `chain`'s verified anchor, if one was stored.
    fn anchor(&self, chain: &str) -> Result<Option<Anchor>, StoreError>;
    fn put_anchor(&self, chain: &str, anchor: &Anchor) -> Result<(), StoreError>;
    /// Record (or update) a packet lane (`path`, `dst_chain`) holds back.
    fn put_held(&self, path: &str, dst_chain: &str, held: &HeldBack) -> Result<(), StoreError>;
    fn remove_held(
        &self,
        path: &str,
        dst_chain: &str,
        kind: &str,
        sequence: u64,
    ) -> Result<(), StoreError>;
    fn held(&self, path: &str, dst_chain: &str) -> Result<Vec<HeldBack>, StoreError>;
    /// The height through which path `path`'s subscription to `chain` handed every event over.
    fn scanned(&self, path: &str, chain: &str) -> Result<Option<u64>, StoreError>;
    /// Record it; a lower height than the stored one is ignored (instances sharing a store each
    /// scan, and a slower one never moves the mark back).
    fn put_scanned(&self, path: &str, chain: &str, height: u64) -> Result<(), StoreError>;
}

/// In memory: for tests, and for `[store] enabled = false`.
#[derive(Default)]
pub struct MemoryStore {
    txs: Mutex<BTreeMap<u64, InFlight>>,
    anchors: Mutex<BTreeMap<String, Anchor>>,
    held: Mutex<BTreeMap<(String, String, String, u64), HeldBack>>,
    scanned: Mutex<BTreeMap<(String, String), u64>>,
}

impl Store for MemoryStore {
    fn put_inflight(&self, tx: &InFlight) -> Result<(), StoreError> {
        let mut txs = self.txs.lock().expect("not poisoned");
        let next = txs.keys().next_back().map_or(0, |k| k + 1);
        txs.retain(|_, t| t.hash != tx.hash);
        txs.insert(next, tx.clone());
        Ok(())
    }
    fn remove_inflight(&self, hash: &str) -> Result<(), StoreError> {
        self.txs
            .lock()
            .expect("not poisoned")
            .retain(|_, t| t.hash != hash);
        Ok(())
    }
    fn inflight(&self, path: &str, dst_chain: &str) -> Result<Vec<InFlight>, StoreError> {
        Ok(self
            .txs
            .lock()
            .expect("not poisoned")
            .values()
            .filter(|t| t.path == path && t.dst_chain == dst_chain)
            .cloned()
            .collect())
    }
    fn anchor(&self, chain: &str) -> Result<Option<Anchor>, StoreError> {
        Ok(self
            .anchors
            .lock()
            .expect("not poisoned")
            .get(chain)
            .copied())
    }
    fn put_anchor(&self, chain: &str, anchor: &Anchor) -> Result<(), StoreError> {
        self.anchors
            .lock()
            .expect("not poisoned")
            .insert(chain.into(), *anchor);
        Ok(())
    }
    fn put_held(&self, path: &str, dst_chain: &str, h: &HeldBack) -> Result<(), StoreError> {
        self.held.lock().expect("not poisoned").insert(
            (path.into(), dst_chain.into(), h.kind.clone(), h.sequence),
            h.clone(),
        );
        Ok(())
    }
    fn remove_held(
        &self,
        path: &str,
        dst_chain: &str,
        kind: &str,
        sequence: u64,
    ) -> Result<(), StoreError> {
        self.held.lock().expect("not poisoned").remove(&(
            path.into(),
            dst_chain.into(),
            kind.into(),
            sequence,
        ));
        Ok(())
    }
    fn held(&self, path: &str, dst_chain: &str) -> Result<Vec<HeldBack>, StoreError> {
        Ok(self
            .held
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|((p, d, _, _), _)| p == path && d == dst_chain)
            .map(|(_, h)| h.clone())
            .collect())
    }
    fn scanned(&self, path: &str, chain: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .scanned
            .lock()
            .expect("not poisoned")
            .get(&(path.into(), chain.into()))
            .copied())
    }
    fn put_scanned(&self, path: &str, chain: &str, height: u64) -> Result<(), StoreError> {
        let mut m = self.scanned.lock().expect("not poisoned");
        let h = m.entry((path.into(), chain.into())).or_default();
        *h = (*h).max(height);
        Ok(())
    }
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

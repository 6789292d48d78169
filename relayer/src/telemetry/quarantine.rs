//! The running relayer's quarantine, read-only: each lane publishes the packet messages it holds
//! back (they made their batch fail) after every flush, and the telemetry server lists them at
//! `GET /v1/quarantine`. Nothing is stored on disk: after a restart the lanes find them again.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

/// One packet message in quarantine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantineEntry {
    /// The configured path name.
    pub path: String,
    /// `FROM->TO`: the lane that carries the message; `TO` is the chain it is submitted to,
    /// `FROM` the chain that proves it.
    pub direction: String,
    /// The chain the message is submitted to (`TO`).
    pub chain: String,
    /// The packet's tracking id, as in the logs: `SOURCE_CHAIN:PORT/CHANNEL/SEQUENCE`.
    pub packet: String,
    /// The chain that sent the packet, and its channel there (the client id on EVM paths).
    pub source_chain: String,
    pub source_channel: String,
    pub sequence: u64,
    /// `recv`, `ack` or `timeout`.
    pub kind: String,
    /// Why it was quarantined (the last failure).
    pub reason: String,
    /// When it was first quarantined (RFC 3339) and as Unix seconds.
    pub since: String,
    pub since_unix: u64,
    /// When it is tried again (RFC 3339) and as Unix seconds.
    pub next_retry: String,
    pub next_retry_unix: u64,
    /// Times it was found at fault, and how many of those cost a mined, reverted transaction.
    pub attempts: u32,
    pub paid_failures: u32,
}

/// The body of `GET /v1/quarantine`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantineList {
    pub quarantined: Vec<QuarantineEntry>,
}

/// Every lane's quarantine, keyed by (path, direction).
#[derive(Default)]
pub struct QuarantineBoard {
    lanes: Mutex<BTreeMap<(String, String), Vec<QuarantineEntry>>>,
}

impl QuarantineBoard {
    /// Replace what one lane holds.
    pub fn publish(&self, path: &str, direction: &str, entries: Vec<QuarantineEntry>) {
        let mut lanes = self.lanes.lock().expect("not poisoned");
        let key = (path.to_string(), direction.to_string());
        if entries.is_empty() {
            lanes.remove(&key);
        } else {
            lanes.insert(key, entries);
        }
    }

    /// Forget a path's lanes (its worker is being restarted with fresh lanes).
    pub fn clear_path(&self, path: &str) {
        self.lanes
            .lock()
            .expect("not poisoned")
            .retain(|(p, _), _| p != path);
    }

    pub fn list(&self) -> QuarantineList {
        QuarantineList {
            quarantined: self
                .lanes
                .lock()
                .expect("not poisoned")
                .values()
                .flatten()
                .cloned()
                .collect(),
        }
    }
}

/// The process-wide quarantine board.
pub fn quarantine() -> &'static QuarantineBoard {
    static BOARD: OnceLock<QuarantineBoard> = OnceLock::new();
    BOARD.get_or_init(QuarantineBoard::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, seq: u64) -> QuarantineEntry {
        QuarantineEntry {
            path: path.into(),
            direction: "a->b".into(),
            chain: "b".into(),
            packet: format!("a:transfer/channel-0/{seq}"),
            source_chain: "a".into(),
            source_channel: "channel-0".into(),
            sequence: seq,
            kind: "recv".into(),
            reason: "reverts".into(),
            since: "2026-01-01T00:00:00Z".into(),
            since_unix: 1_767_225_600,
            next_retry: "2026-01-01T00:00:10Z".into(),
            next_retry_unix: 1_767_225_610,
            attempts: 1,
            paid_failures: 0,
        }
    }

    #[test]
    fn lanes_publish_replace_and_clear() {
        let b = QuarantineBoard::default();
        b.publish("p", "a->b", vec![entry("p", 1), entry("p", 2)]);
        b.publish("q", "a->b", vec![entry("q", 9)]);
        assert_eq!(b.list().quarantined.len(), 3);
        b.publish("p", "a->b", vec![entry("p", 2)]);
        assert_eq!(b.list().quarantined.len(), 2);
        b.clear_path("p");
        let left = b.list().quarantined;
        assert_eq!(left, vec![entry("q", 9)]);
        let json = serde_json::to_string(&b.list()).unwrap();
        let back: QuarantineList = serde_json::from_str(&json).unwrap();
        assert_eq!(back.quarantined, left);
    }
}

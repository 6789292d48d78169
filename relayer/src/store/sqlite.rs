//! The embedded store: one SQLite file (WAL, every commit synced), mode 0600. Its header carries
//! Ferry's application id and the format version, so a foreign or newer file is refused, never
//! reset.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{Anchor, HeldBack, InFlight, Store, StoreError, StoredItem};

/// SQLite `application_id` of a Ferry store ("FERY").
const APPLICATION_ID: i64 = 0x4645_5259;
/// The format this Ferry writes and reads (`user_version`).
const VERSION: i64 = 1;

pub struct SqliteStore {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        let open_err = |reason: String| StoreError::Open {
            path: shown.clone(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let db = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| open_err(format!("setting mode 0600: {e}")))?;
        // Reading the header is the first access: a file that is not SQLite fails here.
        let app: i64 = db
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| StoreError::Foreign {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| open_err(e.to_string()))?;
        let tables: i64 = db
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| StoreError::Foreign {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        match (app, tables) {
            (APPLICATION_ID, _) => {}
            (0, 0) => {
                // A new file: make it a Ferry store.
                db.execute_batch(&format!(
                    "PRAGMA application_id = {APPLICATION_ID};
                     PRAGMA user_version = {VERSION};"
                ))
                .map_err(|e| open_err(e.to_string()))?;
            }
            (other, n) => {
                return Err(StoreError::Foreign {
                    path: shown,
                    reason: format!("application id {other:#x}, {n} schema objects"),
                })
            }
        }
        if app == APPLICATION_ID && version != VERSION {
            return Err(StoreError::Version {
                path: shown,
                found: version,
                supported: VERSION,
            });
        }
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS inflight (
                 id        INTEGER PRIMARY KEY AUTOINCREMENT,
                 hash      TEXT NOT NULL UNIQUE,
                 path      TEXT NOT NULL,
                 dst_chain TEXT NOT NULL,
                 packets   INTEGER NOT NULL,
                 fee       TEXT NOT NULL,
                 items     TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS held (
                 path      TEXT NOT NULL,
                 dst_chain TEXT NOT NULL,
                 kind      TEXT NOT NULL,
                 sequence  INTEGER NOT NULL,
                 reason    TEXT NOT NULL,
                 since     INTEGER NOT NULL,
                 attempts  INTEGER NOT NULL,
                 paid      INTEGER NOT NULL,
                 PRIMARY KEY (path, dst_chain, kind, sequence)
             );
             CREATE TABLE IF NOT EXISTS anchors (
                 chain     TEXT PRIMARY KEY,
                 number    INTEGER NOT NULL,
                 hash      TEXT NOT NULL,
                 timestamp INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS scanned (
                 path      TEXT NOT NULL,
                 chain     TEXT NOT NULL,
                 height    INTEGER NOT NULL,
                 PRIMARY KEY (path, chain)
             );",
        )
        .map_err(|e| open_err(e.to_string()))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            db: Mutex::new(db),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl Store for SqliteStore {
    fn put_inflight(&self, tx: &InFlight) -> Result<(), StoreError> {
        let items = serde_json::to_string(&tx.items).map_err(io)?;
        self.db
            .lock()
            .expect("not poisoned")
            .execute(
                "INSERT OR REPLACE INTO inflight (hash, path, dst_chain, packets, fee, items)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    tx.hash,
                    tx.path,
                    tx.dst_chain,
                    tx.packets as i64,
                    tx.fee.to_string(),
                    items
                ],
            )
            .map_err(io)?;
        Ok(())
    }

    fn remove_inflight(&self, hash: &str) -> Result<(), StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .execute("DELETE FROM inflight WHERE hash = ?1", params![hash])
            .map_err(io)?;
        Ok(())
    }

    fn inflight(&self, path: &str, dst_chain: &str) -> Result<Vec<InFlight>, StoreError> {
        let db = self.db.lock().expect("not poisoned");
        let mut q = db
            .prepare(
                "SELECT hash, packets, fee, items FROM inflight
                 WHERE path = ?1 AND dst_chain = ?2 ORDER BY id",
            )
            .map_err(io)?;
        let rows = q
            .query_map(params![path, dst_chain], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(io)?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, packets, fee, items) = row.map_err(io)?;
            let items: Vec<StoredItem> = serde_json::from_str(&items).map_err(|e| {
                StoreError::Io(format!("in-flight tx {hash}: unreadable items: {e}"))
            })?;
            out.push(InFlight {
                path: path.into(),
                dst_chain: dst_chain.into(),
                hash,
                packets: packets.max(0) as usize,
                fee: fee
                    .parse()
                    .map_err(|e| StoreError::Io(format!("in-flight tx fee `{fee}`: {e}")))?,
                items,
            });
        }
        Ok(out)
    }

    fn anchor(&self, chain: &str) -> Result<Option<Anchor>, StoreError> {
        let row = self
            .db
            .lock()
            .expect("not poisoned")
            .query_row(
                "SELECT number, hash, timestamp FROM anchors WHERE chain = ?1",
                params![chain],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(io)?;
        let Some((number, hash, timestamp)) = row else {
            return Ok(None);
        };
        let bytes = hex::decode(&hash).map_err(io)?;
        let hash: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Io(format!("anchor of {chain}: hash is not 32 bytes")))?;
        Ok(Some(Anchor {
            number: number.max(0) as u64,
            hash,
            timestamp: timestamp.max(0) as u64,
        }))
    }

    fn put_held(&self, path: &str, dst_chain: &str, h: &HeldBack) -> Result<(), StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .execute(
                "INSERT OR REPLACE INTO held
                 (path, dst_chain, kind, sequence, reason, since, attempts, paid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    path,
                    dst_chain,
                    h.kind,
                    h.sequence as i64,
                    h.reason,
                    h.since as i64,
                    h.attempts as i64,
                    h.paid as i64
                ],
            )
            .map_err(io)?;
        Ok(())
    }

    fn remove_held(
        &self,
        path: &str,
        dst_chain: &str,
        kind: &str,
        sequence: u64,
    ) -> Result<(), StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .execute(
                "DELETE FROM held WHERE path = ?1 AND dst_chain = ?2 AND kind = ?3 AND sequence = ?4",
                params![path, dst_chain, kind, sequence as i64],
            )
            .map_err(io)?;
        Ok(())
    }

    fn held(&self, path: &str, dst_chain: &str) -> Result<Vec<HeldBack>, StoreError> {
        self.held_rows(path, dst_chain).map_err(io)
    }

    fn put_anchor(&self, chain: &str, a: &Anchor) -> Result<(), StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .execute(
                "INSERT OR REPLACE INTO anchors (chain, number, hash, timestamp)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    chain,
                    a.number as i64,
                    hex::encode(a.hash),
                    a.timestamp as i64
                ],
            )
            .map_err(io)?;
        Ok(())
    }

    fn scanned(&self, path: &str, chain: &str) -> Result<Option<u64>, StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .query_row(
                "SELECT height FROM scanned WHERE path = ?1 AND chain = ?2",
                params![path, chain],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|h| h.map(|h| h.max(0) as u64))
            .map_err(io)
    }

    fn put_scanned(&self, path: &str, chain: &str, height: u64) -> Result<(), StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .execute(
                "INSERT INTO scanned (path, chain, height) VALUES (?1, ?2, ?3)
                 ON CONFLICT (path, chain) DO UPDATE SET height = excluded.height
                 WHERE excluded.height > scanned.height",
                params![path, chain, height as i64],
            )
            .map_err(io)?;
        Ok(())
    }
}

impl SqliteStore {
    fn held_rows(&self, path: &str, dst_chain: &str) -> rusqlite::Result<Vec<HeldBack>> {
        let db = self.db.lock().expect("not poisoned");
        let mut q = db.prepare(
            "SELECT kind, sequence, reason, since, attempts, paid FROM held
             WHERE path = ?1 AND dst_chain = ?2 ORDER BY kind, sequence",
        )?;
        let rows = q.query_map(params![path, dst_chain], |r| {
            Ok(HeldBack {
                kind: r.get(0)?,
                sequence: r.get::<_, i64>(1)?.max(0) as u64,
                reason: r.get(2)?,
                since: r.get::<_, i64>(3)?.max(0) as u64,
                attempts: r.get::<_, i64>(4)?.clamp(0, u32::MAX as i64) as u32,
                paid: r.get::<_, i64>(5)?.clamp(0, u32::MAX as i64) as u32,
            })
        })?;
        rows.collect()
    }

    /// Whether tx `hash` is recorded (for tests and `ferry status`).
    pub fn has(&self, hash: &str) -> Result<bool, StoreError> {
        self.db
            .lock()
            .expect("not poisoned")
            .query_row(
                "SELECT 1 FROM inflight WHERE hash = ?1",
                params![hash],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferry-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn tx(hash: &str) -> InFlight {
        InFlight {
            path: "p".into(),
            dst_chain: "b".into(),
            hash: hash.into(),
            packets: 2,
            fee: 340_282_366_920_938_463_463_374_607_431_768_211_455,
            items: vec![StoredItem {
                kind: "recv".into(),
                packet: crate::router::fake::packet(7, 0),
                height: 10,
                ack: vec![1, 2],
            }],
        }
    }

    #[test]
    fn in_flight_txs_survive_reopening_and_go_when_settled() {
        let d = dir("reopen");
        let f = d.join("state.db");
        {
            let s = SqliteStore::open(&f).unwrap();
            s.put_inflight(&tx("0x01")).unwrap();
            s.put_inflight(&tx("0x02")).unwrap();
            s.remove_inflight("0x01").unwrap();
        }
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let s = SqliteStore::open(&f).unwrap();
        assert_eq!(s.inflight("p", "b").unwrap(), vec![tx("0x02")]);
        assert!(s.inflight("p", "a").unwrap().is_empty());
        assert!(s.has("0x02").unwrap() && !s.has("0x01").unwrap());
        let a = Anchor {
            number: 1234,
            hash: [7; 32],
            timestamp: 1_700_000_000,
        };
        s.put_anchor("evm-1", &a).unwrap();
        drop(s);
        let s = SqliteStore::open(&f).unwrap();
        assert_eq!(s.anchor("evm-1").unwrap(), Some(a));
        assert_eq!(s.anchor("evm-2").unwrap(), None);
        let h = HeldBack {
            kind: "recv".into(),
            sequence: 9,
            reason: "reverts".into(),
            since: 1_700_000_000,
            attempts: 3,
            paid: 1,
        };
        s.put_held("p", "b", &h).unwrap();
        s.put_held(
            "p",
            "b",
            &HeldBack {
                attempts: 4,
                ..h.clone()
            },
        )
        .unwrap();
        assert_eq!(
            s.held("p", "b").unwrap(),
            vec![HeldBack {
                attempts: 4,
                ..h.clone()
            }]
        );
        s.remove_held("p", "b", "recv", 9).unwrap();
        assert!(s.held("p", "b").unwrap().is_empty());
        assert_eq!(s.scanned("p", "a").unwrap(), None);
        s.put_scanned("p", "a", 120).unwrap();
        s.put_scanned("p", "a", 100).unwrap();
        s.put_scanned("q", "a", 7).unwrap();
        drop(s);
        let s = SqliteStore::open(&f).unwrap();
        assert_eq!(s.scanned("p", "a").unwrap(), Some(120), "never moves back");
        assert_eq!(s.scanned("q", "a").unwrap(), Some(7));
        assert_eq!(s.scanned("p", "b").unwrap(), None);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn foreign_corrupt_and_newer_files_are_refused_untouched() {
        let d = dir("foreign");
        // Not SQLite at all.
        let junk = d.join("junk.db");
        std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(
            SqliteStore::open(&junk),
            Err(StoreError::Foreign { .. })
        ));
        assert_eq!(std::fs::read(&junk).unwrap(), vec![0x42u8; 8192]);
        // Another application's SQLite database.
        let other = d.join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep');")
            .unwrap();
        let e = SqliteStore::open(&other).err().unwrap();
        assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
        let kept: String = Connection::open(&other)
            .unwrap()
            .query_row("SELECT x FROM notes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, "keep");
        // A Ferry store of a newer format.
        let newer = d.join("newer.db");
        SqliteStore::open(&newer).unwrap();
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99;")
            .unwrap();
        let e = SqliteStore::open(&newer).err().unwrap();
        assert!(matches!(e, StoreError::Version { found: 99, .. }), "{e}");
        let _ = std::fs::remove_dir_all(d);
    }
}

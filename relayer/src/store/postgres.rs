//! The shared store: PostgreSQL, for several Ferry instances on the same paths. It keeps what the
//! embedded store keeps (txs in flight, quarantine, EVM anchors), shared, so an instance that takes
//! a lane over looks up what the last owner had in flight; and the leases that give each lane one
//! owner at a time (see [`crate::lease`]).
//!
//! The `postgres` client is blocking and runs its own runtime, so it lives on a thread of its own;
//! callers wait for its answer at most [`CALL_TIMEOUT`]. A lost connection is opened again on the
//! next call, so a restarted server costs the calls made while it was down, nothing more.

use std::sync::mpsc;
use std::time::Duration;

use postgres::{Client, NoTls};

use super::{Anchor, HeldBack, InFlight, Store, StoreError, StoredItem};
use crate::lease::{InstanceRow, LeaseRow, Leases};

/// Longest wait for one answer from the store thread.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// What `ferry_meta.format` says in a store this Ferry reads and writes.
const FORMAT: &str = "ferry-store-1";

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

struct Conn {
    config: postgres::Config,
    client: Option<Client>,
}

impl Conn {
    /// Run `f` on a connection, opening one first when there is none; a connection that broke is
    /// dropped so the next call opens a fresh one.
    fn with<R>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<R, postgres::Error>,
    ) -> Result<R, String> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = Some(self.config.connect(NoTls).map_err(|e| e.to_string())?);
        }
        let client = self.client.as_mut().expect("just opened");
        let r = f(client);
        if r.is_err() && client.is_closed() {
            self.client = None;
        }
        r.map_err(|e| {
            // The driver's message alone can be vague ("error serializing parameter 0").
            match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            }
        })
    }
}

pub struct PgStore {
    /// The URL without its password, for messages.
    shown: String,
    /// This process's mark on its heartbeat row: another live process under the same instance
    /// name is refused instead of sharing its leases.
    token: String,
    jobs: mpsc::Sender<Job>,
}

/// `url` with any password replaced, fit for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl PgStore {
    /// Connect to `url`, create Ferry's tables when they are missing, and check their format.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let shown = redact(url);
        let open_err = |reason: String| StoreError::Open {
            path: shown.clone(),
            reason,
        };
        let mut config: postgres::Config = url.parse().map_err(|e| open_err(format!("{e}")))?;
        config
            .connect_timeout(Duration::from_secs(3))
            .keepalives_idle(Duration::from_secs(5))
            .application_name("ferry");
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ferry-postgres".into())
            .spawn(move || {
                let mut conn = Conn {
                    config,
                    client: None,
                };
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| open_err(e.to_string()))?;
        let token = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let store = PgStore {
            shown: shown.clone(),
            token,
            jobs,
        };
        let found = store
            .call(|c| {
                let mut t = c.transaction()?;
                // Instances starting together must not create the tables twice.
                t.execute("SELECT pg_advisory_xact_lock(4645525900)", &[])?;
                t.batch_execute(SCHEMA)?;
                t.execute(
                    "INSERT INTO ferry_meta (key, value) VALUES ('format', $1) ON CONFLICT DO NOTHING",
                    &[&FORMAT],
                )?;
                let row = t.query_one("SELECT value FROM ferry_meta WHERE key = 'format'", &[])?;
                let found: String = row.get(0);
                t.commit()?;
                Ok(found)
            })
            .map_err(|e| match e {
                StoreError::Io(reason) => open_err(reason),
                other => other,
            })?;
        if found != FORMAT {
            return Err(StoreError::Foreign {
                path: shown,
                reason: format!("ferry_meta.format is `{found}`, this Ferry reads `{FORMAT}`"),
            });
        }
        Ok(store)
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Run `f` on the store thread and wait for its answer.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |conn: &mut Conn| {
                let _ = tx.send(conn.with(f));
            }))
            .map_err(|_| StoreError::Io("the PostgreSQL thread stopped".into()))?;
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(r) => r.map_err(|e| StoreError::Io(format!("PostgreSQL {}: {e}", self.shown))),
            Err(_) => Err(StoreError::Io(format!(
                "PostgreSQL {}: no answer within {}s",
                self.shown,
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ferry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ferry_inflight (
    id        BIGSERIAL PRIMARY KEY,
    hash      TEXT NOT NULL UNIQUE,
    path      TEXT NOT NULL,
    dst_chain TEXT NOT NULL,
    packets   BIGINT NOT NULL,
    fee       TEXT NOT NULL,
    items     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_held (
    path      TEXT NOT NULL,
    dst_chain TEXT NOT NULL,
    kind      TEXT NOT NULL,
    sequence  BIGINT NOT NULL,
    reason    TEXT NOT NULL,
    since     BIGINT NOT NULL,
    attempts  BIGINT NOT NULL,
    paid      BIGINT NOT NULL,
    PRIMARY KEY (path, dst_chain, kind, sequence)
);
CREATE TABLE IF NOT EXISTS ferry_anchors (
    chain     TEXT PRIMARY KEY,
    number    BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    timestamp BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_scanned (
    path      TEXT NOT NULL,
    chain     TEXT NOT NULL,
    height    BIGINT NOT NULL,
    PRIMARY KEY (path, chain)
);
CREATE TABLE IF NOT EXISTS ferry_leases (
    lane        TEXT PRIMARY KEY,
    owner       TEXT,
    epoch       BIGINT NOT NULL DEFAULT 0,
    expires_at  TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    acquired_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS ferry_instances (
    id         TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at    TIMESTAMPTZ NOT NULL
);
";

impl Store for PgStore {
    fn put_inflight(&self, tx: &InFlight) -> Result<(), StoreError> {
        let items = serde_json::to_string(&tx.items).map_err(io)?;
        let tx = tx.clone();
        self.call(move |c| {
            c.execute(
                "INSERT INTO ferry_inflight (hash, path, dst_chain, packets, fee, items)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (hash) DO UPDATE SET packets = EXCLUDED.packets,
                     fee = EXCLUDED.fee, items = EXCLUDED.items",
                &[
                    &tx.hash,
                    &tx.path,
                    &tx.dst_chain,
                    &(tx.packets as i64),
                    &tx.fee.to_string(),
                    &items,
                ],
            )
            .map(|_| ())
        })
    }

    fn remove_inflight(&self, hash: &str) -> Result<(), StoreError> {
        let hash = hash.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM ferry_inflight WHERE hash = $1", &[&hash])
                .map(|_| ())
        })
    }

    fn inflight(&self, path: &str, dst_chain: &str) -> Result<Vec<InFlight>, StoreError> {
        let (p, d) = (path.to_string(), dst_chain.to_string());
        let rows = self.call(move |c| {
            c.query(
                "SELECT hash, packets, fee, items FROM ferry_inflight
                 WHERE path = $1 AND dst_chain = $2 ORDER BY id",
                &[&p, &d],
            )
        })?;
        rows.into_iter()
            .map(|r| {
                let (hash, packets, fee, items): (String, i64, String, String) =
                    (r.get(0), r.get(1), r.get(2), r.get(3));
                let items: Vec<StoredItem> = serde_json::from_str(&items).map_err(|e| {
                    StoreError::Io(format!("in-flight tx {hash}: unreadable items: {e}"))
                })?;
                Ok(InFlight {
                    path: path.into(),
                    dst_chain: dst_chain.into(),
                    packets: packets.max(0) as usize,
                    fee: fee
                        .parse()
                        .map_err(|e| StoreError::Io(format!("in-flight tx fee `{fee}`: {e}")))?,
                    hash,
                    items,
                })
            })
            .collect()
    }

    fn anchor(&self, chain: &str) -> Result<Option<Anchor>, StoreError> {
        let ch = chain.to_string();
        let row = self.call(move |c| {
            c.query_opt(
                "SELECT number, hash, timestamp FROM ferry_anchors WHERE chain = $1",
                &[&ch],
            )
        })?;
        let Some(row) = row else { return Ok(None) };
        let (number, hash, timestamp): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
        let hash: [u8; 32] = hex::decode(&hash)
            .map_err(io)?
            .try_into()
            .map_err(|_| StoreError::Io(format!("anchor of {chain}: hash is not 32 bytes")))?;
        Ok(Some(Anchor {
            number: number.max(0) as u64,
            hash,
            timestamp: timestamp.max(0) as u64,
        }))
    }

    fn put_anchor(&self, chain: &str, a: &Anchor) -> Result<(), StoreError> {
        let (ch, a) = (chain.to_string(), *a);
        self.call(move |c| {
            c.execute(
                "INSERT INTO ferry_anchors (chain, number, hash, timestamp) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (chain) DO UPDATE SET number = EXCLUDED.number, hash = EXCLUDED.hash,
                     timestamp = EXCLUDED.timestamp
                 WHERE ferry_anchors.number <= EXCLUDED.number",
                &[
                    &ch,
                    &(a.number as i64),
                    &hex::encode(a.hash),
                    &(a.timestamp as i64),
                ],
            )
            .map(|_| ())
        })
    }

    fn put_held(&self, path: &str, dst_chain: &str, h: &HeldBack) -> Result<(), StoreError> {
        let (p, d, h) = (path.to_string(), dst_chain.to_string(), h.clone());
        self.call(move |c| {
            c.execute(
                "INSERT INTO ferry_held (path, dst_chain, kind, sequence, reason, since, attempts, paid)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (path, dst_chain, kind, sequence) DO UPDATE SET reason = EXCLUDED.reason,
                     since = EXCLUDED.since, attempts = EXCLUDED.attempts, paid = EXCLUDED.paid",
                &[
                    &p,
                    &d,
                    &h.kind,
                    &(h.sequence as i64),
                    &h.reason,
                    &(h.since as i64),
                    &(h.attempts as i64),
                    &(h.paid as i64),
                ],
            )
            .map(|_| ())
        })
    }

    fn remove_held(
        &self,
        path: &str,
        dst_chain: &str,
        kind: &str,
        sequence: u64,
    ) -> Result<(), StoreError> {
        let (p, d, k) = (path.to_string(), dst_chain.to_string(), kind.to_string());
        self.call(move |c| {
            c.execute(
                "DELETE FROM ferry_held WHERE path = $1 AND dst_chain = $2 AND kind = $3 AND sequence = $4",
                &[&p, &d, &k, &(sequence as i64)],
            )
            .map(|_| ())
        })
    }

    fn held(&self, path: &str, dst_chain: &str) -> Result<Vec<HeldBack>, StoreError> {
        let (p, d) = (path.to_string(), dst_chain.to_string());
        let rows = self.call(move |c| {
            c.query(
                "SELECT kind, sequence, reason, since, attempts, paid FROM ferry_held
                 WHERE path = $1 AND dst_chain = $2 ORDER BY kind, sequence",
                &[&p, &d],
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|r| HeldBack {
                kind: r.get(0),
                sequence: r.get::<_, i64>(1).max(0) as u64,
                reason: r.get(2),
                since: r.get::<_, i64>(3).max(0) as u64,
                attempts: r.get::<_, i64>(4).clamp(0, u32::MAX as i64) as u32,
                paid: r.get::<_, i64>(5).clamp(0, u32::MAX as i64) as u32,
            })
            .collect())
    }

    fn scanned(&self, path: &str, chain: &str) -> Result<Option<u64>, StoreError> {
        let (p, ch) = (path.to_string(), chain.to_string());
        let row = self.call(move |c| {
            c.query_opt(
                "SELECT height FROM ferry_scanned WHERE path = $1 AND chain = $2",
                &[&p, &ch],
            )
        })?;
        Ok(row.map(|r| r.get::<_, i64>(0).max(0) as u64))
    }

    fn put_scanned(&self, path: &str, chain: &str, height: u64) -> Result<(), StoreError> {
        let (p, ch) = (path.to_string(), chain.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO ferry_scanned (path, chain, height) VALUES ($1, $2, $3)
                 ON CONFLICT (path, chain) DO UPDATE SET height = EXCLUDED.height
                 WHERE ferry_scanned.height < EXCLUDED.height",
                &[&p, &ch, &(height as i64)],
            )
            .map(|_| ())
        })
    }
}

/// Milliseconds, as PostgreSQL intervals take them.
fn ms(d: Duration) -> f64 {
    d.as_millis() as f64
}

impl Leases for PgStore {
    fn register(&self, lanes: &[String]) -> Result<(), StoreError> {
        let lanes = lanes.to_vec();
        self.call(move |c| {
            for lane in &lanes {
                c.execute(
                    "INSERT INTO ferry_leases (lane) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[lane],
                )?;
            }
            Ok(())
        })
    }

    fn heartbeat(&self, instance: &str, ttl: Duration) -> Result<(usize, usize), StoreError> {
        let (id, token) = (instance.to_string(), self.token.clone());
        let (live, lanes) = self.call(move |c| {
            // The row is ours (same token), or its last holder is gone: otherwise another live
            // process runs under this name.
            let mine = c.execute(
                "INSERT INTO ferry_instances (id, token, seen_at) VALUES ($1, $2, now())
                 ON CONFLICT (id) DO UPDATE SET seen_at = now(), token = $2
                 WHERE ferry_instances.token = $2
                    OR ferry_instances.seen_at < now() - make_interval(secs => $3::float8 / 1000.0)",
                &[&id, &token, &ms(ttl)],
            )?;
            if mine == 0 {
                return Ok((0, 0));
            }
            let live: i64 = c
                .query_one(
                    "SELECT count(*) FROM ferry_instances
                     WHERE seen_at > now() - make_interval(secs => $1::float8 / 1000.0)",
                    &[&ms(ttl)],
                )?
                .get(0);
            let lanes: i64 = c
                .query_one("SELECT count(*) FROM ferry_leases", &[])?
                .get(0);
            Ok((live.max(1) as usize, lanes.max(0) as usize))
        })?;
        if live == 0 {
            return Err(StoreError::InstanceInUse {
                instance: instance.to_string(),
            });
        }
        Ok((live, lanes))
    }

    fn try_acquire(
        &self,
        lane: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        let (lane, id) = (lane.to_string(), instance.to_string());
        self.call(move |c| {
            // Free, expired or already ours: taken, with a new epoch so the last owner's fence fails.
            let row = c.query_opt(
                "UPDATE ferry_leases SET owner = $2, epoch = epoch + 1, acquired_at = now(),
                     expires_at = now() + make_interval(secs => $3::float8 / 1000.0)
                 WHERE lane = $1 AND (owner IS NULL OR owner = $2 OR expires_at < now())
                 RETURNING epoch",
                &[&lane, &id, &ms(ttl)],
            )?;
            Ok(row.map(|r| r.get::<_, i64>(0).max(0) as u64))
        })
    }

    fn renew(
        &self,
        lane: &str,
        instance: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (lane, id) = (lane.to_string(), instance.to_string());
        self.call(move |c| {
            let n = c.execute(
                "UPDATE ferry_leases SET expires_at = now() + make_interval(secs => $4::float8 / 1000.0)
                 WHERE lane = $1 AND owner = $2 AND epoch = $3 AND expires_at > now()",
                &[&lane, &id, &(epoch as i64), &ms(ttl)],
            )?;
            Ok(n == 1)
        })
    }

    fn holds(
        &self,
        lane: &str,
        instance: &str,
        epoch: u64,
        margin: Duration,
    ) -> Result<bool, StoreError> {
        let (lane, id) = (lane.to_string(), instance.to_string());
        self.call(move |c| {
            let row = c.query_opt(
                "SELECT 1 FROM ferry_leases WHERE lane = $1 AND owner = $2 AND epoch = $3
                     AND expires_at > now() + make_interval(secs => $4::float8 / 1000.0)",
                &[&lane, &id, &(epoch as i64), &ms(margin)],
            )?;
            Ok(row.is_some())
        })
    }

    fn release(&self, lane: &str, instance: &str, epoch: u64) -> Result<(), StoreError> {
        let (lane, id) = (lane.to_string(), instance.to_string());
        self.call(move |c| {
            c.execute(
                "UPDATE ferry_leases SET owner = NULL, expires_at = '-infinity'
                 WHERE lane = $1 AND owner = $2 AND epoch = $3",
                &[&lane, &id, &(epoch as i64)],
            )
            .map(|_| ())
        })
    }

    fn leave(&self, instance: &str) -> Result<(), StoreError> {
        let id = instance.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM ferry_instances WHERE id = $1", &[&id])
                .map(|_| ())
        })
    }

    fn snapshot(&self, ttl: Duration) -> Result<(Vec<LeaseRow>, Vec<InstanceRow>), StoreError> {
        self.call(move |c| {
            let leases = c
                .query(
                    "SELECT lane, owner, epoch,
                         CASE WHEN expires_at = '-infinity' THEN NULL
                              ELSE (extract(epoch FROM (expires_at - now())) * 1000)::float8 END
                     FROM ferry_leases ORDER BY lane",
                    &[],
                )?
                .into_iter()
                .map(|r| LeaseRow {
                    lane: r.get(0),
                    owner: r.get(1),
                    epoch: r.get::<_, i64>(2).max(0) as u64,
                    expires_in_ms: r.get::<_, Option<f64>>(3).map(|l| l as i64),
                })
                .collect();
            let instances = c
                .query(
                    "SELECT id, (extract(epoch FROM (now() - seen_at)) * 1000)::float8,
                         seen_at > now() - make_interval(secs => $1::float8 / 1000.0)
                     FROM ferry_instances ORDER BY id",
                    &[&ms(ttl)],
                )?
                .into_iter()
                .map(|r| InstanceRow {
                    id: r.get(0),
                    seen_ms_ago: r.get::<_, f64>(1) as i64,
                    live: r.get(2),
                })
                .collect();
            Ok((leases, instances))
        })
    }
}

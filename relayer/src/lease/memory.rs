//! Leases in memory, on a clock the caller moves: for unit tests of the lease manager and of
//! lanes that wait at a gate.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{InstanceRow, LeaseRow, Leases};
use crate::store::StoreError;

#[derive(Default)]
pub struct MemoryLeases {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    now: Duration,
    /// lane → (owner, epoch, expires at)
    leases: BTreeMap<String, (Option<String>, u64, Duration)>,
    /// instance → last seen
    instances: BTreeMap<String, Duration>,
    down: bool,
}

impl MemoryLeases {
    /// Move the clock on.
    pub fn advance(&self, d: Duration) {
        self.inner.lock().expect("not poisoned").now += d;
    }
    /// While down, every call fails as an unreachable store would.
    pub fn set_down(&self, down: bool) {
        self.inner.lock().expect("not poisoned").down = down;
    }
    pub fn owner(&self, lane: &str) -> Option<String> {
        let i = self.inner.lock().expect("not poisoned");
        i.leases
            .get(lane)
            .filter(|(_, _, exp)| *exp > i.now)
            .and_then(|(o, _, _)| o.clone())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Result<R, StoreError> {
        let mut i = self.inner.lock().expect("not poisoned");
        if i.down {
            return Err(StoreError::Io("lease store down (test)".into()));
        }
        Ok(f(&mut i))
    }
}

impl Leases for MemoryLeases {
    fn register(&self, lanes: &[String]) -> Result<(), StoreError> {
        self.with(|i| {
            for l in lanes {
                i.leases
                    .entry(l.clone())
                    .or_insert((None, 0, Duration::ZERO));
            }
        })
    }
    fn heartbeat(&self, instance: &str, ttl: Duration) -> Result<(usize, usize), StoreError> {
        self.with(|i| {
            let now = i.now;
            i.instances.insert(instance.into(), now);
            let live = i.instances.values().filter(|t| **t + ttl > now).count();
            (live.max(1), i.leases.len())
        })
    }
    fn try_acquire(
        &self,
        lane: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        self.with(|i| {
            let now = i.now;
            let l = i.leases.get_mut(lane)?;
            let free = l.0.is_none() || l.0.as_deref() == Some(instance) || l.2 < now;
            free.then(|| {
                *l = (Some(instance.into()), l.1 + 1, now + ttl);
                l.1
            })
        })
    }
    fn renew(
        &self,
        lane: &str,
        instance: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.with(|i| {
            let now = i.now;
            match i.leases.get_mut(lane) {
                Some(l) if l.0.as_deref() == Some(instance) && l.1 == epoch && l.2 > now => {
                    l.2 = now + ttl;
                    true
                }
                _ => false,
            }
        })
    }
    fn holds(
        &self,
        lane: &str,
        instance: &str,
        epoch: u64,
        margin: Duration,
    ) -> Result<bool, StoreError> {
        self.with(|i| {
            i.leases.get(lane).is_some_and(|l| {
                l.0.as_deref() == Some(instance) && l.1 == epoch && l.2 > i.now + margin
            })
        })
    }
    fn release(&self, lane: &str, instance: &str, epoch: u64) -> Result<(), StoreError> {
        self.with(|i| {
            if let Some(l) = i.leases.get_mut(lane) {
                if l.0.as_deref() == Some(instance) && l.1 == epoch {
                    *l = (None, l.1, Duration::ZERO);
                }
            }
        })
    }
    fn leave(&self, instance: &str) -> Result<(), StoreError> {
        self.with(|i| {
            i.instances.remove(instance);
        })
    }
    fn snapshot(&self, ttl: Duration) -> Result<(Vec<LeaseRow>, Vec<InstanceRow>), StoreError> {
        self.with(|i| {
            let now = i.now;
            let leases = i
                .leases
                .iter()
                .map(|(lane, (owner, epoch, exp))| LeaseRow {
                    lane: lane.clone(),
                    owner: owner.clone(),
                    epoch: *epoch,
                    expires_in_ms: owner
                        .as_ref()
                        .map(|_| exp.as_millis() as i64 - now.as_millis() as i64),
                })
                .collect();
            let instances = i
                .instances
                .iter()
                .map(|(id, seen)| InstanceRow {
                    id: id.clone(),
                    seen_ms_ago: (now - *seen).as_millis() as i64,
                    live: *seen + ttl > now,
                })
                .collect();
            (leases, instances)
        })
    }
}

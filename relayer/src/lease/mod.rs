//! Lane ownership when several Ferry instances share one PostgreSQL: each lane (one direction of
//! one path) is relayed by exactly one instance at a time, through a lease in the store.
//!
//! - A lease has an owner, an expiry and an epoch. It is taken only when free, expired or already
//!   ours, and every take bumps the epoch; the owner renews it every third of its lifetime.
//! - Before every broadcast the lane checks (in the store, not its own clock) that it still holds
//!   the lease with that epoch and at least [`FENCE_MARGIN`] of it left: an owner that was paused or
//!   cut off past its expiry submits nothing more.
//! - Lanes are spread over live instances (those that sent a heartbeat within one lease lifetime):
//!   an instance holds at most its share, and hands surplus lanes over once they are idle.
//! - Times come from the database server, so the instances' clocks need not agree.

mod memory;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::StoreError;
use crate::telemetry::metrics;
pub use memory::MemoryLeases;

/// A lease must have at least this much left for its owner to broadcast.
pub const FENCE_MARGIN: Duration = Duration::from_secs(2);

/// One lane's lease, as `ferry status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LeaseRow {
    pub lane: String,
    pub owner: Option<String>,
    pub epoch: u64,
    /// Until expiry (negative: expired); `None` when never taken or released.
    pub expires_in_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstanceRow {
    pub id: String,
    pub seen_ms_ago: i64,
    pub live: bool,
}

/// Where leases live. Every call is one short statement on the store; times are the store's.
pub trait Leases: Send + Sync {
    /// Make `lanes` known (free) if they are not yet.
    fn register(&self, lanes: &[String]) -> Result<(), StoreError>;
    /// Mark `instance` alive; returns (live instances, known lanes).
    fn heartbeat(&self, instance: &str, ttl: Duration) -> Result<(usize, usize), StoreError>;
    /// Take `lane` when it is free, expired or `instance`'s already; the new epoch when taken.
    fn try_acquire(
        &self,
        lane: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError>;
    /// Extend a lease still held (not expired, same epoch); false when it was lost.
    fn renew(
        &self,
        lane: &str,
        instance: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Whether `instance` holds `lane` at `epoch` with more than `margin` left.
    fn holds(
        &self,
        lane: &str,
        instance: &str,
        epoch: u64,
        margin: Duration,
    ) -> Result<bool, StoreError>;
    fn release(&self, lane: &str, instance: &str, epoch: u64) -> Result<(), StoreError>;
    /// `instance` stops (its heartbeat row goes).
    fn leave(&self, instance: &str) -> Result<(), StoreError>;
    fn snapshot(&self, ttl: Duration) -> Result<(Vec<LeaseRow>, Vec<InstanceRow>), StoreError>;
}

/// The lane name leases are kept under: `PATH/DESTINATION_CHAIN`.
pub fn lane_name(path: &str, dst_chain: &str) -> String {
    format!("{path}/{dst_chain}")
}

/// This process's name among instances: `[store] instance`, else `HOST-PID`.
pub fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}

struct Slot {
    epoch: watch::Sender<Option<u64>>,
    /// Set by the lane while it relays (between taking its lease and stopping).
    running: Arc<AtomicBool>,
    /// When the lease was last renewed (local clock, for giving it up when the store is away).
    renewed: Option<Instant>,
    /// Given up for another instance; released in the store once the lane has stopped.
    handing_over: Option<u64>,
}

/// Takes, renews, spreads and gives up this instance's leases.
pub struct LeaseManager {
    leases: Arc<dyn Leases>,
    instance: String,
    ttl: Duration,
    slots: Mutex<BTreeMap<String, Slot>>,
    /// A lane registered since the last round: the next round comes at once, not a period later.
    kick: tokio::sync::Notify,
}

impl LeaseManager {
    pub fn new(leases: Arc<dyn Leases>, instance: String, ttl: Duration) -> Arc<LeaseManager> {
        Arc::new(LeaseManager {
            leases,
            instance,
            ttl,
            slots: Mutex::new(BTreeMap::new()),
            kick: tokio::sync::Notify::new(),
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Every lane's lease and the instances seen, read from the store (blocking: one statement).
    pub fn snapshot(&self) -> Result<(Vec<LeaseRow>, Vec<InstanceRow>), StoreError> {
        self.leases.snapshot(self.ttl)
    }

    /// The gate lane `path`/`dst_chain` waits at; the lane is registered in the store.
    pub fn gate(&self, path: &str, dst_chain: &str) -> LaneGate {
        let lane = lane_name(path, dst_chain);
        let mut slots = self.slots.lock().expect("not poisoned");
        let slot = slots.entry(lane.clone()).or_insert_with(|| Slot {
            epoch: watch::channel(None).0,
            running: Arc::new(AtomicBool::new(false)),
            renewed: None,
            handing_over: None,
        });
        metrics().lane_owned(path, dst_chain, false);
        self.kick.notify_one();
        LaneGate {
            path: path.into(),
            dst: dst_chain.into(),
            lane,
            instance: self.instance.clone(),
            leases: self.leases.clone(),
            epoch: slot.epoch.subscribe(),
            running: slot.running.clone(),
        }
    }

    /// Renew, take and hand over leases every third of their lifetime until shutdown; then give
    /// back what is held so another instance takes it at once.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = self.ttl / 3;
        loop {
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.tick()).await;
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.kick.notified() => {}
                _ = shutdown.changed() => if *shutdown.borrow() { break },
            }
        }
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.give_back()).await;
    }

    /// One round: heartbeat, renew what is held, take free lanes up to this instance's share,
    /// hand over what is above it.
    pub fn tick(&self) {
        let lanes: Vec<String> = self
            .slots
            .lock()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect();
        let counts = self
            .leases
            .register(&lanes)
            .and_then(|()| self.leases.heartbeat(&self.instance, self.ttl));
        let (live, total) = match counts {
            Ok(c) => c,
            Err(e @ StoreError::InstanceInUse { .. }) => {
                tracing::warn!(error = %e, "taking no lane");
                self.drop_all();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease store unreachable; lanes pause before their leases could expire");
                self.drop_stale();
                return;
            }
        };
        let share = total.div_ceil(live.max(1)).max(1);
        let mut slots = self.slots.lock().expect("not poisoned");
        let mut held: usize = 0;
        for (lane, slot) in slots.iter_mut() {
            if let Some(epoch) = slot.handing_over {
                if !slot.running.load(Ordering::SeqCst) {
                    match self.leases.release(lane, &self.instance, epoch) {
                        Ok(()) => {
                            slot.handing_over = None;
                            tracing::info!(lane = %lane, "lane handed over to another instance");
                        }
                        Err(e) => tracing::warn!(lane = %lane, error = %e, "releasing lease"),
                    }
                } else {
                    held += 1;
                }
                continue;
            }
            let Some(epoch) = *slot.epoch.borrow() else {
                continue;
            };
            match self.leases.renew(lane, &self.instance, epoch, self.ttl) {
                Ok(true) => {
                    slot.renewed = Some(Instant::now());
                    held += 1;
                }
                Ok(false) => {
                    tracing::warn!(lane = %lane, epoch, "lease lost to another instance; this instance stops relaying the lane");
                    set_owned(lane, slot, None, "lost");
                }
                Err(e) => {
                    tracing::warn!(lane = %lane, error = %e, "renewing lease");
                    held += 1;
                }
            }
        }
        // Above its share (another instance came up): hand over the last lanes.
        let mut surplus = held.saturating_sub(share);
        for (lane, slot) in slots.iter_mut().rev() {
            if surplus == 0 {
                break;
            }
            if let Some(epoch) = *slot.epoch.borrow() {
                tracing::info!(lane = %lane, share, live, "more instances than before; handing this lane over");
                slot.handing_over = Some(epoch);
            } else {
                continue;
            }
            set_owned(lane, slot, None, "released");
            surplus -= 1;
        }
        // Below it: take free or expired lanes.
        for (lane, slot) in slots.iter_mut() {
            if held >= share {
                break;
            }
            if slot.epoch.borrow().is_some() || slot.handing_over.is_some() {
                continue;
            }
            match self.leases.try_acquire(lane, &self.instance, self.ttl) {
                Ok(Some(epoch)) => {
                    tracing::info!(lane = %lane, epoch, instance = %self.instance, "lease taken; relaying the lane");
                    slot.renewed = Some(Instant::now());
                    set_owned(lane, slot, Some(epoch), "acquired");
                    held += 1;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(lane = %lane, error = %e, "taking lease"),
            }
        }
    }

    /// The store did not answer: a lease not renewed for nearly its lifetime is given up locally
    /// (the lane's fence would fail anyway).
    fn drop_stale(&self) {
        let mut slots = self.slots.lock().expect("not poisoned");
        for (lane, slot) in slots.iter_mut() {
            let stale = slot
                .renewed
                .is_some_and(|t| t.elapsed() + FENCE_MARGIN >= self.ttl);
            if stale && slot.epoch.borrow().is_some() {
                tracing::warn!(lane = %lane, "lease not renewed in time; the lane pauses");
                set_owned(lane, slot, None, "lost");
            }
        }
    }

    /// Stop relaying every lane at once (this process may not hold leases under its name).
    fn drop_all(&self) {
        let mut slots = self.slots.lock().expect("not poisoned");
        for (lane, slot) in slots.iter_mut() {
            if slot.epoch.borrow().is_some() {
                set_owned(lane, slot, None, "lost");
            }
        }
    }

    fn give_back(&self) {
        let mut slots = self.slots.lock().expect("not poisoned");
        for (lane, slot) in slots.iter_mut() {
            let epoch = (*slot.epoch.borrow()).or(slot.handing_over);
            if let Some(epoch) = epoch {
                let _ = self.leases.release(lane, &self.instance, epoch);
                set_owned(lane, slot, None, "released");
            }
        }
        let _ = self.leases.leave(&self.instance);
    }
}

fn set_owned(lane: &str, slot: &mut Slot, epoch: Option<u64>, event: &'static str) {
    slot.epoch.send_replace(epoch);
    if let Some((path, dst)) = lane.rsplit_once('/') {
        metrics().lane_owned(path, dst, epoch.is_some());
        metrics().lease_event(path, dst, event);
    }
}

/// What a lane waits at: relays only while this instance holds its lease.
#[derive(Clone)]
pub struct LaneGate {
    path: String,
    dst: String,
    lane: String,
    instance: String,
    leases: Arc<dyn Leases>,
    epoch: watch::Receiver<Option<u64>>,
    running: Arc<AtomicBool>,
}

impl LaneGate {
    pub fn lane(&self) -> &str {
        &self.lane
    }

    /// Wait until the lease is held; `None` at shutdown.
    pub async fn wait_owned(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<u64> {
        loop {
            if *shutdown.borrow() {
                return None;
            }
            if let Some(e) = *self.epoch.borrow_and_update() {
                return Some(e);
            }
            tokio::select! {
                r = self.epoch.changed() => if r.is_err() { return None },
                r = shutdown.changed() => if r.is_err() { return None },
            }
        }
    }

    /// Whether the lease is still held, as this instance last saw it (no store round trip).
    pub fn owned(&self) -> bool {
        self.epoch.borrow().is_some()
    }

    /// Resolves when the lease is lost or handed over.
    pub async fn lost(&mut self) {
        while self.epoch.borrow_and_update().is_some() {
            if self.epoch.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::SeqCst);
    }

    /// Checked in the store before each broadcast: true only while this instance holds the lease
    /// with the epoch it relays under and more than [`FENCE_MARGIN`] left. A store that does not
    /// answer counts as not held.
    pub fn fence(&self) -> bool {
        let Some(epoch) = *self.epoch.borrow() else {
            metrics().fenced(&self.path, &self.dst);
            return false;
        };
        match self
            .leases
            .holds(&self.lane, &self.instance, epoch, FENCE_MARGIN)
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(lane = %self.lane, epoch, "lease no longer held; nothing more is broadcast");
                metrics().fenced(&self.path, &self.dst);
                false
            }
            Err(e) => {
                tracing::warn!(lane = %self.lane, error = %e, "lease store unreachable; broadcast withheld");
                metrics().fenced(&self.path, &self.dst);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;

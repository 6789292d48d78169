//! One event subscription per chain, shared by every path worker on it. Each subscription costs the
//! node a WebSocket that it fills with every block and every tx result, and costs Ferry the buffers to
//! read them: with one per path, four paths on one chain made the node encode and send each block four
//! times. The hub fans one subscription's feed out to every worker on the chain.
//!
//! A worker that joins a running subscription gets what it missed replayed, when its start height is
//! still in the hub's recent items; a start further back gets a subscription of its own (as every
//! worker had before), so no worker ever starts later than it asked.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::chain::{EventSink, Feed, RelayChain};

/// Feed items kept for workers that join late (a restarted path worker, or one that started a
/// little after the others). Bounded: each is an event or a mark, and memory is what this saves.
const REPLAY_ITEMS: usize = 5_000;
/// How often a hub with no items looks whether its workers are all gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

struct Hub {
    joined: Vec<EventSink>,
    /// The latest items, for late joiners.
    replay: VecDeque<Feed>,
    /// Every item of heights from `floor` on is in `replay`.
    floor: u64,
    stop: watch::Sender<bool>,
    /// Keeps the chain object's allocation, so its address (the registry's key) is not reused
    /// while this entry exists, even after the chain itself is gone.
    _chain: std::sync::Weak<dyn RelayChain>,
}

/// Hubs by the address of the chain object they subscribe to (each entry holds a weak reference
/// to it, so the address cannot be reused while the entry exists): two chain objects never share
/// a hub.
type Hubs = Mutex<HashMap<usize, Arc<Mutex<Hub>>>>;

impl Hub {
    /// A hub for `chain` serving `sink` from `from`, and the receiver its subscription stops by.
    fn new(
        chain: &Arc<dyn RelayChain>,
        sink: EventSink,
        from: u64,
    ) -> (Arc<Mutex<Hub>>, watch::Receiver<bool>) {
        let (stop, stopped) = watch::channel(false);
        let hub = Hub {
            joined: vec![sink],
            replay: VecDeque::new(),
            floor: from,
            stop,
            _chain: Arc::downgrade(chain),
        };
        (Arc::new(Mutex::new(hub)), stopped)
    }
}

fn hubs() -> &'static Hubs {
    static HUBS: OnceLock<Hubs> = OnceLock::new();
    HUBS.get_or_init(Default::default)
}

fn key(chain: &Arc<dyn RelayChain>) -> usize {
    Arc::as_ptr(chain) as *const () as usize
}

fn height_of(f: &Feed) -> u64 {
    match f {
        Feed::Event(ev) => ev.height,
        Feed::Scanned(h) | Feed::Committed(h) | Feed::Unread { to: h, .. } => *h,
    }
}

/// Stream `chain`'s feed from `from` into `sink`, like [`PacketEvents::subscribe`](crate::chain::PacketEvents::subscribe),
/// through the chain's shared subscription when it can serve `from`. Ends when `sink`'s receiver is
/// dropped; the shared subscription ends with its last worker.
pub fn subscribe(chain: Arc<dyn RelayChain>, from: u64, sink: EventSink) {
    let mut all = hubs().lock().expect("hubs lock");
    if let Some(hub) = all.get(&key(&chain)) {
        let mut h = hub.lock().expect("hub lock");
        h.joined.retain(|s| !s.is_closed());
        if !h.joined.is_empty() && from >= h.floor {
            // Under the hub's lock, so no live item slips between the replay and the joining.
            for f in h.replay.iter().filter(|f| height_of(f) >= from) {
                if !sink.try_forward(f.clone()) {
                    return;
                }
            }
            h.joined.push(sink);
            return;
        }
        if h.joined.is_empty() {
            let _ = h.stop.send(true);
            drop(h);
            all.remove(&key(&chain));
        } else {
            drop(h);
            tracing::debug!(chain = %crate::chain::Heights::id(&*chain), from, "start before the shared subscription's recent items: a subscription of its own");
            let (private, stopped) = Hub::new(&chain, sink, from);
            start(chain, from, private, stopped, false);
            return;
        }
    }
    let (hub, stopped) = Hub::new(&chain, sink, from);
    all.insert(key(&chain), hub.clone());
    start(chain, from, hub, stopped, true);
}

/// Run `chain`'s subscription from `from` and hand each item to the hub's workers. `shared`: the
/// hub is in the registry (and leaves it when it ends).
fn start(
    chain: Arc<dyn RelayChain>,
    from: u64,
    hub: Arc<Mutex<Hub>>,
    stopped: watch::Receiver<bool>,
    shared: bool,
) {
    let (tx, mut rx) = EventSink::channel(100_000);
    chain.clone().subscribe(from, tx, stopped);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = tokio::time::sleep(IDLE_CHECK) => {
                    let mut h = hub.lock().expect("hub lock");
                    h.joined.retain(|s| !s.is_closed());
                    if h.joined.is_empty() { break; }
                    continue;
                }
            };
            let Some(item) = item else { break };
            let sinks: Vec<EventSink> = {
                let mut h = hub.lock().expect("hub lock");
                h.joined.retain(|s| !s.is_closed());
                if h.joined.is_empty() {
                    break;
                }
                if shared {
                    h.replay.push_back(item.clone());
                    while h.replay.len() > REPLAY_ITEMS {
                        let gone = h.replay.pop_front().expect("not empty");
                        h.floor = h.floor.max(height_of(&gone) + 1);
                    }
                }
                // Every live item goes to every worker: one below a worker's start height is one it
                // has seen or skipped on purpose, and relaying is idempotent.
                h.joined.clone()
            };
            for s in sinks {
                // A worker that stopped is dropped at the next look; the others go on.
                let _ = s.forward(item.clone()).await;
            }
        }
        let h = hub.lock().expect("hub lock");
        let _ = h.stop.send(true);
        drop(h);
        if shared {
            let mut all = hubs().lock().expect("hubs lock");
            if all.get(&key(&chain)).is_some_and(|x| Arc::ptr_eq(x, &hub)) {
                all.remove(&key(&chain));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::fake::{send_event, FakeChain};

    async fn next_sequence(rx: &mut tokio::sync::mpsc::Receiver<Feed>) -> u64 {
        loop {
            let item = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("an event within 2 s")
                .expect("feed open");
            if let Feed::Event(ev) = item {
                return ev.packet.sequence;
            }
        }
    }

    #[tokio::test]
    async fn paths_on_one_chain_share_one_subscription_and_each_gets_every_event() {
        let a = FakeChain::new("hub-a");
        let chain: Arc<dyn RelayChain> = a.clone();
        let (s1, mut r1) = EventSink::channel(1000);
        let (s2, mut r2) = EventSink::channel(1000);
        subscribe(chain.clone(), 100, s1);
        subscribe(chain.clone(), 100, s2);
        a.with(|s| s.events.push(send_event(1, 100, 0)));
        assert_eq!(next_sequence(&mut r1).await, 1);
        assert_eq!(next_sequence(&mut r2).await, 1);
        assert_eq!(a.with(|s| s.subscribed_from.clone()), vec![100]);
        // A worker that joins later gets what it missed replayed.
        let (s3, mut r3) = EventSink::channel(1000);
        subscribe(chain.clone(), 100, s3);
        assert_eq!(next_sequence(&mut r3).await, 1);
        // One that starts before the hub's first height gets a subscription of its own.
        let (s4, r4) = EventSink::channel(1000);
        subscribe(chain.clone(), 50, s4);
        assert_eq!(a.with(|s| s.subscribed_from.clone()), vec![100, 50]);
        // With every worker gone, the next one starts the chain's subscription again.
        drop((r1, r2, r3, r4));
        let (s5, _r5) = EventSink::channel(1000);
        subscribe(chain.clone(), 120, s5);
        assert_eq!(a.with(|s| s.subscribed_from.clone()), vec![100, 50, 120]);
    }
}

//! The lease manager against leases in memory on a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use super::*;

const TTL: Duration = Duration::from_secs(9);

fn instance(store: &Arc<MemoryLeases>, name: &str) -> (Arc<LeaseManager>, Vec<LaneGate>) {
    let m = LeaseManager::new(store.clone(), name.into(), TTL);
    let gates = vec![m.gate("p", "chain-a"), m.gate("p", "chain-b")];
    (m, gates)
}

fn owned(gates: &[LaneGate]) -> usize {
    gates.iter().filter(|g| g.owned()).count()
}

#[test]
fn lanes_are_spread_over_live_instances_and_each_has_one_owner() {
    let store = Arc::new(MemoryLeases::default());
    let (one, g1) = instance(&store, "one");
    one.tick();
    assert_eq!(owned(&g1), 2, "alone, an instance relays every lane");
    let (two, g2) = instance(&store, "two");
    two.tick();
    assert_eq!(owned(&g2), 0, "nothing is free yet");
    // The first sees a second live instance and hands one lane over; it is released once idle.
    one.tick();
    assert_eq!(owned(&g1), 1);
    store.advance(TTL / 3);
    one.tick();
    two.tick();
    assert_eq!((owned(&g1), owned(&g2)), (1, 1));
    for lane in ["p/chain-a", "p/chain-b"] {
        let owners = [&g1, &g2]
            .iter()
            .filter(|g| g.iter().any(|x| x.lane() == lane && x.owned()))
            .count();
        assert_eq!(owners, 1, "{lane} has one owner");
    }
}

#[test]
fn a_dead_owners_lanes_are_taken_over_after_expiry_and_its_fence_fails() {
    let store = Arc::new(MemoryLeases::default());
    let (one, g1) = instance(&store, "one");
    let (two, g2) = instance(&store, "two");
    one.tick();
    two.tick();
    assert_eq!(owned(&g1), 2);
    assert!(g1.iter().all(|g| g.fence()), "the owner may broadcast");
    // "one" stops ticking (killed or paused). Before expiry nothing moves.
    store.advance(TTL - Duration::from_secs(1));
    two.tick();
    assert_eq!(owned(&g2), 0);
    assert!(
        g1.iter().all(|g| !g.fence()),
        "less than the fence margin left: the old owner may not broadcast"
    );
    store.advance(Duration::from_secs(2));
    two.tick();
    assert_eq!(owned(&g2), 2, "expired leases are taken over");
    assert!(g2.iter().all(|g| g.fence()));
    // "one" wakes up: its fence fails at once, and its next round sees the lease gone.
    assert!(g1.iter().all(|g| !g.fence()));
    one.tick();
    assert_eq!(owned(&g1), 0);
    assert_eq!(store.owner("p/chain-a").as_deref(), Some("two"));
}

#[test]
fn an_unreachable_store_pauses_the_lanes_and_they_resume_when_it_is_back() {
    let store = Arc::new(MemoryLeases::default());
    let (one, g1) = instance(&store, "one");
    one.tick();
    assert_eq!(owned(&g1), 2);
    store.set_down(true);
    assert!(
        g1.iter().all(|g| !g.fence()),
        "no broadcast without an answer"
    );
    store.set_down(false);
    store.advance(TTL / 3);
    one.tick();
    assert_eq!(owned(&g1), 2, "renewed once the store answers");
    assert!(g1.iter().all(|g| g.fence()));
}

#[test]
fn a_stopping_instance_gives_its_lanes_back_at_once() {
    let store = Arc::new(MemoryLeases::default());
    let (one, g1) = instance(&store, "one");
    let (two, g2) = instance(&store, "two");
    one.tick();
    two.tick();
    assert_eq!(owned(&g1), 2);
    one.give_back();
    assert_eq!(owned(&g1), 0);
    two.tick();
    assert_eq!(owned(&g2), 2, "no wait for expiry after a clean stop");
}

//! Readiness: what `/readyz` answers. Ferry is ready once every chain answered and every path
//! worker runs; a component marked down makes it unready, with its reason.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Set to ready once every chain answered and every path worker runs; not ready again while any
/// component (a path worker) is marked down, with its reason.
#[derive(Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    down: Arc<Mutex<BTreeMap<String, String>>>,
    /// Components Ferry waits for without being unready (a path with no open channel yet): the
    /// other paths relay, and `/readyz` names these.
    waiting: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.down.lock().expect("not poisoned").is_empty()
    }
    /// Mark `what` down (not ready) for `reason` until [`Readiness::up`].
    pub fn down(&self, what: &str, reason: &str) {
        self.down
            .lock()
            .expect("not poisoned")
            .insert(what.to_string(), reason.to_string());
    }
    /// Note that `what` is waited for (`reason`), without making Ferry unready.
    pub fn waiting(&self, what: &str, reason: &str) {
        self.waiting
            .lock()
            .expect("not poisoned")
            .insert(what.to_string(), reason.to_string());
    }
    pub fn up(&self, what: &str) {
        self.down.lock().expect("not poisoned").remove(what);
        self.waiting.lock().expect("not poisoned").remove(what);
    }
    /// What is waited for, one line each.
    pub fn waiting_for(&self) -> String {
        let mut s = String::new();
        for (what, why) in self.waiting.lock().expect("not poisoned").iter() {
            s.push_str(&format!("{what}: waiting: {why}\n"));
        }
        s
    }
    /// Why not ready, one line per reason.
    pub fn reasons(&self) -> String {
        let mut s = String::new();
        if !self.ready.load(Ordering::SeqCst) {
            s.push_str("starting or stopping\n");
        }
        for (what, why) in self.down.lock().expect("not poisoned").iter() {
            s.push_str(&format!("{what}: {why}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_down_makes_it_unready_with_its_reason() {
        let r = Readiness::default();
        assert!(!r.get());
        r.set(true);
        assert!(r.get());
        r.down("path p", "worker panicked: boom");
        assert!(!r.get());
        assert!(r.reasons().contains("path p: worker panicked: boom"));
        r.up("path p");
        assert!(r.get());
    }

    #[test]
    fn a_waited_for_path_is_named_and_stays_ready() {
        let r = Readiness::default();
        r.set(true);
        r.waiting("path p", "no open channel");
        assert!(r.get());
        assert_eq!(r.waiting_for(), "path p: waiting: no open channel\n");
        r.up("path p");
        assert_eq!(r.waiting_for(), "");
    }
}

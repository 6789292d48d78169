//! The gas of the client updates that later txs of a signer were simulated behind. A tx behind an
//! update still in the mempool is simulated with the update in front, and the update's own gas,
//! simulated alone, is taken off. Each lane sends behind its own update, and lanes sharing a
//! signer take turns, so one remembered update would be replaced at every turn and simulated
//! alone again each time.

use crate::chain::Msg;

/// Updates remembered per signer: enough for every lane of a few paths sharing it to send
/// behind its own at once.
const KEPT: usize = 8;

#[derive(Default)]
pub struct PreludeGas {
    /// Least recently used first.
    entries: Vec<(Vec<Msg>, u64)>,
}

impl PreludeGas {
    /// The gas `msgs` used when simulated alone, if remembered.
    pub fn get(&mut self, msgs: &[Msg]) -> Option<u64> {
        let i = self
            .entries
            .iter()
            .position(|(m, _)| m.as_slice() == msgs)?;
        let entry = self.entries.remove(i);
        let gas = entry.1;
        self.entries.push(entry);
        Some(gas)
    }

    /// Remember that `msgs` used `gas`, forgetting the least recently used update beyond
    /// [`KEPT`].
    pub fn put(&mut self, msgs: &[Msg], gas: u64) {
        self.entries.retain(|(m, _)| m.as_slice() != msgs);
        if self.entries.len() == KEPT {
            self.entries.remove(0);
        }
        self.entries.push((msgs.to_vec(), gas));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(n: u8) -> Vec<Msg> {
        vec![Msg {
            type_url: "/ibc.core.client.v1.MsgUpdateClient".into(),
            value: vec![n; 4],
        }]
    }

    #[test]
    fn lanes_taking_turns_on_one_signer_each_find_their_update() {
        let mut p = PreludeGas::default();
        for lane in 0..4u8 {
            assert_eq!(p.get(&update(lane)), None);
            p.put(&update(lane), 1000 + u64::from(lane));
        }
        // Later chunks of the four lanes, interleaved: no update is simulated alone again.
        for _ in 0..3 {
            for lane in 0..4u8 {
                assert_eq!(p.get(&update(lane)), Some(1000 + u64::from(lane)));
            }
        }
    }

    #[test]
    fn the_least_recently_used_update_is_forgotten_beyond_the_bound() {
        let mut p = PreludeGas::default();
        for n in 0..KEPT as u8 {
            p.put(&update(n), u64::from(n));
        }
        assert_eq!(p.get(&update(0)), Some(0), "used again: now the newest");
        p.put(&update(100), 100);
        assert_eq!(p.entries.len(), KEPT);
        assert_eq!(p.get(&update(1)), None, "the least recently used went");
        assert_eq!(p.get(&update(0)), Some(0));
        assert_eq!(p.get(&update(100)), Some(100));
    }

    #[test]
    fn an_update_measured_again_replaces_its_old_gas() {
        let mut p = PreludeGas::default();
        p.put(&update(1), 10);
        p.put(&update(1), 12);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.get(&update(1)), Some(12));
    }
}

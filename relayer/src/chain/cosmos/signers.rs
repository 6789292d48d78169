//! Several signers per chain (`keys = [...]`): each has its own key, address and locally tracked
//! sequence, so txs of different lanes are simulated, signed and broadcast side by side instead of
//! queueing behind one account. Messages name their signer: Ferry builds them for the primary and
//! re-addresses them to the signer that sends them.
//!
//! A chunk simulated behind an earlier tx's client update (`after`) goes to the signer that sent
//! that update: one account's sequence orders the two in the mempool and in blocks.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use prost::Message;
use tokio::sync::MutexGuard;

use super::tx::SignerState;
use crate::chain::{Msg, Priority, PriorityLock};
use crate::keys::Key;

/// Client updates remembered for the chunks that follow them (a flush sends at most a few dozen).
const REMEMBERED_UPDATES: usize = 256;
const UPDATE_CLIENT: &str = "/ibc.core.client.v1.MsgUpdateClient";

pub(super) struct Signer {
    pub name: String,
    pub key: Key,
    pub address: String,
    pub state: PriorityLock<SignerState>,
}

pub(super) struct Signers {
    pub list: Vec<Signer>,
    next: AtomicUsize,
    /// (digest of a tx's leading client updates, the signer that sent them), newest last.
    updates: std::sync::Mutex<VecDeque<(u64, usize)>>,
}

fn digest(msgs: &[Msg]) -> u64 {
    let mut h = DefaultHasher::new();
    for m in msgs {
        m.type_url.hash(&mut h);
        m.value.hash(&mut h);
    }
    h.finish()
}

impl Signers {
    pub fn new(list: Vec<Signer>) -> Signers {
        assert!(!list.is_empty(), "a chain has at least one signer");
        Signers {
            list,
            next: AtomicUsize::new(0),
            updates: Default::default(),
        }
    }

    pub fn primary(&self) -> &Signer {
        &self.list[0]
    }

    /// The signer for a tx of `msgs` (built for the primary) behind `after`, locked; and `msgs` and
    /// `after` addressed to it. A live tx waits for a busy signer ahead of backlog ones.
    pub async fn pick(
        &self,
        msgs: &[Msg],
        after: &[Msg],
        priority: Priority,
    ) -> (usize, MutexGuard<'_, SignerState>, Vec<Msg>, Vec<Msg>) {
        let n = self.list.len();
        let movable = n > 1 && msgs.iter().chain(after).all(|m| readdress(m, "").is_some());
        let (idx, free) = if !movable {
            (0, None)
        } else if !after.is_empty() {
            (self.sender_of_update(after).unwrap_or(0), None)
        } else {
            // The first free signer from a rotating start; all busy: wait for that one.
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            (0..n)
                .map(|i| (start + i) % n)
                .find_map(|i| self.list[i].state.try_lock().map(|g| (i, Some(g))))
                .unwrap_or((start % n, None))
        };
        let guard = match free {
            Some(g) => g,
            None => self.list[idx].state.lock(priority).await,
        };
        let (m, a) = self.addressed(idx, msgs, after);
        self.remember(idx, msgs);
        (idx, guard, m, a)
    }

    fn addressed(&self, i: usize, msgs: &[Msg], after: &[Msg]) -> (Vec<Msg>, Vec<Msg>) {
        if i == 0 {
            return (msgs.to_vec(), after.to_vec());
        }
        let to = &self.list[i].address;
        let re = |ms: &[Msg]| -> Vec<Msg> {
            ms.iter()
                .map(|m| readdress(m, to).expect("checked re-addressable"))
                .collect()
        };
        (re(msgs), re(after))
    }

    fn remember(&self, i: usize, msgs: &[Msg]) {
        let lead = msgs
            .iter()
            .take_while(|m| m.type_url == UPDATE_CLIENT)
            .count();
        if lead == 0 || self.list.len() == 1 {
            return;
        }
        let mut u = self.updates.lock().unwrap();
        u.push_back((digest(&msgs[..lead]), i));
        while u.len() > REMEMBERED_UPDATES {
            u.pop_front();
        }
    }

    fn sender_of_update(&self, after: &[Msg]) -> Option<usize> {
        let d = digest(after);
        let u = self.updates.lock().unwrap();
        u.iter().rev().find(|(x, _)| *x == d).map(|(_, i)| *i)
    }
}

fn with<T: Message + Default>(m: &Msg, set: impl FnOnce(&mut T)) -> Option<Msg> {
    let mut t = T::decode(m.value.as_slice()).ok()?;
    set(&mut t);
    Some(Msg {
        type_url: m.type_url.clone(),
        value: t.encode_to_vec(),
    })
}

/// `m` with its signer set to `to`; `None` for a message Ferry does not spread across signers
/// (handshakes, transfers): those stay with the primary.
pub(super) fn readdress(m: &Msg, to: &str) -> Option<Msg> {
    use ibc_proto::ibc::core::channel::v1 as chan;
    use ibc_proto::ibc::core::client::v1::MsgUpdateClient;

    use super::v2::{proto as v2, type_url};
    let to = to.to_string();
    match m.type_url.as_str() {
        UPDATE_CLIENT => with::<MsgUpdateClient>(m, |x| x.signer = to),
        "/ibc.core.channel.v1.MsgRecvPacket" => with::<chan::MsgRecvPacket>(m, |x| x.signer = to),
        "/ibc.core.channel.v1.MsgAcknowledgement" => {
            with::<chan::MsgAcknowledgement>(m, |x| x.signer = to)
        }
        "/ibc.core.channel.v1.MsgTimeout" => with::<chan::MsgTimeout>(m, |x| x.signer = to),
        type_url::RECV => with::<v2::MsgRecvPacket>(m, |x| x.signer = to),
        type_url::ACK => with::<v2::MsgAcknowledgement>(m, |x| x.signer = to),
        type_url::TIMEOUT => with::<v2::MsgTimeout>(m, |x| x.signer = to),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc_proto::ibc::core::channel::v1 as chan;

    fn signer(role: &str) -> Signer {
        let key = Key::from_mnemonic(role, &crate::keys::deterministic_mnemonic(role)).unwrap();
        Signer {
            name: role.into(),
            address: key.address("cosmos").unwrap(),
            key,
            state: PriorityLock::new(SignerState::default()),
        }
    }

    fn recv(seq: u64, signer: &str) -> Msg {
        let m = chan::MsgRecvPacket {
            packet: Some(chan::Packet {
                sequence: seq,
                ..Default::default()
            }),
            signer: signer.into(),
            ..Default::default()
        };
        Msg {
            type_url: "/ibc.core.channel.v1.MsgRecvPacket".into(),
            value: m.encode_to_vec(),
        }
    }

    fn update(height: u64, signer: &str) -> Msg {
        let m = ibc_proto::ibc::core::client::v1::MsgUpdateClient {
            client_id: format!("07-tendermint-{height}"),
            client_message: None,
            signer: signer.into(),
        };
        Msg {
            type_url: UPDATE_CLIENT.into(),
            value: m.encode_to_vec(),
        }
    }

    fn signer_of(m: &Msg) -> String {
        match m.type_url.as_str() {
            UPDATE_CLIENT => {
                ibc_proto::ibc::core::client::v1::MsgUpdateClient::decode(m.value.as_slice())
                    .unwrap()
                    .signer
            }
            _ => {
                chan::MsgRecvPacket::decode(m.value.as_slice())
                    .unwrap()
                    .signer
            }
        }
    }

    #[tokio::test]
    async fn busy_signers_are_passed_over_and_messages_readdressed() {
        let s = Signers::new(vec![signer("a"), signer("b"), signer("c")]);
        let primary = s.primary().address.clone();
        let (i, g1, m1, _) = s.pick(&[recv(1, &primary)], &[], Priority::Backlog).await;
        let (j, g2, m2, _) = s.pick(&[recv(2, &primary)], &[], Priority::Backlog).await;
        let (k, _g3, m3, _) = s.pick(&[recv(3, &primary)], &[], Priority::Backlog).await;
        let mut used = vec![i, j, k];
        used.sort();
        assert_eq!(used, vec![0, 1, 2], "three txs at once use three signers");
        for (idx, m) in [(i, &m1), (j, &m2), (k, &m3)] {
            assert_eq!(signer_of(&m[0]), s.list[idx].address);
        }
        drop((g1, g2));
    }

    #[tokio::test]
    async fn a_chunk_behind_an_update_goes_to_the_updates_signer() {
        let s = Signers::new(vec![signer("a"), signer("b"), signer("c")]);
        let p = s.primary().address.clone();
        let upd = update(7, &p);
        // Keep the signer the first pick chooses busy with nothing: later picks rotate past it.
        let (first, guard, m, _) = s
            .pick(&[upd.clone(), recv(1, &p)], &[], Priority::Backlog)
            .await;
        assert_eq!(signer_of(&m[0]), s.list[first].address);
        drop(guard);
        for _ in 0..4 {
            let (i, g, m, after) = s
                .pick(
                    &[recv(2, &p)],
                    std::slice::from_ref(&upd),
                    Priority::Backlog,
                )
                .await;
            assert_eq!(i, first);
            assert_eq!(signer_of(&m[0]), s.list[first].address);
            assert_eq!(signer_of(&after[0]), s.list[first].address);
            drop(g);
        }
    }

    #[tokio::test]
    async fn a_live_tx_waits_for_the_tx_under_way_not_for_queued_backlog_txs() {
        let s = std::sync::Arc::new(Signers::new(vec![signer("a")]));
        let p = s.primary().address.clone();
        let (_, busy, _, _) = s.pick(&[recv(1, &p)], &[], Priority::Backlog).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for (seq, priority) in [
            (2, Priority::Backlog),
            (3, Priority::Backlog),
            (4, Priority::Live),
        ] {
            let (s, p, tx) = (s.clone(), p.clone(), tx.clone());
            waiting.push(tokio::spawn(async move {
                let (_, _guard, _, _) = s.pick(&[recv(seq, &p)], &[], priority).await;
                tx.send(seq).unwrap();
            }));
            // Each is queued on the busy signer before the next comes.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        drop(busy);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(rx.recv().await, Some(4), "the live tx went first");
    }

    #[tokio::test]
    async fn unknown_messages_stay_with_the_primary() {
        let s = Signers::new(vec![signer("a"), signer("b")]);
        let transfer = Msg {
            type_url: "/ibc.applications.transfer.v1.MsgTransfer".into(),
            value: vec![],
        };
        let _busy = s.list[0].state.try_lock();
        // The primary is busy, yet a message only it may sign waits for it.
        let pick = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            s.pick(std::slice::from_ref(&transfer), &[], Priority::Backlog),
        )
        .await;
        assert!(pick.is_err(), "waited for the primary");
    }

    #[test]
    fn readdress_keeps_everything_but_the_signer() {
        let m = recv(42, "cosmos1old");
        let r = readdress(&m, "cosmos1new").unwrap();
        let d = chan::MsgRecvPacket::decode(r.value.as_slice()).unwrap();
        assert_eq!(
            (d.packet.unwrap().sequence, d.signer.as_str()),
            (42, "cosmos1new")
        );
    }
}

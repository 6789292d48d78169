//! Cutting a batch into transactions, and reading which of a transaction's packets the chain
//! blamed when it refused or reverted it.

use std::collections::VecDeque;

use super::Item;
use crate::chain::{ChainError, Msg};

/// One transaction's worth: its messages (`head` client updates first), and the items behind the
/// rest, in order.
#[derive(Clone)]
pub(super) struct Chunk {
    pub msgs: Vec<Msg>,
    pub head: usize,
    pub items: Vec<(Item, Msg)>,
}

/// The next transaction from the front of `rest`: `updates` first, then items up to the limits.
/// An item marked solo (a quarantined packet tried again) goes alone.
pub(super) fn take_chunk(
    rest: &mut VecDeque<(Item, Msg, bool)>,
    updates: &[Msg],
    max_msgs: usize,
    max_bytes: usize,
) -> Chunk {
    let mut chunk = Chunk {
        msgs: updates.to_vec(),
        head: updates.len(),
        items: Vec::new(),
    };
    let mut bytes: usize = chunk.msgs.iter().map(|m| m.value.len() + 64).sum::<usize>() + 1024;
    while let Some((_, m, solo)) = rest.front() {
        let sz = m.value.len() + 64;
        if !chunk.items.is_empty()
            && (*solo || chunk.msgs.len() >= max_msgs || bytes + sz > max_bytes)
        {
            break;
        }
        let (item, m, solo) = rest.pop_front().expect("front exists");
        bytes += sz;
        chunk.msgs.push(m.clone());
        chunk.items.push((item, m));
        if solo {
            break;
        }
    }
    chunk
}

/// The items at fault named by a refused or reverted batch, as (index into the chunk's items,
/// reason): None when the error names none (not a packet's fault). `head` client updates come
/// first in the batch's messages; a culprit among them is no packet's fault.
pub(super) fn blamed(e: &ChainError, head: usize, items: usize) -> Option<Vec<(usize, String)>> {
    let culprits = match e {
        ChainError::PacketsRejected { culprits, .. }
        | ChainError::GasAboveCap { culprits, .. }
        | ChainError::Reverted { culprits, .. } => culprits,
        _ => return None,
    };
    Some(
        culprits
            .iter()
            .filter(|(i, _)| *i >= head && *i - head < items)
            .map(|(i, r)| (*i - head, r.clone()))
            .collect(),
    )
}

/// What one submit takes from `ready` (in sequence order): at most `room` items, and when there
/// are more, the `live` most recently seen ones go first and the oldest fill the rest. New
/// transfers then keep their latency while a backlog is cleared, and the backlog still gets most
/// of every submit.
pub(super) fn pick(mut ready: Vec<Item>, room: usize, live: usize) -> Vec<Item> {
    if ready.len() <= room {
        return ready;
    }
    let mut by_age: Vec<usize> = (0..ready.len()).collect();
    by_age.sort_by_key(|&i| std::cmp::Reverse(ready[i].pending().seen));
    let mut newest: Vec<usize> = by_age.into_iter().take(live.min(room)).collect();
    newest.sort_unstable();
    let mut taken = Vec::with_capacity(room);
    for &i in newest.iter().rev() {
        taken.push(ready.remove(i));
    }
    taken.reverse();
    taken.extend(ready.into_iter().take(room - taken.len()));
    taken
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::router::fake::packet;
    use crate::router::lane::Pending;

    fn item(seq: u64, seen: Instant) -> Item {
        Item::Recv(Pending {
            packet: packet(seq, 0),
            height: 1,
            ack: vec![],
            seen,
        })
    }

    fn seqs(items: &[Item]) -> Vec<u64> {
        items.iter().map(|i| i.pending().packet.sequence).collect()
    }

    #[test]
    fn the_newest_go_first_when_a_backlog_does_not_fit() {
        let t0 = Instant::now();
        // A backlog of 10 seen at start, then 3 live packets seen later, in sequence order.
        let mut ready: Vec<Item> = (1..=10).map(|s| item(s, t0)).collect();
        ready.extend((11..=13).map(|s| item(s, t0 + Duration::from_secs(s))));
        // Room for 6, 2 of them for the newest: 12 and 13, then the oldest 1..=4.
        assert_eq!(seqs(&pick(ready, 6, 2)), vec![12, 13, 1, 2, 3, 4]);
    }

    #[test]
    fn everything_goes_when_it_fits_and_order_is_kept() {
        let t0 = Instant::now();
        let ready: Vec<Item> = (1..=5)
            .map(|s| item(s, t0 + Duration::from_secs(10 - s)))
            .collect();
        assert_eq!(seqs(&pick(ready, 5, 2)), vec![1, 2, 3, 4, 5]);
        let ready: Vec<Item> = (1..=5).map(|s| item(s, t0)).collect();
        assert_eq!(seqs(&pick(ready, 3, 0)), vec![1, 2, 3]);
    }
}

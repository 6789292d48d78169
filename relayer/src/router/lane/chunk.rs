//! Ordering a batch, cutting it into transactions, and reading which of a transaction's packets the chain
//! blamed when it refused or reverted it.

use std::collections::VecDeque;

use super::Item;
use crate::chain::{ChainError, Msg};

/// Put the `n` items with the newest events first: those above the n-th newest height, then those
/// at it (the first ones), then the rest, each part keeping its order. In a burst every item
/// shares a height or two and nothing moves; with a backlog queued, new items go ahead of it.
pub(super) fn newest_first(items: &mut Vec<Item>, n: usize) {
    if items.len() <= n || n == 0 {
        return;
    }
    let mut heights: Vec<u64> = items.iter().map(|i| i.pending().height).collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    let cut = heights[n - 1];
    let (mut front, rest): (Vec<Item>, Vec<Item>) =
        items.drain(..).partition(|i| i.pending().height > cut);
    let mut room = n - front.len();
    let (fill, back): (Vec<Item>, Vec<Item>) = rest.into_iter().partition(|i| {
        let take = i.pending().height == cut && room > 0;
        room -= usize::from(take);
        take
    });
    front.extend(fill);
    front.extend(back);
    *items = front;
}

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

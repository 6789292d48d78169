//! Finding many packets' events at once, for clearing: one `tx_search` per run of nearby
//! sequences instead of one per packet.
//!
//! The node's kv indexer answers each condition of a query by walking every index entry under its
//! key and value, then intersects. A lookup of one packet by (port, channel, sequence) walks every
//! send of the port and of the channel: on a source with 10,000 packets pending, clearing's 10,000
//! lookups walked those entries 10,000 times, and the node's CPU went to that (W4). A range of
//! sequences on one channel walks the sequence key and the channel once for the whole range.

use tendermint_rpc::query::Query;

use super::CosmosChain;
use crate::chain::{one_by_one, Result};
use crate::ibc::{ChannelId, PacketEvent, PacketEventKind, PortId};

/// Sequences one query covers at most (its width): a range's txs come back in pages, each page
/// walking the index again, so a range holds what a few pages carry.
const MAX_WIDTH: u64 = 250;
/// A sequence further than this from the last one starts a new range: between them lie packets
/// already done, whose txs a wider range would fetch for nothing.
const MAX_GAP: u64 = 25;
/// Txs per page: a batch tx with 50 transfers and their events is about 150 kB of JSON.
const PER_PAGE: u8 = 10;
/// Pages one range may take before the rest of it is left to the next clearing round.
const MAX_PAGES: u32 = 60;

/// Sorted, distinct `seqs` cut into (first, last) ranges of at most [`MAX_WIDTH`] sequences with
/// no gap over [`MAX_GAP`] inside.
pub fn ranges(seqs: &[u64]) -> Vec<(u64, u64)> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some((first, last)) if s - *last <= MAX_GAP && s - *first < MAX_WIDTH => *last = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// The txs with `wanted` events of sequences `lo..=hi` on `channel`. No port condition: it would
/// walk every packet of the port; the port is checked on what comes back.
fn range_query(wanted: Wanted, channel: &ChannelId, lo: u64, hi: u64) -> Query {
    let (event, channel_key) = match wanted {
        Wanted::Sends => ("send_packet", "packet_src_channel"),
        Wanted::Acks => ("write_acknowledgement", "packet_dst_channel"),
    };
    let seq_key = format!("{event}.packet_sequence");
    Query::gte(seq_key.clone(), lo)
        .and_lte(seq_key, hi)
        .and_eq(format!("{event}.{channel_key}"), channel.as_str())
}

/// Which side of the packet a lookup is about.
#[derive(Clone, Copy)]
pub enum Wanted {
    /// `send_packet` events of packets sent from (port, channel).
    Sends,
    /// `write_acknowledgement` events of packets received on (port, channel).
    Acks,
}

impl CosmosChain {
    /// The `wanted` events of `seqs` on (port, channel), each at most once; those not found are
    /// left out. An error only when no range could be searched at all. IBC v2 clients are looked
    /// up one by one (their events name clients, not channels).
    pub(super) async fn find_packet_events(
        &self,
        wanted: Wanted,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        if super::v2::is_v2(channel.as_str()) {
            use crate::chain::PacketEvents;
            return Ok(match wanted {
                Wanted::Sends => one_by_one(seqs, |s| self.sent_packet(port, channel, s)).await,
                Wanted::Acks => one_by_one(seqs, |s| self.written_ack(port, channel, s)).await,
            });
        }
        let mut want: std::collections::BTreeSet<u64> = seqs.iter().copied().collect();
        let mut found = Vec::new();
        let mut first_error = None;
        let mut searched = false;
        for (lo, hi) in ranges(seqs) {
            match self
                .find_in_range(wanted, port, channel, lo, hi, &mut want, &mut found)
                .await
            {
                Ok(()) => searched = true,
                Err(e) => {
                    tracing::debug!(chain = %self.id, lo, hi, error = %e, "packet lookup by range failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !searched => Err(e),
            _ => Ok(found),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn find_in_range(
        &self,
        wanted: Wanted,
        port: &PortId,
        channel: &ChannelId,
        lo: u64,
        hi: u64,
        want: &mut std::collections::BTreeSet<u64>,
        found: &mut Vec<PacketEvent>,
    ) -> Result<()> {
        let query = range_query(wanted, channel, lo, hi);
        let matches = |e: &PacketEvent| {
            let p = &e.packet;
            match wanted {
                Wanted::Sends => {
                    e.kind == PacketEventKind::Send
                        && &p.source_channel == channel
                        && &p.source_port == port
                }
                Wanted::Acks => {
                    matches!(e.kind, PacketEventKind::WriteAck { .. })
                        && &p.destination_channel == channel
                        && &p.destination_port == port
                }
            }
        };
        for page in 1..=MAX_PAGES {
            let (events, total) = self.search_page(&query, page, PER_PAGE).await?;
            for ev in events {
                if matches(&ev) && want.remove(&ev.packet.sequence) {
                    found.push(ev);
                }
            }
            let done = (lo..=hi).all(|s| !want.contains(&s));
            if done || page * u32::from(PER_PAGE) >= total {
                return Ok(());
            }
        }
        tracing::debug!(chain = %self.id, lo, hi, pages = MAX_PAGES, "packet lookup range not finished; the rest waits for the next round");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearby_sequences_share_a_range_and_far_ones_do_not() {
        assert_eq!(ranges(&[]), vec![]);
        assert_eq!(ranges(&[7]), vec![(7, 7)]);
        // Unsorted, with a duplicate; a gap of MAX_GAP stays inside, one more starts a new range.
        assert_eq!(
            ranges(&[5, 3, 4, 4, 3 + 2 + MAX_GAP, 5 + MAX_GAP + 1 + MAX_GAP + 1]),
            vec![(3, 5 + MAX_GAP), (5 + 2 * MAX_GAP + 2, 5 + 2 * MAX_GAP + 2)]
        );
    }

    #[test]
    fn the_query_names_the_sequence_range_and_the_channel_not_the_port() {
        let ch: ChannelId = "channel-4".parse().unwrap();
        assert_eq!(
            range_query(Wanted::Sends, &ch, 101, 350).to_string(),
            "send_packet.packet_sequence >= 101 AND send_packet.packet_sequence <= 350 \
             AND send_packet.packet_src_channel = 'channel-4'"
        );
        assert_eq!(
            range_query(Wanted::Acks, &ch, 7, 7).to_string(),
            "write_acknowledgement.packet_sequence >= 7 AND write_acknowledgement.packet_sequence \
             <= 7 AND write_acknowledgement.packet_dst_channel = 'channel-4'"
        );
    }

    #[test]
    fn a_range_covers_at_most_max_width_sequences() {
        let seqs: Vec<u64> = (1..=600).collect();
        let r = ranges(&seqs);
        assert_eq!(r, vec![(1, 250), (251, 500), (501, 600)]);
        for (lo, hi) in r {
            assert!(hi - lo < MAX_WIDTH);
        }
    }
}

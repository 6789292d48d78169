//! Before a batch is built: what the destination already has is dropped without paying for it,
//! and packets it can no longer receive are handed over as timeouts on their source.

use super::{Lane, LaneReport};
use crate::chain::ChainError;
use crate::telemetry::{metrics, PacketKind};

impl Lane {
    pub(super) async fn prune(&mut self, report: &mut LaneReport) -> Result<(), ChainError> {
        let (dst_id, src_id, channel) = self.labels();
        // 1. Drop what the destination already has, never paying for it (quarantined or not).
        //    Items in flight are left to their tx: found received, they are its to count.
        let seqs: Vec<u64> = self
            .recv
            .keys()
            .filter(|s| self.idle(PacketKind::Recv, **s))
            .copied()
            .collect();
        let unreceived = self
            .dst
            .chain
            .unreceived(&self.dst.port, &self.dst.channel, &seqs)
            .await?;
        let mut by_others = 0;
        for s in seqs.iter().filter(|s| !unreceived.contains(s)) {
            self.release((PacketKind::Recv, *s), "delivered (found received)");
            self.recv.remove(s);
            self.mark_done(PacketKind::Recv, *s);
            metrics().packet_skipped(&dst_id, &src_id, &channel, PacketKind::Recv);
            by_others += 1;
        }
        self.warn_other_relayer(by_others);
        let ack_seqs: Vec<u64> = self
            .acks
            .keys()
            .filter(|s| self.idle(PacketKind::Ack, **s))
            .chain(
                self.timeouts
                    .keys()
                    .filter(|s| self.idle(PacketKind::Timeout, **s)),
            )
            .copied()
            .collect();
        let open = self
            .dst
            .chain
            .unreceived_acks(&self.dst.port, &self.dst.channel, &ack_seqs)
            .await?;
        for s in ack_seqs.iter().filter(|s| !open.contains(s)) {
            if self.acks.contains_key(s) {
                self.release((PacketKind::Ack, *s), "delivered (commitment gone)");
                self.acks.remove(s);
                self.mark_done(PacketKind::Ack, *s);
                metrics().packet_skipped(&dst_id, &src_id, &channel, PacketKind::Ack);
            }
            if self.timeouts.contains_key(s) {
                self.release((PacketKind::Timeout, *s), "delivered (commitment gone)");
                self.timeouts.remove(s);
                self.mark_done(PacketKind::Timeout, *s);
                metrics().packet_skipped(&dst_id, &src_id, &channel, PacketKind::Timeout);
            }
        }
        // 2. Packets the destination can no longer receive become timeouts on their source.
        let (dst_h, dst_time) = self.dst.chain.latest().await?;
        let expired: Vec<u64> = self
            .recv
            .values()
            .filter(|p| self.idle(PacketKind::Recv, p.packet.sequence))
            .filter(|p| p.packet.timed_out(dst_h, dst_time))
            .map(|p| p.packet.sequence)
            .collect();
        for s in expired {
            self.release((PacketKind::Recv, s), "timed out; moved to the other lane");
            if let Some(mut p) = self.recv.remove(&s) {
                tracing::info!(
                    packet = %self.packet_id(PacketKind::Recv, &p.packet),
                    sequence = s,
                    "packet timed out on {dst_id}; timing it out on {src_id}"
                );
                // Its height was the send height on this lane's source; a timeout is proven by the
                // other chain at a fresh height instead, so it needs no event height.
                p.height = 0;
                report.timed_out.push(p);
            }
        }
        Ok(())
    }
}

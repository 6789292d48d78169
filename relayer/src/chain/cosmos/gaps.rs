//! Reading the blocks an event stream did not push (a reconnect's catch-up, heights the node
//! skipped, every block when polling) from `block_results`, without ever being held back by one.
//!
//! A block whose results the node cannot serve (a huge block on a busy node answers past the HTTP
//! timeout, every try) used to end the event session, which started again from that block and
//! failed on it again: live events stopped until the process restarted, and the packets sent
//! meanwhile reached the lanes only by clearing, last. Now such a block is marked unread
//! ([`Feed::Unread`](crate::chain::Feed::Unread)): the router wakes clearing, which finds what it
//! held from the chain's state (packet commitments and acks), and the stream goes on.

use std::future::Future;

use crate::chain::{EventSink, Result};
use crate::ibc::PacketEvent;
use crate::telemetry::metrics;

/// Blocks in a row that may fail before the rest of a range is left unread without trying: the
/// node is then most likely unreachable, and each try costs an HTTP timeout per endpoint.
pub const FAILS_IN_A_ROW: u64 = 2;

/// Hand over the packet events of blocks `from..=to`, read one block at a time by `read`, each
/// block then marked scanned when `mark` (not while blocks before `from` may still be unread). A
/// block that cannot be read is marked unread (and scanned), and the next is tried; after
/// [`FAILS_IN_A_ROW`] failures in a row the rest of the range is marked unread at once. False when
/// nobody listens any more.
pub async fn read_blocks<F, Fut>(
    chain: &str,
    from: u64,
    to: u64,
    read: F,
    mark: bool,
    sink: &EventSink,
) -> bool
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<Vec<PacketEvent>>>,
{
    let mut fails = 0;
    let mut h = from;
    while h <= to {
        match read(h).await {
            Ok(events) => {
                fails = 0;
                for ev in events {
                    if !sink.event(ev).await {
                        return false;
                    }
                }
            }
            Err(e) => {
                fails += 1;
                let last = if fails >= FAILS_IN_A_ROW { to } else { h };
                metrics().event_blocks_unread(chain, last - h + 1);
                tracing::warn!(chain = %chain, from = h, to = last, error = %e, "block events could not be read; left to clearing");
                if !sink.unread(h, last).await {
                    return false;
                }
                h = last;
            }
        }
        if mark && !sink.scanned(h).await {
            return false;
        }
        h += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChainError, Feed};
    use crate::ibc::{ChainId, Packet, PacketEventKind};

    /// What a node that cannot serve a block's results answers.
    fn http_error() -> ChainError {
        ChainError::Rpc {
            chain: ChainId::new("test-1").unwrap(),
            method: "block_results",
            reason: "HTTP error".into(),
        }
    }

    fn send(height: u64) -> PacketEvent {
        PacketEvent {
            kind: PacketEventKind::Send,
            packet: Packet {
                sequence: height,
                source_port: "transfer".parse().unwrap(),
                source_channel: "channel-0".parse().unwrap(),
                destination_port: "transfer".parse().unwrap(),
                destination_channel: "channel-1".parse().unwrap(),
                data: vec![],
                timeout_height: Default::default(),
                timeout_timestamp: 0,
                version: String::new(),
                encoding: String::new(),
            },
            height,
        }
    }

    /// What `read_blocks` hands over for `from..=to` when the blocks in `bad` cannot be read (each
    /// readable block holds one send, its sequence the height), and the blocks it asked for.
    async fn run(from: u64, to: u64, bad: &[u64]) -> (Vec<Feed>, Vec<u64>) {
        let (sink, mut rx) = EventSink::channel(1000);
        let asked = std::sync::Mutex::new(Vec::new());
        let read = |h: u64| {
            asked.lock().unwrap().push(h);
            let fails = bad.contains(&h);
            async move {
                if fails {
                    Err(http_error())
                } else {
                    Ok(vec![send(h)])
                }
            }
        };
        assert!(read_blocks("test-1", from, to, read, true, &sink).await);
        drop(sink);
        let mut got = Vec::new();
        while let Some(f) = rx.recv().await {
            got.push(f);
        }
        (got, asked.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_block_that_cannot_be_read_is_left_unread_and_the_next_ones_are_read() {
        let (got, asked) = run(10, 13, &[11]).await;
        assert_eq!(
            got,
            vec![
                Feed::Event(send(10)),
                Feed::Scanned(10),
                Feed::Unread { from: 11, to: 11 },
                Feed::Scanned(11),
                Feed::Event(send(12)),
                Feed::Scanned(12),
                Feed::Event(send(13)),
                Feed::Scanned(13),
            ]
        );
        assert_eq!(asked, vec![10, 11, 12, 13]);
    }

    #[tokio::test]
    async fn failures_in_a_row_leave_the_rest_of_the_range_unread_without_asking() {
        let (got, asked) = run(10, 20, &[11, 12, 13]).await;
        assert_eq!(
            got,
            vec![
                Feed::Event(send(10)),
                Feed::Scanned(10),
                Feed::Unread { from: 11, to: 11 },
                Feed::Scanned(11),
                Feed::Unread { from: 12, to: 20 },
                Feed::Scanned(20),
            ]
        );
        assert_eq!(asked, vec![10, 11, 12]);
    }

    #[tokio::test]
    async fn a_readable_block_between_failures_starts_the_count_again() {
        let (got, _) = run(1, 5, &[2, 4]).await;
        let unread: Vec<_> = got
            .iter()
            .filter(|f| matches!(f, Feed::Unread { .. }))
            .collect();
        assert_eq!(
            unread,
            vec![
                &Feed::Unread { from: 2, to: 2 },
                &Feed::Unread { from: 4, to: 4 }
            ]
        );
        assert_eq!(got.last(), Some(&Feed::Scanned(5)));
    }

    #[tokio::test]
    async fn a_closed_feed_stops_the_reading() {
        let (sink, rx) = EventSink::channel(10);
        drop(rx);
        let read = |h: u64| async move { Ok(vec![send(h)]) };
        assert!(!read_blocks("test-1", 1, 3, read, true, &sink).await);
    }

    #[tokio::test]
    async fn unmarked_reads_hand_over_events_and_unread_blocks_but_no_scanned_mark() {
        let (sink, mut rx) = EventSink::channel(10);
        let read = |h: u64| async move {
            if h == 2 {
                Err(http_error())
            } else {
                Ok(vec![send(h)])
            }
        };
        assert!(read_blocks("test-1", 1, 3, read, false, &sink).await);
        drop(sink);
        let mut got = Vec::new();
        while let Some(f) = rx.recv().await {
            got.push(f);
        }
        assert_eq!(
            got,
            vec![
                Feed::Event(send(1)),
                Feed::Unread { from: 2, to: 2 },
                Feed::Event(send(3)),
            ]
        );
    }
}

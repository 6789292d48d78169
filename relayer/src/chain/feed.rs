//! What a subscription hands the router: packet events in block order, and marks saying through
//! which height everything has been handed over. The router stores the marks, so a restart goes on
//! from the last scanned height instead of the chain's current one.

use tokio::sync::mpsc;

use crate::ibc::PacketEvent;

/// One item of a chain's event feed. Events are nearly every item: boxing them would cost an
/// allocation each to shrink the rare mark.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    Event(PacketEvent),
    /// Every packet event of blocks up to this height has been sent before this mark.
    Scanned(u64),
    /// The chain committed a block at this height (an unverified hint, from the node's push): a
    /// lane waiting for the source to prove something looks at its height again at once instead
    /// of at its next poll.
    Committed(u64),
    /// The events of blocks `from..=to` could not be read (the node did not serve them): what
    /// those blocks held is left to clearing, which finds it from the chain's state. A
    /// [`Feed::Scanned`] mark follows, so the stream never waits on such a block.
    Unread {
        from: u64,
        to: u64,
    },
}

/// The sending end of a feed. Sends fail only when the router stopped listening.
#[derive(Clone)]
pub struct EventSink(mpsc::Sender<Feed>);

impl EventSink {
    pub fn channel(capacity: usize) -> (EventSink, mpsc::Receiver<Feed>) {
        let (tx, rx) = mpsc::channel(capacity);
        (EventSink(tx), rx)
    }

    /// Hand over one event; false when nobody listens any more.
    pub async fn event(&self, ev: PacketEvent) -> bool {
        self.0.send(Feed::Event(ev)).await.is_ok()
    }

    /// Say that every event up to `height` was handed over; false when nobody listens any more.
    pub async fn scanned(&self, height: u64) -> bool {
        self.0.send(Feed::Scanned(height)).await.is_ok()
    }

    /// Pass on an item of another feed (the router's shared subscriptions); false when nobody
    /// listens any more.
    pub async fn forward(&self, f: Feed) -> bool {
        self.0.send(f).await.is_ok()
    }

    /// [`forward`](Self::forward) without waiting: false when the receiver is full or gone.
    pub fn try_forward(&self, f: Feed) -> bool {
        self.0.try_send(f).is_ok()
    }

    /// Say that the chain committed `height`; false when nobody listens any more.
    pub async fn committed(&self, height: u64) -> bool {
        self.0.send(Feed::Committed(height)).await.is_ok()
    }

    /// Say that blocks `from..=to` could not be read; false when nobody listens any more.
    pub async fn unread(&self, from: u64, to: u64) -> bool {
        self.0.send(Feed::Unread { from, to }).await.is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

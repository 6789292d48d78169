//! An in-memory chain implementing every capability trait, for the router's unit tests. It keeps
//! receipts and packet commitments, a client of its counterparty, and records every transaction it
//! is asked to send (paid for) and every one that reverts when mined. Its `broadcast` answers like
//! the EVM backend: a batch that would revert is refused with the packet messages at fault, a batch
//! above `max_gas` is refused, and packets marked `revert_on_mine` pass simulation but revert when
//! mined.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::chain::{
    ChainError, ClientHost, ConsensusAnchor, Headers, Heights, Msg, PacketEvents, PacketProofs,
    PacketQueries, PendingTx, Priority, Proof, Result, Submit, TxOutcome,
};
use crate::ibc::{
    ChainId, ChannelId, ClientId, Height, Packet, PacketEvent, PacketEventKind, PortId,
};
use crate::telemetry::PacketKind;

/// A message as the fake sees it: ("recv" | "ack" | "timeout" | "update", sequence or height).
pub type Call = (String, u64);

#[derive(Default)]
pub struct State {
    /// `latest` panics this many more times (a crashing path worker).
    pub panics: u32,
    /// `latest` fails as an RPC error this many more times (a node down at start).
    pub latest_errors: u32,
    /// The height each subscription was asked to start from.
    pub subscribed_from: Vec<u64>,
    /// Times `latest` was read.
    pub latest_reads: usize,
    /// Latest height and time (ns); each mined transaction adds a block.
    pub height: u64,
    pub time_ns: u64,
    /// Height of this chain's client of the counterparty.
    pub client_height: u64,
    /// Packets received here.
    pub received: BTreeSet<u64>,
    /// Packets sent from here whose commitment is still set.
    pub commitments: BTreeSet<u64>,
    /// Packet messages whose execution always reverts (found in simulation).
    pub always_fail: BTreeSet<(PacketKind, u64)>,
    /// Packet messages that pass simulation and revert when mined.
    pub revert_on_mine: BTreeSet<(PacketKind, u64)>,
    /// Packet messages that alone need more gas than `max_gas`.
    pub heavy: BTreeSet<(PacketKind, u64)>,
    pub gas_per_msg: u64,
    pub max_gas: u64,
    pub max_msgs: usize,
    /// Events the subscription delivers (once each, also those added later).
    pub events: Vec<PacketEvent>,
    /// Every transaction sent (paid for), as its calls.
    pub sent: Vec<Vec<Call>>,
    /// The priority each of `sent` waited for the signer with.
    pub sent_priority: Vec<Priority>,
    /// The calls each of `sent` was simulated behind (a client update in an earlier tx).
    pub sent_after: Vec<Vec<Call>>,
    /// Transactions that were mined and reverted (paid for, no effect).
    pub reverted: Vec<Vec<Call>>,
    /// Simulations run.
    pub simulations: usize,
    /// `confirm` waits this long first (a destination node that stalls).
    pub confirm_delay: std::time::Duration,
    /// Each commitment proof takes this long (a source node short of CPU: a long submit).
    pub prove_delay: std::time::Duration,
    /// The next this many `confirm`s answer "not final in time" although the tx is mined (a
    /// node that was frozen while it committed).
    pub unconfirmed_answers: u32,
    /// Broadcasts from this many on (counting every broadcast) fail as an RPC error.
    pub broadcasts_until_rpc_down: Option<usize>,
    /// Clearing finds the send of each packet committed here (as `send_event`, at height 10).
    pub sends_findable: bool,
    /// Every packet whose send clearing looked up, in order.
    pub send_lookups: Vec<u64>,
    /// Proofs at `H` show what block `H` wrote (EVM, attestations), instead of from `H + 1` on.
    pub proves_own_block: bool,
    /// Txs mined while their confirmation was not seen.
    landed: BTreeMap<String, TxOutcome>,
    pending: BTreeMap<String, Vec<Msg>>,
    next_tx: u64,
}

pub struct FakeChain {
    pub id: ChainId,
    pub st: Mutex<State>,
}

impl FakeChain {
    pub fn new(id: &str) -> Arc<FakeChain> {
        Arc::new(FakeChain {
            id: id.parse().unwrap(),
            st: Mutex::new(State {
                height: 100,
                time_ns: 1_000_000_000_000,
                client_height: 1,
                gas_per_msg: 100_000,
                max_gas: 10_000_000,
                max_msgs: 30,
                ..State::default()
            }),
        })
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.st.lock().unwrap())
    }

    /// Sequences of `kind` in transactions sent (paid for), in order.
    pub fn sent_seqs(&self, kind: &str) -> Vec<u64> {
        self.with(|s| {
            s.sent
                .iter()
                .flatten()
                .filter(|(k, _)| k == kind)
                .map(|(_, q)| *q)
                .collect()
        })
    }
}

fn msg(kind: &str, n: u64) -> Msg {
    Msg {
        type_url: kind.into(),
        value: n.to_be_bytes().to_vec(),
    }
}

fn call(m: &Msg) -> Call {
    let n = m
        .value
        .get(..8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
        .unwrap_or(0);
    (m.type_url.clone(), n)
}

fn kind_of(label: &str) -> Option<PacketKind> {
    match label {
        "recv" => Some(PacketKind::Recv),
        "ack" => Some(PacketKind::Ack),
        "timeout" => Some(PacketKind::Timeout),
        _ => None,
    }
}

/// One end of a path on `chain`.
pub fn side(chain: &Arc<FakeChain>, channel: &str) -> super::Side {
    super::Side {
        chain: chain.clone(),
        client: "07-tendermint-0".parse().unwrap(),
        port: "transfer".parse().unwrap(),
        channel: channel.parse().unwrap(),
    }
}

/// A packet sent from `src` (channel-0) to `dst` (channel-1) on port transfer.
pub fn packet(seq: u64, timeout_ns: u64) -> Packet {
    Packet {
        sequence: seq,
        source_port: "transfer".parse().unwrap(),
        source_channel: "channel-0".parse().unwrap(),
        destination_port: "transfer".parse().unwrap(),
        destination_channel: "channel-1".parse().unwrap(),
        data: vec![seq as u8],
        timeout_height: Height::default(),
        timeout_timestamp: timeout_ns,
        version: String::new(),
        encoding: String::new(),
    }
}

pub fn send_event(seq: u64, height: u64, timeout_ns: u64) -> PacketEvent {
    PacketEvent {
        kind: PacketEventKind::Send,
        packet: packet(seq, timeout_ns),
        height,
    }
}

/// Packet `seq` sent the other way: from `channel-1` to `channel-0`.
pub fn reverse_send_event(seq: u64, height: u64) -> PacketEvent {
    let mut p = packet(seq, 0);
    std::mem::swap(&mut p.source_channel, &mut p.destination_channel);
    PacketEvent {
        kind: PacketEventKind::Send,
        packet: p,
        height,
    }
}

pub fn ack_event(seq: u64, height: u64) -> PacketEvent {
    PacketEvent {
        kind: PacketEventKind::WriteAck { ack: vec![1] },
        packet: packet(seq, 0),
        height,
    }
}

#[async_trait]
impl Heights for FakeChain {
    fn id(&self) -> &ChainId {
        &self.id
    }
    async fn latest(&self) -> Result<(Height, u64)> {
        let panic = self.with(|s| {
            let p = s.panics > 0;
            s.panics = s.panics.saturating_sub(1);
            p
        });
        if panic {
            panic!("fake chain {} panics as asked", self.id);
        }
        let down = self.with(|s| {
            let d = s.latest_errors > 0;
            s.latest_errors = s.latest_errors.saturating_sub(1);
            d
        });
        if down {
            return Err(ChainError::Rpc {
                chain: self.id.clone(),
                method: "status",
                reason: "connection refused".into(),
            });
        }
        Ok(self.with(|s| {
            s.latest_reads += 1;
            (Height::new(0, s.height), s.time_ns)
        }))
    }
}

#[async_trait]
impl PacketEvents for FakeChain {
    fn subscribe(
        self: Arc<Self>,
        from_height: u64,
        sink: crate::chain::EventSink,
        mut shutdown: watch::Receiver<bool>,
    ) {
        self.with(|s| s.subscribed_from.push(from_height));
        // Delivers `events` as they are added (looked at every 20 ms), until shutdown.
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                let (events, height) = self.with(|s| (std::mem::take(&mut s.events), s.height));
                for ev in events {
                    sink.event(ev).await;
                }
                sink.scanned(height).await;
                tokio::select! {
                    r = shutdown.changed() => if r.is_err() { break },
                    _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                }
            }
        });
    }
    async fn sent_packet(
        &self,
        _: &PortId,
        _: &ChannelId,
        seq: u64,
    ) -> Result<Option<PacketEvent>> {
        Ok(self.with(|s| {
            s.send_lookups.push(seq);
            (s.sends_findable && s.commitments.contains(&seq)).then(|| send_event(seq, 10, 0))
        }))
    }
    async fn written_ack(&self, _: &PortId, _: &ChannelId, _: u64) -> Result<Option<PacketEvent>> {
        Ok(None)
    }
}

#[async_trait]
impl PacketQueries for FakeChain {
    async fn commitments(&self, _: &PortId, _: &ChannelId) -> Result<Vec<u64>> {
        Ok(self.with(|s| s.commitments.iter().copied().collect()))
    }
    async fn unreceived(&self, _: &PortId, _: &ChannelId, seqs: &[u64]) -> Result<Vec<u64>> {
        Ok(self.with(|s| {
            seqs.iter()
                .copied()
                .filter(|q| !s.received.contains(q))
                .collect()
        }))
    }
    async fn unreceived_acks(&self, _: &PortId, _: &ChannelId, seqs: &[u64]) -> Result<Vec<u64>> {
        Ok(self.with(|s| {
            seqs.iter()
                .copied()
                .filter(|q| s.commitments.contains(q))
                .collect()
        }))
    }
}

#[async_trait]
impl PacketProofs for FakeChain {
    fn proof_height_for(&self, event_height: u64) -> u64 {
        event_height + u64::from(!self.with(|s| s.proves_own_block))
    }
    async fn prove_commitment(
        &self,
        _: &PortId,
        _: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        let delay = self.with(|s| s.prove_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(Proof {
            bytes: seq.to_be_bytes().to_vec(),
            height: at,
        })
    }
    async fn prove_ack(&self, _: &PortId, _: &ChannelId, seq: u64, at: Height) -> Result<Proof> {
        Ok(Proof {
            bytes: seq.to_be_bytes().to_vec(),
            height: at,
        })
    }
    async fn prove_non_receipt(
        &self,
        _: &PortId,
        _: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        Ok(Proof {
            bytes: seq.to_be_bytes().to_vec(),
            height: at,
        })
    }
}

#[async_trait]
impl Headers for FakeChain {
    async fn client_headers(
        &self,
        _trusted: Height,
        target: Height,
        _anchor: &ConsensusAnchor,
    ) -> Result<Vec<Msg>> {
        Ok(vec![msg("header", target.revision_height)])
    }
}

#[async_trait]
impl ClientHost for FakeChain {
    async fn client_latest_height(&self, _: &ClientId) -> Result<Height> {
        Ok(Height::new(0, self.with(|s| s.client_height)))
    }
    async fn consensus_anchor(&self, _: &ClientId, _: Height) -> Result<ConsensusAnchor> {
        Ok(ConsensusAnchor {
            timestamp_ns: 0,
            next_validators_hash: vec![],
            committee: None,
            ibc_committee: None,
        })
    }
    fn update_client_msg(&self, _: &ClientId, header: Msg) -> Msg {
        Msg {
            type_url: "update".into(),
            value: header.value,
        }
    }
    fn recv_msg(&self, packet: &Packet, _: Proof) -> Msg {
        msg("recv", packet.sequence)
    }
    fn ack_msg(&self, packet: &Packet, _: &[u8], _: Proof) -> Msg {
        msg("ack", packet.sequence)
    }
    fn timeout_msg(&self, packet: &Packet, _: Proof) -> Msg {
        msg("timeout", packet.sequence)
    }
}

impl State {
    /// Why executing `c` now reverts, if it does (after `applied` earlier calls of the batch).
    fn reverts(&self, c: &Call, revert_on_mine: bool) -> Option<String> {
        let kind = kind_of(&c.0)?;
        let key = (kind, c.1);
        if self.always_fail.contains(&key) || (revert_on_mine && self.revert_on_mine.contains(&key))
        {
            return Some(format!("execution reverted: {} {} always fails", c.0, c.1));
        }
        match kind {
            PacketKind::Recv if self.received.contains(&c.1) => Some(format!(
                "execution reverted: PacketAlreadyReceived({})",
                c.1
            )),
            PacketKind::Ack | PacketKind::Timeout if !self.commitments.contains(&c.1) => {
                Some(format!("execution reverted: PacketNotPending({})", c.1))
            }
            _ => None,
        }
    }

    fn gas(&self, c: &Call) -> u64 {
        match kind_of(&c.0) {
            Some(k) if self.heavy.contains(&(k, c.1)) => self.max_gas + 1,
            _ => self.gas_per_msg,
        }
    }
}

#[async_trait]
impl Submit for FakeChain {
    async fn submit(&self, msgs: Vec<Msg>, packets: usize) -> Result<TxOutcome> {
        let p = self
            .broadcast(msgs, packets, &[], Priority::Backlog)
            .await?;
        self.confirm(p).await
    }

    async fn broadcast(
        &self,
        msgs: Vec<Msg>,
        packets: usize,
        after: &[Msg],
        priority: Priority,
    ) -> Result<PendingTx> {
        let calls: Vec<Call> = msgs.iter().map(call).collect();
        self.with(|s| {
            s.simulations += 1;
            // Later chunks are simulated behind the update they depend on: it must be in `after`
            // or in the batch itself whenever the client is behind.
            let culprits: Vec<(usize, String)> = calls
                .iter()
                .enumerate()
                .filter_map(|(i, c)| s.reverts(c, false).map(|r| (i, r)))
                .collect();
            if !culprits.is_empty() {
                return Err(ChainError::PacketsRejected {
                    chain: self.id.clone(),
                    reason: culprits[0].1.clone(),
                    culprits,
                });
            }
            let gas: u64 = after
                .iter()
                .map(call)
                .chain(calls.iter().cloned())
                .map(|c| s.gas(&c))
                .sum();
            if gas > s.max_gas {
                let culprits = calls
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| s.gas(c) > s.max_gas)
                    .map(|(i, _)| (i, format!("needs more than {} gas", s.max_gas)))
                    .collect();
                return Err(ChainError::GasAboveCap {
                    chain: self.id.clone(),
                    gas,
                    max_gas: s.max_gas,
                    culprits,
                });
            }
            if s.broadcasts_until_rpc_down
                .is_some_and(|k| s.next_tx as usize >= k)
            {
                return Err(ChainError::Rpc {
                    chain: self.id.clone(),
                    method: "broadcast",
                    reason: "connection refused".into(),
                });
            }
            s.next_tx += 1;
            let hash = format!("0x{:04x}", s.next_tx);
            s.sent.push(calls);
            s.sent_priority.push(priority);
            s.sent_after.push(after.iter().map(call).collect());
            s.pending.insert(hash.clone(), msgs);
            Ok(PendingTx {
                hash,
                packets,
                fee: 1,
                signer: 0,
            })
        })
    }

    async fn confirm(&self, pending: PendingTx) -> Result<TxOutcome> {
        let delay = self.with(|s| s.confirm_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.with(|s| {
            if let Some(out) = s.landed.remove(&pending.hash) {
                return Ok(out);
            }
            let msgs = s.pending.remove(&pending.hash).expect("known tx");
            let calls: Vec<Call> = msgs.iter().map(call).collect();
            s.height += 1;
            let culprits: Vec<(usize, String)> = calls
                .iter()
                .enumerate()
                .filter_map(|(i, c)| s.reverts(c, true).map(|r| (i, r)))
                .collect();
            if !culprits.is_empty() {
                s.reverted.push(calls);
                return Err(ChainError::Reverted {
                    chain: self.id.clone(),
                    tx: pending.hash.clone(),
                    reason: culprits[0].1.clone(),
                    culprits,
                });
            }
            for (kind, n) in &calls {
                match kind.as_str() {
                    "update" => s.client_height = s.client_height.max(*n),
                    "recv" => {
                        s.received.insert(*n);
                    }
                    _ => {
                        s.commitments.remove(n);
                    }
                }
            }
            let out = TxOutcome {
                hash: pending.hash.clone(),
                height: s.height,
                gas_used: 1,
                fee: 1,
                events: vec![],
            };
            if s.unconfirmed_answers > 0 {
                s.unconfirmed_answers -= 1;
                s.landed.insert(pending.hash.clone(), out);
                return Err(ChainError::Unconfirmed {
                    chain: self.id.clone(),
                    tx: pending.hash,
                    waited_secs: 30,
                });
            }
            Ok(out)
        })
    }

    fn max_msgs_per_tx(&self) -> usize {
        self.with(|s| s.max_msgs)
    }

    fn max_tx_bytes(&self) -> usize {
        1 << 20
    }
}

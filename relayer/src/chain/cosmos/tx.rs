//! Transactions: each signer's account sequence tracked locally so several txs can sit in the
//! mempool at once; recovered from the chain after "account sequence mismatch". Which signer sends
//! a tx is decided in `signers.rs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use cosmrs::tx::{Body, Fee, SignDoc, SignerInfo};
use prost::Message;

use super::prelude::PreludeGas;
use super::signers::Signer;
use super::CosmosChain;
use crate::chain::{ChainError, Msg, PendingTx, Priority, Result, Submit, TxOutcome};
use crate::telemetry::{metrics, TxErrorKind};

/// Cosmos SDK error codes (codespace `sdk`) Ferry reacts to.
const CODE_WRONG_SEQUENCE: u32 = 32;
const CODE_OUT_OF_GAS: u32 = 11;
const CODE_INSUFFICIENT_FEE: u32 = 13;

/// A simulation is signed with this fee: a zero fee would skip the fee deduction, whose gas the
/// real tx pays.
const SIMULATION_FEE: u128 = 1;
/// The real tx carries a larger gas limit and fee than its simulation: at most this many bytes
/// more, each charged `tx_size_cost_per_byte` (x/auth's default, 10).
const SIGNED_SIZE_SLACK_BYTES: u64 = 16;
const TX_SIZE_COST_PER_BYTE: u64 = 10;
/// Tries of one tx when the account sequence does not match, and the pause between them.
const ATTEMPTS: usize = 5;
const MISMATCH_PAUSE: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct SignerState {
    /// (account number, next sequence); `None` until first read from the chain or after a mismatch.
    account: Option<(u64, u64)>,
    /// Gas every tx of this signer pays besides its messages (signature check, fee deduction,
    /// envelope bytes); measured once. `u64::MAX` when it could not be measured.
    tx_overhead: Option<u64>,
    /// The gas of the client updates that later chunks were simulated behind: each chunk of a
    /// submit goes behind the same update, whose own simulation is then run once, not per chunk.
    prelude: PreludeGas,
}

fn to_cosmrs_any(m: &Msg) -> cosmrs::Any {
    cosmrs::Any {
        type_url: m.type_url.clone(),
        value: m.value.clone(),
    }
}

pub fn classify(codespace: &str, code: u32) -> TxErrorKind {
    match (codespace, code) {
        ("sdk", CODE_WRONG_SEQUENCE) => TxErrorKind::SequenceMismatch,
        ("sdk", CODE_OUT_OF_GAS) => TxErrorKind::OutOfGas,
        ("sdk", CODE_INSUFFICIENT_FEE) => TxErrorKind::InsufficientFee,
        _ => TxErrorKind::Rejected,
    }
}

/// The gas limit for a tx whose simulation used `simulated`: the signed tx's extra bytes, then the
/// operator's multiplier, capped at `max_gas`.
fn gas_limit(simulated: u64, multiplier: f64, max_gas: u64) -> u64 {
    let used = simulated.saturating_add(SIGNED_SIZE_SLACK_BYTES * TX_SIZE_COST_PER_BYTE);
    let gas = ((used as f64) * multiplier).ceil() as u64;
    gas.min(max_gas)
}

/// A bank send of one base unit of `denom` from `address` to itself.
fn self_send(address: &str, denom: &str) -> Msg {
    use cosmrs::proto::cosmos::bank::v1beta1::MsgSend;
    use cosmrs::proto::cosmos::base::v1beta1::Coin;
    let m = MsgSend {
        from_address: address.into(),
        to_address: address.into(),
        amount: vec![Coin {
            denom: denom.into(),
            amount: "1".into(),
        }],
    };
    Msg {
        type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
        value: m.encode_to_vec(),
    }
}

/// Our account view after the node said "expected `expected`" to a tx signed with `account`: a
/// node ahead of us is believed (txs of ours in its mempool, or someone else's); a node behind us
/// is most likely re-checking its mempool after a block, so the first time we keep our view and
/// wait, and after that we believe it (a tx of ours was dropped). Unreadable: read the chain.
fn next_view(account: (u64, u64), expected: Option<u64>, attempt: usize) -> Option<(u64, u64)> {
    match expected {
        Some(n) if n > account.1 || attempt > 0 => Some((account.0, n)),
        Some(_) => Some(account),
        None => None,
    }
}

/// "account sequence mismatch, expected 7, got 6: ..." → 7
fn expected_sequence(log: &str) -> Option<u64> {
    let rest = log.split("expected ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl CosmosChain {
    async fn query_account(&self, address: &str) -> Result<(u64, u64)> {
        let req = QueryAccountRequest {
            address: address.to_string(),
        };
        let res: QueryAccountResponse = self
            .grpc_query("/cosmos.auth.v1beta1.Query/Account", &req, None)
            .await?;
        let any = res
            .account
            .ok_or_else(|| self.malformed("abci_query", "no account"))?;
        let acc = BaseAccount::decode(any.value.as_slice())
            .map_err(|e| self.malformed("abci_query", e))?;
        Ok((acc.account_number, acc.sequence))
    }

    fn sign(
        &self,
        signer: &Signer,
        msgs: &[Msg],
        memo: &str,
        gas: u64,
        fee: u128,
        account: (u64, u64),
    ) -> Result<Vec<u8>> {
        let body = Body::new(msgs.iter().map(to_cosmrs_any), memo, 0u32);
        let coin = cosmrs::Coin {
            denom: self
                .config
                .gas_price
                .denom
                .parse()
                .map_err(|e| ChainError::Config {
                    chain: self.id.clone(),
                    reason: format!("gas_price denom: {e}"),
                })?,
            amount: fee,
        };
        let auth = SignerInfo::single_direct(Some(signer.key.public_key()), account.1)
            .auth_info(Fee::from_amount_and_gas(coin, gas));
        let chain_id: tendermint::chain::Id =
            self.id.as_str().parse().map_err(|e| ChainError::Config {
                chain: self.id.clone(),
                reason: format!("not a CometBFT chain id: {e}"),
            })?;
        let doc =
            SignDoc::new(&body, &auth, &chain_id, account.0).map_err(|e| ChainError::Encoding {
                what: "sign doc",
                reason: e.to_string(),
            })?;
        let raw = doc
            .sign(signer.key.signing_key())
            .map_err(|e| ChainError::Encoding {
                what: "signing",
                reason: e.to_string(),
            })?;
        raw.to_bytes().map_err(|e| ChainError::Encoding {
            what: "tx encoding",
            reason: e.to_string(),
        })
    }

    /// Gas for `msgs`: simulated × multiplier, capped at `max_gas`. `after` are messages of an
    /// earlier tx of this signer, not yet committed, that `msgs` depend on (a client update): they
    /// are simulated in front of `msgs`, their gas is subtracted, and the per-tx overhead that the
    /// subtraction removed is added back.
    async fn estimate_gas(
        &self,
        who: &Signer,
        msgs: &[Msg],
        memo: &str,
        account: (u64, u64),
        after: &[Msg],
        signer: &mut SignerState,
    ) -> Result<u64> {
        let used = if after.is_empty() {
            self.simulate_raw(who, msgs, memo, account).await?
        } else {
            let all: Vec<Msg> = after.iter().chain(msgs).cloned().collect();
            let both = self.simulate_raw(who, &all, memo, account).await?;
            let prelude = match signer.prelude.get(after) {
                Some(gas) => gas,
                None => {
                    let gas = self.simulate_raw(who, after, memo, account).await?;
                    signer.prelude.put(after, gas);
                    gas
                }
            };
            let overhead = match signer.tx_overhead {
                Some(o) => o,
                None => {
                    let o = self.measure_tx_overhead(who, memo, account).await;
                    signer.tx_overhead = Some(o);
                    o
                }
            };
            // The overhead is part of `prelude`; never more than it.
            both.saturating_sub(prelude) + overhead.min(prelude)
        };
        Ok(gas_limit(
            used,
            self.config.gas_multiplier,
            self.config.max_gas,
        ))
    }

    /// A tx's gas besides its messages, from two simulations of sends to self: one message and
    /// two. `u64::MAX` (callers then use the whole prelude's gas: an over-estimate, never an
    /// out-of-gas) when the chain will not simulate them.
    async fn measure_tx_overhead(&self, who: &Signer, memo: &str, account: (u64, u64)) -> u64 {
        let send = self_send(&who.address, &self.config.gas_price.denom);
        let one = self
            .simulate_raw(who, std::slice::from_ref(&send), memo, account)
            .await;
        let two = self
            .simulate_raw(who, &[send.clone(), send], memo, account)
            .await;
        match (one, two) {
            (Ok(one), Ok(two)) => {
                let overhead = (2 * one).saturating_sub(two);
                tracing::debug!(chain = %self.id, overhead, "per-tx gas overhead measured");
                overhead
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(chain = %self.id, error = %e, "could not measure the per-tx gas overhead; txs behind a client update get the update's whole gas");
                u64::MAX
            }
        }
    }

    /// Gas used by `msgs` in a simulation.
    async fn simulate_raw(
        &self,
        who: &Signer,
        msgs: &[Msg],
        memo: &str,
        account: (u64, u64),
    ) -> Result<u64> {
        let tx_bytes = self.sign(
            who,
            msgs,
            memo,
            self.config.default_gas,
            SIMULATION_FEE,
            account,
        )?;
        #[allow(deprecated)]
        let req = SimulateRequest { tx: None, tx_bytes };
        let res: SimulateResponse = self
            .grpc_query("/cosmos.tx.v1beta1.Service/Simulate", &req, None)
            .await
            .map_err(|e| {
                let (kind, err) = match e {
                    ChainError::Query {
                        codespace,
                        code,
                        log,
                        ..
                    } => {
                        // By the SDK error code, the inner one for a wrapped simulation error.
                        let kind = match super::sdk_errors::sdk_code(&codespace, code, &log) {
                            Some(CODE_WRONG_SEQUENCE) => TxErrorKind::SequenceMismatch,
                            _ => TxErrorKind::Simulation,
                        };
                        let err = ChainError::Tx {
                            chain: self.id.clone(),
                            kind,
                            codespace,
                            code,
                            log,
                        };
                        (kind, err)
                    }
                    other => (TxErrorKind::Simulation, other),
                };
                metrics().tx_failed(self.id.as_str(), kind);
                err
            })?;
        Ok(res
            .gas_info
            .map(|g| g.gas_used)
            .unwrap_or(self.config.default_gas))
    }

    pub fn fee_for(&self, gas: u64) -> u128 {
        (gas as f64 * self.config.gas_price.amount).ceil() as u128
    }

    /// Simulate, sign and broadcast under the chosen signer's lock; its local sequence advances on
    /// acceptance.
    pub async fn broadcast_msgs(
        &self,
        msgs: Vec<Msg>,
        memo: &str,
        packets: usize,
        after: &[Msg],
        priority: Priority,
    ) -> Result<PendingTx> {
        let (idx, mut signer, msgs, after) = self.signers.pick(&msgs, after, priority).await;
        let after = after.as_slice();
        let who = &self.signers.list[idx];
        // Every retry is guarded by `attempt + 1 < ATTEMPTS`, so the last attempt returns.
        let mut attempt = 0;
        loop {
            let account = match signer.account {
                Some(a) => a,
                None => {
                    let a = self.query_account(&who.address).await?;
                    signer.account = Some(a);
                    a
                }
            };
            let started = Instant::now();
            let gas = match self
                .estimate_gas(who, &msgs, memo, account, after, &mut signer)
                .await
            {
                Ok(g) => g,
                Err(ChainError::Tx {
                    kind: TxErrorKind::SequenceMismatch,
                    log,
                    ..
                }) if attempt + 1 < ATTEMPTS => {
                    // The simulation ran against the node's check state. Ahead of us: our view is
                    // stale (txs of ours in the mempool, or someone else's), take its number.
                    // Behind us: the node is re-checking its mempool after a block; wait.
                    signer.account = next_view(account, expected_sequence(&log), attempt);
                    tokio::time::sleep(MISMATCH_PAUSE).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let simulated = started.elapsed();
            let fee = self.fee_for(gas);
            let tx_bytes = self.sign(who, &msgs, memo, gas, fee, account)?;
            if tx_bytes.len() > self.config.max_tx_bytes {
                return Err(ChainError::TxTooLarge {
                    chain: self.id.clone(),
                    bytes: tx_bytes.len(),
                    max: self.config.max_tx_bytes,
                });
            }
            let res = self
                .rpc
                .call("broadcast_tx_sync", |c| {
                    tendermint_rpc::Client::broadcast_tx_sync(c, tx_bytes.clone())
                })
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => {
                    metrics().tx_failed(self.id.as_str(), TxErrorKind::Rpc);
                    // Unknown whether it reached the mempool: re-read the sequence before the next tx.
                    signer.account = None;
                    return Err(e);
                }
            };
            if res.code.is_ok() {
                signer.account = Some((account.0, account.1 + 1));
                metrics().tx_submitted(self.id.as_str());
                tracing::debug!(
                    chain = %self.id, tx = %res.hash, msgs = msgs.len(), behind_update = !after.is_empty(), gas,
                    simulate_ms = simulated.as_millis() as u64,
                    broadcast_ms = (started.elapsed() - simulated).as_millis() as u64,
                    "tx in the mempool"
                );
                return Ok(PendingTx {
                    hash: res.hash.to_string(),
                    packets,
                    fee,
                    signer: idx,
                });
            }
            let kind = classify(&res.codespace, res.code.value());
            metrics().tx_failed(self.id.as_str(), kind);
            if kind == TxErrorKind::SequenceMismatch && attempt + 1 < ATTEMPTS {
                tracing::warn!(chain = %self.id, log = %res.log, "account sequence mismatch; recovering");
                signer.account = next_view(account, expected_sequence(&res.log), attempt);
                tokio::time::sleep(MISMATCH_PAUSE).await;
                attempt += 1;
                continue;
            }
            return Err(ChainError::Tx {
                chain: self.id.clone(),
                kind,
                codespace: res.codespace,
                code: res.code.value(),
                log: res.log,
            });
        }
    }

    /// Wait until the tx is in a block; report its result. `Unconfirmed` after
    /// `tx_confirm_timeout`: calling again with the same `pending` looks it up again.
    /// Wait for `pending` to commit. `with_events`: the outcome carries the tx's events (the ids a
    /// handshake tx created); without, none are copied. A lane confirms dozens of batch txs at
    /// once, and their flattened events were the largest part of its peak heap (heaptrack on
    /// workload 2, BENCHMARKS.md).
    pub async fn confirm_tx(&self, pending: PendingTx, with_events: bool) -> Result<TxOutcome> {
        let hash: tendermint::Hash =
            pending
                .hash
                .parse()
                .map_err(|_| ChainError::InvalidTxHash {
                    given: pending.hash.clone(),
                    expected: "64 hex digits",
                })?;
        let deadline = Instant::now() + self.config.tx_confirm_timeout;
        loop {
            match self
                .rpc
                .call_expecting(
                    "tx",
                    |c| tendermint_rpc::Client::tx(c, hash, false),
                    // The node answers "not found" until the tx is in a block: an answer, not
                    // an RPC failure (an unreachable node still counts as one).
                    super::rpc::is_answer_error,
                )
                .await
            {
                Ok(res) => {
                    let r = res.tx_result;
                    let events = if with_events {
                        super::events::flatten(&r.events)
                    } else {
                        Vec::new()
                    };
                    if r.code.is_err() {
                        let kind = classify(&r.codespace, r.code.value());
                        metrics().tx_failed(self.id.as_str(), kind);
                        // The sequence was consumed, but a failed tx can hint at a stale local view.
                        return Err(ChainError::Tx {
                            chain: self.id.clone(),
                            kind,
                            codespace: r.codespace,
                            code: r.code.value(),
                            log: r.log,
                        });
                    }
                    let gas_used = r.gas_used.max(0) as u64;
                    metrics().tx_confirmed(
                        self.id.as_str(),
                        gas_used,
                        pending.fee,
                        &self.config.gas_price.denom,
                        pending.packets,
                    );
                    return Ok(TxOutcome {
                        hash: pending.hash,
                        height: res.height.value(),
                        gas_used,
                        fee: pending.fee,
                        events,
                    });
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(300)).await
                }
                Err(e) => {
                    // Not a failure on chain (yet): the caller looks it up again before resending.
                    tracing::warn!(chain = %self.id, tx = %pending.hash, error = %e, "tx not committed within tx_confirm_timeout");
                    if let Some(s) = self.signers.list.get(pending.signer) {
                        s.state.lock(Priority::Backlog).await.account = None;
                    }
                    return Err(ChainError::Unconfirmed {
                        chain: self.id.clone(),
                        tx: pending.hash,
                        waited_secs: self.config.tx_confirm_timeout.as_secs(),
                    });
                }
            }
        }
    }
}

#[async_trait]
impl Submit for CosmosChain {
    async fn submit(&self, msgs: Vec<Msg>, packets: usize) -> Result<TxOutcome> {
        let pending = self
            .broadcast_msgs(msgs, "", packets, &[], Priority::Backlog)
            .await?;
        self.confirm_tx(pending, true).await
    }
    async fn broadcast(
        &self,
        msgs: Vec<Msg>,
        packets: usize,
        after: &[Msg],
        priority: Priority,
    ) -> Result<PendingTx> {
        self.broadcast_msgs(msgs, "", packets, after, priority)
            .await
    }
    async fn confirm(&self, pending: PendingTx) -> Result<TxOutcome> {
        self.confirm_tx(pending, false).await
    }
    fn max_msgs_per_tx(&self) -> usize {
        self.config.max_msgs_per_tx
    }
    fn max_tx_bytes(&self) -> usize {
        self.config.max_tx_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expected_sequence_from_log() {
        assert_eq!(
            expected_sequence(
                "account sequence mismatch, expected 7, got 6: incorrect account sequence"
            ),
            Some(7)
        );
        assert_eq!(expected_sequence("out of gas"), None);
    }

    #[test]
    fn gas_limit_covers_the_signed_size_then_the_multiplier() {
        assert_eq!(gas_limit(100_000, 1.0, 10_000_000), 100_160);
        assert_eq!(gas_limit(100_000, 1.5, 10_000_000), 150_240);
        assert_eq!(gas_limit(100_000, 1.5, 120_000), 120_000);
    }

    #[test]
    fn a_node_ahead_is_believed_a_node_behind_once_waited_for() {
        assert_eq!(next_view((1, 5), Some(7), 0), Some((1, 7)));
        assert_eq!(next_view((1, 5), Some(3), 0), Some((1, 5)));
        assert_eq!(next_view((1, 5), Some(3), 1), Some((1, 3)));
        assert_eq!(next_view((1, 5), None, 0), None);
    }

    #[test]
    fn classifies_sdk_codes() {
        assert_eq!(classify("sdk", 32), TxErrorKind::SequenceMismatch);
        assert_eq!(classify("sdk", 11), TxErrorKind::OutOfGas);
        assert_eq!(classify("sdk", 13), TxErrorKind::InsufficientFee);
        assert_eq!(classify("ibc", 2), TxErrorKind::Rejected);
    }
}

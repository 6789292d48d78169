//! Transactions: all of a batch's router calls go in one transaction (`multicall` when more than one),
//! EIP-1559 fees under the configured cap, a local nonce that recovers from "nonce too low", stuck
//! transactions replaced with a bumped fee, and receipts awaited to the configured depth.
//!
//! A batch is simulated (`eth_estimateGas`) before it is sent and never sent when it reverts or
//! needs more than `max_gas`. Then each packet call is simulated on its own behind the batch's
//! client updates, and the calls at fault come back as `ChainError::PacketsRejected` /
//! `GasAboveCap` with their indices, so the router can send the rest without them. A batch mined
//! but reverted is `ChainError::Reverted`, with the calls at fault found the same way.
//! Every number read from the node is converted with a check: an answer that does not fit is
//! `ChainError::Malformed`, never a panic.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use ethers::providers::Middleware;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{Bytes, Eip1559TransactionRequest, TransactionReceipt, H256, U256};

use super::abi::ferry_router::MulticallCall;
use super::call_error::CallError;
use super::packets::ROUTER_CALL;
use super::simulate::Sim;
use super::EvmChain;
use crate::chain::{ChainError, Msg, PendingTx, Priority, Result, Submit, TxOutcome};
use crate::ibc::ChainId;
use crate::telemetry::{metrics, TxErrorKind};

/// `v`, a quantity from `method`'s answer, as a u64; Malformed when it does not fit.
pub(crate) fn to_u64(chain: &ChainId, method: &'static str, what: &str, v: U256) -> Result<u64> {
    u64::try_from(v).map_err(|_| ChainError::Malformed {
        chain: chain.clone(),
        method,
        reason: format!("{what} {v} does not fit in 64 bits"),
    })
}

/// As [`to_u64`], for 128 bits (wei amounts and prices).
pub(crate) fn to_u128(chain: &ChainId, method: &'static str, what: &str, v: U256) -> Result<u128> {
    u128::try_from(v).map_err(|_| ChainError::Malformed {
        chain: chain.clone(),
        method,
        reason: format!("{what} {v} does not fit in 128 bits"),
    })
}

/// How often an unmined tx is looked up in the node's pool.
const DROPPED_CHECK: Duration = Duration::from_secs(2);
/// Replacements need at least 10% more on both fees; 12.5% clears every client's rule.
const BUMP_NUM: u128 = 9;
const BUMP_DEN: u128 = 8;

#[derive(Default)]
pub struct NonceState {
    next: Option<u64>,
}

/// What was sent under one nonce, kept until confirmed so it can be replaced.
#[derive(Clone)]
pub struct Sent {
    nonce: u64,
    to_data: Bytes,
    gas: U256,
    max_fee: u128,
    tip: u128,
    /// Every hash sent for this nonce (the original and its replacements).
    hashes: Vec<H256>,
    packets: usize,
    /// The batch's messages and the earlier ones it was simulated behind, to find the calls at
    /// fault if it reverts.
    msgs: Vec<Msg>,
    after: Vec<Msg>,
    /// Known only by its hash (sent by an earlier run of Ferry, restored from the store): looked
    /// up, never replaced, since its nonce and calldata are not at hand.
    resumed: bool,
}

impl EvmChain {
    fn tx_err(&self, kind: TxErrorKind, log: String) -> ChainError {
        metrics().tx_failed(self.id.as_str(), kind);
        ChainError::Tx {
            chain: self.id.clone(),
            kind,
            codespace: "evm".into(),
            code: 0,
            log,
        }
    }

    /// One calldata for all of `msgs`: the call itself, or a `multicall` of them.
    pub(super) fn calldata(&self, msgs: &[Msg]) -> Result<Bytes> {
        if let Some(m) = msgs.iter().find(|m| m.type_url != ROUTER_CALL) {
            return Err(ChainError::Encoding {
                what: "EVM calldata",
                reason: format!("{} cannot carry a `{}` message", self.id, m.type_url),
            });
        }
        Ok(match msgs {
            [one] => one.value.clone().into(),
            many => ethers::abi::AbiEncode::encode(MulticallCall {
                calls: many.iter().map(|m| Bytes::from(m.value.clone())).collect(),
            })
            .into(),
        })
    }

    pub(super) fn request(
        &self,
        data: Bytes,
        gas: Option<U256>,
        max_fee: u128,
        tip: u128,
        nonce: Option<u64>,
    ) -> TypedTransaction {
        let mut r = Eip1559TransactionRequest::new()
            .from(self.address)
            .to(self.evm.router)
            .data(data)
            .chain_id(self.evm.chain_id)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(tip);
        if let Some(g) = gas {
            r = r.gas(g);
        }
        if let Some(n) = nonce {
            r = r.nonce(n);
        }
        r.into()
    }

    /// Fees for the next block: twice the base fee plus the tip, never above the cap.
    async fn fees(&self) -> Result<(u128, u128)> {
        let block = self
            .rpc("eth_getBlockByNumber", |p| async move {
                p.get_block(ethers::types::BlockNumber::Latest)
                    .await
                    .map_err(CallError::from)?
                    .ok_or_else(|| CallError::from("no latest block".to_string()))
            })
            .await?;
        let base = to_u128(
            &self.id,
            "eth_getBlockByNumber",
            "base fee",
            block.base_fee_per_gas.unwrap_or_default(),
        )?;
        let (cap, tip) = (self.evm.max_fee_wei, self.evm.priority_fee_wei);
        if base.checked_add(tip).is_none_or(|total| total > cap) {
            return Err(self.tx_err(
                TxErrorKind::InsufficientFee,
                format!(
                    "base fee {base} wei + tip {tip} wei exceeds the fee cap gas_price ({cap} wei)"
                ),
            ));
        }
        Ok((base.saturating_mul(2).saturating_add(tip).min(cap), tip))
    }

    async fn next_nonce(&self, state: &mut super::tx::NonceState, refresh: bool) -> Result<u64> {
        if refresh || state.next.is_none() {
            state.next = Some(self.chain_nonce().await?);
        }
        Ok(state.next.expect("set above"))
    }

    /// The next nonce of Ferry's key as the chain sees it (pending txs included).
    async fn chain_nonce(&self) -> Result<u64> {
        let addr = self.address;
        let n = self
            .rpc("eth_getTransactionCount", |p| async move {
                p.get_transaction_count(addr, Some(ethers::types::BlockNumber::Pending.into()))
                    .await
                    .map_err(CallError::from)
            })
            .await?;
        to_u64(&self.id, "eth_getTransactionCount", "nonce", n)
    }

    async fn send_signed(&self, tx: &TypedTransaction) -> std::result::Result<H256, String> {
        let sig = self
            .wallet
            .sign_transaction_sync(tx)
            .map_err(|e| e.to_string())?;
        let raw = tx.rlp_signed(&sig);
        let p = self.provider();
        let pending = p
            .send_raw_transaction(raw)
            .await
            .map_err(|e| e.to_string())?;
        Ok(pending.tx_hash())
    }

    /// Sign and send under the next nonce. A refused send is judged by the chain's state, not the
    /// node's wording: when the chain's pending nonce has moved past the one used (another sender
    /// of this key, or a restart), the nonce is re-read once and the tx sent again.
    async fn send(
        &self,
        data: Bytes,
        gas: u64,
        packets: usize,
        msgs: Vec<Msg>,
        after: Vec<Msg>,
        priority: Priority,
    ) -> Result<PendingTx> {
        let gas_limit = U256::from(gas);
        let (max_fee, tip) = self.fees().await?;
        let mut state = self.signer.lock(priority).await;
        let mut refresh = false;
        for _ in 0..2 {
            let nonce = self.next_nonce(&mut state, refresh).await?;
            let tx = self.request(data.clone(), Some(gas_limit), max_fee, tip, Some(nonce));
            let t = Instant::now();
            let out = self.send_signed(&tx).await;
            metrics().rpc(
                self.id.as_str(),
                "eth_sendRawTransaction",
                t.elapsed().as_secs_f64(),
                out.is_ok(),
            );
            match out {
                Ok(hash) => {
                    state.next = Some(nonce + 1);
                    metrics().tx_submitted(self.id.as_str());
                    self.sent.lock().expect("not poisoned").insert(
                        hash,
                        Sent {
                            nonce,
                            to_data: data,
                            gas: gas_limit,
                            max_fee,
                            tip,
                            hashes: vec![hash],
                            packets,
                            msgs,
                            after,
                            resumed: false,
                        },
                    );
                    return Ok(PendingTx {
                        hash: format!("{hash:?}"),
                        packets,
                        fee: u128::from(gas).saturating_mul(max_fee),
                        signer: 0,
                    });
                }
                Err(e) if !refresh => {
                    let chain_next = self.chain_nonce().await?;
                    if chain_next <= nonce {
                        return Err(self.tx_err(TxErrorKind::Rpc, e));
                    }
                    tracing::warn!(chain = %self.id, nonce, chain_next, "the chain is past the local nonce; sending again under its nonce");
                    metrics().tx_failed(self.id.as_str(), TxErrorKind::SequenceMismatch);
                    refresh = true;
                }
                Err(e) => return Err(self.tx_err(TxErrorKind::Rpc, e)),
            }
        }
        Err(self.tx_err(
            TxErrorKind::SequenceMismatch,
            "nonce still too low after re-reading it".into(),
        ))
    }

    /// Send `sent` again under its nonce with both fees raised by 12.5% (within the cap).
    async fn replace(&self, sent: &mut Sent) -> Result<()> {
        let bump = |x: u128| (x * BUMP_NUM).div_ceil(BUMP_DEN);
        let (max_fee, tip) = (bump(sent.max_fee).min(self.evm.max_fee_wei), bump(sent.tip));
        if max_fee <= sent.max_fee || tip > max_fee {
            return Err(self.tx_err(
                TxErrorKind::InsufficientFee,
                format!(
                    "nonce {} is stuck and the fee cap ({} wei) leaves no room to replace it",
                    sent.nonce, self.evm.max_fee_wei
                ),
            ));
        }
        let tx = self.request(
            sent.to_data.clone(),
            Some(sent.gas),
            max_fee,
            tip,
            Some(sent.nonce),
        );
        match self.send_signed(&tx).await {
            Ok(h) => {
                tracing::warn!(chain = %self.id, nonce = sent.nonce, tx = ?h, max_fee, "replaced a stuck transaction with a higher fee");
                sent.hashes.push(h);
                sent.max_fee = max_fee;
                sent.tip = tip;
                Ok(())
            }
            Err(e) => {
                // Refused because a tx under this nonce was mined meanwhile: the receipt loop
                // finds it. Judged by the chain's nonce, not the node's wording.
                if self.chain_nonce().await? > sent.nonce {
                    return Ok(());
                }
                Err(self.tx_err(TxErrorKind::Rpc, e))
            }
        }
    }

    /// A tx an earlier run sent (restored from the store by its hash). The node's copy, while it
    /// has one, gives its nonce, calldata and fees, so a stuck one is replaced like any other;
    /// without it (mined, or dropped from the mempool) it is only looked up.
    async fn resumed(&self, hash: H256, packets: usize) -> Sent {
        let node = self
            .rpc("eth_getTransactionByHash", |p| async move {
                p.get_transaction(hash).await.map_err(CallError::from)
            })
            .await;
        let mut sent = Sent {
            nonce: 0,
            to_data: Bytes::default(),
            gas: U256::zero(),
            max_fee: 0,
            tip: 0,
            hashes: vec![hash],
            packets,
            msgs: Vec::new(),
            after: Vec::new(),
            resumed: true,
        };
        if let Ok(Some(tx)) = node {
            // Replaced only as what Ferry sends: from its key, to the router.
            let mine = tx.from == self.address && tx.to == Some(self.evm.router);
            let fees = (tx.max_fee_per_gas, tx.max_priority_fee_per_gas);
            if let (true, None, (Some(max_fee), Some(tip))) = (mine, tx.block_number, fees) {
                sent.nonce = tx.nonce.low_u64();
                sent.to_data = tx.input;
                sent.gas = tx.gas;
                sent.max_fee = max_fee.low_u128();
                sent.tip = tip.low_u128();
                sent.resumed = false;
                tracing::info!(chain = %self.id, tx = ?hash, nonce = sent.nonce, "an earlier run's tx is still pending; it is replaced if it stays stuck");
            }
        }
        sent
    }

    /// True when the node knows none of the hashes sent under `sent`'s nonce (dropped from its
    /// pool, so nothing would ever mine them, and every later nonce waits behind them).
    async fn dropped(&self, sent: &Sent) -> Result<bool> {
        for h in &sent.hashes {
            let h = *h;
            let known = self
                .rpc("eth_getTransactionByHash", |p| async move {
                    p.get_transaction(h).await.map_err(CallError::from)
                })
                .await?;
            if known.is_some() {
                return Ok(false);
            }
        }
        tracing::warn!(chain = %self.id, nonce = sent.nonce, "the node dropped our pending transaction; sending it again");
        Ok(true)
    }

    async fn receipt(&self, hash: H256) -> Result<Option<TransactionReceipt>> {
        self.rpc("eth_getTransactionReceipt", |p| async move {
            p.get_transaction_receipt(hash)
                .await
                .map_err(CallError::from)
        })
        .await
    }

    /// The reason a mined transaction reverted, by replaying it at its block.
    async fn revert_reason(&self, sent: &Sent, block: u64) -> String {
        let tx = self.request(
            sent.to_data.clone(),
            Some(sent.gas),
            sent.max_fee,
            sent.tip,
            None,
        );
        let p = self.provider();
        match p.call(&tx, Some(block.saturating_sub(1).into())).await {
            Err(e) => e.to_string(),
            Ok(_) => "reverted (no reason on replay)".into(),
        }
    }
}

#[async_trait]
impl Submit for EvmChain {
    async fn submit(&self, msgs: Vec<Msg>, packets: usize) -> Result<TxOutcome> {
        let pending = self
            .broadcast(msgs, packets, &[], Priority::Backlog)
            .await?;
        self.confirm(pending).await
    }

    async fn broadcast(
        &self,
        msgs: Vec<Msg>,
        packets: usize,
        after: &[Msg],
        priority: Priority,
    ) -> Result<PendingTx> {
        let data = self.calldata(&msgs)?;
        // Calls that prove against a client update still in the mempool are estimated behind
        // it (an overestimate by the update's gas).
        let both: Vec<Msg> = after.iter().chain(msgs.iter()).cloned().collect();
        match self.simulate(&both).await? {
            Sim::Gas(gas) if gas <= self.config.max_gas => {
                self.send(data, gas, packets, msgs, after.to_vec(), priority)
                    .await
            }
            Sim::Gas(gas) => {
                // Never sent: it would run out of gas at the cap and be paid for anyway.
                metrics().tx_failed(self.id.as_str(), TxErrorKind::OutOfGas);
                let culprits = self.culprits(&msgs, after, true).await;
                Err(ChainError::GasAboveCap {
                    chain: self.id.clone(),
                    gas,
                    max_gas: self.config.max_gas,
                    culprits,
                })
            }
            Sim::Reverts(reason) => {
                metrics().tx_failed(self.id.as_str(), TxErrorKind::Simulation);
                let culprits = self.culprits(&msgs, after, false).await;
                Err(ChainError::PacketsRejected {
                    chain: self.id.clone(),
                    reason,
                    culprits,
                })
            }
        }
    }

    async fn confirm(&self, pending: PendingTx) -> Result<TxOutcome> {
        let first: H256 = pending
            .hash
            .parse()
            .map_err(|_| ChainError::InvalidTxHash {
                given: pending.hash.clone(),
                expected: "0x and 64 hex digits",
            })?;
        let known = self.sent.lock().expect("not poisoned").get(&first).cloned();
        let mut sent = match known {
            Some(s) => s,
            None => self.resumed(first, pending.packets).await,
        };
        let started = Instant::now();
        let limit = self.config.tx_confirm_timeout;
        let mut replaced_at = Instant::now();
        let mut looked_up_at = Instant::now();
        let outcome = loop {
            let mut found = None;
            for h in sent.hashes.iter().rev() {
                if let Some(r) = self.receipt(*h).await? {
                    found = Some(r);
                    break;
                }
            }
            if let Some(r) = found {
                // U64: as_u64 cannot overflow.
                let mined = r.block_number.unwrap_or_default().as_u64();
                let (head, _) = self.heads().await?;
                if head >= mined.saturating_add(self.evm.confirmations) {
                    break r;
                }
            } else if !sent.resumed {
                // Not mined for a third of the budget, or no longer in the node's pool: outbid
                // ourselves (and remember the replacement, for a later lookup of this tx).
                let mut resend = replaced_at.elapsed() > limit / 3;
                if !resend && looked_up_at.elapsed() > DROPPED_CHECK {
                    looked_up_at = Instant::now();
                    resend = self.dropped(&sent).await?;
                }
                if resend {
                    self.replace(&mut sent).await?;
                    self.sent
                        .lock()
                        .expect("not poisoned")
                        .insert(first, sent.clone());
                    replaced_at = Instant::now();
                }
            }
            if started.elapsed() > limit {
                // Kept in `sent` (with its replacements): confirming the same tx again resumes the
                // lookup, and its nonce is replaced, never forgotten.
                return Err(ChainError::Unconfirmed {
                    chain: self.id.clone(),
                    tx: pending.hash,
                    waited_secs: limit.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        self.sent.lock().expect("not poisoned").remove(&first);
        let block = outcome.block_number.unwrap_or_default().as_u64();
        let method = "eth_getTransactionReceipt";
        let gas_used = to_u64(
            &self.id,
            method,
            "gas used",
            outcome.gas_used.unwrap_or_default(),
        )?;
        let price = to_u128(
            &self.id,
            method,
            "effective gas price",
            outcome.effective_gas_price.unwrap_or_default(),
        )?;
        let fee = u128::from(gas_used).saturating_mul(price);
        if outcome.status != Some(1u64.into()) {
            // Paid for and no effect: counted, and the calls at fault named.
            metrics().tx_failed(self.id.as_str(), TxErrorKind::Rejected);
            metrics().tx_reverted(self.id.as_str(), gas_used, fee, "wei");
            let reason = self.revert_reason(&sent, block).await;
            let culprits = self.culprits(&sent.msgs, &sent.after, false).await;
            return Err(ChainError::Reverted {
                chain: self.id.clone(),
                tx: format!("{:?}", outcome.transaction_hash),
                reason,
                culprits,
            });
        }
        metrics().tx_confirmed(self.id.as_str(), gas_used, fee, "wei", sent.packets);
        Ok(TxOutcome {
            hash: format!("{:?}", outcome.transaction_hash),
            height: block,
            gas_used,
            fee,
            events: vec![],
        })
    }

    fn max_msgs_per_tx(&self) -> usize {
        self.config.max_msgs_per_tx
    }

    fn max_tx_bytes(&self) -> usize {
        self.config.max_tx_bytes
    }
}

#[cfg(test)]
#[path = "tx_tests.rs"]
mod tests;

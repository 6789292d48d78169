//! Transactions: all of a batch's router calls go in one transaction (`multicall` when more than one),
//! EIP-1559 fees under the configured cap, a local nonce that recovers from "nonce too low", stuck
//! transactions replaced with a bumped fee, and receipts awaited to the configured depth.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use ethers::providers::Middleware;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{Bytes, Eip1559TransactionRequest, TransactionReceipt, H256, U256};

use super::abi::ferry_router::MulticallCall;
use super::packets::ROUTER_CALL;
use super::{is_revert, EvmChain};
use crate::chain::{ChainError, Msg, PendingTx, Result, Submit, TxOutcome};
use crate::telemetry::{metrics, TxErrorKind};

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
}

impl EvmChain {
    fn tx_err(&self, kind: TxErrorKind, log: String) -> ChainError {
        metrics().tx_failed(self.id.as_str(), kind);
        ChainError::Tx {
            chain: self.id.clone(),
            kind,
            code: 0,
            log,
        }
    }

    /// One calldata for all of `msgs`: the call itself, or a `multicall` of them.
    fn calldata(&self, msgs: &[Msg]) -> Result<Bytes> {
        if let Some(m) = msgs.iter().find(|m| m.type_url != ROUTER_CALL) {
            return Err(ChainError::Other(format!(
                "{} cannot carry a `{}` message",
                self.id, m.type_url
            )));
        }
        Ok(match msgs {
            [one] => one.value.clone().into(),
            many => ethers::abi::AbiEncode::encode(MulticallCall {
                calls: many.iter().map(|m| Bytes::from(m.value.clone())).collect(),
            })
            .into(),
        })
    }

    fn request(
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
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "no latest block".to_string())
            })
            .await?;
        let base = block.base_fee_per_gas.unwrap_or_default().as_u128();
        let (cap, tip) = (self.evm.max_fee_wei, self.evm.priority_fee_wei);
        if base + tip > cap {
            return Err(self.tx_err(
                TxErrorKind::InsufficientFee,
                format!(
                    "base fee {base} wei + tip {tip} wei exceeds the fee cap gas_price ({cap} wei)"
                ),
            ));
        }
        Ok(((2 * base + tip).min(cap), tip))
    }

    /// Gas for `data` times the multiplier, capped at `max_gas`; a revert is a simulation failure.
    async fn estimate(&self, data: Bytes) -> Result<U256> {
        let tx = self.request(
            data,
            None,
            self.evm.max_fee_wei,
            self.evm.priority_fee_wei,
            None,
        );
        let gas = self
            .rpc("eth_estimateGas", |p| {
                let tx = tx.clone();
                async move { p.estimate_gas(&tx, None).await.map_err(|e| e.to_string()) }
            })
            .await
            .map_err(|e| match e {
                ChainError::Rpc { reason, .. } if is_revert(&reason) => {
                    self.tx_err(TxErrorKind::Simulation, reason)
                }
                other => other,
            })?;
        let scaled = gas.as_u128() as f64 * self.config.gas_multiplier;
        Ok(U256::from((scaled as u64).min(self.config.max_gas)))
    }

    async fn next_nonce(&self, state: &mut super::tx::NonceState, refresh: bool) -> Result<u64> {
        if refresh || state.next.is_none() {
            let addr = self.address;
            let n = self
                .rpc("eth_getTransactionCount", |p| async move {
                    p.get_transaction_count(addr, Some(ethers::types::BlockNumber::Pending.into()))
                        .await
                        .map_err(|e| e.to_string())
                })
                .await?;
            state.next = Some(n.as_u64());
        }
        Ok(state.next.expect("set above"))
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

    /// Sign and send under the next nonce; on "nonce too low" re-read the nonce once and retry.
    async fn send(&self, data: Bytes, gas: U256, packets: usize) -> Result<PendingTx> {
        let (max_fee, tip) = self.fees().await?;
        let mut state = self.signer.lock().await;
        let mut refresh = false;
        for _ in 0..2 {
            let nonce = self.next_nonce(&mut state, refresh).await?;
            let tx = self.request(data.clone(), Some(gas), max_fee, tip, Some(nonce));
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
                            gas,
                            max_fee,
                            tip,
                            hashes: vec![hash],
                            packets,
                        },
                    );
                    return Ok(PendingTx {
                        hash: format!("{hash:?}"),
                        packets,
                        fee: gas.as_u128() * max_fee,
                    });
                }
                Err(e) if e.to_ascii_lowercase().contains("nonce too low") && !refresh => {
                    tracing::warn!(chain = %self.id, nonce, "nonce too low; re-reading it from the chain");
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
            // Mined meanwhile: the receipt loop will find it.
            Err(e) if e.to_ascii_lowercase().contains("nonce too low") => Ok(()),
            Err(e) => Err(self.tx_err(TxErrorKind::Rpc, e)),
        }
    }

    async fn receipt(&self, hash: H256) -> Result<Option<TransactionReceipt>> {
        self.rpc("eth_getTransactionReceipt", |p| async move {
            p.get_transaction_receipt(hash)
                .await
                .map_err(|e| e.to_string())
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
        let pending = self.broadcast(msgs, packets, &[]).await?;
        self.confirm(pending).await
    }

    async fn broadcast(&self, msgs: Vec<Msg>, packets: usize, after: &[Msg]) -> Result<PendingTx> {
        let data = self.calldata(&msgs)?;
        // Calls that prove against a client update still in the mempool are estimated behind
        // it (an overestimate by the update's gas).
        let gas = if after.is_empty() {
            self.estimate(data.clone()).await?
        } else {
            let both: Vec<Msg> = after.iter().chain(msgs.iter()).cloned().collect();
            self.estimate(self.calldata(&both)?).await?
        };
        self.send(data, gas, packets).await
    }

    async fn confirm(&self, pending: PendingTx) -> Result<TxOutcome> {
        let first: H256 = pending
            .hash
            .parse()
            .map_err(|_| ChainError::Other(format!("bad tx hash {}", pending.hash)))?;
        let mut sent = self
            .sent
            .lock()
            .expect("not poisoned")
            .get(&first)
            .cloned()
            .ok_or_else(|| ChainError::Other(format!("unknown transaction {first:?}")))?;
        let started = Instant::now();
        let limit = self.config.tx_confirm_timeout;
        let mut replaced_at = Instant::now();
        let outcome = loop {
            let mut found = None;
            for h in sent.hashes.iter().rev() {
                if let Some(r) = self.receipt(*h).await? {
                    found = Some(r);
                    break;
                }
            }
            if let Some(r) = found {
                let mined = r.block_number.unwrap_or_default().as_u64();
                let (head, _) = self.heads().await?;
                if head >= mined + self.evm.confirmations {
                    break r;
                }
            } else if replaced_at.elapsed() > limit / 3 {
                // Not mined for a third of the budget: outbid ourselves.
                self.replace(&mut sent).await?;
                replaced_at = Instant::now();
            }
            if started.elapsed() > limit {
                self.sent.lock().expect("not poisoned").remove(&first);
                return Err(self.tx_err(
                    TxErrorKind::Timeout,
                    format!("{first:?} not final after {}s", limit.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        self.sent.lock().expect("not poisoned").remove(&first);
        let block = outcome.block_number.unwrap_or_default().as_u64();
        let gas_used = outcome.gas_used.unwrap_or_default().as_u64();
        let price = outcome.effective_gas_price.unwrap_or_default().as_u128();
        if outcome.status != Some(1u64.into()) {
            let reason = self.revert_reason(&sent, block).await;
            return Err(self.tx_err(
                TxErrorKind::Rejected,
                format!("{:?} reverted: {reason}", outcome.transaction_hash),
            ));
        }
        let fee = gas_used as u128 * price;
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

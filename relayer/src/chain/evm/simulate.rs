//! Simulation before sending: a batch is estimated (`eth_estimateGas`) and never sent when it
//! reverts or needs more than `max_gas`; then each packet call is simulated on its own behind the
//! batch's client updates, so the calls at fault can be named and the rest sent without them.

use ethers::contract::EthCall;
use ethers::providers::Middleware;
use futures::{stream, StreamExt};

use super::abi::ferry_router::UpdateClientCall;
use super::call_error::CallError;
use super::tx::to_u64;
use super::EvmChain;
use crate::chain::{ChainError, Msg, Result};

/// Per-call simulations in flight at once when looking for the calls at fault.
const ISOLATE_CONCURRENCY: usize = 4;

/// What simulating some calls says.
#[derive(Debug)]
pub(super) enum Sim {
    /// Gas to send with (the estimate times the multiplier).
    Gas(u64),
    /// The calls revert, with the node's reason.
    Reverts(String),
}

pub(super) fn is_update(m: &Msg) -> bool {
    m.value.get(..4) == Some(&UpdateClientCall::selector()[..])
}

impl EvmChain {
    /// Simulate `msgs` as one transaction: the gas to send it with (estimate × multiplier), or
    /// the revert reason. Other failures (the node) are errors.
    pub(super) async fn simulate(&self, msgs: &[Msg]) -> Result<Sim> {
        let tx = self.request(
            self.calldata(msgs)?,
            None,
            self.evm.max_fee_wei,
            self.evm.priority_fee_wei,
            None,
        );
        let gas = self
            .rpc("eth_estimateGas", |p| {
                let tx = tx.clone();
                async move { p.estimate_gas(&tx, None).await.map_err(CallError::from) }
            })
            .await;
        match gas {
            Ok(gas) => {
                let gas = to_u64(&self.id, "eth_estimateGas", "gas estimate", gas)?;
                // A float to integer cast saturates.
                Ok(Sim::Gas((gas as f64 * self.config.gas_multiplier) as u64))
            }
            Err(ChainError::CallReverted { reason, .. }) => Ok(Sim::Reverts(reason)),
            Err(e) => Err(e),
        }
    }

    /// The packet calls of `msgs` at fault, as (index in `msgs`, reason), each simulated on its
    /// own behind `after` and the batch's client updates: those that revert, and with `gas_cap`
    /// those that alone need more than `max_gas`. When each passes alone but the batch reverts,
    /// the first call whose prefix of the batch reverts. Empty when no packet call is to blame
    /// (the updates themselves fail) or the node could not tell.
    pub(super) async fn culprits(
        &self,
        msgs: &[Msg],
        after: &[Msg],
        gas_cap: bool,
    ) -> Vec<(usize, String)> {
        let max_gas = self.config.max_gas;
        let base: Vec<Msg> = after
            .iter()
            .chain(msgs.iter().filter(|m| is_update(m)))
            .cloned()
            .collect();
        let calls: Vec<(usize, Msg)> = msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| !is_update(m))
            .map(|(i, m)| (i, m.clone()))
            .collect();
        if calls.is_empty() {
            return vec![];
        }
        if !base.is_empty() {
            match self.simulate(&base).await {
                Ok(Sim::Gas(g)) if !gas_cap || g <= max_gas => {}
                _ => return vec![],
            }
        }
        let with = |extra: &[Msg]| -> Vec<Msg> { base.iter().chain(extra).cloned().collect() };
        let batches: Vec<(usize, Vec<Msg>)> = calls
            .iter()
            .map(|(i, m)| (*i, with(std::slice::from_ref(m))))
            .collect();
        let alone: Vec<(usize, Result<Sim>)> = stream::iter(batches)
            .map(|(i, batch)| async move { (i, self.simulate(&batch).await) })
            .buffered(ISOLATE_CONCURRENCY)
            .collect()
            .await;
        let mut out = Vec::new();
        for (i, sim) in alone {
            match sim {
                Ok(Sim::Reverts(reason)) => out.push((i, reason)),
                Ok(Sim::Gas(g)) if gas_cap && g > max_gas => out.push((
                    i,
                    format!("needs {g} gas on its own, above max_gas {max_gas}"),
                )),
                Ok(Sim::Gas(_)) => {}
                Err(e) => {
                    tracing::warn!(chain = %self.id, error = %e, "cannot tell which call is at fault");
                    return vec![];
                }
            }
        }
        if out.is_empty() && !gas_cap && calls.len() > 1 {
            // Each passes alone, not all together: blame the first that breaks its prefix.
            let mut prefix: Vec<Msg> = Vec::new();
            for (i, m) in calls {
                prefix.push(m);
                match self.simulate(&with(&prefix)).await {
                    Ok(Sim::Gas(_)) => {}
                    Ok(Sim::Reverts(reason)) => {
                        out.push((i, format!("reverts after the calls before it: {reason}")));
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        out
    }
}

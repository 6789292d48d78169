//! ICS-20 transfers from an EVM chain: approve the app, `sendTransfer`, and the packet it sent.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ethers::middleware::SignerMiddleware;
use ethers::providers::Middleware;
use ethers::signers::LocalWallet;
use ethers::types::{Address, H256, U256};

use crate::chain::evm::abi::{Erc20, Ics20Transfer};
use crate::chain::evm::{decode_packet_log, EvmChain};
use crate::chain::{ChainError, Result};
use crate::ibc::{ChannelId, Packet, PacketEventKind};

/// `sha256("UNIVERSAL_ERROR_ACKNOWLEDGEMENT")`: what the router writes when the app fails.
pub fn universal_error_ack() -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b"UNIVERSAL_ERROR_ACKNOWLEDGEMENT").to_vec()
}

pub struct EvmTransfer<'a> {
    /// The sender's key (an ERC-20 holder).
    pub wallet: LocalWallet,
    pub token: Address,
    pub amount: U256,
    pub receiver: &'a str,
    /// The source client (IBC v2's channel).
    pub client: &'a ChannelId,
    pub timeout: Duration,
    pub memo: &'a str,
}

/// A failed request to `chain`'s endpoint for `method`.
fn rpc<E: std::fmt::Display>(chain: &EvmChain, method: &'static str) -> impl Fn(E) -> ChainError {
    let id = chain.id.clone();
    move |e| ChainError::Rpc {
        chain: id.clone(),
        method,
        reason: e.to_string(),
    }
}

/// Approve the app when its allowance is short, then send. Returns the tx hash and the packet.
pub async fn send(chain: &EvmChain, t: &EvmTransfer<'_>) -> Result<(String, Packet)> {
    let app = chain.evm.transfer.ok_or_else(|| ChainError::Config {
        chain: chain.id.clone(),
        reason: "no evm.transfer (the ICS-20 app address)".into(),
    })?;
    let client = Arc::new(SignerMiddleware::new(chain.provider(), t.wallet.clone()));
    let sender = ethers::signers::Signer::address(&t.wallet);
    let token = Erc20::new(t.token, client.clone());
    let allowance = token
        .allowance(sender, app)
        .call()
        .await
        .map_err(rpc(chain, "allowance"))?;
    if allowance < t.amount {
        let approve = token.approve(app, t.amount);
        let pending = approve.send().await.map_err(rpc(chain, "approve"))?;
        mined(chain, pending, "approve").await?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let timeout = (now + t.timeout).as_secs();
    let call = Ics20Transfer::new(app, client.clone()).send_transfer(
        t.token,
        t.amount,
        t.receiver.to_string(),
        t.client.to_string(),
        timeout,
        t.memo.to_string(),
    );
    let pending = call.send().await.map_err(|e| match e.as_revert() {
        Some(data) => ChainError::CallReverted {
            chain: chain.id.clone(),
            method: "sendTransfer",
            reason: format!("revert data {data}"),
        },
        None => rpc(chain, "sendTransfer")(e),
    })?;
    let (hash, receipt) = mined(chain, pending, "sendTransfer").await?;
    let (packet, _) = packet_in(&receipt.logs, chain, hash)?;
    Ok((format!("{hash:?}"), packet))
}

/// Wait for `pending` (a `call` of the user's) to be mined: its hash and receipt, or an error if
/// the node dropped it or it reverted.
async fn mined<P: ethers::providers::JsonRpcClient>(
    chain: &EvmChain,
    pending: ethers::providers::PendingTransaction<'_, P>,
    call: &str,
) -> Result<(H256, ethers::types::TransactionReceipt)> {
    let hash = pending.tx_hash();
    let receipt = pending
        .await
        .map_err(rpc(chain, "eth_getTransactionReceipt"))?
        .ok_or_else(|| ChainError::TxNotFound {
            chain: chain.id.clone(),
            tx: format!("{hash:?}"),
        })?;
    if receipt.status != Some(1u64.into()) {
        return Err(ChainError::Reverted {
            chain: chain.id.clone(),
            tx: format!("{hash:?}"),
            reason: format!("{call} reverted"),
            culprits: vec![],
        });
    }
    Ok((hash, receipt))
}

fn packet_in(logs: &[ethers::types::Log], chain: &EvmChain, hash: H256) -> Result<(Packet, u64)> {
    logs.iter()
        .filter(|l| l.address == chain.evm.router)
        .filter_map(|l| decode_packet_log(chain.id.as_str(), l))
        .find(|ev| ev.kind == PacketEventKind::Send)
        .map(|ev| (ev.packet, ev.height))
        .ok_or_else(|| ChainError::NoPacketInTx {
            chain: chain.id.clone(),
            tx: format!("{hash:?}"),
        })
}

/// The packet a transfer tx sent, with its block number.
pub async fn packet_of_tx(chain: &EvmChain, tx_hash: &str) -> Result<(Packet, u64)> {
    let hash: H256 = tx_hash.parse().map_err(|_| ChainError::InvalidTxHash {
        given: tx_hash.to_string(),
        expected: "0x and 64 hex digits",
    })?;
    let receipt = chain
        .provider()
        .get_transaction_receipt(hash)
        .await
        .map_err(rpc(chain, "eth_getTransactionReceipt"))?
        .ok_or_else(|| ChainError::TxNotFound {
            chain: chain.id.clone(),
            tx: tx_hash.to_string(),
        })?;
    packet_in(&receipt.logs, chain, hash)
}

pub async fn status(
    src: &EvmChain,
    dst: &EvmChain,
    tx_hash: &str,
) -> Result<super::TransferStatus> {
    let (p, h) = packet_of_tx(src, tx_hash).await?;
    super::status_of(src, dst, tx_hash, p, h).await
}

//! EVM chains through ethers: Ferry's IBC v2-style router contract (`contracts/`), its attested light
//! clients of counterparty EVM chains, and Ferry's own Ethereum light client
//! (`ferry-light-client-ethereum`) checking every header and proof before it is attested or relayed.
//!
//! The router's traits map as follows: a client id plays a channel's role (IBC v2 has no channels),
//! heights are block numbers at revision 0, and only blocks `confirmations` deep count as final.

pub mod abi;
pub mod attestation;
mod call_error;
pub mod collect;
mod events;
mod headers;
pub mod packets;
mod simulate;
mod tx;

pub use events::decode as decode_packet_log;
pub use headers::header_from_json;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::{Address, BlockNumber, U256};

use crate::chain::{
    ChainError, ClientHost, Committee, ConsensusAnchor, Heights, Msg, PacketQueries, Proof, Result,
};
use crate::config::{ChainConfig, EvmConfig};
use crate::ibc::{ChainId, ChannelId, ClientId, Height, Packet, PortId};
use crate::telemetry::metrics;
use abi::{AttestedLightClient, FerryRouter};
use call_error::CallError;
use packets::router_call;

/// Views asking about this many sequences at once.
const VIEW_CHUNK: usize = 500;
/// Sequences per scan window when looking for commitments.
const SCAN_WINDOW: u64 = 10_000;

pub struct EvmChain {
    pub id: ChainId,
    pub config: ChainConfig,
    pub evm: EvmConfig,
    providers: Vec<Arc<Provider<Http>>>,
    preferred: std::sync::atomic::AtomicUsize,
    pub wallet: LocalWallet,
    pub address: Address,
    /// Asks the configured `ferry attestor` endpoints for signatures.
    http: reqwest::Client,
    verified: tokio::sync::Mutex<headers::Verified>,
    signer: crate::chain::PriorityLock<tx::NonceState>,
    sent: std::sync::Mutex<std::collections::HashMap<ethers::types::H256, tx::Sent>>,
    /// Per client: every send below this sequence has no commitment left (acked or timed out,
    /// never to return), so scans for commitments start here.
    low_water: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Where the verified anchor is kept across restarts (set by the daemon).
    store: std::sync::OnceLock<Arc<dyn crate::store::Store>>,
    /// Light-client address per client id: the router sets it once, so it is read once.
    light_clients: std::sync::Mutex<std::collections::HashMap<String, Address>>,
}

impl EvmChain {
    /// `wallet` signs transactions. Attestations of this chain come from the committee's own
    /// processes (`evm.attestor_endpoints`): the relayer holds no attestor key.
    pub fn new(config: ChainConfig, wallet: LocalWallet) -> Result<Arc<EvmChain>> {
        let evm = config.evm.clone().ok_or_else(|| ChainError::Config {
            chain: config.id.clone(),
            reason: "no [chains.evm] section".into(),
        })?;
        let providers = config
            .rpc
            .iter()
            .map(|url| {
                Provider::<Http>::try_from(url.as_str())
                    .map(|p| Arc::new(p.interval(std::time::Duration::from_millis(250))))
                    .map_err(|e| ChainError::Config {
                        chain: config.id.clone(),
                        reason: format!("rpc `{url}`: {e}"),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(EvmChain {
            id: config.id.clone(),
            address: wallet.address(),
            wallet: wallet.with_chain_id(evm.chain_id),
            http: reqwest::Client::builder()
                .timeout(evm.attestation_timeout)
                .build()
                .map_err(|e| ChainError::Config {
                    chain: config.id.clone(),
                    reason: format!("HTTP client: {e}"),
                })?,
            verified: tokio::sync::Mutex::new(headers::Verified::default()),
            signer: crate::chain::PriorityLock::new(tx::NonceState::default()),
            sent: Default::default(),
            light_clients: Default::default(),
            low_water: Default::default(),
            store: Default::default(),
            providers,
            preferred: Default::default(),
            config,
            evm,
        }))
    }

    /// The provider to use now (the last that answered).
    pub fn provider(&self) -> Arc<Provider<Http>> {
        let i = self.preferred.load(std::sync::atomic::Ordering::Relaxed);
        self.providers[i % self.providers.len()].clone()
    }

    /// Run `f` against each endpoint in turn until one answers; counts requests and errors.
    pub(crate) async fn rpc<T, F, Fut>(&self, method: &'static str, f: F) -> Result<T>
    where
        F: Fn(Arc<Provider<Http>>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, CallError>>,
    {
        let start = self.preferred.load(std::sync::atomic::Ordering::Relaxed);
        let mut last = String::new();
        for k in 0..self.providers.len() {
            let i = (start + k) % self.providers.len();
            let t = Instant::now();
            let out = f(self.providers[i].clone()).await;
            metrics().rpc(
                self.id.as_str(),
                method,
                t.elapsed().as_secs_f64(),
                out.is_ok(),
            );
            match out {
                Ok(v) => {
                    self.preferred
                        .store(i, std::sync::atomic::Ordering::Relaxed);
                    metrics().rpc_up(self.id.as_str(), true);
                    return Ok(v);
                }
                // A revert is the contract's answer, not the endpoint's failure.
                Err(CallError::Reverted(reason)) => {
                    return Err(ChainError::CallReverted {
                        chain: self.id.clone(),
                        method,
                        reason,
                    })
                }
                Err(CallError::Endpoint(e)) => last = e,
            }
        }
        metrics().rpc_up(self.id.as_str(), false);
        Err(ChainError::Rpc {
            chain: self.id.clone(),
            method,
            reason: last,
        })
    }

    pub fn router(&self) -> FerryRouter<Provider<Http>> {
        FerryRouter::new(self.evm.router, self.provider())
    }

    /// The light client the router uses for `client`.
    pub async fn light_client(&self, client: &str) -> Result<AttestedLightClient<Provider<Http>>> {
        let known = self
            .light_clients
            .lock()
            .expect("not poisoned")
            .get(client)
            .copied();
        let addr = match known {
            Some(a) => a,
            None => {
                let router = self.evm.router;
                let id = client.to_string();
                let addr = self
                    .rpc("eth_call", |p| {
                        let id = id.clone();
                        async move {
                            FerryRouter::new(router, p)
                                .light_client_of(id)
                                .call()
                                .await
                                .map_err(CallError::from)
                        }
                    })
                    .await?;
                if addr.is_zero() {
                    return Err(ChainError::Config {
                        chain: self.id.clone(),
                        reason: format!("the router has no client `{client}`"),
                    });
                }
                self.light_clients
                    .lock()
                    .expect("not poisoned")
                    .insert(id, addr);
                addr
            }
        };
        Ok(AttestedLightClient::new(addr, self.provider()))
    }

    /// Head and final block numbers.
    pub async fn heads(&self) -> Result<(u64, u64)> {
        let head = self
            .rpc("eth_blockNumber", |p| async move {
                p.get_block_number().await.map_err(CallError::from)
            })
            .await?
            .as_u64();
        metrics().latest_height(self.id.as_str(), head);
        Ok((head, head.saturating_sub(self.evm.confirmations)))
    }

    /// ERC-20 balance (or native balance when `token` is None).
    pub async fn balance(&self, owner: Address, token: Option<Address>) -> Result<U256> {
        match token {
            None => {
                self.rpc("eth_getBalance", |p| async move {
                    p.get_balance(owner, None).await.map_err(CallError::from)
                })
                .await
            }
            Some(t) => {
                self.rpc("eth_call", |p| async move {
                    abi::Erc20::new(t, p)
                        .balance_of(owner)
                        .call()
                        .await
                        .map_err(CallError::from)
                })
                .await
            }
        }
    }

    /// Of `seqs`, those the router reports through `view` (chunked).
    async fn seq_view(&self, client: &ChannelId, seqs: &[u64], receipts: bool) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for chunk in seqs.chunks(VIEW_CHUNK) {
            let (router, client, chunk) = (self.evm.router, client.to_string(), chunk.to_vec());
            let got = self
                .rpc("eth_call", |p| {
                    let (client, chunk) = (client.clone(), chunk.clone());
                    async move {
                        let r = FerryRouter::new(router, p);
                        let call = if receipts {
                            r.unreceived(client, chunk)
                        } else {
                            r.pending_commitments(client, chunk)
                        };
                        call.call().await.map_err(CallError::from)
                    }
                })
                .await?;
            out.extend(got);
        }
        Ok(out)
    }
}

impl EvmChain {
    /// The anchor of an `AttestationsLightClient` (a client of a Cosmos chain, ibc-go format) at
    /// `height`; `None` when the client at `addr` is another type (it has no `minRequiredSigs`).
    async fn attestations_anchor(
        &self,
        addr: Address,
        height: Height,
    ) -> Result<Option<ConsensusAnchor>> {
        let probe = self
            .rpc("eth_call", |p| async move {
                abi::AttestationsLightClient::new(addr, p)
                    .min_required_sigs()
                    .call()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        let quorum = match probe {
            Ok(q) => q,
            // No such function: an EIP-712 AttestedLightClient.
            Err(ChainError::CallReverted { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (ts, members) = self
            .rpc("eth_call", |p| async move {
                let lc = abi::AttestationsLightClient::new(addr, p);
                let ts = lc
                    .consensus_timestamp(height.revision_height)
                    .call()
                    .await
                    .map_err(CallError::from)?;
                let members = lc.attestors().call().await.map_err(CallError::from)?;
                Ok((ts, members))
            })
            .await?;
        Ok(Some(ConsensusAnchor {
            timestamp_ns: ts.saturating_mul(1_000_000_000),
            next_validators_hash: vec![],
            committee: None,
            ibc_committee: Some(crate::chain::IbcCommittee {
                members,
                quorum: quorum as usize,
            }),
        }))
    }
}

/// An `eth_call`/`eth_estimateGas` failure that is the contract reverting.
#[async_trait]
impl Heights for EvmChain {
    fn id(&self) -> &ChainId {
        &self.id
    }

    /// The newest final block and its time: only final blocks are proven from or counted on.
    async fn latest(&self) -> Result<(Height, u64)> {
        let (_, fin) = self.heads().await?;
        let block = self
            .rpc("eth_getBlockByNumber", |p| async move {
                p.get_block(BlockNumber::Number(fin.into()))
                    .await
                    .map_err(CallError::from)?
                    .ok_or_else(|| CallError::from(format!("block {fin} not found")))
            })
            .await?;
        let secs = tx::to_u64(
            &self.id,
            "eth_getBlockByNumber",
            "timestamp",
            block.timestamp,
        )?;
        Ok((Height::new(0, fin), secs.saturating_mul(1_000_000_000)))
    }
}

#[async_trait]
impl PacketQueries for EvmChain {
    /// Sequences sent from `client` whose commitment is still set.
    async fn commitments(&self, _port: &PortId, client: &ChannelId) -> Result<Vec<u64>> {
        let (router, c) = (self.evm.router, client.to_string());
        let next = self
            .rpc("eth_call", |p| {
                let c = c.clone();
                async move {
                    FerryRouter::new(router, p)
                        .next_sequence_send(c)
                        .call()
                        .await
                        .map_err(CallError::from)
                }
            })
            .await?;
        // Every send since the lowest one still committed (all of them the first time), read in
        // windows; below that mark every commitment is known gone, so later rounds start there.
        let start = self
            .low_water
            .lock()
            .expect("not poisoned")
            .get(&c)
            .copied()
            .unwrap_or(1);
        let mut seqs = Vec::new();
        let mut from = start;
        while from < next {
            let to = from.saturating_add(SCAN_WINDOW).min(next);
            let window: Vec<u64> = (from..to).collect();
            seqs.extend(self.seq_view(client, &window, false).await?);
            from = to;
        }
        let low = seqs.first().copied().unwrap_or(next).max(start);
        self.low_water.lock().expect("not poisoned").insert(c, low);
        Ok(seqs)
    }

    async fn unreceived(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>> {
        self.seq_view(client, seqs, true).await
    }

    async fn unreceived_acks(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>> {
        self.seq_view(client, seqs, false).await
    }
}

#[async_trait]
impl ClientHost for EvmChain {
    async fn client_latest_height(&self, client: &ClientId) -> Result<Height> {
        let lc = self.light_client(client.as_str()).await?;
        let h = self
            .rpc("eth_call", |p| {
                let lc = AttestedLightClient::new(lc.address(), p);
                async move { lc.latest_height().call().await.map_err(CallError::from) }
            })
            .await?;
        Ok(Height::new(0, h))
    }

    async fn consensus_anchor(&self, client: &ClientId, height: Height) -> Result<ConsensusAnchor> {
        let lc = self.light_client(client.as_str()).await?;
        let addr = lc.address();
        if let Some(anchor) = self.attestations_anchor(addr, height).await? {
            return Ok(anchor);
        }
        // Read what the client trusts now: members and quorum change on rotation.
        let (ts, members, quorum, attested_chain) = self
            .rpc("eth_call", |p| async move {
                let lc = AttestedLightClient::new(addr, p);
                let (ts, _root) = lc
                    .consensus_state(height.revision_height)
                    .call()
                    .await
                    .map_err(CallError::from)?;
                let members = lc.attestors().call().await.map_err(CallError::from)?;
                let quorum = lc.quorum().call().await.map_err(CallError::from)?;
                let chain = lc.attested_chain().call().await.map_err(CallError::from)?;
                Ok((ts, members, quorum, chain))
            })
            .await?;
        Ok(ConsensusAnchor {
            timestamp_ns: ts.saturating_mul(1_000_000_000),
            next_validators_hash: vec![],
            committee: Some(Committee {
                domain: attestation::Domain {
                    host_chain_id: self.evm.chain_id,
                    light_client: addr,
                },
                attested_chain,
                members,
                quorum,
            }),
            ibc_committee: None,
        })
    }

    fn update_client_msg(&self, client: &ClientId, header: Msg) -> Msg {
        router_call(abi::ferry_router::UpdateClientCall {
            client_id: client.to_string(),
            update_msg: header.value.into(),
        })
    }

    fn recv_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        router_call(abi::RecvPacketCall {
            packet: packets::to_sol(packet),
            proof: proof.bytes.into(),
            proof_height: proof.height.revision_height,
        })
    }

    fn ack_msg(&self, packet: &Packet, ack: &[u8], proof: Proof) -> Msg {
        router_call(abi::AckPacketCall {
            packet: packets::to_sol(packet),
            acknowledgement: ack.to_vec().into(),
            proof: proof.bytes.into(),
            proof_height: proof.height.revision_height,
        })
    }

    fn timeout_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        router_call(abi::TimeoutPacketCall {
            packet: packets::to_sol(packet),
            proof: proof.bytes.into(),
            proof_height: proof.height.revision_height,
        })
    }
}

//! Headers of this chain for counterparty clients. Every header Ferry puts into a client message was
//! first verified here by `ferry-light-client-tendermint`, starting from the consensus state the host
//! chain itself stored (the trust anchor), never from what an RPC node claims alone.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ferry_light_client_tendermint::{
    bisection::{Bisection, Step},
    LightBlock, TrustThreshold, TrustedState, ValidatorSet, VerificationError, VerifyOptions,
};
use ibc_proto::ibc::lightclients::tendermint::v1 as tm;
use tendermint_rpc::Paging;

use super::{any, raw_height, time_ns, CosmosChain};
use crate::chain::{ChainError, ConsensusAnchor, Headers, Msg, Result};
use crate::ibc::Height;
use crate::telemetry::metrics;

/// Verified light blocks of one chain, most recent kept.
#[derive(Default)]
pub struct LightBlockCache(Mutex<BTreeMap<u64, LightBlock>>);

impl LightBlockCache {
    const KEEP: usize = 64;
    fn get(&self, h: u64) -> Option<LightBlock> {
        self.0.lock().expect("cache lock").get(&h).cloned()
    }
    fn insert(&self, b: LightBlock) {
        let mut m = self.0.lock().expect("cache lock");
        m.insert(b.height().value(), b);
        while m.len() > Self::KEEP {
            let first = *m.keys().next().expect("non-empty");
            m.remove(&first);
        }
    }
}

pub fn ws_url(rpc: &str) -> String {
    let base = rpc.trim_end_matches('/');
    let base = base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    format!("{base}/websocket")
}

fn set_with_proposer(
    mut vals: Vec<tendermint::validator::Info>,
    proposer: Option<tendermint::account::Id>,
) -> ValidatorSet {
    // IBC's on-chain check wants a proposer; it is not part of the validator-set hash.
    let p = proposer
        .and_then(|a| vals.iter().find(|v| v.address == a).cloned())
        .or_else(|| vals.first().cloned());
    vals.iter_mut()
        .for_each(|v| v.proposer_priority = Default::default());
    ValidatorSet::new(vals, p)
}

impl CosmosChain {
    pub fn verify_options(&self) -> VerifyOptions {
        let (numerator, denominator) = self.config.trust_threshold;
        VerifyOptions {
            trust_threshold: TrustThreshold {
                numerator,
                denominator,
            },
            trusting_period: self.config.trusting_period,
            clock_drift: self.config.clock_drift,
        }
    }

    async fn validators(&self, h: u64) -> Result<Vec<tendermint::validator::Info>> {
        let th = super::tm_height(h)?;
        Ok(self
            .rpc
            .call("validators", |c| {
                tendermint_rpc::Client::validators(c, th, Paging::All)
            })
            .await?
            .validators)
    }

    /// Header, commit and validator sets at `h`, as the node reports them (unverified).
    pub async fn fetch_light_block(&self, h: u64) -> Result<LightBlock> {
        let th = super::tm_height(h)?;
        let commit = self
            .rpc
            .call("commit", |c| tendermint_rpc::Client::commit(c, th))
            .await?;
        let proposer = commit.signed_header.header.proposer_address;
        let (vals, next) = tokio::try_join!(self.validators(h), self.validators(h + 1))?;
        Ok(LightBlock {
            signed_header: commit.signed_header,
            validators: set_with_proposer(vals, Some(proposer)),
            next_validators: set_with_proposer(next, None),
        })
    }

    fn verification_failed(&self, height: u64, e: VerificationError) -> ChainError {
        metrics().verification_failure(self.id.as_str(), e.reason());
        tracing::error!(chain = %self.id, height, error = %e, "header rejected by Ferry's light client; not relayed");
        ChainError::Verification {
            chain: self.id.clone(),
            height,
            source: e,
        }
    }

    /// The block at `trusted`, checked against what the host stored for it.
    async fn anchored_block(&self, trusted: u64, anchor: &ConsensusAnchor) -> Result<LightBlock> {
        let block = match self.light.get(trusted) {
            Some(b) => b,
            None => self.fetch_light_block(trusted).await?,
        };
        let header = &block.signed_header.header;
        if header.next_validators_hash.as_bytes() != anchor.next_validators_hash.as_slice()
            || time_ns(header.time) != anchor.timestamp_ns
        {
            // The node's block contradicts what the host chain stored: a forged or wrong answer.
            metrics().verification_failure(self.id.as_str(), "anchor_mismatch");
            tracing::error!(chain = %self.id, height = trusted, "RPC block does not match the client's consensus state; not relayed");
            return Err(self.malformed(
                "commit",
                format!("block {trusted} does not match the client's stored consensus state"),
            ));
        }
        Ok(block)
    }

    /// Verify from `trusted_block` to `target` (skipping, bisecting on lack of trust); returns the
    /// verified blocks in order, ending at `target`.
    pub async fn verify_to(
        &self,
        trusted_block: &LightBlock,
        target: u64,
    ) -> Result<Vec<LightBlock>> {
        let now = tendermint::Time::now();
        let trusted = TrustedState::from_light_block(trusted_block);
        let target_h = super::tm_height(target)?;
        let mut bisection = Bisection::new(trusted, target_h, self.verify_options(), now);
        let mut fetched: BTreeMap<u64, LightBlock> = BTreeMap::new();
        let mut verified = Vec::new();
        while let Some(h) = bisection.next_height() {
            let h = h.value();
            let block = match fetched.get(&h) {
                Some(b) => b.clone(),
                None => {
                    let b = self.fetch_light_block(h).await?;
                    fetched.insert(h, b.clone());
                    b
                }
            };
            match bisection.supply(&block) {
                Ok(step) => {
                    verified.push(block.clone());
                    self.light.insert(block);
                    if let Step::Done(_) = step {
                        break;
                    }
                }
                Err(e) => return Err(self.verification_failed(h, e)),
            }
        }
        Ok(verified)
    }

    /// A client state and consensus state for a new client of this chain on a counterparty,
    /// from a header verified against its predecessor.
    pub async fn new_client_states(&self, unbonding: Duration) -> Result<(Msg, Msg, Height)> {
        let (latest, _) = crate::chain::Heights::latest(self).await?;
        let h = latest.revision_height;
        let parent = self.fetch_light_block(h - 1).await?;
        let block =
            self.verify_to(&parent, h)
                .await?
                .pop()
                .ok_or_else(|| ChainError::NotProvable {
                    chain: self.id.clone(),
                    height: h,
                    reason: "the light client verified no header up to it".into(),
                })?;
        let header = &block.signed_header.header;
        let (numerator, denominator) = self.config.trust_threshold;
        let dur = |d: Duration| ibc_proto::google::protobuf::Duration {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        };
        let height = self.height(h);
        #[allow(deprecated)]
        let client_state = tm::ClientState {
            chain_id: self.id.to_string(),
            trust_level: Some(tm::Fraction {
                numerator,
                denominator,
            }),
            trusting_period: Some(dur(self.config.trusting_period)),
            unbonding_period: Some(dur(unbonding)),
            max_clock_drift: Some(dur(self.config.clock_drift)),
            frozen_height: Some(raw_height(Height::default())),
            latest_height: Some(raw_height(height)),
            proof_specs: vec![ics23::iavl_spec(), ics23::tendermint_spec()],
            upgrade_path: vec!["upgrade".into(), "upgradedIBCState".into()],
            allow_update_after_expiry: false,
            allow_update_after_misbehaviour: false,
        };
        let ts = time_ns(header.time);
        let consensus_state = tm::ConsensusState {
            timestamp: Some(ibc_proto::google::protobuf::Timestamp {
                seconds: (ts / 1_000_000_000) as i64,
                nanos: (ts % 1_000_000_000) as i32,
            }),
            root: Some(ibc_proto::ibc::core::commitment::v1::MerkleRoot {
                hash: header.app_hash.as_bytes().to_vec(),
            }),
            next_validators_hash: header.next_validators_hash.as_bytes().to_vec(),
        };
        Ok((
            any("/ibc.lightclients.tendermint.v1.ClientState", &client_state),
            any(
                "/ibc.lightclients.tendermint.v1.ConsensusState",
                &consensus_state,
            ),
            height,
        ))
    }

    /// The staking unbonding period, which a client of this chain must carry.
    pub async fn unbonding_period(&self) -> Result<Duration> {
        use cosmrs::proto::cosmos::staking::v1beta1::{QueryParamsRequest, QueryParamsResponse};
        let res: QueryParamsResponse = self
            .grpc_query(
                "/cosmos.staking.v1beta1.Query/Params",
                &QueryParamsRequest {},
                None,
            )
            .await?;
        let d = res
            .params
            .and_then(|p| p.unbonding_time)
            .ok_or_else(|| self.malformed("abci_query", "no unbonding_time"))?;
        Ok(Duration::new(
            d.seconds.max(0) as u64,
            d.nanos.max(0) as u32,
        ))
    }
}

fn header_msg(block: &LightBlock, trusted: &LightBlock, revision: u64) -> Msg {
    let h = tm::Header {
        signed_header: Some(block.signed_header.clone().into()),
        validator_set: Some(block.validators.clone().into()),
        trusted_height: Some(raw_height(Height::new(revision, trusted.height().value()))),
        trusted_validators: Some(trusted.next_validators.clone().into()),
    };
    any("/ibc.lightclients.tendermint.v1.Header", &h)
}

#[async_trait]
impl Headers for CosmosChain {
    async fn client_headers(
        &self,
        trusted: Height,
        target: Height,
        anchor: &ConsensusAnchor,
    ) -> Result<Vec<Msg>> {
        let base = self.anchored_block(trusted.revision_height, anchor).await?;
        let chain = self.verify_to(&base, target.revision_height).await?;
        self.witness_gate(&base, &chain).await?;
        let mut prev = &base;
        let mut msgs = Vec::with_capacity(chain.len());
        for block in &chain {
            msgs.push(header_msg(block, prev, self.revision()));
            prev = block;
        }
        Ok(msgs)
    }
}

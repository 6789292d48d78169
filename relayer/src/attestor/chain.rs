//! One attested chain: its verified header chain, kept in memory from the configured checkpoint
//! up, and the state it may sign at a height. A state is signable only when the height is final
//! under the chain's finality rule at every endpoint, and its header links back to the checkpoint
//! through headers every endpoint served identically (`ferry-light-client-ethereum`'s
//! `verify_chain`: parent hashes, consecutive numbers, increasing timestamps, sane fields).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ethers::types::H256;
use ferry_light_client_ethereum as lc;
use futures::StreamExt;

use super::config::ChainConfig;
use super::metrics::Metrics;
use super::refusal::{Kind, Refusal};
use super::source::Source;
use crate::chain::evm::attestation::StateAttestation;

/// Verified blocks kept in memory: (state root, timestamp) by number.
pub const KEEP: usize = 100_000;
/// Headers verified per step while extending the chain (the tip advances after each step).
const STEP: u64 = 256;
/// Headers fetched at once (each from every endpoint).
const FETCH_CONCURRENCY: usize = 8;

struct Verified {
    tip: lc::Checkpoint,
    blocks: BTreeMap<u64, (H256, u64)>,
}

pub struct Chain {
    pub config: ChainConfig,
    /// `eip155:<id>`: how requests and the signed record name it.
    pub caip2: String,
    pub source: Source,
    metrics: Arc<Metrics>,
    verified: tokio::sync::Mutex<Option<Verified>>,
    /// The verified tip for readers that must not wait for the lock (`u64::MAX`: none yet).
    tip: AtomicU64,
}

impl Chain {
    pub fn new(config: ChainConfig, source: Source, metrics: Arc<Metrics>) -> Chain {
        Chain {
            caip2: config.caip2(),
            config,
            source,
            metrics,
            verified: tokio::sync::Mutex::new(None),
            tip: AtomicU64::new(u64::MAX),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The newest verified block, if the checkpoint was checked yet.
    pub fn verified_height(&self) -> Option<u64> {
        Some(self.tip.load(Ordering::SeqCst)).filter(|h| *h != u64::MAX)
    }

    /// The newest final block under the configured rule, over all endpoints.
    pub async fn final_height(&self) -> Result<Option<u64>, Refusal> {
        let f = self.source.final_height(self.config.finality).await?;
        if let Some(f) = f {
            self.metrics.final_height(self.name(), f);
        }
        Ok(f)
    }

    /// The checkpoint block, served identically by every endpoint and hashing to the configured
    /// hash. Done once; every later block is verified from it.
    async fn anchor(&self, v: &mut Option<Verified>) -> Result<(), Refusal> {
        if v.is_some() {
            return Ok(());
        }
        let cp = self.config.checkpoint;
        let h = self.source.header(cp.number).await?;
        let got = lc::Checkpoint::of(&h);
        if got.hash != cp.hash {
            return Err(Refusal::new(
                Kind::VerificationFailed,
                format!(
                    "{}: block {} hashes to {:?} at every endpoint, not the configured checkpoint {:?}",
                    self.name(),
                    cp.number,
                    got.hash,
                    cp.hash
                ),
            ));
        }
        let mut blocks = BTreeMap::new();
        blocks.insert(cp.number, (h.state_root, h.timestamp));
        *v = Some(Verified { tip: got, blocks });
        self.tip.store(cp.number, Ordering::SeqCst);
        self.metrics.verified_height(self.name(), cp.number);
        Ok(())
    }

    /// Check the endpoints serve this chain and the checkpoint is what they serve.
    pub async fn check(&self) -> Result<(), Refusal> {
        self.source.check_chain_id().await?;
        let mut v = self.verified.lock().await;
        self.anchor(&mut v).await
    }

    /// Block `n`'s (state root, timestamp), verified from the checkpoint. The caller checks that
    /// `n` is final first: only final blocks are ever walked, so the walk never follows a branch
    /// the chain may still abandon.
    pub async fn verify_to(&self, n: u64) -> Result<(H256, u64), Refusal> {
        let cp = self.config.checkpoint.number;
        if n < cp {
            return Err(Refusal::new(
                Kind::BadRequest,
                format!(
                    "{}: block {n} is below the checkpoint {cp}; nothing before it can be verified",
                    self.name()
                ),
            ));
        }
        let mut guard = self.verified.lock().await;
        self.anchor(&mut guard).await?;
        let v = guard.as_mut().expect("anchored above");
        if let Some(got) = v.blocks.get(&n) {
            return Ok(*got);
        }
        if n < v.tip.number {
            let oldest = v.blocks.keys().next().copied().unwrap_or(v.tip.number);
            return Err(Refusal::new(
                Kind::BadRequest,
                format!(
                    "{}: block {n} is older than the verified window (blocks {oldest} to {}); \
                     attestors sign recent final blocks",
                    self.name(),
                    v.tip.number
                ),
            ));
        }
        while v.tip.number < n {
            let from = v.tip.number + 1;
            let to = n.min(v.tip.number.saturating_add(STEP));
            let fetched: Vec<Result<lc::Header, Refusal>> = futures::stream::iter(from..=to)
                .map(|k| self.source.header(k))
                .buffered(FETCH_CONCURRENCY)
                .collect()
                .await;
            let headers = fetched.into_iter().collect::<Result<Vec<_>, _>>()?;
            let tip = lc::verify_chain(&v.tip, &headers).map_err(|e| {
                Refusal::new(
                    Kind::VerificationFailed,
                    format!(
                        "{}: the header chain from verified block {} does not verify: {e}",
                        self.name(),
                        v.tip.number
                    ),
                )
            })?;
            for h in &headers {
                v.blocks.insert(h.number, (h.state_root, h.timestamp));
            }
            while v.blocks.len() > KEEP {
                v.blocks.pop_first();
            }
            v.tip = tip;
            self.tip.store(tip.number, Ordering::SeqCst);
            self.metrics.verified_height(self.name(), tip.number);
        }
        Ok(v.blocks[&n])
    }

    /// The state this attestor may sign for `height`: the endpoints serve this chain, `height`
    /// is final at all of them, and its header verifies from the checkpoint.
    pub async fn state_at(&self, height: u64) -> Result<StateAttestation, Refusal> {
        self.source.check_chain_id().await?;
        let fin = self.final_height().await?;
        if fin.is_none_or(|f| height > f) {
            return Err(Refusal::new(
                Kind::NotFinal,
                format!(
                    "{}: block {height} is not final yet: the newest final block is {} ({}, \
                     lowest over {} endpoints)",
                    self.name(),
                    fin.map_or("none".into(), |f| f.to_string()),
                    self.config.finality,
                    self.config.rpc.len()
                ),
            ));
        }
        let (state_root, timestamp) = self.verify_to(height).await?;
        Ok(StateAttestation {
            attested_chain: self.caip2.clone(),
            height,
            timestamp,
            state_root,
        })
    }

    /// Extend the verified chain to the current final height (the background follower).
    pub async fn follow(&self) -> Result<Option<u64>, Refusal> {
        self.source.check_chain_id().await?;
        match self.final_height().await? {
            Some(f) if f >= self.config.checkpoint.number => {
                self.verify_to(f).await?;
                Ok(Some(f))
            }
            _ => {
                self.check().await?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{Finality, TrustedBlock};
    use super::super::source::fake::{chain, Fake};
    use super::super::source::Endpoint;
    use super::*;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    fn attested(
        fakes: &[Arc<Fake>],
        checkpoint: &lc::Header,
        finality: Finality,
    ) -> (Chain, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new(&[("evm-l3".into(), fakes.len())]));
        let config = ChainConfig {
            name: "evm-l3".into(),
            evm_chain_id: 33333,
            rpc: (0..fakes.len())
                .map(|i| format!("http://127.0.0.1:{}", 8545 + i).parse().unwrap())
                .collect(),
            finality,
            checkpoint: TrustedBlock {
                number: checkpoint.number,
                hash: checkpoint.hash(),
            },
            ibc_attestations: false,
            router: None,
        };
        let source = Source::new(
            "evm-l3".into(),
            33333,
            fakes
                .iter()
                .map(|f| f.clone() as Arc<dyn Endpoint>)
                .collect(),
            metrics.clone(),
        );
        (Chain::new(config, source, metrics.clone()), metrics)
    }

    #[tokio::test]
    async fn signs_only_verified_final_states() {
        let c = chain(40);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 33333));
        let (ch, _) = attested(&[a.clone(), b.clone()], &c[5], Finality::Depth(10));
        assert_eq!(ch.verified_height(), None);
        let s = ch.state_at(30).await.unwrap();
        assert_eq!(s.attested_chain, "eip155:33333");
        assert_eq!(
            (s.state_root, s.timestamp),
            (c[30].state_root, c[30].timestamp)
        );
        assert_eq!(ch.verified_height(), Some(30));

        // Not final: 31 is 9 below the head of 40.
        let r = ch.state_at(31).await.unwrap_err();
        assert_eq!(r.kind, Kind::NotFinal, "{r}");
        // Below the checkpoint.
        assert_eq!(ch.state_at(4).await.unwrap_err().kind, Kind::BadRequest);
        // Already verified: answered without walking again (one header read per endpoint:
        // none; only the chain id and the head).
        let before = a.calls.load(Ordering::SeqCst);
        ch.state_at(20).await.unwrap();
        assert_eq!(a.calls.load(Ordering::SeqCst) - before, 2);

        // The finalized tag, lowest over endpoints.
        let (ch, _) = attested(&[a.clone(), b.clone()], &c[5], Finality::Finalized);
        a.finalized.store(25, Ordering::SeqCst);
        b.finalized.store(22, Ordering::SeqCst);
        ch.state_at(22).await.unwrap();
        assert_eq!(ch.state_at(23).await.unwrap_err().kind, Kind::NotFinal);
    }

    #[tokio::test]
    async fn a_wrong_checkpoint_or_a_broken_chain_fails_verification() {
        let c = chain(20);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 33333));
        let mut other = c[3].clone();
        other.extra_data = b"other".to_vec();
        let (ch, _) = attested(&[a.clone(), b.clone()], &other, Finality::Depth(1));
        let r = ch.state_at(10).await.unwrap_err();
        assert_eq!(r.kind, Kind::VerificationFailed, "{r}");
        assert!(r.message.contains("checkpoint"), "{r}");

        // Both endpoints serve the same forged block 12 (self-consistent hash, broken link).
        let mut forged = c[12].clone();
        forged.state_root = H256::repeat_byte(0xee);
        forged.parent_hash = H256::repeat_byte(0xdd);
        for f in [&a, &b] {
            f.blocks.lock().unwrap()[12] = super::super::source::fake::to_json(&forged);
        }
        let (ch, _) = attested(&[a.clone(), b.clone()], &c[3], Finality::Depth(1));
        ch.state_at(11).await.unwrap();
        let r = ch.state_at(12).await.unwrap_err();
        assert_eq!(r.kind, Kind::VerificationFailed, "{r}");
        assert!(r.message.contains("parent hash"), "{r}");
        assert_eq!(ch.verified_height(), Some(11));
    }

    #[tokio::test]
    async fn disagreement_anywhere_on_the_walk_refuses() {
        let c = chain(30);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 33333));
        // An intermediate block differs: the requested one alone would agree.
        b.tamper(
            15,
            "stateRoot",
            json!(format!("{:?}", H256::repeat_byte(0x99))),
        );
        let (ch, m) = attested(&[a, b], &c[2], Finality::Depth(2));
        let r = ch.state_at(20).await.unwrap_err();
        assert_eq!(r.kind, Kind::Disagreement, "{r}");
        assert!(r.message.contains("block 15"), "{r}");
        assert!(m
            .render()
            .contains("ferry_attestor_verified_height{chain=\"evm-l3\"} 2"));
        assert_eq!(ch.state_at(14).await.unwrap().height, 14);
    }

    #[tokio::test]
    async fn follow_walks_to_the_final_height() {
        let c = chain(600);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 33333));
        let (ch, _) = attested(&[a, b], &c[0], Finality::Depth(3));
        assert_eq!(ch.follow().await.unwrap(), Some(597));
        assert_eq!(ch.verified_height(), Some(597));
    }
}

//! One attested Cosmos chain. Every header it uses is read from every endpoint and must be the same
//! block (same header hash, same validator sets), then verified by Ferry's Tendermint light client
//! (`ferry-light-client-tendermint`, skipping verification with bisection) from the configured
//! trusted header, or from a header verified since. A state `(height, block time)` is signable only
//! for a verified header; a packet attestation at `H` only for values whose ICS-23 proofs, equal at
//! every endpoint, verify against the app hash of the verified header `H + 1`. CometBFT blocks are
//! final once committed, so there is no finality rule: a height must only exist at every endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ethers::types::H256;
use ferry_light_client_tendermint::{
    bisection::Bisection, Height as TmHeight, LightBlock, Time, TrustThreshold, TrustedState,
    VerifyOptions,
};
use futures::future::BoxFuture;

use super::config::CosmosChainConfig;
use super::cosmos_proof;
use super::cosmos_rpc::CometEndpoint;
use super::ibc::{commitment_of, show_key};
use super::metrics::Metrics;
use super::refusal::{Kind, Refusal};

/// Verified headers kept in memory: (block time, app hash) by height.
pub const KEEP: usize = 100_000;
/// Trusted states (with their next validator set) kept to verify from; thinned evenly when full.
const KEEP_TRUSTED: usize = 128;
/// Skipping verification trusts a header signed by more than this share of trusted validators.
const TRUST: TrustThreshold = TrustThreshold::ONE_THIRD;

/// What the attestor knows about a verified header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedHeader {
    /// Block time, seconds.
    pub time: u64,
    pub app_hash: Vec<u8>,
}

#[derive(Default)]
struct Verified {
    trusted: BTreeMap<u64, TrustedState>,
    headers: BTreeMap<u64, VerifiedHeader>,
}

pub struct CosmosChain {
    pub config: CosmosChainConfig,
    /// `cosmos:<chain id>`: how requests and the signed record name it.
    pub caip2: String,
    endpoints: Vec<Arc<dyn CometEndpoint>>,
    metrics: Arc<Metrics>,
    verified: tokio::sync::Mutex<Option<Verified>>,
    /// The newest verified height for readers that must not wait (`u64::MAX`: none yet).
    tip: AtomicU64,
}

fn refuse(kind: Kind, msg: String) -> Refusal {
    Refusal::new(kind, msg)
}

impl CosmosChain {
    pub fn new(
        config: CosmosChainConfig,
        endpoints: Vec<Arc<dyn CometEndpoint>>,
        metrics: Arc<Metrics>,
    ) -> CosmosChain {
        CosmosChain {
            caip2: config.caip2(),
            config,
            endpoints,
            metrics,
            verified: tokio::sync::Mutex::new(None),
            tip: AtomicU64::new(u64::MAX),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The newest verified height, once the checkpoint was checked.
    pub fn verified_height(&self) -> Option<u64> {
        Some(self.tip.load(Ordering::SeqCst)).filter(|h| *h != u64::MAX)
    }

    fn endpoint(&self, i: usize) -> String {
        format!("endpoint {i} ({})", self.endpoints[i].label())
    }

    fn options(&self) -> VerifyOptions {
        VerifyOptions {
            trust_threshold: TRUST,
            trusting_period: self.config.trusting_period,
            clock_drift: self.config.clock_drift,
        }
    }

    /// `f` asked of every endpoint at once; every one must answer.
    async fn each<T>(
        &self,
        f: impl Fn(Arc<dyn CometEndpoint>) -> BoxFuture<'static, Result<T, String>>,
    ) -> Result<Vec<T>, Refusal> {
        let answers = futures::future::join_all(self.endpoints.iter().map(|e| f(e.clone()))).await;
        let mut out = Vec::with_capacity(answers.len());
        for (i, a) in answers.into_iter().enumerate() {
            match a {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.metrics.rpc_error(self.name(), i);
                    return Err(refuse(
                        Kind::RpcError,
                        format!("{}: {}: {e}", self.name(), self.endpoint(i)),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The newest height every endpoint has (the minimum), each serving the configured chain.
    pub async fn latest_height(&self) -> Result<u64, Refusal> {
        let answers = self
            .each(|e| Box::pin(async move { e.status().await }))
            .await?;
        let mut min = u64::MAX;
        for (i, (h, network)) in answers.into_iter().enumerate() {
            if network != self.config.chain_id {
                return Err(refuse(
                    Kind::Disagreement,
                    format!(
                        "{}: {} serves chain `{network}`, not the configured `{}`",
                        self.name(),
                        self.endpoint(i),
                        self.config.chain_id
                    ),
                ));
            }
            min = min.min(h);
        }
        self.metrics.final_height(self.name(), min);
        Ok(min)
    }

    /// The light block at `h`: the same header and validator sets at every endpoint (commits may
    /// differ in which signatures they carry; the first endpoint's is verified).
    async fn light_block(&self, h: u64) -> Result<LightBlock, Refusal> {
        let mut blocks = self
            .each(move |e| Box::pin(async move { e.light_block(h).await }))
            .await?;
        for (i, b) in blocks.iter().enumerate() {
            if b.signed_header.header.height.value() != h {
                return Err(refuse(
                    Kind::RpcError,
                    format!(
                        "{}: {} answered block {} when asked for {h}",
                        self.name(),
                        self.endpoint(i),
                        b.signed_header.header.height
                    ),
                ));
            }
        }
        let first = &blocks[0];
        let (hash, vals, next) = (
            first.signed_header.header.hash(),
            first.validators.hash(),
            first.next_validators.hash(),
        );
        for (i, b) in blocks.iter().enumerate().skip(1) {
            let (a, o) = (&first.signed_header.header, &b.signed_header.header);
            let mut differ: Vec<&str> = [
                ("app_hash", a.app_hash.as_bytes() != o.app_hash.as_bytes()),
                ("time", a.time != o.time),
                ("last_block_id", a.last_block_id != o.last_block_id),
                ("validators_hash", a.validators_hash != o.validators_hash),
                (
                    "next_validators_hash",
                    a.next_validators_hash != o.next_validators_hash,
                ),
                ("data_hash", a.data_hash != o.data_hash),
                (
                    "last_results_hash",
                    a.last_results_hash != o.last_results_hash,
                ),
                ("chain_id", a.chain_id != o.chain_id),
            ]
            .into_iter()
            .filter_map(|(f, d)| d.then_some(f))
            .collect();
            if b.validators.hash() != vals {
                differ.push("validator set");
            }
            if b.next_validators.hash() != next {
                differ.push("next validator set");
            }
            let other = o.hash();
            if other != hash || !differ.is_empty() {
                return Err(refuse(
                    Kind::Disagreement,
                    format!(
                        "{}: block {h} differs between endpoints: {} has header hash {hash}, {} \
                         has {other} (what differs: {})",
                        self.name(),
                        self.endpoint(0),
                        self.endpoint(i),
                        if differ.is_empty() {
                            "other header fields".into()
                        } else {
                            differ.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(blocks.swap_remove(0))
    }

    /// The checkpoint header, served identically everywhere, hashing to the configured hash, of the
    /// configured chain, with validator sets matching it, and not older than the trusting period.
    async fn anchor(&self, v: &mut Option<Verified>) -> Result<(), Refusal> {
        if v.is_some() {
            return Ok(());
        }
        let cp = self.config.checkpoint;
        let block = self.light_block(cp.height).await?;
        let header = &block.signed_header.header;
        let fail = |why: String| {
            refuse(
                Kind::VerificationFailed,
                format!("{}: checkpoint block {}: {why}", self.name(), cp.height),
            )
        };
        let got = header.hash();
        if got.as_bytes() != cp.hash {
            return Err(fail(format!(
                "hashes to {got} at every endpoint, not the configured {}",
                hex::encode_upper(cp.hash)
            )));
        }
        if header.chain_id.as_str() != self.config.chain_id {
            return Err(fail(format!("is of chain `{}`", header.chain_id)));
        }
        if block.validators.hash() != header.validators_hash
            || block.next_validators.hash() != header.next_validators_hash
        {
            return Err(fail("its validator sets do not match its header".into()));
        }
        let expires = (header.time + self.config.trusting_period)
            .map_err(|e| fail(format!("time overflows: {e}")))?;
        if expires <= Time::now() {
            return Err(fail(format!(
                "is older than the trusting period ({}); configure a recent checkpoint",
                humantime::format_duration(self.config.trusting_period)
            )));
        }
        let mut fresh = Verified::default();
        self.keep(&mut fresh, &block);
        *v = Some(fresh);
        Ok(())
    }

    /// Remember a verified block: its header, and its trusted state to verify from.
    fn keep(&self, v: &mut Verified, block: &LightBlock) {
        let header = &block.signed_header.header;
        let h = header.height.value();
        v.headers.insert(
            h,
            VerifiedHeader {
                time: header.time.unix_timestamp().max(0) as u64,
                app_hash: header.app_hash.as_bytes().to_vec(),
            },
        );
        while v.headers.len() > KEEP {
            v.headers.pop_first();
        }
        v.trusted.insert(h, TrustedState::from_light_block(block));
        thin(&mut v.trusted, KEEP_TRUSTED);
        let tip = v.headers.keys().next_back().copied().unwrap_or(h);
        self.tip.store(tip, Ordering::SeqCst);
        self.metrics.verified_height(self.name(), tip);
    }

    /// Check the endpoints and the checkpoint.
    pub async fn check(&self) -> Result<(), Refusal> {
        self.latest_height().await?;
        let mut v = self.verified.lock().await;
        self.anchor(&mut v).await
    }

    /// Header `h`, verified from the newest trusted header below it. The caller checks that every
    /// endpoint has `h`.
    pub async fn verify(&self, h: u64) -> Result<VerifiedHeader, Refusal> {
        let cp = self.config.checkpoint.height;
        if h < cp {
            return Err(refuse(
                Kind::BadRequest,
                format!(
                    "{}: block {h} is below the checkpoint {cp}; nothing before it can be verified",
                    self.name()
                ),
            ));
        }
        let mut guard = self.verified.lock().await;
        self.anchor(&mut guard).await?;
        let v = guard.as_mut().expect("anchored above");
        if let Some(got) = v.headers.get(&h) {
            return Ok(got.clone());
        }
        let Some((_, from)) = v.trusted.range(..h).next_back() else {
            return Err(refuse(
                Kind::BadRequest,
                format!(
                    "{}: block {h} is older than every header kept to verify from (oldest {}); \
                     attestors sign recent blocks",
                    self.name(),
                    v.trusted.keys().next().copied().unwrap_or(cp)
                ),
            ));
        };
        let target = TmHeight::try_from(h)
            .map_err(|e| refuse(Kind::BadRequest, format!("height {h}: {e}")))?;
        let mut bisection = Bisection::new(from.clone(), target, self.options(), Time::now());
        while let Some(next) = bisection.next_height() {
            let n = next.value();
            let block = self.light_block(n).await?;
            bisection.supply(&block).map_err(|e| {
                refuse(
                    Kind::VerificationFailed,
                    format!(
                        "{}: block {n} does not verify from the trusted block {}: {e}",
                        self.name(),
                        bisection.trusted().height
                    ),
                )
            })?;
            // `supply` also succeeds when it only asks for a block in between first.
            if bisection.trusted().height.value() == n {
                self.keep(v, &block);
            }
        }
        v.headers.get(&h).cloned().ok_or_else(|| {
            refuse(
                Kind::Internal,
                format!("{}: block {h} verified but not kept", self.name()),
            )
        })
    }

    /// The state this attestor may sign for `height`: `(height, block time in seconds)` of a
    /// verified header every endpoint has.
    pub async fn state_at(&self, height: u64) -> Result<u64, Refusal> {
        self.require(height).await?;
        Ok(self.verify(height).await?.time)
    }

    async fn require(&self, height: u64) -> Result<(), Refusal> {
        let latest = self.latest_height().await?;
        if height > latest {
            return Err(refuse(
                Kind::NotFinal,
                format!(
                    "{}: block {height} does not exist at every endpoint yet (newest at all of \
                     them: {latest})",
                    self.name()
                ),
            ));
        }
        Ok(())
    }

    /// The commitments under `keys` in the `ibc` store after block `height` (zero: absent), each
    /// answered identically by every endpoint and proven by ICS-23 under the app hash of the
    /// verified header `height + 1`.
    pub async fn packets_at(&self, height: u64, keys: &[Vec<u8>]) -> Result<Vec<H256>, Refusal> {
        self.require(height + 1).await?;
        self.verify(height).await?;
        let app_hash = self.verify(height + 1).await?.app_hash;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value = self.proven_value(height, key, &app_hash).await?;
            let c = commitment_of(key, value.as_deref())
                .map_err(|e| refuse(Kind::BadRequest, format!("{}: {e}", self.name())))?;
            out.push(c);
        }
        Ok(out)
    }

    /// The value of `key` in the `ibc` store at `height` (`None`: absent), the same at every
    /// endpoint and proven under `app_hash` (that of header `height + 1`) by each of them.
    pub async fn proven_value(
        &self,
        height: u64,
        key: &[u8],
        app_hash: &[u8],
    ) -> Result<Option<Vec<u8>>, Refusal> {
        let k = key.to_vec();
        let answers = self
            .each(move |e| {
                let k = k.clone();
                Box::pin(async move { e.query_ibc(&k, height).await })
            })
            .await?;
        for (i, a) in answers.iter().enumerate() {
            if a.code.is_err() || a.height.value() != height {
                self.metrics.rpc_error(self.name(), i);
                return Err(refuse(
                    Kind::RpcError,
                    format!(
                        "{}: {}: query of key {} at height {height} answered code {} at height \
                         {}: {}",
                        self.name(),
                        self.endpoint(i),
                        show_key(key),
                        a.code.value(),
                        a.height,
                        a.log
                    ),
                ));
            }
        }
        let value = &answers[0].value;
        for (i, a) in answers.iter().enumerate().skip(1) {
            if a.value != *value {
                return Err(refuse(
                    Kind::Disagreement,
                    format!(
                        "{}: key {} at height {height} differs between endpoints: {} has 0x{}, \
                         {} has 0x{}",
                        self.name(),
                        show_key(key),
                        self.endpoint(0),
                        hex::encode(value),
                        self.endpoint(i),
                        hex::encode(&a.value)
                    ),
                ));
            }
        }
        for (i, a) in answers.iter().enumerate() {
            cosmos_proof::verify(app_hash, key, &a.value, a.proof.as_ref()).map_err(|e| {
                refuse(
                    Kind::VerificationFailed,
                    format!(
                        "{}: {}: the proof of key {} at height {height} does not verify against \
                         the app hash of verified block {}: {e}",
                        self.name(),
                        self.endpoint(i),
                        show_key(key),
                        height + 1
                    ),
                )
            })?;
        }
        Ok((!value.is_empty()).then(|| value.clone()))
    }

    /// Verify the newest block every endpoint has (the background follower), so the trusted
    /// header never ages past the trusting period while no request comes.
    pub async fn follow(&self) -> Result<u64, Refusal> {
        let latest = self.latest_height().await?;
        if latest < self.config.checkpoint.height {
            self.check().await?;
            return Ok(latest);
        }
        self.verify(latest).await?;
        Ok(latest)
    }
}

/// Keep at most `max` trusted states: the oldest and the newest always, dropping the one closest
/// to its older neighbour until it fits, so the rest stay spread over the range.
fn thin(trusted: &mut BTreeMap<u64, TrustedState>, max: usize) {
    while trusted.len() > max.max(2) {
        let heights: Vec<u64> = trusted.keys().copied().collect();
        let drop = (1..heights.len() - 1)
            .min_by_key(|&i| heights[i] - heights[i - 1])
            .map(|i| heights[i]);
        match drop {
            Some(h) => trusted.remove(&h),
            None => break,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_spreads_the_rest() {
        let state = |h: u64| TrustedState {
            chain_id: "c".parse().unwrap(),
            height: TmHeight::try_from(h).unwrap(),
            time: Time::unix_epoch(),
            next_validators: ferry_light_client_tendermint::ValidatorSet::without_proposer(vec![]),
            next_validators_hash: Default::default(),
        };
        let mut m = BTreeMap::new();
        for h in (1..=100).chain([1000, 5000]) {
            m.insert(h, state(h));
            thin(&mut m, 8);
        }
        let keys: Vec<u64> = m.keys().copied().collect();
        assert_eq!(keys.len(), 8);
        assert_eq!((keys[0], keys[7]), (1, 5000));
        assert!(keys.contains(&1000), "{keys:?}");
    }
}

//! Misbehaviour (fork) detection against a witness node.
//!
//! A chain with `witness_rpc` configured is cross-checked in two places:
//!
//! - before every client update ([`CosmosChain::witness_gate`], called by `client_headers`): the
//!   header Ferry just verified from the primary is compared with the witness's at the same
//!   height (or, when the witness is behind, both at the witness's latest height). A conflict
//!   halts relaying from this chain at once: no header of it is put in a client message again;
//! - by a monitor per client of this chain ([`watch_client`], spawned by the supervisor): every
//!   few seconds it compares primary and witness above the client's trusted height on its host,
//!   and when both conflicting headers verify from that trusted state it counts
//!   `ferry_misbehaviour_detected_total{chain=<host>, client}`, submits the evidence to the host as
//!   `MsgUpdateClient` with an `ibc.lightclients.tendermint.v1.Misbehaviour` client message (which
//!   freezes the client), and halts relaying from this chain.
//!
//! Once halted, relaying from the chain stays stopped until the operator restarts Ferry (a frozen
//! client on the host halts it again at start); see docs/MISBEHAVIOUR.md.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_light_client_tendermint::misbehaviour::{
    detect, MisbehaviourError, MisbehaviourEvidence, MisbehaviourHeader,
};
use ferry_light_client_tendermint::{LightBlock, TrustedState, ValidatorSet};
use ibc_proto::ibc::lightclients::tendermint::v1 as tm;
use tendermint_rpc::{Client, HttpClient, HttpClientUrl, Paging};
use tokio::sync::watch;

use super::{any, raw_height, time_ns, CosmosChain};
use crate::chain::{ChainError, ClientHost, Heights, Msg, Result, Submit};
use crate::ibc::{ChainId, ClientId, Height};
use crate::telemetry::metrics;

pub const MISBEHAVIOUR_TYPE_URL: &str = "/ibc.lightclients.tendermint.v1.Misbehaviour";
/// How often a client's monitor compares primary and witness.
const CHECK_INTERVAL: Duration = Duration::from_secs(3);
/// How often it only looks for a frozen client, when the chain has no witness.
const FROZEN_INTERVAL: Duration = Duration::from_secs(30);
/// The most a client update waits for the witness before relaying on without it.
const GATE_TIMEOUT: Duration = Duration::from_secs(5);

/// One chain's witness endpoint and whether relaying from the chain is halted.
pub struct Witness {
    url: Option<String>,
    client: Option<HttpClient>,
    halted: Mutex<Option<String>>,
}

impl Witness {
    pub fn new(chain: &ChainId, url: Option<&str>) -> Witness {
        let client = url.and_then(|u| {
            let built = u
                .parse::<HttpClientUrl>()
                .map_err(|e| e.to_string())
                .and_then(|p| HttpClient::builder(p).timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string()));
            built.map_err(|e| tracing::error!(chain = %chain, url = u, error = %e, "witness RPC unusable; misbehaviour detection off")).ok()
        });
        Witness {
            url: url.map(str::to_string),
            client,
            halted: Mutex::new(None),
        }
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    pub fn configured(&self) -> bool {
        self.client.is_some()
    }

    /// Why relaying from this chain is halted, if it is.
    pub fn halted(&self) -> Option<String> {
        self.halted.lock().expect("halt lock").clone()
    }

    /// Halt relaying from this chain (the first reason is kept).
    pub fn halt(&self, reason: impl Into<String>) {
        self.halted
            .lock()
            .expect("halt lock")
            .get_or_insert_with(|| reason.into());
    }
}

fn with_proposer(set: &ValidatorSet, proposer: Option<tendermint::account::Id>) -> ValidatorSet {
    // ibc-go cannot decode a validator set without a proposer; it is not part of the set's hash.
    let vals = set.validators().clone();
    let p = set
        .proposer()
        .clone()
        .or_else(|| proposer.and_then(|a| vals.iter().find(|v| v.address == a).cloned()))
        .or_else(|| vals.first().cloned());
    ValidatorSet::new(vals, p)
}

fn header_proto(h: &MisbehaviourHeader, revision: u64) -> tm::Header {
    tm::Header {
        signed_header: Some(h.signed_header.clone().into()),
        validator_set: Some(
            with_proposer(
                &h.validator_set,
                Some(h.signed_header.header.proposer_address),
            )
            .into(),
        ),
        trusted_height: Some(raw_height(Height::new(revision, h.trusted_height.value()))),
        trusted_validators: Some(with_proposer(&h.trusted_validators, None).into()),
    }
}

/// The evidence as ibc-go's `ibc.lightclients.tendermint.v1.Misbehaviour`, `Any`-encoded: header 1
/// is the primary's, header 2 the witness's, both at one height.
pub fn misbehaviour_msg(client: &ClientId, ev: &MisbehaviourEvidence, revision: u64) -> Msg {
    #[allow(deprecated)]
    let m = tm::Misbehaviour {
        // Deprecated, but ibc-go v8 still validates it as a client identifier.
        client_id: client.to_string(),
        header_1: Some(header_proto(&ev.header_1, revision)),
        header_2: Some(header_proto(&ev.header_2, revision)),
    };
    any(MISBEHAVIOUR_TYPE_URL, &m)
}

fn witness_err(chain: &ChainId, method: &'static str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc {
        chain: chain.clone(),
        method,
        reason: format!("witness: {e}"),
    }
}

impl CosmosChain {
    async fn witness_light_block(&self, w: &HttpClient, h: u64) -> Result<LightBlock> {
        let th = super::tm_height(h)?;
        let th1 = super::tm_height(h + 1)?;
        let (commit, vals, next) = tokio::try_join!(
            async {
                w.commit(th)
                    .await
                    .map_err(|e| witness_err(&self.id, "commit", e))
            },
            async {
                w.validators(th, Paging::All)
                    .await
                    .map_err(|e| witness_err(&self.id, "validators", e))
            },
            async {
                w.validators(th1, Paging::All)
                    .await
                    .map_err(|e| witness_err(&self.id, "validators", e))
            },
        )?;
        let strip = |mut v: Vec<tendermint::validator::Info>| {
            v.iter_mut()
                .for_each(|v| v.proposer_priority = Default::default());
            v
        };
        let proposer = commit.signed_header.header.proposer_address;
        let validators = with_proposer(
            &ValidatorSet::new(strip(vals.validators), None),
            Some(proposer),
        );
        let next_validators = with_proposer(&ValidatorSet::new(strip(next.validators), None), None);
        Ok(LightBlock {
            signed_header: commit.signed_header,
            validators,
            next_validators,
        })
    }

    /// Compare the primary and the witness at `min(target, witness latest)`. `Ok(Some(evidence))`
    /// when they differ and both verify from `trusted`; `Ok(None)` when they agree or there is no
    /// height above `trusted` to compare yet. `known` is the primary's block at `target`, if the
    /// caller already has it.
    pub async fn find_misbehaviour(
        &self,
        trusted: &LightBlock,
        target: u64,
        known: Option<&LightBlock>,
    ) -> Result<Option<MisbehaviourEvidence>> {
        let Some(w) = self.witness.client.as_ref() else {
            return Ok(None);
        };
        let status = w
            .status()
            .await
            .map_err(|e| witness_err(&self.id, "status", e))?;
        let h = target.min(status.sync_info.latest_block_height.value());
        if h <= trusted.height().value() {
            return Ok(None);
        }
        let primary = async {
            match known {
                Some(b) if b.height().value() == h => Ok(b.clone()),
                _ => self.fetch_light_block(h).await,
            }
        };
        let (primary, witness) = tokio::try_join!(primary, self.witness_light_block(w, h))?;
        if primary.signed_header.header.hash() == witness.signed_header.header.hash() {
            return Ok(None);
        }
        let now = tendermint::Time::now();
        match detect(
            &primary,
            &witness,
            &TrustedState::from_light_block(trusted),
            &self.verify_options(),
            now,
        ) {
            Ok(ev) => Ok(ev),
            Err(MisbehaviourError::Primary(source)) => {
                metrics().verification_failure(self.id.as_str(), source.reason());
                Err(ChainError::Verification {
                    chain: self.id.clone(),
                    height: h,
                    source,
                })
            }
            Err(e) => Err(ChainError::FaultyWitness {
                chain: self.id.clone(),
                height: h,
                reason: e.to_string(),
            }),
        }
    }

    /// The hook in `client_headers`: refuse while halted; cross-check the verified target with the
    /// witness. A witness that cannot answer does not stop relaying (it is logged).
    pub(super) async fn witness_gate(
        &self,
        base: &LightBlock,
        verified: &[LightBlock],
    ) -> Result<()> {
        if let Some(reason) = self.witness.halted() {
            return Err(ChainError::Halted {
                chain: self.id.clone(),
                reason,
            });
        }
        let Some(target) = verified.last().filter(|_| self.witness.configured()) else {
            return Ok(());
        };
        let h = target.height().value();
        match tokio::time::timeout(GATE_TIMEOUT, self.find_misbehaviour(base, h, Some(target)))
            .await
        {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(ev))) => {
                let at = ev.height().value();
                tracing::error!(chain = %self.id, height = at, "MISBEHAVIOUR: primary and witness signed different headers; relaying from this chain halted");
                let reason = format!("conflicting headers at height {at}");
                self.witness.halt(reason.clone());
                Err(ChainError::Halted {
                    chain: self.id.clone(),
                    reason,
                })
            }
            Ok(Err(e)) => {
                tracing::warn!(chain = %self.id, height = h, error = %e, "witness cross-check failed; relaying on");
                Ok(())
            }
            Err(_) => {
                tracing::warn!(chain = %self.id, height = h, "witness did not answer in {}s; relaying on", GATE_TIMEOUT.as_secs());
                Ok(())
            }
        }
    }

    /// The block at the client's trusted height, checked against the host's consensus state.
    async fn trusted_block_for(
        &self,
        host: &CosmosChain,
        client: &ClientId,
        at: Height,
    ) -> Result<LightBlock> {
        let cons = host.consensus_state(client, at).await?;
        let block = self.fetch_light_block(at.revision_height).await?;
        let header = &block.signed_header.header;
        let ts = cons
            .timestamp
            .map(|t| t.seconds.max(0) as u64 * 1_000_000_000 + t.nanos.max(0) as u64);
        if header.next_validators_hash.as_bytes() != cons.next_validators_hash.as_slice()
            || Some(time_ns(header.time)) != ts
        {
            metrics().verification_failure(self.id.as_str(), "anchor_mismatch");
            return Err(self.malformed(
                "commit",
                format!(
                    "block {at} does not match {client}'s consensus state on {}",
                    host.id
                ),
            ));
        }
        Ok(block)
    }
}

/// What one round of a client's monitor found.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// The host's client is frozen (by Ferry or anyone): relaying from the chain is halted.
    Frozen,
    /// No conflict seen (or nothing to compare yet).
    Clean,
    /// Evidence found and submitted; the host's client is frozen by tx `hash`.
    Submitted { height: u64, hash: String },
}

/// One check of `client` (a client of `reference` hosted on `host`). `counted` keeps the metric
/// at one count per fork when a submission has to be retried.
pub async fn check_client(
    reference: &CosmosChain,
    host: &CosmosChain,
    client: &ClientId,
    counted: &mut bool,
) -> Result<Round> {
    let cs = host.client_state(client).await?;
    if cs
        .frozen_height
        .as_ref()
        .is_some_and(|h| h.revision_number != 0 || h.revision_height != 0)
    {
        reference
            .witness
            .halt(format!("client {client} on {} is frozen", host.id));
        return Ok(Round::Frozen);
    }
    if !reference.witness.configured() {
        return Ok(Round::Clean);
    }
    let latest = cs
        .latest_height
        .ok_or_else(|| host.malformed("abci_query", format!("{client} has no latest height")))?;
    let trusted_h = Height::new(latest.revision_number, latest.revision_height);
    let trusted = reference.trusted_block_for(host, client, trusted_h).await?;
    let (target, _) = reference.latest().await?;
    let Some(ev) = reference
        .find_misbehaviour(&trusted, target.revision_height, None)
        .await?
    else {
        return Ok(Round::Clean);
    };
    let height = ev.height().value();
    if !*counted {
        metrics().misbehaviour(host.id.as_str(), client.as_str());
        *counted = true;
    }
    tracing::error!(
        chain = %reference.id, height, host = %host.id, client = %client, trusted_height = trusted_h.revision_height,
        "MISBEHAVIOUR: primary and witness signed different headers at one height; submitting evidence and halting relaying from this chain"
    );
    reference
        .witness
        .halt(format!("conflicting headers at height {height}"));
    let msg = host.update_client_msg(client, misbehaviour_msg(client, &ev, reference.revision()));
    let out = host.submit(vec![msg], 0).await?;
    tracing::error!(chain = %reference.id, host = %host.id, client = %client, tx = %out.hash, "misbehaviour evidence accepted; client frozen");
    Ok(Round::Submitted {
        height,
        hash: out.hash,
    })
}

/// Watch `client` (of `reference`, hosted on `host`) until it is frozen or `shutdown` turns true.
pub async fn watch_client(
    reference: Arc<CosmosChain>,
    host: Arc<CosmosChain>,
    client: ClientId,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = if reference.witness.configured() {
        CHECK_INTERVAL
    } else {
        FROZEN_INTERVAL
    };
    if let Some(url) = reference.witness.url() {
        tracing::info!(chain = %reference.id, witness = url, host = %host.id, client = %client, "cross-checking headers with the witness");
    }
    let mut counted = false;
    loop {
        match check_client(&reference, &host, &client, &mut counted).await {
            Ok(Round::Clean) => {}
            Ok(Round::Frozen) | Ok(Round::Submitted { .. }) => {
                tracing::error!(chain = %reference.id, host = %host.id, client = %client, "client is frozen; relaying from {} halted until an operator acts (docs/MISBEHAVIOUR.md)", reference.id);
                return;
            }
            Err(e) => {
                tracing::warn!(chain = %reference.id, host = %host.id, client = %client, error = %e, "misbehaviour check failed; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// Monitors for both clients of a path.
pub fn watch_path(
    a: Arc<CosmosChain>,
    b: Arc<CosmosChain>,
    client_a: ClientId,
    client_b: ClientId,
    shutdown: watch::Receiver<bool>,
) {
    // client_b, hosted on b, follows a; client_a, hosted on a, follows b.
    tokio::spawn(watch_client(
        a.clone(),
        b.clone(),
        client_b,
        shutdown.clone(),
    ));
    tokio::spawn(watch_client(b, a, client_a, shutdown));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_light_client_tendermint::SignedHeader;
    use prost::Message;
    use tendermint::block::{Commit, CommitSig, Header, Id as BlockId};
    use tendermint::validator::Info;

    fn set(seed: u8) -> ValidatorSet {
        let key = tendermint::PublicKey::from_raw_ed25519(&[seed; 32]).unwrap();
        ValidatorSet::new(vec![Info::new(key, 10u32.into())], None)
    }

    fn side(vals: &ValidatorSet, height: u64, time_s: i64) -> MisbehaviourHeader {
        let proposer = vals.validators()[0].address;
        let header = Header {
            version: tendermint::block::header::Version { block: 11, app: 0 },
            chain_id: "l3-appchain-1".parse().unwrap(),
            height: height.try_into().unwrap(),
            time: tendermint::Time::from_unix_timestamp(time_s, 0).unwrap(),
            last_block_id: None,
            last_commit_hash: None,
            data_hash: None,
            validators_hash: vals.hash(),
            next_validators_hash: vals.hash(),
            consensus_hash: tendermint::Hash::None,
            app_hash: Default::default(),
            last_results_hash: None,
            evidence_hash: None,
            proposer_address: proposer,
        };
        let block_id = BlockId {
            hash: header.hash(),
            part_set_header: Default::default(),
        };
        let commit = Commit {
            height: header.height,
            round: 0u16.into(),
            block_id,
            signatures: vec![CommitSig::BlockIdFlagAbsent],
        };
        MisbehaviourHeader {
            signed_header: SignedHeader::new(header, commit).unwrap(),
            validator_set: vals.clone(),
            trusted_height: 40u64.try_into().unwrap(),
            trusted_validators: vals.clone(),
        }
    }

    #[test]
    fn builds_ibc_go_misbehaviour() {
        let vals = set(7);
        let ev = MisbehaviourEvidence {
            header_1: side(&vals, 57, 1_000),
            header_2: side(&vals, 57, 2_000),
        };
        let client: ClientId = "07-tendermint-0".parse().unwrap();
        let msg = misbehaviour_msg(&client, &ev, 1);
        assert_eq!(msg.type_url, MISBEHAVIOUR_TYPE_URL);
        let m = tm::Misbehaviour::decode(msg.value.as_slice()).unwrap();
        #[allow(deprecated)]
        let id = m.client_id.clone();
        assert_eq!(id, "07-tendermint-0");
        let (h1, h2) = (m.header_1.unwrap(), m.header_2.unwrap());
        for (h, secs) in [(&h1, 1_000), (&h2, 2_000)] {
            let sh = h.signed_header.as_ref().unwrap();
            let header = sh.header.as_ref().unwrap();
            assert_eq!(header.height, 57);
            assert_eq!(
                header.time.as_ref().unwrap().seconds,
                secs,
                "header 1 is the primary's, header 2 the witness's"
            );
            assert_eq!(sh.commit.as_ref().unwrap().height, 57);
            let trusted = h.trusted_height.as_ref().unwrap();
            assert_eq!((trusted.revision_number, trusted.revision_height), (1, 40));
            // ibc-go rejects validator sets without a proposer.
            assert!(h.validator_set.as_ref().unwrap().proposer.is_some());
            assert!(h.trusted_validators.as_ref().unwrap().proposer.is_some());
            assert_eq!(h.validator_set.as_ref().unwrap().validators.len(), 1);
        }
        assert_ne!(
            h1.signed_header.unwrap().commit.unwrap().block_id,
            h2.signed_header.unwrap().commit.unwrap().block_id
        );
    }

    #[test]
    fn proposer_is_kept_or_chosen() {
        let vals = set(9);
        assert!(vals.proposer().is_none());
        let addr = vals.validators()[0].address;
        assert_eq!(
            with_proposer(&vals, Some(addr))
                .proposer()
                .as_ref()
                .unwrap()
                .address,
            addr
        );
        assert_eq!(
            with_proposer(&vals, None)
                .proposer()
                .as_ref()
                .unwrap()
                .address,
            addr
        );
        assert_eq!(
            with_proposer(&vals, None).hash(),
            vals.hash(),
            "the proposer is not part of the hash"
        );
    }

    #[test]
    fn halt_keeps_the_first_reason() {
        let w = Witness::new(&"l3-appchain-1".parse().unwrap(), None);
        assert!(!w.configured());
        assert_eq!(w.halted(), None);
        w.halt("first");
        w.halt("second");
        assert_eq!(w.halted().as_deref(), Some("first"));
    }
}

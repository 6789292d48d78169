//! Gathering a quorum of attestor signatures. The relayer holds no attestor key: it asks every
//! configured `ferry attestor` at once and keeps a signature only if it is over the digest the
//! relayer computed itself from the state it verified, and its signer is a member the client trusts
//! now, not yet counted. It returns as soon as a quorum is in, so a slow or stopped attestor costs
//! nothing while the others answer.

use std::time::Duration;

use ethers::types::Address;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use super::attestation::{recover, state_digest, StateAttestation};
use crate::chain::Committee;

/// What became of one attestor's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// The signer is not in the client's current attestor set.
    NotMember,
    /// The attestor vouched for other data than Ferry verified (another root, time or height).
    DataMismatch,
    BadSignature,
    /// A second signature of a member already counted.
    Duplicate,
    /// No usable answer: refused, unreachable, timed out, malformed.
    Unavailable,
}

impl Outcome {
    /// Every outcome's label (the metric's series are created at zero from these).
    pub const LABELS: [&'static str; 6] = [
        "accepted",
        "not_member",
        "data_mismatch",
        "bad_signature",
        "duplicate",
        "unavailable",
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::NotMember => "not_member",
            Outcome::DataMismatch => "data_mismatch",
            Outcome::BadSignature => "bad_signature",
            Outcome::Duplicate => "duplicate",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// `POST /v1/attest/state` body.
#[derive(Serialize)]
struct Request<'a> {
    chain: &'a str,
    height: u64,
    domain: super::attestation::Domain,
}

/// `POST /v1/attest/state` answer.
#[derive(Deserialize, Debug, Clone)]
pub struct Answer {
    pub attestation: StateAttestation,
    pub signature: ethers::types::Bytes,
}

/// Judge one answer against what Ferry verified; `seen` holds the members already counted.
pub fn judge(
    committee: &Committee,
    expected: &StateAttestation,
    answer: &Answer,
    seen: &mut Vec<Address>,
) -> Outcome {
    if &answer.attestation != expected {
        return Outcome::DataMismatch;
    }
    let digest = state_digest(&committee.domain, expected);
    let Some(signer) = recover(digest, &answer.signature) else {
        return Outcome::BadSignature;
    };
    if !committee.members.contains(&signer) {
        return Outcome::NotMember;
    }
    if seen.contains(&signer) {
        return Outcome::Duplicate;
    }
    seen.push(signer);
    Outcome::Accepted
}

async fn ask(
    http: &reqwest::Client,
    endpoint: &reqwest::Url,
    committee: &Committee,
    att: &StateAttestation,
) -> Result<Answer, String> {
    let url = endpoint
        .join("v1/attest/state")
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let resp = http
        .post(url)
        .json(&Request {
            chain: &att.attested_chain,
            height: att.height,
            domain: committee.domain,
        })
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(300).collect();
        return Err(format!("{endpoint}: {status}: {body}"));
    }
    resp.json::<Answer>()
        .await
        .map_err(|e| format!("{endpoint}: malformed answer: {e}"))
}

/// Ask every endpoint at once; return `quorum` accepted signatures as soon as they are in, or
/// `(accepted, what went wrong)` once every answer is in (or `timeout` passed) without a quorum.
pub async fn collect(
    http: &reqwest::Client,
    endpoints: &[reqwest::Url],
    committee: &Committee,
    att: &StateAttestation,
    timeout: Duration,
    on_outcome: impl Fn(Outcome),
) -> Result<Vec<Vec<u8>>, (usize, String)> {
    let quorum = committee.quorum as usize;
    if endpoints.is_empty() {
        return Err((0, "no attestor_endpoints configured".into()));
    }
    let mut pending: FuturesUnordered<_> = endpoints
        .iter()
        .map(|e| async move { (e, ask(http, e, committee, att).await) })
        .collect();
    let mut seen = Vec::new();
    let mut sigs = Vec::new();
    let mut problems = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while sigs.len() < quorum {
        let next = tokio::time::timeout_at(deadline, pending.next()).await;
        let (endpoint, answer) = match next {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(_) => {
                for _ in 0..pending.len() {
                    on_outcome(Outcome::Unavailable);
                }
                problems.push(format!(
                    "{} attestor(s) did not answer in time",
                    pending.len()
                ));
                break;
            }
        };
        let outcome = match answer {
            Ok(a) => {
                let o = judge(committee, att, &a, &mut seen);
                if o == Outcome::Accepted {
                    sigs.push(a.signature.to_vec());
                } else {
                    problems.push(format!("{endpoint}: {}", o.label()));
                }
                o
            }
            Err(e) => {
                problems.push(e);
                Outcome::Unavailable
            }
        };
        if outcome != Outcome::Accepted {
            tracing::warn!(%endpoint, height = att.height, outcome = outcome.label(), "attestor signature not used");
        }
        on_outcome(outcome);
    }
    if sigs.len() >= quorum {
        Ok(sigs)
    } else {
        Err((sigs.len(), problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_outcome_label_is_listed() {
        use super::Outcome::*;
        let all = [
            Accepted,
            NotMember,
            DataMismatch,
            BadSignature,
            Duplicate,
            Unavailable,
        ];
        let labels: Vec<_> = all.iter().map(|o| o.label()).collect();
        assert_eq!(labels, super::Outcome::LABELS);
    }

    use super::*;
    use crate::chain::evm::attestation::Domain;
    use ethers::signers::{LocalWallet, Signer};
    use ethers::types::H256;

    fn key(i: u8) -> LocalWallet {
        LocalWallet::from_bytes(&[i; 32]).unwrap()
    }

    fn setup() -> (Committee, StateAttestation) {
        let committee = Committee {
            domain: Domain {
                host_chain_id: 31337,
                light_client: Address::repeat_byte(0xcc),
            },
            attested_chain: "eip155:33333".into(),
            members: vec![key(1).address(), key(2).address(), key(3).address()],
            quorum: 2,
        };
        let att = StateAttestation {
            attested_chain: "eip155:33333".into(),
            height: 42,
            timestamp: 1_700_000_000,
            state_root: H256::repeat_byte(9),
        };
        (committee, att)
    }

    fn answer(w: &LocalWallet, d: &Domain, att: &StateAttestation) -> Answer {
        Answer {
            attestation: att.clone(),
            signature: w.sign_hash(state_digest(d, att)).unwrap().to_vec().into(),
        }
    }

    #[test]
    fn member_over_verified_data_is_accepted_once() {
        let (c, att) = setup();
        let mut seen = vec![];
        let a = answer(&key(1), &c.domain, &att);
        assert_eq!(judge(&c, &att, &a, &mut seen), Outcome::Accepted);
        assert_eq!(judge(&c, &att, &a, &mut seen), Outcome::Duplicate);
    }

    #[test]
    fn non_member_other_data_and_other_domain_are_discarded() {
        let (c, att) = setup();
        let mut seen = vec![];
        let outsider = answer(&key(7), &c.domain, &att);
        assert_eq!(judge(&c, &att, &outsider, &mut seen), Outcome::NotMember);

        let mut forged = att.clone();
        forged.state_root = H256::repeat_byte(1);
        let lying = answer(&key(1), &c.domain, &forged);
        assert_eq!(judge(&c, &att, &lying, &mut seen), Outcome::DataMismatch);

        // Signed for another client: the answer's data matches, the digest does not.
        let other = Domain {
            light_client: Address::repeat_byte(0xdd),
            ..c.domain
        };
        let misdirected = answer(&key(2), &other, &att);
        assert_ne!(
            judge(&c, &att, &misdirected, &mut seen),
            Outcome::Accepted,
            "a signature for another client must not count"
        );
        assert!(seen.is_empty());
    }

    #[tokio::test]
    async fn no_endpoints_is_an_error_not_a_hang() {
        let (c, att) = setup();
        let http = reqwest::Client::new();
        let r = collect(&http, &[], &c, &att, Duration::from_secs(1), |_| {}).await;
        assert!(r.is_err());
    }
}

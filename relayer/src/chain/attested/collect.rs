//! Gathering a quorum of attestor signatures in the ibc-go attestation format. Every configured
//! endpoint is asked at once; an answer counts only if its data says what was asked (the height,
//! and for packets exactly the paths asked for, in order), its signature recovers to a member of
//! the client's current set over that data, and the member was not counted yet. Answers are grouped
//! by the data they sign: the first group to reach the quorum is the attestation.

use std::collections::HashMap;
use std::time::Duration;

use ethers::types::{Address, Bytes, H256};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use super::format::{self, Entry, TAG_PACKET, TAG_STATE};
use crate::chain::evm::collect::Outcome;
use crate::chain::IbcCommittee;
use crate::telemetry::metrics;

/// A quorum-signed attestation: the data and the signatures in the order they arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub data: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
}

/// What is asked of the attestors.
#[derive(Clone, Debug)]
pub enum Ask {
    State {
        height: u64,
    },
    /// Raw v2 store keys at `height`.
    Packets {
        height: u64,
        keys: Vec<Vec<u8>>,
    },
}

impl Ask {
    fn route(&self) -> &'static str {
        match self {
            Ask::State { .. } => "v1/attest/ibc/state",
            Ask::Packets { .. } => "v1/attest/ibc/packets",
        }
    }
    fn tag(&self) -> u8 {
        match self {
            Ask::State { .. } => TAG_STATE,
            Ask::Packets { .. } => TAG_PACKET,
        }
    }
    pub fn height(&self) -> u64 {
        match self {
            Ask::State { height } | Ask::Packets { height, .. } => *height,
        }
    }
    /// The data says what was asked.
    fn matches(&self, data: &[u8]) -> bool {
        match self {
            Ask::State { height } => format::decode_state(data).is_some_and(|(h, _)| h == *height),
            Ask::Packets { height, keys } => {
                format::decode_packets(data).is_some_and(|(h, entries): (u64, Vec<Entry>)| {
                    h == *height
                        && entries.len() == keys.len()
                        && entries
                            .iter()
                            .zip(keys)
                            .all(|(e, k)| e.path == format::path_of(k))
                })
            }
        }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    chain: &'a str,
    height: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Clone)]
struct Answer {
    attestation_data: Bytes,
    signature: Bytes,
}

/// Answers signing the same data: the members counted and their signatures.
struct Group {
    data: Vec<u8>,
    seen: Vec<Address>,
    signatures: Vec<Vec<u8>>,
}

/// Judge one answer; `seen` holds the members already counted for that data.
fn judge(
    committee: &IbcCommittee,
    ask: &Ask,
    data: &[u8],
    sig: &[u8],
    seen: &mut Vec<Address>,
) -> Outcome {
    if !ask.matches(data) {
        return Outcome::DataMismatch;
    }
    let Some(signer) = format::signer(ask.tag(), data, sig) else {
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

/// Ask every endpoint for `ask` about `chain` (CAIP-2 name); `label` names the chain in metrics.
pub async fn collect(
    http: &reqwest::Client,
    endpoints: &[reqwest::Url],
    chain: &str,
    label: &str,
    committee: &IbcCommittee,
    ask: &Ask,
) -> Result<Signed, String> {
    let body = Request {
        chain,
        height: ask.height(),
        keys: match ask {
            Ask::State { .. } => None,
            Ask::Packets { keys, .. } => Some(
                keys.iter()
                    .map(|k| format!("0x{}", hex::encode(k)))
                    .collect(),
            ),
        },
    };
    let mut pending: FuturesUnordered<_> = endpoints
        .iter()
        .map(|url| {
            let req = http
                .post(url.join(ask.route()).expect("a valid route"))
                .json(&body);
            async move {
                let res = req.send().await.map_err(|e| e.to_string())?;
                let status = res.status();
                if !status.is_success() {
                    let text = res.text().await.unwrap_or_default();
                    return Err(format!(
                        "{status}: {}",
                        text.chars().take(300).collect::<String>()
                    ));
                }
                res.json::<Answer>().await.map_err(|e| e.to_string())
            }
        })
        .collect();
    let mut groups: HashMap<H256, Group> = HashMap::new();
    let mut refusals = Vec::new();
    while let Some(answer) = pending.next().await {
        let outcome = match answer {
            Err(e) => {
                refusals.push(e);
                Outcome::Unavailable
            }
            Ok(a) => {
                let key = H256::from(ethers::utils::keccak256(&a.attestation_data));
                let group = groups.entry(key).or_insert_with(|| Group {
                    data: a.attestation_data.to_vec(),
                    seen: vec![],
                    signatures: vec![],
                });
                let o = judge(committee, ask, &group.data, &a.signature, &mut group.seen);
                if o == Outcome::Accepted {
                    group.signatures.push(a.signature.to_vec());
                    if group.signatures.len() >= committee.quorum {
                        metrics().attestation_signature(label, o.label());
                        return Ok(Signed {
                            data: group.data.clone(),
                            signatures: group.signatures.clone(),
                        });
                    }
                }
                o
            }
        };
        metrics().attestation_signature(label, outcome.label());
    }
    let best = groups
        .values()
        .map(|g| g.signatures.len())
        .max()
        .unwrap_or(0);
    Err(format!(
        "{best} of {} signatures for height {} ({})",
        committee.quorum,
        ask.height(),
        if refusals.is_empty() {
            "answers did not agree".to_string()
        } else {
            refusals.join("; ")
        }
    ))
}

/// Bounds one attestor round.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("a plain reqwest client builds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::signers::{LocalWallet, Signer};

    fn wallet(i: u8) -> LocalWallet {
        LocalWallet::from_bytes(&[i; 32]).unwrap()
    }

    #[test]
    fn answers_are_judged_by_data_signer_and_membership() {
        let (a, b, outsider) = (wallet(1), wallet(2), wallet(3));
        let committee = IbcCommittee {
            members: vec![a.address(), b.address()],
            quorum: 2,
        };
        let key = b"attestations-0\x01\0\0\0\0\0\0\0\x05".to_vec();
        let ask = Ask::Packets {
            height: 10,
            keys: vec![key.clone()],
        };
        let entry = Entry {
            path: format::path_of(&key),
            commitment: H256::repeat_byte(7),
        };
        let data = format::packet_data(10, &[entry]);
        let sign = |w: &LocalWallet, tag: u8, d: &[u8]| {
            w.sign_hash(format::signing_input(tag, d)).unwrap().to_vec()
        };
        let mut seen = vec![];
        assert_eq!(
            judge(
                &committee,
                &ask,
                &data,
                &sign(&a, TAG_PACKET, &data),
                &mut seen
            ),
            Outcome::Accepted
        );
        assert_eq!(
            judge(
                &committee,
                &ask,
                &data,
                &sign(&a, TAG_PACKET, &data),
                &mut seen
            ),
            Outcome::Duplicate
        );
        assert_eq!(
            judge(
                &committee,
                &ask,
                &data,
                &sign(&outsider, TAG_PACKET, &data),
                &mut seen
            ),
            Outcome::NotMember
        );
        // A state-tag signature over the same bytes is not a packet attestation.
        assert_eq!(
            judge(
                &committee,
                &ask,
                &data,
                &sign(&b, TAG_STATE, &data),
                &mut seen
            ),
            Outcome::NotMember
        );
        // Another height or another path is not what was asked.
        let other = format::packet_data(11, &[entry]);
        assert_eq!(
            judge(
                &committee,
                &ask,
                &other,
                &sign(&b, TAG_PACKET, &other),
                &mut seen
            ),
            Outcome::DataMismatch
        );
        let state = format::state_data(10, 1);
        assert_eq!(
            judge(
                &committee,
                &Ask::State { height: 10 },
                &state,
                &sign(&b, TAG_STATE, &state),
                &mut seen
            ),
            Outcome::Accepted
        );
    }
}

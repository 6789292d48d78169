//! Packet attestations of the EVM chain signed in the ibc format: the FerryRouter keeps every v2
//! commitment, receipt and ack in `mapping(bytes32 => bytes32) commitments` (slot 0) under
//! `keccak256(raw key)`, so a key's value is the storage slot
//! `keccak256(abi.encode(keccak256(raw key), uint256(0)))` of the router. It is read with
//! `eth_getProof` from every endpoint at a final, verified block, must be claimed identically
//! everywhere, and each endpoint's EIP-1186 proof must verify against that block's verified state
//! root (Ferry's Ethereum light client: the answer's account proof once, then each storage proof
//! under the proven storage root).

use ethers::types::{Address, H256, U256};
use ferry_light_client_ethereum as lc;
use serde_json::{json, Value};

use super::chain::Chain;
use super::ibc::{commitment_of, path_of, show_key};
use super::refusal::{Kind, Refusal};
use crate::chain::evm::packets::storage_slot;

/// One endpoint's `eth_getProof` answer for one slot.
#[derive(Debug)]
struct SlotProof {
    claimed: U256,
    storage: Vec<Vec<u8>>,
}

/// One endpoint's answer for several slots: one account proof, a storage proof per slot.
#[derive(Debug)]
struct Answer {
    account: Vec<Vec<u8>>,
    slots: Vec<SlotProof>,
}

fn hex_bytes(v: &Value) -> Result<Vec<u8>, String> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| format!("{v} is not 0x-prefixed hex"))
}

fn nodes(v: &Value) -> Result<Vec<Vec<u8>>, String> {
    v.as_array()
        .ok_or_else(|| format!("{v} is not a list of proof nodes"))?
        .iter()
        .map(hex_bytes)
        .collect()
}

/// Slots asked for in one `eth_getProof`: an attestation of a whole batch is read in a few calls
/// rather than one per packet (500 calls took the committee about 10 s).
const SLOTS_PER_PROOF: usize = 100;

/// One endpoint's answer for `slots`, in the order asked: one storage proof per slot, each for
/// that slot, all under one account proof.
fn parse(v: &Value, slots: &[H256]) -> Result<Answer, String> {
    let proofs = v["storageProof"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if proofs.len() != slots.len() {
        return Err(format!(
            "expected exactly {} storage proofs, got {}",
            slots.len(),
            proofs.len()
        ));
    }
    let account = nodes(&v["accountProof"])?;
    let slots = proofs
        .iter()
        .zip(slots)
        .map(|(sp, slot)| {
            let key = hex_bytes(&sp["key"])?;
            if U256::from_big_endian(&key) != U256::from_big_endian(slot.as_bytes())
                || key.len() > 32
            {
                return Err(format!(
                    "the storage proof is for slot {}, not {slot:?}",
                    sp["key"]
                ));
            }
            let value = sp["value"]
                .as_str()
                .and_then(|s| s.strip_prefix("0x"))
                .filter(|s| !s.is_empty() && s.len() <= 64)
                .and_then(|s| U256::from_str_radix(s, 16).ok())
                .ok_or_else(|| {
                    format!("storage value {} is not a 256-bit quantity", sp["value"])
                })?;
            Ok(SlotProof {
                claimed: value,
                storage: nodes(&sp["proof"])?,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Answer { account, slots })
}

impl Chain {
    /// The router's commitments under `keys` at the final, verified block `height` (zero: absent).
    pub async fn packets_at(
        &self,
        height: u64,
        router: Address,
        keys: &[Vec<u8>],
    ) -> Result<Vec<H256>, Refusal> {
        let state = self.state_at(height).await?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(SLOTS_PER_PROOF) {
            let slots: Vec<H256> = chunk.iter().map(|k| storage_slot(path_of(k))).collect();
            let answers = self
                .source
                .each(
                    "eth_getProof",
                    json!([
                        format!("{router:?}"),
                        slots.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
                        format!("{height:#x}")
                    ]),
                )
                .await?;
            // Per endpoint, one proof per slot of the chunk.
            let mut per_endpoint = Vec::with_capacity(answers.len());
            for (i, a) in answers.iter().enumerate() {
                per_endpoint.push(parse(a, &slots).map_err(|e| {
                    Refusal::new(
                        Kind::RpcError,
                        format!(
                            "{}: {}: eth_getProof of {} keys from {} at block {height}: {e}",
                            self.name(),
                            self.source.name(i),
                            chunk.len(),
                            show_key(&chunk[0])
                        ),
                    )
                })?);
            }
            // Each answer's account proof, verified once for all its slots: the router's storage
            // root (the empty root if there is no account). A failure is reported at the first
            // slot, after that slot's agreement check, as when each slot carried its own.
            let roots: Vec<Result<H256, String>> = per_endpoint
                .iter()
                .map(|a| {
                    lc::verify_account_proof(&state.state_root, &router, &a.account)
                        .map(|acc| acc.map_or(lc::EMPTY_ROOT, |acc| acc.storage_root))
                        .map_err(|e| e.to_string())
                })
                .collect();
            for (k, (key, slot)) in chunk.iter().zip(&slots).enumerate() {
                let proofs: Vec<&SlotProof> = per_endpoint.iter().map(|a| &a.slots[k]).collect();
                for (i, p) in proofs.iter().enumerate().skip(1) {
                    if p.claimed != proofs[0].claimed {
                        return Err(Refusal::new(
                            Kind::Disagreement,
                            format!(
                                "{}: key {} at block {height} differs between endpoints: {} has \
                             {:#x}, {} has {:#x}",
                                self.name(),
                                show_key(key),
                                self.source.name(0),
                                proofs[0].claimed,
                                self.source.name(i),
                                p.claimed
                            ),
                        ));
                    }
                }
                for (i, p) in proofs.iter().enumerate() {
                    let proven = roots[i]
                        .clone()
                        .and_then(|root| {
                            lc::verify_storage_proof(&root, slot, &p.storage)
                                .map_err(|e| e.to_string())
                        })
                        .and_then(|v| {
                            let v = v.unwrap_or_default();
                            (v == p.claimed).then_some(v).ok_or_else(|| {
                                format!("the proof proves {v:#x}, not the claimed value")
                            })
                        })
                        .map_err(|e| {
                            Refusal::new(
                                Kind::VerificationFailed,
                                format!(
                                "{}: {}: the proof of key {} at block {height} does not verify \
                             against the verified state root {:?}: {e}",
                                self.name(),
                                self.source.name(i),
                                show_key(key),
                                state.state_root
                            ),
                            )
                        })?;
                    if i == 0 {
                        let mut word = [0u8; 32];
                        proven.to_big_endian(&mut word);
                        let value = (!proven.is_zero()).then_some(&word[..]);
                        out.push(commitment_of(key, value).map_err(|e| {
                            Refusal::new(Kind::BadRequest, format!("{}: {e}", self.name()))
                        })?);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_answers_are_parsed_strictly() {
        let (s1, s2) = (H256::repeat_byte(0x42), H256::repeat_byte(0x43));
        let ok = json!({
            "accountProof": ["0x01", "0x0203"],
            "storageProof": [
                {"key": format!("{s1:?}"), "value": "0x2a", "proof": ["0xaa"]},
                {"key": format!("{s2:?}"), "value": "0x0", "proof": ["0xbb", "0xcc"]},
            ],
        });
        let a = parse(&ok, &[s1, s2]).unwrap();
        assert_eq!(a.account, vec![vec![1], vec![2, 3]]);
        assert_eq!(a.slots[0].claimed, U256::from(42));
        assert_eq!(a.slots[0].storage, vec![vec![0xaa]]);
        assert_eq!(a.slots[1].claimed, U256::zero());
        assert_eq!(a.slots[1].storage, vec![vec![0xbb], vec![0xcc]]);
        // Answers in another order than asked, for another slot, malformed, or too few: refused.
        assert!(parse(&ok, &[s2, s1]).unwrap_err().contains("not"));
        let mut other = ok.clone();
        other["storageProof"][1]["key"] = json!(format!("{:?}", H256::repeat_byte(1)));
        assert!(parse(&other, &[s1, s2]).unwrap_err().contains("not"));
        let mut bad = ok.clone();
        bad["storageProof"][0]["value"] = json!("42");
        assert!(parse(&bad, &[s1, s2]).is_err());
        assert!(parse(&ok, &[s1]).unwrap_err().contains("exactly 1"));
        let mut none = ok;
        none["storageProof"] = json!([]);
        assert!(parse(&none, &[s1, s2]).unwrap_err().contains("exactly 2"));
    }
}

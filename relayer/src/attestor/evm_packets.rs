//! Packet attestations of the EVM chain signed in the ibc format: the FerryRouter keeps every v2
//! commitment, receipt and ack in `mapping(bytes32 => bytes32) commitments` (slot 0) under
//! `keccak256(raw key)`, so a key's value is the storage slot
//! `keccak256(abi.encode(keccak256(raw key), uint256(0)))` of the router. It is read with
//! `eth_getProof` from every endpoint at a final, verified block, must be claimed identically
//! everywhere, and each endpoint's EIP-1186 proof must verify against that block's verified state
//! root (Ferry's Ethereum light client, `verify_storage_under_state_root`).

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
    account: Vec<Vec<u8>>,
    storage: Vec<Vec<u8>>,
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

fn parse(v: &Value, slot: H256) -> Result<SlotProof, String> {
    let [sp] = v["storageProof"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        return Err("expected exactly one storage proof".into());
    };
    let key = hex_bytes(&sp["key"])?;
    if U256::from_big_endian(&key) != U256::from_big_endian(slot.as_bytes()) || key.len() > 32 {
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
        .ok_or_else(|| format!("storage value {} is not a 256-bit quantity", sp["value"]))?;
    Ok(SlotProof {
        claimed: value,
        account: nodes(&v["accountProof"])?,
        storage: nodes(&sp["proof"])?,
    })
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
        for key in keys {
            let slot = storage_slot(path_of(key));
            let answers = self
                .source
                .each(
                    "eth_getProof",
                    json!([
                        format!("{router:?}"),
                        [format!("{slot:?}")],
                        format!("{height:#x}")
                    ]),
                )
                .await?;
            let mut proofs = Vec::with_capacity(answers.len());
            for (i, a) in answers.iter().enumerate() {
                proofs.push(parse(a, slot).map_err(|e| {
                    Refusal::new(
                        Kind::RpcError,
                        format!(
                            "{}: {}: eth_getProof of key {} at block {height}: {e}",
                            self.name(),
                            self.source.name(i),
                            show_key(key)
                        ),
                    )
                })?);
            }
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
                let proven = lc::verify_storage_under_state_root(
                    &state.state_root,
                    &router,
                    &p.account,
                    &slot,
                    &p.storage,
                )
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    let v = v.unwrap_or_default();
                    (v == p.claimed)
                        .then_some(v)
                        .ok_or_else(|| format!("the proof proves {v:#x}, not the claimed value"))
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
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_answers_are_parsed_strictly() {
        let slot = H256::repeat_byte(0x42);
        let ok = json!({
            "accountProof": ["0x01", "0x0203"],
            "storageProof": [{"key": format!("{slot:?}"), "value": "0x2a", "proof": ["0xaa"]}],
        });
        let p = parse(&ok, slot).unwrap();
        assert_eq!(p.claimed, U256::from(42));
        assert_eq!(p.account, vec![vec![1], vec![2, 3]]);
        assert_eq!(p.storage, vec![vec![0xaa]]);
        let mut other = ok.clone();
        other["storageProof"][0]["key"] = json!(format!("{:?}", H256::repeat_byte(1)));
        assert!(parse(&other, slot).unwrap_err().contains("not"));
        let mut bad = ok.clone();
        bad["storageProof"][0]["value"] = json!("42");
        assert!(parse(&bad, slot).is_err());
        let mut two = ok;
        two["storageProof"] = json!([]);
        assert!(parse(&two, slot).unwrap_err().contains("exactly one"));
    }
}

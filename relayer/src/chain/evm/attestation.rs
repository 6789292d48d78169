//! What an attestor signs, as EIP-712 typed data: the domain names the host chain (EIP-155 id) and
//! the light-client contract that will check the signature, and the message names the attested
//! chain (CAIP-2, e.g. `eip155:33333`), the height, its timestamp and its state root. A signature
//! is therefore good for exactly one client on one chain, about exactly one chain's state.
//!
//! The Solidity side is `contracts/src/AttestedLightClient.sol`; `tests/evm_contracts` checks that
//! both compute the same digests.

use ethers::abi::{encode, Token};
use ethers::types::{Address, Signature, H256, U256};
use ethers::utils::keccak256;

/// EIP-712 domain name and version of Ferry's attested light clients.
pub const DOMAIN_NAME: &str = "FerryAttestedLightClient";
pub const DOMAIN_VERSION: &str = "1";

const DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
const STATE_TYPE: &str =
    "StateAttestation(string attestedChain,uint64 height,uint64 timestamp,bytes32 stateRoot)";
const ROTATION_TYPE: &str = "AttestorRotation(address[] attestors,uint8 quorum,uint64 epoch)";

/// Where a signature may be used: one light-client contract on one host chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Domain {
    /// EIP-155 chain id of the chain the light client runs on.
    pub host_chain_id: u64,
    pub light_client: Address,
}

/// The CAIP-2 name of an EVM chain: `eip155:<chain id>`.
pub fn caip2_eip155(chain_id: u64) -> String {
    format!("eip155:{chain_id}")
}

/// What an attestor vouches for: chain `attested_chain` had `state_root` at `height`, made at
/// `timestamp` (seconds).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateAttestation {
    pub attested_chain: String,
    pub height: u64,
    pub timestamp: u64,
    pub state_root: H256,
}

fn word(b: &[u8]) -> Token {
    Token::FixedBytes(b.to_vec())
}

pub fn domain_separator(d: &Domain) -> H256 {
    H256(keccak256(encode(&[
        word(&keccak256(DOMAIN_TYPE)),
        word(&keccak256(DOMAIN_NAME)),
        word(&keccak256(DOMAIN_VERSION)),
        Token::Uint(U256::from(d.host_chain_id)),
        Token::Address(d.light_client),
    ])))
}

fn typed(d: &Domain, struct_hash: [u8; 32]) -> H256 {
    let mut buf = Vec::with_capacity(66);
    buf.extend_from_slice(b"\x19\x01");
    buf.extend_from_slice(domain_separator(d).as_bytes());
    buf.extend_from_slice(&struct_hash);
    H256(keccak256(buf))
}

/// The digest an attestor signs for `a`, to be checked by the client named in `d`.
pub fn state_digest(d: &Domain, a: &StateAttestation) -> H256 {
    typed(
        d,
        keccak256(encode(&[
            word(&keccak256(STATE_TYPE)),
            word(&keccak256(a.attested_chain.as_bytes())),
            Token::Uint(a.height.into()),
            Token::Uint(a.timestamp.into()),
            word(a.state_root.as_bytes()),
        ])),
    )
}

/// The digest the current attestor quorum signs to hand the client over to `attestors`.
pub fn rotation_digest(d: &Domain, attestors: &[Address], quorum: u8, epoch: u64) -> H256 {
    let packed: Vec<u8> = attestors
        .iter()
        .flat_map(|a| {
            let mut w = [0u8; 32];
            w[12..].copy_from_slice(a.as_bytes());
            w
        })
        .collect();
    typed(
        d,
        keccak256(encode(&[
            word(&keccak256(ROTATION_TYPE)),
            word(&keccak256(packed)),
            Token::Uint(quorum.into()),
            Token::Uint(epoch.into()),
        ])),
    )
}

/// `updateMsg` for `AttestedLightClient.updateClient`:
/// `abi.encode(uint64 height, uint64 timestamp, bytes32 stateRoot, bytes[] signatures)`.
pub fn encode_update(a: &StateAttestation, signatures: &[Vec<u8>]) -> Vec<u8> {
    encode(&[
        Token::Uint(a.height.into()),
        Token::Uint(a.timestamp.into()),
        word(a.state_root.as_bytes()),
        Token::Array(signatures.iter().map(|s| Token::Bytes(s.clone())).collect()),
    ])
}

/// The signer of a 65-byte `r ‖ s ‖ v` signature over `digest`, if it is one the contract accepts
/// (low s, v of 27 or 28).
pub fn recover(digest: H256, sig: &[u8]) -> Option<Address> {
    if sig.len() != 65 {
        return None;
    }
    let s = Signature::try_from(sig).ok()?;
    let half_n = U256::from_big_endian(&[
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ]);
    if s.s > half_n || !(s.v == 27 || s.v == 28) {
        return None;
    }
    s.recover(digest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::signers::{LocalWallet, Signer};

    fn domain(chain: u64, lc: u8) -> Domain {
        Domain {
            host_chain_id: chain,
            light_client: Address::repeat_byte(lc),
        }
    }

    fn att(chain: &str, height: u64) -> StateAttestation {
        StateAttestation {
            attested_chain: chain.into(),
            height,
            timestamp: 1_700_000_000,
            state_root: H256::repeat_byte(7),
        }
    }

    #[test]
    fn every_field_of_domain_and_message_changes_the_digest() {
        let base = state_digest(&domain(1, 1), &att("eip155:2", 10));
        assert_ne!(base, state_digest(&domain(3, 1), &att("eip155:2", 10)));
        assert_ne!(base, state_digest(&domain(1, 9), &att("eip155:2", 10)));
        assert_ne!(base, state_digest(&domain(1, 1), &att("eip155:4", 10)));
        assert_ne!(base, state_digest(&domain(1, 1), &att("eip155:2", 11)));
        let mut t = att("eip155:2", 10);
        t.timestamp += 1;
        assert_ne!(base, state_digest(&domain(1, 1), &t));
        t = att("eip155:2", 10);
        t.state_root = H256::repeat_byte(8);
        assert_ne!(base, state_digest(&domain(1, 1), &t));
    }

    #[test]
    fn signatures_recover_only_over_their_digest() {
        let w: LocalWallet = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
            .parse()
            .unwrap();
        let d = state_digest(&domain(1, 1), &att("eip155:2", 10));
        let sig = w.sign_hash(d).unwrap().to_vec();
        assert_eq!(recover(d, &sig), Some(w.address()));
        let other = state_digest(&domain(2, 1), &att("eip155:2", 10));
        assert_ne!(recover(other, &sig), Some(w.address()));
        assert_eq!(recover(d, &sig[..64]), None);
    }

    #[test]
    fn rotation_digest_binds_members_quorum_and_epoch() {
        let d = domain(1, 1);
        let set = [Address::repeat_byte(1), Address::repeat_byte(2)];
        let base = rotation_digest(&d, &set, 2, 0);
        assert_ne!(base, rotation_digest(&d, &set, 1, 0));
        assert_ne!(base, rotation_digest(&d, &set, 2, 1));
        assert_ne!(base, rotation_digest(&d, &set[..1], 2, 0));
        assert_eq!(caip2_eip155(33333), "eip155:33333");
    }
}

//! The ibc-go v11 `attestations` light-client wire format, shared by ibc-go, Ferry's
//! `AttestationsLightClient.sol` and `ferry attestor`:
//! - state attestation: `abi.encode(uint64 height, uint64 timestampSeconds)`;
//! - packet attestation: `abi.encode((uint64 height, (bytes32 path, bytes32 commitment)[]))`, one
//!   tuple argument, `path = keccak256(raw v2 key)`, a zero commitment for absence;
//! - signatures: 65-byte `r ‖ s ‖ v` over `sha256(tag ‖ sha256(data))`, tag 0x01 state, 0x02 packet.
//!
//! The signed data names no chain and no client: one attestor key set per attested chain.

use ethers::abi::{decode, encode, ParamType, Token};
use ethers::types::{Address, H256, U256};
use sha2::{Digest, Sha256};

pub const TAG_STATE: u8 = 0x01;
pub const TAG_PACKET: u8 = 0x02;

/// One attested (path, commitment) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: H256,
    pub commitment: H256,
}

pub fn state_data(height: u64, timestamp_secs: u64) -> Vec<u8> {
    encode(&[
        Token::Uint(height.into()),
        Token::Uint(timestamp_secs.into()),
    ])
}

pub fn decode_state(data: &[u8]) -> Option<(u64, u64)> {
    let t = decode(&[ParamType::Uint(64), ParamType::Uint(64)], data).ok()?;
    // Strict: a re-encoding must give the same bytes (no trailing data, canonical form).
    let (h, ts) = (uint64(&t[0])?, uint64(&t[1])?);
    (state_data(h, ts) == data).then_some((h, ts))
}

pub fn packet_data(height: u64, entries: &[Entry]) -> Vec<u8> {
    let list = entries
        .iter()
        .map(|e| {
            Token::Tuple(vec![
                Token::FixedBytes(e.path.as_bytes().to_vec()),
                Token::FixedBytes(e.commitment.as_bytes().to_vec()),
            ])
        })
        .collect();
    encode(&[Token::Tuple(vec![
        Token::Uint(height.into()),
        Token::Array(list),
    ])])
}

pub fn decode_packets(data: &[u8]) -> Option<(u64, Vec<Entry>)> {
    let kind = ParamType::Tuple(vec![
        ParamType::Uint(64),
        ParamType::Array(Box::new(ParamType::Tuple(vec![
            ParamType::FixedBytes(32),
            ParamType::FixedBytes(32),
        ]))),
    ]);
    let mut t = decode(&[kind], data).ok()?;
    let Token::Tuple(mut fields) = t.pop()? else {
        return None;
    };
    let Token::Array(list) = fields.pop()? else {
        return None;
    };
    let height = uint64(&fields[0])?;
    let mut entries = Vec::with_capacity(list.len());
    for item in list {
        let Token::Tuple(pair) = item else {
            return None;
        };
        let (Token::FixedBytes(p), Token::FixedBytes(c)) = (&pair[0], &pair[1]) else {
            return None;
        };
        entries.push(Entry {
            path: H256::from_slice(p),
            commitment: H256::from_slice(c),
        });
    }
    (packet_data(height, &entries) == data).then_some((height, entries))
}

fn uint64(t: &Token) -> Option<u64> {
    match t {
        Token::Uint(v) if *v <= U256::from(u64::MAX) => Some(v.as_u64()),
        _ => None,
    }
}

/// What each attestor signs: `sha256(tag ‖ sha256(data))`.
pub fn signing_input(tag: u8, data: &[u8]) -> H256 {
    let inner = Sha256::digest(data);
    let mut h = Sha256::new();
    h.update([tag]);
    h.update(inner);
    H256::from_slice(&h.finalize())
}

/// The signer of `sig` over `signing_input(tag, data)`: low-s, v 27/28 (as the attestor signs).
pub fn signer(tag: u8, data: &[u8], sig: &[u8]) -> Option<Address> {
    crate::chain::evm::attestation::recover(signing_input(tag, data), sig)
}

/// `keccak256(raw key)`: how the client finds a path in a packet attestation.
pub fn path_of(raw_key: &[u8]) -> H256 {
    H256::from(ethers::utils::keccak256(raw_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::signers::{LocalWallet, Signer};

    #[test]
    fn state_data_is_two_words() {
        let d = state_data(5, 7);
        assert_eq!(d.len(), 64);
        assert_eq!((d[31], d[63]), (5, 7));
        assert_eq!(decode_state(&d), Some((5, 7)));
        let mut longer = d.clone();
        longer.push(0);
        assert_eq!(decode_state(&longer), None);
    }

    #[test]
    fn packet_data_is_one_dynamic_tuple() {
        let e = Entry {
            path: H256::repeat_byte(0xaa),
            commitment: H256::repeat_byte(0xbb),
        };
        let d = packet_data(9, &[e]);
        // offset of the tuple, height, offset of the array, length, one pair.
        assert_eq!(d.len(), 32 * 6);
        assert_eq!(d[31], 0x20);
        assert_eq!(d[63], 9);
        assert_eq!(d[95], 0x40);
        assert_eq!(d[127], 1);
        assert_eq!(&d[128..160], e.path.as_bytes());
        assert_eq!(decode_packets(&d), Some((9, vec![e])));
    }

    #[test]
    fn the_tag_separates_state_from_packet_signatures() {
        let w: LocalWallet = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
            .parse()
            .unwrap();
        let data = state_data(1, 2);
        let input = signing_input(TAG_STATE, &data);
        let sig = w.sign_hash(input).unwrap().to_vec();
        assert_eq!(signer(TAG_STATE, &data, &sig), Some(w.address()));
        assert_ne!(signer(TAG_PACKET, &data, &sig), Some(w.address()));
        // sha256(0x01 ‖ sha256(data)) computed independently.
        let mut pre = vec![1u8];
        pre.extend_from_slice(&Sha256::digest(&data));
        assert_eq!(input.as_bytes(), Sha256::digest(&pre).as_slice());
    }
}

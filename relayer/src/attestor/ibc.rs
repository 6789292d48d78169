//! The ibc-go v11 `attestations` light client's wire format (Go:
//! `modules/light-clients/attestations/{abi.go,signature.go}`), which this attestor signs for at
//! most one chain:
//!
//! - state attestation data `abi.encode(uint64 height, uint64 timestampSeconds)`;
//! - packet attestation data `abi.encode(PacketAttestation)`, one tuple argument
//!   `PacketAttestation{uint64 height; (bytes32 path, bytes32 commitment)[] packets}`, where
//!   `path = keccak256(raw key)` and a zero commitment proves absence;
//! - a 65-byte `r ‖ s ‖ v` (v = 27 or 28) secp256k1 signature over
//!   `sha256(tag ‖ sha256(data))`, tag [`TAG_STATE`] or [`TAG_PACKET`].
//!
//! The data names no chain and no client: a signature is good on every client whose attestor set
//! holds this key, which is why one key signs this format for one chain only.

use ethers::types::{H256, U256};
use ethers::utils::keccak256;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Type tag of a state (client update) attestation.
pub const TAG_STATE: u8 = 0x01;
/// Type tag of a packet (membership / non-membership) attestation.
pub const TAG_PACKET: u8 = 0x02;
/// Keys one packet request may ask for.
pub const MAX_KEYS: usize = 64;
/// Longest raw key accepted (a v2 key is at most 64 + 9 bytes).
pub const MAX_KEY_BYTES: usize = 256;

/// `abi.encode(uint64 height, uint64 timestampSeconds)`.
pub fn state_data(height: u64, timestamp: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&word(height.into()));
    out.extend_from_slice(&word(timestamp.into()));
    out
}

/// One attested key: `keccak256(raw key)` and its 32-byte value (zero: absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketCommitment {
    pub path: H256,
    pub commitment: H256,
}

/// `abi.encode(PacketAttestation{height, packets})`: the struct as ONE dynamic tuple argument, so
/// the encoding starts with its offset (0x20), then the tuple: `height`, the offset of `packets`
/// within the tuple (0x40), the array length and the (path, commitment) pairs.
pub fn packet_data(height: u64, packets: &[PacketCommitment]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 * (4 + 2 * packets.len()));
    out.extend_from_slice(&word(U256::from(0x20)));
    out.extend_from_slice(&word(height.into()));
    out.extend_from_slice(&word(U256::from(0x40)));
    out.extend_from_slice(&word(U256::from(packets.len())));
    for p in packets {
        out.extend_from_slice(p.path.as_bytes());
        out.extend_from_slice(p.commitment.as_bytes());
    }
    out
}

fn word(v: U256) -> [u8; 32] {
    let mut w = [0u8; 32];
    v.to_big_endian(&mut w);
    w
}

/// What is signed: `sha256(tag ‖ sha256(data))` (ibc-go's `TaggedSigningInput`).
pub fn signing_input(tag: u8, data: &[u8]) -> H256 {
    let inner = Sha256::digest(data);
    let mut h = Sha256::new();
    h.update([tag]);
    h.update(inner);
    H256::from_slice(&h.finalize())
}

/// The attested path of a raw store key.
pub fn path_of(raw_key: &[u8]) -> H256 {
    H256(keccak256(raw_key))
}

/// A raw key for messages: hex, and its text when it is printable ASCII.
pub fn show_key(key: &[u8]) -> String {
    let text = key.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    if text {
        format!(
            "0x{} (\"{}\")",
            hex::encode(key),
            String::from_utf8_lossy(key)
        )
    } else {
        format!("0x{}", hex::encode(key))
    }
}

/// `POST /v1/attest/ibc/state` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IbcStateRequest {
    /// CAIP-2 name of the attested chain (`cosmos:<chain id>` or `eip155:<id>`).
    pub chain: String,
    pub height: u64,
}

/// `POST /v1/attest/ibc/state` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IbcStateResponse {
    /// `0x` + `abi.encode(height, timestamp)`.
    pub attestation_data: String,
    pub signer: ethers::types::Address,
    /// `0x` + 65 bytes over `sha256(0x01 ‖ sha256(attestation_data))`.
    pub signature: String,
    pub height: u64,
    /// Block time, seconds.
    pub timestamp: u64,
}

/// `POST /v1/attest/ibc/packets` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IbcPacketsRequest {
    pub chain: String,
    pub height: u64,
    /// Raw store keys, `0x` + hex (1 to [`MAX_KEYS`], no duplicates).
    pub keys: Vec<String>,
}

/// `POST /v1/attest/ibc/packets` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IbcPacketsResponse {
    /// `0x` + `abi.encode(PacketAttestation)`.
    pub attestation_data: String,
    pub signer: ethers::types::Address,
    /// `0x` + 65 bytes over `sha256(0x02 ‖ sha256(attestation_data))`.
    pub signature: String,
    /// In request order.
    pub packets: Vec<PacketCommitment>,
}

/// The keys of a packet request, decoded and checked: 1 to [`MAX_KEYS`] distinct `0x` hex keys of
/// 1 to [`MAX_KEY_BYTES`] bytes.
pub fn parse_keys(keys: &[String]) -> Result<Vec<Vec<u8>>, String> {
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!(
            "`keys` lists {} keys; ask for 1 to {MAX_KEYS} per request",
            keys.len()
        ));
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let bytes = k
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| format!("`keys[{i}]` is not \"0x\" and hex digits"))?;
        if bytes.is_empty() || bytes.len() > MAX_KEY_BYTES {
            return Err(format!(
                "`keys[{i}]` is {} bytes; a raw store key is 1 to {MAX_KEY_BYTES} bytes",
                bytes.len()
            ));
        }
        if let Some(j) = out.iter().position(|o| *o == bytes) {
            return Err(format!("`keys[{i}]` repeats `keys[{j}]`"));
        }
        out.push(bytes);
    }
    Ok(out)
}

/// A stored value as an attested commitment: absent is zero, 32 bytes are taken as they are;
/// anything else cannot be carried by the format.
pub fn commitment_of(key: &[u8], value: Option<&[u8]>) -> Result<H256, String> {
    match value {
        None => Ok(H256::zero()),
        Some(v) if v.len() == 32 && v.iter().any(|b| *b != 0) => Ok(H256::from_slice(v)),
        Some(v) if v.len() == 32 => Err(format!(
            "key {} holds 32 zero bytes, which the format reads as absent",
            show_key(key)
        )),
        Some(v) => Err(format!(
            "key {} holds {} bytes (0x{}); the ibc attestation format carries 32-byte \
             commitments only",
            show_key(key),
            v.len(),
            hex::encode(&v[..v.len().min(64)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::signers::{LocalWallet, Signer};

    #[test]
    fn state_data_is_two_words() {
        let d = state_data(0x1234, 1_700_000_000);
        assert_eq!(d.len(), 64);
        assert_eq!(&d[..30], &[0u8; 30]);
        assert_eq!(&d[30..32], &[0x12, 0x34]);
        assert_eq!(&d[32..60], &[0u8; 28]);
        assert_eq!(&d[60..], &1_700_000_000u32.to_be_bytes());
    }

    #[test]
    fn packet_data_matches_a_hand_computed_layout() {
        let p = |a: u8, b: u8| PacketCommitment {
            path: H256::repeat_byte(a),
            commitment: H256::repeat_byte(b),
        };
        let d = packet_data(7, &[p(0xaa, 0xbb), p(0xcc, 0)]);
        // Written out word by word, as abi.encode(PacketAttestation) lays it out.
        let expect = [
            "0000000000000000000000000000000000000000000000000000000000000020", // tuple offset
            "0000000000000000000000000000000000000000000000000000000000000007", // height
            "0000000000000000000000000000000000000000000000000000000000000040", // packets offset
            "0000000000000000000000000000000000000000000000000000000000000002", // length
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // [0].path
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", // [0].commitment
            "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", // [1].path
            "0000000000000000000000000000000000000000000000000000000000000000", // [1].commitment
        ]
        .concat();
        assert_eq!(hex::encode(&d), expect);
        // ethers' encoder agrees (a tuple holding a uint64 and a tuple array).
        use ethers::abi::Token;
        let t = |p: &PacketCommitment| {
            Token::Tuple(vec![
                Token::FixedBytes(p.path.as_bytes().to_vec()),
                Token::FixedBytes(p.commitment.as_bytes().to_vec()),
            ])
        };
        let tok = Token::Tuple(vec![
            Token::Uint(7.into()),
            Token::Array(vec![t(&p(0xaa, 0xbb)), t(&p(0xcc, 0))]),
        ]);
        assert_eq!(ethers::abi::encode(&[tok]), d);
        assert_eq!(
            hex::encode(packet_data(1, &[]))[192..],
            format!("{:064x}", 0)
        );
    }

    /// The signing input, computed here step by step from the Go definition, and a signature that
    /// recovers (with k256 directly, not through ethers' wallet) to the key's Ethereum address.
    #[test]
    fn signing_input_is_tagged_sha256_and_recovers_to_the_signer() {
        let data = state_data(42, 1_700_000_042);
        let inner: [u8; 32] = Sha256::digest(&data).into();
        let mut pre = vec![TAG_STATE];
        pre.extend_from_slice(&inner);
        let expect: [u8; 32] = Sha256::digest(&pre).into();
        assert_eq!(signing_input(TAG_STATE, &data).0, expect);
        // Fixed vectors, computed with Python's hashlib: sha256(tag ‖ sha256(abi.encode(42,
        // 1700000042))) for tags 1 and 2.
        assert_eq!(
            hex::encode(expect),
            "06ad72fd8f7fa517a044f3e2a1278fb57c6b19e9ec6bdba0f49723765a58a2a7"
        );
        assert_eq!(
            hex::encode(signing_input(TAG_PACKET, &data)),
            "9c4f0d245e29d57b6aa485111dafb28eb913d4fd08ab3912a82b73ccb4a4f678"
        );
        assert_ne!(
            signing_input(TAG_PACKET, &data),
            signing_input(TAG_STATE, &data)
        );

        let wallet: LocalWallet =
            "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
                .parse()
                .unwrap();
        let sig = wallet
            .sign_hash(signing_input(TAG_STATE, &data))
            .unwrap()
            .to_vec();
        assert_eq!(sig.len(), 65);
        assert!(sig[64] == 27 || sig[64] == 28);

        use ethers::core::k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
        let s = Signature::from_slice(&sig[..64]).unwrap();
        let rid = RecoveryId::from_byte(sig[64] - 27).unwrap();
        let key = VerifyingKey::recover_from_prehash(&expect, &s, rid).unwrap();
        let point = key.to_encoded_point(false);
        let addr = &keccak256(&point.as_bytes()[1..])[12..];
        assert_eq!(addr, wallet.address().as_bytes());
    }

    #[test]
    fn keys_are_checked() {
        let k = |s: &str| s.to_string();
        assert_eq!(
            parse_keys(&[k("0x0102"), k("0x03")]).unwrap(),
            vec![vec![1, 2], vec![3]]
        );
        assert!(parse_keys(&[]).unwrap_err().contains("1 to 64"));
        assert!(parse_keys(&vec![k("0x01"); 65])
            .unwrap_err()
            .contains("65 keys"));
        assert!(parse_keys(&[k("0102")]).unwrap_err().contains("keys[0]"));
        assert!(parse_keys(&[k("0x")]).unwrap_err().contains("0 bytes"));
        assert!(parse_keys(&[k("0x01"), k("0x01")])
            .unwrap_err()
            .contains("`keys[1]` repeats `keys[0]`"));
        assert_eq!(
            path_of(b"abc"),
            "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
                .parse()
                .unwrap()
        );
        assert_eq!(commitment_of(b"k", None).unwrap(), H256::zero());
        assert_eq!(
            commitment_of(b"k", Some(&[7u8; 32])).unwrap(),
            H256::repeat_byte(7)
        );
        assert!(commitment_of(b"k", Some(&[1u8; 8]))
            .unwrap_err()
            .contains("8 bytes"));
        assert!(commitment_of(b"k", Some(&[0u8; 32]))
            .unwrap_err()
            .contains("absent"));
    }
}

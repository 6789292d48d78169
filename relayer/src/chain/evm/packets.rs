//! IBC v2 packets as Ferry's router contract sees them: conversion to and from Ferry's packet model,
//! ICS-24-style path keys and their storage slots, and the messages the router accepts.

use ethers::abi::AbiEncode;
use ethers::types::{Bytes, H256, U256};
use ethers::utils::keccak256;

use super::abi;
use crate::chain::{ChainError, Msg};
use crate::ibc::{ChainId, Height, Packet};

/// A call to the router: `value` is ABI calldata.
pub const ROUTER_CALL: &str = "/ferry.evm.v1.RouterCall";
/// An attestation for a counterparty's light client: `value` is its `updateMsg`.
pub const ATTESTATION: &str = "/ferry.evm.v1.Attestation";

/// Path kinds (the byte between client id and sequence in a path key).
pub const KIND_COMMITMENT: u8 = 1;
pub const KIND_RECEIPT: u8 = 2;
pub const KIND_ACK: u8 = 3;

/// The router's `commitments` mapping is its first state variable.
const COMMITMENTS_SLOT: u64 = 0;

const NANOS: u64 = 1_000_000_000;

pub fn router_call(calldata: impl AbiEncode) -> Msg {
    Msg {
        type_url: ROUTER_CALL.into(),
        value: calldata.encode(),
    }
}

/// `keccak256(abi.encodePacked(clientId, uint8 kind, uint64 sequence))`.
pub fn path_key(client: &str, kind: u8, sequence: u64) -> H256 {
    let mut buf = Vec::with_capacity(client.len() + 9);
    buf.extend_from_slice(client.as_bytes());
    buf.push(kind);
    buf.extend_from_slice(&sequence.to_be_bytes());
    H256(keccak256(buf))
}

/// The storage slot of `commitments[key]`: `keccak256(abi.encode(key, 0))`.
pub fn storage_slot(key: H256) -> H256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(key.as_bytes());
    U256::from(COMMITMENTS_SLOT).to_big_endian(&mut buf[32..]);
    H256(keccak256(buf))
}

/// Ferry's packet as the router's ABI struct (one payload).
pub fn to_sol(p: &Packet) -> abi::Packet {
    abi::Packet {
        sequence: p.sequence,
        source_client: p.source_channel.to_string(),
        dest_client: p.destination_channel.to_string(),
        timeout_timestamp: p.timeout_timestamp / NANOS,
        payloads: vec![abi::Payload {
            source_port: p.source_port.to_string(),
            dest_port: p.destination_port.to_string(),
            version: p.version.clone(),
            encoding: p.encoding.clone(),
            value: Bytes::from(p.data.clone()),
        }],
    }
}

/// Why a router packet cannot be taken into Ferry's packet model as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Ferry keeps timeouts in ns in a u64: a timeout above `u64::MAX / 1e9` s (about 1.8e10 s)
    /// does not fit, and altering it would change the packet's commitment.
    #[error("packet {sequence}: timeout {seconds} s is above {max} s, the largest Ferry can carry unaltered")]
    TimeoutTooLarge {
        sequence: u64,
        seconds: u64,
        max: u64,
    },
    #[error("packet {sequence} has {count} payloads; Ferry relays packets with exactly one")]
    Payloads { sequence: u64, count: usize },
    #[error("packet {sequence}: {what}: {reason}")]
    Identifier {
        sequence: u64,
        what: &'static str,
        reason: String,
    },
}

impl PacketError {
    /// Refused on purpose (a valid packet Ferry cannot carry) rather than malformed.
    pub fn is_unrelayable(&self) -> bool {
        matches!(self, PacketError::TimeoutTooLarge { .. })
    }

    pub fn sequence(&self) -> u64 {
        match self {
            PacketError::TimeoutTooLarge { sequence, .. }
            | PacketError::Payloads { sequence, .. }
            | PacketError::Identifier { sequence, .. } => *sequence,
        }
    }

    /// As a chain error of `chain`, from the answer to `method`.
    pub fn into_chain_error(self, chain: &ChainId, method: &'static str) -> ChainError {
        if self.is_unrelayable() {
            ChainError::UnrelayablePacket {
                chain: chain.clone(),
                sequence: self.sequence(),
                reason: self.to_string(),
            }
        } else {
            ChainError::Malformed {
                chain: chain.clone(),
                method,
                reason: self.to_string(),
            }
        }
    }
}

/// The router's packet in Ferry's model: clients play the channels' role, time is in ns. A
/// packet that would not survive the round trip through [`to_sol`] unchanged is refused.
pub fn from_sol(p: &abi::Packet) -> Result<Packet, PacketError> {
    let [payload] = p.payloads.as_slice() else {
        return Err(PacketError::Payloads {
            sequence: p.sequence,
            count: p.payloads.len(),
        });
    };
    fn id<T: std::str::FromStr<Err = crate::ibc::IdError>>(
        sequence: u64,
        what: &'static str,
        v: &str,
    ) -> Result<T, PacketError> {
        v.parse()
            .map_err(|e: crate::ibc::IdError| PacketError::Identifier {
                sequence,
                what,
                reason: e.to_string(),
            })
    }
    let seq = p.sequence;
    let timeout_timestamp =
        p.timeout_timestamp
            .checked_mul(NANOS)
            .ok_or(PacketError::TimeoutTooLarge {
                sequence: p.sequence,
                seconds: p.timeout_timestamp,
                max: u64::MAX / NANOS,
            })?;
    Ok(Packet {
        sequence: p.sequence,
        source_port: id(seq, "source port", &payload.source_port)?,
        source_channel: id(seq, "source client", &p.source_client)?,
        destination_port: id(seq, "destination port", &payload.dest_port)?,
        destination_channel: id(seq, "destination client", &p.dest_client)?,
        data: payload.value.to_vec(),
        timeout_height: Height::default(),
        timeout_timestamp,
        version: payload.version.clone(),
        encoding: payload.encoding.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_key_is_packed_client_kind_sequence() {
        // keccak256("client-0" ‖ 0x01 ‖ 0x0000000000000007), by hand.
        let mut pre = b"client-0".to_vec();
        pre.push(1);
        pre.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(path_key("client-0", 1, 7), H256(keccak256(&pre)));
        assert_ne!(path_key("client-0", 1, 7), path_key("client-0", 2, 7));
    }

    #[test]
    fn packet_round_trips_through_the_abi_struct() {
        let p = Packet {
            sequence: 9,
            source_port: "transfer".parse().unwrap(),
            source_channel: "attestations-0".parse().unwrap(),
            destination_port: "transfer".parse().unwrap(),
            destination_channel: "attestations-1".parse().unwrap(),
            data: vec![1, 2, 3],
            timeout_height: Height::default(),
            timeout_timestamp: 1_700_000_000 * NANOS,
            version: "ics20-1".into(),
            encoding: "application/x-solidity-abi".into(),
        };
        let sol = to_sol(&p);
        assert_eq!(sol.timeout_timestamp, 1_700_000_000);
        assert_eq!(from_sol(&sol).unwrap(), p);
        let mut two = sol.clone();
        two.payloads.push(two.payloads[0].clone());
        assert!(from_sol(&two).is_err());
    }

    /// A timeout above u64::MAX ns (about 1.8e10 s) must be refused, not saturated: saturating
    /// changes the timeout `to_sol` writes back, so the commitment would never match.
    #[test]
    fn a_timeout_that_does_not_fit_is_refused_not_altered() {
        let p = Packet {
            sequence: 3,
            source_port: "transfer".parse().unwrap(),
            source_channel: "attestations-0".parse().unwrap(),
            destination_port: "transfer".parse().unwrap(),
            destination_channel: "attestations-1".parse().unwrap(),
            data: vec![],
            timeout_height: Height::default(),
            timeout_timestamp: 0,
            version: "ics20-1".into(),
            encoding: "application/x-solidity-abi".into(),
        };
        let mut sol = to_sol(&p);
        let max = u64::MAX / NANOS;
        sol.timeout_timestamp = max;
        let ok = from_sol(&sol).expect("the largest timeout that fits");
        assert_eq!(to_sol(&ok).timeout_timestamp, max);
        for huge in [max + 1, 20_000_000_000, u64::MAX] {
            sol.timeout_timestamp = huge;
            match from_sol(&sol) {
                Err(e @ PacketError::TimeoutTooLarge { .. }) => {
                    let chain: ChainId = "evm-l3".parse().unwrap();
                    assert!(matches!(
                        e.into_chain_error(&chain, "eth_getLogs"),
                        ChainError::UnrelayablePacket { sequence: 3, .. }
                    ));
                }
                Err(other) => panic!("timeout {huge} s: wrong error {other}"),
                Ok(back) => panic!(
                    "timeout {huge} s accepted; sent back as {} s",
                    to_sol(&back).timeout_timestamp
                ),
            }
        }
    }
}

//! IBC v2 on ibc-go v11 (`04-channel/v2`, `02-client/v2`) and its `attestations` light client:
//! the protobuf messages ibc-proto 0.51 does not carry, the raw store keys, and the packet events.
//!
//! IBC v2 has no channels: a client id plays the channel's role in [`Packet`], as on EVM paths.
//! IBC classic channel ids are always `channel-N`, so the channel id alone says which protocol a
//! packet travels on ([`is_v2`]).

use prost::Message;

use crate::ibc::{Height, Packet, PacketEvent, PacketEventKind};

/// True when `channel` is an IBC v2 client id rather than a classic `channel-N`.
pub fn is_v2(channel: &str) -> bool {
    !channel.starts_with("channel-")
}

/// Raw keys in the `ibc` store (ibc-go `24-host/v2`): `clientId ‖ kind ‖ be64(sequence)`.
pub mod keys {
    pub const COMMITMENT: u8 = 1;
    pub const RECEIPT: u8 = 2;
    pub const ACK: u8 = 3;

    pub fn key(client: &str, kind: u8, sequence: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(client.len() + 9);
        k.extend_from_slice(client.as_bytes());
        k.push(kind);
        k.extend_from_slice(&sequence.to_be_bytes());
        k
    }
}

pub mod proto {
    //! Hand-written prost messages, field numbers as in ibc-go v11.2.0's `.proto` files.
    use ibc_proto::ibc::core::client::v1::Height;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Payload {
        #[prost(string, tag = "1")]
        pub source_port: String,
        #[prost(string, tag = "2")]
        pub destination_port: String,
        #[prost(string, tag = "3")]
        pub version: String,
        #[prost(string, tag = "4")]
        pub encoding: String,
        #[prost(bytes = "vec", tag = "5")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Packet {
        #[prost(uint64, tag = "1")]
        pub sequence: u64,
        #[prost(string, tag = "2")]
        pub source_client: String,
        #[prost(string, tag = "3")]
        pub destination_client: String,
        /// Seconds since the Unix epoch.
        #[prost(uint64, tag = "4")]
        pub timeout_timestamp: u64,
        #[prost(message, repeated, tag = "5")]
        pub payloads: Vec<Payload>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Acknowledgement {
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub app_acknowledgements: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MsgRecvPacket {
        #[prost(message, optional, tag = "1")]
        pub packet: Option<Packet>,
        #[prost(bytes = "vec", tag = "2")]
        pub proof_commitment: Vec<u8>,
        #[prost(message, optional, tag = "3")]
        pub proof_height: Option<Height>,
        #[prost(string, tag = "4")]
        pub signer: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MsgTimeout {
        #[prost(message, optional, tag = "1")]
        pub packet: Option<Packet>,
        #[prost(bytes = "vec", tag = "2")]
        pub proof_unreceived: Vec<u8>,
        #[prost(message, optional, tag = "3")]
        pub proof_height: Option<Height>,
        #[prost(string, tag = "5")]
        pub signer: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MsgAcknowledgement {
        #[prost(message, optional, tag = "1")]
        pub packet: Option<Packet>,
        #[prost(message, optional, tag = "2")]
        pub acknowledgement: Option<Acknowledgement>,
        #[prost(bytes = "vec", tag = "3")]
        pub proof_acked: Vec<u8>,
        #[prost(message, optional, tag = "4")]
        pub proof_height: Option<Height>,
        #[prost(string, tag = "5")]
        pub signer: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MsgRegisterCounterparty {
        #[prost(string, tag = "1")]
        pub client_id: String,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub counterparty_merkle_prefix: Vec<Vec<u8>>,
        #[prost(string, tag = "3")]
        pub counterparty_client_id: String,
        #[prost(string, tag = "4")]
        pub signer: String,
    }

    /// `ibc.core.client.v2.Query/CounterpartyInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryCounterpartyInfoRequest {
        #[prost(string, tag = "1")]
        pub client_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CounterpartyInfo {
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub merkle_prefix: Vec<Vec<u8>>,
        #[prost(string, tag = "2")]
        pub client_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryCounterpartyInfoResponse {
        #[prost(message, optional, tag = "1")]
        pub counterparty_info: Option<CounterpartyInfo>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryNextSequenceSendRequest {
        #[prost(string, tag = "1")]
        pub client_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryNextSequenceSendResponse {
        #[prost(uint64, tag = "1")]
        pub next_sequence_send: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryPacketCommitmentsRequest {
        #[prost(string, tag = "1")]
        pub client_id: String,
        #[prost(message, optional, tag = "2")]
        pub pagination: Option<ibc_proto::cosmos::base::query::v1beta1::PageRequest>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PacketState {
        #[prost(string, tag = "1")]
        pub client_id: String,
        #[prost(uint64, tag = "2")]
        pub sequence: u64,
        #[prost(bytes = "vec", tag = "3")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryPacketCommitmentsResponse {
        #[prost(message, repeated, tag = "1")]
        pub commitments: Vec<PacketState>,
        #[prost(message, optional, tag = "2")]
        pub pagination: Option<ibc_proto::cosmos::base::query::v1beta1::PageResponse>,
        #[prost(message, optional, tag = "3")]
        pub height: Option<Height>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryUnreceivedRequest {
        #[prost(string, tag = "1")]
        pub client_id: String,
        #[prost(uint64, repeated, tag = "2")]
        pub sequences: Vec<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryUnreceivedResponse {
        #[prost(uint64, repeated, tag = "1")]
        pub sequences: Vec<u64>,
        #[prost(message, optional, tag = "2")]
        pub height: Option<Height>,
    }

    /// `ibc.lightclients.attestations.v1.ClientState`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttestationsClientState {
        #[prost(string, repeated, tag = "1")]
        pub attestor_addresses: Vec<String>,
        #[prost(uint32, tag = "2")]
        pub min_required_sigs: u32,
        #[prost(uint64, tag = "3")]
        pub latest_height: u64,
        #[prost(bool, tag = "4")]
        pub is_frozen: bool,
    }

    /// `ibc.lightclients.attestations.v1.ConsensusState`: nanoseconds.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttestationsConsensusState {
        #[prost(uint64, tag = "1")]
        pub timestamp: u64,
    }

    /// `ibc.lightclients.attestations.v1.AttestationProof`: the client message of an update and
    /// the proof bytes of (non-)membership.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttestationProof {
        #[prost(bytes = "vec", tag = "1")]
        pub attestation_data: Vec<u8>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub signatures: Vec<Vec<u8>>,
    }
}

pub mod type_url {
    pub const RECV: &str = "/ibc.core.channel.v2.MsgRecvPacket";
    pub const ACK: &str = "/ibc.core.channel.v2.MsgAcknowledgement";
    pub const TIMEOUT: &str = "/ibc.core.channel.v2.MsgTimeout";
    pub const REGISTER_COUNTERPARTY: &str = "/ibc.core.client.v2.MsgRegisterCounterparty";
    pub const ATTESTATIONS_CLIENT_STATE: &str = "/ibc.lightclients.attestations.v1.ClientState";
    pub const ATTESTATIONS_CONSENSUS_STATE: &str =
        "/ibc.lightclients.attestations.v1.ConsensusState";
    pub const ATTESTATION_PROOF: &str = "/ibc.lightclients.attestations.v1.AttestationProof";
}

const NANOS: u64 = 1_000_000_000;

/// The v2 wire packet of a Ferry packet (one payload; timeout in seconds on the wire).
pub fn to_proto(p: &Packet) -> proto::Packet {
    proto::Packet {
        sequence: p.sequence,
        source_client: p.source_channel.to_string(),
        destination_client: p.destination_channel.to_string(),
        timeout_timestamp: p.timeout_timestamp / NANOS,
        payloads: vec![proto::Payload {
            source_port: p.source_port.to_string(),
            destination_port: p.destination_port.to_string(),
            version: p.version.clone(),
            encoding: p.encoding.clone(),
            value: p.data.clone(),
        }],
    }
}

/// A Ferry packet from a v2 wire packet. Exactly one payload (all Ferry relays), and a timeout
/// that fits in ns: anything else cannot be carried unaltered and is refused.
pub fn from_proto(p: &proto::Packet) -> Result<Packet, String> {
    let [payload] = p.payloads.as_slice() else {
        return Err(format!(
            "packet {} has {} payloads; Ferry relays exactly one",
            p.sequence,
            p.payloads.len()
        ));
    };
    let timeout_timestamp = p
        .timeout_timestamp
        .checked_mul(NANOS)
        .ok_or_else(|| format!("packet {}: timeout does not fit", p.sequence))?;
    let id = |what: &str, v: &str| format!("{what} `{v}`");
    Ok(Packet {
        sequence: p.sequence,
        source_port: payload
            .source_port
            .parse()
            .map_err(|e| format!("{}: {e}", id("source port", &payload.source_port)))?,
        source_channel: p
            .source_client
            .parse()
            .map_err(|e| format!("{}: {e}", id("source client", &p.source_client)))?,
        destination_port: payload
            .destination_port
            .parse()
            .map_err(|e| format!("{}: {e}", id("destination port", &payload.destination_port)))?,
        destination_channel: p
            .destination_client
            .parse()
            .map_err(|e| format!("{}: {e}", id("destination client", &p.destination_client)))?,
        data: payload.value.clone(),
        timeout_height: Height::default(),
        timeout_timestamp,
        version: payload.version.clone(),
        encoding: payload.encoding.clone(),
    })
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parse an ibc-go v2 `send_packet` / `write_acknowledgement` event (they carry the whole packet,
/// protobuf-encoded, in `encoded_packet_hex`). `Ok(None)` for other events, including classic ones.
pub fn parse_event(
    kind: &str,
    attrs: &[(String, String)],
    height: u64,
) -> Result<Option<PacketEvent>, String> {
    if !matches!(kind, "send_packet" | "write_acknowledgement") {
        return Ok(None);
    }
    let Some(encoded) = attr(attrs, "encoded_packet_hex") else {
        return Ok(None);
    };
    let bytes = hex::decode(encoded).map_err(|e| format!("encoded_packet_hex: {e}"))?;
    let raw =
        proto::Packet::decode(bytes.as_slice()).map_err(|e| format!("encoded_packet_hex: {e}"))?;
    let packet = from_proto(&raw)?;
    let kind = if kind == "send_packet" {
        PacketEventKind::Send
    } else {
        let hex_ack = attr(attrs, "encoded_acknowledgement_hex")
            .ok_or("write_acknowledgement without encoded_acknowledgement_hex")?;
        let ack_bytes =
            hex::decode(hex_ack).map_err(|e| format!("encoded_acknowledgement_hex: {e}"))?;
        let ack = proto::Acknowledgement::decode(ack_bytes.as_slice())
            .map_err(|e| format!("encoded_acknowledgement_hex: {e}"))?;
        let [app_ack] = ack.app_acknowledgements.as_slice() else {
            return Err(format!(
                "acknowledgement of packet {} has {} app acks; expected one",
                packet.sequence,
                ack.app_acknowledgements.len()
            ));
        };
        PacketEventKind::WriteAck {
            ack: app_ack.clone(),
        }
    };
    Ok(Some(PacketEvent {
        kind,
        packet,
        height,
    }))
}

/// The protobuf `Any` of a message.
pub fn any<M: Message>(type_url: &str, msg: &M) -> crate::chain::Msg {
    crate::chain::Msg {
        type_url: type_url.into(),
        value: msg.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet() -> Packet {
        Packet {
            sequence: 7,
            source_port: "transfer".parse().unwrap(),
            source_channel: "attestations-0".parse().unwrap(),
            destination_port: "transfer".parse().unwrap(),
            destination_channel: "attestations-1".parse().unwrap(),
            data: vec![1, 2, 3],
            timeout_height: Height::default(),
            timeout_timestamp: 1_800_000_000 * NANOS,
            version: "ics20-1".into(),
            encoding: "application/x-solidity-abi".into(),
        }
    }

    #[test]
    fn keys_are_client_kind_big_endian_sequence() {
        assert_eq!(
            keys::key("ab", keys::ACK, 258),
            vec![b'a', b'b', 3, 0, 0, 0, 0, 0, 0, 1, 2]
        );
    }

    #[test]
    fn packet_round_trips_through_the_wire_form() {
        let p = packet();
        let wire = to_proto(&p);
        assert_eq!(wire.timeout_timestamp, 1_800_000_000);
        assert_eq!(from_proto(&wire).unwrap(), p);
    }

    #[test]
    fn events_carry_the_whole_packet_and_the_app_ack() {
        let p = packet();
        let enc = hex::encode(to_proto(&p).encode_to_vec());
        let attrs = vec![("encoded_packet_hex".to_string(), enc.clone())];
        let ev = parse_event("send_packet", &attrs, 9).unwrap().unwrap();
        assert_eq!(
            (ev.kind, ev.packet, ev.height),
            (PacketEventKind::Send, p.clone(), 9)
        );

        let ack = proto::Acknowledgement {
            app_acknowledgements: vec![b"{\"result\":\"AQ==\"}".to_vec()],
        };
        let attrs = vec![
            ("encoded_packet_hex".to_string(), enc),
            (
                "encoded_acknowledgement_hex".to_string(),
                hex::encode(ack.encode_to_vec()),
            ),
        ];
        let ev = parse_event("write_acknowledgement", &attrs, 9)
            .unwrap()
            .unwrap();
        assert_eq!(
            ev.kind,
            PacketEventKind::WriteAck {
                ack: b"{\"result\":\"AQ==\"}".to_vec()
            }
        );
    }

    #[test]
    fn classic_events_are_not_v2_and_broken_ones_are_errors() {
        let classic = vec![("packet_src_port".to_string(), "transfer".to_string())];
        assert_eq!(parse_event("send_packet", &classic, 1).unwrap(), None);
        let bad = vec![("encoded_packet_hex".to_string(), "zz".to_string())];
        assert!(parse_event("send_packet", &bad, 1).is_err());
        let mut two = to_proto(&packet());
        two.payloads.push(two.payloads[0].clone());
        let attrs = vec![(
            "encoded_packet_hex".to_string(),
            hex::encode(two.encode_to_vec()),
        )];
        assert!(parse_event("send_packet", &attrs, 1)
            .unwrap_err()
            .contains("2 payloads"));
        assert!(is_v2("attestations-0") && !is_v2("channel-0"));
    }
}

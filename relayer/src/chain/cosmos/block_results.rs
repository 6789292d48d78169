//! A block's packet events, read from the body of its `block_results` answer without building the
//! rest of it.
//!
//! A block full of packet messages has results of several MB: every message's events (coin moves,
//! token traces, the acknowledgement, ...) with every attribute. Built in full, as the typed
//! client did, each attribute became two strings, several times the body's size, and Ferry's peak
//! memory jumped whenever it read such blocks (a restart after another relayer's burst read them
//! all). Here an event's type is read in place, and only the attributes of the two event types
//! Ferry relays from (`send_packet`, `write_acknowledgement`, classic and IBC v2 alike) are copied.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::rpc::ParseError;
use super::subscription::{Attribute, FlatEvent, RpcError};

/// The event types a packet event is parsed from (`events::parse_packet_event`, `v2::parse_event`).
const PACKET_EVENT_TYPES: [&str; 2] = ["send_packet", "write_acknowledgement"];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    result: Option<Results<'a>>,
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct Results<'a> {
    /// `null` for a block without txs.
    #[serde(borrow, default)]
    txs_results: Option<Vec<TxResult<'a>>>,
}

#[derive(Deserialize)]
struct TxResult<'a> {
    /// Omitted by the node when 0.
    #[serde(default)]
    code: u32,
    #[serde(borrow, default)]
    events: Vec<Event<'a>>,
}

/// An event whose attributes stay unparsed, in the body, until its type says they are wanted.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

/// The packet-carrying events of the txs that succeeded in a `block_results` answer, per tx in
/// block order. An error answer is [`ParseError::Answered`]; a body that is not a `block_results`
/// answer is [`ParseError::Unreadable`].
pub fn packet_events(body: &[u8]) -> Result<Vec<FlatEvent>, ParseError> {
    let unreadable = |e: serde_json::Error| ParseError::Unreadable(format!("block_results: {e}"));
    let env: Envelope = serde_json::from_slice(body).map_err(unreadable)?;
    if let Some(e) = env.error {
        return Err(ParseError::Answered(
            format!("{} {}", e.message, e.data).trim().to_string(),
        ));
    }
    let results = env
        .result
        .ok_or_else(|| ParseError::Unreadable("block_results: neither result nor error".into()))?;
    let mut out = Vec::new();
    for tx in results.txs_results.unwrap_or_default() {
        // A failed tx's events are not its messages'.
        if tx.code != 0 {
            continue;
        }
        for ev in tx.events {
            if !PACKET_EVENT_TYPES.contains(&ev.kind.as_ref()) {
                continue;
            }
            let attrs: Vec<Attribute> = match ev.attributes {
                Some(raw) => serde_json::from_str(raw.get()).map_err(unreadable)?,
                None => Vec::new(),
            };
            out.push((
                ev.kind.into_owned(),
                attrs.into_iter().map(|a| (a.key, a.value)).collect(),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CometBFT 0.38 answer: a tx that sent a packet (with the other events such a tx has), a
    /// failed tx with a packet event in it, a tx that wrote an acknowledgement with an escaped
    /// value, and the block's own events.
    const ANSWER: &str = r#"{"jsonrpc":"2.0","id":0,"result":{"height":"12","txs_results":[
        {"code":0,"data":"EiYKJC9pYmMu","log":"","info":"","gas_wanted":"200000","gas_used":"90000",
         "events":[
            {"type":"coin_spent","attributes":[{"key":"spender","value":"cosmos1a","index":true},{"key":"amount","value":"1stake","index":true}]},
            {"type":"message","attributes":[{"key":"action","value":"/ibc.applications.transfer.v1.MsgTransfer","index":true}]},
            {"type":"send_packet","attributes":[{"key":"packet_sequence","value":"7","index":true},{"key":"packet_src_channel","value":"channel-0","index":true}]},
            {"type":"ibc_transfer","attributes":[{"key":"sender","value":"cosmos1a","index":true}]}
         ],"codespace":""},
        {"code":5,"codespace":"sdk","events":[
            {"type":"send_packet","attributes":[{"key":"packet_sequence","value":"8","index":true}]}
         ]},
        {"events":[
            {"type":"recv_packet","attributes":[{"key":"packet_sequence","value":"3","index":true}]},
            {"type":"write_acknowledgement","attributes":[{"key":"packet_ack","value":"{\"result\":\"AQ==\"}","index":true},{"key":"packet_ack_hex","value":"7b7d","index":true}]}
         ]}
    ],"finalize_block_events":[{"type":"send_packet","attributes":[{"key":"packet_sequence","value":"99","index":true}]}],
    "validator_updates":null,"consensus_param_updates":null,"app_hash":"AAAA"}}"#;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_packet_events_of_txs_that_succeeded_are_kept() {
        let events = packet_events(ANSWER.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![
                (
                    "send_packet".to_string(),
                    kv(&[
                        ("packet_sequence", "7"),
                        ("packet_src_channel", "channel-0")
                    ])
                ),
                (
                    "write_acknowledgement".to_string(),
                    kv(&[
                        ("packet_ack", r#"{"result":"AQ=="}"#),
                        ("packet_ack_hex", "7b7d")
                    ])
                ),
            ]
        );
    }

    #[test]
    fn the_same_packet_events_as_the_typed_answer_gives() {
        let full: serde_json::Value = serde_json::from_str(ANSWER).unwrap();
        let typed: tendermint_rpc::endpoint::block_results::Response =
            serde_json::from_value(full["result"].clone()).unwrap();
        let expected: Vec<FlatEvent> = typed
            .txs_results
            .unwrap_or_default()
            .iter()
            .filter(|tx| tx.code.is_ok())
            .flat_map(|tx| super::super::events::flatten(&tx.events))
            .filter(|(kind, _)| PACKET_EVENT_TYPES.contains(&kind.as_str()))
            .collect();
        assert_eq!(packet_events(ANSWER.as_bytes()).unwrap(), expected);
    }

    #[test]
    fn a_block_without_txs_has_no_events() {
        let answer = r#"{"jsonrpc":"2.0","id":0,"result":{"height":"3","txs_results":null,"finalize_block_events":[]}}"#;
        assert_eq!(packet_events(answer.as_bytes()).unwrap(), vec![]);
    }

    #[test]
    fn an_error_answer_and_a_malformed_one_are_told_apart() {
        let error = r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32603,"message":"Internal error","data":"height 90 must be less than or equal to the current blockchain height 40"}}"#;
        assert_eq!(
            packet_events(error.as_bytes()),
            Err(ParseError::Answered(
                "Internal error height 90 must be less than or equal to the current blockchain height 40"
                    .into()
            ))
        );
        for bad in [
            "<html>bad gateway</html>",
            r#"{"jsonrpc":"2.0","id":0}"#,
            r#"{"jsonrpc":"2.0","id":0,"result":{"txs_results":[{"events":[{"type":"send_packet","attributes":[{"key":1}]}]}]}}"#,
        ] {
            assert!(
                matches!(
                    packet_events(bad.as_bytes()),
                    Err(ParseError::Unreadable(_))
                ),
                "{bad}"
            );
        }
    }
}

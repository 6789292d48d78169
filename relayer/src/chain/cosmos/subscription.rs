//! The node's event WebSocket, read directly: tx results and new block headers, both subscribed on
//! one connection, so they arrive in the order the node wrote them.
//!
//! Headers come from `NewBlockHeader`, not `NewBlock`: a `NewBlock` event carries the whole block and
//! every tx result again, which the node encodes and Ferry parsed only for the height. On a burst of
//! 1,000 packets that was most of Ferry's peak heap (heaptrack, BENCHMARKS.md). A tx result's own
//! bytes (the signed tx, with its proofs) are skipped by the parser, never copied.

use std::collections::VecDeque;
use std::time::Duration;

use async_tungstenite::tokio::{connect_async, ConnectStream};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

/// An ABCI event as (type, [(key, value)]).
pub type FlatEvent = (String, Vec<(String, String)>);

/// One message the node pushed.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    /// A tx committed at `height`; `ok` when it succeeded (a failed tx's events are not its
    /// messages').
    Tx {
        height: u64,
        ok: bool,
        events: Vec<FlatEvent>,
    },
    /// The header of a new block.
    Block { height: u64 },
    /// The answer to a subscribe request, or an event of a kind not asked for.
    Other,
}

#[derive(Deserialize)]
struct Envelope {
    result: Option<PushedResult>,
    error: Option<RpcError>,
}

/// A JSON-RPC error answer (also read by `block_results.rs`).
#[derive(Deserialize)]
pub(super) struct RpcError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: String,
}

#[derive(Deserialize)]
struct PushedResult {
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "type")]
    kind: String,
    value: DataValue,
}

/// Either field, by the event's type; unknown fields (the tx bytes among them) are skipped.
#[derive(Deserialize)]
struct DataValue {
    #[serde(rename = "TxResult")]
    tx_result: Option<TxResult>,
    header: Option<Header>,
}

#[derive(Deserialize)]
struct TxResult {
    height: String,
    result: ExecResult,
}

#[derive(Deserialize)]
struct ExecResult {
    /// Omitted by the node when 0.
    #[serde(default)]
    code: u32,
    #[serde(default)]
    events: Vec<AbciEvent>,
}

#[derive(Deserialize)]
struct AbciEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    attributes: Vec<Attribute>,
}

/// An ABCI event attribute (also read by `block_results.rs`).
#[derive(Deserialize)]
pub(super) struct Attribute {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Deserialize)]
struct Header {
    height: String,
}

fn height(s: &str) -> Result<u64, String> {
    s.parse().map_err(|e| format!("height {s:?}: {e}"))
}

/// Parse one text message of the subscription. An error for anything that is not JSON-RPC, for an
/// error answer, and for a tx or header event without a readable height.
pub fn parse(text: &str) -> Result<Pushed, String> {
    let env: Envelope =
        serde_json::from_str(text).map_err(|e| format!("unreadable event message: {e}"))?;
    if let Some(e) = env.error {
        return Err(format!(
            "the node answered an error: {} {}",
            e.message, e.data
        ));
    }
    let Some(data) = env.result.and_then(|r| r.data) else {
        return Ok(Pushed::Other);
    };
    match data.kind.as_str() {
        "tendermint/event/Tx" => {
            let tx = data.value.tx_result.ok_or("a Tx event without TxResult")?;
            Ok(Pushed::Tx {
                height: height(&tx.height)?,
                ok: tx.result.code == 0,
                events: tx
                    .result
                    .events
                    .into_iter()
                    .map(|e| {
                        let attrs = e.attributes.into_iter().map(|a| (a.key, a.value)).collect();
                        (e.kind, attrs)
                    })
                    .collect(),
            })
        }
        "tendermint/event/NewBlockHeader" => {
            let header = data.value.header.ok_or("a NewBlockHeader without header")?;
            Ok(Pushed::Block {
                height: height(&header.height)?,
            })
        }
        _ => Ok(Pushed::Other),
    }
}

/// How long opening the connection and both subscriptions may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The subscribe requests: Tx results (id 1) and block headers (id 2).
const QUERIES: [&str; 2] = ["tm.event='Tx'", "tm.event='NewBlockHeader'"];

/// An open event subscription.
pub struct Subscription {
    ws: WebSocketStream<ConnectStream>,
    /// Events that came while the subscriptions were being confirmed.
    early: VecDeque<Pushed>,
}

impl Subscription {
    /// Connect to `url` (ws:// or wss://) and subscribe to tx results and block headers; both
    /// subscriptions are confirmed before this returns.
    pub async fn open(url: &str) -> Result<Self, String> {
        tokio::time::timeout(OPEN_TIMEOUT, Self::open_now(url))
            .await
            .map_err(|_| format!("no subscription within {}s", OPEN_TIMEOUT.as_secs()))?
    }

    async fn open_now(url: &str) -> Result<Self, String> {
        let (mut ws, _) = connect_async(url)
            .await
            .map_err(|e| format!("WebSocket connect: {e}"))?;
        for (id, query) in QUERIES.iter().enumerate() {
            let req = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id + 1,
                "method": "subscribe",
                "params": { "query": query },
            });
            ws.send(Message::Text(req.to_string()))
                .await
                .map_err(|e| format!("subscribe: {e}"))?;
        }
        // Each answer comes before its subscription's events, but an event of the first may come
        // before the second answer: kept for the caller.
        let mut confirmed = 0;
        let mut sub = Subscription {
            ws,
            early: VecDeque::new(),
        };
        while confirmed < QUERIES.len() {
            match sub.next().await {
                Some(Ok(Pushed::Other)) => confirmed += 1,
                Some(Ok(pushed)) => sub.early.push_back(pushed),
                Some(Err(e)) => return Err(e),
                None => return Err("the node closed the connection".into()),
            }
        }
        Ok(sub)
    }

    /// The next message; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<Pushed, String>> {
        if let Some(pushed) = self.early.pop_front() {
            return Some(Ok(pushed));
        }
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return Some(parse(&text)),
                Ok(Message::Close(_)) => return None,
                // Pings are answered by the library; nothing else is expected.
                Ok(_) => continue,
                Err(e) => return Some(Err(format!("WebSocket: {e}"))),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tx_event_gives_its_height_outcome_and_events_without_the_tx_bytes() {
        let msg = r#"{"jsonrpc":"2.0","id":1,"result":{"query":"tm.event='Tx'","data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":"45","index":3,"tx":"CpIBCo8B","result":{"data":"EiYK","gas_wanted":"200000","gas_used":"120000","events":[{"type":"send_packet","attributes":[{"key":"packet_sequence","value":"7","index":true},{"key":"packet_data_hex","index":true}]},{"type":"message"}]}}}},"events":{"tm.event":["Tx"],"send_packet.packet_sequence":["7"]}}}"#;
        let Pushed::Tx { height, ok, events } = parse(msg).unwrap() else {
            panic!("not a tx")
        };
        assert_eq!((height, ok), (45, true));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, "send_packet");
        assert_eq!(
            events[0].1,
            vec![
                ("packet_sequence".to_string(), "7".to_string()),
                ("packet_data_hex".to_string(), String::new())
            ]
        );
        assert!(events[1].1.is_empty());
    }

    #[test]
    fn a_failed_tx_is_marked_so() {
        let msg = r#"{"jsonrpc":"2.0","id":1,"result":{"data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":"9","result":{"code":11,"log":"out of gas","events":[]}}}}}}"#;
        assert!(matches!(
            parse(msg).unwrap(),
            Pushed::Tx {
                height: 9,
                ok: false,
                ..
            }
        ));
    }

    #[test]
    fn a_header_event_gives_its_height() {
        let msg = r#"{"jsonrpc":"2.0","id":2,"result":{"query":"tm.event='NewBlockHeader'","data":{"type":"tendermint/event/NewBlockHeader","value":{"header":{"version":{"block":"11"},"chain_id":"l3-appchain-1","height":"1234","time":"2026-12-01T13:00:00Z"}}},"events":{"tm.event":["NewBlockHeader"]}}}"#;
        assert_eq!(parse(msg).unwrap(), Pushed::Block { height: 1234 });
    }

    #[test]
    fn answers_and_other_events_are_neither_txs_nor_blocks() {
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap(),
            Pushed::Other
        );
        let vote = r#"{"jsonrpc":"2.0","id":3,"result":{"data":{"type":"tendermint/event/Vote","value":{"Vote":{}}}}}"#;
        assert_eq!(parse(vote).unwrap(), Pushed::Other);
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in [
            "not json",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":"max subscriptions"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"data":{"type":"tendermint/event/Tx","value":{}}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"data":{"type":"tendermint/event/Tx","value":{"TxResult":{"height":"-1","result":{}}}}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"data":{"type":"tendermint/event/NewBlockHeader","value":{"header":{"height":"x"}}}}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

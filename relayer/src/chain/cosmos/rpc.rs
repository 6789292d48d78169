//! CometBFT RPC with endpoint failover and per-method metrics.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tendermint_rpc::{HttpClient, HttpClientUrl};

use crate::chain::{ChainError, Result};
use crate::ibc::ChainId;
use crate::telemetry::metrics;

pub struct Rpc {
    chain: ChainId,
    clients: Vec<HttpClient>,
    urls: Vec<String>,
    active: AtomicUsize,
    /// For JSON-RPC batches, which tendermint-rpc's client does not send.
    http: reqwest::Client,
}

/// Why a JSON-RPC batch got no usable answer: the endpoints could not be reached, or one answered
/// with something other than a batch (a node or proxy that refuses batches). The caller can then
/// ask call by call.
#[derive(Debug)]
pub enum BatchError {
    Unreachable(ChainError),
    Refused(String),
}

impl Rpc {
    pub fn new(chain: ChainId, urls: &[String]) -> Result<Rpc> {
        let mut clients = Vec::new();
        for url in urls {
            let parsed: HttpClientUrl = url.parse().map_err(|e| ChainError::Config {
                chain: chain.clone(),
                reason: format!("RPC url `{url}`: {e}"),
            })?;
            let client = HttpClient::builder(parsed)
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|e| ChainError::Config {
                    chain: chain.clone(),
                    reason: format!("RPC client for {url}: {e}"),
                })?;
            clients.push(client);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| ChainError::Config {
                chain: chain.clone(),
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Rpc {
            chain,
            clients,
            urls: urls.to_vec(),
            active: AtomicUsize::new(0),
            http,
        })
    }

    pub fn chain(&self) -> &ChainId {
        &self.chain
    }

    /// The URL of the endpoint in use (for the WebSocket, which follows it).
    pub fn active_url(&self) -> &str {
        &self.urls[self.active.load(Ordering::Relaxed) % self.urls.len()]
    }

    /// Endpoint `idx` answered a call that started at `start`: it is the active one from now on.
    fn answered_by(&self, idx: usize, start: usize) {
        if idx != start {
            tracing::warn!(chain = %self.chain, url = %self.urls[idx], "failed over to RPC endpoint");
            self.active.store(idx, Ordering::Relaxed);
        }
        metrics().rpc_up(self.chain.as_str(), true);
    }

    /// No endpoint answered `method`; `last` is the last transport error.
    fn none_answered(&self, method: &'static str, last: String) -> ChainError {
        metrics().rpc_up(self.chain.as_str(), false);
        ChainError::Rpc {
            chain: self.chain.clone(),
            method,
            reason: last,
        }
    }

    /// Run `f` against the active endpoint; on a transport error try the next ones, in order.
    pub async fn call<'a, T, F, Fut>(&'a self, method: &'static str, f: F) -> Result<T>
    where
        F: Fn(&'a HttpClient) -> Fut,
        Fut: Future<Output = std::result::Result<T, tendermint_rpc::Error>>,
    {
        self.call_expecting(method, f, |_| false).await
    }

    /// Like [`Rpc::call`], where answers for which `expected` holds (e.g. "tx not found" while
    /// waiting for a tx to commit) are normal and not counted as RPC errors.
    pub async fn call_expecting<'a, T, F, Fut>(
        &'a self,
        method: &'static str,
        f: F,
        expected: impl Fn(&tendermint_rpc::Error) -> bool,
    ) -> Result<T>
    where
        F: Fn(&'a HttpClient) -> Fut,
        Fut: Future<Output = std::result::Result<T, tendermint_rpc::Error>>,
    {
        let start = self.active.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..self.clients.len() {
            let idx = (start + i) % self.clients.len();
            let t = Instant::now();
            let res = f(&self.clients[idx]).await;
            let ok = match &res {
                Ok(_) => true,
                Err(e) => expected(e),
            };
            metrics().rpc(self.chain.as_str(), method, t.elapsed().as_secs_f64(), ok);
            match res {
                Ok(v) => {
                    self.answered_by(idx, start);
                    return Ok(v);
                }
                Err(e) => {
                    if is_answer_error(&e) {
                        // The node answered; another node would say the same.
                        return Err(ChainError::Rpc {
                            chain: self.chain.clone(),
                            method,
                            reason: reason(&e),
                        });
                    }
                    last = reason(&e);
                    tracing::debug!(chain = %self.chain, url = %self.urls[idx], method, error = %last, "RPC transport error");
                }
            }
        }
        Err(self.none_answered(method, last))
    }
}

impl Rpc {
    /// Send `calls` (JSON-RPC request objects) as one batch: one HTTP round trip for all of them.
    /// Answers come back in the order of `calls`, matched by id; on a transport error the next
    /// endpoints are tried, in order.
    pub async fn batch(
        &self,
        method: &'static str,
        calls: &[serde_json::Value],
    ) -> std::result::Result<Vec<serde_json::Value>, BatchError> {
        let start = self.active.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..self.urls.len() {
            let idx = (start + i) % self.urls.len();
            let t = Instant::now();
            let res = self.http.post(&self.urls[idx]).json(calls).send().await;
            let body = match res {
                Ok(r) => r.json::<serde_json::Value>().await,
                Err(e) => {
                    metrics().rpc(
                        self.chain.as_str(),
                        method,
                        t.elapsed().as_secs_f64(),
                        false,
                    );
                    last = e.without_url().to_string();
                    continue;
                }
            };
            metrics().rpc(
                self.chain.as_str(),
                method,
                t.elapsed().as_secs_f64(),
                body.is_ok(),
            );
            self.answered_by(idx, start);
            let answers = match body {
                Ok(serde_json::Value::Array(a)) => a,
                Ok(_) => return Err(BatchError::Refused("the answer is not a batch".into())),
                Err(e) => return Err(BatchError::Refused(e.without_url().to_string())),
            };
            return order_answers(calls, answers).map_err(BatchError::Refused);
        }
        Err(BatchError::Unreachable(self.none_answered(method, last)))
    }
}

/// What a caller's parser made of the body of a JSON-RPC answer ([`Rpc::call_parsed`]).
#[derive(Debug, PartialEq)]
pub enum ParseError {
    /// The node answered with a JSON-RPC error: another node would say the same.
    Answered(String),
    /// Not a readable answer: the next endpoint is tried.
    Unreadable(String),
}

impl Rpc {
    /// One JSON-RPC call whose answer `parse` reads straight from the body, so a caller that
    /// needs a small part of a large answer (a block's results) never builds the rest. On a
    /// transport error, an HTTP status other than success or an unreadable body, the next
    /// endpoints are tried, in order.
    pub async fn call_parsed<T>(
        &self,
        method: &'static str,
        params: serde_json::Value,
        parse: impl Fn(&[u8]) -> std::result::Result<T, ParseError>,
    ) -> Result<T> {
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "id": 0,
            "method": method,
            "params": params,
        });
        let start = self.active.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..self.urls.len() {
            let idx = (start + i) % self.urls.len();
            let t = Instant::now();
            let answer = match self.http.post(&self.urls[idx]).json(&request).send().await {
                Ok(r) => {
                    let status = r.status();
                    r.bytes()
                        .await
                        .map(|body| (status, body))
                        .map_err(|e| e.without_url())
                }
                Err(e) => Err(e.without_url()),
            };
            let parsed = match answer {
                Ok((status, body)) => judge(status, parse(&body)),
                Err(e) => Err(ParseError::Unreadable(e.to_string())),
            };
            metrics().rpc(
                self.chain.as_str(),
                method,
                t.elapsed().as_secs_f64(),
                parsed.is_ok(),
            );
            match parsed {
                Ok(v) => {
                    self.answered_by(idx, start);
                    return Ok(v);
                }
                Err(ParseError::Answered(reason)) => {
                    metrics().rpc_up(self.chain.as_str(), true);
                    return Err(ChainError::Rpc {
                        chain: self.chain.clone(),
                        method,
                        reason,
                    });
                }
                Err(ParseError::Unreadable(reason)) => {
                    tracing::debug!(chain = %self.chain, url = %self.urls[idx], method, error = %reason, "RPC transport error");
                    last = reason;
                }
            }
        }
        Err(self.none_answered(method, last))
    }
}

/// A parsed answer given its HTTP status: a node may send its JSON-RPC error with a status other
/// than success, and that error is still its answer; anything else under such a status is not.
fn judge<T>(
    status: reqwest::StatusCode,
    parsed: std::result::Result<T, ParseError>,
) -> std::result::Result<T, ParseError> {
    match parsed {
        Err(ParseError::Answered(reason)) => Err(ParseError::Answered(reason)),
        other if status.is_success() => other,
        _ => Err(ParseError::Unreadable(format!("HTTP status {status}"))),
    }
}

/// `answers` in the order of the `calls` they answer (by `id`); every call answered once.
fn order_answers(
    calls: &[serde_json::Value],
    answers: Vec<serde_json::Value>,
) -> std::result::Result<Vec<serde_json::Value>, String> {
    let mut by_id: std::collections::HashMap<String, serde_json::Value> = answers
        .into_iter()
        .map(|a| (a["id"].to_string(), a))
        .collect();
    calls
        .iter()
        .map(|c| {
            by_id
                .remove(&c["id"].to_string())
                .ok_or_else(|| format!("no answer for call {}", c["id"]))
        })
        .collect()
}

/// What went wrong, without the error's trace: with `RUST_BACKTRACE` set, the full error of
/// `tendermint-rpc` carries a backtrace of a hundred lines or more, which has no place in a log line.
pub fn reason(e: &tendermint_rpc::Error) -> String {
    e.detail().to_string()
}

/// True when the node itself answered with an error (as opposed to being unreachable).
pub fn is_answer_error(e: &tendermint_rpc::Error) -> bool {
    matches!(e.detail(), tendermint_rpc::error::ErrorDetail::Response(_))
}

#[cfg(test)]
mod batch_tests {
    use super::{judge, order_answers, ParseError};
    use reqwest::StatusCode;
    use serde_json::json;

    #[test]
    fn an_error_answer_counts_whatever_its_status_and_nothing_else_does_without_success() {
        let answered = || Err::<u8, _>(ParseError::Answered("height too high".into()));
        assert_eq!(judge(StatusCode::OK, Ok(1)), Ok(1));
        assert_eq!(
            judge(StatusCode::INTERNAL_SERVER_ERROR, answered()),
            answered()
        );
        assert_eq!(
            judge(StatusCode::INTERNAL_SERVER_ERROR, Ok(1)),
            Err(ParseError::Unreadable(
                "HTTP status 500 Internal Server Error".into()
            ))
        );
        assert_eq!(
            judge(
                StatusCode::BAD_GATEWAY,
                Err::<u8, _>(ParseError::Unreadable("not JSON".into()))
            ),
            Err(ParseError::Unreadable("HTTP status 502 Bad Gateway".into()))
        );
        assert_eq!(
            judge(
                StatusCode::OK,
                Err::<u8, _>(ParseError::Unreadable("not JSON".into()))
            ),
            Err(ParseError::Unreadable("not JSON".into()))
        );
    }

    #[test]
    fn answers_are_matched_to_calls_by_id() {
        let calls = vec![json!({"id": 0}), json!({"id": 1}), json!({"id": 2})];
        let answers = vec![
            json!({"id": 2, "result": "c"}),
            json!({"id": 0, "result": "a"}),
            json!({"id": 1, "result": "b"}),
        ];
        let ordered = order_answers(&calls, answers).unwrap();
        let results: Vec<&str> = ordered
            .iter()
            .map(|a| a["result"].as_str().unwrap())
            .collect();
        assert_eq!(results, ["a", "b", "c"]);
    }

    #[test]
    fn a_missing_answer_is_refused() {
        let calls = vec![json!({"id": 0}), json!({"id": 1})];
        let answers = vec![
            json!({"id": 0, "result": "a"}),
            json!({"id": 0, "result": "a"}),
        ];
        assert!(order_answers(&calls, answers).is_err());
    }
}

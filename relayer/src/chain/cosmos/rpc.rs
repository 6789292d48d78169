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
}

impl Rpc {
    pub fn new(chain: ChainId, urls: &[String]) -> Result<Rpc> {
        let mut clients = Vec::new();
        for url in urls {
            let parsed: HttpClientUrl = url
                .parse()
                .map_err(|e| ChainError::Other(format!("RPC url `{url}` of {chain}: {e}")))?;
            let client = HttpClient::builder(parsed)
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|e| ChainError::Other(format!("RPC client for {url}: {e}")))?;
            clients.push(client);
        }
        Ok(Rpc {
            chain,
            clients,
            urls: urls.to_vec(),
            active: AtomicUsize::new(0),
        })
    }

    pub fn chain(&self) -> &ChainId {
        &self.chain
    }

    /// The URL of the endpoint in use (for the WebSocket, which follows it).
    pub fn active_url(&self) -> &str {
        &self.urls[self.active.load(Ordering::Relaxed) % self.urls.len()]
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
                    if idx != start {
                        tracing::warn!(chain = %self.chain, url = %self.urls[idx], "failed over to RPC endpoint");
                        self.active.store(idx, Ordering::Relaxed);
                    }
                    metrics().rpc_up(self.chain.as_str(), true);
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
        metrics().rpc_up(self.chain.as_str(), false);
        Err(ChainError::Rpc {
            chain: self.chain.clone(),
            method,
            reason: last,
        })
    }
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

//! Opening a path between two Cosmos chains: clients, connection and channel handshakes. Every step
//! first looks for what already exists, so running it again reuses clients, connections and channels.

mod channel;
mod clients;
mod connection;
mod discover;

use std::time::Duration;

use ibc_proto::ibc::core::commitment::v1::MerklePrefix;
use ibc_proto::ibc::core::connection::v1 as conn;
use serde::Serialize;

use super::CosmosChain;
use crate::chain::{ChainError, ClientHost, Headers, Msg, Result, Submit, TxOutcome};
use crate::ibc::{ChannelId, ClientId, ConnectionId, Height, PortId};

pub use channel::open_channel;
use clients::find_or_create_client;
pub use clients::{create_client, find_client};
use connection::find_connection;
pub use connection::open_connection;
pub use discover::find_path;

const ICS20_VERSION: &str = "ics20-1";
const STATE_OPEN: i32 = 3;

/// The identifiers of an open path, side A then side B.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PathIds {
    pub client_a: ClientId,
    pub client_b: ClientId,
    pub connection_a: ConnectionId,
    pub connection_b: ConnectionId,
    pub port_a: PortId,
    pub port_b: PortId,
    pub channel_a: ChannelId,
    pub channel_b: ChannelId,
}

/// An identifier `chain` reported (in a tx's events or a query answer), parsed.
pub(super) fn id<T: std::str::FromStr>(
    chain: &CosmosChain,
    v: Option<String>,
    what: &str,
) -> Result<T> {
    v.and_then(|s| s.parse().ok())
        .ok_or_else(|| ChainError::Malformed {
            chain: chain.id.clone(),
            method: "handshake",
            reason: format!("no valid {what} reported"),
        })
}

pub(super) fn conn_version() -> conn::Version {
    conn::Version {
        identifier: "1".into(),
        features: vec!["ORDER_ORDERED".into(), "ORDER_UNORDERED".into()],
    }
}

pub(super) fn prefix() -> MerklePrefix {
    MerklePrefix {
        key_prefix: b"ibc".to_vec(),
    }
}

/// Wait until `chain` has committed a block above `height`.
pub async fn wait_past(chain: &CosmosChain, height: u64) -> Result<Height> {
    crate::chain::wait_for_height(chain, height + 1, Duration::from_secs(30)).await
}

/// Messages that bring `host`'s client of `src` to `src`'s latest height (past `min_height`), and that height.
pub async fn client_update_to_latest(
    host: &CosmosChain,
    client: &ClientId,
    src: &CosmosChain,
    min_height: u64,
) -> Result<(Vec<Msg>, Height)> {
    let target = wait_past(src, min_height).await?;
    let trusted = host.client_latest_height(client).await?;
    if trusted >= target {
        return Ok((vec![], trusted));
    }
    let anchor = host.consensus_anchor(client, trusted).await?;
    let headers = src.client_headers(trusted, target, &anchor).await?;
    Ok((
        headers
            .into_iter()
            .map(|h| host.update_client_msg(client, h))
            .collect(),
        target,
    ))
}

/// Update `host`'s client of `src` past `after`, prove `key` on src there, and submit `build`'s message.
pub(super) async fn submit_with_proof(
    host: &CosmosChain,
    client: &ClientId,
    src: &CosmosChain,
    after: u64,
    key: &str,
    build: impl FnOnce(Vec<u8>, Height) -> Msg,
) -> Result<TxOutcome> {
    let (mut msgs, at) = client_update_to_latest(host, client, src, after).await?;
    let (_, proof) = src.proof_at(key, at, true).await?;
    msgs.push(build(proof.bytes, at));
    host.submit(msgs, 0).await
}

/// Open (or reuse) the whole path: clients, connection, channel.
pub async fn create_path(
    a: &CosmosChain,
    b: &CosmosChain,
    port_a: &PortId,
    port_b: &PortId,
) -> Result<(PathIds, bool)> {
    create_path_steps(a, b, port_a, port_b, &|_| {}).await
}

/// [`create_path`], telling `step` what it is doing (for a progress display).
pub async fn create_path_steps(
    a: &CosmosChain,
    b: &CosmosChain,
    port_a: &PortId,
    port_b: &PortId,
    step: &(dyn Fn(&str) + Sync),
) -> Result<(PathIds, bool)> {
    step("looking for an open channel");
    if let Some(ids) = find_path(a, b, port_a, None).await? {
        return Ok((ids, false));
    }
    step(&format!("client of {} on {}", b.id, a.id));
    let client_a = find_or_create_client(a, b).await?;
    step(&format!("client of {} on {}", a.id, b.id));
    let client_b = find_or_create_client(b, a).await?;
    tracing::info!(a = %a.id, client_a = %client_a, b = %b.id, client_b = %client_b, "clients ready");
    step("connection handshake (init, try, ack, confirm)");
    let (conn_a, conn_b) = match find_connection(a, &client_a, &client_b).await? {
        Some(c) => c,
        None => open_connection(a, b, &client_a, &client_b).await?,
    };
    step("channel handshake (init, try, ack, confirm)");
    let (chan_a, chan_b) =
        open_channel(a, b, &client_a, &client_b, &conn_a, &conn_b, port_a, port_b).await?;
    Ok((
        PathIds {
            client_a,
            client_b,
            connection_a: conn_a,
            connection_b: conn_b,
            port_a: port_a.clone(),
            port_b: port_b.clone(),
            channel_a: chan_a,
            channel_b: chan_b,
        },
        true,
    ))
}

/// Public entry points for `ferry create client|connection|channel`.
pub async fn ensure_client(host: &CosmosChain, of: &CosmosChain) -> Result<(ClientId, bool)> {
    match find_client(host, of).await? {
        Some(c) => Ok((c, false)),
        None => Ok((create_client(host, of).await?, true)),
    }
}

pub async fn ensure_connection(
    a: &CosmosChain,
    b: &CosmosChain,
) -> Result<(ClientId, ClientId, ConnectionId, ConnectionId, bool)> {
    let (client_a, _) = ensure_client(a, b).await?;
    let (client_b, _) = ensure_client(b, a).await?;
    if let Some((ca, cb)) = find_connection(a, &client_a, &client_b).await? {
        return Ok((client_a, client_b, ca, cb, false));
    }
    let (ca, cb) = open_connection(a, b, &client_a, &client_b).await?;
    Ok((client_a, client_b, ca, cb, true))
}

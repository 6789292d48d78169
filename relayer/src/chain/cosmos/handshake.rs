//! Opening a path between two Cosmos chains: clients, connection and channel handshakes. Every step
//! first looks for what already exists, so running it again reuses clients, connections and channels.

use std::time::Duration;

use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1::MsgCreateClient;
use ibc_proto::ibc::core::commitment::v1::MerklePrefix;
use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;
use serde::Serialize;

use super::query::keys;
use super::{any, raw_height, CosmosChain};
use crate::chain::{ChainError, ClientHost, Headers, Heights, Msg, Result, Submit, TxOutcome};
use crate::ibc::{ChannelId, ClientId, ConnectionId, Height, PortId};

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

fn id<T: std::str::FromStr>(v: Option<String>, what: &str) -> Result<T> {
    v.and_then(|s| s.parse().ok())
        .ok_or_else(|| ChainError::Other(format!("the tx did not report a {what}")))
}

fn conn_version() -> conn::Version {
    conn::Version {
        identifier: "1".into(),
        features: vec!["ORDER_ORDERED".into(), "ORDER_UNORDERED".into()],
    }
}

fn prefix() -> MerklePrefix {
    MerklePrefix {
        key_prefix: b"ibc".to_vec(),
    }
}

/// Wait until `chain` has committed a block above `height`.
pub async fn wait_past(chain: &CosmosChain, height: u64) -> Result<Height> {
    for _ in 0..120 {
        let (h, _) = chain.latest().await?;
        if h.revision_height > height {
            return Ok(h);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(ChainError::Other(format!(
        "{} did not pass height {height} in 30s",
        chain.id
    )))
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
async fn submit_with_proof(
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

/// An existing client on `host` that tracks `of` and is not frozen.
pub async fn find_client(host: &CosmosChain, of: &CosmosChain) -> Result<Option<ClientId>> {
    use ibc_proto::ibc::core::client::v1::{QueryClientStatesRequest, QueryClientStatesResponse};
    let res: QueryClientStatesResponse = host
        .grpc_query(
            "/ibc.core.client.v1.Query/ClientStates",
            &QueryClientStatesRequest { pagination: None },
            None,
        )
        .await?;
    let mut found: Vec<ClientId> = Vec::new();
    for ics in res.client_states {
        let Some(state) = ics.client_state else {
            continue;
        };
        if state.type_url != "/ibc.lightclients.tendermint.v1.ClientState" {
            continue;
        }
        let Ok(cs) = ibc_proto::ibc::lightclients::tendermint::v1::ClientState::decode(
            state.value.as_slice(),
        ) else {
            continue;
        };
        let frozen = cs.frozen_height.is_some_and(|h| h.revision_height != 0);
        if cs.chain_id == of.id.as_str() && !frozen {
            if let Ok(c) = ics.client_id.parse() {
                found.push(c);
            }
        }
    }
    found.sort_by_key(|c: &ClientId| {
        c.as_str()
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    Ok(found.into_iter().next())
}

pub async fn create_client(host: &CosmosChain, of: &CosmosChain) -> Result<ClientId> {
    let unbonding = of.unbonding_period().await?;
    let (client_state, consensus_state, _) = of.new_client_states(unbonding).await?;
    let msg = MsgCreateClient {
        client_state: Some(client_state),
        consensus_state: Some(consensus_state),
        signer: host.address.clone(),
    };
    let out = host
        .submit(vec![any("/ibc.core.client.v1.MsgCreateClient", &msg)], 0)
        .await?;
    id(out.attribute("create_client", "client_id"), "client id")
}

async fn find_or_create_client(host: &CosmosChain, of: &CosmosChain) -> Result<ClientId> {
    match find_client(host, of).await? {
        Some(c) => Ok(c),
        None => create_client(host, of).await,
    }
}

async fn connection_end(chain: &CosmosChain, c: &ConnectionId) -> Result<conn::ConnectionEnd> {
    let res: conn::QueryConnectionResponse = chain
        .grpc_query(
            "/ibc.core.connection.v1.Query/Connection",
            &conn::QueryConnectionRequest {
                connection_id: c.to_string(),
            },
            None,
        )
        .await?;
    res.connection
        .ok_or_else(|| chain.malformed("abci_query", format!("no connection {c}")))
}

/// An OPEN connection on `a` over `client_a` whose counterparty is `client_b`.
async fn find_connection(
    a: &CosmosChain,
    client_a: &ClientId,
    client_b: &ClientId,
) -> Result<Option<(ConnectionId, ConnectionId)>> {
    let res: conn::QueryClientConnectionsResponse = match a
        .grpc_query(
            "/ibc.core.connection.v1.Query/ClientConnections",
            &conn::QueryClientConnectionsRequest {
                client_id: client_a.to_string(),
            },
            None,
        )
        .await
    {
        Ok(r) => r,
        Err(ChainError::Query { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    for c in res.connection_paths {
        let Ok(cid) = c.parse::<ConnectionId>() else {
            continue;
        };
        let end = connection_end(a, &cid).await?;
        let Some(cp) = end.counterparty else { continue };
        if end.state == STATE_OPEN && cp.client_id == client_b.as_str() {
            if let Ok(other) = cp.connection_id.parse() {
                return Ok(Some((cid, other)));
            }
        }
    }
    Ok(None)
}

/// Connection handshake: INIT on a, TRY on b, ACK on a, CONFIRM on b.
pub async fn open_connection(
    a: &CosmosChain,
    b: &CosmosChain,
    client_a: &ClientId,
    client_b: &ClientId,
) -> Result<(ConnectionId, ConnectionId)> {
    let init = conn::MsgConnectionOpenInit {
        client_id: client_a.to_string(),
        counterparty: Some(conn::Counterparty {
            client_id: client_b.to_string(),
            connection_id: String::new(),
            prefix: Some(prefix()),
        }),
        version: Some(conn_version()),
        delay_period: 0,
        signer: a.address.clone(),
    };
    let out = a
        .submit(
            vec![any("/ibc.core.connection.v1.MsgConnectionOpenInit", &init)],
            0,
        )
        .await?;
    let conn_a: ConnectionId = id(
        out.attribute("connection_open_init", "connection_id"),
        "connection id",
    )?;
    tracing::info!(chain = %a.id, connection = %conn_a, "connection INIT");

    // TRY on b, proving a's connection, a's client of b, and that client's consensus state.
    let out = handshake_step(
        b,
        client_b,
        a,
        client_a,
        out.height,
        &conn_a,
        |proofs, at| {
            let m = conn::MsgConnectionOpenTry {
                client_id: client_b.to_string(),
                client_state: Some(proofs.client_state.clone()),
                counterparty: Some(conn::Counterparty {
                    client_id: client_a.to_string(),
                    connection_id: conn_a.to_string(),
                    prefix: Some(prefix()),
                }),
                delay_period: 0,
                counterparty_versions: vec![conn_version()],
                proof_height: Some(raw_height(at)),
                proof_init: proofs.connection.clone(),
                proof_client: proofs.client.clone(),
                proof_consensus: proofs.consensus.clone(),
                consensus_height: Some(raw_height(proofs.consensus_height)),
                signer: b.address.clone(),
                ..Default::default()
            };
            any("/ibc.core.connection.v1.MsgConnectionOpenTry", &m)
        },
    )
    .await?;
    let conn_b: ConnectionId = id(
        out.attribute("connection_open_try", "connection_id"),
        "connection id",
    )?;
    tracing::info!(chain = %b.id, connection = %conn_b, "connection TRYOPEN");

    let out = handshake_step(
        a,
        client_a,
        b,
        client_b,
        out.height,
        &conn_b,
        |proofs, at| {
            let m = conn::MsgConnectionOpenAck {
                connection_id: conn_a.to_string(),
                counterparty_connection_id: conn_b.to_string(),
                version: Some(conn_version()),
                client_state: Some(proofs.client_state.clone()),
                proof_height: Some(raw_height(at)),
                proof_try: proofs.connection.clone(),
                proof_client: proofs.client.clone(),
                proof_consensus: proofs.consensus.clone(),
                consensus_height: Some(raw_height(proofs.consensus_height)),
                signer: a.address.clone(),
                ..Default::default()
            };
            any("/ibc.core.connection.v1.MsgConnectionOpenAck", &m)
        },
    )
    .await?;
    tracing::info!(chain = %a.id, connection = %conn_a, "connection OPEN");

    submit_with_proof(
        b,
        client_b,
        a,
        out.height,
        &keys::connection(&conn_a),
        |proof, at| {
            let m = conn::MsgConnectionOpenConfirm {
                connection_id: conn_b.to_string(),
                proof_ack: proof,
                proof_height: Some(raw_height(at)),
                signer: b.address.clone(),
            };
            any("/ibc.core.connection.v1.MsgConnectionOpenConfirm", &m)
        },
    )
    .await?;
    tracing::info!(chain = %b.id, connection = %conn_b, "connection OPEN");
    Ok((conn_a, conn_b))
}

/// Proofs a connection handshake step carries about the counterparty.
struct ConnProofs {
    connection: Vec<u8>,
    client_state: Msg,
    client: Vec<u8>,
    consensus: Vec<u8>,
    consensus_height: Height,
}

/// Update `host`'s client of `src` past `after`, prove src's connection, client and consensus state
/// at that height, and submit `build`'s message beside the update.
async fn handshake_step(
    host: &CosmosChain,
    host_client: &ClientId,
    src: &CosmosChain,
    src_client: &ClientId,
    after: u64,
    src_conn: &ConnectionId,
    build: impl FnOnce(&ConnProofs, Height) -> Msg,
) -> Result<TxOutcome> {
    let (mut msgs, at) = client_update_to_latest(host, host_client, src, after).await?;
    let (_, connection) = src.proof_at(&keys::connection(src_conn), at, true).await?;
    let (cs_bytes, client) = src
        .proof_at(&keys::client_state(src_client), at, true)
        .await?;
    let client_state =
        Msg::decode(cs_bytes.as_slice()).map_err(|e| src.malformed("abci_query", e))?;
    let cs = ibc_proto::ibc::lightclients::tendermint::v1::ClientState::decode(
        client_state.value.as_slice(),
    )
    .map_err(|e| src.malformed("abci_query", e))?;
    let ch = cs
        .latest_height
        .ok_or_else(|| src.malformed("abci_query", "client state without latest height"))?;
    let consensus_height = Height::new(ch.revision_number, ch.revision_height);
    let (_, consensus) = src
        .proof_at(
            &keys::consensus_state(src_client, consensus_height),
            at,
            true,
        )
        .await?;
    let proofs = ConnProofs {
        connection: connection.bytes,
        client_state,
        client: client.bytes,
        consensus: consensus.bytes,
        consensus_height,
    };
    msgs.push(build(&proofs, at));
    host.submit(msgs, 0).await
}

fn channel(
    state: i32,
    cp_port: &PortId,
    cp_channel: &str,
    connection: &ConnectionId,
) -> chan::Channel {
    chan::Channel {
        state,
        ordering: chan::Order::Unordered as i32,
        counterparty: Some(chan::Counterparty {
            port_id: cp_port.to_string(),
            channel_id: cp_channel.into(),
        }),
        connection_hops: vec![connection.to_string()],
        version: ICS20_VERSION.into(),
        ..Default::default()
    }
}

/// ICS-20 channel handshake (unordered, `ics20-1`): INIT on a, TRY on b, ACK on a, CONFIRM on b.
#[allow(clippy::too_many_arguments)]
pub async fn open_channel(
    a: &CosmosChain,
    b: &CosmosChain,
    client_a: &ClientId,
    client_b: &ClientId,
    conn_a: &ConnectionId,
    conn_b: &ConnectionId,
    port_a: &PortId,
    port_b: &PortId,
) -> Result<(ChannelId, ChannelId)> {
    let init = chan::MsgChannelOpenInit {
        port_id: port_a.to_string(),
        channel: Some(channel(1, port_b, "", conn_a)),
        signer: a.address.clone(),
    };
    let out = a
        .submit(
            vec![any("/ibc.core.channel.v1.MsgChannelOpenInit", &init)],
            0,
        )
        .await?;
    let chan_a: ChannelId = id(
        out.attribute("channel_open_init", "channel_id"),
        "channel id",
    )?;
    tracing::info!(chain = %a.id, channel = %chan_a, "channel INIT");

    let out = submit_with_proof(
        b,
        client_b,
        a,
        out.height,
        &keys::channel(port_a, &chan_a),
        |proof, at| {
            #[allow(deprecated)]
            let m = chan::MsgChannelOpenTry {
                port_id: port_b.to_string(),
                previous_channel_id: String::new(),
                channel: Some(channel(2, port_a, chan_a.as_str(), conn_b)),
                counterparty_version: ICS20_VERSION.into(),
                proof_init: proof,
                proof_height: Some(raw_height(at)),
                signer: b.address.clone(),
            };
            any("/ibc.core.channel.v1.MsgChannelOpenTry", &m)
        },
    )
    .await?;
    let chan_b: ChannelId = id(
        out.attribute("channel_open_try", "channel_id"),
        "channel id",
    )?;
    tracing::info!(chain = %b.id, channel = %chan_b, "channel TRYOPEN");

    let out = submit_with_proof(
        a,
        client_a,
        b,
        out.height,
        &keys::channel(port_b, &chan_b),
        |proof, at| {
            let m = chan::MsgChannelOpenAck {
                port_id: port_a.to_string(),
                channel_id: chan_a.to_string(),
                counterparty_channel_id: chan_b.to_string(),
                counterparty_version: ICS20_VERSION.into(),
                proof_try: proof,
                proof_height: Some(raw_height(at)),
                signer: a.address.clone(),
            };
            any("/ibc.core.channel.v1.MsgChannelOpenAck", &m)
        },
    )
    .await?;
    tracing::info!(chain = %a.id, channel = %chan_a, "channel OPEN");

    submit_with_proof(
        b,
        client_b,
        a,
        out.height,
        &keys::channel(port_a, &chan_a),
        |proof, at| {
            let m = chan::MsgChannelOpenConfirm {
                port_id: port_b.to_string(),
                channel_id: chan_b.to_string(),
                proof_ack: proof,
                proof_height: Some(raw_height(at)),
                signer: b.address.clone(),
            };
            any("/ibc.core.channel.v1.MsgChannelOpenConfirm", &m)
        },
    )
    .await?;
    tracing::info!(chain = %b.id, channel = %chan_b, "channel OPEN");
    Ok((chan_a, chan_b))
}

async fn channel_end(
    chain: &CosmosChain,
    port: &PortId,
    ch: &ChannelId,
) -> Result<Option<chan::Channel>> {
    let req = chan::QueryChannelRequest {
        port_id: port.to_string(),
        channel_id: ch.to_string(),
    };
    match chain
        .grpc_query::<_, chan::QueryChannelResponse>(
            "/ibc.core.channel.v1.Query/Channel",
            &req,
            None,
        )
        .await
    {
        Ok(r) => Ok(r.channel),
        Err(ChainError::Query { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Complete ids for an OPEN channel pair given a's channel (checked on both sides).
async fn ids_from_channel(
    a: &CosmosChain,
    b: &CosmosChain,
    port_a: &PortId,
    chan_a: &ChannelId,
) -> Result<Option<PathIds>> {
    let Some(ca) = channel_end(a, port_a, chan_a).await? else {
        return Ok(None);
    };
    let Some(cp) = ca.counterparty.clone() else {
        return Ok(None);
    };
    let (Ok(port_b), Ok(chan_b)) = (
        cp.port_id.parse::<PortId>(),
        cp.channel_id.parse::<ChannelId>(),
    ) else {
        return Ok(None);
    };
    let Some(cb) = channel_end(b, &port_b, &chan_b).await? else {
        return Ok(None);
    };
    if ca.state != STATE_OPEN
        || cb.state != STATE_OPEN
        || cb.counterparty.as_ref().map(|c| c.channel_id.as_str()) != Some(chan_a.as_str())
    {
        return Ok(None);
    }
    let (Some(conn_a), Some(conn_b)) = (ca.connection_hops.first(), cb.connection_hops.first())
    else {
        return Ok(None);
    };
    let (conn_a, conn_b): (ConnectionId, ConnectionId) = (
        id(Some(conn_a.clone()), "connection")?,
        id(Some(conn_b.clone()), "connection")?,
    );
    let (ea, eb) = (
        connection_end(a, &conn_a).await?,
        connection_end(b, &conn_b).await?,
    );
    let client_a: ClientId = id(Some(ea.client_id), "client")?;
    let client_b: ClientId = id(Some(eb.client_id), "client")?;
    // The clients must track each other's chain.
    if a.client_state(&client_a).await?.chain_id != b.id.as_str()
        || b.client_state(&client_b).await?.chain_id != a.id.as_str()
    {
        return Ok(None);
    }
    Ok(Some(PathIds {
        client_a,
        client_b,
        connection_a: conn_a,
        connection_b: conn_b,
        port_a: port_a.clone(),
        port_b,
        channel_a: chan_a.clone(),
        channel_b: chan_b,
    }))
}

/// Find an open ICS-20 path between a and b: the pinned channel if given, else the lowest-numbered
/// OPEN channel on `port_a` whose clients track the two chains.
pub async fn find_path(
    a: &CosmosChain,
    b: &CosmosChain,
    port_a: &PortId,
    pinned: Option<&ChannelId>,
) -> Result<Option<PathIds>> {
    if let Some(ch) = pinned {
        return ids_from_channel(a, b, port_a, ch).await;
    }
    let res: chan::QueryChannelsResponse = a
        .grpc_query(
            "/ibc.core.channel.v1.Query/Channels",
            &chan::QueryChannelsRequest { pagination: None },
            None,
        )
        .await?;
    let mut candidates: Vec<ChannelId> = res
        .channels
        .into_iter()
        .filter(|c| c.state == STATE_OPEN && c.port_id == port_a.as_str())
        .filter_map(|c| c.channel_id.parse().ok())
        .collect();
    candidates.sort_by_key(|c: &ChannelId| c.sequence().unwrap_or(u64::MAX));
    for ch in candidates {
        if let Some(ids) = ids_from_channel(a, b, port_a, &ch).await? {
            return Ok(Some(ids));
        }
    }
    Ok(None)
}

/// Open (or reuse) the whole path: clients, connection, channel.
pub async fn create_path(
    a: &CosmosChain,
    b: &CosmosChain,
    port_a: &PortId,
    port_b: &PortId,
) -> Result<(PathIds, bool)> {
    if let Some(ids) = find_path(a, b, port_a, None).await? {
        return Ok((ids, false));
    }
    let client_a = find_or_create_client(a, b).await?;
    let client_b = find_or_create_client(b, a).await?;
    tracing::info!(a = %a.id, client_a = %client_a, b = %b.id, client_b = %client_b, "clients ready");
    let (conn_a, conn_b) = match find_connection(a, &client_a, &client_b).await? {
        Some(c) => c,
        None => open_connection(a, b, &client_a, &client_b).await?,
    };
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

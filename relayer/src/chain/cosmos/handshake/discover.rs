//! Finding an open path that already exists between two chains.

use ibc_proto::ibc::core::channel::v1 as chan;

use super::super::CosmosChain;
use super::connection::connection_end;
use super::{id, PathIds, STATE_OPEN};
use crate::chain::{ChainError, Result};
use crate::ibc::{ChannelId, ClientId, ConnectionId, PortId};

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
        id(a, Some(conn_a.clone()), "connection")?,
        id(b, Some(conn_b.clone()), "connection")?,
    );
    let (ea, eb) = (
        connection_end(a, &conn_a).await?,
        connection_end(b, &conn_b).await?,
    );
    let client_a: ClientId = id(a, Some(ea.client_id), "client")?;
    let client_b: ClientId = id(b, Some(eb.client_id), "client")?;
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

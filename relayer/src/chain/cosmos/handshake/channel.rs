//! The ICS-20 channel handshake (unordered, `ics20-1`).

use ibc_proto::ibc::core::channel::v1 as chan;

use super::super::query::keys;
use super::super::{any, raw_height, CosmosChain};
use super::{id, submit_with_proof, ICS20_VERSION};
use crate::chain::{Result, Submit};
use crate::ibc::{ChannelId, ClientId, ConnectionId, PortId};

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
        a,
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
        b,
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

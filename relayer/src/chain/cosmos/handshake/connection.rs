//! The connection handshake: INIT, TRY, ACK, CONFIRM, with proofs of the counterparty's connection,
//! client state and consensus state.

use ibc_proto::ibc::core::connection::v1 as conn;
use prost::Message;

use super::super::query::keys;
use super::super::{any, raw_height, CosmosChain};
use super::{client_update_to_latest, conn_version, id, prefix, submit_with_proof, STATE_OPEN};
use crate::chain::{ChainError, Msg, Result, Submit, TxOutcome};
use crate::ibc::{ClientId, ConnectionId, Height};

pub(super) async fn connection_end(
    chain: &CosmosChain,
    c: &ConnectionId,
) -> Result<conn::ConnectionEnd> {
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
pub(super) async fn find_connection(
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
        a,
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
        b,
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

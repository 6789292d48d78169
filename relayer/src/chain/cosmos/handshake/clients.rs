//! Finding or creating the client of one chain on another.

use ibc_proto::ibc::core::client::v1::MsgCreateClient;
use prost::Message;

use super::super::{any, CosmosChain};
use super::id;
use crate::chain::{Result, Submit};
use crate::ibc::ClientId;

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
    id(
        host,
        out.attribute("create_client", "client_id"),
        "client id",
    )
}

pub(super) async fn find_or_create_client(
    host: &CosmosChain,
    of: &CosmosChain,
) -> Result<ClientId> {
    match find_client(host, of).await? {
        Some(c) => Ok(c),
        None => create_client(host, of).await,
    }
}

//! A path between a Cosmos chain speaking IBC v2 and an EVM chain: each hosts an attestations
//! client of the other, registered as counterparties; each side proves to the other through its
//! own attestor committee.

use std::sync::Arc;

use super::{Attested, CommitteeSource, Wire};
use crate::chain::cosmos::CosmosChain;
use crate::chain::evm::attestation::caip2_eip155;
use crate::chain::evm::EvmChain;
use crate::chain::RelayChain;
use crate::config::{PathConfig, PathEnd};
use crate::router::Side;
use crate::supervisor::SupervisorError;

/// CAIP-2 name of a Cosmos chain, as attestors know it.
pub fn caip2_cosmos(chain_id: &str) -> String {
    format!("cosmos:{chain_id}")
}

/// The (cosmos side, evm side) of `path`, after checking that both clients exist and name each
/// other as counterparty.
pub async fn resolve(
    path: &PathConfig,
    cosmos: &Arc<CosmosChain>,
    cosmos_end: &PathEnd,
    evm: &Arc<EvmChain>,
    evm_end: &PathEnd,
) -> Result<(Side, Side), SupervisorError> {
    let bad = |reason: String| SupervisorError::EvmPath {
        path: path.name.clone(),
        reason,
    };
    let (Some(cc), Some(ec)) = (&cosmos_end.client, &evm_end.client) else {
        return Err(bad(
            "both ends of a cosmos–evm path need `client` (the IBC v2 client id)".into(),
        ));
    };
    let registered = cosmos.v2_counterparty(cc).await?;
    match registered {
        Some(info) if info.client_id == ec.as_str() => {}
        Some(info) => {
            return Err(bad(format!(
                "client `{cc}` on {} has counterparty `{}`, not `{ec}`",
                cosmos.id, info.client_id
            )))
        }
        None => {
            return Err(bad(format!(
                "client `{cc}` on {} has no registered counterparty; run `ferry create path {}`",
                cosmos.id, path.name
            )))
        }
    }
    let cp = evm
        .router()
        .counterparty_of(ec.to_string())
        .call()
        .await
        .map_err(|e| bad(format!("{}: reading client `{ec}`: {e}", evm.id)))?;
    if cp != cc.as_str() {
        return Err(bad(format!(
            "client `{ec}` on {} has counterparty `{cp}`, not `{cc}`",
            evm.id
        )));
    }
    let (c_urls, c_timeout) = cosmos.config.attestors();
    let (e_urls, e_timeout) = evm.config.attestors();
    for (chain, urls) in [(&cosmos.id, c_urls), (&evm.id, e_urls)] {
        if urls.is_empty() {
            return Err(bad(format!(
                "{chain} lists no attestor_endpoints: its counterparty's client trusts only its committee"
            )));
        }
    }
    let inner_c: Arc<dyn RelayChain> = cosmos.clone();
    let inner_e: Arc<dyn RelayChain> = evm.clone();
    let c_side = Attested::new(
        inner_c.clone(),
        CommitteeSource {
            caip2: caip2_cosmos(cosmos.id.as_str()),
            endpoints: c_urls.to_vec(),
            timeout: c_timeout,
        },
        Wire::Evm,
        inner_e.clone(),
        ec.clone(),
        1,
    );
    let e_side = Attested::new(
        inner_e,
        CommitteeSource {
            caip2: caip2_eip155(evm.evm.chain_id),
            endpoints: e_urls.to_vec(),
            timeout: e_timeout,
        },
        Wire::Cosmos,
        inner_c,
        cc.clone(),
        0,
    );
    let side = |chain: Arc<Attested>, end: &PathEnd, client: &crate::ibc::ClientId| Side {
        chain,
        client: client.clone(),
        port: end.port.clone(),
        channel: client
            .as_str()
            .parse()
            .expect("a client id is a valid channel id"),
    };
    Ok((side(c_side, cosmos_end, cc), side(e_side, evm_end, ec)))
}

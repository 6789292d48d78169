//! `ferry create path` for a cosmos–evm path: the Cosmos chain's `attestations` client of the EVM
//! chain, and its counterparty registration, both idempotent. The EVM chain's client of the Cosmos
//! chain (an `AttestationsLightClient` in Ferry's router) is checked, or added by the router's
//! owner in [`create_evm`](super::create_evm).
//!
//! The client starts from a state the EVM committee itself attests (a quorum of its current
//! members), never from an unchecked RPC answer.

use ethers::types::Address;
use ibc_proto::ibc::core::client::v1::MsgCreateClient;

use super::collect::{self, Ask};
use super::create_evm::{self, CreateEvmError, EvmAdmin, EvmClient, EvmStep};
use super::format;
use crate::chain::cosmos::v2::{self, proto, type_url};
use crate::chain::cosmos::CosmosChain;
use crate::chain::evm::attestation::caip2_eip155;
use crate::chain::evm::EvmChain;
use crate::chain::{ChainError, Heights, IbcCommittee, Result, Submit};
use crate::ibc::ClientId;

/// What `ensure_cosmos_client` did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Created {
    pub client: ClientId,
    pub created: bool,
    pub registered: bool,
}

/// Make sure `cosmos` hosts an attestations client of `evm` trusting `committee`, registered with
/// counterparty `evm_client`. `want` is the client id the config names (reused when it exists).
pub async fn ensure_cosmos_client(
    cosmos: &CosmosChain,
    evm: &EvmChain,
    committee: &IbcCommittee,
    want: Option<&ClientId>,
    evm_client: &ClientId,
) -> Result<Created> {
    let existing = match want {
        Some(c) => cosmos
            .attestations_client_state(c)
            .await
            .ok()
            .flatten()
            .map(|_| c.clone()),
        None => None,
    };
    let (client, created) = match existing {
        Some(c) => (c, false),
        None => (create(cosmos, evm, committee).await?, true),
    };
    if let Some(w) = want {
        if w != &client {
            return Err(ChainError::Config {
                chain: cosmos.id.clone(),
                reason: format!(
                    "created client `{client}`, but the path names `{w}`: update the config"
                ),
            });
        }
    }
    let registered = match cosmos.v2_counterparty(&client).await? {
        Some(info) if info.client_id == evm_client.as_str() => false,
        Some(info) => {
            return Err(ChainError::Config {
                chain: cosmos.id.clone(),
                reason: format!(
                    "client `{client}` is registered with counterparty `{}`, not `{evm_client}`",
                    info.client_id
                ),
            })
        }
        None => {
            let msg = proto::MsgRegisterCounterparty {
                client_id: client.to_string(),
                // The attestations client proves `keccak256(path)` with a one-element path:
                // the key itself, under an empty prefix.
                counterparty_merkle_prefix: vec![vec![]],
                counterparty_client_id: evm_client.to_string(),
                signer: cosmos.address.clone(),
            };
            cosmos
                .submit(vec![v2::any(type_url::REGISTER_COUNTERPARTY, &msg)], 0)
                .await?;
            true
        }
    };
    Ok(Created {
        client,
        created,
        registered,
    })
}

async fn create(
    cosmos: &CosmosChain,
    evm: &EvmChain,
    committee: &IbcCommittee,
) -> Result<ClientId> {
    let (height, ts) =
        attested_latest_state(evm, &evm.config, &caip2_eip155(evm.evm.chain_id), committee).await?;
    let client_state = proto::AttestationsClientState {
        attestor_addresses: committee.members.iter().map(checksummed).collect(),
        min_required_sigs: committee.quorum as u32,
        latest_height: height,
        is_frozen: false,
    };
    let consensus_state = proto::AttestationsConsensusState {
        timestamp: ts.saturating_mul(1_000_000_000),
    };
    let msg = MsgCreateClient {
        client_state: Some(v2::any(type_url::ATTESTATIONS_CLIENT_STATE, &client_state)),
        consensus_state: Some(v2::any(
            type_url::ATTESTATIONS_CONSENSUS_STATE,
            &consensus_state,
        )),
        signer: cosmos.address.clone(),
    };
    let out = cosmos
        .submit(
            vec![v2::any("/ibc.core.client.v1.MsgCreateClient", &msg)],
            0,
        )
        .await?;
    out.attribute("create_client", "client_id")
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ChainError::Malformed {
            chain: cosmos.id.clone(),
            method: "create_client",
            reason: format!("tx {} reported no valid client_id", out.hash),
        })
}

/// `(height, block time in seconds)` of `chain`'s latest height, as a quorum of `committee` (the
/// attestors `config` names, signing under `caip2`) attests it: where a new client starts.
pub(super) async fn attested_latest_state(
    chain: &dyn Heights,
    config: &crate::config::ChainConfig,
    caip2: &str,
    committee: &IbcCommittee,
) -> Result<(u64, u64)> {
    let (h, _) = chain.latest().await?;
    let (urls, timeout) = config.attestors();
    let signed = collect::collect(
        &collect::client(timeout),
        urls,
        caip2,
        chain.id().as_str(),
        committee,
        &Ask::State {
            height: h.revision_height,
        },
    )
    .await
    .map_err(|detail| ChainError::AttestationQuorum {
        chain: chain.id().clone(),
        height: h.revision_height,
        got: 0,
        quorum: committee.quorum,
        detail,
    })?;
    format::decode_state(&signed.data).ok_or_else(|| ChainError::Malformed {
        chain: chain.id().clone(),
        method: "attestation",
        reason: "signed state did not decode".into(),
    })
}

fn checksummed(a: &Address) -> String {
    ethers::utils::to_checksum(a, None)
}

/// The committee behind `endpoints`: each attestor's address from its `GET /v1/info`, and a
/// majority quorum. Creating a client is a trust decision: the operator names the endpoints in
/// the config, and every address is printed.
pub async fn committee_of(chain: &crate::config::ChainConfig) -> Result<IbcCommittee> {
    let endpoints = chain.attestors().0;
    #[derive(serde::Deserialize)]
    struct Info {
        address: Address,
    }
    let http = collect::client(std::time::Duration::from_secs(10));
    let info_err = |url: &reqwest::Url, e: reqwest::Error| ChainError::Rpc {
        chain: chain.id.clone(),
        method: "attestor /v1/info",
        reason: format!("{url}: {e}"),
    };
    let mut members = Vec::new();
    for url in endpoints {
        let info: Info = http
            .get(url.join("v1/info").expect("a valid route"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| info_err(url, e))?
            .json()
            .await
            .map_err(|e| info_err(url, e))?;
        if members.contains(&info.address) {
            return Err(ChainError::Config {
                chain: chain.id.clone(),
                reason: format!(
                    "attestor {url} has the address {:?} of another endpoint: one key per attestor",
                    info.address
                ),
            });
        }
        members.push(info.address);
    }
    if members.is_empty() {
        return Err(ChainError::Config {
            chain: chain.id.clone(),
            reason: "no attestor endpoints".into(),
        });
    }
    let quorum = members.len() / 2 + 1;
    Ok(IbcCommittee { members, quorum })
}

/// What `ferry create path` did on both sides of a cosmos–evm path.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PathCreated {
    pub cosmos: Created,
    pub evm: EvmClient,
}

/// `ferry create path` for a cosmos–evm path. When the EVM router already has `evm_client`, its
/// counterparty must be the path's Cosmos client, which is created and registered as needed.
/// Otherwise the router's owner (`admin`) adds it: everything is checked first, then the Cosmos
/// client is made, then the EVM client of it (see [`create_evm`](super::create_evm)).
pub async fn ensure_path(
    cosmos: &CosmosChain,
    cosmos_client: Option<&ClientId>,
    evm: &EvmChain,
    evm_client: &ClientId,
    admin: Option<&EvmAdmin>,
) -> std::result::Result<PathCreated, CreateEvmError> {
    let router = evm.router();
    let read_err = |e: ethers::contract::ContractError<_>| ChainError::Rpc {
        chain: evm.id.clone(),
        method: "eth_call",
        reason: format!("reading client `{evm_client}`: {e}"),
    };
    let expected = router
        .counterparty_of(evm_client.to_string())
        .call()
        .await
        .map_err(read_err)?;
    let committee = || async { committee_of(&evm.config).await };
    if expected.is_empty() {
        let prepared = create_evm::prepare(evm, evm_client, admin).await?;
        // A run that scheduled the EVM client already made the Cosmos client it names.
        let scheduled: Option<ClientId> = match prepared.scheduled_counterparty() {
            Some(c) => Some(c.parse().map_err(|e| ChainError::Malformed {
                chain: evm.id.clone(),
                method: "AdminScheduled",
                reason: format!("scheduled counterparty `{c}`: {e}"),
            })?),
            None => None,
        };
        let want = cosmos_client.cloned().or(scheduled);
        let made =
            ensure_cosmos_client(cosmos, evm, &committee().await?, want.as_ref(), evm_client)
                .await?;
        let evm_done = create_evm::finish(cosmos, evm, evm_client, &made.client, prepared).await?;
        return Ok(PathCreated {
            cosmos: made,
            evm: evm_done,
        });
    }
    let want: ClientId = match cosmos_client {
        Some(c) => c.clone(),
        None => expected.parse().map_err(|e| ChainError::Malformed {
            chain: evm.id.clone(),
            method: "counterpartyOf",
            reason: format!("`{expected}`: {e}"),
        })?,
    };
    if want.as_str() != expected {
        return Err(ChainError::Config {
            chain: evm.id.clone(),
            reason: format!(
                "client `{evm_client}` expects counterparty `{expected}`, the path names `{want}`"
            ),
        }
        .into());
    }
    let light_client = router
        .light_client_of(evm_client.to_string())
        .call()
        .await
        .map_err(read_err)?;
    let made =
        ensure_cosmos_client(cosmos, evm, &committee().await?, Some(&want), evm_client).await?;
    Ok(PathCreated {
        cosmos: made,
        evm: EvmClient {
            client: evm_client.clone(),
            light_client,
            counterparty: expected,
            step: EvmStep::Exists,
            ready_at: None,
        },
    })
}

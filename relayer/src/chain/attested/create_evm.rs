//! `ferry create path`, EVM side of a cosmos–evm path: an `AttestationsLightClient` of the Cosmos
//! chain, deployed and added to Ferry's router under the path's client id.
//!
//! Adding a client is an admin action of the router, so the key used must be the router's owner.
//! While the router's setup is open the client is added at once; after `closeSetup()` the
//! `addClient` call is scheduled behind the timelock, and a later run finds it (from the router's
//! `AdminScheduled` events) and executes it once it is ready. Nothing is deployed before the owner
//! and the artifacts are checked, and a scheduled call is reused, never scheduled twice.
//!
//! The new client trusts the Cosmos chain's committee (the chain's `attestor_endpoints`, each
//! address as its attestor reports it, majority quorum) and starts from a state that committee
//! attests, never from an unchecked RPC answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ethers::abi::{Abi, AbiDecode, Token};
use ethers::contract::ContractFactory;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::{Address, Bytes, U256};

use super::create::{attested_latest_state, committee_of};
use super::path::caip2_cosmos;
use crate::chain::cosmos::CosmosChain;
use crate::chain::evm::abi::{AddClientCall, AdminScheduledFilter, FerryRouter};
use crate::chain::evm::EvmChain;
use crate::chain::ChainError;
use crate::ibc::{ChainId, ClientId};

/// How far back (in blocks) a run looks for an `addClient` it scheduled before.
pub const SCAN_BLOCKS: u64 = 200_000;
/// Blocks per `eth_getLogs` request while scanning.
const LOG_CHUNK: u64 = 10_000;

/// The router owner's key and the compiled contracts, for adding a missing client.
pub struct EvmAdmin {
    /// The key's name, for messages.
    pub key: String,
    /// Signs for the EVM chain's EIP-155 id.
    pub wallet: LocalWallet,
    /// The folder `node contracts/compile.mjs <dir>` wrote (`AttestationsLightClient.json`).
    pub contracts: Option<PathBuf>,
}

/// Where the EVM side's client stands after this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvmStep {
    /// The router already had the client.
    Exists,
    /// Added by this run (directly during setup, or by executing the scheduled call).
    Added,
    /// Scheduled behind the router's timelock; run `ferry create path` again from `ready_at`.
    Scheduled,
}

/// The EVM side's client after `ferry create path`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvmClient {
    pub client: ClientId,
    pub light_client: Address,
    pub counterparty: String,
    pub step: EvmStep,
    /// Unix seconds from which the scheduled `addClient` may run (`Scheduled` only).
    pub ready_at: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateEvmError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(
        "the router on {chain} has no client `{client}`: adding it needs the router owner's key \
         (--admin-key) and the compiled contracts (--contracts)"
    )]
    NoAdmin { chain: ChainId, client: ClientId },
    #[error(
        "the router on {chain} is owned by {owner:?}, but key `{key}` is {address:?}: adding \
         client `{client}` needs the owner's key (--admin-key)"
    )]
    NotOwner {
        chain: ChainId,
        client: ClientId,
        owner: Address,
        key: String,
        address: Address,
    },
    #[error(
        "adding client `{client}` on {chain} deploys an AttestationsLightClient: pass --contracts \
         with the folder `node contracts/compile.mjs <dir>` wrote"
    )]
    NoContracts { chain: ChainId, client: ClientId },
    #[error("contract artifact {path}: {detail}")]
    Artifact { path: PathBuf, detail: String },
    #[error("{chain}: {action}: {detail}")]
    Tx {
        chain: ChainId,
        action: &'static str,
        detail: String,
    },
    #[error(
        "client `{client}` on {chain} is scheduled with counterparty `{scheduled}`, but the path \
         names `{named}`: cancel it, or name `{scheduled}` in the config"
    )]
    ScheduledCounterparty {
        chain: ChainId,
        client: ClientId,
        scheduled: String,
        named: ClientId,
    },
}

type Admin = SignerMiddleware<Arc<Provider<Http>>, LocalWallet>;

/// What the run will do on the EVM side, decided before anything changes on either chain.
pub struct Prepared {
    router: FerryRouter<Admin>,
    plan: Plan,
}

enum Plan {
    /// Setup open: deploy and add.
    Direct(Artifact),
    /// Setup closed, nothing scheduled: deploy and schedule.
    Schedule(Artifact),
    /// An `addClient` of this client is scheduled already.
    Pending {
        call: Bytes,
        light_client: Address,
        counterparty: String,
        ready_at: u64,
    },
}

struct Artifact {
    abi: Abi,
    bytecode: Bytes,
}

impl Prepared {
    /// The Cosmos client id an already scheduled `addClient` names as counterparty.
    pub fn scheduled_counterparty(&self) -> Option<&str> {
        match &self.plan {
            Plan::Pending { counterparty, .. } => Some(counterparty),
            _ => None,
        }
    }
}

/// Check that `client` can be added to `evm`'s router with `admin`, and find a scheduled add.
pub async fn prepare(
    evm: &EvmChain,
    client: &ClientId,
    admin: Option<&EvmAdmin>,
) -> Result<Prepared, CreateEvmError> {
    let admin = admin.ok_or_else(|| CreateEvmError::NoAdmin {
        chain: evm.id.clone(),
        client: client.clone(),
    })?;
    let signer = Arc::new(SignerMiddleware::new(
        evm.provider(),
        admin.wallet.clone().with_chain_id(evm.evm.chain_id),
    ));
    let router = FerryRouter::new(evm.evm.router, signer);
    let owner = router
        .owner()
        .call()
        .await
        .map_err(call_err(evm, "owner"))?;
    if owner != admin.wallet.address() {
        return Err(CreateEvmError::NotOwner {
            chain: evm.id.clone(),
            client: client.clone(),
            owner,
            key: admin.key.clone(),
            address: admin.wallet.address(),
        });
    }
    let open = router
        .setup_open()
        .call()
        .await
        .map_err(call_err(evm, "setupOpen"))?;
    if !open {
        if let Some(plan) = find_scheduled(evm, &router, client).await? {
            return Ok(Prepared { router, plan });
        }
    }
    let dir = admin
        .contracts
        .as_deref()
        .ok_or_else(|| CreateEvmError::NoContracts {
            chain: evm.id.clone(),
            client: client.clone(),
        })?;
    let artifact = load_artifact(dir)?;
    let plan = if open {
        Plan::Direct(artifact)
    } else {
        Plan::Schedule(artifact)
    };
    Ok(Prepared { router, plan })
}

/// Carry out `prepared`: the client of `cosmos` named `client`, with counterparty `counterparty`.
pub async fn finish(
    cosmos: &CosmosChain,
    evm: &EvmChain,
    client: &ClientId,
    counterparty: &ClientId,
    prepared: Prepared,
) -> Result<EvmClient, CreateEvmError> {
    let Prepared { router, plan } = prepared;
    let done = |light_client, step, ready_at| EvmClient {
        client: client.clone(),
        light_client,
        counterparty: counterparty.to_string(),
        step,
        ready_at,
    };
    match plan {
        Plan::Pending {
            call,
            light_client,
            counterparty: scheduled,
            ready_at,
        } => {
            if scheduled != counterparty.as_str() {
                return Err(CreateEvmError::ScheduledCounterparty {
                    chain: evm.id.clone(),
                    client: client.clone(),
                    scheduled,
                    named: counterparty.clone(),
                });
            }
            if ready_at > chain_time(evm).await? {
                return Ok(done(light_client, EvmStep::Scheduled, Some(ready_at)));
            }
            send(
                evm,
                "executing the scheduled addClient",
                router.execute(call),
            )
            .await?;
            Ok(done(light_client, EvmStep::Added, None))
        }
        Plan::Direct(artifact) => {
            let lc = deploy(cosmos, evm, &router, &artifact).await?;
            send(
                evm,
                "addClient",
                router.add_client(client.to_string(), lc, counterparty.to_string()),
            )
            .await?;
            Ok(done(lc, EvmStep::Added, None))
        }
        Plan::Schedule(artifact) => {
            let lc = deploy(cosmos, evm, &router, &artifact).await?;
            let call = router
                .add_client(client.to_string(), lc, counterparty.to_string())
                .calldata()
                .expect("a function call has calldata");
            let id = ethers::utils::keccak256(&call);
            send(evm, "scheduling addClient", router.schedule(call)).await?;
            let ready_at = router
                .ready_at(id)
                .call()
                .await
                .map_err(call_err(evm, "readyAt"))?;
            Ok(done(lc, EvmStep::Scheduled, Some(ready_at.low_u64())))
        }
    }
}

/// The latest `addClient(client, …)` still scheduled on the router, if any.
async fn find_scheduled(
    evm: &EvmChain,
    router: &FerryRouter<Admin>,
    client: &ClientId,
) -> Result<Option<Plan>, CreateEvmError> {
    let latest = evm
        .provider()
        .get_block_number()
        .await
        .map_err(|e| tx_err(evm, "eth_blockNumber", e))?
        .as_u64();
    let mut from = latest.saturating_sub(SCAN_BLOCKS);
    let mut found = None;
    while from <= latest {
        let to = (from + LOG_CHUNK - 1).min(latest);
        let logs = router
            .event::<AdminScheduledFilter>()
            .from_block(from)
            .to_block(to)
            .query()
            .await
            .map_err(call_err(evm, "AdminScheduled logs"))?;
        for ev in logs {
            if let Ok(add) = AddClientCall::decode(&ev.call) {
                if add.client_id == client.as_str() {
                    found = Some((ev.call, add));
                }
            }
        }
        from = to + 1;
    }
    let Some((call, add)) = found else {
        return Ok(None);
    };
    let ready_at = router
        .ready_at(ethers::utils::keccak256(&call))
        .call()
        .await
        .map_err(call_err(evm, "readyAt"))?;
    // Zero: cancelled (an executed one would have added the client).
    if ready_at.is_zero() {
        return Ok(None);
    }
    Ok(Some(Plan::Pending {
        call,
        light_client: add.light_client,
        counterparty: add.counterparty_client_id,
        ready_at: ready_at.min(U256::from(u64::MAX)).as_u64(),
    }))
}

/// Deploy an `AttestationsLightClient` trusting `cosmos`'s committee from a state it attests.
async fn deploy(
    cosmos: &CosmosChain,
    evm: &EvmChain,
    router: &FerryRouter<Admin>,
    artifact: &Artifact,
) -> Result<Address, CreateEvmError> {
    let committee = committee_of(&cosmos.config).await?;
    let (height, ts) = attested_latest_state(
        cosmos,
        &cosmos.config,
        &caip2_cosmos(cosmos.id.as_str()),
        &committee,
    )
    .await?;
    let factory = ContractFactory::new(
        artifact.abi.clone(),
        artifact.bytecode.clone(),
        router.client(),
    );
    let args = vec![
        Token::Array(
            committee
                .members
                .iter()
                .map(|a| Token::Address(*a))
                .collect(),
        ),
        Token::Uint(committee.quorum.into()),
        Token::Uint(height.into()),
        Token::Uint(ts.into()),
    ];
    let contract = factory
        .deploy_tokens(args)
        .map_err(|e| tx_err(evm, "deploying AttestationsLightClient", e))?
        .send()
        .await
        .map_err(|e| tx_err(evm, "deploying AttestationsLightClient", e))?;
    Ok(contract.address())
}

fn load_artifact(dir: &Path) -> Result<Artifact, CreateEvmError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        abi: Abi,
        bytecode: Bytes,
    }
    let path = dir.join("AttestationsLightClient.json");
    let bad = |detail: String| CreateEvmError::Artifact {
        path: path.clone(),
        detail,
    };
    let text = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    let raw: Raw = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if raw.bytecode.is_empty() {
        return Err(bad("empty bytecode".into()));
    }
    if raw.abi.constructor.is_none() {
        return Err(bad("no constructor in the ABI".into()));
    }
    Ok(Artifact {
        abi: raw.abi,
        bytecode: raw.bytecode,
    })
}

/// The latest block's timestamp: the clock the timelock reads.
async fn chain_time(evm: &EvmChain) -> Result<u64, CreateEvmError> {
    let block = evm
        .provider()
        .get_block(ethers::types::BlockNumber::Latest)
        .await
        .map_err(|e| tx_err(evm, "eth_getBlockByNumber", e))?
        .ok_or_else(|| tx_err(evm, "eth_getBlockByNumber", "no latest block"))?;
    Ok(block.timestamp.low_u64())
}

/// Send `call` and wait for a successful receipt.
async fn send<D: ethers::abi::Detokenize>(
    evm: &EvmChain,
    action: &'static str,
    call: ethers::contract::FunctionCall<Arc<Admin>, Admin, D>,
) -> Result<(), CreateEvmError> {
    let receipt = call
        .send()
        .await
        .map_err(|e| tx_err(evm, action, e))?
        .await
        .map_err(|e| tx_err(evm, action, e))?
        .ok_or_else(|| tx_err(evm, action, "dropped from the mempool"))?;
    if receipt.status != Some(1.into()) {
        return Err(tx_err(
            evm,
            action,
            format!("reverted in tx {:?}", receipt.transaction_hash),
        ));
    }
    Ok(())
}

fn tx_err(evm: &EvmChain, action: &'static str, e: impl std::fmt::Display) -> CreateEvmError {
    CreateEvmError::Tx {
        chain: evm.id.clone(),
        action,
        detail: e.to_string(),
    }
}

fn call_err<'a, E: std::fmt::Display>(
    evm: &'a EvmChain,
    action: &'static str,
) -> impl FnOnce(E) -> CreateEvmError + 'a {
    move |e| tx_err(evm, action, e)
}

//! The devnet's EVM half: two anvil chains (`evm-l3`, chain id 33333, and `evm-settlement`, 31337)
//! from the npm package, Ferry's contracts deployed on each (router, ICS-20 app, a test ERC-20, and an
//! attested light client of the other chain), and the devnet roles funded.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use ethers::abi::Token;
use ethers::contract::ContractFactory;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::{Address, BlockNumber, U256};
use serde::{Deserialize, Serialize};

use super::{contracts, io, mnemonic, node, DevnetError};
use ferry::chain::evm::abi::FerryRouter;

pub const ANVIL_VERSION: &str = "1.7.1";
const ANVIL_PACKAGE: &str = "@foundry-rs/anvil-linux-amd64";
/// (Ferry chain id, EIP-155 chain id).
pub const EVM_CHAINS: [(&str, u64); 2] = [("evm-l3", 33_333), ("evm-settlement", 31_337)];
/// The IBC v2 client id each router gives its client of the other chain.
pub const CLIENT_ID: &str = "attestations-0";
/// The devnet's attestor committee: three `ferry attestor` processes, one key each, quorum 2. The
/// relayer holds none of these keys.
pub const ATTESTORS: [&str; 3] = ["attestor-1", "attestor-2", "attestor-3"];
pub const QUORUM: u8 = 2;
/// The committee attesting the IBC v2 appchain (Cosmos, ibc-go v11) for `evm-settlement`'s client of
/// it: keys of their own, since the ibc-go attestation format names no chain.
pub const COSMOS_ATTESTORS: [&str; 3] = [
    "cosmos-attestor-1",
    "cosmos-attestor-2",
    "cosmos-attestor-3",
];
/// The cosmos–evm path's client ids: `evm-settlement`'s client of the appchain, and the appchain's
/// (first, so predictable) attestations client of `evm-settlement`, created by `ferry create path`.
pub const V2_EVM_CLIENT: &str = "attestations-1";
pub const V2_COSMOS_CLIENT: &str = "attestations-0";
/// The EVM chain of the cosmos–evm path.
pub const V2_EVM_CHAIN: &str = "evm-settlement";

/// What the EVM chain's client of the IBC v2 appchain starts from: a header of the appchain.
#[derive(Clone, Copy, Debug)]
pub struct CosmosStart {
    pub height: u64,
    pub timestamp_secs: u64,
}
/// Seconds a router's admin action waits between `schedule` and `execute` once setup is closed.
pub const ADMIN_DELAY: u64 = 600;
/// Roles given ether on every anvil chain.
pub const EVM_ROLES: [&str; 6] = [
    "validator",
    "relayer",
    "user",
    "attestor-1",
    "attestor-2",
    "attestor-3",
];
/// Test-token supply minted to `user` on each chain.
pub const TOKEN_SUPPLY: u64 = 1_000_000_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvmNode {
    pub chain_id: String,
    pub evm_chain_id: u64,
    /// Folder of this chain's log and anvil config (its path identifies the process).
    pub home: PathBuf,
    pub rpc: String,
    pub pid: u32,
    pub log: PathBuf,
    pub router: Address,
    pub transfer: Address,
    pub token: Address,
    pub light_client: Address,
    /// On `evm-settlement`: its `AttestationsLightClient` of the IBC v2 appchain.
    #[serde(default)]
    pub v2_light_client: Option<Address>,
    /// The trusted block Ferry verifies this chain's headers from: "number:hash".
    pub checkpoint: String,
}

/// anvil from `$FERRY_ANVIL`, else the pinned npm package in Ferry's npm cache (installed once).
pub fn ensure_anvil() -> Result<PathBuf, DevnetError> {
    if let Some(p) = std::env::var_os("FERRY_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    ensure_anvil_in(&contracts::npm_prefix())
}

/// The pinned anvil in npm prefix `prefix`, installed first if missing (`npm.rs`: safe to call
/// from many threads and processes at once).
fn ensure_anvil_in(prefix: &Path) -> Result<PathBuf, DevnetError> {
    let bin = prefix
        .join("node_modules")
        .join(ANVIL_PACKAGE)
        .join("bin/anvil");
    let spec = format!("{ANVIL_PACKAGE}@{ANVIL_VERSION}");
    crate::npm::install_once(prefix, &spec, &|| bin.exists()).map_err(|f| {
        DevnetError::Command {
            cmd: f.cmd,
            detail: f.detail,
        }
    })?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755));
    Ok(bin)
}

/// Start one anvil on `port`, one block a second.
fn spawn_anvil(
    anvil: &Path,
    dir: &Path,
    id: &str,
    chain_id: u64,
    port: u16,
) -> Result<(u32, PathBuf, PathBuf), DevnetError> {
    let home = dir.join(id);
    if home.exists() {
        std::fs::remove_dir_all(&home).map_err(io(&home))?;
    }
    std::fs::create_dir_all(&home).map_err(io(&home))?;
    let log = home.join("anvil.log");
    let f = std::fs::File::create(&log).map_err(io(&log))?;
    let child = Command::new(anvil)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--chain-id", &chain_id.to_string(), "--block-time", "1"])
        // Written once at start; also puts this chain's folder in the command line, which is how
        // `down` recognises the process as ours.
        .arg("--config-out")
        .arg(home.join("anvil-config.json"))
        .stdin(Stdio::null())
        .stdout(f.try_clone().map_err(io(&log))?)
        .stderr(f)
        .spawn()
        .map_err(|e| DevnetError::Command {
            cmd: format!("{} --port {port}", anvil.display()),
            detail: e.to_string(),
        })?;
    Ok((child.id(), home, log))
}

fn wallet(role: &str, chain_id: u64) -> Result<LocalWallet, DevnetError> {
    ferry::keys::evm_wallet(&mnemonic(role), chain_id)
        .map_err(|e| DevnetError::Other(e.to_string()))
}

type Client = Arc<SignerMiddleware<Provider<Http>, LocalWallet>>;

fn other(e: impl std::fmt::Display) -> DevnetError {
    DevnetError::Other(e.to_string())
}

async fn deploy(
    client: &Client,
    artifacts: &std::collections::BTreeMap<String, contracts::Artifact>,
    name: &str,
    args: Vec<Token>,
) -> Result<Address, DevnetError> {
    let a = artifacts
        .get(name)
        .ok_or_else(|| DevnetError::Other(format!("no artifact for {name}")))?;
    let factory = ContractFactory::new(a.abi.clone(), a.bytecode.clone(), client.clone());
    let deployer = factory
        .deploy_tokens(args)
        .map_err(|e| DevnetError::Other(format!("deploy {name}: {e}")))?;
    let c = deployer
        .send()
        .await
        .map_err(|e| DevnetError::Other(format!("deploy {name}: {e}")))?;
    Ok(c.address())
}

async fn wait_rpc(p: &Provider<Http>, log: &Path, id: &str) -> Result<(), DevnetError> {
    for _ in 0..100 {
        if p.get_block_number().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(DevnetError::NotReady {
        chain: id.into(),
        secs: 10,
        log: log.into(),
    })
}

/// Start both anvils and deploy Ferry's contracts on them.
pub async fn up(dir: &Path, cosmos: Option<CosmosStart>) -> Result<Vec<EvmNode>, DevnetError> {
    let anvil = ensure_anvil()?;
    let artifacts = tokio::task::spawn_blocking(contracts::compiled)
        .await
        .map_err(other)?
        .map_err(other)?;
    let ports = node::free_ports(EVM_CHAINS.len())?;
    let mut started = Vec::new();
    for (i, (id, chain_id)) in EVM_CHAINS.iter().enumerate() {
        let (pid, home, log) = spawn_anvil(&anvil, dir, id, *chain_id, ports[i])?;
        started.push((
            id.to_string(),
            *chain_id,
            format!("http://127.0.0.1:{}", ports[i]),
            pid,
            home,
            log,
        ));
    }
    let out = deploy_all(&artifacts, &started, cosmos).await;
    if out.is_err() {
        // Leave nothing running behind a failed start.
        for (_, _, _, pid, home, _) in &started {
            node::stop(*pid, home);
        }
    }
    out
}

/// `evm-settlement`'s client of the IBC v2 appchain: an `AttestationsLightClient` trusting the
/// appchain's committee from `start`, added as `V2_EVM_CLIENT` with counterparty `V2_COSMOS_CLIENT`.
async fn add_v2_client(
    admin: &Client,
    artifacts: &std::collections::BTreeMap<String, contracts::Artifact>,
    router: Address,
    start: CosmosStart,
) -> Result<Address, DevnetError> {
    let members: Vec<Token> = COSMOS_ATTESTORS
        .iter()
        .map(|a| Ok(Token::Address(wallet(a, 0)?.address())))
        .collect::<Result<_, DevnetError>>()?;
    let lc = deploy(
        admin,
        artifacts,
        "AttestationsLightClient",
        vec![
            Token::Array(members),
            Token::Uint(QUORUM.into()),
            Token::Uint(start.height.into()),
            Token::Uint(start.timestamp_secs.into()),
        ],
    )
    .await?;
    FerryRouter::new(router, admin.clone())
        .add_client(V2_EVM_CLIENT.into(), lc, V2_COSMOS_CLIENT.into())
        .send()
        .await
        .map_err(other)?
        .await
        .map_err(other)?;
    Ok(lc)
}

/// (chain id, EIP-155 id, rpc, pid, home, log) of a started anvil.
type Started = (String, u64, String, u32, PathBuf, PathBuf);

async fn deploy_all(
    artifacts: &std::collections::BTreeMap<String, contracts::Artifact>,
    started: &[Started],
    cosmos: Option<CosmosStart>,
) -> Result<Vec<EvmNode>, DevnetError> {
    let mut providers = Vec::new();
    for (id, _, rpc, _, _, log) in started {
        let p = Provider::<Http>::try_from(rpc.as_str())
            .map_err(other)?
            .interval(std::time::Duration::from_millis(200));
        wait_rpc(&p, log, id).await?;
        for role in EVM_ROLES {
            let addr = wallet(role, 0)?.address();
            let wei = U256::exp10(22); // 10,000 ether
            p.request::<_, ()>("anvil_setBalance", (addr, wei))
                .await
                .map_err(other)?;
        }
        providers.push(p);
    }
    // Routers, apps and tokens on each chain, both chains at once.
    let core =
        futures::future::try_join_all(started.iter().zip(&providers).map(|(s, p)| async move {
            let admin: Client =
                Arc::new(SignerMiddleware::new(p.clone(), wallet("validator", s.1)?));
            let user: Client = Arc::new(SignerMiddleware::new(p.clone(), wallet("user", s.1)?));
            let router = deploy(
                &admin,
                artifacts,
                "FerryRouter",
                vec![Token::Uint(ADMIN_DELAY.into())],
            )
            .await?;
            let transfer = deploy(
                &admin,
                artifacts,
                "ICS20Transfer",
                vec![Token::Address(router)],
            )
            .await?;
            FerryRouter::new(router, admin.clone())
                .register_app("transfer".into(), transfer)
                .send()
                .await
                .map_err(other)?
                .await
                .map_err(other)?;
            let symbol = if s.0 == "evm-l3" { "L3T" } else { "SETT" };
            let token = deploy(
                &user,
                artifacts,
                "TestToken",
                vec![
                    Token::String(format!("Ferry test token on {}", s.0)),
                    Token::String(symbol.into()),
                    Token::Uint(18u8.into()),
                    Token::Uint(U256::from(TOKEN_SUPPLY)),
                ],
            )
            .await?;
            Ok::<_, DevnetError>((admin, router, transfer, token))
        }))
        .await?;
    // Each chain's client of the other, trusting the other's current block.
    let mut nodes = Vec::new();
    for (i, s) in started.iter().enumerate() {
        let j = 1 - i;
        let block = providers[j]
            .get_block(BlockNumber::Latest)
            .await
            .map_err(other)?
            .ok_or_else(|| other("no latest block"))?;
        let number = block.number.unwrap_or_default().as_u64();
        let (admin, router, transfer, token) = &core[i];
        let attestors: Vec<Token> = ATTESTORS
            .iter()
            .map(|a| Ok(Token::Address(wallet(a, 0)?.address())))
            .collect::<Result<_, DevnetError>>()?;
        let light_client = deploy(
            admin,
            artifacts,
            "AttestedLightClient",
            vec![
                Token::Array(attestors),
                Token::Uint(QUORUM.into()),
                Token::String(ferry::chain::evm::attestation::caip2_eip155(started[j].1)),
                Token::Address(core[j].1),
                Token::Uint(number.into()),
                Token::Uint(block.timestamp),
                Token::FixedBytes(block.state_root.as_bytes().to_vec()),
            ],
        )
        .await?;
        FerryRouter::new(*router, admin.clone())
            .add_client(CLIENT_ID.into(), light_client, CLIENT_ID.into())
            .send()
            .await
            .map_err(other)?
            .await
            .map_err(other)?;
        let v2_light_client = match cosmos {
            Some(start) if s.0 == V2_EVM_CHAIN => {
                Some(add_v2_client(admin, artifacts, *router, start).await?)
            }
            _ => None,
        };
        // Wired: from now on every admin action waits ADMIN_DELAY behind the timelock.
        FerryRouter::new(*router, admin.clone())
            .close_setup()
            .send()
            .await
            .map_err(other)?
            .await
            .map_err(other)?;
        nodes.push(EvmNode {
            chain_id: s.0.clone(),
            evm_chain_id: s.1,
            home: s.4.clone(),
            rpc: s.2.clone(),
            pid: s.3,
            log: s.5.clone(),
            router: *router,
            transfer: *transfer,
            token: *token,
            light_client,
            v2_light_client,
            checkpoint: String::new(),
        });
    }
    // Ferry verifies each chain from the block the other chain's client trusts.
    for i in 0..nodes.len() {
        let j = 1 - i;
        let lc = ferry::chain::evm::abi::AttestedLightClient::new(
            nodes[j].light_client,
            providers[j].clone().into(),
        );
        let h = lc.latest_height().call().await.map_err(other)?;
        let b = providers[i]
            .get_block(h)
            .await
            .map_err(other)?
            .ok_or_else(|| other(format!("block {h} missing")))?;
        nodes[i].checkpoint = format!("{h}:{:?}", b.hash.unwrap_or_default());
    }
    Ok(nodes)
}

pub fn alive(n: &EvmNode) -> bool {
    node::alive(n.pid, &n.home)
}

pub fn stop(n: &EvmNode) {
    node::stop(n.pid, &n.home)
}

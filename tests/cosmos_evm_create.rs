//! `ferry create path` on a cosmos–evm path whose clients do not exist yet, on the devnet's IBC v2
//! appchain (ibc-go v11.2.0) and `evm-settlement` (anvil, Ferry's router with its setup closed):
//!
//! 1. without the router owner's key, or without the compiled contracts, it refuses and changes
//!    nothing on either chain;
//! 2. with both, it creates and registers the appchain's client, deploys an
//!    `AttestationsLightClient` trusting the appchain's committee from a state that committee
//!    attests, and schedules `addClient` behind the router's timelock; a second run reuses all of
//!    it; once the delay has passed (anvil's clock moved on) a third run executes the call and a
//!    fourth finds everything in place;
//! 3. a transfer over the new clients is relayed and acknowledged;
//! 4. on a router whose setup is still open, the owner's key adds the client at once.
//!
//! Run: `cargo test -p ferry-tests --test cosmos_evm_create -- --nocapture`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ethers::abi::Token;
use ethers::contract::ContractFactory;
use ethers::middleware::SignerMiddleware;
use ethers::providers::Middleware;
use ethers::types::Address;
use ferry::chain::evm::abi::FerryRouter;
use ferry_devnet::evm::{ADMIN_DELAY, COSMOS_ATTESTORS, QUORUM};
use ferry_devnet::{V2_CHAIN_ID, V2_PATH};
use ferry_tests::{last_json, TestNet};

const EVM: &str = "evm-settlement";
/// A client id the devnet's router does not have yet.
const NEW_EVM_CLIENT: &str = "attestations-7";

ethers::contract::abigen!(
    AttestationsClient,
    r#"[
        function attestors() view returns (address[])
        function minRequiredSigs() view returns (uint8)
        function latestHeight() view returns (uint64)
    ]"#
);

/// The devnet config with only the cosmos–evm path, whose Cosmos end names no client and whose
/// EVM end names `evm_client`; `router` replaces evm-settlement's router when given.
fn create_config(net: &TestNet, name: &str, evm_client: &str, router: Option<Address>) -> PathBuf {
    let text = std::fs::read_to_string(net.home().join("config.toml")).unwrap();
    let mut v: toml::Value = toml::from_str(&text).unwrap();
    let t = v.as_table_mut().unwrap();
    let chains = t["chains"].as_array_mut().unwrap();
    chains.retain(|c| matches!(c["id"].as_str(), Some(V2_CHAIN_ID | EVM)));
    if let Some(r) = router {
        for c in chains.iter_mut().filter(|c| c["id"].as_str() == Some(EVM)) {
            c["evm"]["router"] = toml::Value::String(format!("{r:?}"));
        }
    }
    let paths = t["paths"].as_array_mut().unwrap();
    paths.retain(|p| p["name"].as_str() == Some(V2_PATH));
    let p = paths[0].as_table_mut().unwrap();
    p["a"].as_table_mut().unwrap().remove("client");
    p["b"]["client"] = toml::Value::String(evm_client.into());
    let port = ferry_devnet::free_port();
    t["telemetry"]["listen"] = toml::Value::String(format!("127.0.0.1:{port}"));
    let path = net.home().join(name);
    std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
    path
}

/// The operator's way to get the artifacts: `node contracts/compile.mjs <dir> <solc dir>`.
fn compile_contracts(out: &Path) {
    let solc = ferry_devnet::contracts::ensure_solc().expect("solc for the contracts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/compile.mjs");
    let run = Command::new("node")
        .arg(&script)
        .arg(out)
        .arg(&solc)
        .output()
        .unwrap_or_else(|e| ferry_tests::tool_missing(&format!("node ({e})")));
    assert!(
        run.status.success(),
        "compile.mjs failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn create(net: &TestNet, cfg: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "create",
        "path",
        V2_PATH,
    ];
    args.extend_from_slice(extra);
    net.ferry(&args)
}

fn create_ok(net: &TestNet, cfg: &Path, extra: &[&str]) -> serde_json::Value {
    let out = create(net, cfg, extra);
    assert!(
        out.status.success(),
        "create path failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&String::from_utf8_lossy(&out.stdout))
}

fn create_err(net: &TestNet, cfg: &Path, extra: &[&str]) -> String {
    let out = create(net, cfg, extra);
    assert!(!out.status.success(), "create path succeeded: {out:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Client ids the appchain hosts.
async fn cosmos_clients(net: &TestNet) -> Vec<String> {
    use ibc_proto::ibc::core::client::v1::{QueryClientStatesRequest, QueryClientStatesResponse};
    let res: QueryClientStatesResponse = net
        .chain(V2_CHAIN_ID)
        .grpc_query(
            "/ibc.core.client.v1.Query/ClientStates",
            &QueryClientStatesRequest { pagination: None },
            None,
        )
        .await
        .unwrap();
    res.client_states.into_iter().map(|c| c.client_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_path_adds_the_evm_client_through_the_timelock() {
    let net = TestNet::start_v2("cosmos-evm-create").await;
    let cfg = create_config(&net, "create.toml", NEW_EVM_CLIENT, None);
    let provider = net.provider(EVM);
    let router = FerryRouter::new(net.evm_node(EVM).router, provider.clone());
    assert!(
        !router.setup_open().call().await.unwrap(),
        "devnet closes setup"
    );
    let clients0 = cosmos_clients(&net).await;

    // 1. The relayer's own key is not the router's owner: refused, nothing changed.
    let err = create_err(&net, &cfg, &[]);
    assert!(
        err.contains("is owned by") && err.contains("--admin-key"),
        "{err}"
    );
    let mnemonic = net.home().join("validator.mnemonic");
    std::fs::write(&mnemonic, ferry_devnet::mnemonic("validator")).unwrap();
    net.ferry_ok(&[
        "keys",
        "import",
        "evm-admin",
        "--mnemonic-file",
        mnemonic.to_str().unwrap(),
    ]);
    std::fs::remove_file(&mnemonic).unwrap();
    // The owner's key without the contracts to deploy: refused, nothing changed.
    let err = create_err(&net, &cfg, &["--admin-key", "evm-admin"]);
    assert!(err.contains("--contracts"), "{err}");
    assert_eq!(
        cosmos_clients(&net).await,
        clients0,
        "a refused run changed the appchain"
    );
    let nonce = |who: &str| {
        let p = provider.clone();
        let a = net.evm_address(who);
        async move { p.get_transaction_count(a, None).await.unwrap() }
    };
    let admin_nonce0 = nonce("validator").await;

    // 2. With both: Cosmos client made and registered, EVM client deployed and scheduled.
    let contracts = net.home().join("contracts-out");
    compile_contracts(&contracts);
    let admin = [
        "--admin-key",
        "evm-admin",
        "--contracts",
        contracts.to_str().unwrap(),
    ];
    let first = create_ok(&net, &cfg, &admin);
    assert_eq!(first["cosmos"]["created"], true, "{first}");
    assert_eq!(first["cosmos"]["registered"], true, "{first}");
    let cosmos_client = first["cosmos"]["client"].as_str().unwrap().to_string();
    assert!(!clients0.contains(&cosmos_client), "{first}");
    assert_eq!(first["evm"]["step"], "scheduled", "{first}");
    assert_eq!(
        first["evm"]["counterparty"],
        cosmos_client.as_str(),
        "{first}"
    );
    let lc: Address = first["evm"]["light_client"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ready_at = first["evm"]["ready_at"].as_u64().unwrap();
    assert_eq!(
        router
            .counterparty_of(NEW_EVM_CLIENT.into())
            .call()
            .await
            .unwrap(),
        "",
        "added before the timelock's delay"
    );
    // The light client trusts the appchain's committee, from a state it attested.
    let client = AttestationsClient::new(lc, provider.clone());
    let mut members = client.attestors().call().await.unwrap();
    let mut want: Vec<Address> = COSMOS_ATTESTORS
        .iter()
        .map(|r| {
            use ethers::signers::Signer;
            ferry::keys::evm_wallet(&ferry_devnet::mnemonic(r), 0)
                .unwrap()
                .address()
        })
        .collect();
    members.sort();
    want.sort();
    assert_eq!(members, want);
    assert_eq!(client.min_required_sigs().call().await.unwrap(), QUORUM);
    assert!(client.latest_height().call().await.unwrap() > 0);

    // A second run before the delay: the same light client, the same Cosmos client, no new tx.
    let after_first = nonce("validator").await;
    assert_eq!(
        after_first,
        admin_nonce0 + 2,
        "one deployment and one schedule"
    );
    let second = create_ok(&net, &cfg, &admin);
    assert_eq!(second["cosmos"]["created"], false, "{second}");
    assert_eq!(
        second["cosmos"]["client"],
        cosmos_client.as_str(),
        "{second}"
    );
    assert_eq!(second["evm"]["step"], "scheduled", "{second}");
    assert_eq!(second["evm"]["light_client"], first["evm"]["light_client"]);
    assert_eq!(nonce("validator").await, after_first, "a rerun sent a tx");

    // anvil's clock past the delay: the third run executes the scheduled call.
    let now = provider
        .get_block(ethers::types::BlockNumber::Latest)
        .await
        .unwrap()
        .unwrap()
        .timestamp
        .as_u64();
    assert!(
        ready_at >= now && ready_at <= now + ADMIN_DELAY,
        "{ready_at} vs {now}"
    );
    provider
        .request::<_, serde_json::Value>("evm_increaseTime", [ADMIN_DELAY + 1])
        .await
        .unwrap();
    provider
        .request::<_, serde_json::Value>("evm_mine", ())
        .await
        .unwrap();
    let third = create_ok(&net, &cfg, &admin);
    assert_eq!(third["evm"]["step"], "added", "{third}");
    assert_eq!(third["cosmos"]["created"], false, "{third}");
    assert_eq!(
        router
            .counterparty_of(NEW_EVM_CLIENT.into())
            .call()
            .await
            .unwrap(),
        cosmos_client
    );
    assert_eq!(
        router
            .light_client_of(NEW_EVM_CLIENT.into())
            .call()
            .await
            .unwrap(),
        lc
    );
    let fourth = create_ok(&net, &cfg, &[]);
    assert_eq!(fourth["evm"]["step"], "exists", "{fourth}");
    assert_eq!(fourth["cosmos"]["created"], false, "{fourth}");
    assert_eq!(fourth["cosmos"]["registered"], false, "{fourth}");

    // 3. The operator names the printed Cosmos client in the path; a transfer over the new
    // clients is relayed and acknowledged. The appchain's clock is behind evm-settlement's by the
    // delay now: the timeout leaves room for that.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut v: toml::Value = toml::from_str(&text).unwrap();
    v["paths"][0]["a"]
        .as_table_mut()
        .unwrap()
        .insert("client".into(), toml::Value::String(cosmos_client.clone()));
    std::fs::write(&cfg, toml::to_string(&v).unwrap()).unwrap();
    let mut relayer = net.start_relayer_with("relayer-create.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );
    let user_evm = format!("{:?}", net.evm_address("user"));
    let sent = last_json(&net.ferry_ok(&[
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "transfer",
        "--path",
        V2_PATH,
        "--key",
        "user",
        "--from-chain",
        V2_CHAIN_ID,
        "--amount",
        "77stake",
        "--to",
        &user_evm,
        "--timeout-seconds",
        "3600",
    ]));
    assert_eq!(sent["state"], "sent", "{sent}");
    let trace = format!("transfer/{NEW_EVM_CLIENT}/stake");
    net.wait_voucher_balance(
        EVM,
        &trace,
        net.evm_address("user"),
        77,
        Duration::from_secs(120),
    )
    .await;
    let tx = sent["tx_hash"].as_str().unwrap();
    let followed = last_json(&net.ferry_ok(&[
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "query",
        "transfer",
        V2_CHAIN_ID,
        tx,
        "--wait",
    ]));
    assert_eq!(followed["state"], "acknowledged", "{followed}");
    assert_eq!(followed["ok"], true, "{followed}");
    relayer.signal(ferry_tests::SIGTERM);

    // 4. A router whose setup is open: the owner's key adds the client at once.
    let fresh = deploy_router(&net, &contracts).await;
    let open_cfg = create_config(&net, "create-open.toml", "attestations-8", Some(fresh));
    let direct = create_ok(&net, &open_cfg, &admin);
    assert_eq!(direct["evm"]["step"], "added", "{direct}");
    assert_eq!(direct["cosmos"]["created"], true, "{direct}");
    let fresh_router = FerryRouter::new(fresh, provider.clone());
    assert_eq!(
        fresh_router
            .counterparty_of("attestations-8".into())
            .call()
            .await
            .unwrap(),
        direct["cosmos"]["client"].as_str().unwrap()
    );
}

/// A new `FerryRouter` owned by the devnet's EVM admin, its setup still open.
async fn deploy_router(net: &TestNet, contracts: &Path) -> Address {
    let a = ferry_devnet::contracts::load(contracts).unwrap()["FerryRouter"].clone();
    let wallet = ferry::keys::evm_wallet(
        &ferry_devnet::mnemonic("validator"),
        net.evm_node(EVM).evm_chain_id,
    )
    .unwrap();
    let client = Arc::new(SignerMiddleware::new((*net.provider(EVM)).clone(), wallet));
    ContractFactory::new(a.abi, a.bytecode, client)
        .deploy_tokens(vec![Token::Uint(ADMIN_DELAY.into())])
        .unwrap()
        .send()
        .await
        .unwrap()
        .address()
}

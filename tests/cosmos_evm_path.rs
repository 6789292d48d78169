//! The cosmos–evm path end to end: the devnet's IBC v2 appchain (a real ibc-go v11.2.0 chain)
//! and `evm-settlement` (anvil with Ferry's contracts), each hosting an attestations client of the
//! other, relayed by `ferry start` with proofs from the two attestor committees (real
//! `ferry attestor` processes):
//!
//! 1. `ferry create path` creates and registers the appchain's client, and a second run reuses it;
//! 2. `stake` out to EVM (escrowed on Cosmos, a voucher minted), part of it back (burned,
//!    unescrowed), both acknowledged;
//! 3. the EVM test ERC-20 out to Cosmos (escrowed per client on EVM, an `ibc/…` voucher), and
//!    part of it back;
//! 4. receivers in the wrong address form and out-of-range timeouts refused before signing (both
//!    directions); sent anyway (`--unchecked`), the error acknowledgement refunds the sender;
//! 5. a transfer that times out while the relayer is down is refunded after the restart.
//!
//! Run: `cargo test -p ferry-tests --test cosmos_evm_path -- --nocapture`

use std::time::Duration;

use ethers::types::{Address, U256};
use ferry::chain::evm::abi::Ics20Transfer;
use ferry_devnet::evm::{V2_COSMOS_CLIENT, V2_EVM_CLIENT};
use ferry_devnet::{V2_CHAIN_ID, V2_PATH};
use ferry_tests::{eventually, last_json, metric_sum, TestNet};
use sha2::{Digest, Sha256};

const EVM: &str = "evm-settlement";

/// The devnet config with only the cosmos–evm path (and its own metrics port).
fn v2_config(net: &TestNet) -> std::path::PathBuf {
    let text = std::fs::read_to_string(net.home().join("config.toml")).unwrap();
    let mut v: toml::Value = toml::from_str(&text).unwrap();
    let t = v.as_table_mut().unwrap();
    t["chains"]
        .as_array_mut()
        .unwrap()
        .retain(|c| matches!(c["id"].as_str(), Some(V2_CHAIN_ID | EVM)));
    t["paths"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["name"].as_str() == Some(V2_PATH));
    let port = ferry_devnet::free_port();
    t["telemetry"]["listen"] = toml::Value::String(format!("127.0.0.1:{port}"));
    let path = net.home().join("config-v2.toml");
    std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
    path
}

fn transfer(net: &TestNet, cfg: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec![
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "transfer",
        "--path",
        V2_PATH,
        "--key",
        "user",
    ];
    all.extend_from_slice(args);
    last_json(&net.ferry_ok(&all))
}

/// `ferry query transfer --wait` (the devnet's default config): its last state, as JSON.
fn waited_state(net: &TestNet, chain: &str, tx: &str) -> serde_json::Value {
    last_json(&net.ferry_ok(&["--json", "query", "transfer", chain, tx, "--wait"]))
}

/// The running relayer's `/metrics` (the listener `v2_config` chose).
async fn metrics_text(cfg: &std::path::Path) -> String {
    let v: toml::Value = toml::from_str(&std::fs::read_to_string(cfg).unwrap()).unwrap();
    let listen = v["telemetry"]["listen"].as_str().unwrap();
    reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// ibc-go's denom of a voucher: `ibc/` + upper-case hex sha256 of the trace.
fn ibc_denom(trace: &str) -> String {
    format!(
        "ibc/{}",
        hex::encode_upper(Sha256::digest(trace.as_bytes()))
    )
}

async fn cosmos_escrow(net: &TestNet, denom: &str) -> u128 {
    use ibc_proto::ibc::applications::transfer::v1::{
        QueryTotalEscrowForDenomRequest, QueryTotalEscrowForDenomResponse,
    };
    let res: QueryTotalEscrowForDenomResponse = net
        .chain(V2_CHAIN_ID)
        .grpc_query(
            "/ibc.applications.transfer.v1.Query/TotalEscrowForDenom",
            &QueryTotalEscrowForDenomRequest {
                denom: denom.into(),
            },
            None,
        )
        .await
        .unwrap();
    res.amount.map(|c| c.amount.parse().unwrap()).unwrap_or(0)
}

async fn evm_escrow(net: &TestNet, token: Address) -> U256 {
    Ics20Transfer::new(net.evm_node(EVM).transfer, net.provider(EVM))
        .escrowed(V2_EVM_CLIENT.into(), token)
        .call()
        .await
        .unwrap()
}

/// A state attestation of `evm-settlement` signed by `signers` (devnet roles), as an update of the
/// appchain's client.
fn update_signed_by(net: &TestNet, height: u64, ts: u64, signers: &[&str]) -> ferry::chain::Msg {
    use ferry::chain::attested::format;
    use ferry::chain::cosmos::v2::{self, proto, type_url};
    use ferry::chain::ClientHost;
    let data = format::state_data(height, ts);
    let input = format::signing_input(format::TAG_STATE, &data);
    let signatures = signers
        .iter()
        .map(|role| {
            let w = ferry::keys::evm_wallet(&ferry_devnet::mnemonic(role), 0).unwrap();
            w.sign_hash(input).unwrap().to_vec()
        })
        .collect();
    let header = v2::any(
        type_url::ATTESTATION_PROOF,
        &proto::AttestationProof {
            attestation_data: data,
            signatures,
        },
    );
    net.chain(V2_CHAIN_ID)
        .update_client_msg(&V2_COSMOS_CLIENT.parse().unwrap(), header)
}

/// Non-members, and too few members, cannot move the appchain's client; a quorum can.
async fn forged_updates_are_refused(net: &TestNet) {
    use ferry::chain::{ClientHost, Submit};
    let appchain = net.chain(V2_CHAIN_ID);
    let client = V2_COSMOS_CLIENT.parse().unwrap();
    let before = appchain.client_latest_height(&client).await.unwrap();
    // A true state of evm-settlement, so the control below is what the committee itself signs.
    use ethers::providers::Middleware;
    let block = net
        .provider(EVM)
        .get_block(ethers::types::BlockNumber::Latest)
        .await
        .unwrap()
        .unwrap();
    let target = block.number.unwrap().as_u64();
    let ts = block.timestamp.as_u64();
    assert!(
        target > before.revision_height,
        "evm-settlement did not move"
    );
    for (what, signers) in [
        ("non-members", &["user", "relayer"][..]),
        ("one member of a 2-of-3 committee", &["attestor-1"][..]),
        ("a member counted twice", &["attestor-1", "attestor-1"][..]),
        (
            "the appchain's own committee",
            &["cosmos-attestor-1", "cosmos-attestor-2"][..],
        ),
    ] {
        let res = appchain
            .submit(vec![update_signed_by(net, target, ts, signers)], 0)
            .await;
        assert!(res.is_err(), "an update signed by {what} was accepted");
        assert_eq!(
            appchain.client_latest_height(&client).await.unwrap(),
            before,
            "signed by {what}"
        );
    }
    // The control: two members of evm-settlement's committee move it.
    appchain
        .submit(
            vec![update_signed_by(
                net,
                target,
                ts,
                &["attestor-1", "attestor-3"],
            )],
            0,
        )
        .await
        .expect("a quorum's update");
    assert_eq!(
        appchain
            .client_latest_height(&client)
            .await
            .unwrap()
            .revision_height,
        target
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cosmos_evm_round_trips_error_ack_and_timeout() {
    let net = TestNet::start_v2("cosmos-evm").await;
    let cfg = v2_config(&net);
    let c = cfg.to_str().unwrap();

    // 1. The appchain's client of evm-settlement, created once, then reused.
    let made = last_json(&net.ferry_ok(&["--json", "--config", c, "create", "path", V2_PATH]));
    assert_eq!(made["cosmos"]["client"], V2_COSMOS_CLIENT, "{made}");
    assert_eq!(made["cosmos"]["created"], true, "{made}");
    assert_eq!(made["cosmos"]["registered"], true, "{made}");
    let again = last_json(&net.ferry_ok(&["--json", "--config", c, "create", "path", V2_PATH]));
    assert_eq!(again["cosmos"]["created"], false, "{again}");
    assert_eq!(again["cosmos"]["registered"], false, "{again}");

    // The appchain's ibc-go client refuses updates without a quorum of its members.
    forged_updates_are_refused(&net).await;

    let mut relayer = net.start_relayer_with("relayer-v2.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );
    let user_evm = net.evm_address("user");
    let user_evm_hex = format!("{user_evm:?}");
    let user_cosmos = net.address("user");
    let stake0 = net.balance(V2_CHAIN_ID, "user", "stake").await;

    // 2. stake out: escrowed on the appchain, a voucher on evm-settlement.
    let out = transfer(
        &net,
        &cfg,
        &[
            "--from-chain",
            V2_CHAIN_ID,
            "--amount",
            "1000stake",
            "--to",
            &user_evm_hex,
        ],
    );
    assert_eq!(out["state"], "sent", "{out}");
    let out_tx = out["tx_hash"].as_str().unwrap().to_string();
    let trace = format!("transfer/{V2_EVM_CLIENT}/stake");
    let voucher = net
        .wait_voucher_balance(EVM, &trace, user_evm, 1000, Duration::from_secs(90))
        .await;
    assert_eq!(
        net.balance(V2_CHAIN_ID, "user", "stake").await,
        stake0 - 1000
    );
    assert_eq!(cosmos_escrow(&net, "stake").await, 1000);
    // The ack (ICS-20 JSON success) reaches the appchain: its commitment goes, nothing refunded.
    eventually(
        "the ack on the appchain",
        Duration::from_secs(60),
        || async {
            let pending = net.ferry(&[
                "--json", "--config", c, "query", "packets", "pending", V2_PATH,
            ]);
            let text = String::from_utf8_lossy(&pending.stdout).to_string();
            (pending.status.success() && !text.contains("\"sequence\"")).then_some(())
        },
    )
    .await;
    assert_eq!(
        net.balance(V2_CHAIN_ID, "user", "stake").await,
        stake0 - 1000
    );
    // Followed to its end with the devnet's whole config, where evm-settlement is on two paths:
    // the packet's source client picks this one.
    let followed = waited_state(&net, V2_CHAIN_ID, &out_tx);
    assert_eq!(followed["state"], "acknowledged", "{followed}");
    assert_eq!(followed["ok"], true, "{followed}");
    assert_eq!(followed["destination_channel"], V2_EVM_CLIENT, "{followed}");

    // ... and 400 back: burned on EVM, unescrowed on the appchain.
    let voucher_hex = format!("{voucher:?}");
    let back_out = transfer(
        &net,
        &cfg,
        &[
            "--from-chain",
            EVM,
            "--amount",
            "400",
            "--token",
            &voucher_hex,
            "--to",
            &user_cosmos,
        ],
    );
    eventually(
        "stake back on the appchain",
        Duration::from_secs(90),
        || async {
            (net.balance(V2_CHAIN_ID, "user", "stake").await == stake0 - 600).then_some(())
        },
    )
    .await;
    assert_eq!(
        net.erc20_balance(EVM, voucher, user_evm).await,
        U256::from(600)
    );
    assert_eq!(cosmos_escrow(&net, "stake").await, 600);
    let followed = waited_state(&net, EVM, back_out["tx_hash"].as_str().unwrap());
    assert_eq!(followed["state"], "acknowledged", "{followed}");
    assert_eq!(followed["ok"], true, "{followed}");
    assert_eq!(followed["source_channel"], V2_EVM_CLIENT, "{followed}");

    // 3. The EVM test token out: escrowed for this client, an ibc/ voucher on the appchain.
    let token = net.evm_node(EVM).token;
    let token_hex = format!("{token:?}");
    let erc0 = net.erc20_balance(EVM, token, user_evm).await;
    transfer(
        &net,
        &cfg,
        &[
            "--from-chain",
            EVM,
            "--amount",
            "500",
            "--token",
            &token_hex,
            "--to",
            &user_cosmos,
        ],
    );
    let denom = ibc_denom(&format!("transfer/{V2_COSMOS_CLIENT}/{token_hex}"));
    eventually(
        "the ibc voucher on the appchain",
        Duration::from_secs(90),
        || async { (net.balance(V2_CHAIN_ID, "user", &denom).await == 500).then_some(()) },
    )
    .await;
    assert_eq!(net.erc20_balance(EVM, token, user_evm).await, erc0 - 500);
    assert_eq!(evm_escrow(&net, token).await, U256::from(500));
    let back = format!("200{denom}");
    transfer(
        &net,
        &cfg,
        &[
            "--from-chain",
            V2_CHAIN_ID,
            "--amount",
            &back,
            "--to",
            &user_evm_hex,
        ],
    );
    eventually(
        "the token back on evm-settlement",
        Duration::from_secs(90),
        || async { (net.erc20_balance(EVM, token, user_evm).await == erc0 - 300).then_some(()) },
    )
    .await;
    assert_eq!(net.balance(V2_CHAIN_ID, "user", &denom).await, 300);
    assert_eq!(evm_escrow(&net, token).await, U256::from(300));

    // 4. Refused before signing: a receiver not in the destination's address form, a timeout
    //    beyond the protocol's 24 h. Nothing is signed, nothing is spent.
    let before = net.balance(V2_CHAIN_ID, "user", "stake").await;
    let erc_before = net.erc20_balance(EVM, token, user_evm).await;
    // The user's own key in another chain's address form.
    let osmo = ferry::keys::Key::from_mnemonic("user", &ferry_devnet::mnemonic("user"))
        .unwrap()
        .address("osmo")
        .unwrap();
    for (from, amount, to, timeout, extra) in [
        (V2_CHAIN_ID, "77stake", "not-an-address", "600", None),
        (V2_CHAIN_ID, "77stake", user_cosmos.as_str(), "600", None),
        (V2_CHAIN_ID, "77stake", user_evm_hex.as_str(), "90000", None),
        (EVM, "7", osmo.as_str(), "600", Some(token_hex.as_str())),
        (
            EVM,
            "7",
            user_evm_hex.as_str(),
            "600",
            Some(token_hex.as_str()),
        ),
        (
            EVM,
            "7",
            user_cosmos.as_str(),
            "0",
            Some(token_hex.as_str()),
        ),
    ] {
        let mut args = vec![
            "--config",
            c,
            "transfer",
            "--path",
            V2_PATH,
            "--key",
            "user",
            "--from-chain",
            from,
            "--amount",
            amount,
            "--to",
            to,
            "--timeout-seconds",
            timeout,
        ];
        if let Some(t) = extra {
            args.extend(["--token", t]);
        }
        let out = net.ferry(&args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} was sent");
        assert!(
            err.contains("--to") || err.contains("--timeout-seconds"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(net.balance(V2_CHAIN_ID, "user", "stake").await, before);
    assert_eq!(net.erc20_balance(EVM, token, user_evm).await, erc_before);

    //    ... and with the checks skipped, the EVM app fails on the bad receiver: the error ack
    //    refunds the sender on the appchain.
    transfer(
        &net,
        &cfg,
        &[
            "--from-chain",
            V2_CHAIN_ID,
            "--amount",
            "77stake",
            "--to",
            "not-an-address",
            "--unchecked",
        ],
    );
    eventually("the error ack refund", Duration::from_secs(90), || async {
        let now = net.balance(V2_CHAIN_ID, "user", "stake").await;
        let escrow = cosmos_escrow(&net, "stake").await;
        (now == before && escrow == 600).then_some(())
    })
    .await;

    // The metrics count what happened on chain, once: receives on evm-settlement (stake out, the
    // token back, the bad receiver's error ack) and on the appchain (stake back, the token out),
    // and the appchain committee's signatures as accepted.
    let metrics = metrics_text(&cfg).await;
    assert_eq!(
        metric_sum(
            &metrics,
            "ferry_packets_relayed_total",
            &[("chain", EVM), ("channel", V2_EVM_CLIENT), ("kind", "recv")]
        ),
        3,
        "{metrics}"
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "ferry_packets_relayed_total",
            &[
                ("chain", V2_CHAIN_ID),
                ("channel", V2_COSMOS_CLIENT),
                ("kind", "recv")
            ]
        ),
        2,
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ferry_attestation_signatures_total{")
                && l.contains(&format!("chain=\"{V2_CHAIN_ID}\""))
                && l.contains("outcome=\"accepted\"")
                && !l.ends_with(" 0")),
        "{metrics}"
    );

    // 5. A timeout while the relayer is down, refunded after the restart.
    relayer.signal(ferry_tests::SIGTERM);
    let before = net.balance(V2_CHAIN_ID, "user", "stake").await;
    transfer(
        &net,
        &cfg,
        &[
            "--from-chain",
            V2_CHAIN_ID,
            "--amount",
            "55stake",
            "--to",
            &user_evm_hex,
            "--timeout-seconds",
            "4",
        ],
    );
    assert_eq!(net.balance(V2_CHAIN_ID, "user", "stake").await, before - 55);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let relayer = net.start_relayer_with("relayer-v2-restarted.log", &cfg);
    eventually("the timeout refund", Duration::from_secs(120), || async {
        (net.balance(V2_CHAIN_ID, "user", "stake").await == before).then_some(())
    })
    .await;
    // Never received on EVM: the voucher supply did not grow.
    assert_eq!(
        net.erc20_balance(EVM, voucher, user_evm).await,
        U256::from(600)
    );
    assert!(
        !relayer.log_text().contains("panicked"),
        "{}",
        relayer.log_text()
    );
}

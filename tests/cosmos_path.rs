//! Against a live devnet: the handshake (and its idempotency), ICS-20 transfers both ways with the ack
//! relayed back and balances checked on both chains (including the voucher denom), an error ack with
//! refund, transfer and pending-packet queries, metrics, and a clean SIGTERM exit.

use std::time::Duration;

use ferry_tests::{eventually, last_json, TestNet, SIGTERM};

#[tokio::test(flavor = "multi_thread")]
async fn handshake_then_transfers_both_ways() {
    let net = TestNet::start("path").await;

    // Handshake, then again: the second run reuses everything.
    let first = last_json(&net.ferry_ok(&["--json", "create", "path", "l3-settlement"]));
    assert_eq!(first["created"], true, "{first}");
    let ids = first["ids"].clone();
    let again = last_json(&net.ferry_ok(&["--json", "create", "path", "l3-settlement"]));
    assert_eq!(again["created"], false);
    assert_eq!(
        again["ids"], ids,
        "second create path must reuse the same ids"
    );
    let (chan_a, chan_b) = (
        ids["channel_a"].as_str().unwrap().to_string(),
        ids["channel_b"].as_str().unwrap().to_string(),
    );
    // create client/connection reuse what the path made.
    let client = last_json(&net.ferry_ok(&[
        "--json",
        "create",
        "client",
        "--host",
        "settlement-1",
        "--reference",
        "l3-appchain-1",
    ]));
    assert_eq!(client["created"], false);
    assert_eq!(client["client"], ids["client_b"]);

    // A configured path that has no channel yet: Ferry relays the others and waits for it.
    let cfg = net.home().join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[[paths]]\nname = \"not-opened\"\na = { chain = \"l3-appchain-1\", port = \"oracle\" }\nb = { chain = \"settlement-1\", port = \"oracle\" }\n",
    );
    std::fs::write(&cfg, text).unwrap();

    let mut relayer = net.start_relayer("relayer.log");
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(30)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );

    let user = net.address("user");
    let voucher = ferry::cli::voucher_denom(&format!("transfer/{chan_b}/samoleans"));
    let l3_before = net.balance("l3-appchain-1", "user", "samoleans").await;
    let hub_before = net.balance("settlement-1", "user", &voucher).await;
    assert_eq!(hub_before, 0);

    // L3 → settlement.
    let out = net.transfer(
        "l3-appchain-1",
        "1000samoleans",
        &user,
        &["--key", "user", "--wait"],
    );
    let fin = &out;
    assert_eq!(fin["state"], "acknowledged", "{out}");
    assert_eq!(fin["ok"], true, "{out}");
    let tx1 = fin["tx_hash"].as_str().unwrap().to_string();
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        l3_before - 1000
    );
    assert_eq!(net.balance("settlement-1", "user", &voucher).await, 1000);

    // The voucher's trace is transfer/<channel on settlement>/samoleans, as the chain itself says.
    let hub = net.chain("settlement-1");
    let trace: ibc_proto::ibc::applications::transfer::v1::QueryDenomHashResponse = hub
        .grpc_query(
            "/ibc.applications.transfer.v1.Query/DenomHash",
            &ibc_proto::ibc::applications::transfer::v1::QueryDenomHashRequest {
                trace: format!("transfer/{chan_b}/samoleans"),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(format!("ibc/{}", trace.hash), voucher);

    // Settlement → L3: the voucher goes home and becomes samoleans again.
    let out = net.transfer(
        "settlement-1",
        &format!("400{voucher}"),
        &user,
        &["--key", "user", "--wait"],
    );
    assert_eq!(out["state"], "acknowledged", "{out}");
    assert_eq!(net.balance("settlement-1", "user", &voucher).await, 600);
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        l3_before - 600
    );

    // Refused before signing: more than the sender holds (a receiver or timeout the chains
    // would refuse is refused too: cli_errors). Nothing spent.
    let held = net.balance("l3-appchain-1", "user", "samoleans").await;
    let too_much = format!("{}samoleans", held + 1);
    let refused = net.ferry(&[
        "transfer",
        "--path",
        "l3-settlement",
        "--from-chain",
        "l3-appchain-1",
        "--amount",
        &too_much,
        "--to",
        &user,
    ]);
    let err = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(
        !refused.status.success() && err.contains(&format!("holds {held}samoleans")),
        "{err}"
    );
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        held
    );
    // The same with Ferry's checks skipped: the chain refuses it in simulation, and the refusal
    // is said as a sentence (from its module and code), the chain's words kept after it.
    let refused = net.ferry(&[
        "transfer",
        "--path",
        "l3-settlement",
        "--from-chain",
        "l3-appchain-1",
        "--amount",
        &too_much,
        "--to",
        &user,
        "--unchecked",
    ]);
    let err = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(
        !refused.status.success()
            && err.contains("the sender's balance does not cover the amount and the fee")
            && err.contains("insufficient funds"),
        "{err}"
    );
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        held
    );

    // A receiver the destination rejects, with the checks skipped: error ack, sender refunded.
    let out = net.transfer(
        "l3-appchain-1",
        "7samoleans",
        "not-an-address",
        &["--key", "user", "--wait", "--unchecked"],
    );
    let fin = &out;
    assert_eq!(fin["state"], "acknowledged", "{out}");
    assert_eq!(fin["ok"], false, "{out}");
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        l3_before - 600,
        "error ack must refund"
    );

    // A transfer signed with the relayer's own key while it runs: the relayer's local account sequence
    // on l3 goes stale, and it must recover ("account sequence mismatch") to relay the ack back.
    // (Only when named: `ferry transfer` signs with `default_transfer_key`, the devnet's user.)
    let out = net.transfer(
        "l3-appchain-1",
        "3samoleans",
        &user,
        &["--key", "relayer", "--wait"],
    );
    assert_eq!(out["state"], "acknowledged", "{out}");
    let metrics = ferry_tests::instances::metrics(&net.metrics_url()).await;
    assert!(
        metrics
            .contains(r#"ferry_txs_failed_total{chain="l3-appchain-1",error="sequence_mismatch"}"#),
        "no recovered mismatch seen:\n{metrics}"
    );

    // Queries.
    let st = last_json(&net.ferry_ok(&["--json", "query", "transfer", "l3-appchain-1", &tx1]));
    assert_eq!(st["state"], "acknowledged");
    assert_eq!(st["source_channel"], chan_a.as_str());
    let pending =
        last_json(&net.ferry_ok(&["--json", "query", "packets", "pending", "l3-settlement"]));
    assert_eq!(pending, serde_json::json!([]));

    // Metrics served while relaying.
    let url = net.metrics_url();
    let text = eventually("relay metrics", Duration::from_secs(20), || {
        let url = url.clone();
        async move {
            let t = reqwest::get(&url).await.ok()?.text().await.ok()?;
            t.contains(r#"kind="ack""#).then_some(t)
        }
    })
    .await;
    assert!(
        text.contains(r#"ferry_packets_relayed_total{chain="settlement-1",channel="#),
        "{text}"
    );
    assert!(text.contains("ferry_txs_confirmed_total"));
    assert!(text.contains("ferry_client_updates_submitted_total"));
    // The path without a channel did not stop the others: waited for, and named.
    assert!(
        text.contains(r#"ferry_path_ready{path="not-opened"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ferry_path_ready{path="l3-settlement"} 1"#),
        "{text}"
    );
    let readyz = reqwest::get(url.replace("/metrics", "/readyz"))
        .await
        .unwrap();
    assert_eq!(readyz.status().as_u16(), 200);
    let body = readyz.text().await.unwrap();
    assert!(
        body.contains("path not-opened: waiting:") && body.contains("no open channel"),
        "{body}"
    );
    assert!(relayer
        .log_text()
        .contains("path not ready; the others relay meanwhile"));

    // SIGTERM: finish and exit 0.
    let status = relayer.signal(SIGTERM);
    assert!(
        status.success(),
        "ferry start exited with {status:?}:\n{}",
        relayer.log_text()
    );
}

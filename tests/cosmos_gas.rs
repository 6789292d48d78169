//! Gas estimates cover the tx as it will run: with a multiplier of 1.0 (no margin at all), a tx
//! broadcast with Ferry's estimate never fails out of gas, alone or behind an earlier tx of the
//! same signer that is not committed yet (the client update in front of a batch of packets), and
//! with several txs behind the same one (the chunks of a batch).

use ferry::chain::{ChainError, Msg, Priority};
use ferry::telemetry::TxErrorKind;
use ferry_tests::TestNet;
use prost::Message;

const CHAIN: &str = "l3-appchain-1";

/// A bank send of `amount` stake from the relayer's wallet to `to`.
fn send(from: &str, to: &str, amount: u64) -> Msg {
    use cosmrs::proto::cosmos::bank::v1beta1::MsgSend;
    use cosmrs::proto::cosmos::base::v1beta1::Coin;
    let m = MsgSend {
        from_address: from.into(),
        to_address: to.into(),
        amount: vec![Coin {
            denom: "stake".into(),
            amount: amount.to_string(),
        }],
    };
    Msg {
        type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
        value: m.encode_to_vec(),
    }
}

fn out_of_gas(r: &Result<ferry::chain::TxOutcome, ChainError>) -> bool {
    matches!(
        r,
        Err(ChainError::Tx {
            kind: TxErrorKind::OutOfGas,
            ..
        })
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_need_no_margin() {
    let net = TestNet::start("cosmos-gas").await;
    let chain = {
        let c = net.chain(CHAIN);
        let mut cfg = c.config.clone();
        cfg.gas_multiplier = 1.0;
        let key = ferry::keys::KeyStore::new(net.home())
            .load("relayer")
            .unwrap();
        ferry::chain::cosmos::CosmosChain::new(cfg, key).unwrap()
    };
    let me = chain.address.clone();
    let user = net.address("user");

    // Alone: the fee deduction and signature checks are part of the estimate.
    for to in [&me, &user] {
        let pending = chain
            .broadcast_msgs(vec![send(&me, to, 1)], "", 0, &[], Priority::Backlog)
            .await
            .unwrap();
        let r = chain.confirm_tx(pending, false).await;
        assert!(!out_of_gas(&r), "a lone send to {to}: {r:?}");
        r.unwrap();
    }

    // Behind an uncommitted tx of the same signer, several times (the first tx's fixed costs
    // must not be subtracted from the second's).
    for n in 1..=3u64 {
        let first = vec![send(&me, &user, n)];
        let a = chain
            .broadcast_msgs(first.clone(), "", 0, &[], Priority::Backlog)
            .await
            .unwrap();
        let second: Vec<Msg> = (0..n).map(|i| send(&me, &user, i + 1)).collect();
        let b = chain
            .broadcast_msgs(second, "", 0, &first, Priority::Backlog)
            .await
            .unwrap();
        let (ra, rb) = (
            chain.confirm_tx(a, false).await,
            chain.confirm_tx(b, false).await,
        );
        ra.unwrap();
        assert!(
            !out_of_gas(&rb),
            "{n} send(s) behind an uncommitted send: {rb:?}"
        );
        rb.unwrap();
    }

    // Two txs behind the same uncommitted one, as the chunks of one batch behind its client
    // update: the second reuses the first's simulation of the tx in front.
    let first = vec![send(&me, &user, 9)];
    let a = chain
        .broadcast_msgs(first.clone(), "", 0, &[], Priority::Backlog)
        .await
        .unwrap();
    let b = chain
        .broadcast_msgs(
            vec![send(&me, &user, 1), send(&me, &user, 2)],
            "",
            0,
            &first,
            Priority::Backlog,
        )
        .await
        .unwrap();
    let c = chain
        .broadcast_msgs(vec![send(&me, &user, 3)], "", 0, &first, Priority::Backlog)
        .await
        .unwrap();
    chain.confirm_tx(a, false).await.unwrap();
    for (what, r) in [
        ("the first", chain.confirm_tx(b, false).await),
        ("the second", chain.confirm_tx(c, false).await),
    ] {
        assert!(!out_of_gas(&r), "{what} tx behind one update: {r:?}");
        r.unwrap();
    }
}

//! Ferry's EVM backend against real anvil chains with Ferry's contracts (no Cosmos chains).
//!
//! `a_reorged_send_is_rescanned`: log scanning across a reorg. The backend streams the router's events;
//! `anvil_reorg` then replaces the blocks from a packet's send onwards with blocks that carry a
//! different transfer (77 instead of 100, within the approval) under the same sender nonce (so the same sequence, other data, at a height
//! the scanner had already passed). Only a scanner that notices the changed block hash and re-scans
//! delivers the new packet.
//!
//! `a_stuck_transaction_is_replaced`: with block production paused, a client update Ferry sent is
//! not mined; after a third of `tx_confirm_timeout` Ferry resends it under the same nonce with both
//! fees raised, and once blocks resume the replacement is what lands.
//!
//! `a_transaction_the_node_dropped_is_sent_again`: a client update Ferry sent is dropped from
//! anvil's pool (`anvil_dropTransaction`); Ferry notices within seconds (it looks the tx up every
//! 2 s), not after a third of its confirmation budget, and what lands is the one it sent again.
//!
//! Run: `cargo test -p ferry-tests --test evm_backend -- --nocapture`

use std::time::{Duration, Instant};

use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::Signer;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{BlockId, BlockNumber, Eip1559TransactionRequest, U256};
use ferry::chain::evm::abi::Ics20Transfer;
use ferry::chain::evm::EvmChain;
use ferry::chain::{EventSink, Feed, PacketEvents, Priority};
use ferry::ibc::{PacketEvent, PacketEventKind};
use ferry::transfer::evm::{send, EvmTransfer};
use ferry_devnet::evm::{self, EvmNode, CLIENT_ID};
use ferry_devnet::mnemonic;
use ferry_tests::TempDir;
use tokio::sync::{mpsc, watch};

struct Chains(Vec<EvmNode>);
impl Drop for Chains {
    fn drop(&mut self) {
        for n in &self.0 {
            evm::stop(n);
        }
    }
}

/// A chain handle for `node` through Ferry's library (it holds no attestor key).
fn open(node: &EvmNode, extra: &str) -> std::sync::Arc<EvmChain> {
    let toml = format!(
        r#"
[[chains]]
id = "{name}"
type = "evm"
rpc = ["{rpc}"]
key = "relayer"
gas_price = "50gwei"
poll_interval = "200ms"
{extra}
[chains.evm]
chain_id = {id}
router = "{router:?}"
transfer = "{transfer:?}"
confirmations = 1
log_range = 4
checkpoint = "{cp}"
"#,
        name = node.chain_id,
        rpc = node.rpc,
        id = node.evm_chain_id,
        router = node.router,
        transfer = node.transfer,
        cp = node.checkpoint
    );
    let cfg = ferry::config::load_str(&toml, "backend.toml".as_ref())
        .unwrap()
        .0;
    let wallet = ferry::keys::evm_wallet(&mnemonic("relayer"), node.evm_chain_id).unwrap();
    EvmChain::new(cfg.chains[0].clone(), wallet).unwrap()
}

async fn next_send(
    rx: &mut mpsc::Receiver<Feed>,
    what: &str,
    pick: impl Fn(&PacketEvent) -> bool,
) -> PacketEvent {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("scanner stopped");
        match ev {
            Feed::Event(ev) if ev.kind == PacketEventKind::Send && pick(&ev) => return ev,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorged_send_is_rescanned() {
    let tmp = TempDir::new("evm-reorg");
    let chains = Chains(
        evm::up(&tmp.0, None)
            .await
            .expect("anvil chains with contracts"),
    );
    let l3 = chains
        .0
        .iter()
        .find(|n| n.chain_id == "evm-l3")
        .unwrap()
        .clone();
    let chain = open(&l3, "");
    let (tx, mut rx) = EventSink::channel(1000);
    let (_stop, stop_rx) = watch::channel(false);
    chain.clone().subscribe(1, tx, stop_rx);

    let user = ferry::keys::evm_wallet(&mnemonic("user"), l3.evm_chain_id).unwrap();
    let receiver = format!("{:?}", user.address());
    let client = CLIENT_ID.parse().unwrap();
    let t = EvmTransfer {
        wallet: user.clone(),
        token: l3.token,
        amount: 100u64.into(),
        receiver: &receiver,
        client: &client,
        timeout: Duration::from_secs(600),
        memo: "",
    };
    let (_, first) = send(&chain, &t).await.unwrap();
    let ev = next_send(&mut rx, "the first send", |e| {
        e.packet.sequence == first.sequence
    })
    .await;
    assert_eq!(ev.packet.data, first.data);
    eprintln!(
        "send of packet {} seen at block {}",
        first.sequence, ev.height
    );

    // Let the scanner move past it, then rewrite history from that block on.
    let provider = Provider::<Http>::try_from(l3.rpc.as_str()).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let head = provider.get_block_number().await.unwrap().as_u64();
    let depth = head - ev.height + 1;
    let nonce = provider
        .get_transaction_count(
            user.address(),
            Some(BlockId::Number(BlockNumber::Number((ev.height - 1).into()))),
        )
        .await
        .unwrap();
    let timeout = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let call = Ics20Transfer::new(l3.transfer, provider.clone().into())
        .send_transfer(
            l3.token,
            U256::from(77),
            receiver.clone(),
            CLIENT_ID.into(),
            timeout,
            String::new(),
        )
        .calldata()
        .unwrap();
    let replacement: TypedTransaction = Eip1559TransactionRequest::new()
        .from(user.address())
        .to(l3.transfer)
        .data(call)
        .nonce(nonce)
        .gas(800_000u64)
        .max_fee_per_gas(50_000_000_000u64)
        .max_priority_fee_per_gas(1_000_000_000u64)
        .chain_id(l3.evm_chain_id)
        .into();
    let sig = user.sign_transaction_sync(&replacement).unwrap();
    let raw = replacement.rlp_signed(&sig);
    let _: serde_json::Value = provider
        .request("anvil_reorg", (depth, vec![(raw, 0u64)]))
        .await
        .expect("anvil_reorg");
    eprintln!(
        "reorged the last {depth} blocks (from {}) on {head}",
        ev.height
    );
    let again = next_send(&mut rx, "the replacement send after the reorg", |e| {
        e.packet.sequence == first.sequence && e.packet.data != first.data
    })
    .await;
    assert!(
        again.height <= head,
        "the replacement was found at {} although it sits at an already scanned height",
        again.height
    );
    let router = chain.router();
    let next = router
        .next_sequence_send(CLIENT_ID.into())
        .call()
        .await
        .unwrap();
    assert_eq!(
        next,
        first.sequence + 1,
        "one packet after the reorg, not two"
    );
}

/// A client update of evm-l3's client of evm-settlement, made the way the router makes it, and the
/// height it moves the client to.
async fn update_msgs(
    l3: &EvmChain,
    settlement: &EvmChain,
) -> (Vec<ferry::chain::Msg>, ferry::ibc::Height) {
    use ferry::chain::evm::attestation::{encode_update, state_digest, StateAttestation};
    use ferry::chain::{ClientHost, Heights};
    let client: ferry::ibc::ClientId = CLIENT_ID.parse().unwrap();
    let trusted = l3.client_latest_height(&client).await.unwrap();
    let anchor = l3.consensus_anchor(&client, trusted).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (target, _) = settlement.latest().await.unwrap();
    assert!(target > trusted);
    // The test plays the committee here: two attestor keys sign what Ferry verified (no attestor
    // processes run in this test).
    let committee = anchor.committee.expect("an attested client");
    let (root, ts) = settlement.verify_to(target.revision_height).await.unwrap();
    let att = StateAttestation {
        attested_chain: committee.attested_chain.clone(),
        height: target.revision_height,
        timestamp: ts,
        state_root: root,
    };
    let digest = state_digest(&committee.domain, &att);
    let sigs: Vec<Vec<u8>> = evm::ATTESTORS[..2]
        .iter()
        .map(|a| {
            let w = ferry::keys::evm_wallet(&mnemonic(a), 0).unwrap();
            w.sign_hash(digest).unwrap().to_vec()
        })
        .collect();
    let header = ferry::chain::Msg {
        type_url: ferry::chain::evm::packets::ATTESTATION.into(),
        value: encode_update(&att, &sigs),
    };
    (vec![l3.update_client_msg(&client, header)], target)
}

/// Both anvil chains with Ferry's contracts, evm-l3 opened with `confirm_timeout`, a client update
/// of evm-l3's client ready to send, and evm-l3's block production paused.
struct PausedL3 {
    _tmp: TempDir,
    _chains: Chains,
    l3: std::sync::Arc<EvmChain>,
    provider: Provider<Http>,
    msgs: Vec<ferry::chain::Msg>,
    target: ferry::ibc::Height,
}

impl PausedL3 {
    async fn start(tag: &str, confirm_timeout: &str) -> PausedL3 {
        let tmp = TempDir::new(tag);
        let chains = Chains(
            evm::up(&tmp.0, None)
                .await
                .expect("anvil chains with contracts"),
        );
        let node = |id: &str| chains.0.iter().find(|n| n.chain_id == id).unwrap().clone();
        let (l3n, stn) = (node("evm-l3"), node("evm-settlement"));
        let l3 = open(&l3n, &format!("tx_confirm_timeout = \"{confirm_timeout}\""));
        let settlement = open(&stn, "");
        let (msgs, target) = update_msgs(&l3, &settlement).await;
        let provider = Provider::<Http>::try_from(l3n.rpc.as_str()).unwrap();
        let paused = PausedL3 {
            _tmp: tmp,
            _chains: chains,
            l3,
            provider,
            msgs,
            target,
        };
        paused.mine_every(0).await;
        paused
    }

    /// evm-l3 mines a block every `secs` seconds (0: none).
    async fn mine_every(&self, secs: u64) {
        let _: serde_json::Value = self
            .provider
            .request("evm_setIntervalMining", [secs])
            .await
            .expect("evm_setIntervalMining");
    }

    /// The height of evm-l3's client of evm-settlement.
    async fn client_height(&self) -> ferry::ibc::Height {
        use ferry::chain::ClientHost;
        let client: ferry::ibc::ClientId = CLIENT_ID.parse().unwrap();
        self.l3.client_latest_height(&client).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced() {
    use ferry::chain::Submit;
    let net = PausedL3::start("evm-stuck", "12s").await;
    let (l3, provider) = (&net.l3, &net.provider);
    let pending = l3
        .broadcast(net.msgs.clone(), 0, &[], Priority::Backlog)
        .await
        .unwrap();
    let confirm = tokio::spawn({
        let l3 = l3.clone();
        async move { l3.confirm(pending).await }
    });
    // Past a third of the 12 s budget the replacement goes out; then blocks resume.
    tokio::time::sleep(Duration::from_secs(6)).await;
    net.mine_every(1).await;
    let first = confirm.is_finished();
    let out = confirm
        .await
        .unwrap()
        .expect("the replaced update is confirmed");
    assert!(!first, "confirmed while no block was mined");
    let tx = provider
        .get_transaction(out.hash.parse::<ethers::types::H256>().unwrap())
        .await
        .unwrap()
        .unwrap();
    let tip = tx.max_priority_fee_per_gas.unwrap();
    assert!(
        tip > U256::from(1_000_000_000u64),
        "the mined transaction is the original (tip {tip}), not a replacement"
    );
    assert_eq!(net.client_height().await, net.target, "the update landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_the_node_dropped_is_sent_again() {
    use ferry::chain::Submit;
    // A long budget: a replacement on the timer would come only after 20 s.
    let net = PausedL3::start("evm-dropped", "60s").await;
    let (l3, provider) = (&net.l3, &net.provider);
    let pending = l3
        .broadcast(net.msgs.clone(), 0, &[], Priority::Backlog)
        .await
        .unwrap();
    let original: ethers::types::H256 = pending.hash.parse().unwrap();
    let _: serde_json::Value = provider
        .request("anvil_dropTransaction", [original])
        .await
        .expect("drop the tx from anvil's pool");
    assert!(provider.get_transaction(original).await.unwrap().is_none());
    let t = Instant::now();
    let confirm = tokio::spawn({
        let l3 = l3.clone();
        async move { l3.confirm(pending).await }
    });
    // Mining resumes after 5 s; the tx is sent again well before the 20 s timer.
    tokio::time::sleep(Duration::from_secs(5)).await;
    net.mine_every(1).await;
    let out = confirm
        .await
        .unwrap()
        .expect("the dropped update is confirmed");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "confirmed only after {:?}: the drop was not noticed",
        t.elapsed()
    );
    assert_ne!(
        out.hash.parse::<ethers::types::H256>().unwrap(),
        original,
        "the mined tx is the dropped one"
    );
    assert_eq!(net.client_height().await, net.target, "the update landed");
}

//! Log scanning across a reorg, on a real anvil: Ferry's EVM backend streams the router's events;
//! `anvil_reorg` then replaces the blocks from a packet's send onwards with blocks that carry a
//! different transfer (77 instead of 100, within the approval) under the same sender nonce (so the same sequence, other data, at a height
//! the scanner had already passed). Only a scanner that notices the changed block hash and re-scans
//! delivers the new packet.
//!
//! Run: `cargo test -p ferry-tests --test evm_reorg -- --nocapture`

use std::time::{Duration, Instant};

use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::Signer;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{BlockId, BlockNumber, Eip1559TransactionRequest, U256};
use ferry::chain::evm::abi::Ics20Transfer;
use ferry::chain::evm::EvmChain;
use ferry::chain::PacketEvents;
use ferry::devnet::evm::{self, EvmNode, CLIENT_ID};
use ferry::devnet::mnemonic;
use ferry::ibc::{PacketEvent, PacketEventKind};
use ferry::transfer::evm::{send, EvmTransfer};
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

async fn next_send(
    rx: &mut mpsc::Receiver<PacketEvent>,
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
        if ev.kind == PacketEventKind::Send && pick(&ev) {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorged_send_is_rescanned() {
    let tmp = TempDir::new("evm-reorg");
    let chains = Chains(evm::up(&tmp.0).await.expect("anvil chains with contracts"));
    let l3 = chains
        .0
        .iter()
        .find(|n| n.chain_id == "evm-l3")
        .unwrap()
        .clone();
    let toml = format!(
        r#"
[[chains]]
id = "evm-l3"
type = "evm"
rpc = ["{rpc}"]
key = "relayer"
gas_price = "50gwei"
poll_interval = "200ms"
[chains.evm]
chain_id = {id}
router = "{router:?}"
transfer = "{transfer:?}"
confirmations = 1
log_range = 4
checkpoint = "{cp}"
"#,
        rpc = l3.rpc,
        id = l3.evm_chain_id,
        router = l3.router,
        transfer = l3.transfer,
        cp = l3.checkpoint
    );
    let cfg = ferry::config::load_str(&toml, "reorg.toml".as_ref())
        .unwrap()
        .0;
    let relayer = ferry::keys::evm_wallet(&mnemonic("relayer"), l3.evm_chain_id).unwrap();
    let chain = EvmChain::new(cfg.chains[0].clone(), relayer, vec![]).unwrap();
    let (tx, mut rx) = mpsc::channel(1000);
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

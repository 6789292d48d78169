//! The router's administration: direct while `setupOpen`, then only through the timelock
//! (`schedule`, `adminDelay`, `execute`, `cancel`); two-step ownership; a frozen client recovered
//! by a substitute, as ibc-go's client recovery.

use ethers::signers::LocalWallet;
use ethers::types::{Address, Bytes, H256, U256};
use ethers::utils::keccak256;
use ferry::chain::evm::attestation::caip2_eip155;

use crate::common::{
    addrs, attestor, call, encode, event, expect_revert, hex_addr, packet_seq, path_key, tx, uint,
    view,
};
use crate::world::{deploy_light, signed_update, World, ADMIN_DELAY, CHAIN_B, CLIENT};

#[tokio::test]
async fn frozen_client_recovered_through_the_timelock() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let [x, y, z] = [&w.attestors[0], &w.attestors[1], &w.attestors[2]];
    let r = &a.router;
    let far = a.latest().await.1 + 3600;
    w.send(a, a.token.address(), 10, &hex_addr(a.me()), far)
        .await;

    // A fresh client of B with a new committee; not frozen, so nothing to recover yet.
    let committee: Vec<LocalWallet> = (20..23).map(attestor).collect();
    let sub = deploy_light(
        &a.client,
        &b.provider,
        CHAIN_B,
        b.router.address(),
        &addrs(&[&committee[0], &committee[1], &committee[2]]),
        2,
    )
    .await;
    let recover = |client: &str, lc: Address| call(r, "recoverClient", (client.to_string(), lc));
    expect_revert(recover(CLIENT, sub.address()), "ClientNotFrozen(string)").await;
    expect_revert(recover("nope", sub.address()), "UnknownClient(string)").await;

    // Freeze A's client of B: a quorum signs two different states for one height.
    let state = b.latest().await;
    let update = |state, signers: &[&LocalWallet]| {
        call(
            r,
            "updateClient",
            (CLIENT.to_string(), w.update_msg(a, state, signers)),
        )
    };
    tx(update(state, &[x, y])).await;
    tx(update((state.0, state.1, H256::repeat_byte(9)), &[y, z])).await;
    assert!(view::<bool>(&a.light, "frozen", ()).await);
    // Neither a zero nor a frozen substitute.
    expect_revert(recover(CLIENT, Address::zero()), "InvalidLightClient()").await;
    expect_revert(
        recover(CLIENT, a.light.address()),
        "SubstituteFrozen(address)",
    )
    .await;

    // Setup closed: only through the timelock.
    let rc = tx(call(r, "closeSetup", ())).await;
    assert!(event(r, &rc, "SetupClosed").is_some());
    assert!(!view::<bool>(r, "setupOpen", ()).await);
    expect_revert(recover(CLIENT, sub.address()), "TimelockRequired()").await;
    let data = encode(r, "recoverClient", (CLIENT.to_string(), sub.address()));
    let id = H256(keccak256(&data));
    let rc = tx(call(r, "schedule", data.clone())).await;
    let ev = event(r, &rc, "AdminScheduled").expect("AdminScheduled");
    assert_eq!(ev["id"], ethers::abi::Token::FixedBytes(id.0.to_vec()));
    let block = a.latest().await;
    assert_eq!(uint(&ev, "readyAt"), block.1 + ADMIN_DELAY);
    assert_eq!(ev["call"], ethers::abi::Token::Bytes(data.to_vec()));
    let ready: U256 = view(r, "readyAt", id).await;
    assert_eq!(ready.as_u64(), block.1 + ADMIN_DELAY);
    expect_revert(
        call(r, "execute", data.clone()),
        "NotReady(bytes32,uint256)",
    )
    .await;
    a.pass_time(ADMIN_DELAY / 2).await;
    expect_revert(
        call(r, "execute", data.clone()),
        "NotReady(bytes32,uint256)",
    )
    .await;
    a.pass_time(ADMIN_DELAY / 2).await;
    let rc = tx(call(r, "execute", data.clone())).await;
    let ev = event(r, &rc, "ClientRecovered").expect("ClientRecovered");
    assert_eq!(ev["substitute"], ethers::abi::Token::Address(sub.address()));
    assert!(event(r, &rc, "AdminExecuted").is_some());
    expect_revert(call(r, "execute", data.clone()), "NotScheduled(bytes32)").await;
    assert_eq!(
        view::<Address>(r, "lightClientOf", CLIENT.to_string()).await,
        sub.address()
    );
    assert_eq!(
        view::<String>(r, "counterpartyOf", CLIENT.to_string()).await,
        CLIENT
    );
    assert_eq!(
        view::<u64>(r, "nextSequenceSend", CLIENT.to_string()).await,
        2,
        "sequences kept"
    );

    // Packets verify against the substitute, attested by its committee for it.
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w
        .send(b, b.token.address(), 50, &hex_addr(a.me()), far)
        .await;
    let state = b.latest().await;
    let old_committee = w.update_msg(a, state, &[x, y]);
    expect_revert(
        call(r, "updateClient", (CLIENT.to_string(), old_committee)),
        "NotAttestor(address)",
    )
    .await;
    let msg = signed_update(
        &a.domain_of(&sub),
        &caip2_eip155(CHAIN_B),
        state,
        &[&committee[0], &committee[2]],
    );
    tx(call(r, "updateClient", (CLIENT.to_string(), msg))).await;
    let proof = b
        .proof(path_key(CLIENT, 1, packet_seq(&packet)), state.0)
        .await;
    let rc = w.recv(a, &packet, proof, state.0).await;
    assert!(event(r, &rc, "RecvPacket").is_some());
    assert_eq!(a.written_ack(&rc), br#"{"result":"AQ=="}"#);

    // The substitute is not frozen: recovering it is refused (the inner revert bubbles up).
    let again = encode(r, "recoverClient", (CLIENT.to_string(), a.light.address()));
    tx(call(r, "schedule", again.clone())).await;
    a.pass_time(ADMIN_DELAY).await;
    expect_revert(call(r, "execute", again), "ClientNotFrozen(string)").await;
}

#[tokio::test]
async fn ownership_and_timelock() {
    let w = World::new().await;
    let a = &w.a;
    let r = &a.router;
    let rs = r.connect(a.stranger.clone());
    let stranger = a.stranger.address();
    let add = |id: &str| {
        encode(
            r,
            "addClient",
            (id.to_string(), a.light.address(), "x".to_string()),
        )
    };

    // Only the owner administers, schedules, executes, cancels, closes setup, hands over.
    expect_revert(
        call(&rs, "registerApp", ("evil".to_string(), stranger)),
        "NotOwner()",
    )
    .await;
    expect_revert(
        call(&rs, "recoverClient", (CLIENT.to_string(), stranger)),
        "NotOwner()",
    )
    .await;
    expect_revert(call(&rs, "schedule", add("c1")), "NotOwner()").await;
    expect_revert(call(&rs, "execute", add("c1")), "NotOwner()").await;
    expect_revert(call(&rs, "cancel", H256::zero()), "NotOwner()").await;
    expect_revert(call(&rs, "closeSetup", ()), "NotOwner()").await;
    expect_revert(call(&rs, "transferOwnership", stranger), "NotOwner()").await;

    // Only the three admin calls go through the timelock.
    for not_admin in [
        encode(r, "transferOwnership", stranger),
        encode(r, "closeSetup", ()),
        encode(r, "multicall", vec![add("c1")]),
        Bytes::from(vec![0x12u8, 0x34]),
    ] {
        expect_revert(
            call(r, "schedule", not_admin.clone()),
            "NotAdminCall(bytes4)",
        )
        .await;
        expect_revert(call(r, "execute", not_admin), "NotAdminCall(bytes4)").await;
    }

    tx(call(r, "closeSetup", ())).await;
    expect_revert(call(r, "closeSetup", ()), "SetupAlreadyClosed()").await;
    expect_revert(
        call(
            r,
            "addClient",
            ("c1".to_string(), a.light.address(), "x".to_string()),
        ),
        "TimelockRequired()",
    )
    .await;
    expect_revert(
        call(r, "registerApp", ("evil".to_string(), stranger)),
        "TimelockRequired()",
    )
    .await;
    expect_revert(
        call(
            &rs,
            "addClient",
            ("c1".to_string(), a.light.address(), "x".to_string()),
        ),
        "NotOwner()",
    )
    .await;

    // Scheduled, then cancelled: it cannot run.
    let id = H256(keccak256(add("c1")));
    tx(call(r, "schedule", add("c1"))).await;
    expect_revert(call(r, "schedule", add("c1")), "AlreadyScheduled(bytes32)").await;
    let rc = tx(call(r, "cancel", id)).await;
    assert!(event(r, &rc, "AdminCancelled").is_some());
    assert!(view::<U256>(r, "readyAt", id).await.is_zero());
    expect_revert(call(r, "cancel", id), "NotScheduled(bytes32)").await;
    a.pass_time(ADMIN_DELAY).await;
    expect_revert(call(r, "execute", add("c1")), "NotScheduled(bytes32)").await;

    // Scheduled and run after the delay; an inner revert bubbles up.
    tx(call(r, "schedule", add("c1"))).await;
    let dup = encode(
        r,
        "addClient",
        (CLIENT.to_string(), a.light.address(), "x".to_string()),
    );
    tx(call(r, "schedule", dup.clone())).await;
    a.pass_time(ADMIN_DELAY).await;
    let rc = tx(call(r, "execute", add("c1"))).await;
    assert!(event(r, &rc, "AdminExecuted").is_some());
    assert_eq!(
        view::<Address>(r, "lightClientOf", "c1".to_string()).await,
        a.light.address()
    );
    expect_revert(call(r, "execute", dup), "ClientExists(string)").await;

    // Two-step ownership.
    tx(call(r, "transferOwnership", stranger)).await;
    assert_eq!(view::<Address>(r, "owner", ()).await, a.me());
    assert_eq!(view::<Address>(r, "pendingOwner", ()).await, stranger);
    expect_revert(call(r, "acceptOwnership", ()), "NotPendingOwner()").await;
    let rc = tx(call(&rs, "acceptOwnership", ())).await;
    assert!(event(r, &rc, "OwnershipTransferred").is_some());
    assert_eq!(view::<Address>(r, "owner", ()).await, stranger);
    assert_eq!(
        view::<Address>(r, "pendingOwner", ()).await,
        Address::zero()
    );
    expect_revert(call(r, "schedule", add("c2")), "NotOwner()").await;
    tx(call(&rs, "schedule", add("c2"))).await;
}

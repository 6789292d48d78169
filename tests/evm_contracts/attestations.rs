//! What an attestation binds (EIP-712: host chain, light-client address, attested chain, state),
//! checked against the relayer's own digests; attestation checks of the light client; freezing
//! on conflicting data; and the replay attacks the domain closes.

use ethers::signers::LocalWallet;
use ethers::types::{Address, Bytes, H256, U256};
use ferry::chain::evm::attestation::{
    caip2_eip155, domain_separator, encode_update, rotation_digest, state_digest, StateAttestation,
};

use crate::common::{
    addrs, attestor, call, encode, event, expect_revert, hex_addr, packet_seq, path_key, sign, tx,
    tx_fails, view, C,
};
use crate::world::{signed_update, World, CHAIN_A, CHAIN_B, CLIENT, CLIENT2};

#[tokio::test]
async fn digests_match_the_relayer() {
    let w = World::new().await;
    // Same deployer, same nonces: the light clients share one address on both chains, so only
    // the chain id in the domain tells their signatures apart.
    assert_eq!(w.a.light.address(), w.b.light.address());
    for on in [&w.a, &w.b] {
        let d = on.domain_of(&on.light);
        let sep: H256 = view(&on.light, "domainSeparator", ()).await;
        assert_eq!(
            sep,
            domain_separator(&d),
            "domain separator on {}",
            on.chain_id
        );
        let other = w.other(on);
        let (h, t, root) = other.latest().await;
        let got: H256 = view(&on.light, "stateDigest", (h, t, root)).await;
        let att = StateAttestation {
            attested_chain: caip2_eip155(other.chain_id),
            height: h,
            timestamp: t,
            state_root: root,
        };
        assert_eq!(
            got,
            state_digest(&d, &att),
            "state digest on {}",
            on.chain_id
        );
        for set in [
            addrs(&[&attestor(5), &attestor(6), &attestor(7)]),
            addrs(&[&attestor(8)]),
        ] {
            let q = set.len() as u8;
            let got: H256 = view(&on.light, "rotationDigest", (set.clone(), q)).await;
            assert_eq!(got, rotation_digest(&d, &set, q, 0), "rotation digest");
        }
    }
    assert_ne!(
        domain_separator(&w.a.domain_of(&w.a.light)),
        domain_separator(&w.b.domain_of(&w.b.light))
    );
}

/// (latestHeight, consensusState(height), frozen) of `light`, to show nothing changed.
async fn snapshot(light: &C, height: u64) -> (u64, (u64, H256), bool) {
    (
        view(light, "latestHeight", ()).await,
        view(light, "consensusState", height).await,
        view(light, "frozen", ()).await,
    )
}

#[tokio::test]
async fn attestation_bound_to_its_chain_and_client() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let [x, y] = [&w.attestors[0], &w.attestors[1]];
    let (a1, _) = w.second_pair().await;

    // What the committee signs for B's client of A: A's state, for that client on chain B.
    let a_state = a.latest().await;
    let for_b = w.update_msg(b, a_state, &[x, y]);
    let before = snapshot(&a.light, a_state.0).await;
    // Submitted to A's own client of B (same client id, same contract address): refused, both
    // through the router and directly.
    expect_revert(
        call(
            &a.router,
            "updateClient",
            (CLIENT.to_string(), for_b.clone()),
        ),
        "NotAttestor(address)",
    )
    .await;
    expect_revert(
        call(&a.light, "updateClient", for_b.clone()),
        "NotAttestor(address)",
    )
    .await;
    // Even signed for A's client's own domain, a state of chain A is not a state of chain B.
    let wrong_chain = signed_update(
        &a.domain_of(&a.light),
        &caip2_eip155(CHAIN_A),
        a_state,
        &[x, y],
    );
    expect_revert(
        call(&a.light, "updateClient", wrong_chain),
        "NotAttestor(address)",
    )
    .await;
    assert_eq!(snapshot(&a.light, a_state.0).await, before);
    // Where it belongs it is good.
    tx(call(&b.router, "updateClient", (CLIENT.to_string(), for_b))).await;

    // An attestation of B made for A's client `attestations-0` is refused by A's other client
    // of the same chain, and accepted by the one it was made for.
    let b_state = b.latest().await;
    let for_lc0 = w.update_msg(a, b_state, &[x, y]);
    let before1 = snapshot(&a1, b_state.0).await;
    expect_revert(
        call(
            &a.router,
            "updateClient",
            (CLIENT2.to_string(), for_lc0.clone()),
        ),
        "NotAttestor(address)",
    )
    .await;
    expect_revert(
        call(&a1, "updateClient", for_lc0.clone()),
        "NotAttestor(address)",
    )
    .await;
    assert_eq!(snapshot(&a1, b_state.0).await, before1);
    tx(call(
        &a.router,
        "updateClient",
        (CLIENT.to_string(), for_lc0),
    ))
    .await;
    let (ts, root): (u64, H256) = view(&a.light, "consensusState", b_state.0).await;
    assert_eq!((ts, root), (b_state.1, b_state.2));
}

#[tokio::test]
async fn replayed_relayer_calldata_refused_on_the_other_chain() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let supply = U256::exp10(24);
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w.send(a, token, 1000, &hex_addr(me), far).await;
    let seq = packet_seq(&packet);

    // Ferry's transaction for B: attest A's state to B's client, receive the packet.
    let state = a.latest().await;
    let proof = a.proof(path_key(CLIENT, 1, seq), state.0).await;
    let batch = vec![
        w.encode_update(b, state, &[&w.attestors[0], &w.attestors[1]]),
        encode(&b.router, "recvPacket", (packet.clone(), proof, state.0)),
    ];
    // The same calldata sent to A's router (same address, same client id): A's client of B
    // would hold A's own state and A would receive its own outbound packet.
    assert_eq!(a.router.address(), b.router.address());
    let before = snapshot(&a.light, state.0).await;
    expect_revert(
        call(&a.router, "multicall", batch.clone()),
        "NotAttestor(address)",
    )
    .await;
    tx_fails(call(&a.router, "multicall", batch.clone())).await;
    assert_eq!(snapshot(&a.light, state.0).await, before);
    let unreceived: Vec<u64> = view(&a.router, "unreceived", (CLIENT.to_string(), vec![seq])).await;
    assert_eq!(unreceived, vec![seq], "no receipt on A");
    let trace = format!("transfer/{CLIENT}/{}", hex_addr(token));
    let voucher: Address = view(&a.ics20, "voucherOf", trace.clone()).await;
    assert_eq!(voucher, Address::zero(), "no voucher of A's own token on A");
    assert_eq!(a.balance(token, me).await, supply - 1000);

    // On B, where it was meant to go, it goes through.
    let rc = tx(call(&b.router, "multicall", batch)).await;
    assert!(event(&b.router, &rc, "RecvPacket").is_some());
    let voucher: Address = view(&b.ics20, "voucherOf", trace).await;
    assert_eq!(b.balance(voucher, me).await, 1000.into());
}

#[tokio::test]
async fn attestations_and_freeze() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let [x, y, z] = [&w.attestors[0], &w.attestors[1], &w.attestors[2]];
    let outsider = attestor(99);
    let state = b.latest().await;
    let update = |msg: Bytes| call(&a.router, "updateClient", (CLIENT.to_string(), msg));
    let msg = |state, signers: &[&LocalWallet]| w.update_msg(a, state, signers);

    expect_revert(
        call(
            &a.router,
            "updateClient",
            ("nope".to_string(), msg(state, &[x, y])),
        ),
        "UnknownClient(string)",
    )
    .await;
    // A 64-byte signature; a high-s one (the same signature's malleable twin).
    let att = StateAttestation {
        attested_chain: caip2_eip155(CHAIN_B),
        height: state.0,
        timestamp: state.1,
        state_root: state.2,
    };
    let short = encode_update(&att, &[vec![7u8; 64]]);
    expect_revert(update(short.into()), "InvalidSignatureLength(uint256)").await;
    let digest = state_digest(&a.domain_of(&a.light), &att);
    let high_s = encode_update(&att, &[sign(x, digest), malleate(&sign(y, digest))]);
    expect_revert(update(high_s.into()), "InvalidSignature(uint256)").await;
    expect_revert(update(msg(state, &[x, &outsider])), "NotAttestor(address)").await;
    expect_revert(update(msg(state, &[x, x])), "DuplicateSigner(address)").await;
    expect_revert(update(msg(state, &[z])), "QuorumNotMet(uint256,uint256)").await;
    expect_revert(
        update(msg((state.0, state.1, H256::zero()), &[x, y])),
        "InvalidAttestation()",
    )
    .await;

    // Quorum: stored; the same again is a no-op.
    let rc = tx(update(msg(state, &[z, x]))).await;
    assert!(event(&a.light, &rc, "ClientUpdated").is_some());
    let rc = tx(update(msg(state, &[y, z]))).await;
    assert!(event(&a.light, &rc, "ClientUpdated").is_none());
    assert!(event(&a.light, &rc, "ClientFrozen").is_none());

    // A packet proven at that height works until the client is frozen.
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w
        .send(b, b.token.address(), 5, &hex_addr(b.me()), far)
        .await;
    let (h, _) = w.update(a).await;
    let proof = b.proof(path_key(CLIENT, 1, 1), h).await;
    tx(call(
        &a.router,
        "recvPacket",
        (packet.clone(), proof.clone(), h),
    ))
    .await;

    // Conflicting data for a stored height: frozen, and the freeze sticks.
    let conflicting = (state.0, state.1 + 1, state.2);
    let rc = tx(update(msg(conflicting, &[x, y]))).await;
    assert!(event(&a.light, &rc, "ClientFrozen").is_some());
    assert!(view::<bool>(&a.light, "frozen", ()).await);
    let next = b.latest().await;
    expect_revert(update(msg(next, &[x, y])), "ClientIsFrozen()").await;
    expect_revert(
        call(
            &a.light,
            "verifyMembership",
            (h, proof.clone(), path_key(CLIENT, 1, 1), H256::zero()),
        ),
        "ClientIsFrozen()",
    )
    .await;
    expect_revert(
        call(
            &a.light,
            "verifyNonMembership",
            (h, proof, path_key(CLIENT, 2, 9)),
        ),
        "ClientIsFrozen()",
    )
    .await;
}

/// The other valid signature of the same digest and key: s → n − s, v flipped (EIP-2 forbids it).
fn malleate(sig: &[u8]) -> Vec<u8> {
    let n = U256::from_big_endian(
        &ethers::utils::hex::decode(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        )
        .unwrap(),
    );
    let s = U256::from_big_endian(&sig[32..64]);
    let mut out = sig.to_vec();
    (n - s).to_big_endian(&mut out[32..64]);
    out[64] = if sig[64] == 27 { 28 } else { 27 };
    out
}

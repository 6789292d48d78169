//! Attestation checks of the light client, and freezing on conflicting data.

use ethers::abi::{self, Token};
use ethers::types::{Bytes, H256};

use crate::common::{
    attestation_data, attestor, call, event, expect_revert, hex_addr, path_key, tx, view,
};
use crate::world::World;

#[tokio::test]
async fn attestations_and_freeze() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let [x, y, z] = [&w.attestors[0], &w.attestors[1], &w.attestors[2]];
    let outsider = attestor(99);
    let state = b.latest().await;
    let update = |msg: Bytes| call(&a.router, "updateClient", ("to-b".to_string(), msg));

    expect_revert(
        call(
            &a.router,
            "updateClient",
            ("nope".to_string(), w.update_msg(state, &[x, y])),
        ),
        "UnknownClient(string)",
    )
    .await;
    // A 64-byte signature.
    let short = abi::encode(&[
        Token::Bytes(attestation_data(state)),
        Token::Array(vec![Token::Bytes(vec![7u8; 64])]),
    ]);
    expect_revert(update(short.into()), "InvalidSignatureLength(uint256)").await;
    expect_revert(
        update(w.update_msg(state, &[x, &outsider])),
        "NotAttestor(address)",
    )
    .await;
    expect_revert(
        update(w.update_msg(state, &[x, x])),
        "DuplicateSigner(address)",
    )
    .await;
    expect_revert(
        update(w.update_msg(state, &[z])),
        "QuorumNotMet(uint256,uint256)",
    )
    .await;

    // Quorum: stored; the same again is a no-op.
    let rc = tx(update(w.update_msg(state, &[z, x]))).await;
    assert!(event(&a.light, &rc, "ClientUpdated").is_some());
    let rc = tx(update(w.update_msg(state, &[y, z]))).await;
    assert!(event(&a.light, &rc, "ClientUpdated").is_none());
    assert!(event(&a.light, &rc, "ClientFrozen").is_none());

    // A packet proven at that height works until the client is frozen.
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w
        .send(b, b.token.address(), 5, &hex_addr(b.me()), far)
        .await;
    let (h, _) = w.update(a).await;
    let proof = b.proof(path_key("to-a", 1, 1), h).await;
    tx(call(
        &a.router,
        "recvPacket",
        (packet.clone(), proof.clone(), h),
    ))
    .await;

    // Conflicting data for a stored height: frozen, and the freeze sticks.
    let conflicting = (state.0, state.1 + 1, state.2);
    let rc = tx(update(w.update_msg(conflicting, &[x, y]))).await;
    assert!(event(&a.light, &rc, "ClientFrozen").is_some());
    assert!(view::<bool>(&a.light, "frozen", ()).await);
    let next = b.latest().await;
    expect_revert(update(w.update_msg(next, &[x, y])), "ClientIsFrozen()").await;
    expect_revert(
        call(
            &a.light,
            "verifyMembership",
            (h, proof.clone(), path_key("to-a", 1, 1), H256::zero()),
        ),
        "ClientIsFrozen()",
    )
    .await;
    expect_revert(
        call(
            &a.light,
            "verifyNonMembership",
            (h, proof, path_key("to-a", 2, 9)),
        ),
        "ClientIsFrozen()",
    )
    .await;
}

//! Attestor rotation: a quorum of the current committee hands the client over to a new one
//! (`AttestorRotation` with the client's epoch); old keys are refused afterwards; a rotation
//! cannot be replayed; a frozen client cannot rotate.

use ethers::signers::LocalWallet;
use ethers::types::{Address, Bytes, H256};
use ferry::chain::evm::attestation::rotation_digest;

use crate::common::{addrs, attestor, call, event, expect_revert, sign, tx, uint, view};
use crate::world::{World, CLIENT};

#[tokio::test]
async fn attestor_rotation() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let [x, y, z] = [&w.attestors[0], &w.attestors[1], &w.attestors[2]];
    let new: Vec<LocalWallet> = (10..13).map(attestor).collect();
    let new_set = addrs(&[&new[0], &new[1], &new[2]]);
    let old_set = addrs(&[x, y, z]);
    let d = a.domain_of(&a.light);
    let rotate = |set: Vec<Address>, q: u8, sigs: Vec<Vec<u8>>| {
        let sigs: Vec<Bytes> = sigs.into_iter().map(Bytes::from).collect();
        call(&a.light, "rotateAttestors", (set, q, sigs))
    };
    let update = |state, signers: &[&LocalWallet]| {
        call(
            &a.router,
            "updateClient",
            (CLIENT.to_string(), w.update_msg(a, state, signers)),
        )
    };

    let d0 = rotation_digest(&d, &new_set, 2, 0);
    // Too few signers, a non-member, signatures over another quorum, invalid new sets.
    expect_revert(
        rotate(new_set.clone(), 2, vec![sign(x, d0)]),
        "QuorumNotMet(uint256,uint256)",
    )
    .await;
    expect_revert(
        rotate(new_set.clone(), 2, vec![sign(x, d0), sign(&new[0], d0)]),
        "NotAttestor(address)",
    )
    .await;
    expect_revert(
        rotate(new_set.clone(), 1, vec![sign(x, d0), sign(y, d0)]),
        "NotAttestor(address)",
    )
    .await;
    let invalid: [(Vec<Address>, u8, &str); 5] = [
        (vec![], 1, "InvalidAttestorSet()"),
        (vec![new_set[0], new_set[0]], 1, "InvalidAttestorSet()"),
        (vec![new_set[0], Address::zero()], 1, "InvalidAttestorSet()"),
        (new_set.clone(), 0, "InvalidQuorum()"),
        (new_set.clone(), 4, "InvalidQuorum()"),
    ];
    for (set, q, err) in invalid {
        let dg = rotation_digest(&d, &set, q, 0);
        expect_revert(rotate(set, q, vec![sign(x, dg), sign(y, dg)]), err).await;
    }

    // A quorum of the current set: rotated, epoch 1.
    let rc = tx(rotate(new_set.clone(), 2, vec![sign(z, d0), sign(x, d0)])).await;
    let ev = event(&a.light, &rc, "AttestorsRotated").expect("AttestorsRotated");
    assert_eq!(uint(&ev, "epoch"), 1);
    assert_eq!(view::<u64>(&a.light, "epoch", ()).await, 1);
    assert_eq!(
        view::<Vec<Address>>(&a.light, "attestors", ()).await,
        new_set
    );
    assert_eq!(view::<u8>(&a.light, "quorum", ()).await, 2);
    let got: H256 = view(&a.light, "rotationDigest", (old_set.clone(), 2u8)).await;
    let d1 = rotation_digest(&d, &old_set, 2, 1);
    assert_eq!(got, d1, "rotation digest at epoch 1");

    // Old keys are refused, alone or mixed with a new one; the new committee is accepted.
    let state = b.latest().await;
    expect_revert(update(state, &[x, y]), "NotAttestor(address)").await;
    expect_revert(update(state, &[&new[0], z]), "NotAttestor(address)").await;
    tx(update(state, &[&new[1], &new[2]])).await;

    // Back to the old committee (signed by the new one at epoch 1); then the first rotation,
    // signed by that same committee at epoch 0, replayed: refused, the epoch moved on.
    tx(rotate(
        old_set.clone(),
        2,
        vec![sign(&new[0], d1), sign(&new[2], d1)],
    ))
    .await;
    assert_eq!(view::<u64>(&a.light, "epoch", ()).await, 2);
    assert_eq!(
        view::<Vec<Address>>(&a.light, "attestors", ()).await,
        old_set
    );
    expect_revert(
        rotate(new_set.clone(), 2, vec![sign(z, d0), sign(x, d0)]),
        "NotAttestor(address)",
    )
    .await;
    // And the new committee's epoch-1 signatures are no good any more either.
    expect_revert(
        rotate(
            old_set.clone(),
            2,
            vec![sign(&new[0], d1), sign(&new[2], d1)],
        ),
        "NotAttestor(address)",
    )
    .await;

    // Frozen (a quorum signed two states for one height): no rotation either.
    let state = b.latest().await;
    tx(update(state, &[x, y])).await;
    tx(update((state.0, state.1, H256::repeat_byte(9)), &[y, z])).await;
    assert!(view::<bool>(&a.light, "frozen", ()).await);
    let d2 = rotation_digest(&d, &new_set, 2, 2);
    expect_revert(
        rotate(new_set.clone(), 2, vec![sign(x, d2), sign(y, d2)]),
        "ClientIsFrozen()",
    )
    .await;
}

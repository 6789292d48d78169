//! Two attestations of one height with different timestamps: the client freezes, then refuses
//! every update and proof until recovered.

use super::*;

#[tokio::test]
async fn conflicting_timestamp_freezes_then_refuses_everything() {
    let e = Env::new().await;
    let l = &e.light;
    let [a, b, c] = e.k();
    let proof = packet_proof(
        INITIAL_HEIGHT,
        &[(h(1), h(2)), (h(3), H256::zero())],
        &[a, b],
    );
    // A router using it, to show the freeze is what its recovery needs.
    let router = deploy(&e.client, "FerryRouter", 3600u64).await;
    tx(call(
        &router,
        "addClient",
        (CLIENT.to_string(), l.address(), COSMOS_CLIENT.to_string()),
    ))
    .await;
    let substitute = deploy(&e.client, "AttestationsLightClient", light_args(&e.keys, 2)).await;
    expect_revert(
        call(
            &router,
            "recoverClient",
            (CLIENT.to_string(), substitute.address()),
        ),
        "ClientNotFrozen(string)",
    )
    .await;

    // A quorum signs a second timestamp for the stored initial height: the transaction
    // succeeds, and the client is frozen.
    let rc = tx(call(
        l,
        "updateClient",
        update_msg(INITIAL_HEIGHT, INITIAL_TIME + 1, &[b, c]),
    ))
    .await;
    let ev = event(l, &rc, "ClientFrozen").expect("ClientFrozen");
    assert_eq!(uint(&ev, "height"), INITIAL_HEIGHT);
    assert_eq!(uint(&ev, "storedTimestamp"), INITIAL_TIME);
    assert_eq!(uint(&ev, "conflictingTimestamp"), INITIAL_TIME + 1);
    assert!(view::<bool>(l, "frozen", ()).await);
    assert_eq!(
        view::<u64>(l, "consensusTimestamp", INITIAL_HEIGHT).await,
        INITIAL_TIME,
        "the stored state is kept"
    );

    let frozen = "ClientIsFrozen()";
    expect_revert(
        call(
            l,
            "updateClient",
            update_msg(200, INITIAL_TIME + 9, &[a, b]),
        ),
        frozen,
    )
    .await;
    expect_revert(
        call(
            l,
            "updateClient",
            update_msg(INITIAL_HEIGHT, INITIAL_TIME, &[a, b]),
        ),
        frozen,
    )
    .await;
    expect_revert(
        call(
            l,
            "verifyMembership",
            (INITIAL_HEIGHT, proof.clone(), h(1), h(2)),
        ),
        frozen,
    )
    .await;
    expect_revert(
        call(l, "verifyNonMembership", (INITIAL_HEIGHT, proof, h(3))),
        frozen,
    )
    .await;
    expect_revert(
        call(
            &router,
            "updateClient",
            (
                CLIENT.to_string(),
                update_msg(200, INITIAL_TIME + 9, &[a, b]),
            ),
        ),
        frozen,
    )
    .await;
    // The router replaces it by a substitute.
    let rc = tx(call(
        &router,
        "recoverClient",
        (CLIENT.to_string(), substitute.address()),
    ))
    .await;
    assert!(event(&router, &rc, "ClientRecovered").is_some());
}

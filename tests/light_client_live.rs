//! Ferry's Tendermint light client against a live devnet chain: 100 consecutive headers verify one
//! after the other, a skip from height 2 to the latest height verifies by bisection, and a header
//! whose contents were altered after signing is rejected.

use std::time::Duration;

use ferry_light_client_tendermint::{verify, TrustedState, VerificationError};
use ferry_tests::{eventually, TestNet};

#[tokio::test(flavor = "multi_thread")]
async fn live_headers_verify_and_bisection_skips() {
    let net = TestNet::start("lightclient").await;
    let chain = net.chain("l3-appchain-1");
    let opts = chain.verify_options();

    // Enough history for 100 consecutive headers after height 2.
    eventually("height 103", Duration::from_secs(240), || {
        let chain = chain.clone();
        async move {
            (ferry::chain::Heights::latest(&*chain)
                .await
                .ok()?
                .0
                .revision_height
                >= 103)
                .then_some(())
        }
    })
    .await;

    let mut trusted_block = chain.fetch_light_block(2).await.unwrap();
    let mut trusted = TrustedState::from_light_block(&trusted_block);
    for h in 3..=102u64 {
        let block = chain.fetch_light_block(h).await.unwrap();
        trusted = verify(&block, &trusted, &opts, tendermint::Time::now())
            .unwrap_or_else(|e| panic!("height {h}: {e}"));
        assert_eq!(trusted.height.value(), h);
        trusted_block = block;
    }
    assert_eq!(trusted_block.height().value(), 102);

    // A skip from 2 to the latest height, through Ferry's bisection (as client updates do).
    let base = chain.fetch_light_block(2).await.unwrap();
    let latest = ferry::chain::Heights::latest(&*chain)
        .await
        .unwrap()
        .0
        .revision_height;
    let path = chain.verify_to(&base, latest).await.unwrap();
    assert_eq!(path.last().unwrap().height().value(), latest);

    // A header altered after it was signed: the commit no longer matches it.
    let mut forged = chain.fetch_light_block(50).await.unwrap();
    forged.signed_header.header.app_hash = tendermint::AppHash::try_from(vec![7u8; 32]).unwrap();
    let from = TrustedState::from_light_block(&chain.fetch_light_block(49).await.unwrap());
    let err = verify(&forged, &from, &opts, tendermint::Time::now()).unwrap_err();
    assert!(
        matches!(err, VerificationError::CommitForWrongBlock { .. }),
        "{err:?}"
    );
}

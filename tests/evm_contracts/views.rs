//! Deployment: every view of the router, light client and token, and the owner-only
//! administration.

use ethers::signers::Signer;
use ethers::types::{Address, Bytes, H256, U256};
use sha2::{Digest, Sha256};

use crate::common::{expect_revert, path_key};
use crate::world::World;

#[tokio::test]
async fn deploy_and_views() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let r = &a.router;
    assert_eq!(
        r.method::<_, Address>("owner", ())
            .unwrap()
            .call()
            .await
            .unwrap(),
        a.me()
    );
    assert_eq!(
        r.method::<_, Address>("lightClientOf", "to-b".to_string())
            .unwrap()
            .call()
            .await
            .unwrap(),
        a.light.address()
    );
    assert_eq!(
        r.method::<_, String>("counterpartyOf", "to-b".to_string())
            .unwrap()
            .call()
            .await
            .unwrap(),
        "to-a"
    );
    assert_eq!(
        r.method::<_, Address>("appOf", "transfer".to_string())
            .unwrap()
            .call()
            .await
            .unwrap(),
        a.ics20.address()
    );
    assert_eq!(
        r.method::<_, u64>("nextSequenceSend", "to-b".to_string())
            .unwrap()
            .call()
            .await
            .unwrap(),
        1
    );
    let key: H256 = r
        .method("pathKey", ("to-b".to_string(), 2u8, 7u64))
        .unwrap()
        .call()
        .await
        .unwrap();
    assert_eq!(key, path_key("to-b", 2, 7));
    let ack: H256 = r
        .method("commitAck", Bytes::from(vec![1u8]))
        .unwrap()
        .call()
        .await
        .unwrap();
    let mut pre = vec![2u8];
    pre.extend_from_slice(&Sha256::digest([1u8]));
    assert_eq!(ack.0.to_vec(), Sha256::digest(&pre).to_vec());

    let l = &a.light;
    let attestors: Vec<Address> = l.method("attestors", ()).unwrap().call().await.unwrap();
    assert_eq!(
        attestors,
        w.attestors.iter().map(|x| x.address()).collect::<Vec<_>>()
    );
    assert_eq!(
        l.method::<_, u8>("quorum", ())
            .unwrap()
            .call()
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        l.method::<_, Address>("counterpartyRouter", ())
            .unwrap()
            .call()
            .await
            .unwrap(),
        b.router.address()
    );
    assert!(!l
        .method::<_, bool>("frozen", ())
        .unwrap()
        .call()
        .await
        .unwrap());
    let latest: u64 = l.method("latestHeight", ()).unwrap().call().await.unwrap();
    let (ts, root): (u64, H256) = l
        .method("consensusState", latest)
        .unwrap()
        .call()
        .await
        .unwrap();
    assert!(ts > 0 && !root.is_zero());

    let t = &a.token;
    assert_eq!(
        t.method::<_, String>("symbol", ())
            .unwrap()
            .call()
            .await
            .unwrap(),
        "TST"
    );
    assert_eq!(
        t.method::<_, u8>("decimals", ())
            .unwrap()
            .call()
            .await
            .unwrap(),
        18
    );
    assert_eq!(a.balance(t.address(), a.me()).await, U256::exp10(24));

    // Administration is the owner's, and a client id is set once.
    expect_revert(
        r.method::<_, ()>(
            "addClient",
            ("to-b".to_string(), a.light.address(), "x".to_string()),
        )
        .unwrap(),
        "ClientExists(string)",
    )
    .await;
    let as_stranger = r.connect(a.stranger.clone());
    expect_revert(
        as_stranger
            .method::<_, ()>(
                "addClient",
                ("new".to_string(), a.light.address(), "x".to_string()),
            )
            .unwrap(),
        "NotOwner()",
    )
    .await;
    expect_revert(
        as_stranger
            .method::<_, ()>(
                "registerApp",
                ("transfer".to_string(), a.stranger.address()),
            )
            .unwrap(),
        "NotOwner()",
    )
    .await;
}

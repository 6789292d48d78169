//! Deployment: every view of the router, light client and token, and the owner-only
//! administration.

use ethers::signers::Signer;
use ethers::types::{Address, Bytes, H256, U256};
use sha2::{Digest, Sha256};

use crate::common::{call, expect_revert, path_key, view};
use crate::world::{World, ADMIN_DELAY, CLIENT};

#[tokio::test]
async fn deploy_and_views() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let r = &a.router;
    assert_eq!(view::<Address>(r, "owner", ()).await, a.me());
    assert_eq!(
        view::<Address>(r, "pendingOwner", ()).await,
        Address::zero()
    );
    assert_eq!(view::<u64>(r, "adminDelay", ()).await, ADMIN_DELAY);
    assert!(view::<bool>(r, "setupOpen", ()).await);
    assert_eq!(
        view::<U256>(r, "MAX_TIMEOUT_DELTA", ()).await,
        86_400.into()
    );
    assert_eq!(
        view::<Address>(r, "lightClientOf", CLIENT.to_string()).await,
        a.light.address()
    );
    assert_eq!(
        view::<String>(r, "counterpartyOf", CLIENT.to_string()).await,
        CLIENT
    );
    assert_eq!(
        view::<Address>(r, "appOf", "transfer".to_string()).await,
        a.ics20.address()
    );
    assert_eq!(
        view::<u64>(r, "nextSequenceSend", CLIENT.to_string()).await,
        1
    );
    let key: H256 = view(r, "pathKey", (CLIENT.to_string(), 2u8, 7u64)).await;
    assert_eq!(key, path_key(CLIENT, 2, 7));
    let ack: H256 = view(r, "commitAck", Bytes::from(vec![1u8])).await;
    let mut pre = vec![2u8];
    pre.extend_from_slice(&Sha256::digest([1u8]));
    assert_eq!(ack.0.to_vec(), Sha256::digest(&pre).to_vec());

    let l = &a.light;
    let attestors: Vec<Address> = view(l, "attestors", ()).await;
    assert_eq!(
        attestors,
        w.attestors.iter().map(|x| x.address()).collect::<Vec<_>>()
    );
    assert_eq!(view::<u8>(l, "quorum", ()).await, 2);
    assert_eq!(view::<u64>(l, "epoch", ()).await, 0);
    assert_eq!(view::<String>(l, "attestedChain", ()).await, "eip155:33333");
    assert_eq!(
        view::<Address>(l, "counterpartyRouter", ()).await,
        b.router.address()
    );
    assert!(!view::<bool>(l, "frozen", ()).await);
    let latest: u64 = view(l, "latestHeight", ()).await;
    let (ts, root): (u64, H256) = view(l, "consensusState", latest).await;
    assert!(ts > 0 && !root.is_zero());

    let t = &a.token;
    assert_eq!(view::<String>(t, "symbol", ()).await, "TST");
    assert_eq!(view::<u8>(t, "decimals", ()).await, 18);
    assert_eq!(a.balance(t.address(), a.me()).await, U256::exp10(24));

    // Administration is the owner's, and a client id is set once.
    expect_revert(
        call(
            r,
            "addClient",
            (CLIENT.to_string(), a.light.address(), "x".to_string()),
        ),
        "ClientExists(string)",
    )
    .await;
    let as_stranger = r.connect(a.stranger.clone());
    expect_revert(
        call(
            &as_stranger,
            "addClient",
            ("new".to_string(), a.light.address(), "x".to_string()),
        ),
        "NotOwner()",
    )
    .await;
    expect_revert(
        call(
            &as_stranger,
            "registerApp",
            ("transfer".to_string(), a.stranger.address()),
        ),
        "NotOwner()",
    )
    .await;
}

//! Every revert path of the router, the proofs and ICS-20, checked by custom error selector,
//! and multicall's all-or-nothing.

use ethers::abi::Token;
use ethers::types::{Bytes, U256};

use crate::common::{expect_revert, hex_addr, path_key, tamper, tx, with_field};
use crate::world::World;

#[tokio::test]
async fn router_and_proof_reverts() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w.send(a, token, 10, &hex_addr(me), far).await;
    let (proof, h) = w.packet_proof(a, &packet).await;
    let recv = |p: Token, proof: Bytes, h: u64| {
        b.router
            .method::<_, ()>("recvPacket", (p, proof, h))
            .unwrap()
    };

    expect_revert(
        recv(
            with_field(&packet, 2, Token::String("nope".into())),
            proof.clone(),
            h,
        ),
        "UnknownClient(string)",
    )
    .await;
    expect_revert(
        recv(
            with_field(&packet, 1, Token::String("to-c".into())),
            proof.clone(),
            h,
        ),
        "WrongCounterparty(string,string)",
    )
    .await;
    expect_revert(
        recv(
            with_field(&packet, 4, Token::Array(vec![])),
            proof.clone(),
            h,
        ),
        "InvalidPayloadCount(uint256)",
    )
    .await;
    // A different timeout changes the commitment: the proven value does not match.
    expect_revert(
        recv(
            with_field(&packet, 3, Token::Uint((far + 1).into())),
            proof.clone(),
            h,
        ),
        "MembershipValueMismatch(bytes32,bytes32)",
    )
    .await;
    // A sequence that was never sent: its slot is absent.
    let seq2 = with_field(&packet, 0, Token::Uint(2.into()));
    let proof2 = a.proof(path_key("to-b", 1, 2), h).await;
    expect_revert(recv(seq2, proof2, h), "KeyNotPresent()").await;
    expect_revert(
        recv(packet.clone(), tamper(&proof, false, 0), h),
        "ProofNodeHashMismatch(uint256)",
    )
    .await;
    expect_revert(
        recv(packet.clone(), tamper(&proof, true, 1), h),
        "ProofNodeHashMismatch(uint256)",
    )
    .await;
    expect_revert(
        recv(packet.clone(), proof.clone(), h + 1000),
        "ConsensusStateNotFound(uint64)",
    )
    .await;

    // ack / timeout of a packet whose fields differ from the commitment.
    let (ha, _) = w.update(a).await;
    let nm = b.proof(path_key("to-a", 2, 1), ha).await;
    expect_revert(
        a.router
            .method::<_, ()>(
                "timeoutPacket",
                (
                    with_field(&packet, 3, Token::Uint((far + 1).into())),
                    nm.clone(),
                    ha,
                ),
            )
            .unwrap(),
        "PacketCommitmentMismatch(bytes32,bytes32)",
    )
    .await;
    // The timeout has not passed on B.
    expect_revert(
        a.router
            .method::<_, ()>("timeoutPacket", (packet.clone(), nm, ha))
            .unwrap(),
        "TimeoutNotReached(uint64,uint64)",
    )
    .await;

    // Unauthorised callers.
    let payload = match &packet {
        Token::Tuple(f) => f[4].clone().into_array().unwrap()[0].clone(),
        _ => unreachable!(),
    };
    let router_as_stranger = a.router.connect(a.stranger.clone());
    expect_revert(
        router_as_stranger
            .method::<_, u64>("sendPacket", ("to-b".to_string(), far, payload.clone()))
            .unwrap(),
        "UnauthorizedApp(address)",
    )
    .await;
    let ics_as_stranger = b.ics20.connect(b.stranger.clone());
    let args = (
        "to-b".to_string(),
        "to-a".to_string(),
        1u64,
        payload.clone(),
    );
    expect_revert(
        ics_as_stranger
            .method::<_, Bytes>("onRecvPacket", args.clone())
            .unwrap(),
        "OnlyRouter()",
    )
    .await;
    expect_revert(
        ics_as_stranger
            .method::<_, ()>("onTimeoutPacket", args.clone())
            .unwrap(),
        "OnlyRouter()",
    )
    .await;
    expect_revert(
        ics_as_stranger
            .method::<_, ()>(
                "onAcknowledgementPacket",
                (args.0, args.1, args.2, args.3, Bytes::from(vec![1u8])),
            )
            .unwrap(),
        "OnlyRouter()",
    )
    .await;
    expect_revert(
        a.ics20
            .method::<_, u64>(
                "sendTransfer",
                (
                    token,
                    U256::from(1),
                    hex_addr(me),
                    "nope".to_string(),
                    far,
                    String::new(),
                ),
            )
            .unwrap(),
        "UnknownClient(string)",
    )
    .await;

    // multicall: all or nothing, with the inner revert data.
    let update = b
        .router
        .encode(
            "updateClient",
            (
                "to-a".to_string(),
                w.update_msg(a.latest().await, &[&w.attestors[0], &w.attestors[2]]),
            ),
        )
        .unwrap();
    let bad = b
        .router
        .encode("recvPacket", (packet.clone(), tamper(&proof, false, 0), h))
        .unwrap();
    expect_revert(
        b.router
            .method::<_, Vec<Bytes>>("multicall", vec![update.clone(), bad])
            .unwrap(),
        "ProofNodeHashMismatch(uint256)",
    )
    .await;
    let good = b
        .router
        .encode("recvPacket", (packet.clone(), proof, h))
        .unwrap();
    tx(b.router
        .method::<_, Vec<Bytes>>("multicall", vec![update, good])
        .unwrap())
    .await;
}

//! Every revert path of the router, the proofs and ICS-20, checked by custom error selector,
//! and multicall's all-or-nothing.

use ethers::abi::Token;
use ethers::types::{Bytes, U256};

use crate::common::{
    call, encode, event, expect_revert, hex_addr, packet_seq, path_key, tamper, tx, with_field,
};
use crate::world::{World, CLIENT};

#[tokio::test]
async fn router_and_proof_reverts() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w.send(a, token, 10, &hex_addr(me), far).await;
    let (proof, h) = w.packet_proof(a, &packet).await;
    let recv = |p: Token, proof: Bytes, h: u64| call(&b.router, "recvPacket", (p, proof, h));
    // The packet with field `i` changed, with the real packet's proof.
    let recv_changed =
        |i: usize, value: Token| recv(with_field(&packet, i, value), proof.clone(), h);

    expect_revert(
        recv_changed(2, Token::String("nope".into())),
        "UnknownClient(string)",
    )
    .await;
    expect_revert(
        recv_changed(1, Token::String("to-c".into())),
        "WrongCounterparty(string,string)",
    )
    .await;
    expect_revert(
        recv_changed(4, Token::Array(vec![])),
        "InvalidPayloadCount(uint256)",
    )
    .await;
    // A different timeout changes the commitment: the proven value does not match.
    expect_revert(
        recv_changed(3, Token::Uint((far + 1).into())),
        "MembershipValueMismatch(bytes32,bytes32)",
    )
    .await;
    // A sequence that was never sent: its slot is absent.
    let seq2 = with_field(&packet, 0, Token::Uint(2.into()));
    let proof2 = a.proof(path_key(CLIENT, 1, 2), h).await;
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
    let nm = b.proof(path_key(CLIENT, 2, 1), ha).await;
    expect_revert(
        call(
            &a.router,
            "timeoutPacket",
            (
                with_field(&packet, 3, Token::Uint((far + 1).into())),
                nm.clone(),
                ha,
            ),
        ),
        "PacketCommitmentMismatch(bytes32,bytes32)",
    )
    .await;
    // The timeout has not passed on B.
    expect_revert(
        call(&a.router, "timeoutPacket", (packet.clone(), nm, ha)),
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
        call(
            &router_as_stranger,
            "sendPacket",
            (CLIENT.to_string(), far, payload.clone()),
        ),
        "UnauthorizedApp(address)",
    )
    .await;
    let ics_as_stranger = b.ics20.connect(b.stranger.clone());
    let args = (
        CLIENT.to_string(),
        CLIENT.to_string(),
        1u64,
        payload.clone(),
    );
    expect_revert(
        call(&ics_as_stranger, "onRecvPacket", args.clone()),
        "OnlyRouter()",
    )
    .await;
    expect_revert(
        call(&ics_as_stranger, "onTimeoutPacket", args.clone()),
        "OnlyRouter()",
    )
    .await;
    expect_revert(
        call(
            &ics_as_stranger,
            "onAcknowledgementPacket",
            (args.0, args.1, args.2, args.3, Bytes::from(vec![1u8])),
        ),
        "OnlyRouter()",
    )
    .await;
    expect_revert(
        call(
            &a.ics20,
            "sendTransfer",
            (
                token,
                U256::from(1),
                hex_addr(me),
                "nope".to_string(),
                far,
                String::new(),
            ),
        ),
        "UnknownClient(string)",
    )
    .await;

    // multicall: all or nothing, with the inner revert data.
    let update = w.encode_update(b, a.latest().await, &[&w.attestors[0], &w.attestors[2]]);
    let bad = encode(
        &b.router,
        "recvPacket",
        (packet.clone(), tamper(&proof, false, 0), h),
    );
    expect_revert(
        call(&b.router, "multicall", vec![update.clone(), bad]),
        "ProofNodeHashMismatch(uint256)",
    )
    .await;
    let good = encode(&b.router, "recvPacket", (packet.clone(), proof, h));
    tx(call(&b.router, "multicall", vec![update, good])).await;
}

/// `sendPacket` refuses a timeout more than 24 h ahead (a relayer converting it to nanoseconds
/// would overflow past ~1.8e10 s); `sendTransfer` refuses a memo over 32 KiB and a receiver over
/// 2 KiB, as ibc-go.
#[tokio::test]
async fn send_limits() {
    let w = World::new().await;
    let a = &w.a;
    let me = hex_addr(a.me());
    let token = a.token.address();
    let send = |receiver: String, timeout: u64, memo: String| {
        call(
            &a.ics20,
            "sendTransfer",
            (
                token,
                U256::from(1),
                receiver,
                CLIENT.to_string(),
                timeout,
                memo,
            ),
        )
    };
    let now = a.latest().await.1;
    for timeout in [now + 86_400 + 60, 20_000_000_000, u64::MAX] {
        expect_revert(
            send(me.clone(), timeout, String::new()),
            "TimeoutTooFar(uint64,uint256)",
        )
        .await;
    }
    tx(send(me.clone(), now + 86_400, String::new())).await;
    expect_revert(
        send(me.clone(), now + 3600, "m".repeat(32_769)),
        "MemoTooLong(uint256,uint256)",
    )
    .await;
    expect_revert(
        send("r".repeat(2_049), now + 3600, String::new()),
        "ReceiverTooLong(uint256,uint256)",
    )
    .await;
    let rc = tx(send("r".repeat(2_048), now + 3600, "m".repeat(32_768))).await;
    let ev = event(&a.router, &rc, "SendPacket").expect("SendPacket");
    assert_eq!(packet_seq(&ev["packet"]), 2);
}

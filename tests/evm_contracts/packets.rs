//! Packet lifecycles: a full round trip (escrow, voucher, ack, voucher back, unescrow), a
//! timeout refund and an error-ack refund.

use ethers::abi::Token;
use ethers::types::{Address, Bytes, U256};
use ethers::utils::hex;

use crate::common::{
    artifacts, call, event, expect_revert, hex_addr, packet_seq, path_key, tx, view, C,
    UNIVERSAL_ERROR_ACK,
};
use crate::world::World;

#[tokio::test]
async fn happy_path_round_trip() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let supply = U256::exp10(24);
    let far = a.latest().await.1 + 3600;

    // A → B: escrow on A, voucher minted on B.
    let (packet, rc) = w.send(a, token, 1000, &hex_addr(me), far).await;
    assert_eq!(packet_seq(&packet), 1);
    assert!(event(&a.ics20, &rc, "TransferSent").is_some());
    assert_eq!(a.balance(token, me).await, supply - 1000);
    let escrowed: U256 = view(&a.ics20, "escrowed", token).await;
    assert_eq!(escrowed, 1000.into());
    let pending: Vec<u64> = view(
        &a.router,
        "pendingCommitments",
        ("to-b".to_string(), vec![1u64, 2]),
    )
    .await;
    assert_eq!(pending, vec![1]);

    let (proof, h) = w.packet_proof(a, &packet).await;
    let rc = w.recv(b, &packet, proof.clone(), h).await;
    assert!(event(&b.router, &rc, "RecvPacket").is_some());
    let ack = b.written_ack(&rc);
    assert_eq!(ack, vec![1u8]);
    let trace = format!("transfer/to-a/{}", hex_addr(token));
    let voucher: Address = view(&b.ics20, "voucherOf", trace.clone()).await;
    assert_ne!(voucher, Address::zero());
    assert_eq!(b.balance(voucher, me).await, 1000.into());
    let vc = C::new(
        voucher,
        artifacts()["VoucherToken"].abi.clone(),
        b.client.clone(),
    );
    assert_eq!(view::<String>(&vc, "name", ()).await, trace);
    assert_eq!(view::<u8>(&vc, "decimals", ()).await, 0);
    let unreceived: Vec<u64> =
        view(&b.router, "unreceived", ("to-a".to_string(), vec![1u64, 2])).await;
    assert_eq!(unreceived, vec![2]);

    // Replays and a timeout with a proof of a present receipt are refused.
    expect_revert(
        call(&b.router, "recvPacket", (packet.clone(), proof, h)),
        "PacketAlreadyReceived(uint64)",
    )
    .await;
    let (ha, _) = w.update(a).await;
    let receipt_proof = b.proof(path_key("to-a", 2, 1), ha).await;
    expect_revert(
        call(
            &a.router,
            "timeoutPacket",
            (packet.clone(), receipt_proof, ha),
        ),
        "KeyPresent()",
    )
    .await;

    // Ack on A: the commitment goes, nothing is refunded.
    let rc = w.ack(a, &packet, &ack).await;
    assert!(event(&a.router, &rc, "AckPacket").is_some());
    assert_eq!(a.balance(token, me).await, supply - 1000);
    let pending: Vec<u64> = view(
        &a.router,
        "pendingCommitments",
        ("to-b".to_string(), vec![1u64]),
    )
    .await;
    assert!(pending.is_empty());
    let (ha, _) = w.update(a).await;
    let ack_proof = b.proof(path_key("to-a", 3, 1), ha).await;
    expect_revert(
        call(
            &a.router,
            "ackPacket",
            (packet.clone(), Bytes::from(ack.clone()), ack_proof, ha),
        ),
        "PacketNotPending(uint64)",
    )
    .await;

    // B → A: the voucher is burned on B and the original unescrowed on A.
    let far_b = b.latest().await.1 + 3600;
    let (back, rc) = w.send(b, voucher, 400, &hex_addr(me), far_b).await;
    let sent = event(&b.ics20, &rc, "TransferSent").unwrap();
    assert_eq!(sent["denom"], Token::String(trace.clone()));
    assert_eq!(b.balance(voucher, me).await, 600.into());
    let (_, ack) = w.relay(b, &back).await;
    assert_eq!(ack, vec![1u8]);
    assert_eq!(a.balance(token, me).await, supply - 600);
    let escrowed: U256 = view(&a.ics20, "escrowed", token).await;
    assert_eq!(escrowed, 600.into());
    w.ack(b, &back, &ack).await;
    assert_eq!(b.balance(voucher, me).await, 600.into());
}

#[tokio::test]
async fn timeout_refund() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let supply = U256::exp10(24);
    let timeout = b.latest().await.1.max(a.latest().await.1) + 100;
    let (packet, _) = w.send(a, token, 700, &hex_addr(me), timeout).await;
    assert_eq!(a.balance(token, me).await, supply - 700);
    let (proof, h) = w.packet_proof(a, &packet).await;

    // B's clock passes the timeout: B refuses the packet.
    b.pass_time(200).await;
    expect_revert(
        call(&b.router, "recvPacket", (packet.clone(), proof, h)),
        "PacketTimedOut(uint64,uint256)",
    )
    .await;

    // A height attested before the timeout does not prove it.
    let key = path_key("to-a", 2, packet_seq(&packet));
    let h_before: u64 = view(&a.light, "latestHeight", ()).await;
    let early = b.proof(key, h_before).await;
    expect_revert(
        call(
            &a.router,
            "timeoutPacket",
            (packet.clone(), early, h_before),
        ),
        "TimeoutNotReached(uint64,uint64)",
    )
    .await;

    // One attested after it does; the sender is refunded.
    let (h, _) = w.update(a).await;
    let proof = b.proof(key, h).await;
    let rc = tx(call(
        &a.router,
        "timeoutPacket",
        (packet.clone(), proof.clone(), h),
    ))
    .await;
    assert!(event(&a.router, &rc, "TimeoutPacket").is_some());
    assert!(event(&a.ics20, &rc, "TransferRefunded").is_some());
    assert_eq!(a.balance(token, me).await, supply);
    expect_revert(
        call(&a.router, "timeoutPacket", (packet.clone(), proof, h)),
        "PacketNotPending(uint64)",
    )
    .await;
}

#[tokio::test]
async fn error_ack_refund() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let supply = U256::exp10(24);
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w.send(a, token, 500, "not-an-address", far).await;
    let (rc, ack) = w.relay(a, &packet).await;
    assert_eq!(hex::encode(&ack), UNIVERSAL_ERROR_ACK);
    assert!(event(&b.ics20, &rc, "TransferReceived").is_none());
    let trace = format!("transfer/to-a/{}", hex_addr(token));
    let voucher: Address = view(&b.ics20, "voucherOf", trace).await;
    assert_eq!(voucher, Address::zero(), "no voucher for a failed receive");
    assert_eq!(a.balance(token, me).await, supply - 500);
    let rc = w.ack(a, &packet, &ack).await;
    assert!(event(&a.ics20, &rc, "TransferRefunded").is_some());
    assert_eq!(a.balance(token, me).await, supply);
}

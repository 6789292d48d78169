//! Packet lifecycles: a full round trip (escrow, voucher, ack, voucher back, unescrow), a
//! timeout refund and an error-ack refund.

use ethers::abi::Token;
use ethers::types::{Address, Bytes, U256};
use ethers::utils::hex;

use crate::common::{
    artifacts, call, encode, event, events, expect_revert, hex_addr, packet_seq, path_key, tx,
    uint, view, C, UNIVERSAL_ERROR_ACK,
};
use crate::world::{World, CLIENT};

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
    let escrowed: U256 = view(&a.ics20, "escrowed", (CLIENT.to_string(), token)).await;
    assert_eq!(escrowed, 1000.into());
    let pending: Vec<u64> = view(
        &a.router,
        "pendingCommitments",
        (CLIENT.to_string(), vec![1u64, 2]),
    )
    .await;
    assert_eq!(pending, vec![1]);

    let (proof, h) = w.packet_proof(a, &packet).await;
    let rc = w.recv(b, &packet, proof.clone(), h).await;
    assert!(event(&b.router, &rc, "RecvPacket").is_some());
    let ack = b.written_ack(&rc);
    assert_eq!(ack, br#"{"result":"AQ=="}"#);
    let trace = format!("transfer/{CLIENT}/{}", hex_addr(token));
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
        view(&b.router, "unreceived", (CLIENT.to_string(), vec![1u64, 2])).await;
    assert_eq!(unreceived, vec![2]);

    // A second delivery is a no-op (no revert, no second receipt or ack); a timeout with a
    // proof of a present receipt is refused.
    let rc = tx(call(&b.router, "recvPacket", (packet.clone(), proof, h))).await;
    assert!(event(&b.router, &rc, "RecvPacket").is_none());
    assert_eq!(
        uint(&event(&b.router, &rc, "PacketNoop").unwrap(), "kind"),
        1
    );
    let (ha, _) = w.update(a).await;
    let receipt_proof = b.proof(path_key(CLIENT, 2, 1), ha).await;
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
        (CLIENT.to_string(), vec![1u64]),
    )
    .await;
    assert!(pending.is_empty());
    let (ha, _) = w.update(a).await;
    let ack_proof = b.proof(path_key(CLIENT, 3, 1), ha).await;
    let rc = tx(call(
        &a.router,
        "ackPacket",
        (packet.clone(), Bytes::from(ack.clone()), ack_proof, ha),
    ))
    .await;
    assert!(event(&a.router, &rc, "AckPacket").is_none());
    assert_eq!(
        uint(&event(&a.router, &rc, "PacketNoop").unwrap(), "kind"),
        2
    );

    // B → A: the voucher is burned on B and the original unescrowed on A.
    let far_b = b.latest().await.1 + 3600;
    let (back, rc) = w.send(b, voucher, 400, &hex_addr(me), far_b).await;
    let sent = event(&b.ics20, &rc, "TransferSent").unwrap();
    assert_eq!(sent["denom"], Token::String(trace.clone()));
    assert_eq!(b.balance(voucher, me).await, 600.into());
    let (_, ack) = w.relay(b, &back).await;
    assert_eq!(ack, br#"{"result":"AQ=="}"#);
    assert_eq!(a.balance(token, me).await, supply - 600);
    let escrowed: U256 = view(&a.ics20, "escrowed", (CLIENT.to_string(), token)).await;
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
    let key = path_key(CLIENT, 2, packet_seq(&packet));
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
    let rc = tx(call(&a.router, "timeoutPacket", (packet.clone(), proof, h))).await;
    assert!(event(&a.ics20, &rc, "TransferRefunded").is_none());
    assert_eq!(
        uint(&event(&a.router, &rc, "PacketNoop").unwrap(), "kind"),
        3
    );
    assert_eq!(a.balance(token, me).await, supply);
    let escrowed: U256 = view(&a.ics20, "escrowed", (CLIENT.to_string(), token)).await;
    assert!(escrowed.is_zero());
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
    let trace = format!("transfer/{CLIENT}/{}", hex_addr(token));
    let voucher: Address = view(&b.ics20, "voucherOf", trace).await;
    assert_eq!(voucher, Address::zero(), "no voucher for a failed receive");
    assert_eq!(a.balance(token, me).await, supply - 500);
    let rc = w.ack(a, &packet, &ack).await;
    assert!(event(&a.ics20, &rc, "TransferRefunded").is_some());
    assert_eq!(a.balance(token, me).await, supply);
}

/// A third party (the `stranger`, copying Ferry's calldata) delivers one packet of Ferry's batch
/// first: Ferry's `multicall` still goes through, that packet is a `PacketNoop`, the others are
/// delivered. The same for acknowledgements and timeouts, and a packet already received is a
/// no-op even after its timeout has passed.
#[tokio::test]
async fn redundant_delivery_is_a_noop() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let supply = U256::exp10(24);
    let signers = [&w.attestors[0], &w.attestors[1]];
    let far = a.latest().await.1 + 3600;
    let mut packets = Vec::new();
    for _ in 0..3 {
        packets.push(w.send(a, token, 10, &hex_addr(me), far).await.0);
    }

    // Receives: Ferry's batch for B is the update and three receives at one attested height.
    let state = a.latest().await;
    let mut batch = vec![w.encode_update(b, state, &signers)];
    for p in &packets {
        let proof = a.proof(path_key(CLIENT, 1, packet_seq(p)), state.0).await;
        batch.push(encode(&b.router, "recvPacket", (p.clone(), proof, state.0)));
    }
    let b_stranger = b.router.connect(b.stranger.clone());
    tx(call(
        &b_stranger,
        "multicall",
        vec![batch[0].clone(), batch[2].clone()],
    ))
    .await;
    let rc = tx(call(&b.router, "multicall", batch)).await;
    let noops = events(&b.router, &rc, "PacketNoop");
    assert_eq!(noops.len(), 1);
    assert_eq!(
        (uint(&noops[0], "sequence"), uint(&noops[0], "kind")),
        (2, 1)
    );
    let received: Vec<u64> = events(&b.router, &rc, "RecvPacket")
        .iter()
        .map(|e| uint(e, "sequence"))
        .collect();
    assert_eq!(received, vec![1, 3]);
    assert_eq!(events(&b.router, &rc, "WriteAcknowledgement").len(), 2);
    let unreceived: Vec<u64> = view(
        &b.router,
        "unreceived",
        (CLIENT.to_string(), vec![1u64, 2, 3]),
    )
    .await;
    assert!(unreceived.is_empty());
    let trace = format!("transfer/{CLIENT}/{}", hex_addr(token));
    let voucher: Address = view(&b.ics20, "voucherOf", trace).await;
    assert_eq!(b.balance(voucher, me).await, 30.into(), "minted once each");

    // Acknowledgements: the stranger acknowledges packet 1 first.
    let ack = Bytes::from(br#"{"result":"AQ=="}"#.to_vec());
    let state = b.latest().await;
    let mut batch = vec![w.encode_update(a, state, &signers)];
    for p in &packets {
        let proof = b.proof(path_key(CLIENT, 3, packet_seq(p)), state.0).await;
        batch.push(encode(
            &a.router,
            "ackPacket",
            (p.clone(), ack.clone(), proof, state.0),
        ));
    }
    let a_stranger = a.router.connect(a.stranger.clone());
    tx(call(
        &a_stranger,
        "multicall",
        vec![batch[0].clone(), batch[1].clone()],
    ))
    .await;
    let rc = tx(call(&a.router, "multicall", batch)).await;
    let noops = events(&a.router, &rc, "PacketNoop");
    assert_eq!(noops.len(), 1);
    assert_eq!(
        (uint(&noops[0], "sequence"), uint(&noops[0], "kind")),
        (1, 2)
    );
    let acked: Vec<u64> = events(&a.router, &rc, "AckPacket")
        .iter()
        .map(|e| uint(e, "sequence"))
        .collect();
    assert_eq!(acked, vec![2, 3]);
    let pending: Vec<u64> = view(
        &a.router,
        "pendingCommitments",
        (CLIENT.to_string(), vec![1u64, 2, 3]),
    )
    .await;
    assert!(pending.is_empty());

    // Timeouts: four packets that time out on B; the first is received in time.
    let timeout = b.latest().await.1.max(a.latest().await.1) + 100;
    let mut late = Vec::new();
    for _ in 0..4 {
        late.push(w.send(a, token, 100, &hex_addr(me), timeout).await.0);
    }
    assert_eq!(a.balance(token, me).await, supply - 430);
    let (proof4, h4) = w.packet_proof(a, &late[0]).await;
    w.recv(b, &late[0], proof4.clone(), h4).await;
    b.pass_time(200).await;
    // Delivered again after its timeout: a no-op, not PacketTimedOut.
    let rc = tx(call(&b.router, "recvPacket", (late[0].clone(), proof4, h4))).await;
    assert_eq!(
        uint(&event(&b.router, &rc, "PacketNoop").unwrap(), "kind"),
        1
    );

    let state = b.latest().await;
    let mut batch = vec![w.encode_update(a, state, &signers)];
    for p in &late[1..] {
        let proof = b.proof(path_key(CLIENT, 2, packet_seq(p)), state.0).await;
        batch.push(encode(
            &a.router,
            "timeoutPacket",
            (p.clone(), proof, state.0),
        ));
    }
    tx(call(
        &a_stranger,
        "multicall",
        vec![batch[0].clone(), batch[3].clone()],
    ))
    .await;
    let rc = tx(call(&a.router, "multicall", batch)).await;
    let noops = events(&a.router, &rc, "PacketNoop");
    assert_eq!(noops.len(), 1);
    assert_eq!(
        (uint(&noops[0], "sequence"), uint(&noops[0], "kind")),
        (7, 3)
    );
    let timed_out: Vec<u64> = events(&a.router, &rc, "TimeoutPacket")
        .iter()
        .map(|e| uint(e, "sequence"))
        .collect();
    assert_eq!(timed_out, vec![5, 6]);
    // Refunded once each (the stranger's timeout refunded packet 7): only 30 + 100 stay out.
    assert_eq!(a.balance(token, me).await, supply - 130);
    let escrowed: U256 = view(&a.ics20, "escrowed", (CLIENT.to_string(), token)).await;
    assert_eq!(escrowed, 130.into());
}

//! The router end to end over Ferry's `AttestationsLightClient`: a Cosmos packet proven by the
//! committee, received, acknowledged, and its ack proven back.

use super::*;

/// FerryRouter + ICS20Transfer + TestToken on anvil, with an `AttestationsLightClient` as client
/// `attestations-0` of a Cosmos chain whose own client of this chain is `attestations-1`.
struct Path {
    e: Env,
    router: C,
    ics20: C,
    token: C,
}

impl Path {
    async fn new() -> Path {
        let e = Env::new().await;
        let router = deploy(&e.client, "FerryRouter", 3600u64).await;
        let ics20 = deploy(&e.client, "ICS20Transfer", router.address()).await;
        let token = deploy(
            &e.client,
            "TestToken",
            (
                "Test Token".to_string(),
                "TST".to_string(),
                18u8,
                U256::exp10(24),
            ),
        )
        .await;
        tx(call(
            &router,
            "addClient",
            (
                CLIENT.to_string(),
                e.light.address(),
                COSMOS_CLIENT.to_string(),
            ),
        ))
        .await;
        tx(call(
            &router,
            "registerApp",
            ("transfer".to_string(), ics20.address()),
        ))
        .await;
        tx(call(&token, "approve", (ics20.address(), U256::MAX))).await;
        Path {
            e,
            router,
            ics20,
            token,
        }
    }

    /// Attests (height, timestamp) through the router; returns the gas used.
    async fn attest_state(&self, height: u64, timestamp: u64) -> u64 {
        let [a, b, _] = self.e.k();
        let msg = update_msg(height, timestamp, &[a, b]);
        gas(&tx(call(
            &self.router,
            "updateClient",
            (CLIENT.to_string(), msg),
        ))
        .await)
    }

    fn packet_attestation(&self, height: u64, entries: &[(H256, H256)]) -> Bytes {
        let [_, b, c] = self.e.k();
        packet_proof(height, entries, &[b, c])
    }
}

/// An ICS-20 packet from the Cosmos chain (`attestations-1` → `attestations-0`), ABI encoding.
fn cosmos_packet(seq: u64, timeout: u64, denom: &str, amount: u64, receiver: Address) -> Token {
    let data = abi::encode(&[Token::Tuple(vec![
        Token::String(denom.into()),
        Token::String("cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu".into()),
        Token::String(hex_addr(receiver)),
        Token::Uint(amount.into()),
        Token::String(String::new()),
    ])]);
    Token::Tuple(vec![
        Token::Uint(seq.into()),
        Token::String(COSMOS_CLIENT.into()),
        Token::String(CLIENT.into()),
        Token::Uint(timeout.into()),
        Token::Array(vec![Token::Tuple(vec![
            Token::String("transfer".into()),
            Token::String("transfer".into()),
            Token::String("ics20-1".into()),
            Token::String("application/x-solidity-abi".into()),
            Token::Bytes(data),
        ])]),
    ])
}

/// ibc-go v2's packet commitment, computed here from the packet's fields.
fn commitment_of(packet: &Token) -> H256 {
    let Token::Tuple(f) = packet else { panic!() };
    let dest = f[2].clone().into_string().unwrap();
    let timeout = f[3].clone().into_uint().unwrap().as_u64();
    let Token::Tuple(p) = &f[4].clone().into_array().unwrap()[0] else {
        panic!()
    };
    let mut payload = Vec::new();
    for field in &p[..4] {
        payload.extend_from_slice(&sha(field.clone().into_string().unwrap().as_bytes()));
    }
    payload.extend_from_slice(&sha(&p[4].clone().into_bytes().unwrap()));
    let payload_hash = sha(&payload);
    let mut pre = vec![0x02];
    pre.extend_from_slice(&sha(dest.as_bytes()));
    pre.extend_from_slice(&sha(&timeout.to_be_bytes()));
    pre.extend_from_slice(&sha(&payload_hash));
    H256(sha(&pre))
}

/// ibc-go v2's acknowledgement commitment of one app acknowledgement.
fn ack_commitment(ack: &[u8]) -> H256 {
    let mut pre = vec![0x02];
    pre.extend_from_slice(&sha(ack));
    H256(sha(&pre))
}

#[tokio::test]
async fn router_end_to_end() {
    let p = Path::new().await;
    let (r, e) = (&p.router, &p.e);
    let me = e.client.address();
    let now = e.now().await;

    // The success ack is ibc-go's JSON.
    let ack_const: String = view(&p.ics20, "SUCCESS_ACK", ()).await;
    assert_eq!(ack_const.as_bytes(), SUCCESS_ACK);

    // --- Cosmos → EVM: receive a packet whose commitment was attested.
    let packet = cosmos_packet(1, now + 3600, "uatom", 1000, me);
    let commitment = commitment_of(&packet);
    assert_eq!(
        view::<H256>(r, "commitPacket", (packet.clone(),)).await,
        commitment
    );
    let update_gas = p.attest_state(101, now).await;
    let key = path_key(COSMOS_CLIENT, 1, 1);
    let proof = p.packet_attestation(101, &[(key, commitment)]);
    // Not the packet that was attested (another amount): refused through the router.
    let forged = cosmos_packet(1, now + 3600, "uatom", 1_000_000, me);
    expect_revert(
        call(r, "recvPacket", (forged, proof.clone(), 101u64)),
        "NotMember(bytes32,bytes32)",
    )
    .await;
    // Nor at a height with no consensus state.
    expect_revert(
        call(r, "recvPacket", (packet.clone(), proof.clone(), 102u64)),
        "NoConsensusState(uint64)",
    )
    .await;
    let rc = tx(call(
        r,
        "recvPacket",
        (packet.clone(), proof.clone(), 101u64),
    ))
    .await;
    let recv_gas = gas(&rc);
    let trace = format!("transfer/{CLIENT}/uatom");
    let voucher: Address = view(&p.ics20, "voucherOf", trace.clone()).await;
    assert_ne!(voucher, Address::zero());
    let vc = C::new(
        voucher,
        artifacts()["VoucherToken"].abi.clone(),
        e.client.clone(),
    );
    assert_eq!(view::<U256>(&vc, "balanceOf", me).await, 1000.into());
    let written = event(r, &rc, "WriteAcknowledgement").expect("WriteAcknowledgement");
    assert_eq!(
        written["acknowledgement"].clone().into_bytes().unwrap(),
        SUCCESS_ACK
    );
    let stored: H256 = view(r, "commitments", path_key(CLIENT, 3, 1)).await;
    assert_eq!(stored, ack_commitment(SUCCESS_ACK));
    assert_eq!(
        hex::encode(stored),
        hex::encode(ack_commitment(br#"{"result":"AQ=="}"#))
    );
    let receipt: H256 = view(r, "commitments", path_key(CLIENT, 2, 1)).await;
    assert_eq!(receipt, H256::from_low_u64_be(1));
    // Delivered again: a no-op.
    let rc = tx(call(r, "recvPacket", (packet, proof, 101u64))).await;
    assert!(event(r, &rc, "PacketNoop").is_some());
    assert_eq!(view::<U256>(&vc, "balanceOf", me).await, 1000.into());

    // A second packet of the same denom, alone in its attestation; a third in an attestation
    // that lists another commitment first.
    let packet2 = cosmos_packet(2, now + 3600, "uatom", 5, me);
    p.attest_state(102, now + 1).await;
    let proof2 = p.packet_attestation(
        102,
        &[(path_key(COSMOS_CLIENT, 1, 2), commitment_of(&packet2))],
    );
    let rc = tx(call(r, "recvPacket", (packet2, proof2, 102u64))).await;
    let recv_known_gas = gas(&rc);
    let packet3 = cosmos_packet(3, now + 3600, "uatom", 7, me);
    let proof3 = p.packet_attestation(
        102,
        &[
            (h(7), h(8)),
            (path_key(COSMOS_CLIENT, 1, 3), commitment_of(&packet3)),
        ],
    );
    let rc = tx(call(r, "recvPacket", (packet3, proof3, 102u64))).await;
    let recv_second_of_two_gas = gas(&rc);
    assert_eq!(view::<U256>(&vc, "balanceOf", me).await, 1012.into());

    // --- EVM → Cosmos: acknowledged with the JSON success ack (no refund), or timed out (refund).
    let supply = U256::exp10(24);
    let send = |timeout: u64| {
        call(
            &p.ics20,
            "sendTransfer",
            (
                p.token.address(),
                U256::from(300u64),
                "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu".to_string(),
                CLIENT.to_string(),
                timeout,
                String::new(),
            ),
        )
    };
    let balance = || async { view::<U256>(&p.token, "balanceOf", me).await };
    let rc = tx(send(now + 3600)).await;
    let sent = event(r, &rc, "SendPacket").expect("SendPacket")["packet"].clone();
    assert_eq!(balance().await, supply - 300);
    p.attest_state(103, now + 2).await;
    let ack_proof = p.packet_attestation(
        103,
        &[(path_key(COSMOS_CLIENT, 3, 1), ack_commitment(SUCCESS_ACK))],
    );
    // Another ack than the attested one is refused.
    expect_revert(
        call(
            r,
            "ackPacket",
            (
                sent.clone(),
                Bytes::from(vec![1u8]),
                ack_proof.clone(),
                103u64,
            ),
        ),
        "NotMember(bytes32,bytes32)",
    )
    .await;
    let rc = tx(call(
        r,
        "ackPacket",
        (sent, Bytes::from(SUCCESS_ACK.to_vec()), ack_proof, 103u64),
    ))
    .await;
    assert!(event(r, &rc, "AckPacket").is_some());
    assert!(events(&p.ics20, &rc, "TransferRefunded").is_empty());
    assert_eq!(balance().await, supply - 300);
    let pending: H256 = view(r, "commitments", path_key(CLIENT, 1, 1)).await;
    assert!(pending.is_zero());

    let timeout = now + 600;
    let rc = tx(send(timeout)).await;
    let sent = event(r, &rc, "SendPacket").expect("SendPacket")["packet"].clone();
    let receipt_key = path_key(COSMOS_CLIENT, 2, 2);
    // The Cosmos chain at a time before the timeout: not timed out yet.
    p.attest_state(104, timeout - 1).await;
    let early = p.packet_attestation(104, &[(receipt_key, H256::zero())]);
    expect_revert(
        call(r, "timeoutPacket", (sent.clone(), early, 104u64)),
        "TimeoutNotReached(uint64,uint64)",
    )
    .await;
    p.attest_state(105, timeout).await;
    // A receipt attested present is no timeout.
    let received = p.packet_attestation(105, &[(receipt_key, h(2))]);
    expect_revert(
        call(r, "timeoutPacket", (sent.clone(), received, 105u64)),
        "NonMembershipFailed(bytes32,bytes32)",
    )
    .await;
    let absent = p.packet_attestation(105, &[(receipt_key, H256::zero())]);
    let rc = tx(call(r, "timeoutPacket", (sent, absent, 105u64))).await;
    assert!(event(&p.ics20, &rc, "TransferRefunded").is_some());
    assert_eq!(balance().await, supply - 300);

    println!("gas: updateClient through the router, 2 of 3 signatures: {update_gas}");
    println!(
        "gas: recvPacket via AttestationsLightClient, single-packet attestation, \
         first of its denom (voucher deployed): {recv_gas}"
    );
    println!(
        "gas: recvPacket via AttestationsLightClient, single-packet attestation, \
         known denom: {recv_known_gas}"
    );
    println!(
        "gas: recvPacket via AttestationsLightClient, 2-packet attestation, \
         known denom: {recv_second_of_two_gas}"
    );
    assert!(
        recv_known_gas < 250_000,
        "recvPacket used {recv_known_gas} gas"
    );
}

/// A batch passes the same attestation to each of its packets: the signatures are checked for the
/// first and remembered for the rest of the transaction, while each packet's own entry is still
/// checked (a packet the attestation does not list fails the whole batch).
#[tokio::test]
async fn one_attestation_is_checked_once_per_transaction() {
    let p = Path::new().await;
    let (r, e) = (&p.router, &p.e);
    let [a, b, c] = e.k();
    let me = e.client.address();
    let now = e.now().await;
    // The first packet of the denom deploys its voucher; the batch's packets then mint.
    p.attest_state(101, now).await;
    let first = cosmos_packet(1, now + 3600, "uatom", 1, me);
    let proof = p.packet_attestation(
        101,
        &[(path_key(COSMOS_CLIENT, 1, 1), commitment_of(&first))],
    );
    tx(call(r, "recvPacket", (first, proof, 101u64))).await;

    p.attest_state(102, now + 1).await;
    let packets: Vec<Token> = (2..=4)
        .map(|seq| cosmos_packet(seq, now + 3600, "uatom", 10, me))
        .collect();
    let entries: Vec<(H256, H256)> = packets
        .iter()
        .zip(2..)
        .map(|(pk, seq)| (path_key(COSMOS_CLIENT, 1, seq), commitment_of(pk)))
        .collect();
    // The same attestation signed by b and c, and by a and b: equally valid, not the same proof.
    let by_bc = packet_proof(102, &entries, &[b, c]);
    let by_ab = packet_proof(102, &entries, &[a, b]);
    let recv = |i: usize, proof: &Bytes| {
        encode(r, "recvPacket", (packets[i].clone(), proof.clone(), 102u64))
    };
    let estimate = |calls: Vec<Bytes>| async move {
        call(r, "multicall", (calls,))
            .estimate_gas()
            .await
            .expect("estimate multicall")
            .as_u64()
    };
    let shared = estimate(vec![recv(0, &by_bc), recv(1, &by_bc)]).await;
    let distinct = estimate(vec![recv(0, &by_bc), recv(1, &by_ab)]).await;
    println!("gas: 2 recvPacket in one multicall, one attestation shared: {shared}, two different: {distinct}");
    // Two ecrecovers, two sha256 and a cold attestor lookup skipped (about 8k).
    assert!(
        distinct > shared + 5_000,
        "shared proof {shared} gas, distinct proofs {distinct}"
    );

    // A packet the attestation does not list, behind one that it does: refused.
    let forged = cosmos_packet(3, now + 3600, "uatom", 1_000_000, me);
    expect_revert(
        call(
            r,
            "multicall",
            (vec![
                recv(0, &by_bc),
                encode(r, "recvPacket", (forged, by_bc.clone(), 102u64)),
            ],),
        ),
        "NotMember(bytes32,bytes32)",
    )
    .await;

    let rc = tx(call(
        r,
        "multicall",
        (vec![recv(0, &by_bc), recv(1, &by_bc), recv(2, &by_bc)],),
    ))
    .await;
    assert_eq!(events(r, &rc, "RecvPacket").len(), 3);
    let trace = format!("transfer/{CLIENT}/uatom");
    let voucher: Address = view(&p.ics20, "voucherOf", trace).await;
    let vc = C::new(
        voucher,
        artifacts()["VoucherToken"].abi.clone(),
        e.client.clone(),
    );
    assert_eq!(view::<U256>(&vc, "balanceOf", me).await, 31.into());
}

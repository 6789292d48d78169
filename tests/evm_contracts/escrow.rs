//! ICS-20 escrow per (client, token), the port checks, and a hostile token whose `transfer`
//! reverts.

use ethers::abi::{self, Token};
use ethers::contract::ContractFactory;
use ethers::types::{Address, Bytes, U256};
use ethers::utils::hex;
use ferry::chain::evm::attestation::caip2_eip155;

use crate::common::{
    artifacts, call, event, expect_revert, hex_addr, packet_seq, path_key, tx, view, C,
    UNIVERSAL_ERROR_ACK,
};
use crate::world::{signed_update, Chain, World, CHAIN_B, CLIENT, CLIENT2};

/// An ICS-20 payload as `ICS20Transfer` builds it, from `source_port` to `dest_port`.
fn ics20_payload(
    source_port: &str,
    dest_port: &str,
    denom: &str,
    sender: Address,
    receiver: Address,
    amount: u64,
) -> Token {
    let data = abi::encode(&[Token::Tuple(vec![
        Token::String(denom.into()),
        Token::String(hex_addr(sender)),
        Token::String(hex_addr(receiver)),
        Token::Uint(amount.into()),
        Token::String(String::new()),
    ])]);
    Token::Tuple(vec![
        Token::String(source_port.into()),
        Token::String(dest_port.into()),
        Token::String("ics20-1".into()),
        Token::String("application/x-solidity-abi".into()),
        Token::Bytes(data),
    ])
}

/// `payload` sent over `client` on `from` by its `stranger` account, bound to `port` for the
/// moment by the owner (as a hostile or misconfigured counterparty could): returns the packet.
async fn send_as_stranger(from: &Chain, port: &str, client: &str, payload: Token) -> Token {
    let before: Address = view(&from.router, "appOf", port.to_string()).await;
    let stranger = from.stranger.address();
    tx(call(
        &from.router,
        "registerApp",
        (port.to_string(), stranger),
    ))
    .await;
    let timeout = from.latest().await.1 + 3600;
    let as_stranger = from.router.connect(from.stranger.clone());
    let rc = tx(call(
        &as_stranger,
        "sendPacket",
        (client.to_string(), timeout, payload),
    ))
    .await;
    tx(call(
        &from.router,
        "registerApp",
        (port.to_string(), before),
    ))
    .await;
    event(&from.router, &rc, "SendPacket").expect("SendPacket")["packet"].clone()
}

#[tokio::test]
async fn escrow_is_per_client() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let token = a.token.address();
    let supply = U256::exp10(24);
    let (a1, _) = w.second_pair().await;

    // 1000 of A's token leave over attestations-0: escrowed on A for that path.
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w.send(a, token, 1000, &hex_addr(me), far).await;
    w.relay(a, &packet).await;
    let held = a.balance(token, a.ics20.address()).await;
    assert_eq!(held, 1000.into());

    // Over attestations-1 arrives a packet that claims to bring 1000 of them home.
    let thief = b.stranger.address();
    let denom = format!("transfer/{CLIENT2}/{}", hex_addr(token));
    let payload = ics20_payload("transfer", "transfer", &denom, thief, thief, 1000);
    let forged = send_as_stranger(b, "transfer", CLIENT2, payload).await;
    let state = b.latest().await;
    let msg = signed_update(
        &a.domain_of(&a1),
        &caip2_eip155(CHAIN_B),
        state,
        &[&w.attestors[0], &w.attestors[1]],
    );
    tx(call(&a.router, "updateClient", (CLIENT2.to_string(), msg))).await;
    let proof = b
        .proof(path_key(CLIENT2, 1, packet_seq(&forged)), state.0)
        .await;
    let rc = w.recv(a, &forged, proof, state.0).await;
    assert_eq!(hex::encode(a.written_ack(&rc)), UNIVERSAL_ERROR_ACK);
    assert!(event(&a.ics20, &rc, "TransferReceived").is_none());
    assert_eq!(a.balance(token, thief).await, 0.into());
    assert_eq!(a.balance(token, a.ics20.address()).await, 1000.into());
    assert_eq!(a.balance(token, me).await, supply - 1000);
    let escrowed = |client: &str| {
        let c = a.ics20.clone();
        let client = client.to_string();
        async move { view::<U256>(&c, "escrowed", (client, token)).await }
    };
    assert_eq!(escrowed(CLIENT).await, 1000.into());
    assert_eq!(escrowed(CLIENT2).await, 0.into());

    // The real voucher coming home over attestations-0 is released from that path's escrow.
    let trace = format!("transfer/{CLIENT}/{}", hex_addr(token));
    let voucher: Address = view(&b.ics20, "voucherOf", trace).await;
    let far_b = b.latest().await.1 + 3600;
    let (back, _) = w.send(b, voucher, 400, &hex_addr(me), far_b).await;
    let (_, ack) = w.relay(b, &back).await;
    assert_eq!(ack, br#"{"result":"AQ=="}"#);
    assert_eq!(a.balance(token, me).await, supply - 600);
    assert_eq!(escrowed(CLIENT).await, 600.into());
}

#[tokio::test]
async fn foreign_ports_get_the_error_ack() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let denom = hex_addr(b.token.address());
    // A's ICS-20 app is also bound to port `other` (a misconfiguration the app must survive).
    tx(call(
        &a.router,
        "registerApp",
        ("other".to_string(), a.ics20.address()),
    ))
    .await;
    for (src, dst) in [("evil", "transfer"), ("transfer", "other")] {
        let payload = ics20_payload(src, dst, &denom, b.me(), me, 5);
        let packet = send_as_stranger(b, src, CLIENT, payload).await;
        let (rc, ack) = w.relay(b, &packet).await;
        assert_eq!(hex::encode(&ack), UNIVERSAL_ERROR_ACK, "{src} -> {dst}");
        assert!(event(&a.ics20, &rc, "TransferReceived").is_none());
    }
    let trace = format!("transfer/{CLIENT}/{denom}");
    let voucher: Address = view(&a.ics20, "voucherOf", trace).await;
    assert_eq!(voucher, Address::zero(), "nothing minted");
}

#[tokio::test]
async fn hostile_token_refund_reverts() {
    let art = artifacts()["HostileToken"].clone();
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = a.me();
    let hostile: C = ContractFactory::new(art.abi.clone(), art.bytecode.clone(), a.client.clone())
        .deploy((
            "Hostile".to_string(),
            "HST".to_string(),
            18u8,
            U256::from(1_000_000u64),
        ))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(a.balance(hostile.address(), me).await, 1_000_000.into());
    expect_revert(
        call(&hostile, "transfer", (b.me(), U256::one())),
        "TransferDisabled()",
    )
    .await;
    tx(call(&hostile, "approve", (a.ics20.address(), U256::MAX))).await;

    // transferFrom works: it is escrowed and sent; B cannot deliver it (bad receiver).
    let far = a.latest().await.1 + 3600;
    let (packet, _) = w
        .send(a, hostile.address(), 100, "not-an-address", far)
        .await;
    assert_eq!(a.balance(hostile.address(), me).await, 999_900.into());
    let (_, ack) = w.relay(a, &packet).await;
    assert_eq!(hex::encode(&ack), UNIVERSAL_ERROR_ACK);
    // The refund's transfer reverts, so the acknowledgement cannot be processed: the packet
    // stays pending (Ferry quarantines it).
    let (h, _) = w.update(a).await;
    let proof = b.proof(path_key(CLIENT, 3, packet_seq(&packet)), h).await;
    expect_revert(
        call(
            &a.router,
            "ackPacket",
            (packet.clone(), Bytes::from(ack), proof, h),
        ),
        "TokenTransferFailed(address)",
    )
    .await;
    let pending: Vec<u64> = view(
        &a.router,
        "pendingCommitments",
        (CLIENT.to_string(), vec![packet_seq(&packet)]),
    )
    .await;
    assert_eq!(pending, vec![packet_seq(&packet)]);
}

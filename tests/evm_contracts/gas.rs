//! Gas figures, written to `bench-results/evm-gas.json`.

use crate::common::{call, encode, gas, hex_addr, packet_seq, path_key, tx};
use crate::world::World;

#[tokio::test]
async fn gas_report() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = hex_addr(a.me());
    let token = a.token.address();
    let far = a.latest().await.1 + 3600;

    let (p1, _) = w.send(a, token, 100, &me, far).await;
    let (h, update_gas) = w.update(b).await;
    let proof = a.proof(path_key("to-b", 1, 1), h).await;
    let recv_first = gas(&w.recv(b, &p1, proof, h).await);
    let (p2, _) = w.send(a, token, 100, &me, far).await;
    let (proof2, h2) = w.packet_proof(a, &p2).await;
    let proof_bytes = proof2.len();
    let recv_later = gas(&w.recv(b, &p2, proof2, h2).await);
    let ack = gas(&w.ack(a, &p1, &[1u8]).await);

    // updateClient + 10 recvPackets in one multicall.
    let mut packets = Vec::new();
    for _ in 0..10 {
        packets.push(w.send(a, token, 1, &me, far).await.0);
    }
    let state = a.latest().await;
    let mut calls = vec![w.encode_update(b, state, &[&w.attestors[1], &w.attestors[2]])];
    for p in &packets {
        let proof = a.proof(path_key("to-b", 1, packet_seq(p)), state.0).await;
        calls.push(encode(&b.router, "recvPacket", (p.clone(), proof, state.0)));
    }
    let multicall = gas(&tx(call(&b.router, "multicall", calls)).await);

    // A timeout.
    let timeout = b.latest().await.1.max(a.latest().await.1) + 60;
    let (pt, _) = w.send(a, token, 100, &me, timeout).await;
    b.pass_time(120).await;
    let (h, _) = w.update(a).await;
    let proof = b.proof(path_key("to-a", 2, packet_seq(&pt)), h).await;
    let timeout_gas = gas(&tx(call(&a.router, "timeoutPacket", (pt, proof, h))).await);

    let report = serde_json::json!({
        "note": "transaction gasUsed on anvil (chain ids 31337/33333, auto-mine); 2-of-3 attestations; proofs from eth_getProof of small devnet tries",
        "updateClient": update_gas,
        "recvPacket_first_of_denom": recv_first,
        "recvPacket_known_denom": recv_later,
        "recvPacket_proof_bytes": proof_bytes,
        "ackPacket": ack,
        "timeoutPacket": timeout_gas,
        "multicall_updateClient_plus_10_recvPacket": multicall,
        "multicall_per_recvPacket_approx": (multicall - update_gas) / 10,
    });
    println!(
        "EVM gas: {}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench-results");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        format!("{dir}/evm-gas.json"),
        serde_json::to_string_pretty(&report).unwrap() + "\n",
    )
    .unwrap();
    assert!(
        recv_later <= 250_000,
        "recvPacket of a known denom used {recv_later} gas (> 250,000)"
    );
}

//! Gas figures, printed, and written to the file `FERRY_GAS_OUT` names (BENCHMARKS.md keeps
//! them in `bench-results/evm-gas.json`).

use ethers::types::{Address, Bytes};
use ferry::chain::evm::attestation::rotation_digest;

use crate::common::{addrs, attestor, call, encode, gas, hex_addr, packet_seq, path_key, sign, tx};
use crate::world::{World, CLIENT};

#[tokio::test]
async fn gas_report() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let me = hex_addr(a.me());
    let token = a.token.address();
    let far = a.latest().await.1 + 3600;

    let (p1, _) = w.send(a, token, 100, &me, far).await;
    let (h, update_gas) = w.update(b).await;
    let proof = a.proof(path_key(CLIENT, 1, 1), h).await;
    let recv_first = gas(&w.recv(b, &p1, proof.clone(), h).await);
    // The same packet again (a front-runner was first): a no-op.
    let recv_noop = gas(&w.recv(b, &p1, proof, h).await);
    let (p2, _) = w.send(a, token, 100, &me, far).await;
    let (proof2, h2) = w.packet_proof(a, &p2).await;
    let proof_bytes = proof2.len();
    let recv_later = gas(&w.recv(b, &p2, proof2, h2).await);
    let (ha, _) = w.update(a).await;
    let ack_proof = b.proof(path_key(CLIENT, 3, 1), ha).await;
    let ack_proof_bytes = ack_proof.len();
    let ack = gas(&tx(call(
        &a.router,
        "ackPacket",
        (
            p1.clone(),
            Bytes::from(br#"{"result":"AQ=="}"#.to_vec()),
            ack_proof,
            ha,
        ),
    ))
    .await);

    // updateClient + 10 recvPackets in one multicall.
    let mut packets = Vec::new();
    for _ in 0..10 {
        packets.push(w.send(a, token, 1, &me, far).await.0);
    }
    let state = a.latest().await;
    let mut calls = vec![w.encode_update(b, state, &[&w.attestors[1], &w.attestors[2]])];
    for p in &packets {
        let proof = a.proof(path_key(CLIENT, 1, packet_seq(p)), state.0).await;
        calls.push(encode(&b.router, "recvPacket", (p.clone(), proof, state.0)));
    }
    let multicall = gas(&tx(call(&b.router, "multicall", calls)).await);

    // A timeout.
    let timeout = b.latest().await.1.max(a.latest().await.1) + 60;
    let (pt, _) = w.send(a, token, 100, &me, timeout).await;
    b.pass_time(120).await;
    let (h, _) = w.update(a).await;
    let proof = b.proof(path_key(CLIENT, 2, packet_seq(&pt)), h).await;
    let timeout_gas = gas(&tx(call(&a.router, "timeoutPacket", (pt, proof, h))).await);

    // A rotation to a new committee of 3, signed by 2 of the current 3.
    let new = [attestor(10), attestor(11), attestor(12)];
    let set: Vec<Address> = addrs(&[&new[0], &new[1], &new[2]]);
    let digest = rotation_digest(&b.domain_of(&b.light), &set, 2, 0);
    let sigs: Vec<Bytes> = [&w.attestors[0], &w.attestors[2]]
        .iter()
        .map(|k| Bytes::from(sign(k, digest)))
        .collect();
    let rotate = gas(&tx(call(&b.light, "rotateAttestors", (set, 2u8, sigs))).await);

    let report = serde_json::json!({
        "note": "transaction gasUsed on anvil (chain ids 31337/33333, auto-mine); 2-of-3 EIP-712 attestations; proofs from eth_getProof of small devnet tries",
        "updateClient": update_gas,
        "recvPacket_first_of_denom": recv_first,
        "recvPacket_known_denom": recv_later,
        "recvPacket_proof_bytes": proof_bytes,
        "recvPacket_redundant_noop": recv_noop,
        "ackPacket": ack,
        "ackPacket_proof_bytes": ack_proof_bytes,
        "timeoutPacket": timeout_gas,
        "multicall_updateClient_plus_10_recvPacket": multicall,
        "multicall_per_recvPacket_approx": (multicall - update_gas) / 10,
        "rotateAttestors_2_of_3_to_3": rotate,
    });
    println!(
        "EVM gas: {}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    // Tests never write into the tree: the record is written only where FERRY_GAS_OUT says.
    if let Some(out) = std::env::var_os("FERRY_GAS_OUT") {
        std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap() + "\n")
            .unwrap_or_else(|e| panic!("writing {}: {e}", std::path::Path::new(&out).display()));
    }
    assert!(
        recv_later <= 250_000,
        "recvPacket of a known denom used {recv_later} gas (> 250,000)"
    );
}

//! Unit tests of the EVM tx helpers.

use super::*;
use crate::chain::evm::abi;
use crate::chain::evm::abi::ferry_router::UpdateClientCall;
use crate::chain::evm::packets::router_call;
use crate::chain::evm::simulate::is_update;

#[test]
fn numbers_from_the_node_that_do_not_fit_are_malformed_not_a_panic() {
    let chain: ChainId = "evm-l3".parse().unwrap();
    assert_eq!(to_u64(&chain, "m", "x", U256::from(7)).unwrap(), 7);
    assert_eq!(
        to_u128(&chain, "m", "x", U256::from(u128::MAX)).unwrap(),
        u128::MAX
    );
    for v in [U256::MAX, U256::from(u64::MAX) + 1] {
        assert!(matches!(
            to_u64(&chain, "eth_getTransactionReceipt", "gas used", v),
            Err(ChainError::Malformed {
                method: "eth_getTransactionReceipt",
                ..
            })
        ));
    }
    assert!(matches!(
        to_u128(&chain, "m", "x", U256::MAX),
        Err(ChainError::Malformed { .. })
    ));
}

#[test]
fn client_updates_are_told_from_packet_calls() {
    let update = router_call(UpdateClientCall {
        client_id: "attestations-0".into(),
        update_msg: vec![1, 2].into(),
    });
    let timeout = router_call(abi::TimeoutPacketCall {
        packet: crate::chain::evm::packets::to_sol(&crate::ibc::Packet {
            sequence: 1,
            source_port: "transfer".parse().unwrap(),
            source_channel: "attestations-0".parse().unwrap(),
            destination_port: "transfer".parse().unwrap(),
            destination_channel: "attestations-1".parse().unwrap(),
            data: vec![],
            timeout_height: Default::default(),
            timeout_timestamp: 0,
            version: String::new(),
            encoding: String::new(),
        }),
        proof: vec![].into(),
        proof_height: 1,
    });
    assert!(is_update(&update));
    assert!(!is_update(&timeout));
}

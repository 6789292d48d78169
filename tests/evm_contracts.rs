//! Ferry's Solidity contracts on two real anvils (chain ids 31337 "A" and 33333 "B"), driven from
//! Rust with ethers and the artifacts of `ferry_devnet::contracts::compiled()`.
//!
//! Each chain runs a `FerryRouter`, an `ICS20Transfer` on port `transfer`, a `TestToken` and an
//! `AttestedLightClient` of the other chain (3 attestors, quorum 2), client id `attestations-0` on
//! both, as on the devnet. The test plays the relayer and the committee: it signs EIP-712
//! attestations of the other chain's latest block with the relayer's own code
//! (`ferry::chain::evm::attestation`), and proves packet state with real `eth_getProof` answers.
//!
//! Covered: deploy and views; a full round trip (escrow → voucher → ack → voucher back → unescrow);
//! timeout refund; error-ack refund; every revert path of contracts/README.md, checked by custom
//! error selector; digests equal to the relayer's; attestations bound to their chain and client,
//! relayer calldata replayed on the other chain; freezing; rotation; redundant delivery as a no-op;
//! escrow per client and the port checks; a hostile token; send limits; the timelock, ownership and
//! frozen-client recovery; gas figures printed (and written to `$FERRY_GAS_OUT`, e.g. `bench-results/evm-gas.json`) (recvPacket of a
//! known denom must stay ≤ 250,000 gas).
//!
//! Layout: `evm_contracts/common.rs` (helpers), `evm_contracts/world.rs` (the two chains and the
//! relayer's moves); the tests by topic in `views.rs`, `packets.rs`, `reverts.rs`,
//! `attestations.rs`, `rotation.rs`, `escrow.rs`, `admin.rs` and `gas.rs`.
//!
//! Run: `cargo test -p ferry-tests --test evm_contracts -- --nocapture`

#[path = "evm_contracts/admin.rs"]
mod admin;
#[path = "evm_contracts/attestations.rs"]
mod attestations;
#[path = "evm_contracts/common.rs"]
mod common;
#[path = "evm_contracts/escrow.rs"]
mod escrow;
#[path = "evm_contracts/gas.rs"]
mod gas;
#[path = "evm_contracts/packets.rs"]
mod packets;
#[path = "evm_contracts/reverts.rs"]
mod reverts;
#[path = "evm_contracts/rotation.rs"]
mod rotation;
#[path = "evm_contracts/views.rs"]
mod views;
#[path = "evm_contracts/world.rs"]
mod world;

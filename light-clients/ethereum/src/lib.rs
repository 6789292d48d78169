//! Pure Ethereum verification for Ferry: execution-layer block headers and EIP-1186 proofs.
//!
//! Everything here is a function of its arguments: no I/O, no async, no clock reads (the current
//! time is a parameter where it matters). The pieces, in the order a relayer uses them:
//!
//! * [`header`]: the block header through Prague, its canonical RLP encoding and its hash
//!   (`keccak256(rlp(header))`), decoding the fork-dependent tail fields by presence.
//! * [`chain`]: header-chain verification from a trusted [`Checkpoint`] (parent hash, number,
//!   timestamp and a few sanity predicates per link) and finality by a configured confirmation
//!   depth.
//! * [`trie`]: Merkle-Patricia proof verification (membership and absence) against a root.
//! * [`proof`]: EIP-1186 (`eth_getProof`) account and storage proofs against a header's state root.
//! * `builder` (feature `builder`, and in tests): a small in-memory trie that computes roots and
//!   produces proofs.
//!
//! Errors are one [`Error`] enum with a bounded [`Error::reason`] label for metrics.
//!
//! What is *not* verified: consensus. There is no beacon-chain / sync-committee verification;
//! a header chain is trusted because it links to a trusted checkpoint, and a block is "final"
//! once it is buried under the configured number of confirmations.

pub mod chain;
pub mod error;
pub mod header;
pub mod proof;
mod rlp_util;
pub mod trie;

#[cfg(any(test, feature = "builder"))]
pub mod builder;
#[cfg(test)]
mod trie_tests;

pub use chain::{
    confirmations, is_final, verify_chain, verify_finality, verify_link, verify_not_from_future,
    verify_update, Checkpoint, Options, VerifiedUpdate,
};
pub use error::Error;
pub use header::Header;
pub use primitive_types::{H160 as Address, H256, U256};
pub use proof::{
    verify_account_proof, verify_storage_proof, verify_storage_under_state_root, Account,
};
pub use trie::verify_proof;

/// `keccak256(rlp(""))`: the root of an empty trie (empty storage, no transactions, ...).
pub const EMPTY_ROOT: H256 = H256([
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e,
    0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
]);

/// `keccak256("")`: the code hash of an account without code.
pub const EMPTY_CODE_HASH: H256 = H256([
    0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7, 0x03, 0xc0,
    0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70,
]);

/// Keccak-256 (the pre-standard SHA-3 Ethereum uses). The only hash function in this crate.
pub fn keccak256(data: impl AsRef<[u8]>) -> H256 {
    use tiny_keccak::{Hasher, Keccak};
    let mut keccak = Keccak::v256();
    keccak.update(data.as_ref());
    let mut out = [0u8; 32];
    keccak.finalize(&mut out);
    H256(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_constants() {
        assert_eq!(keccak256([0x80u8]), EMPTY_ROOT);
        assert_eq!(keccak256([]), EMPTY_CODE_HASH);
    }
}

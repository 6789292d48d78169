//! Why a header, a chain or a proof was rejected: one variant per failed check, so callers (and
//! tests) can tell the checks apart, and [`Error::reason`] gives each a fixed label for metrics.

use primitive_types::H256;
use rlp::DecoderError;
use thiserror::Error;

/// Why verification failed. `reason()` gives a bounded label for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    // --- header encoding ----------------------------------------------------------------------
    #[error("malformed header RLP: {0}")]
    MalformedHeader(DecoderError),
    #[error("header has {count} fields; expected 15 (pre-London), 16, 17, 20 or 21 (Prague)")]
    HeaderFieldCount { count: usize },
    #[error("header's optional fields are not a prefix of the fork order (a later field without an earlier one)")]
    HeaderTailGap,

    // --- header chain ---------------------------------------------------------------------------
    #[error("no headers to verify")]
    EmptyChain,
    #[error("block {number}: parent hash {found:?} does not match the previous block's hash {expected:?}")]
    ParentHashMismatch {
        number: u64,
        expected: H256,
        found: H256,
    },
    #[error("block {child} does not follow block {parent}")]
    NonConsecutiveNumber { parent: u64, child: u64 },
    #[error("block {number}: timestamp {child} is before the parent's {parent}")]
    DecreasingTimestamp {
        number: u64,
        parent: u64,
        child: u64,
    },
    #[error("block {number}: gas used {gas_used} exceeds the gas limit {gas_limit}")]
    GasUsedExceedsLimit {
        number: u64,
        gas_used: u64,
        gas_limit: u64,
    },
    #[error("block {number}: extra data is {len} bytes, at most 32 allowed")]
    ExtraDataTooLong { number: u64, len: usize },
    #[error(
        "block {number}: timestamp {timestamp} is from the future (now {now}, drift {max_drift}s)"
    )]
    HeaderFromFuture {
        number: u64,
        timestamp: u64,
        now: u64,
        max_drift: u64,
    },

    // --- finality -------------------------------------------------------------------------------
    #[error("block {number} is not final: head {head}, confirmation depth {depth}")]
    NotFinal { number: u64, head: u64, depth: u64 },

    // --- Merkle-Patricia proofs -------------------------------------------------------------------
    #[error("proof node {index} is missing")]
    MissingProofNode { index: usize },
    #[error("first proof node hashes to {found:?}, the root is {expected:?}")]
    RootHashMismatch { expected: H256, found: H256 },
    #[error("proof node {index} hashes to {found:?}, its parent references {expected:?}")]
    NodeHashMismatch {
        index: usize,
        expected: H256,
        found: H256,
    },
    #[error("proof node {index}: malformed RLP: {error}")]
    MalformedNode { index: usize, error: DecoderError },
    #[error("proof node {index}: a trie node is a list of 2 or 17 items, found {items}")]
    InvalidNodeShape { index: usize, items: usize },
    #[error("proof node {index}: invalid hex-prefix path encoding")]
    InvalidHexPrefix { index: usize },
    #[error("proof node {index}: a child reference is neither empty, a 32-byte hash nor an embedded node under 32 bytes")]
    InvalidChildReference { index: usize },
    #[error("proof node {index}: empty value or extension path")]
    EmptyNodeData { index: usize },
    #[error("proof has {total} nodes but only {used} were needed")]
    UnusedProofNodes { used: usize, total: usize },

    // --- EIP-1186 values ------------------------------------------------------------------------
    #[error("malformed account RLP: {0}")]
    MalformedAccount(DecoderError),
    #[error("malformed storage value RLP: {0}")]
    MalformedStorageValue(DecoderError),
}

impl Error {
    /// Every label [`Error::reason`] can return (for metrics created at zero).
    pub const REASONS: &'static [&'static str] = &[
        "malformed_header",
        "header_field_count",
        "header_tail_gap",
        "empty_chain",
        "parent_hash_mismatch",
        "non_consecutive_number",
        "decreasing_timestamp",
        "gas_used_exceeds_limit",
        "extra_data_too_long",
        "header_from_future",
        "not_final",
        "missing_proof_node",
        "root_hash_mismatch",
        "node_hash_mismatch",
        "malformed_node",
        "invalid_node_shape",
        "invalid_hex_prefix",
        "invalid_child_reference",
        "empty_node_data",
        "unused_proof_nodes",
        "malformed_account",
        "malformed_storage_value",
    ];

    /// A label from a fixed set, safe for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::MalformedHeader(_) => "malformed_header",
            Error::HeaderFieldCount { .. } => "header_field_count",
            Error::HeaderTailGap => "header_tail_gap",
            Error::EmptyChain => "empty_chain",
            Error::ParentHashMismatch { .. } => "parent_hash_mismatch",
            Error::NonConsecutiveNumber { .. } => "non_consecutive_number",
            Error::DecreasingTimestamp { .. } => "decreasing_timestamp",
            Error::GasUsedExceedsLimit { .. } => "gas_used_exceeds_limit",
            Error::ExtraDataTooLong { .. } => "extra_data_too_long",
            Error::HeaderFromFuture { .. } => "header_from_future",
            Error::NotFinal { .. } => "not_final",
            Error::MissingProofNode { .. } => "missing_proof_node",
            Error::RootHashMismatch { .. } => "root_hash_mismatch",
            Error::NodeHashMismatch { .. } => "node_hash_mismatch",
            Error::MalformedNode { .. } => "malformed_node",
            Error::InvalidNodeShape { .. } => "invalid_node_shape",
            Error::InvalidHexPrefix { .. } => "invalid_hex_prefix",
            Error::InvalidChildReference { .. } => "invalid_child_reference",
            Error::EmptyNodeData { .. } => "empty_node_data",
            Error::UnusedProofNodes { .. } => "unused_proof_nodes",
            Error::MalformedAccount(_) => "malformed_account",
            Error::MalformedStorageValue(_) => "malformed_storage_value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_snake_case() {
        let h = H256::zero();
        let d = DecoderError::RlpIsTooShort;
        let all = [
            Error::MalformedHeader(d.clone()),
            Error::HeaderFieldCount { count: 0 },
            Error::HeaderTailGap,
            Error::EmptyChain,
            Error::ParentHashMismatch {
                number: 0,
                expected: h,
                found: h,
            },
            Error::NonConsecutiveNumber {
                parent: 0,
                child: 0,
            },
            Error::DecreasingTimestamp {
                number: 0,
                parent: 0,
                child: 0,
            },
            Error::GasUsedExceedsLimit {
                number: 0,
                gas_used: 0,
                gas_limit: 0,
            },
            Error::ExtraDataTooLong { number: 0, len: 0 },
            Error::HeaderFromFuture {
                number: 0,
                timestamp: 0,
                now: 0,
                max_drift: 0,
            },
            Error::NotFinal {
                number: 0,
                head: 0,
                depth: 0,
            },
            Error::MissingProofNode { index: 0 },
            Error::RootHashMismatch {
                expected: h,
                found: h,
            },
            Error::NodeHashMismatch {
                index: 0,
                expected: h,
                found: h,
            },
            Error::MalformedNode {
                index: 0,
                error: d.clone(),
            },
            Error::InvalidNodeShape { index: 0, items: 0 },
            Error::InvalidHexPrefix { index: 0 },
            Error::InvalidChildReference { index: 0 },
            Error::EmptyNodeData { index: 0 },
            Error::UnusedProofNodes { used: 0, total: 0 },
            Error::MalformedAccount(d.clone()),
            Error::MalformedStorageValue(d),
        ];
        let mut reasons: Vec<_> = all.iter().map(Error::reason).collect();
        assert_eq!(
            reasons,
            Error::REASONS,
            "REASONS lists every reason in order"
        );
        assert!(reasons
            .iter()
            .all(|r| r.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
    }
}

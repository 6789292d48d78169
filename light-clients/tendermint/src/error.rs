//! Why a header was rejected: one variant per failed check, so callers (and tests) can tell the
//! checks apart, and [`VerificationError::reason`] gives each a fixed label for metrics.

use std::time::Duration;

use tendermint::{account, block::Height, chain::Id as ChainId, Hash, Time};
use thiserror::Error;

/// Why a header was rejected. `reason()` gives a bounded label for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerificationError {
    // --- options ---------------------------------------------------------------------------
    #[error("trust threshold {numerator}/{denominator} is not a valid fraction in [1/3, 1]")]
    InvalidTrustThreshold { numerator: u64, denominator: u64 },

    // --- header against the trusted state --------------------------------------------------
    #[error("chain id mismatch: trusted {trusted}, header {untrusted}")]
    ChainIdMismatch { trusted: ChainId, untrusted: ChainId },
    #[error("height does not increase: trusted {trusted}, header {untrusted}")]
    NonIncreasingHeight { trusted: Height, untrusted: Height },
    #[error("header time {untrusted} is not after the trusted time {trusted}")]
    NonMonotonicTime { trusted: Time, untrusted: Time },
    #[error("header time {header_time} is from the future: now {now}, clock drift {clock_drift:?}")]
    HeaderFromFuture { header_time: Time, now: Time, clock_drift: Duration },
    #[error("trusted state expired at {expired_at} (now {now})")]
    TrustedStateExpired { expired_at: Time, now: Time },
    #[error("time arithmetic overflowed")]
    TimeOverflow,

    // --- validator sets ---------------------------------------------------------------------
    #[error("validator set hashes to {computed}, header says {header}")]
    ValidatorsHashMismatch { header: Hash, computed: Hash },
    #[error("next validator set hashes to {computed}, header says {header}")]
    NextValidatorsHashMismatch { header: Hash, computed: Hash },
    #[error("adjacent header's validators {untrusted} differ from the trusted next validators {trusted_next}")]
    AdjacentValidatorsMismatch { trusted_next: Hash, untrusted: Hash },
    #[error("trusted next validator set hashes to {computed}, trusted state says {expected}")]
    TrustedValidatorsHashMismatch { expected: Hash, computed: Hash },
    #[error("total voting power overflows")]
    VotingPowerOverflow,

    // --- commit structure --------------------------------------------------------------------
    #[error("commit height {commit} differs from header height {header}")]
    CommitHeightMismatch { header: Height, commit: Height },
    #[error("commit is for block {commit}, header hashes to {header}")]
    CommitForWrongBlock { header: Hash, commit: Hash },
    #[error("commit has no signatures for the block")]
    NoSignatures,
    #[error("commit has {signatures} signatures for {validators} validators")]
    CommitSizeMismatch { signatures: usize, validators: usize },
    #[error("validator {validator} (signature {index}) committed without a signature")]
    MissingSignature { validator: account::Id, index: usize },
    #[error("validator {validator} voted more than once (signatures {first} and {second})")]
    DuplicateVote { validator: account::Id, first: usize, second: usize },
    #[error("signer {validator} (signature {index}) is not in the validator set")]
    SignerNotInValidatorSet { validator: account::Id, index: usize },
    #[error("validator {validator} (signature {index}) has a key type other than Ed25519")]
    UnsupportedKeyType { validator: account::Id, index: usize },

    // --- signatures and power ----------------------------------------------------------------
    #[error("invalid signature from validator {validator} (signature {index})")]
    InvalidSignature { validator: account::Id, index: usize },
    #[error(
        "insufficient voting power: {tallied} of {total} of the header's own validators signed, need more than 2/3"
    )]
    InsufficientVotingPower { tallied: u64, total: u64 },
    #[error("not enough trust: {tallied} of {total} voting power of the trusted set signed")]
    NotEnoughTrust { tallied: u64, total: u64 },

    // --- bisection driver ---------------------------------------------------------------------
    #[error("bisection already finished")]
    BisectionFinished,
    #[error("supplied block at height {got} but {expected} was requested")]
    UnexpectedHeight { expected: Height, got: Height },
    #[error("cannot bisect between trusted height {trusted} and {untrusted}")]
    CannotBisect { trusted: Height, untrusted: Height },
}

impl VerificationError {
    /// A label from a fixed set, safe for metrics.
    pub fn reason(&self) -> &'static str {
        use VerificationError::*;
        match self {
            InvalidTrustThreshold { .. } => "invalid_trust_threshold",
            ChainIdMismatch { .. } => "chain_id_mismatch",
            NonIncreasingHeight { .. } => "non_increasing_height",
            NonMonotonicTime { .. } => "non_monotonic_time",
            HeaderFromFuture { .. } => "header_from_future",
            TrustedStateExpired { .. } => "trusted_state_expired",
            TimeOverflow => "time_overflow",
            ValidatorsHashMismatch { .. } => "validators_hash_mismatch",
            NextValidatorsHashMismatch { .. } => "next_validators_hash_mismatch",
            AdjacentValidatorsMismatch { .. } => "adjacent_validators_mismatch",
            TrustedValidatorsHashMismatch { .. } => "trusted_validators_hash_mismatch",
            VotingPowerOverflow => "voting_power_overflow",
            CommitHeightMismatch { .. } => "commit_height_mismatch",
            CommitForWrongBlock { .. } => "commit_for_wrong_block",
            NoSignatures => "no_signatures",
            CommitSizeMismatch { .. } => "commit_size_mismatch",
            MissingSignature { .. } => "missing_signature",
            DuplicateVote { .. } => "duplicate_vote",
            SignerNotInValidatorSet { .. } => "signer_not_in_validator_set",
            UnsupportedKeyType { .. } => "unsupported_key_type",
            InvalidSignature { .. } => "invalid_signature",
            InsufficientVotingPower { .. } => "insufficient_voting_power",
            NotEnoughTrust { .. } => "not_enough_trust",
            BisectionFinished => "bisection_finished",
            UnexpectedHeight { .. } => "unexpected_height",
            CannotBisect { .. } => "cannot_bisect",
        }
    }

    /// Every label [`reason`](Self::reason) can return, e.g. to pre-register metric series.
    pub const REASONS: &'static [&'static str] = &[
        "invalid_trust_threshold",
        "chain_id_mismatch",
        "non_increasing_height",
        "non_monotonic_time",
        "header_from_future",
        "trusted_state_expired",
        "time_overflow",
        "validators_hash_mismatch",
        "next_validators_hash_mismatch",
        "adjacent_validators_mismatch",
        "trusted_validators_hash_mismatch",
        "voting_power_overflow",
        "commit_height_mismatch",
        "commit_for_wrong_block",
        "no_signatures",
        "commit_size_mismatch",
        "missing_signature",
        "duplicate_vote",
        "signer_not_in_validator_set",
        "unsupported_key_type",
        "invalid_signature",
        "insufficient_voting_power",
        "not_enough_trust",
        "bisection_finished",
        "unexpected_height",
        "cannot_bisect",
    ];

    /// True when the header may still be reachable by verifying an intermediate header first.
    pub fn is_not_enough_trust(&self) -> bool {
        matches!(self, VerificationError::NotEnoughTrust { .. })
    }
}

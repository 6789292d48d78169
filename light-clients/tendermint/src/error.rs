use thiserror::Error;

/// Why a header was rejected. `reason()` gives a bounded label for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerificationError {
    #[error("trust threshold is not a valid fraction in [1/3, 1]")]
    InvalidTrustThreshold,
    #[error("not enough trust: {tallied} of {total} voting power of the trusted set signed")]
    NotEnoughTrust { tallied: u64, total: u64 },
    #[error("invalid header: {0}")]
    Invalid(String),
}

impl VerificationError {
    /// A label from a fixed set, safe for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            VerificationError::InvalidTrustThreshold => "invalid_trust_threshold",
            VerificationError::NotEnoughTrust { .. } => "not_enough_trust",
            VerificationError::Invalid(_) => "invalid",
        }
    }
}

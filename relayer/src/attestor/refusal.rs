//! Why the attestor did not sign: one [`Kind`] per reason, with a fixed label (the `kind` of an
//! error answer and the `reason` label of `ferry_attestor_refusals_total`) and an HTTP status.

use std::fmt;

/// Why nothing was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The height is above the final height (or below what can be verified).
    NotFinal,
    /// The endpoints disagree on a header, or an endpoint serves another chain.
    Disagreement,
    /// The endpoints agree, but the header chain does not verify from the checkpoint.
    VerificationFailed,
    /// Another state was already signed for this chain and height.
    Conflict,
    /// An endpoint did not answer, or answered with an error.
    RpcError,
    /// The request names a chain this attestor does not attest.
    UnknownChain,
    /// The request is malformed.
    BadRequest,
    /// The attestor could not record the state (I/O on its record file).
    Internal,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::NotFinal,
        Kind::Disagreement,
        Kind::VerificationFailed,
        Kind::Conflict,
        Kind::RpcError,
        Kind::UnknownChain,
        Kind::BadRequest,
        Kind::Internal,
    ];

    /// Reasons counted per configured chain (the others concern requests, not chains).
    pub const CHAIN_REASONS: [Kind; 6] = [
        Kind::NotFinal,
        Kind::Disagreement,
        Kind::VerificationFailed,
        Kind::Conflict,
        Kind::RpcError,
        Kind::Internal,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::NotFinal => "not_final",
            Kind::Disagreement => "disagreement",
            Kind::VerificationFailed => "verification_failed",
            Kind::Conflict => "conflict",
            Kind::RpcError => "rpc_error",
            Kind::UnknownChain => "unknown_chain",
            Kind::BadRequest => "bad_request",
            Kind::Internal => "internal",
        }
    }

    /// The HTTP status of an error answer of this kind.
    pub fn status(self) -> u16 {
        match self {
            Kind::BadRequest => 400,
            Kind::UnknownChain => 404,
            Kind::Conflict => 409,
            // Too Early: ask again once the block is final.
            Kind::NotFinal => 425,
            Kind::Internal => 500,
            Kind::Disagreement | Kind::VerificationFailed => 502,
            Kind::RpcError => 503,
        }
    }
}

/// A refusal: its kind and a sentence saying what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: Kind,
    pub message: String,
}

impl Refusal {
    pub fn new(kind: Kind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.label())
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_statuses_are_errors() {
        let mut labels: Vec<_> = Kind::ALL.iter().map(|k| k.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Kind::ALL.len());
        assert!(Kind::ALL.iter().all(|k| k.status() >= 400));
        assert!(Kind::CHAIN_REASONS.iter().all(|k| Kind::ALL.contains(k)));
    }
}

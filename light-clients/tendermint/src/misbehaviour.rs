//! Fork detection: compare the primary's header with a witness's at the same height.
//!
//! When both verify against the same trusted state but name different blocks, the chain's
//! validators signed two conflicting headers, and [`MisbehaviourEvidence`] holds what ibc-go's
//! `ibc.lightclients.tendermint.v1.Misbehaviour` needs: two `Header`s, each with its signed
//! header, validator set, the trusted height and the trusted validators (the validator set at
//! `trusted_height + 1`, whose hash the client's consensus state stores as next validators hash).
//! The relayer adds the client id and converts to protobuf.

use thiserror::Error;

use crate::{
    check, signatures::Ed25519Batch, Height, LightBlock, Mode, SignedHeader, Time, TrustedState, ValidatorSet,
    VerificationError, VerifyOptions,
};

/// One side of the fork, shaped like ibc-go's `ibc.lightclients.tendermint.v1.Header`.
#[derive(Clone, Debug, PartialEq)]
pub struct MisbehaviourHeader {
    pub signed_header: SignedHeader,
    pub validator_set: ValidatorSet,
    pub trusted_height: Height,
    pub trusted_validators: ValidatorSet,
}

/// Two conflicting headers at one height, both verified from the same trusted state.
/// `header_1` is the primary's, `header_2` the witness's.
#[derive(Clone, Debug, PartialEq)]
pub struct MisbehaviourEvidence {
    pub header_1: MisbehaviourHeader,
    pub header_2: MisbehaviourHeader,
}

impl MisbehaviourEvidence {
    pub fn height(&self) -> Height {
        self.header_1.signed_header.header.height
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MisbehaviourError {
    #[error("primary header at {primary} and witness header at {witness} are not at one height")]
    HeightMismatch { primary: Height, witness: Height },
    #[error("primary header does not verify: {0}")]
    Primary(VerificationError),
    #[error("witness header does not verify: {0}")]
    Witness(VerificationError),
}

impl MisbehaviourError {
    /// A label from a fixed set, safe for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            MisbehaviourError::HeightMismatch { .. } => "height_mismatch",
            MisbehaviourError::Primary(_) => "primary_invalid",
            MisbehaviourError::Witness(_) => "witness_invalid",
        }
    }
}

/// Compare the primary's and a witness's light block at one height.
///
/// - same block hash: `Ok(None)`, nothing to report;
/// - different hashes, both verify against `trusted`: `Ok(Some(evidence))`;
/// - a side that does not verify: `Err` naming it (a witness that does not verify is faulty, not
///   evidence; with [`VerificationError::NotEnoughTrust`] the caller may retry from a trusted
///   state closer to the height).
///
/// Like ibc-go's misbehaviour handling, the "from the future" check is skipped for both headers.
pub fn detect(
    primary: &LightBlock,
    witness: &LightBlock,
    trusted: &TrustedState,
    options: &VerifyOptions,
    now: Time,
) -> Result<Option<MisbehaviourEvidence>, MisbehaviourError> {
    if primary.height() != witness.height() {
        return Err(MisbehaviourError::HeightMismatch { primary: primary.height(), witness: witness.height() });
    }
    if primary.signed_header.header.hash() == witness.signed_header.header.hash() {
        return Ok(None);
    }
    check(&Ed25519Batch, primary, trusted, options, now, Mode::Misbehaviour).map_err(MisbehaviourError::Primary)?;
    check(&Ed25519Batch, witness, trusted, options, now, Mode::Misbehaviour).map_err(MisbehaviourError::Witness)?;
    let side = |b: &LightBlock| MisbehaviourHeader {
        signed_header: b.signed_header.clone(),
        validator_set: b.validators.clone(),
        trusted_height: trusted.height,
        trusted_validators: trusted.next_validators.clone(),
    };
    Ok(Some(MisbehaviourEvidence { header_1: side(primary), header_2: side(witness) }))
}

//! Pure Tendermint/CometBFT header verification for Ferry.
//!
//! No I/O, no async, no clock reads: callers pass the trusted state, the untrusted light block and `now`.
//! The relayer drives [`bisection::Bisection`] with blocks it fetches over RPC.
//!
//! NOTE: the public API in this file is what the relayer codes against. The internals are being
//! replaced by Ferry's own verifier (issue 3); until then verification delegates to
//! `tendermint-light-client-verifier`'s production verifier.

pub mod bisection;
mod error;

use std::time::Duration;

pub use error::VerificationError;
pub use tendermint::{
    block::{signed_header::SignedHeader, Height},
    chain::Id as ChainId,
    validator::Set as ValidatorSet,
    Hash, Time,
};

/// A header with the validator sets needed to verify it and to trust the next one.
#[derive(Clone, Debug, PartialEq)]
pub struct LightBlock {
    pub signed_header: SignedHeader,
    pub validators: ValidatorSet,
    pub next_validators: ValidatorSet,
}

impl LightBlock {
    pub fn height(&self) -> Height {
        self.signed_header.header.height
    }
    pub fn time(&self) -> Time {
        self.signed_header.header.time
    }
}

/// What a verifier trusts: the last verified header's identity and its next validator set.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustedState {
    pub chain_id: ChainId,
    pub height: Height,
    pub time: Time,
    pub next_validators: ValidatorSet,
    pub next_validators_hash: Hash,
}

impl TrustedState {
    pub fn from_light_block(block: &LightBlock) -> Self {
        let header = &block.signed_header.header;
        TrustedState {
            chain_id: header.chain_id.clone(),
            height: header.height,
            time: header.time,
            next_validators: block.next_validators.clone(),
            next_validators_hash: header.next_validators_hash,
        }
    }
}

/// Fraction of the trusted validators' power that must sign a skipping (non-adjacent) header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustThreshold {
    pub numerator: u64,
    pub denominator: u64,
}

impl TrustThreshold {
    pub const ONE_THIRD: TrustThreshold = TrustThreshold { numerator: 1, denominator: 3 };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyOptions {
    pub trust_threshold: TrustThreshold,
    pub trusting_period: Duration,
    pub clock_drift: Duration,
}

/// Verify `untrusted` against `trusted` at time `now`; on success return the new trusted state.
pub fn verify(
    untrusted: &LightBlock,
    trusted: &TrustedState,
    options: &VerifyOptions,
    now: Time,
) -> Result<TrustedState, VerificationError> {
    use tendermint_light_client_verifier::{
        options::Options,
        types::{TrustThreshold as Tt, TrustedBlockState, UntrustedBlockState},
        Verdict, Verifier,
    };
    let tt = Tt::new(options.trust_threshold.numerator, options.trust_threshold.denominator)
        .map_err(|_| VerificationError::InvalidTrustThreshold)?;
    let opts = Options {
        trust_threshold: tt,
        trusting_period: options.trusting_period,
        clock_drift: options.clock_drift,
    };
    let u = UntrustedBlockState {
        signed_header: &untrusted.signed_header,
        validators: &untrusted.validators,
        next_validators: Some(&untrusted.next_validators),
    };
    let t = TrustedBlockState {
        chain_id: &trusted.chain_id,
        header_time: trusted.time,
        height: trusted.height,
        next_validators: &trusted.next_validators,
        next_validators_hash: trusted.next_validators_hash,
    };
    match tendermint_light_client_verifier::ProdVerifier::default().verify_update_header(u, t, &opts, now) {
        Verdict::Success => Ok(TrustedState::from_light_block(untrusted)),
        Verdict::NotEnoughTrust(tally) => Err(VerificationError::NotEnoughTrust {
            tallied: tally.tallied,
            total: tally.total,
        }),
        Verdict::Invalid(detail) => Err(VerificationError::Invalid(detail.to_string())),
    }
}

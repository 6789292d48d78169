//! Pure Tendermint/CometBFT header verification for Ferry.
//!
//! No I/O, no async, no clock reads: callers pass the trusted state, the untrusted light block and `now`.
//! The relayer drives [`bisection::Bisection`] with blocks it fetches over RPC.
//!
//! NOTE: the public API in this file is what the relayer codes against.
//!
//! [`verify`] runs Ferry's own checks (see the crate README): small pure predicates
//! ([`predicates`]), the commit tally ([`voting_power`]) and batch Ed25519 behind the
//! [`signatures::SignatureVerifier`] trait. [`misbehaviour::detect`] compares a primary's and a
//! witness's header at one height and returns the evidence ibc-go's `Misbehaviour` needs.

pub mod bisection;
mod error;
pub mod misbehaviour;
pub mod predicates;
pub mod signatures;
pub mod voting_power;

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
///
/// Adjacent headers (`trusted.height + 1`) must be signed by more than 2/3 of their validator
/// set, which must be the trusted next validator set. Skipping headers must in addition be
/// signed by more than `options.trust_threshold` of the trusted next validators' power; when
/// only that fails the error is [`VerificationError::NotEnoughTrust`] and bisection can help.
pub fn verify(
    untrusted: &LightBlock,
    trusted: &TrustedState,
    options: &VerifyOptions,
    now: Time,
) -> Result<TrustedState, VerificationError> {
    verify_with(&signatures::Ed25519Batch, untrusted, trusted, options, now)
}

/// [`verify`] with a chosen signature verifier.
pub fn verify_with<V: signatures::SignatureVerifier + ?Sized>(
    verifier: &V,
    untrusted: &LightBlock,
    trusted: &TrustedState,
    options: &VerifyOptions,
    now: Time,
) -> Result<TrustedState, VerificationError> {
    check(verifier, untrusted, trusted, options, now, Mode::Update)?;
    Ok(TrustedState::from_light_block(untrusted))
}

/// Which rule set to apply: misbehaviour headers skip the "from the future" check, as ibc-go
/// does, so that a fork with skewed clocks can still be proven.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Update,
    Misbehaviour,
}

pub(crate) fn check<V: signatures::SignatureVerifier + ?Sized>(
    verifier: &V,
    untrusted: &LightBlock,
    trusted: &TrustedState,
    options: &VerifyOptions,
    now: Time,
    mode: Mode,
) -> Result<(), VerificationError> {
    let header = &untrusted.signed_header.header;
    let commit = &untrusted.signed_header.commit;

    // Options and the trusted state.
    predicates::valid_trust_threshold(options.trust_threshold)?;
    predicates::within_trusting_period(trusted.time, options.trusting_period, now)?;

    // The header against the trusted state.
    predicates::same_chain(&trusted.chain_id, &header.chain_id)?;
    predicates::height_increases(trusted.height, header.height)?;
    predicates::time_increases(trusted.time, header.time)?;
    if mode == Mode::Update {
        predicates::not_from_future(header.time, options.clock_drift, now)?;
    }

    // The commit is for this header.
    predicates::commit_matches_header(header, header.hash(), commit.height, commit.block_id.hash)?;

    // Validator sets; hash each distinct set once.
    let validators_hash = untrusted.validators.hash();
    predicates::validators_match(header.validators_hash, validators_hash)?;
    let next_hash = if untrusted.next_validators == untrusted.validators {
        validators_hash
    } else {
        untrusted.next_validators.hash()
    };
    predicates::next_validators_match(header.next_validators_hash, next_hash)?;

    let adjacent = trusted.height.value().checked_add(1) == Some(header.height.value());
    let trusted_set = if adjacent {
        predicates::adjacent_validators_match(trusted.next_validators_hash, header.validators_hash)?;
        None
    } else {
        let trusted_hash = if trusted.next_validators == untrusted.validators {
            validators_hash
        } else {
            trusted.next_validators.hash()
        };
        predicates::trusted_validators_match(trusted.next_validators_hash, trusted_hash)?;
        Some(trusted.next_validators.validators().as_slice())
    };

    // Signatures and voting power.
    voting_power::verify_commit(untrusted, trusted_set, options.trust_threshold, verifier)
}

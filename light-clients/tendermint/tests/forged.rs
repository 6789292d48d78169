//! Headers built with tendermint-testgen, valid and forged; each forgery must be rejected with
//! its own error variant.

mod common;

use std::time::Duration;

use common::*;
use ferry_light_client_tendermint::{
    verify, LightBlock, TrustThreshold, TrustedState, VerificationError, VerifyOptions,
};
use tendermint::block::CommitSig;
use tendermint_testgen::{Generator, Validator};

const CHAIN: &str = "ferry-test";

fn four() -> Vec<Validator> {
    validators(&["a", "b", "c", "d"])
}

/// Trusted state at height 1 (time T0+1), signed by a, b, c, d.
fn trusted() -> TrustedState {
    TrustedState::from_light_block(&block(CHAIN, 1, 1, &four(), &four()))
}

fn now() -> tendermint::Time {
    at(T0 + 20)
}

fn adjacent() -> LightBlock {
    block(CHAIN, 2, 2, &four(), &four())
}

fn address(id: &str) -> tendermint::account::Id {
    Validator::new(id).voting_power(50).generate().unwrap().address
}

fn commit_votes(height: u64, secs: i64, vals: &[Validator], voters: &[Validator]) -> LightBlock {
    signed_by(CHAIN, height, secs, vals, vals, voters)
}

#[test]
fn adjacent_header_verifies() {
    let next = verify(&adjacent(), &trusted(), &options(), now()).unwrap();
    assert_eq!(next.height.value(), 2);
    assert_eq!(next.next_validators_hash, adjacent().signed_header.header.next_validators_hash);
}

#[test]
fn skipping_header_verifies() {
    let untrusted = block(CHAIN, 10, 10, &four(), &four());
    assert_eq!(verify(&untrusted, &trusted(), &options(), now()).unwrap().height.value(), 10);
}

#[test]
fn skipping_with_one_third_overlap_verifies_and_less_is_not_enough_trust() {
    // Trusted set a,b,c,d; new set keeps two of four (1/2 > 1/3): verifies.
    let new = validators(&["a", "b", "e", "f"]);
    let untrusted = block(CHAIN, 10, 10, &new, &new);
    assert!(verify(&untrusted, &trusted(), &options(), now()).is_ok());
    // Keeps one of four (1/4 <= 1/3): not enough trust, with the tally.
    let new = validators(&["a", "e", "f", "g"]);
    let untrusted = block(CHAIN, 10, 10, &new, &new);
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::NotEnoughTrust { tallied: 50, total: 200 })
    );
}

#[test]
fn wrong_signature_is_named() {
    let mut untrusted = adjacent();
    let index = 1;
    let CommitSig::BlockIdFlagCommit { validator_address, signature, .. } =
        &mut untrusted.signed_header.commit.signatures[index]
    else {
        panic!("expected a commit signature")
    };
    let mut bytes = signature.as_ref().unwrap().as_bytes().to_vec();
    bytes[5] ^= 0x40;
    *signature = Some(tendermint::Signature::try_from(bytes).unwrap());
    let validator = *validator_address;
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::InvalidSignature { validator, index })
    );
}

#[test]
fn signature_by_a_different_validator_key_is_invalid() {
    // Every byte of the commit looks right, but "b"'s vote is signed with "x"'s key.
    let mut untrusted = adjacent();
    let forged = commit_votes(2, 2, &four(), &validators(&["a", "x", "c", "d"]));
    let sig_of = |lb: &LightBlock, addr| {
        lb.signed_header.commit.signatures.iter().find(|s| s.validator_address() == Some(addr)).cloned().unwrap()
    };
    let CommitSig::BlockIdFlagCommit { signature: x_sig, .. } = sig_of(&forged, address("x")) else { panic!() };
    let index =
        untrusted.signed_header.commit.signatures.iter().position(|s| s.validator_address() == Some(address("b")));
    let index = index.unwrap();
    if let CommitSig::BlockIdFlagCommit { signature, .. } = &mut untrusted.signed_header.commit.signatures[index] {
        *signature = x_sig;
    }
    // Put "b" first so that it is among the signatures needed for the quorum.
    untrusted.signed_header.commit.signatures.swap(0, index);
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::InvalidSignature { validator: address("b"), index: 0 })
    );
}

#[test]
fn signer_not_in_validator_set() {
    // x signs instead of d; testgen lists d as absent and x as a fifth entry: drop the absent one.
    let mut untrusted = commit_votes(2, 2, &four(), &validators(&["a", "b", "c", "x"]));
    untrusted.signed_header.commit.signatures.retain(|s| !matches!(s, CommitSig::BlockIdFlagAbsent));
    let index =
        untrusted.signed_header.commit.signatures.iter().position(|s| s.validator_address() == Some(address("x")));
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::SignerNotInValidatorSet { validator: address("x"), index: index.unwrap() })
    );
}

#[test]
fn insufficient_voting_power() {
    let untrusted = commit_votes(2, 2, &four(), &validators(&["a", "b"]));
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::InsufficientVotingPower { tallied: 100, total: 200 })
    );
    // Exactly 2/3 is not enough either.
    let six = validators(&["a", "b", "c", "d", "e", "f"]);
    let trusted = TrustedState::from_light_block(&block(CHAIN, 1, 1, &six, &six));
    let untrusted = commit_votes(2, 2, &six, &validators(&["a", "b", "c", "d"]));
    assert_eq!(
        verify(&untrusted, &trusted, &options(), now()),
        Err(VerificationError::InsufficientVotingPower { tallied: 200, total: 300 })
    );
}

#[test]
fn wrong_chain_id() {
    let untrusted = block("other-chain", 2, 2, &four(), &four());
    assert!(matches!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::ChainIdMismatch { .. })
    ));
}

#[test]
fn expired_trusting_period() {
    let opts = VerifyOptions { trusting_period: Duration::from_secs(15), ..options() };
    assert!(matches!(
        verify(&adjacent(), &trusted(), &opts, now()),
        Err(VerificationError::TrustedStateExpired { .. })
    ));
}

#[test]
fn header_from_the_future_beyond_clock_drift() {
    // now = T0+20, drift 10 s: T0+29 is accepted, T0+31 is not.
    assert!(verify(&block(CHAIN, 2, 29, &four(), &four()), &trusted(), &options(), now()).is_ok());
    let err = verify(&block(CHAIN, 2, 31, &four(), &four()), &trusted(), &options(), now()).unwrap_err();
    assert!(matches!(err, VerificationError::HeaderFromFuture { .. }), "{err:?}");
    assert_eq!(err.reason(), "header_from_future");
}

#[test]
fn validator_hash_mismatch() {
    let mut untrusted = adjacent();
    untrusted.validators = block(CHAIN, 2, 2, &validators(&["e", "f"]), &four()).validators;
    assert!(matches!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::ValidatorsHashMismatch { .. })
    ));
}

#[test]
fn next_validator_hash_mismatch() {
    let mut untrusted = adjacent();
    untrusted.next_validators = block(CHAIN, 2, 2, &validators(&["e", "f"]), &four()).validators;
    assert!(matches!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::NextValidatorsHashMismatch { .. })
    ));
}

#[test]
fn adjacent_header_with_other_validators() {
    let other = validators(&["a", "b", "c", "e"]);
    let untrusted = block(CHAIN, 2, 2, &other, &other);
    assert!(matches!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::AdjacentValidatorsMismatch { .. })
    ));
}

#[test]
fn duplicate_vote_from_one_validator() {
    let mut untrusted = adjacent();
    let sigs = &mut untrusted.signed_header.commit.signatures;
    sigs[2] = sigs[0].clone();
    let validator = sigs[0].validator_address().unwrap();
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::DuplicateVote { validator, first: 0, second: 2 })
    );
}

#[test]
fn non_increasing_height_and_time() {
    let trusted = TrustedState::from_light_block(&block(CHAIN, 5, 5, &four(), &four()));
    let older = block(CHAIN, 5, 6, &four(), &four());
    assert!(matches!(verify(&older, &trusted, &options(), now()), Err(VerificationError::NonIncreasingHeight { .. })));
    let same_time = block(CHAIN, 6, 5, &four(), &four());
    assert!(matches!(verify(&same_time, &trusted, &options(), now()), Err(VerificationError::NonMonotonicTime { .. })));
}

#[test]
fn commit_for_another_block() {
    let mut untrusted = adjacent();
    untrusted.signed_header.header.app_hash = tendermint::AppHash::try_from(vec![1, 2, 3]).unwrap();
    assert!(matches!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::CommitForWrongBlock { .. })
    ));
}

#[test]
fn missing_and_absent_signatures() {
    let mut untrusted = adjacent();
    if let CommitSig::BlockIdFlagCommit { signature, .. } = &mut untrusted.signed_header.commit.signatures[3] {
        *signature = None;
    }
    assert!(matches!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::MissingSignature { index: 3, .. })
    ));
    let mut untrusted = adjacent();
    for s in &mut untrusted.signed_header.commit.signatures {
        *s = CommitSig::BlockIdFlagAbsent;
    }
    assert_eq!(verify(&untrusted, &trusted(), &options(), now()), Err(VerificationError::NoSignatures));
    let mut untrusted = adjacent();
    untrusted.signed_header.commit.signatures.pop();
    assert_eq!(
        verify(&untrusted, &trusted(), &options(), now()),
        Err(VerificationError::CommitSizeMismatch { signatures: 3, validators: 4 })
    );
}

#[test]
fn invalid_trust_threshold() {
    let opts = VerifyOptions { trust_threshold: TrustThreshold { numerator: 1, denominator: 4 }, ..options() };
    assert_eq!(
        verify(&adjacent(), &trusted(), &opts, now()),
        Err(VerificationError::InvalidTrustThreshold { numerator: 1, denominator: 4 })
    );
}

#[test]
fn hand_built_trusted_state_with_wrong_validators() {
    let mut trusted = trusted();
    trusted.next_validators = block(CHAIN, 1, 1, &validators(&["e", "f"]), &four()).validators;
    let untrusted = block(CHAIN, 10, 10, &four(), &four());
    assert!(matches!(
        verify(&untrusted, &trusted, &options(), now()),
        Err(VerificationError::TrustedValidatorsHashMismatch { .. })
    ));
}

#[test]
fn reasons_are_listed() {
    for e in [
        VerificationError::NoSignatures,
        VerificationError::NotEnoughTrust { tallied: 1, total: 3 },
        VerificationError::TimeOverflow,
    ] {
        assert!(VerificationError::REASONS.contains(&e.reason()));
    }
}

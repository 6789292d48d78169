//! Fork detection between a primary and a witness.

mod common;

use common::*;
use ferry_light_client_tendermint::{
    misbehaviour::{detect, MisbehaviourError},
    LightBlock, TrustedState, VerificationError,
};
use tendermint_testgen::{Generator, Header, LightBlock as TgLightBlock};

const CHAIN: &str = "ferry-fork";

fn conflicting(height: u64, app_hash: &[u8]) -> LightBlock {
    let vals = validators(&["a", "b", "c"]);
    let header = Header::new(&vals)
        .height(height)
        .chain_id(CHAIN)
        .next_validators(&vals)
        .time(at(T0 + height as i64))
        .app_hash(tendermint::AppHash::try_from(app_hash.to_vec()).unwrap());
    convert(TgLightBlock::new_default_with_header(header).generate().unwrap())
}

fn trusted() -> TrustedState {
    let vals = validators(&["a", "b", "c"]);
    TrustedState::from_light_block(&block(CHAIN, 1, 1, &vals, &vals))
}

#[test]
fn same_block_is_no_misbehaviour() {
    let primary = conflicting(5, b"one");
    assert_eq!(detect(&primary, &primary.clone(), &trusted(), &options(), at(T0 + 20)), Ok(None));
}

#[test]
fn conflicting_signed_headers_give_evidence() {
    let (primary, witness) = (conflicting(5, b"one"), conflicting(5, b"two"));
    let evidence = detect(&primary, &witness, &trusted(), &options(), at(T0 + 20)).unwrap().unwrap();
    assert_eq!(evidence.height().value(), 5);
    assert_eq!(evidence.header_1.signed_header, primary.signed_header);
    assert_eq!(evidence.header_2.signed_header, witness.signed_header);
    assert_eq!(evidence.header_2.validator_set, witness.validators);
    assert_eq!(evidence.header_1.trusted_height.value(), 1);
    assert_eq!(evidence.header_1.trusted_validators, trusted().next_validators);
    assert_eq!(evidence.header_1.trusted_validators.hash(), trusted().next_validators_hash);
}

#[test]
fn misbehaviour_headers_may_be_from_the_future() {
    // Time skew is not an excuse: detection skips the clock-drift check, like ibc-go.
    let (primary, witness) = (conflicting(50, b"one"), conflicting(50, b"two"));
    assert!(detect(&primary, &witness, &trusted(), &options(), at(T0 + 5)).unwrap().is_some());
}

#[test]
fn unverifiable_witness_is_an_error_not_evidence() {
    let primary = conflicting(5, b"one");
    let mut witness = conflicting(5, b"two");
    witness.signed_header.commit.signatures.truncate(2);
    let err = detect(&primary, &witness, &trusted(), &options(), at(T0 + 20)).unwrap_err();
    assert!(matches!(err, MisbehaviourError::Witness(VerificationError::CommitSizeMismatch { .. })), "{err:?}");
    assert_eq!(err.reason(), "witness_invalid");
    let other_height = conflicting(6, b"two");
    assert!(matches!(
        detect(&primary, &other_height, &trusted(), &options(), at(T0 + 20)),
        Err(MisbehaviourError::HeightMismatch { .. })
    ));
}

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

/// The multi-peer scenario of tendermint-light-client's conformance files, on fresh data: the
/// primary is verified by bisection over changing validator sets, a witness serves a conflicting
/// header at the target, and detection from the state the target was verified from yields evidence.
#[test]
fn witness_fork_after_bisection() {
    use ferry_light_client_tendermint::bisection::{Bisection, Step};
    use tendermint_testgen::Validator;

    let window =
        |h: u64| -> Vec<Validator> { (h..h + 4).map(|i| Validator::new(&format!("w{i}")).voting_power(50)).collect() };
    let make = |h: u64, app: &[u8]| {
        let header = Header::new(&window(h))
            .height(h)
            .chain_id(CHAIN)
            .next_validators(&window(h + 1))
            .time(at(T0 + h as i64))
            .app_hash(tendermint::AppHash::try_from(app.to_vec()).unwrap());
        convert(TgLightBlock::new_default_with_header(header).next_validators(&window(h + 1)).generate().unwrap())
    };
    let primary: Vec<LightBlock> = (0..=12).map(|h| make(h.max(1), b"primary")).collect();
    let now = at(T0 + 60);
    let mut b = Bisection::new(TrustedState::from_light_block(&primary[1]), 12u64.try_into().unwrap(), options(), now);
    let mut next = b.next_height();
    while let Some(h) = next {
        next = match b.supply(&primary[h.value() as usize]).unwrap() {
            Step::Fetch(h) => Some(h),
            Step::Done(_) => None,
        };
    }
    let from = b.trace()[b.trace().len() - 2].clone();
    assert!(from.height.value() > 1, "the target needed bisection");

    let witness = make(12, b"witness");
    let evidence = detect(&primary[12], &witness, &from, &options(), now).unwrap().unwrap();
    assert_eq!(evidence.header_1.trusted_height, from.height);
    assert_eq!(evidence.header_2.signed_header.header.app_hash.as_bytes(), b"witness");
    // From the initial state the witness header lacks trust: the caller must use `from`.
    let initial = TrustedState::from_light_block(&primary[1]);
    assert!(matches!(
        detect(&primary[12], &witness, &initial, &options(), now),
        Err(MisbehaviourError::Primary(VerificationError::NotEnoughTrust { .. }))
    ));
}

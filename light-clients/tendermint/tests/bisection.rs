//! Bisection over testgen chains whose validator set changes every height.

mod common;

use std::collections::HashMap;

use common::*;
use ferry_light_client_tendermint::{
    bisection::{Bisection, Step},
    verify, Height, LightBlock, TrustedState, VerificationError,
};
use tendermint_testgen::Validator;

const CHAIN: &str = "ferry-bisect";

/// Validators at height `h`: four of a sliding window, so heights more than three apart share
/// at most one validator of four (not enough trust) and heights one to three apart share 2..=3.
fn window(h: u64) -> Vec<Validator> {
    (h..h + 4).map(|i| Validator::new(&format!("v{i}")).voting_power(50)).collect()
}

fn chain(len: u64) -> HashMap<u64, LightBlock> {
    (1..=len).map(|h| (h, block(CHAIN, h, h as i64, &window(h), &window(h + 1)))).collect()
}

/// Drive a bisection to completion, returning the final state and the heights fetched.
fn run(blocks: &HashMap<u64, LightBlock>, from: u64, to: u64) -> (Result<TrustedState, VerificationError>, Vec<u64>) {
    let trusted = TrustedState::from_light_block(&blocks[&from]);
    let mut b = Bisection::new(trusted, Height::try_from(to).unwrap(), options(), at(T0 + 100));
    let mut fetched = vec![];
    let mut next = b.next_height();
    while let Some(h) = next {
        fetched.push(h.value());
        match b.supply(&blocks[&h.value()]) {
            Ok(Step::Fetch(h)) => next = Some(h),
            Ok(Step::Done(state)) => {
                assert_eq!(b.next_height(), None);
                return (Ok(*state), fetched);
            }
            Err(e) => return (Err(e), fetched),
        }
    }
    unreachable!("bisection stopped without Done")
}

#[test]
fn direct_long_skip_lacks_trust() {
    let blocks = chain(21);
    let trusted = TrustedState::from_light_block(&blocks[&1]);
    assert!(matches!(
        verify(&blocks[&21], &trusted, &options(), at(T0 + 100)),
        Err(VerificationError::NotEnoughTrust { tallied: 0, total: 200 })
    ));
}

#[test]
fn bisection_verifies_a_twenty_height_skip_with_changing_validators() {
    let blocks = chain(21);
    let (state, fetched) = run(&blocks, 1, 21);
    let state = state.unwrap();
    assert_eq!(state, TrustedState::from_light_block(&blocks[&21]));
    assert_eq!(fetched.first(), Some(&21));
    assert_eq!(fetched.last(), Some(&21));
    // Every step it took was verifiable on its own.
    assert!(fetched.len() > 7, "{fetched:?}");
}

#[test]
fn bisection_trace_and_wrong_height() {
    let blocks = chain(21);
    let trusted = TrustedState::from_light_block(&blocks[&1]);
    let mut b = Bisection::new(trusted, Height::try_from(3u64).unwrap(), options(), at(T0 + 100));
    assert_eq!(
        b.supply(&blocks[&2]),
        Err(VerificationError::UnexpectedHeight { expected: 3u64.try_into().unwrap(), got: 2u64.try_into().unwrap() })
    );
    assert!(matches!(b.supply(&blocks[&3]), Ok(Step::Done(_))));
    assert_eq!(b.trace().len(), 2);
    assert_eq!(b.supply(&blocks[&3]), Err(VerificationError::BisectionFinished));
    assert_eq!(b.target().value(), 3);
}

#[test]
fn bisection_reports_a_bad_intermediate_header() {
    let mut blocks = chain(21);
    // Break the signature check of block 11 (the first midpoint) by truncating its commit.
    blocks.get_mut(&11).unwrap().signed_header.commit.signatures.pop();
    let (state, fetched) = run(&blocks, 1, 21);
    assert!(matches!(state, Err(VerificationError::CommitSizeMismatch { .. })), "{state:?}");
    assert_eq!(fetched, vec![21, 11]);
}

#[test]
fn hundred_adjacent_headers() {
    let blocks = chain(101);
    let mut trusted = TrustedState::from_light_block(&blocks[&1]);
    for h in 2..=101 {
        trusted = verify(&blocks[&h], &trusted, &options(), at(T0 + 200)).unwrap();
    }
    assert_eq!(trusted.height.value(), 101);
}

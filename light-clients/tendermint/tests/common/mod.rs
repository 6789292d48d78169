//! Shared test helpers: build blocks with tendermint-testgen.
#![allow(dead_code)]

use std::time::Duration;

use ferry_light_client_tendermint::{LightBlock, Time, TrustThreshold, VerifyOptions};
use tendermint_testgen::{
    light_block::TmLightBlock, Commit, Generator, Header, LightBlock as TgLightBlock, Validator, Vote,
};

pub const T0: i64 = 1_700_000_000;

pub fn at(secs: i64) -> Time {
    Time::from_unix_timestamp(secs, 0).unwrap()
}

pub fn options() -> VerifyOptions {
    VerifyOptions {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(3600),
        clock_drift: Duration::from_secs(10),
    }
}

pub fn validators(ids: &[&str]) -> Vec<Validator> {
    ids.iter().map(|id| Validator::new(id).voting_power(50)).collect()
}

pub fn convert(tm: TmLightBlock) -> LightBlock {
    LightBlock { signed_header: tm.signed_header, validators: tm.validators, next_validators: tm.next_validators }
}

/// A testgen block: `vals` sign height `height` at `T0 + secs`, `next` are the next validators.
pub fn testgen_block(chain: &str, height: u64, secs: i64, vals: &[Validator], next: &[Validator]) -> TgLightBlock {
    let header = Header::new(vals).height(height).chain_id(chain).next_validators(next).time(at(T0 + secs));
    TgLightBlock::new_default_with_header(header).next_validators(next)
}

pub fn block(chain: &str, height: u64, secs: i64, vals: &[Validator], next: &[Validator]) -> LightBlock {
    convert(testgen_block(chain, height, secs, vals, next).generate().unwrap())
}

/// A block at `height` whose commit is signed by `voters` (a subset of `vals`).
pub fn signed_by(
    chain: &str,
    height: u64,
    secs: i64,
    vals: &[Validator],
    next: &[Validator],
    voters: &[Validator],
) -> LightBlock {
    let header = Header::new(vals).height(height).chain_id(chain).next_validators(next).time(at(T0 + secs));
    let votes = voters.iter().map(|v| Vote::new(v.clone(), header.clone())).collect();
    let commit = Commit::new_with_votes(header.clone(), 1, votes);
    convert(TgLightBlock::new(header, commit).validators(vals).next_validators(next).generate().unwrap())
}

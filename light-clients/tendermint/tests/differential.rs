//! Ferry's verifier against the reference, tendermint-light-client-verifier's `ProdVerifier`, on
//! generated single steps: for every case both must reach the same verdict (SUCCESS,
//! NOT_ENOUGH_TRUST or INVALID), and above all Ferry must accept exactly what the reference
//! accepts.
//!
//! Cases come from a fixed-seed generator (reproducible; the seed of a failing case is printed):
//! validator sets of 1–7 with random powers, a trusted block and a target that is adjacent or
//! skips ahead with a next set that keeps, drops or adds validators; then zero or more mutations:
//! signers dropped from the commit, a signature bit flipped, the target's validator set swapped,
//! the target older than or at the trusted height or time, `now` past the trusting period or
//! before the header (beyond the clock drift), another chain id in the header.
//!
//! One known difference, both rejecting: on a skipping step whose commit carries a bad signature,
//! Ferry tallies the trusted set's power first and answers NOT_ENOUGH_TRUST when it is short,
//! where the reference checks every signature first and answers INVALID. A bisection then fetches
//! a closer header, whose check finds the bad signature. Any other difference fails the test.

mod common;

use std::time::Duration;

use common::*;
use ferry_light_client_tendermint::{
    verify, LightBlock, TrustThreshold, TrustedState, ValidatorSet, VerificationError, VerifyOptions,
};
use tendermint::block::CommitSig;
use tendermint_light_client_verifier::{
    options::Options,
    types::{TrustThreshold as Tt, TrustedBlockState, UntrustedBlockState},
    ProdVerifier, Verdict, Verifier,
};
use tendermint_testgen::{Generator, Validator};

const CHAIN: &str = "differential-1";
const CASES: u64 = 400;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn set(rng: &mut Rng, pool: &[&str]) -> Vec<Validator> {
    let n = 1 + rng.below(7) as usize;
    let mut ids: Vec<&str> = pool.to_vec();
    let mut out = Vec::new();
    while out.len() < n && !ids.is_empty() {
        let id = ids.remove(rng.below(ids.len() as u64) as usize);
        out.push(Validator::new(id).voting_power(1 + rng.below(100)));
    }
    out
}

struct Case {
    trusted: TrustedState,
    target: LightBlock,
    now: tendermint::Time,
    what: Vec<&'static str>,
}

fn case(rng: &mut Rng) -> Case {
    const POOL: [&str; 9] = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let mut what = Vec::new();
    let v0 = set(rng, &POOL);
    let n0 = if rng.chance(60) { v0.clone() } else { set(rng, &POOL) };
    let h0 = 1 + rng.below(20);
    let trusted_block = block(CHAIN, h0, 0, &v0, &n0);
    let trusted = TrustedState::from_light_block(&trusted_block);

    let adjacent = rng.chance(40);
    let h1 = if adjacent { h0 + 1 } else { h0 + 2 + rng.below(50) };
    let v1 = if adjacent || rng.chance(40) { n0.clone() } else { set(rng, &POOL) };
    let n1 = if rng.chance(70) { v1.clone() } else { set(rng, &POOL) };
    what.push(if adjacent { "adjacent" } else { "skipping" });
    let secs = 1 + rng.below(600) as i64;

    let mut voters = v1.clone();
    if rng.chance(30) {
        let keep = rng.below(voters.len() as u64 + 1) as usize;
        voters.truncate(keep);
        what.push("signers dropped");
    }
    let mut chain = CHAIN;
    if rng.chance(5) {
        chain = "other-chain-1";
        what.push("other chain id");
    }
    let mut target = if voters.is_empty() {
        // testgen needs a vote; sign with everyone, then mark every signature absent.
        let mut b = signed_by(chain, h1, secs, &v1, &n1, &v1);
        for s in &mut b.signed_header.commit.signatures {
            *s = CommitSig::BlockIdFlagAbsent;
        }
        b
    } else {
        signed_by(chain, h1, secs, &v1, &n1, &voters)
    };
    if rng.chance(8) {
        let i = rng.below(target.signed_header.commit.signatures.len() as u64) as usize;
        if let CommitSig::BlockIdFlagCommit { signature: Some(sig), .. } =
            &mut target.signed_header.commit.signatures[i]
        {
            let mut bytes = sig.as_bytes().to_vec();
            bytes[rng.below(64) as usize] ^= 1 << rng.below(8);
            *sig = tendermint::Signature::try_from(bytes).unwrap();
            what.push("signature bit flipped");
        }
    }
    if rng.chance(5) {
        target.validators =
            ValidatorSet::without_proposer(set(rng, &POOL).into_iter().map(|v| v.generate().unwrap()).collect());
        what.push("validator set swapped");
    }
    if rng.chance(5) {
        // Same content at a height not above the trusted one, or a time not after it.
        if rng.chance(50) {
            target = block(CHAIN, h0 - rng.below(h0), secs, &v1, &n1);
            what.push("height not above trusted");
        } else {
            target = block(CHAIN, h1, 0, &v1, &n1);
            what.push("time not after trusted");
        }
    }
    let mut now = at(T0 + secs + 5);
    if rng.chance(8) {
        now = at(T0 + 3600 + rng.below(100) as i64);
        what.push("trusting period over");
    } else if rng.chance(8) {
        now = at(T0 + secs - 11 - rng.below(100) as i64);
        what.push("header from the future");
    }
    Case { trusted, target, now, what }
}

fn ferry_verdict(r: &Result<TrustedState, VerificationError>) -> &'static str {
    match r {
        Ok(_) => "SUCCESS",
        Err(VerificationError::NotEnoughTrust { .. }) => "NOT_ENOUGH_TRUST",
        Err(_) => "INVALID",
    }
}

fn reference_verdict(c: &Case, options: &VerifyOptions) -> (&'static str, String) {
    let opts = Options {
        trust_threshold: Tt::new(options.trust_threshold.numerator, options.trust_threshold.denominator).unwrap(),
        trusting_period: options.trusting_period,
        clock_drift: options.clock_drift,
    };
    let u = UntrustedBlockState {
        signed_header: &c.target.signed_header,
        validators: &c.target.validators,
        next_validators: Some(&c.target.next_validators),
    };
    let t = TrustedBlockState {
        chain_id: &c.trusted.chain_id,
        header_time: c.trusted.time,
        height: c.trusted.height,
        next_validators: &c.trusted.next_validators,
        next_validators_hash: c.trusted.next_validators_hash,
    };
    let v = ProdVerifier::default().verify_update_header(u, t, &opts, c.now);
    let label = match &v {
        Verdict::Success => "SUCCESS",
        Verdict::NotEnoughTrust(_) => "NOT_ENOUGH_TRUST",
        Verdict::Invalid(_) => "INVALID",
    };
    (label, format!("{v:?}"))
}

#[test]
fn ferry_and_the_reference_verifier_agree_on_generated_steps() {
    let options = VerifyOptions {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(3600),
        clock_drift: Duration::from_secs(10),
    };
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    let mut disagreements = std::collections::BTreeMap::<(&str, &str), Vec<String>>::new();
    for seed in 1..=CASES {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let c = case(&mut rng);
        let ours = verify(&c.target, &c.trusted, &options, c.now);
        let (theirs, detail) = reference_verdict(&c, &options);
        let what = format!("seed {seed} ({}): Ferry {ours:?}; reference {detail:.200}", c.what.join(", "));
        // What matters most: the same blocks accepted, with the same resulting state.
        assert_eq!(ours.is_ok(), theirs == "SUCCESS", "{what}");
        if let Ok(state) = &ours {
            assert_eq!(state.height, c.target.height(), "{what}");
            assert_eq!(state.next_validators_hash, c.target.signed_header.header.next_validators_hash, "{what}");
        }
        if ferry_verdict(&ours) != theirs {
            disagreements.entry((ferry_verdict(&ours), theirs)).or_default().push(what);
        }
        *counts.entry(theirs).or_default() += 1;
    }
    println!("{CASES} cases: {counts:?}");
    for ((ours, theirs), cases) in &disagreements {
        println!("Ferry {ours}, reference {theirs}: {} cases", cases.len());
        for c in cases {
            println!("  {c:.160}");
        }
    }
    for ((ours, theirs), cases) in &disagreements {
        assert_eq!((*ours, *theirs), ("NOT_ENOUGH_TRUST", "INVALID"), "{cases:#?}");
        for c in cases {
            assert!(c.contains("skipping") && c.contains("signature bit flipped"), "{c}");
        }
    }
    // The generator must reach every verdict, or the comparison proves little.
    for v in ["SUCCESS", "NOT_ENOUGH_TRUST", "INVALID"] {
        assert!(counts.get(v).copied().unwrap_or(0) >= 20, "only {counts:?}");
    }
}

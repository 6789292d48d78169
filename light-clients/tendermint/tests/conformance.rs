//! The JSON cases shipped in the `tendermint-light-client` 0.40 crate under `tests/support/`,
//! driven through Ferry's verifier. The folder is found at run time with `cargo metadata`.
//!
//! Coverage:
//! - `bisection/single_peer/*.json` (4 files): trusted height, target, `now` and trust options
//!   are given; we run [`Bisection`] over the primary's blocks and assert "error"/"no error".
//! - `bisection/multi_peer/*.json` (4 files): same, then every witness's block at the target
//!   is compared with the primary's via `misbehaviour::detect` from the state the target was
//!   verified from; a fork (evidence) or an unverifiable conflicting witness counts as "error",
//!   as in the Go light client's detector.
//!
//!   Caveat, checked by the test: these 2019 files were recorded with Tendermint's pre-0.34
//!   header encoding, so their headers do not hash to their commits' block ids today (nor, in most files, their
//!   validator sets to the headers' validators hashes). Every
//!   case that gets past the trust-period check is rejected with `CommitForWrongBlock`, and
//!   the test asserts that tendermint-light-client-verifier's ProdVerifier rejects the same
//!   block (with `InvalidCommitValue`, or `InvalidValidatorSet`, which it checks first). That is why upstream disables `_happy_path.json` and
//!   `_worst_case.json` (its runner skips files starting with '_'), and why the "error"
//!   verdicts of `not_enough_commits` and the multi-peer files are reached for that reason
//!   rather than the one their description names. Only `header_out_of_trusting_period`
//!   fails for its own reason (trusted state expired). The behaviours these files describe are
//!   exercised on fresh testgen data in `tests/bisection.rs` and `tests/misbehaviour.rs`.
//! - `model_based/single_step/*.json` (41 files, 99 steps): each step's expected verdict
//!   (SUCCESS / NOT_ENOUGH_TRUST / INVALID) is asserted after mapping our error to the verdict;
//!   the trusted state advances on SUCCESS as in the upstream runner.
//! - Not covered: `model_based/*.json` (4 batch files) and `*.tla`: these are inputs for the
//!   Apalache model checker, which generates new cases at test time (needs `apalache-mc`,
//!   `jsonatr` and a JVM); they contain no verdicts. The upstream runner also applies random
//!   mutations ("fuzzers") to the static cases; we do not, as they are not data.

mod common;

use std::{collections::HashMap, fs, path::Path, time::Duration};

use ferry_light_client_tendermint::{
    bisection::{Bisection, Step},
    misbehaviour, verify, Height, LightBlock, SignedHeader, Time, TrustThreshold, TrustedState, ValidatorSet,
    VerificationError, VerifyOptions,
};
use serde::Deserialize;
use tendermint::{evidence::Duration as DurationStr, trust_threshold::TrustThresholdFraction};

#[derive(Deserialize, Clone)]
struct JsonLightBlock {
    signed_header: SignedHeader,
    validator_set: ValidatorSet,
    next_validator_set: ValidatorSet,
}

impl From<JsonLightBlock> for LightBlock {
    fn from(b: JsonLightBlock) -> Self {
        LightBlock {
            signed_header: b.signed_header,
            validators: b.validator_set,
            next_validators: b.next_validator_set,
        }
    }
}

#[derive(Deserialize)]
struct Provider {
    lite_blocks: Vec<JsonLightBlock>,
}

#[derive(Deserialize)]
struct Witness {
    value: Provider,
}

#[derive(Deserialize)]
struct TrustOptions {
    period: DurationStr,
    height: Height,
    trust_level: TrustThresholdFraction,
}

#[derive(Deserialize)]
struct BisectionCase {
    description: String,
    trust_options: TrustOptions,
    primary: Provider,
    witnesses: Vec<Witness>,
    height_to_verify: Height,
    now: Time,
    expected_output: Option<String>,
}

fn support_dir() -> std::path::PathBuf {
    common::package_dir("tendermint-light-client").join("tests/support")
}

fn json_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn by_height(blocks: Vec<JsonLightBlock>) -> HashMap<Height, LightBlock> {
    blocks.into_iter().map(LightBlock::from).map(|b| (b.height(), b)).collect()
}

/// Why a bisection failed: the error and the state/block it failed on.
struct Failure {
    error: VerificationError,
    trusted: TrustedState,
    block: LightBlock,
}

/// Bisect the primary from the trusted height to the target. Returns the target block, the
/// state it was verified from, and the number of blocks fetched.
fn bisect(
    blocks: &HashMap<Height, LightBlock>,
    trusted: Height,
    target: Height,
    options: VerifyOptions,
    now: Time,
) -> Result<(LightBlock, TrustedState, usize), Box<Failure>> {
    let mut b = Bisection::new(TrustedState::from_light_block(&blocks[&trusted]), target, options, now);
    let mut fetches = 0;
    while let Some(h) = b.next_height() {
        fetches += 1;
        let state = b.trusted().clone();
        match b.supply(&blocks[&h]) {
            Ok(Step::Done(_)) => {
                let from = b.trace()[b.trace().len() - 2].clone();
                return Ok((blocks[&target].clone(), from, fetches));
            }
            Ok(Step::Fetch(_)) => {}
            Err(error) => return Err(Box::new(Failure { error, trusted: state, block: blocks[&h].clone() })),
        }
    }
    unreachable!("bisection ended without Done")
}

/// Whether tendermint-light-client-verifier's ProdVerifier also rejects this step for a hash
/// mismatch (it checks the validator-set hash first, we check the commit's block id first).
fn reference_rejects_commit_value(f: &Failure, options: &VerifyOptions, now: Time) -> bool {
    use tendermint_light_client_verifier::{
        errors::VerificationErrorDetail as D,
        options::Options,
        types::{TrustThreshold as Tt, TrustedBlockState, UntrustedBlockState},
        ProdVerifier, Verdict, Verifier,
    };
    let opts = Options {
        trust_threshold: Tt::new(options.trust_threshold.numerator, options.trust_threshold.denominator).unwrap(),
        trusting_period: options.trusting_period,
        clock_drift: options.clock_drift,
    };
    let u = UntrustedBlockState {
        signed_header: &f.block.signed_header,
        validators: &f.block.validators,
        next_validators: Some(&f.block.next_validators),
    };
    let t = TrustedBlockState {
        chain_id: &f.trusted.chain_id,
        header_time: f.trusted.time,
        height: f.trusted.height,
        next_validators: &f.trusted.next_validators,
        next_validators_hash: f.trusted.next_validators_hash,
    };
    matches!(
        ProdVerifier::default().verify_update_header(u, t, &opts, now),
        Verdict::Invalid(D::InvalidCommitValue(_) | D::InvalidValidatorSet(_))
    )
}

enum Outcome {
    /// Verified, and no witness conflicts.
    Verified,
    /// Rejected for a reason the case is about (expired trust, a fork, ...).
    Error,
    /// Rejected because the recorded header no longer hashes to its commit's block id under the
    /// encoding Tendermint >= 0.34 uses (these 2019 files predate it); the reference verifier rejects the same block too.
    StaleData,
}

/// Returns the outcome, and a line describing what happened.
fn run_bisection_case(case: BisectionCase) -> (Outcome, String) {
    let options = VerifyOptions {
        trust_threshold: TrustThreshold {
            numerator: case.trust_options.trust_level.numerator(),
            denominator: case.trust_options.trust_level.denominator(),
        },
        trusting_period: case.trust_options.period.into(),
        // As in tendermint-light-client's own runner (Go's default).
        clock_drift: Duration::from_secs(10),
    };
    let primary = by_height(case.primary.lite_blocks);
    let target = case.height_to_verify;
    let (target_block, from, fetches) = match bisect(&primary, case.trust_options.height, target, options, case.now) {
        Ok(r) => r,
        Err(f) => {
            let what = format!("primary rejected at {}: {} ({})", f.block.height(), f.error, f.error.reason());
            if let VerificationError::CommitForWrongBlock { .. } = f.error {
                assert!(reference_rejects_commit_value(&f, &options, case.now), "reference verifier disagrees: {what}");
                return (Outcome::StaleData, what);
            }
            return (Outcome::Error, what);
        }
    };
    for (i, w) in case.witnesses.into_iter().enumerate() {
        let witness = by_height(w.value.lite_blocks);
        let Some(theirs) = witness.get(&target) else { continue };
        match misbehaviour::detect(&target_block, theirs, &from, &options, case.now) {
            Ok(None) => {}
            Ok(Some(ev)) => return (Outcome::Error, format!("witness {i}: fork at {} (evidence)", ev.height())),
            Err(e) => return (Outcome::Error, format!("witness {i}: conflicting header: {e}")),
        }
    }
    (Outcome::Verified, format!("verified {target} from {} with {fetches} fetches", from.height))
}

#[test]
fn bisection_cases() {
    let (mut ran, mut meaningful) = (0, 0);
    for kind in ["single_peer", "multi_peer"] {
        for file in json_files(&support_dir().join("bisection").join(kind)) {
            let case: BisectionCase = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
            let expect_error = case.expected_output.as_deref() == Some("error");
            // Upstream's runner skips files whose name starts with '_' (disabled cases).
            let disabled_upstream = file.file_name().unwrap().to_string_lossy().starts_with('_');
            let description = case.description.clone();
            let (outcome, what) = run_bisection_case(case);
            println!("{kind}/{}: {what}", file.file_name().unwrap().to_string_lossy());
            let context = format!("{}: {description}: {what}", file.display());
            match outcome {
                Outcome::Verified => assert!(!expect_error, "{context}"),
                Outcome::Error => assert!(expect_error, "{context}"),
                // Stale data can only be rejected; a disabled "no error" case is accepted as such.
                Outcome::StaleData => assert!(expect_error || disabled_upstream, "{context}"),
            }
            meaningful += usize::from(!matches!(outcome, Outcome::StaleData));
            ran += 1;
        }
    }
    assert_eq!(ran, 8, "expected 4 single-peer and 4 multi-peer cases");
    // header_out_of_trusting_period is decided by the trusting period, before any hashing.
    assert!(meaningful >= 1);
}

#[derive(Deserialize)]
struct Initial {
    signed_header: SignedHeader,
    next_validator_set: ValidatorSet,
    trusting_period: DurationStr,
}

#[derive(Deserialize)]
struct Step1 {
    block: serde_json::Value,
    now: Time,
    verdict: String,
}

#[derive(Deserialize)]
struct SingleStepCase {
    initial: Initial,
    input: Vec<Step1>,
}

fn verdict(r: &Result<TrustedState, VerificationError>) -> &'static str {
    match r {
        Ok(_) => "SUCCESS",
        Err(VerificationError::NotEnoughTrust { .. }) => "NOT_ENOUGH_TRUST",
        Err(_) => "INVALID",
    }
}

#[test]
fn model_based_single_step_cases() {
    let (mut files, mut steps) = (0, 0);
    for file in json_files(&support_dir().join("model_based/single_step")) {
        let case: SingleStepCase = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        let options = VerifyOptions {
            trust_threshold: TrustThreshold::ONE_THIRD,
            trusting_period: case.initial.trusting_period.into(),
            clock_drift: Duration::ZERO, // as upstream's single-step runner
        };
        let initial = LightBlock {
            signed_header: case.initial.signed_header,
            validators: case.initial.next_validator_set.clone(),
            next_validators: case.initial.next_validator_set,
        };
        let mut trusted = TrustedState::from_light_block(&initial);
        for (i, step) in case.input.into_iter().enumerate() {
            let parsed = serde_json::from_value::<JsonLightBlock>(step.block);
            if step.verdict == "PARSE_ERROR" {
                assert!(parsed.is_err(), "{} step {i}: expected a parse error", file.display());
                continue;
            }
            let mut block = LightBlock::from(parsed.unwrap());
            // Upstream re-sorts the sets the same way (validator order is part of the hash).
            block.validators = ValidatorSet::without_proposer(block.validators.validators().to_vec());
            block.next_validators = ValidatorSet::without_proposer(block.next_validators.validators().to_vec());
            let result = verify(&block, &trusted, &options, step.now);
            assert_eq!(verdict(&result), step.verdict, "{} step {i}: {result:?}", file.display());
            if let Ok(next) = result {
                trusted = next;
            }
            steps += 1;
        }
        files += 1;
    }
    println!("model-based single-step: {files} files, {steps} steps");
    assert_eq!(files, 41);
    assert_eq!(steps, 99);
}

//! Verify one adjacent header signed by all of 150 validators (built with tendermint-testgen),
//! with this crate and with tendermint-light-client-verifier's ProdVerifier, in one run.
//!
//! Run: `light-clients/tendermint/bench.sh` (or `cargo bench -p ferry-light-client-tendermint
//! --bench verify -- --sample-size 20 --measurement-time 5`). After criterion has measured, the
//! means are read back from criterion's `estimates.json` files and written to
//! `light-clients/tendermint/bench-results/verify-150.json`.

use std::{path::PathBuf, time::Duration};

use criterion::{black_box, Criterion};
use ferry_light_client_tendermint::{
    signatures::Ed25519Single, verify, verify_with, LightBlock, Time, TrustThreshold, TrustedState, VerifyOptions,
};
use tendermint_light_client_verifier::{
    options::Options,
    types::{TrustThreshold as Tt, TrustedBlockState, UntrustedBlockState},
    ProdVerifier, Verdict, Verifier,
};
use tendermint_testgen::{Generator, Header, LightBlock as TgLightBlock, Validator};

const VALIDATORS: usize = 150;
const GROUP: &str = "verify-150";

fn light_block(height: u64, vals: &[Validator]) -> LightBlock {
    let header = Header::new(vals)
        .height(height)
        .chain_id("bench-chain")
        .next_validators(vals)
        .time(Time::from_unix_timestamp(1_700_000_000 + height as i64, 0).unwrap());
    let tm = TgLightBlock::new_default_with_header(header).generate().unwrap();
    LightBlock { signed_header: tm.signed_header, validators: tm.validators, next_validators: tm.next_validators }
}

fn bench(c: &mut Criterion) {
    let vals: Vec<Validator> =
        (0..VALIDATORS).map(|i| Validator::new(&format!("validator-{i:03}")).voting_power(10)).collect();
    let trusted_block = light_block(1, &vals);
    let untrusted = light_block(2, &vals);
    assert_eq!(untrusted.signed_header.commit.signatures.len(), VALIDATORS);
    let trusted = TrustedState::from_light_block(&trusted_block);
    let options = VerifyOptions {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(3600),
        clock_drift: Duration::from_secs(10),
    };
    let now = Time::from_unix_timestamp(1_700_000_010, 0).unwrap();

    let prod_options = Options {
        trust_threshold: Tt::ONE_THIRD,
        trusting_period: options.trusting_period,
        clock_drift: options.clock_drift,
    };
    let prod_untrusted = || UntrustedBlockState {
        signed_header: &untrusted.signed_header,
        validators: &untrusted.validators,
        next_validators: Some(&untrusted.next_validators),
    };
    let prod_trusted = || TrustedBlockState {
        chain_id: &trusted.chain_id,
        header_time: trusted.time,
        height: trusted.height,
        next_validators: &trusted.next_validators,
        next_validators_hash: trusted.next_validators_hash,
    };
    let prod = ProdVerifier::default();
    // Both must accept the header before we time them.
    assert!(verify(&untrusted, &trusted, &options, now).is_ok());
    assert_eq!(prod.verify_update_header(prod_untrusted(), prod_trusted(), &prod_options, now), Verdict::Success);

    let mut group = c.benchmark_group(GROUP);
    group.bench_function("ferry", |b| b.iter(|| verify(black_box(&untrusted), &trusted, &options, now).unwrap()));
    group.bench_function("ferry_unbatched", |b| {
        b.iter(|| verify_with(&Ed25519Single, black_box(&untrusted), &trusted, &options, now).unwrap())
    });
    group.bench_function("prod_verifier", |b| {
        b.iter(|| prod.verify_update_header(black_box(prod_untrusted()), prod_trusted(), &prod_options, now))
    });
    group.finish();

    // Where the time goes (not part of the comparison).
    let mut parts = c.benchmark_group("verify-150-parts");
    parts.bench_function("validator_set_hash", |b| b.iter(|| black_box(&untrusted.validators).hash()));
    parts.bench_function("header_hash", |b| b.iter(|| black_box(&untrusted.signed_header.header).hash()));
    parts.finish();
}

/// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the
/// workspace's `target/criterion`.
fn criterion_dir() -> PathBuf {
    if let Ok(home) = std::env::var("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("criterion")
}

/// A point estimate (`mean`, `median`, `slope`) in nanoseconds from criterion's `new/estimates.json`.
fn estimate_ns(id: &str, which: &str) -> Option<f64> {
    let path = criterion_dir().join(GROUP).join(id).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json[which]["point_estimate"].as_f64()
}

fn mean_ns(id: &str) -> Option<f64> {
    estimate_ns(id, "mean")
}

fn ms(id: &str, which: &str) -> Option<f64> {
    estimate_ns(id, which).map(|n| n / 1e6)
}

fn write_summary() {
    let (Some(ferry), Some(prod)) = (mean_ns("ferry"), mean_ns("prod_verifier")) else {
        eprintln!("no criterion estimates found under {}", criterion_dir().display());
        return;
    };
    let summary = serde_json::json!({
        "benchmark": "verify one adjacent header, 150 validators, all signing",
        "ferry_mean_ms": ferry / 1e6,
        "ferry_unbatched_mean_ms": mean_ns("ferry_unbatched").map(|n| n / 1e6),
        "prod_verifier_mean_ms": prod / 1e6,
        "speedup_vs_prod_verifier": prod / ferry,
        "median_ms": { "ferry": ms("ferry", "median"), "prod_verifier": ms("prod_verifier", "median") },
        "slope_ms": { "ferry": ms("ferry", "slope"), "prod_verifier": ms("prod_verifier", "slope") },
        "goal": { "speedup_at_least": 1.8, "ferry_ms_at_most": 4.5 },
        "meets_goal": prod / ferry >= 1.8 && ferry / 1e6 <= 4.5,
        "source": "criterion mean point estimates (estimates.json)",
    });
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-results");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("verify-150.json");
    std::fs::write(&file, serde_json::to_string_pretty(&summary).unwrap() + "\n").unwrap();
    println!("summary written to {}:\n{}", file.display(), serde_json::to_string_pretty(&summary).unwrap());
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `cargo test --benches` runs this in test mode: no measurements, nothing to summarise.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        write_summary();
    }
}

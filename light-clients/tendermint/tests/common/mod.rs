//! Shared test helpers: find dev-dependency source folders, build blocks with tendermint-testgen.
#![allow(dead_code)]

use std::{path::PathBuf, process::Command, time::Duration};

use ferry_light_client_tendermint::{LightBlock, Time, TrustThreshold, VerifyOptions};
use tendermint_testgen::{light_block::TmLightBlock, Generator, Header, LightBlock as TgLightBlock, Validator};

/// The source folder of a (dev-)dependency, found with `cargo metadata` at run time (offline
/// first; online if some other workspace member's dependency is not downloaded yet).
pub fn package_dir(name: &str) -> PathBuf {
    static METADATA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let meta = METADATA.get_or_init(cargo_metadata);
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .max_by_key(|p| p["version"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("package {name} not in cargo metadata"));
    PathBuf::from(pkg["manifest_path"].as_str().unwrap()).parent().unwrap().to_path_buf()
}

fn cargo_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let metadata = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.args(["metadata", "--format-version", "1", "--manifest-path", manifest]);
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("run cargo metadata")
    };
    let mut out = metadata(true);
    if !out.status.success() {
        out = metadata(false);
    }
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

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

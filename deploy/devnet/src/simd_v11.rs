//! Builds the ibc-go v11.2.0 `simd` (Cosmos SDK v0.54, CometBFT v0.39; IBC v2 and the `attestations`
//! light client) from the small Go module in `deploy/devnet/simd-v11` (embedded here), and caches the
//! binary under `~/.cache/ferry/simd-v11/<hash of the module files>/`, so later runs skip the build.
//! Same approach as `simd.rs` (v8); the CLI shape is the same, so `node.rs` can drive either binary.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::DevnetError;

const GO_MOD: &str = include_str!("../../../deploy/devnet/simd-v11/go.mod");
const GO_SUM: &str = include_str!("../../../deploy/devnet/simd-v11/go.sum");
const MAIN_GO: &str = include_str!("../../../deploy/devnet/simd-v11/main.go");
const CMD_GO: &str = include_str!("../../../deploy/devnet/simd-v11/cmd.go");

const FILES: [(&str, &str); 4] = [
    ("go.mod", GO_MOD),
    ("go.sum", GO_SUM),
    ("main.go", MAIN_GO),
    ("cmd.go", CMD_GO),
];

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".cache")
        });
    let mut h = Sha256::new();
    for (name, body) in FILES {
        h.update(name.as_bytes());
        h.update(body.as_bytes());
    }
    base.join("ferry")
        .join("simd-v11")
        .join(hex::encode(&h.finalize()[..8]))
}

/// The path of a runnable v11 `simd`: `$FERRY_SIMD_V11` if set, else the cached build (built now if
/// missing).
pub async fn ensure_simd_v11() -> Result<PathBuf, DevnetError> {
    if let Some(p) = std::env::var_os("FERRY_SIMD_V11") {
        return Ok(PathBuf::from(p));
    }
    let dir = cache_dir();
    let bin = dir.join("simd");
    if bin.exists() {
        return Ok(bin);
    }
    super::simd::build(&dir, &FILES, "simd (ibc-go v11.2.0)").await
}

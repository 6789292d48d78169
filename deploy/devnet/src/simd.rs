//! Builds ibc-go v8.8.0 `simd` from the small Go module in `deploy/devnet/simd` (embedded here) and
//! caches the binary under `~/.cache/ferry/simd/<hash of the module files>/`, so later runs skip it.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{io, DevnetError};

const GO_MOD: &str = include_str!("../../../deploy/devnet/simd/go.mod");
const GO_SUM: &str = include_str!("../../../deploy/devnet/simd/go.sum");
const MAIN_GO: &str = include_str!("../../../deploy/devnet/simd/main.go");

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".cache")
        });
    let mut h = Sha256::new();
    for part in [GO_MOD, GO_SUM, MAIN_GO] {
        h.update(part.as_bytes());
    }
    base.join("ferry")
        .join("simd")
        .join(hex::encode(&h.finalize()[..8]))
}

/// The path of a runnable `simd`: `$FERRY_SIMD` if set, else the cached build (built now if missing).
pub async fn ensure_simd() -> Result<PathBuf, DevnetError> {
    if let Some(p) = std::env::var_os("FERRY_SIMD") {
        return Ok(PathBuf::from(p));
    }
    let dir = cache_dir();
    let bin = dir.join("simd");
    if bin.exists() {
        return Ok(bin);
    }
    build(
        &dir,
        &[("go.mod", GO_MOD), ("go.sum", GO_SUM), ("main.go", MAIN_GO)],
        "simd (ibc-go v8.8.0)",
    )
    .await
}

/// Write the Go module `files` into `dir/src` and `go build` it to `dir/simd` (through a partial
/// name, so an interrupted build never leaves a broken binary). `what` names it in messages.
pub(super) async fn build(
    dir: &std::path::Path,
    files: &[(&str, &str)],
    what: &str,
) -> Result<PathBuf, DevnetError> {
    let bin = dir.join("simd");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(io(&src))?;
    for (name, body) in files {
        std::fs::write(src.join(name), body).map_err(io(&src))?;
    }
    let progress = ferry::progress::Progress::start(format!(
        "building {what} from Go modules into {} (first time only, takes minutes)",
        dir.display()
    ));
    progress.step("go build: fetching modules and compiling");
    let tmp = dir.join("simd.partial");
    let out = tokio::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(".")
        .current_dir(&src)
        .env("GOFLAGS", "-mod=mod")
        .output()
        .await
        .map_err(|e| DevnetError::Command {
            cmd: "go build".into(),
            detail: format!("{e} (is Go installed?)"),
        })?;
    if !out.status.success() {
        progress.finish("failed");
        return Err(DevnetError::Command {
            cmd: format!("go build ({what})"),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    progress.finish("built");
    std::fs::rename(&tmp, &bin).map_err(io(&bin))?;
    Ok(bin)
}

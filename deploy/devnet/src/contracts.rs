//! Ferry's Solidity contracts (`contracts/`, embedded here so the `ferry` binary can build them
//! anywhere), compiled with solc-js 0.8.28 under node by `contracts/compile.mjs` and cached under
//! `~/.cache/ferry/contracts/<sha256 of the sources and compiler version>/`, so later calls, from
//! any process, load the artifacts without running node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use ethers::abi::Abi;
use ethers::types::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The pinned compiler (npm `solc`); `contracts/package.json` and `install-solc.sh` say the same.
pub const SOLC_VERSION: &str = "0.8.28";

const COMPILE_MJS: &str = include_str!("../../../contracts/compile.mjs");

/// Every Solidity source, by its path under `contracts/`.
pub const SOURCES: &[(&str, &str)] = &[
    (
        "src/AttestationsLightClient.sol",
        include_str!("../../../contracts/src/AttestationsLightClient.sol"),
    ),
    (
        "src/AttestedLightClient.sol",
        include_str!("../../../contracts/src/AttestedLightClient.sol"),
    ),
    (
        "src/FerryRouter.sol",
        include_str!("../../../contracts/src/FerryRouter.sol"),
    ),
    (
        "src/HostileToken.sol",
        include_str!("../../../contracts/src/HostileToken.sol"),
    ),
    (
        "src/ICS20Transfer.sol",
        include_str!("../../../contracts/src/ICS20Transfer.sol"),
    ),
    (
        "src/IFerry.sol",
        include_str!("../../../contracts/src/IFerry.sol"),
    ),
    (
        "src/TestToken.sol",
        include_str!("../../../contracts/src/TestToken.sol"),
    ),
    (
        "src/VoucherToken.sol",
        include_str!("../../../contracts/src/VoucherToken.sol"),
    ),
    (
        "src/lib/ERC20.sol",
        include_str!("../../../contracts/src/lib/ERC20.sol"),
    ),
    (
        "src/lib/MerklePatricia.sol",
        include_str!("../../../contracts/src/lib/MerklePatricia.sol"),
    ),
    (
        "src/lib/RLPReader.sol",
        include_str!("../../../contracts/src/lib/RLPReader.sol"),
    ),
];

/// The deployable contracts `compiled()` returns.
pub const CONTRACTS: [&str; 7] = [
    "AttestationsLightClient",
    "AttestedLightClient",
    "FerryRouter",
    "HostileToken",
    "ICS20Transfer",
    "TestToken",
    "VoucherToken",
];

#[derive(Clone, Debug, Deserialize)]
pub struct Artifact {
    pub abi: Abi,
    pub bytecode: Bytes,
}

#[derive(Debug, Error)]
pub enum ContractsError {
    #[error("`node` could not be run ({0}); Node.js 18+ is needed to compile Ferry's contracts")]
    NodeMissing(String),
    #[error("`npm install --prefix {prefix} solc@{SOLC_VERSION}` failed: {stderr}")]
    NpmInstall { prefix: PathBuf, stderr: String },
    #[error("solc failed to compile Ferry's contracts:\n{0}")]
    Compile(String),
    #[error("bad contract artifact {path}: {detail}")]
    BadArtifact { path: PathBuf, detail: String },
    #[error("contracts cache I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContractsError + '_ {
    move |source| ContractsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files written into the cache folder: `compile.mjs` next to `src/`.
fn files() -> Vec<(&'static str, &'static str)> {
    let mut all = vec![("compile.mjs", COMPILE_MJS)];
    all.extend_from_slice(SOURCES);
    all
}

/// Hex sha256 over the compiler version and every (name, content), each length-prefixed so no
/// two different source sets collide.
pub fn cache_key(files: &[(&str, &str)], compiler_version: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ferry-contracts\0");
    h.update(compiler_version.as_bytes());
    h.update([0u8]);
    for (name, body) in files {
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        h.update((body.len() as u64).to_be_bytes());
        h.update(body.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `~/.cache/ferry/contracts/<cache_key>` (`$XDG_CACHE_HOME` respected, as for simd).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache"));
    base.join("ferry")
        .join("contracts")
        .join(cache_key(&files(), SOLC_VERSION))
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
}

/// Where npm packages go: `$FERRY_NPM_PREFIX`, else `~/.cache/ferry/npm` (as the install scripts).
pub fn npm_prefix() -> PathBuf {
    std::env::var_os("FERRY_NPM_PREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache").join("ferry").join("npm"))
}

fn solc_installed(dir: &Path) -> bool {
    let Ok(pkg) = std::fs::read_to_string(dir.join("package.json")) else {
        return false;
    };
    let version = serde_json::from_str::<serde_json::Value>(&pkg)
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    dir.join("soljson.js").exists() && version.as_deref() == Some(SOLC_VERSION)
}

/// The solc-js module folder, installed with npm first if missing (`install-solc.sh` in Rust;
/// `npm.rs`: safe to call from many threads and processes at once).
pub fn ensure_solc() -> Result<PathBuf, ContractsError> {
    let prefix = npm_prefix();
    let dir = prefix.join("node_modules").join("solc");
    let spec = format!("solc@{SOLC_VERSION}");
    crate::npm::install_once(&prefix, &spec, &|| solc_installed(&dir)).map_err(|f| {
        ContractsError::NpmInstall {
            prefix: prefix.clone(),
            stderr: f.detail,
        }
    })?;
    Ok(dir)
}

/// A name no other thread or process is using at the same time.
fn unique(base: &Path, stem: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    base.join(format!(
        "{stem}.partial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The compiled artifacts by contract name: from the cache, else compiled now (a few seconds).
pub fn compiled() -> Result<BTreeMap<String, Artifact>, ContractsError> {
    let dir = cache_dir();
    let out = dir.join("out");
    // `out` only ever appears by an atomic rename of a finished compile.
    if out.exists() {
        return load(&out);
    }
    for (name, body) in files() {
        let path = dir.join(name);
        let parent = path.parent().expect("cache paths have a parent");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        // Write-then-rename, so a concurrent compile never reads a half-written file.
        let tmp = unique(parent, name.rsplit('/').next().unwrap_or(name));
        std::fs::write(&tmp, body).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
    }
    let solc = ensure_solc()?;
    let tmp = unique(&dir, "out");
    let run = Command::new("node")
        .arg(dir.join("compile.mjs"))
        .arg(&tmp)
        .arg(&solc)
        .output()
        .map_err(|e| ContractsError::NodeMissing(e.to_string()))?;
    if !run.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(ContractsError::Compile(
            String::from_utf8_lossy(&run.stderr).into_owned(),
        ));
    }
    let artifacts = load(&tmp)?;
    if let Err(e) = std::fs::rename(&tmp, &out) {
        // Another compile finished first with the same sources; keep its copy.
        let _ = std::fs::remove_dir_all(&tmp);
        if !out.exists() {
            return Err(io(&out)(e));
        }
    }
    Ok(artifacts)
}

/// Reads `<Name>.json` for every deployable contract in `dir`.
pub fn load(dir: &Path) -> Result<BTreeMap<String, Artifact>, ContractsError> {
    let mut all = BTreeMap::new();
    for name in CONTRACTS {
        let path = dir.join(format!("{name}.json"));
        let body = std::fs::read(&path).map_err(io(&path))?;
        let art: Artifact =
            serde_json::from_slice(&body).map_err(|e| ContractsError::BadArtifact {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        if art.bytecode.is_empty() {
            return Err(ContractsError::BadArtifact {
                path,
                detail: "empty bytecode".into(),
            });
        }
        all.insert(name.to_string(), art);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_is_stable_and_covers_names_contents_and_version() {
        let files = [("a.sol", "contract A {}"), ("b.sol", "contract B {}")];
        let key = cache_key(&files, "0.8.28");
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(key, cache_key(&files, "0.8.28"));
        assert_ne!(key, cache_key(&files, "0.8.29"));
        assert_ne!(
            key,
            cache_key(&[("a.sol", "contract A {} "), files[1]], "0.8.28")
        );
        assert_ne!(
            key,
            cache_key(&[("c.sol", "contract A {}"), files[1]], "0.8.28")
        );
        // Moving bytes between a name and its content changes the key.
        assert_ne!(
            cache_key(&[("ab", "c")], "v"),
            cache_key(&[("a", "bc")], "v")
        );
        assert_ne!(key, cache_key(&files[..1], "0.8.28"));
    }

    #[test]
    fn every_solidity_file_is_embedded() {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else if p.extension().is_some_and(|x| x == "sol") {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
        let mut on_disk = Vec::new();
        walk(&base.join("src"), &base, &mut on_disk);
        on_disk.sort();
        let embedded: Vec<String> = SOURCES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn load_rejects_missing_and_malformed_artifacts() {
        let dir = unique(&std::env::temp_dir(), "ferry-contracts-load-test");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(load(&dir), Err(ContractsError::Io { .. })));
        for name in CONTRACTS {
            std::fs::write(
                dir.join(format!("{name}.json")),
                r#"{"abi": [], "bytecode": "0x6000"}"#,
            )
            .unwrap();
        }
        assert_eq!(load(&dir).unwrap().len(), CONTRACTS.len());
        std::fs::write(dir.join("FerryRouter.json"), r#"{"abi": 1}"#).unwrap();
        let err = load(&dir).unwrap_err();
        assert!(matches!(err, ContractsError::BadArtifact { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

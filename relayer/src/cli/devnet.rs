//! `ferry devnet …` runs the `ferry-devnet` binary (crate `deploy/devnet`), so the production binary
//! carries no chain builds, anvil or contract deployment. It is looked for next to this binary, then
//! on `PATH`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

const BINARY: &str = "ferry-devnet";

/// Where `ferry-devnet` is: beside `exe`, else the first match on `path`.
pub fn find(exe: Option<&Path>, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let beside = exe.and_then(Path::parent).map(|d| d.join(BINARY));
    beside
        .into_iter()
        .chain(
            path.into_iter()
                .flat_map(std::env::split_paths)
                .map(|d| d.join(BINARY)),
        )
        .find(|p| p.is_file())
}

/// Replaces this process with `ferry-devnet [--json] args…`; returns only on failure.
pub fn exec(args: &[String], json: bool) -> anyhow::Error {
    let exe = std::env::current_exe().ok();
    let Some(bin) = find(exe.as_deref(), std::env::var_os("PATH").as_deref()) else {
        return anyhow!(
            "`ferry devnet` needs the `{BINARY}` binary, found neither next to {} nor on PATH; \
             build it with `cargo build -p ferry-devnet` (the Makefile's targets do)",
            exe.as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "ferry".into())
        );
    };
    let mut cmd = std::process::Command::new(&bin);
    if json {
        cmd.arg("--json");
    }
    let err = cmd.args(args).exec();
    anyhow!("running {}: {err}", bin.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_binary_beside_ferry_before_path() {
        let dir = std::env::temp_dir().join(format!("ferry-devnet-find-{}", std::process::id()));
        let (bin_dir, path_dir) = (dir.join("bin"), dir.join("path"));
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::fs::create_dir_all(&path_dir).unwrap();
        let exe = bin_dir.join("ferry");
        let path = std::env::join_paths([&path_dir]).unwrap();
        assert_eq!(find(Some(&exe), Some(&path)), None);
        std::fs::write(path_dir.join(BINARY), "").unwrap();
        assert_eq!(find(Some(&exe), Some(&path)), Some(path_dir.join(BINARY)));
        std::fs::write(bin_dir.join(BINARY), "").unwrap();
        assert_eq!(find(Some(&exe), Some(&path)), Some(bin_dir.join(BINARY)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

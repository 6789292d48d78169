//! npm packages the devnet and the tests run (anvil, solc), installed once into one prefix.
//!
//! Tests run in parallel threads and processes, and the first ones on a fresh machine all find a
//! package missing. Unguarded, they ran `npm install` into the prefix at the same time, and one
//! started anvil while another's npm was still writing it ("Text file busy", CI on a fresh
//! clone). So an install holds a lock file in the prefix, and a package counts as installed only
//! once its marker is written, after its npm install finished.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why a package could not be installed: the command and what it said.
#[derive(Debug)]
pub struct NpmFailure {
    pub cmd: String,
    pub detail: String,
}

/// `flock(LOCK_EX)`: held by this open file until it is closed, against other opens of the file
/// in this process and others. (`File::lock` needs Rust 1.89; the workspace supports 1.85.)
fn lock_exclusive(f: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: a valid descriptor, owned by `f` for the duration of the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn marker(prefix: &Path, spec: &str) -> PathBuf {
    prefix
        .join(".ferry-installed")
        .join(spec.replace(['/', '@'], "_"))
}

/// Make sure `spec` (`name@version`) is installed in `prefix`: `installed()` says whether its
/// files are there. Returns at once when its marker is; else installs under the prefix's lock,
/// unless whoever held the lock before did.
pub fn install_once(
    prefix: &Path,
    spec: &str,
    installed: &dyn Fn() -> bool,
) -> Result<(), NpmFailure> {
    let mark = marker(prefix, spec);
    if mark.exists() && installed() {
        return Ok(());
    }
    let fail = |detail: String| NpmFailure {
        cmd: format!("npm install --prefix {} {spec}", prefix.display()),
        detail,
    };
    let dir = mark.parent().expect("marker has a folder");
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let lock_path = prefix.join(".ferry-install.lock");
    let lock =
        File::create(&lock_path).map_err(|e| fail(format!("{}: {e}", lock_path.display())))?;
    // Blocks while another thread or process installs; released when `lock` is closed.
    lock_exclusive(&lock).map_err(|e| fail(format!("lock {}: {e}", lock_path.display())))?;
    // Installed before markers existed, or by whoever held the lock before us: complete, since
    // every install holds the lock until its npm has finished.
    if !installed() {
        let progress = ferry::progress::Progress::start(format!(
            "installing {spec} (npm) into {} (first time only)",
            prefix.display()
        ));
        progress.step("npm install");
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(prefix)
            .arg(spec)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run npm: {e}")))?;
        let ok = out.status.success() && installed();
        progress.finish(if ok { "done" } else { "failed" });
        if !ok {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let detail = if out.status.success() {
                // npm's warnings, if any, then what is wrong: on a line of its own.
                format!("{stderr}\nnpm succeeded, but the package's files are not where expected")
            } else {
                stderr.into_owned()
            };
            return Err(fail(detail));
        }
    }
    std::fs::write(&mark, spec).map_err(|e| fail(format!("{}: {e}", mark.display())))?;
    Ok(())
}

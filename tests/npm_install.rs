//! First installs of the devnet's npm packages, many at once, as on a fresh machine where the
//! first tests of several binaries all find anvil missing. CI on a fresh clone failed this way:
//! two tests ran `npm install` into the one prefix together, and one started anvil while the
//! other's npm was still writing it ("Text file busy (os error 26)").

use std::process::Command;

use ferry_tests::TempDir;

#[test]
fn concurrent_first_installs_of_anvil_all_get_a_binary_that_runs() {
    let prefix = TempDir::new("npm-prefix");
    // The only test in this binary: nothing else reads these.
    std::env::remove_var("FERRY_ANVIL");
    std::env::set_var("FERRY_NPM_PREFIX", &prefix.0);
    let callers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let bin =
                    ferry_devnet::evm::ensure_anvil().unwrap_or_else(|e| panic!("install: {e}"));
                let out = Command::new(&bin)
                    .arg("--version")
                    .output()
                    .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
                assert!(out.status.success(), "anvil --version: {out:?}");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
        })
        .collect();
    for c in callers {
        let version = c.join().expect("caller panicked");
        assert!(version.contains("anvil"), "{version}");
    }
    // Later callers find it installed and run nothing.
    let again = std::time::Instant::now();
    ferry_devnet::evm::ensure_anvil().unwrap();
    assert!(again.elapsed() < std::time::Duration::from_secs(1));
}

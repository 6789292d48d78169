//! A throwaway anvil for one test: started on a free 127.0.0.1 port, killed by its pid when
//! dropped. The binary comes from `ferry_devnet::evm::ensure_anvil()` (`$FERRY_ANVIL`, else the
//! pinned npm package, installed on first use).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};

/// A running anvil, killed (by its pid) when dropped. Its output goes to a log file in the temp
/// folder, removed on drop unless the test is panicking.
pub struct Anvil {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: PathBuf,
}

impl Anvil {
    /// Auto-mining (a block per transaction).
    pub fn start(chain_id: u64) -> Anvil {
        Self::spawn(chain_id, &[])
    }

    /// A block every `seconds`, transactions or not.
    pub fn start_with_block_time(chain_id: u64, seconds: u64) -> Anvil {
        Self::spawn(chain_id, &["--block-time", &seconds.to_string()])
    }

    fn spawn(chain_id: u64, extra: &[&str]) -> Anvil {
        let bin = ferry_devnet::evm::ensure_anvil().unwrap_or_else(|e| panic!("anvil: {e}"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log =
            std::env::temp_dir().join(format!("ferry-anvil-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("anvil log");
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &chain_id.to_string()])
            .args(extra)
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        eprintln!(
            "anvil pid {} on 127.0.0.1:{port}, log {}",
            child.id(),
            log.display()
        );
        Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // `Child::kill` signals exactly this pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

//! Shared helpers for integration tests: a devnet in a temporary folder (stopped by pid on drop), the
//! `ferry` binary run as a user would, and chain queries through Ferry's own library; a lone anvil
//! (`anvil`) and EVM helpers (`evm`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_devnet::{Devnet, DevnetState};

pub mod anvil;
pub mod bench;
pub mod counting_proxy;
pub mod evm;
pub mod instances;
pub mod postgres;
pub mod proxy;

/// The `ferry` binary: `$FERRY_BIN`, else `<target>/debug/ferry` (built by `make test` first).
pub fn ferry_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/ferry");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p ferry --bin ferry` first (make test does)",
        bin.display()
    );
    bin
}

/// A devnet of its own for one test binary, stopped when dropped.
pub struct TestNet {
    pub devnet: Devnet,
    pub state: DevnetState,
    _tmp: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        // Unique within the process too: two folders with one tag must not be one folder.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferry-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("FERRY_TEST_KEEP").is_some() {
            eprintln!("keeping {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestNet {
    pub async fn start(tag: &str) -> TestNet {
        Self::start_devnet(tag, false).await
    }

    /// The devnet with the IBC v2 appchain (ibc-go v11), its committee and its path to
    /// `evm-settlement`.
    pub async fn start_v2(tag: &str) -> TestNet {
        Self::start_devnet(tag, true).await
    }

    async fn start_devnet(tag: &str, v2: bool) -> TestNet {
        let tmp = TempDir::new(tag);
        let devnet = if v2 {
            Devnet::with_v2(tmp.0.join("devnet"))
        } else {
            Devnet::new(tmp.0.join("devnet"))
        };
        let state = match devnet.up().await {
            Ok(s) => s,
            Err(e) => {
                // Stop what a partial start left running (recorded in devnet.json) before failing.
                let _ = devnet.down();
                panic!("devnet up: {e}");
            }
        };
        // Tests must not collide with a relayer on 9464: give every test its own metrics port.
        let port = ferry_devnet::free_port();
        let cfg = state.ferry_home.join("config.toml");
        let text = std::fs::read_to_string(&cfg).unwrap().replace(
            &format!("listen = \"{}\"", state.metrics),
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        std::fs::write(&cfg, text).unwrap();
        TestNet {
            devnet,
            state,
            _tmp: tmp,
        }
    }

    pub fn home(&self) -> &Path {
        &self.state.ferry_home
    }

    pub fn metrics_url(&self) -> String {
        let cfg = ferry::config::load(&self.home().join("config.toml"))
            .unwrap()
            .0;
        format!("http://{}/metrics", cfg.telemetry.listen)
    }

    /// Run `ferry --home <devnet home> args…` to completion.
    pub fn ferry(&self, args: &[&str]) -> Output {
        Command::new(ferry_bin())
            .arg("--home")
            .arg(self.home())
            .args(args)
            .output()
            .expect("run ferry")
    }

    /// Like [`ferry`], asserting success; returns stdout.
    pub fn ferry_ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        assert!(
            out.status.success(),
            "ferry {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// At most `n` packet messages per relayer tx (the devnet's default is 50): a relay round then
    /// spans several txs, so a kill can land between them.
    pub fn set_max_msgs_per_tx(&self, n: usize) {
        let cfg = self.home().join("config.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(
            text.contains("max_msgs_per_tx = 50"),
            "devnet config changed"
        );
        let text = text.replace("max_msgs_per_tx = 50", &format!("max_msgs_per_tx = {n}"));
        std::fs::write(&cfg, text).unwrap();
    }

    /// `ferry start` in the background, its log in the devnet folder.
    pub fn start_relayer(&self, log_name: &str) -> Relayer {
        self.start_relayer_with(log_name, &self.home().join("config.toml"))
    }

    /// `ferry --config CONFIG start` in the background.
    pub fn start_relayer_with(&self, log_name: &str, config: &Path) -> Relayer {
        self.start_relayer_env(log_name, config, &[])
    }

    /// `ferry --config CONFIG start` in the background, with extra environment variables.
    pub fn start_relayer_env(
        &self,
        log_name: &str,
        config: &Path,
        envs: &[(&str, &str)],
    ) -> Relayer {
        let log = self.devnet.dir.join(log_name);
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(ferry_bin())
            .envs(envs.iter().copied())
            .arg("--home")
            .arg(self.home())
            .arg("--config")
            .arg(config)
            .arg("start")
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn ferry start");
        Relayer {
            child: Some(child),
            log,
        }
    }

    /// `ferry --json transfer --path l3-settlement --from-chain FROM --amount AMOUNT --to TO [extra…]`,
    /// asserting success; returns the last JSON line it printed.
    pub fn transfer(
        &self,
        from: &str,
        amount: &str,
        to: &str,
        extra: &[&str],
    ) -> serde_json::Value {
        let mut args = vec![
            "--json",
            "transfer",
            "--path",
            "l3-settlement",
            "--from-chain",
            from,
            "--amount",
            amount,
            "--to",
            to,
        ];
        args.extend_from_slice(extra);
        last_json(&self.ferry_ok(&args))
    }

    pub fn address(&self, role: &str) -> String {
        self.state.addresses[role].clone()
    }

    /// A chain handle through Ferry's library (for queries).
    pub fn chain(&self, id: &str) -> std::sync::Arc<ferry::chain::cosmos::CosmosChain> {
        self.chain_as(id, "relayer")
    }

    /// A chain handle that signs with the devnet key `key` (`relayer` or `user`).
    pub fn chain_as(
        &self,
        id: &str,
        key: &str,
    ) -> std::sync::Arc<ferry::chain::cosmos::CosmosChain> {
        let cfg = ferry::config::load(&self.home().join("config.toml"))
            .unwrap()
            .0;
        let c = cfg
            .chains
            .iter()
            .find(|c| c.id.as_str() == id)
            .unwrap()
            .clone();
        let key = ferry::keys::KeyStore::new(self.home()).load(key).unwrap();
        ferry::chain::cosmos::CosmosChain::new(c, key).unwrap()
    }

    pub async fn balance(&self, chain: &str, role: &str, denom: &str) -> u128 {
        self.chain(chain)
            .balance(&self.address(role), denom)
            .await
            .unwrap()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = self.devnet.down();
    }
}

/// A `ferry start` child process, killed by pid on drop if still running.
pub struct Relayer {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Relayer {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe { libc_kill(child.id() as i32, sig) };
        child.wait().unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the process exits by itself; `None` after `timeout` (it is left running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Wait until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Relayer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;

/// Send `sig` to a process this test started (a devnet node, by the pid the devnet recorded).
pub fn signal_pid(pid: u32, sig: i32) {
    let r = unsafe { libc_kill(pid as i32, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig}) failed");
}

/// A tool a test needs is missing (`what` says which and how to get it): the test fails, naming
/// it. There is no switch to skip the check: `make deps` installs every tool the tests use.
pub fn tool_missing(what: &str) -> ! {
    panic!("tool missing: {what}. `make deps` installs every tool the tests use")
}

/// Poll `f` until it returns Some, or panic after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every tx on `chain` matching `query`, all pages, oldest first. A page the node cannot serve in
/// time (relayer txs of 50 packets with their proofs and events make a page of 100 tens of MB) is
/// asked again with pages half the size, from the start, down to pages of 4.
pub async fn search_txs(
    chain: &ferry::chain::cosmos::CosmosChain,
    query: tendermint_rpc::query::Query,
) -> Vec<tendermint_rpc::endpoint::tx::Response> {
    let mut per_page = 100u8;
    'sizes: loop {
        let mut out = Vec::new();
        for page in 1.. {
            let q = query.clone();
            let res = chain
                .rpc
                .call("tx_search", |c| {
                    tendermint_rpc::Client::tx_search(
                        c,
                        q.clone(),
                        false,
                        page,
                        per_page,
                        tendermint_rpc::Order::Ascending,
                    )
                })
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) if per_page > 4 => {
                    eprintln!("tx_search page {page} of {per_page} failed ({e}); smaller pages");
                    per_page /= 2;
                    continue 'sizes;
                }
                Err(e) => panic!("tx_search with pages of {per_page}: {e}"),
            };
            let total = res.total_count as usize;
            out.extend(res.txs);
            if page as usize * per_page as usize >= total {
                break;
            }
        }
        return out;
    }
}

/// How many messages of type `action` (e.g. `/ibc.core.channel.v1.MsgRecvPacket`) all committed
/// txs on `chain` carried.
pub async fn count_msgs(chain: &ferry::chain::cosmos::CosmosChain, action: &str) -> usize {
    let query = tendermint_rpc::query::Query::eq("message.action", action);
    search_txs(chain, query)
        .await
        .iter()
        .filter(|tx| tx.tx_result.code.is_ok())
        .map(|tx| {
            ferry::chain::cosmos::flatten_events(&tx.tx_result.events)
                .iter()
                .filter(|(k, attrs)| {
                    k == "message" && attrs.iter().any(|(a, v)| a == "action" && v == action)
                })
                .count()
        })
        .sum()
}

/// Sum of the samples of metric `family` in a Prometheus text page whose labels include every
/// `(name, value)` of `labels` (0 when none does).
pub fn metric_sum(metrics: &str, family: &str, labels: &[(&str, &str)]) -> u64 {
    let prefix = format!("{family}{{");
    metrics
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The last line of a `--json` command's output, parsed.
pub fn last_json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().expect("output")).expect("JSON output")
}

/// Wait until `chain` holds no packet commitment on transfer/channel-0: every packet it sent was
/// received and acknowledged, or timed out.
pub async fn wait_no_commitments(
    chain: &std::sync::Arc<ferry::chain::cosmos::CosmosChain>,
    timeout: Duration,
) {
    wait_no_commitments_on(chain, "channel-0", timeout).await;
}

/// Wait until `chain` holds no packet commitment on transfer/`channel`.
pub async fn wait_no_commitments_on(
    chain: &std::sync::Arc<ferry::chain::cosmos::CosmosChain>,
    channel: &str,
    timeout: Duration,
) {
    let port: ferry::ibc::PortId = "transfer".parse().unwrap();
    let chan: ferry::ibc::ChannelId = channel.parse().unwrap();
    eventually("no packet commitment left", timeout, || {
        let (chain, port, chan) = (chain.clone(), port.clone(), chan.clone());
        async move {
            ferry::chain::PacketQueries::commitments(&*chain, &port, &chan)
                .await
                .ok()?
                .is_empty()
                .then_some(())
        }
    })
    .await;
}

//! Hermes 1.13.2 as the benchmark peer: built once by `install-hermes.sh` into Ferry's cache, given a
//! config for the devnet's two Cosmos chains (through the counting proxies), the devnet's relayer key,
//! its own channel, and run as an operator runs it (`hermes start`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferry_tests::Relayer;

/// The Hermes binary: `$FERRY_HERMES_BIN`, else what `install-hermes.sh` builds (first run only).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_HERMES_BIN") {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/compare/install-hermes.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run install-hermes.sh");
    assert!(out.status.success(), "install-hermes.sh failed");
    let path = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(
        path.lines()
            .last()
            .expect("install-hermes.sh printed no path")
            .trim(),
    )
}

/// One chain as Hermes sees it: node endpoints (the proxies) and the channel it may relay.
pub struct HermesChain<'a> {
    pub id: &'a str,
    pub rpc: String,
    pub grpc: String,
    pub channels: &'a [String],
}

pub struct Hermes {
    bin: PathBuf,
    home: PathBuf,
    config: PathBuf,
}

impl Hermes {
    /// Write the config and import the relayer key for every chain. Settings that Ferry's devnet
    /// config also has are given the same values (gas price and multiplier, messages per tx,
    /// trusting period); the rest are Hermes's defaults, except `clear_limit` (packets cleared per
    /// channel and round, 50 by default) when `clear_limit` is given.
    pub fn setup(
        bin: PathBuf,
        home: &Path,
        chains: &[HermesChain],
        mnemonic: &str,
        clear_limit: Option<usize>,
    ) -> Hermes {
        std::fs::create_dir_all(home).unwrap();
        let mut text = String::from(
            "[global]\nlog_level = 'info'\n\n\
             [mode.clients]\nenabled = true\nrefresh = true\nmisbehaviour = false\n\n\
             [mode.connections]\nenabled = false\n\n[mode.channels]\nenabled = false\n\n\
             [mode.packets]\nenabled = true\nclear_interval = 100\nclear_on_start = true\n\
             tx_confirmation = false\n",
        );
        if let Some(n) = clear_limit {
            text.push_str(&format!("clear_limit = {n}\n"));
        }
        text.push_str(
            "\n[rest]\nenabled = false\nhost = '127.0.0.1'\nport = 3000\n\n\
             [telemetry]\nenabled = false\nhost = '127.0.0.1'\nport = 3001\n\n",
        );
        for c in chains {
            let list: Vec<String> = c
                .channels
                .iter()
                .map(|ch| format!("['transfer', '{ch}']"))
                .collect();
            text.push_str(&format!(
                "[[chains]]\nid = '{id}'\ntype = 'CosmosSdk'\nrpc_addr = 'http://{rpc}'\n\
                 grpc_addr = 'http://{grpc}'\n\
                 event_source = {{ mode = 'push', url = 'ws://{rpc}/websocket', batch_delay = '500ms' }}\n\
                 rpc_timeout = '10s'\naccount_prefix = 'cosmos'\nkey_name = 'relayer'\n\
                 key_store_folder = '{keys}'\nstore_prefix = 'ibc'\ndefault_gas = 100000\n\
                 max_gas = 10000000\ngas_price = {{ price = 0.001, denom = 'stake' }}\n\
                 gas_multiplier = 1.5\nmax_msg_num = 50\nmax_tx_size = 2097152\n\
                 clock_drift = '5s'\nmax_block_time = '30s'\ntrusting_period = '14days'\n\
                 trust_threshold = {{ numerator = '2', denominator = '3' }}\n\
                 address_type = {{ derivation = 'cosmos' }}\n\n\
                 [chains.packet_filter]\npolicy = 'allow'\nlist = [{list}]\n\n",
                id = c.id,
                rpc = c.rpc,
                grpc = c.grpc,
                keys = home.join("keys").display(),
                list = list.join(", "),
            ));
        }
        let config = home.join("config.toml");
        std::fs::write(&config, text).unwrap();
        let h = Hermes {
            bin,
            home: home.to_path_buf(),
            config,
        };
        h.run_ok(&["config", "validate"]);
        let words = home.join("relayer.mnemonic");
        std::fs::write(&words, mnemonic).unwrap();
        for c in chains {
            h.run_ok(&[
                "keys",
                "add",
                "--chain",
                c.id,
                "--key-name",
                "relayer",
                "--mnemonic-file",
                words.to_str().unwrap(),
                "--overwrite",
            ]);
        }
        std::fs::remove_file(&words).unwrap();
        h
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        // Hermes reads and writes ~/.hermes; keep it inside the bench's folder.
        cmd.env("HOME", &self.home)
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run hermes");
        assert!(
            out.status.success(),
            "hermes {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new client, connection and channel between `a` and `b` on port transfer, as an operator
    /// opens one with Hermes.
    pub fn create_channel(&self, a: &str, b: &str) {
        self.run_ok(&[
            "create",
            "channel",
            "--a-chain",
            a,
            "--b-chain",
            b,
            "--a-port",
            "transfer",
            "--b-port",
            "transfer",
            "--new-client-connection",
            "--yes",
        ]);
    }

    /// `hermes start` in the background, its log in the bench's folder.
    pub fn start(&self, log_name: &str) -> Relayer {
        let log = self.home.join(log_name);
        let f = std::fs::File::create(&log).unwrap();
        let child = self
            .command()
            .arg("start")
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn hermes start");
        Relayer {
            child: Some(child),
            log,
        }
    }
}

//! One `simd` node of the test's own (ibc-go v8, or `$FERRY_SIMD`), stopped by its pid when
//! dropped, and a real packet commitment in its `ibc` store through a localhost channel.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::TempDir;
use serde_json::{json, Value};

pub const COSMOS_ID: &str = "ibc-attest-1";

pub struct SimdNode {
    child: Child,
    pub rpc: String,
    home: PathBuf,
    bin: PathBuf,
    _dir: TempDir,
}

impl Drop for SimdNode {
    fn drop(&mut self) {
        // Exactly the process this test started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn simd(bin: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{input}\n").as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "simd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl SimdNode {
    pub async fn start() -> SimdNode {
        let bin = ferry_devnet::ensure_simd().await.unwrap();
        let dir = TempDir::new("attestor-ibc-simd");
        let home = dir.0.join("node");
        let h = home.to_str().unwrap();
        simd(
            &bin,
            &["init", "n", "--chain-id", COSMOS_ID, "--home", h],
            None,
        );
        let kr = ["--keyring-backend", "test", "--home", h];
        let mn = ferry_devnet::mnemonic("validator");
        simd(
            &bin,
            &[&["keys", "add", "validator", "--recover"][..], &kr].concat(),
            Some(&mn),
        );
        simd(
            &bin,
            &[
                &[
                    "genesis",
                    "add-genesis-account",
                    "validator",
                    "100000000000stake",
                ][..],
                &kr,
            ]
            .concat(),
            None,
        );
        simd(
            &bin,
            &[
                &["genesis", "gentx", "validator", "1000000000stake"][..],
                &["--chain-id", COSMOS_ID],
                &kr,
            ]
            .concat(),
            None,
        );
        simd(&bin, &["genesis", "collect-gentxs", "--home", h], None);
        let cfg = home.join("config/config.toml");
        let text: Vec<String> = std::fs::read_to_string(&cfg)
            .unwrap()
            .lines()
            .map(|l| {
                if l.starts_with("timeout_commit =") {
                    "timeout_commit = \"1s\"".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&cfg, text.join("\n")).unwrap();
        let ports: Vec<u16> = (0..3).map(|_| ferry_devnet::free_port()).collect();
        let log = std::fs::File::create(dir.0.join("simd.log")).unwrap();
        let child = Command::new(&bin)
            .args(["start", "--home", h])
            .arg(format!("--rpc.laddr=tcp://127.0.0.1:{}", ports[0]))
            .arg(format!("--grpc.address=127.0.0.1:{}", ports[1]))
            .arg(format!("--p2p.laddr=tcp://127.0.0.1:{}", ports[2]))
            .arg("--api.enable=false")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        eprintln!("simd pid {} on 127.0.0.1:{}", child.id(), ports[0]);
        let node = SimdNode {
            child,
            rpc: format!("http://127.0.0.1:{}", ports[0]),
            home,
            bin,
            _dir: dir,
        };
        node.wait_height(3).await;
        node
    }

    pub async fn get(&self, path: &str) -> Value {
        let v: Value = reqwest::get(format!("{}/{path}", self.rpc))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["result"].clone()
    }

    pub async fn latest(&self) -> u64 {
        match reqwest::get(format!("{}/status", self.rpc)).await {
            Ok(r) => r.json::<Value>().await.ok().and_then(|v| {
                v["result"]["sync_info"]["latest_block_height"]
                    .as_str()?
                    .parse()
                    .ok()
            }),
            Err(_) => None,
        }
        .unwrap_or(0)
    }

    pub async fn wait_height(&self, h: u64) {
        let t = Instant::now();
        while self.latest().await < h {
            assert!(t.elapsed() < Duration::from_secs(120), "node not at {h}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `HEIGHT:HASH` of block `h`.
    pub async fn checkpoint(&self, h: u64) -> String {
        let c = self.get(&format!("commit?height={h}")).await;
        format!(
            "{h}:{}",
            c["signed_header"]["commit"]["block_id"]["hash"]
                .as_str()
                .unwrap()
        )
    }

    /// Block `h`'s time, seconds.
    pub async fn time(&self, h: u64) -> u64 {
        let c = self.get(&format!("commit?height={h}")).await;
        let t = c["signed_header"]["header"]["time"].as_str().unwrap();
        tendermint::Time::parse_from_rfc3339(t)
            .unwrap()
            .unix_timestamp() as u64
    }

    /// The `ibc` store's value of `key` at height `h`, unproven (what the chain says).
    pub async fn value(&self, key: &[u8], h: u64) -> Vec<u8> {
        let r = self
            .get(&format!(
                "abci_query?path=%22store/ibc/key%22&data=0x{}&height={h}",
                hex::encode(key)
            ))
            .await;
        let b64 = r["response"]["value"].as_str().unwrap_or("");
        decode_b64(b64)
    }

    /// A localhost channel pair (channel-0 ↔ channel-1 on this one chain) and one ICS-20 packet
    /// sent on channel-0, in one tx; returns the height of the block holding it. The packet is
    /// never received, so its commitment stays.
    pub async fn localhost_packet(&self) -> u64 {
        let h = self.home.to_str().unwrap();
        let kr = ["--keyring-backend", "test", "--home", h];
        let addr = simd(
            &self.bin,
            &[&["keys", "show", "validator", "-a"][..], &kr].concat(),
            None,
        )
        .trim()
        .to_string();
        let proof = json!({"revision_number": "1", "revision_height": "1"});
        let chan = |state: &str, cp: &str| {
            json!({"state": state, "ordering": "ORDER_UNORDERED",
                   "counterparty": {"port_id": "transfer", "channel_id": cp},
                   "connection_hops": ["connection-localhost"], "version": "ics20-1"})
        };
        let timeout_ns = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 36_000)
            * 1_000_000_000;
        let msgs = json!([
            {"@type": "/ibc.core.channel.v1.MsgChannelOpenInit", "port_id": "transfer",
             "channel": chan("STATE_INIT", ""), "signer": addr},
            {"@type": "/ibc.core.channel.v1.MsgChannelOpenTry", "port_id": "transfer",
             "previous_channel_id": "", "channel": chan("STATE_TRYOPEN", "channel-0"),
             "counterparty_version": "ics20-1", "proof_init": "AQ==", "proof_height": proof,
             "signer": addr},
            {"@type": "/ibc.core.channel.v1.MsgChannelOpenAck", "port_id": "transfer",
             "channel_id": "channel-0", "counterparty_channel_id": "channel-1",
             "counterparty_version": "ics20-1", "proof_try": "AQ==", "proof_height": proof,
             "signer": addr},
            {"@type": "/ibc.core.channel.v1.MsgChannelOpenConfirm", "port_id": "transfer",
             "channel_id": "channel-1", "proof_ack": "AQ==", "proof_height": proof,
             "signer": addr},
            {"@type": "/ibc.applications.transfer.v1.MsgTransfer", "source_port": "transfer",
             "source_channel": "channel-0", "token": {"denom": "stake", "amount": "1"},
             "sender": addr, "receiver": addr,
             "timeout_height": {"revision_number": "0", "revision_height": "0"},
             "timeout_timestamp": timeout_ns.to_string(), "memo": ""},
        ]);
        let tx = json!({
            "body": {"messages": msgs, "memo": "", "timeout_height": "0",
                     "extension_options": [], "non_critical_extension_options": []},
            "auth_info": {"signer_infos": [], "fee": {"amount": [], "gas_limit": "1000000",
                          "payer": "", "granter": ""}},
            "signatures": []
        });
        let unsigned = self.home.join("tx.json");
        std::fs::write(&unsigned, tx.to_string()).unwrap();
        let node = format!("tcp://{}", self.rpc.trim_start_matches("http://"));
        let signed = simd(
            &self.bin,
            &[
                &[
                    "tx",
                    "sign",
                    unsigned.to_str().unwrap(),
                    "--from",
                    "validator",
                ][..],
                &["--chain-id", COSMOS_ID, "--node", &node],
                &kr,
            ]
            .concat(),
            None,
        );
        let signed_path = self.home.join("signed.json");
        std::fs::write(&signed_path, signed).unwrap();
        let out = simd(
            &self.bin,
            &[
                "tx",
                "broadcast",
                signed_path.to_str().unwrap(),
                "--node",
                &node,
                "--home",
                h,
                "-o",
                "json",
            ],
            None,
        );
        let res: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(res["code"], 0, "{res}");
        let hash = res["txhash"].as_str().unwrap().to_string();
        let t = Instant::now();
        loop {
            let r: Value = reqwest::get(format!("{}/tx?hash=0x{hash}", self.rpc))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(h) = r["result"]["height"].as_str() {
                assert_eq!(r["result"]["tx_result"]["code"], 0, "{r}");
                return h.parse().unwrap();
            }
            assert!(t.elapsed() < Duration::from_secs(60), "tx not in a block");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

pub fn decode_b64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// Change the first character of a base64 string (still valid base64, other bytes).
pub fn flip_b64(s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    c[0] = if c[0] == 'A' { 'B' } else { 'A' };
    c.into_iter().collect()
}

/// Flip the last digit of a hex string as CometBFT writes it (no `0x`).
pub fn flip_upper_hex(s: &str) -> String {
    let mut b = hex::decode(s).unwrap();
    *b.last_mut().unwrap() ^= 1;
    hex::encode_upper(b)
}

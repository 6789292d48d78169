//! One devnet node: genesis with funded test accounts, config edits for 1 s blocks on loopback, and
//! the process, started detached with its pid recorded.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{io, mnemonic, DevnetError, NodeInfo, GENESIS_COINS, ROLES};

/// `n` distinct free loopback ports (held together while chosen, so none repeats).
pub fn free_ports(n: usize) -> Result<Vec<u16>, DevnetError> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| DevnetError::Other(format!("no free port: {e}")))?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect())
}

/// 127.0.0.1:9464 when free, else the spare free port.
pub fn metrics_addr(spare: u16) -> String {
    match std::net::TcpListener::bind("127.0.0.1:9464") {
        Ok(_) => "127.0.0.1:9464".into(),
        Err(_) => format!("127.0.0.1:{spare}"),
    }
}

async fn simd(simd: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, DevnetError> {
    let mut cmd = tokio::process::Command::new(simd);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| DevnetError::Command {
        cmd: format!("simd {}", args.join(" ")),
        detail: e.to_string(),
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(format!("{input}\n").as_bytes()).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| DevnetError::Command {
            cmd: args.join(" "),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        // Keys commands are given `--recover`: the mnemonic is on stdin, never in argv or errors.
        return Err(DevnetError::Command {
            cmd: format!("simd {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replace `key = …` lines (first match after `[section]`, or anywhere when section is empty).
fn set_toml(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut in_section = section.is_empty();
    let mut done = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_section = section.is_empty() || t.trim_end() == format!("[{section}]");
        }
        if !done && in_section && t.split('=').next().map(str::trim) == Some(key) {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn edit(path: &Path, edits: &[(&str, &str, &str)]) -> Result<(), DevnetError> {
    let mut text = std::fs::read_to_string(path).map_err(io(path))?;
    for (section, key, value) in edits {
        text = set_toml(&text, section, key, value);
    }
    std::fs::write(path, text).map_err(io(path))
}

pub async fn init_and_start(
    bin: &Path,
    dir: &Path,
    chain_id: &str,
    rpc: u16,
    grpc: u16,
    p2p: u16,
) -> Result<NodeInfo, DevnetError> {
    let home = dir.join(chain_id);
    let h = home
        .to_str()
        .ok_or_else(|| DevnetError::Other("devnet path is not UTF-8".into()))?;
    simd(
        bin,
        &[
            "init",
            &format!("ferry-{chain_id}"),
            "--chain-id",
            chain_id,
            "--home",
            h,
        ],
        None,
    )
    .await?;
    for role in ROLES {
        simd(
            bin,
            &[
                "keys",
                "add",
                role,
                "--recover",
                "--keyring-backend",
                "test",
                "--home",
                h,
            ],
            Some(&mnemonic(role)),
        )
        .await?;
        simd(
            bin,
            &[
                "genesis",
                "add-genesis-account",
                role,
                GENESIS_COINS,
                "--keyring-backend",
                "test",
                "--home",
                h,
            ],
            None,
        )
        .await?;
    }
    simd(
        bin,
        &[
            "genesis",
            "gentx",
            "validator",
            "1000000000stake",
            "--chain-id",
            chain_id,
            "--keyring-backend",
            "test",
            "--home",
            h,
        ],
        None,
    )
    .await?;
    simd(bin, &["genesis", "collect-gentxs", "--home", h], None).await?;
    edit(
        &home.join("config/config.toml"),
        &[
            ("consensus", "timeout_commit", "\"1s\""),
            ("consensus", "timeout_propose", "\"1s\""),
            ("", "pprof_laddr", "\"\""),
            ("tx_index", "indexer", "\"kv\""),
            ("rpc", "max_body_bytes", "10000000"),
            ("rpc", "experimental_subscription_buffer_size", "2000"),
            ("rpc", "experimental_websocket_write_buffer_size", "2000"),
        ],
    )?;
    edit(
        &home.join("config/app.toml"),
        &[
            ("", "minimum-gas-prices", "\"0stake\""),
            ("grpc", "enable", "true"),
        ],
    )?;

    let log = dir.join(format!("{chain_id}.log"));
    let child = spawn_simd(bin, &home, &log, (rpc, grpc, p2p), &[])?;
    let pid = child.id();
    std::fs::write(dir.join(format!("{chain_id}.pid")), pid.to_string()).map_err(io(dir))?;
    Ok(NodeInfo {
        chain_id: chain_id.into(),
        home,
        rpc: format!("http://127.0.0.1:{rpc}"),
        grpc: format!("127.0.0.1:{grpc}"),
        p2p: format!("tcp://127.0.0.1:{p2p}"),
        pid,
        log,
    })
}

/// Start `simd start` for `home` on the given (rpc, grpc, p2p) loopback ports, detached in its own
/// process group, its output in `log`. `extra` flags follow the standard ones.
pub fn spawn_simd(
    bin: &Path,
    home: &Path,
    log: &Path,
    ports: (u16, u16, u16),
    extra: &[&str],
) -> Result<std::process::Child, DevnetError> {
    let h = home
        .to_str()
        .ok_or_else(|| DevnetError::Other("devnet path is not UTF-8".into()))?;
    let log_file = std::fs::File::create(log).map_err(io(log))?;
    let err_file = log_file.try_clone().map_err(io(log))?;
    let (rpc, grpc, p2p) = ports;
    let (rpc_addr, grpc_addr, p2p_addr) = (
        format!("tcp://127.0.0.1:{rpc}"),
        format!("127.0.0.1:{grpc}"),
        format!("tcp://127.0.0.1:{p2p}"),
    );
    std::process::Command::new(bin)
        .args([
            "start",
            "--home",
            h,
            "--pruning",
            "nothing",
            "--rpc.laddr",
            &rpc_addr,
        ])
        .args([
            "--grpc.address",
            &grpc_addr,
            "--p2p.laddr",
            &p2p_addr,
            "--api.enable=false",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        // Its own process group: Ctrl-C on `ferry devnet up` must not take the chain down with it.
        .process_group(0)
        .spawn()
        .map_err(|e| DevnetError::Command {
            cmd: "simd start".into(),
            detail: e.to_string(),
        })
}

/// Wait until the node has produced a block.
pub async fn wait_ready(n: &NodeInfo, secs: u64) -> Result<(), DevnetError> {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if !alive(n.pid, &n.home) {
            return Err(DevnetError::exited(&n.chain_id, &n.log));
        }
        if let Ok(r) = client.get(format!("{}/status", n.rpc)).send().await {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                let h = v["result"]["sync_info"]["latest_block_height"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                if h >= 2 {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(DevnetError::NotReady {
        chain: n.chain_id.clone(),
        secs,
        log: n.log.clone(),
    })
}

/// The pid is alive and is the simd we started for `home` (not a reused pid).
pub fn alive(pid: u32, home: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    if !cmdline.contains(home.to_str().unwrap_or("\u{0}")) {
        return false;
    }
    // A zombie still has a cmdline on some kernels; check its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

pub fn stop(pid: u32, home: &Path) {
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    for _ in 0..100 {
        if !alive(pid, home) {
            reap(pid);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    reap(pid);
}

/// Collect the exit status when the node is our own child (tests), so no zombie stays behind.
fn reap(pid: u32) {
    unsafe {
        let mut status = 0;
        libc::waitpid(pid as i32, &mut status, libc::WNOHANG);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keys_in_their_section() {
        let text =
            "a = 1\n[consensus]\ntimeout_commit = \"5s\"\n[other]\ntimeout_commit = \"9s\"\n";
        let out = set_toml(text, "consensus", "timeout_commit", "\"1s\"");
        assert_eq!(
            out,
            "a = 1\n[consensus]\ntimeout_commit = \"1s\"\n[other]\ntimeout_commit = \"9s\"\n"
        );
        assert!(set_toml(text, "", "a", "2").starts_with("a = 2\n"));
    }

    #[test]
    fn free_ports_are_distinct() {
        let p = free_ports(6).unwrap();
        let set: std::collections::HashSet<_> = p.iter().collect();
        assert_eq!(set.len(), 6);
    }
}

//! Helpers shared by the end-to-end benchmarks (`tests/bench/`).

/// Sum of every series of `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name)
                && (l.as_bytes().get(name.len()) == Some(&b'{')
                    || l.as_bytes().get(name.len()) == Some(&b' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The `p` quantile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Peak resident set (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) a running process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}

/// The checkout's commit (short hash), for a benchmark's record.
pub fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Files changed in the working tree at run time (what the release binary was built from, besides
/// the commit).
pub fn git_changes() -> Vec<String> {
    std::process::Command::new("git")
        .args(["status", "--short", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Print `result` and write it as pretty JSON to `out_path` (creating its folder).
pub fn write_result(out_path: &str, result: &serde_json::Value) {
    let text = serde_json::to_string_pretty(result).unwrap();
    println!("{text}");
    if let Some(dir) = std::path::Path::new(out_path).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(out_path, text).unwrap();
    eprintln!("wrote {out_path}");
}

/// (sequence → height) of the `kind` events on `chain` for `channel` since `from`.
pub async fn packet_heights(
    chain: &ferry::chain::cosmos::CosmosChain,
    kind: &str,
    key: &str,
    channel: &str,
    from: u64,
) -> std::collections::BTreeMap<u64, u64> {
    let q = tendermint_rpc::query::Query::eq(format!("{kind}.{key}"), channel)
        .and_gte("tx.height", from);
    let mut out = std::collections::BTreeMap::new();
    for tx in crate::search_txs(chain, q).await {
        for (k, attrs) in ferry::chain::cosmos::flatten_events(&tx.tx_result.events) {
            if k != kind || !attrs.iter().any(|(a, v)| a == key && v == channel) {
                continue;
            }
            if let Some((_, s)) = attrs.iter().find(|(a, _)| a == "packet_sequence") {
                out.entry(s.parse().unwrap()).or_insert(tx.height.value());
            }
        }
    }
    out
}

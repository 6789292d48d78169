//! Turns [`RawConfig`] into [`Config`], collecting every problem with the key it concerns.
//! Errors stop Ferry from starting; warnings are printed and Ferry runs.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use super::raw::{RawChain, RawConfig, RawPath, RawPathEnd};
use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about one key.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Issue {
    pub severity: Severity,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{s}: `{}`: {}", self.key, self.reason)
    }
}

#[derive(Default)]
pub(super) struct Checker {
    pub(super) issues: Vec<Issue>,
}

impl Checker {
    pub(super) fn error(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(Issue {
            severity: Severity::Error,
            key: key.into(),
            reason: reason.into(),
        });
    }
    pub(super) fn warn(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(Issue {
            severity: Severity::Warning,
            key: key.into(),
            reason: reason.into(),
        });
    }
    pub(super) fn duration(&mut self, key: String, value: &str) -> Option<Duration> {
        match humantime::parse_duration(value) {
            Ok(d) if d.is_zero() => {
                self.error(key, "must be greater than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    key,
                    format!("`{value}` is not a duration like \"30s\" or \"14days\" ({e})"),
                );
                None
            }
        }
    }
    fn id<T: std::str::FromStr<Err = crate::ibc::IdError>>(
        &mut self,
        key: String,
        value: &str,
    ) -> Option<T> {
        value
            .parse()
            .map_err(|e: crate::ibc::IdError| self.error(key, e.to_string()))
            .ok()
    }
}

/// Validate; returns the config only when there is no error, plus all findings.
pub fn validate(raw: &RawConfig) -> (Option<Config>, Vec<Issue>) {
    let mut c = Checker { issues: Vec::new() };
    let telemetry = super::telemetry::check_telemetry(&mut c, &raw.telemetry);
    if !["trace", "debug", "info", "warn", "error"].contains(&raw.global.log_level.as_str()) {
        c.error(
            "global.log_level",
            "must be one of trace, debug, info, warn, error",
        );
    }
    if raw.store.enabled && raw.store.path.trim().is_empty() {
        c.error(
            "store.path",
            "must name a file (relative paths are under Ferry's home)",
        );
    }
    if !raw.store.enabled {
        c.warn(
            "store.enabled",
            "false: txs in flight are kept in memory only; after a crash their packets may be paid for twice",
        );
    }
    let lease_ttl = super::store::check_shared_store(&mut c, &raw.store);
    if raw.chains.is_empty() {
        c.error("chains", "at least one [[chains]] entry is required");
    }
    let mut seen = HashSet::new();
    let mut chains = Vec::new();
    for (i, chain) in raw.chains.iter().enumerate() {
        if !seen.insert(chain.id.clone()) {
            c.error(
                format!("chains[{i}].id"),
                format!("chain `{}` is configured twice", chain.id),
            );
        }
        if let Some(ch) = check_chain(&mut c, i, chain) {
            chains.push(ch);
        }
    }
    let mut names = HashSet::new();
    let mut paths = Vec::new();
    for (i, path) in raw.paths.iter().enumerate() {
        if !names.insert(path.name.clone()) {
            c.error(
                format!("paths[{i}].name"),
                format!("path `{}` is configured twice", path.name),
            );
        }
        if let Some(p) = check_path(&mut c, i, path, &seen) {
            paths.push(p);
        }
    }
    if let Some(k) = &raw.global.default_transfer_key {
        if chains.iter().any(|ch| ch.keys.contains(k)) {
            c.warn(
                "global.default_transfer_key",
                format!("`{k}` is also a chain's relayer key: transfers sent while `ferry start` runs would race the relayer for the account sequence"),
            );
        }
    }
    let ok = !c.issues.iter().any(|i| i.severity == Severity::Error);
    let config = ok.then(|| Config {
        log_level: raw.global.log_level.clone(),
        default_transfer_key: raw.global.default_transfer_key.clone(),
        store: StoreConfig {
            enabled: raw.store.enabled,
            path: raw.store.path.clone().into(),
            url: raw.store.url.clone(),
            instance: raw.store.instance.clone(),
            lease_ttl: lease_ttl.unwrap_or(Duration::from_secs(10)),
        },
        telemetry: telemetry.unwrap(),
        chains,
        paths,
    });
    (config, c.issues)
}

fn check_chain(c: &mut Checker, i: usize, raw: &RawChain) -> Option<ChainConfig> {
    let k = |field: &str| format!("chains[{i}].{field}");
    let before = c.issues.len();
    let id = c.id::<ChainId>(k("id"), &raw.id);
    let kind = match raw.kind.as_str() {
        "cosmos" => Some(ChainKind::Cosmos),
        "evm" => Some(ChainKind::Evm),
        other => {
            c.error(
                k("type"),
                format!("`{other}` is not a chain type; use \"cosmos\" or \"evm\""),
            );
            None
        }
    };
    if raw.rpc.is_empty() {
        c.error(k("rpc"), "at least one RPC endpoint is required");
    }
    for (j, url) in raw.rpc.iter().chain(raw.witness_rpc.iter()).enumerate() {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let key = if j < raw.rpc.len() {
                format!("chains[{i}].rpc[{j}]")
            } else {
                k("witness_rpc")
            };
            c.error(key, format!("`{url}` must start with http:// or https://"));
        }
    }
    if raw.witness_rpc.is_some() && raw.witness_rpc.as_ref() == raw.rpc.first() {
        c.warn(
            k("witness_rpc"),
            "the witness is the primary endpoint; misbehaviour cannot be detected",
        );
    }
    let event_source = match raw.event_source.as_str() {
        "websocket" => Some(EventSource::WebSocket),
        "poll" => Some(EventSource::Poll),
        other => {
            c.error(
                k("event_source"),
                format!("`{other}` is not an event source; use \"websocket\" or \"poll\""),
            );
            None
        }
    };
    let keys: Vec<String> = match (raw.key.trim().is_empty(), raw.keys.is_empty()) {
        (true, true) => {
            c.error(
                k("key"),
                "the name of a key in the keystore is required (see `ferry keys list`), or `keys = [...]` for several signers",
            );
            vec![]
        }
        (false, false) => {
            c.error(k("keys"), "set `key` or `keys`, not both");
            vec![]
        }
        (false, true) => vec![raw.key.clone()],
        (true, false) => {
            let mut seen = std::collections::HashSet::new();
            for (j, name) in raw.keys.iter().enumerate() {
                if name.trim().is_empty() {
                    c.error(format!("chains[{i}].keys[{j}]"), "a key name is required");
                } else if !seen.insert(name) {
                    c.error(
                        format!("chains[{i}].keys[{j}]"),
                        format!("`{name}` is listed twice; each signer needs its own key"),
                    );
                }
            }
            if raw.kind == "evm" && raw.keys.len() > 1 {
                c.error(
                    k("keys"),
                    "several signers are supported on Cosmos chains only; give an EVM chain one `key`",
                );
            }
            raw.keys.clone()
        }
    };
    let gas_price = parse_gas_price(&raw.gas_price)
        .map_err(|e| c.error(k("gas_price"), e))
        .ok();
    if !(1.0..=10.0).contains(&raw.gas_multiplier) {
        c.error(
            k("gas_multiplier"),
            format!("{} must be between 1.0 and 10.0", raw.gas_multiplier),
        );
    } else if raw.gas_multiplier > 2.0 {
        c.warn(
            k("gas_multiplier"),
            "above 2.0 overpays for most transactions",
        );
    }
    if raw.max_gas == 0 || raw.default_gas == 0 {
        c.error(
            k("max_gas"),
            "max_gas and default_gas must be greater than zero",
        );
    } else if raw.default_gas > raw.max_gas {
        c.error(
            k("default_gas"),
            format!("{} exceeds max_gas {}", raw.default_gas, raw.max_gas),
        );
    }
    if raw.max_msgs_per_tx == 0 {
        c.error(k("max_msgs_per_tx"), "must be at least 1");
    }
    if raw.max_tx_bytes < 4096 {
        c.error(
            k("max_tx_bytes"),
            "must be at least 4096 (a client update alone needs more)",
        );
    }
    let trusting_period = c.duration(k("trusting_period"), &raw.trusting_period);
    let clock_drift = c.duration(k("clock_drift"), &raw.clock_drift);
    let poll_interval = c.duration(k("poll_interval"), &raw.poll_interval);
    let tx_confirm_timeout = c.duration(k("tx_confirm_timeout"), &raw.tx_confirm_timeout);
    let trust_threshold = parse_fraction(&raw.trust_threshold)
        .map_err(|e| c.error(k("trust_threshold"), e))
        .ok();
    let evm = super::evm::check(c, i, raw, kind);
    if evm.is_some() && !raw.attestor_endpoints.is_empty() {
        c.error(
            k("attestor_endpoints"),
            "an evm chain lists its attestors in [chains.evm] attestor_endpoints",
        );
    }
    let attestor_endpoints =
        super::evm::attestor_endpoints(c, &format!("chains[{i}]"), &raw.attestor_endpoints);
    let attestation_timeout = c.duration(k("attestation_timeout"), &raw.attestation_timeout);
    if c.issues[before..]
        .iter()
        .any(|i| i.severity == Severity::Error)
    {
        return None;
    }
    Some(ChainConfig {
        id: id?,
        kind: kind?,
        rpc: raw.rpc.clone(),
        witness_rpc: raw.witness_rpc.clone(),
        event_source: event_source?,
        account_prefix: raw.account_prefix.clone(),
        key: keys.first()?.clone(),
        keys,
        gas_price: gas_price?,
        gas_multiplier: raw.gas_multiplier,
        default_gas: raw.default_gas,
        max_gas: raw.max_gas,
        max_msgs_per_tx: raw.max_msgs_per_tx,
        max_tx_bytes: raw.max_tx_bytes,
        trusting_period: trusting_period?,
        clock_drift: clock_drift?,
        trust_threshold: trust_threshold?,
        poll_interval: poll_interval?,
        tx_confirm_timeout: tx_confirm_timeout?,
        attestor_endpoints,
        attestation_timeout: attestation_timeout?,
        evm,
    })
}

fn check_end(
    c: &mut Checker,
    key: String,
    raw: &RawPathEnd,
    chains: &HashSet<String>,
) -> Option<PathEnd> {
    if !chains.contains(&raw.chain) {
        c.error(
            format!("{key}.chain"),
            format!("chain `{}` is not configured in [[chains]]", raw.chain),
        );
        return None;
    }
    let chain = c.id(format!("{key}.chain"), &raw.chain)?;
    let port = c.id(format!("{key}.port"), &raw.port)?;
    let client = match &raw.client {
        Some(v) => Some(c.id(format!("{key}.client"), v)?),
        None => None,
    };
    let connection = match &raw.connection {
        Some(v) => Some(c.id(format!("{key}.connection"), v)?),
        None => None,
    };
    let channel = match &raw.channel {
        Some(v) => Some(c.id(format!("{key}.channel"), v)?),
        None => None,
    };
    Some(PathEnd {
        chain,
        port,
        client,
        connection,
        channel,
    })
}

fn check_path(
    c: &mut Checker,
    i: usize,
    raw: &RawPath,
    chains: &HashSet<String>,
) -> Option<PathConfig> {
    if raw.name.trim().is_empty() {
        c.error(format!("paths[{i}].name"), "must not be empty");
    }
    let a = check_end(c, format!("paths[{i}].a"), &raw.a, chains);
    let b = check_end(c, format!("paths[{i}].b"), &raw.b, chains);
    if raw.a.chain == raw.b.chain {
        c.error(
            format!("paths[{i}].b.chain"),
            "both ends of a path are the same chain",
        );
    }
    let clear_interval = c.duration(format!("paths[{i}].clear_interval"), &raw.clear_interval);
    let mut filter = ChannelFilter::default();
    for (list, out) in [
        (&raw.filter.allow, &mut filter.allow),
        (&raw.filter.deny, &mut filter.deny),
    ] {
        for v in list {
            if let Some(id) = c.id(format!("paths[{i}].filter"), v) {
                out.push(id);
            }
        }
    }
    Some(PathConfig {
        name: raw.name.clone(),
        a: a?,
        b: b?,
        clear_interval: clear_interval?,
        filter,
    })
}

/// `"0.025stake"` → 0.025 of `stake`.
pub fn parse_gas_price(s: &str) -> Result<GasPrice, String> {
    let split = s
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(s.len());
    let (amount, denom) = s.split_at(split);
    let amount: f64 = amount
        .parse()
        .map_err(|_| format!("`{s}` is not a gas price like \"0.025stake\""))?;
    if denom.is_empty() || !amount.is_finite() || amount < 0.0 {
        return Err(format!("`{s}` is not a gas price like \"0.025stake\""));
    }
    Ok(GasPrice {
        amount,
        denom: denom.to_string(),
    })
}

pub(super) fn parse_fraction(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{s}` must be a fraction between 1/3 and 1, like \"1/3\" or \"2/3\"");
    let (n, d) = s.split_once('/').ok_or_else(bad)?;
    let (n, d): (u64, u64) = (
        n.trim().parse().map_err(|_| bad())?,
        d.trim().parse().map_err(|_| bad())?,
    );
    // 1/3 <= n/d <= 1, in integers.
    if d == 0 || n > d || 3 * n < d {
        return Err(bad());
    }
    Ok((n, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[chains]]
id = "a-1"
rpc = ["http://127.0.0.1:26657"]
key = "relayer"
gas_price = "0.01stake"

[[chains]]
id = "b-1"
rpc = ["http://127.0.0.1:26757"]
key = "relayer"
gas_price = "0stake"

[[paths]]
name = "ab"
a = { chain = "a-1" }
b = { chain = "b-1" }
"#;

    fn issues(text: &str) -> Vec<Issue> {
        let raw = super::super::raw::parse(text).unwrap();
        validate(&raw).1
    }

    #[test]
    fn good_config_has_no_errors() {
        let raw = super::super::raw::parse(GOOD).unwrap();
        let (cfg, issues) = validate(&raw);
        assert!(issues.is_empty(), "{issues:?}");
        let cfg = cfg.unwrap();
        assert_eq!(
            cfg.chains[0].gas_price,
            GasPrice {
                amount: 0.01,
                denom: "stake".into()
            }
        );
        assert_eq!(cfg.chains[0].trust_threshold, (1, 3));
        assert_eq!(cfg.paths[0].a.port.as_str(), "transfer");
    }

    #[test]
    fn errors_name_the_key() {
        let bad = GOOD
            .replace("0.01stake", "cheap")
            .replace("\"b-1\" }", "\"c-1\" }");
        let found = issues(&bad);
        assert!(
            found
                .iter()
                .any(|i| i.key == "chains[0].gas_price" && i.severity == Severity::Error),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|i| i.key == "paths[0].b.chain" && i.reason.contains("not configured")),
            "{found:?}"
        );
    }

    #[test]
    fn bad_duration_and_threshold() {
        let bad = GOOD.replacen(
            "key = \"relayer\"",
            "key = \"relayer\"\ntrusting_period = \"two weeks\"\ntrust_threshold = \"1/4\"",
            1,
        );
        let found = issues(&bad);
        assert!(
            found.iter().any(|i| i.key == "chains[0].trusting_period"),
            "{found:?}"
        );
        assert!(
            found.iter().any(|i| i.key == "chains[0].trust_threshold"),
            "{found:?}"
        );
    }

    #[test]
    fn shared_store_keys_are_checked() {
        let with = |store: &str| issues(&format!("{GOOD}\n[store]\n{store}\n"));
        let found = with("url = \"mysql://x\"\nlease_ttl = \"1s\"");
        for key in ["store.url", "store.lease_ttl"] {
            assert!(
                found
                    .iter()
                    .any(|i| i.key == key && i.severity == Severity::Error),
                "{key}: {found:?}"
            );
        }
        let remote = with("url = \"postgres://ferry:secret@db.internal:5432/ferry\"");
        assert!(
            remote
                .iter()
                .any(|i| i.key == "store.url" && i.severity == Severity::Warning),
            "{remote:?}"
        );
        assert!(
            !remote.iter().any(|i| format!("{i}").contains("secret")),
            "the password is never repeated: {remote:?}"
        );
        assert!(with("url = \"postgres://ferry@127.0.0.1/ferry\"").is_empty());
    }

    #[test]
    fn public_listener_is_a_warning() {
        let found = issues(&format!("[telemetry]\nlisten = \"0.0.0.0:9464\"\n{GOOD}"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Warning);
        assert_eq!(found[0].key, "telemetry.listen");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = super::super::raw::parse(&GOOD.replace(
            "gas_price = \"0stake\"",
            "gas_price = \"0stake\"\ngas_prize = 1",
        ))
        .unwrap_err();
        assert!(err.contains("gas_prize"), "{err}");
    }
}

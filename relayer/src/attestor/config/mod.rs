//! `attestor.toml`: read as a TOML table and turned, key by key, into [`AttestorConfig`]. Every
//! problem is collected with the key it concerns (`chains[0].rpc`), so one run of
//! `ferry attestor validate` names them all. Errors stop the attestor; warnings are printed.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::{Table, Value};

mod cosmos;
mod evm;
pub use cosmos::{caip2_cosmos, CosmosChainConfig, CosmosCheckpoint};
pub use evm::{ChainConfig, Finality, TrustedBlock};

/// Where the attestor listens unless `listen` says otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9470";
/// How long one JSON-RPC call to one endpoint may take unless `rpc_timeout` says otherwise.
pub const DEFAULT_RPC_TIMEOUT: &str = "10s";

/// The whole attestor configuration, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct AttestorConfig {
    /// The one key in `<home>/keys` this attestor signs with.
    pub key: String,
    pub listen: SocketAddr,
    pub rpc_timeout: Duration,
    /// The EVM chains (`kind = "evm"`).
    pub chains: Vec<ChainConfig>,
    /// The Cosmos chains (`kind = "cosmos"`), attested only in the ibc format.
    pub cosmos: Vec<CosmosChainConfig>,
}

impl AttestorConfig {
    /// The CAIP-2 name of the one chain signed in the ibc attestation format, if any.
    pub fn ibc_chain(&self) -> Option<String> {
        self.chains
            .iter()
            .filter(|c| c.ibc_attestations)
            .map(|c| c.caip2())
            .chain(self.cosmos.iter().map(|c| c.caip2()))
            .next()
    }
}

/// Findings are the relayer config's: one key, one reason, error or warning.
pub use crate::config::{Issue, Severity};

/// Why a config could not be used: every error found, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .errors.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub errors: Vec<Issue>,
}

#[derive(Default)]
pub(super) struct Checker {
    issues: Vec<Issue>,
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

    /// Keys of `t` not in `known` are errors (a typo must not silently fall back to a default).
    pub(super) fn unknown_keys(&mut self, t: &Table, prefix: &str, known: &[&str]) {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                self.error(
                    format!("{prefix}{k}"),
                    format!("unknown key (known: {})", known.join(", ")),
                );
            }
        }
    }

    /// An optional boolean, `false` when absent.
    pub(super) fn flag(&mut self, t: &Table, key: &str, path: &str) -> Option<bool> {
        match t.get(key) {
            None => Some(false),
            Some(Value::Boolean(b)) => Some(*b),
            Some(v) => {
                self.error(path, format!("must be true or false, not {}", v.type_str()));
                None
            }
        }
    }

    /// An optional positive duration ("10s", "14days"), `default` when absent.
    pub(super) fn duration(
        &mut self,
        t: &Table,
        key: &str,
        path: &str,
        default: &str,
    ) -> Option<Duration> {
        if !t.contains_key(key) {
            return Some(humantime::parse_duration(default).expect("valid default"));
        }
        let s = self.string(t, key, path)?;
        match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.error(path, "must be greater than zero");
                None
            }
            Err(e) => {
                self.error(
                    path,
                    format!("`{s}` is not a duration like \"{default}\" ({e})"),
                );
                None
            }
        }
    }

    pub(super) fn string<'a>(&mut self, t: &'a Table, key: &str, path: &str) -> Option<&'a str> {
        match t.get(key) {
            None => {
                self.error(path, "missing");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(v) => {
                self.error(path, format!("must be a string, not {}", v.type_str()));
                None
            }
        }
    }
}

/// Parse and check `attestor.toml` text. Returns the config when there is no error, and every
/// issue (errors and warnings) found.
pub fn parse(text: &str) -> (Option<AttestorConfig>, Vec<Issue>) {
    let mut c = Checker::default();
    let table: Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            c.error("(file)", format!("not valid TOML: {}", e.message()));
            return (None, c.issues);
        }
    };
    let cfg = check(&mut c, &table);
    let ok = !c.issues.iter().any(|i| i.severity == Severity::Error);
    (cfg.filter(|_| ok), c.issues)
}

/// Read and check the config file at `path`; warnings are returned, errors fail.
pub fn load(path: &Path) -> Result<(AttestorConfig, Vec<Issue>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        errors: vec![Issue {
            severity: Severity::Error,
            key: "(file)".into(),
            reason: format!("cannot read {}: {e}", path.display()),
        }],
    })?;
    match parse(&text) {
        (Some(cfg), issues) => Ok((cfg, issues)),
        (None, issues) => Err(ConfigError {
            errors: issues
                .into_iter()
                .filter(|i| i.severity == Severity::Error)
                .collect(),
        }),
    }
}

/// Only the `key` entry: enough to say which key the attestor signs with.
pub fn key_name(text: &str) -> Result<String, ConfigError> {
    let mut c = Checker::default();
    let name = match toml::from_str::<Table>(text) {
        Ok(t) => c.string(&t, "key", "key").map(String::from),
        Err(e) => {
            c.error("(file)", format!("not valid TOML: {}", e.message()));
            None
        }
    };
    if let Some(n) = &name {
        key_name_ok(&mut c, n);
    }
    match name {
        Some(n) if c.issues.is_empty() => Ok(n),
        _ => Err(ConfigError { errors: c.issues }),
    }
}

fn key_name_ok(c: &mut Checker, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !ok {
        c.error(
            "key",
            format!("`{name}` is not a key name (1-64 letters, digits, `-` or `_`)"),
        );
    }
}

fn check(c: &mut Checker, t: &Table) -> Option<AttestorConfig> {
    c.unknown_keys(t, "", &["key", "listen", "rpc_timeout", "chains"]);
    let key = c.string(t, "key", "key").map(String::from);
    if let Some(k) = &key {
        key_name_ok(c, k);
    }
    let listen = match t.get("listen") {
        None => Some(DEFAULT_LISTEN.parse().expect("valid default")),
        Some(_) => c.string(t, "listen", "listen").and_then(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| {
                    c.error(
                        "listen",
                        format!("`{s}` is not an address like \"127.0.0.1:9470\""),
                    )
                })
                .ok()
        }),
    };
    if let Some(a) = listen {
        if !a.ip().is_loopback() {
            c.warn(
                "listen",
                format!(
                    "{a} is reachable from other hosts: anyone who reaches it can ask for \
                     signatures and load the endpoints; prefer loopback behind a TLS proxy"
                ),
            );
        }
    }
    let rpc_timeout = c.duration(t, "rpc_timeout", "rpc_timeout", DEFAULT_RPC_TIMEOUT);
    let chains = match t.get("chains") {
        None => {
            c.error(
                "chains",
                "missing: add at least one [[chains]] table to attest",
            );
            None
        }
        Some(Value::Array(items)) if items.is_empty() => {
            c.error("chains", "is empty: add at least one [[chains]] table");
            None
        }
        Some(Value::Array(items)) => chains(c, items, key.as_deref()),
        Some(v) => {
            c.error(
                "chains",
                format!(
                    "must be an array of tables ([[chains]]), not {}",
                    v.type_str()
                ),
            );
            None
        }
    };
    let (chains, cosmos) = chains?;
    Some(AttestorConfig {
        key: key?,
        listen: listen?,
        rpc_timeout: rpc_timeout?,
        chains,
        cosmos,
    })
}

/// One parsed `[[chains]]` table and its index in the file.
enum Parsed {
    Evm(usize, ChainConfig),
    Cosmos(usize, CosmosChainConfig),
}

impl Parsed {
    fn index(&self) -> usize {
        match self {
            Parsed::Evm(i, _) | Parsed::Cosmos(i, _) => *i,
        }
    }
    fn name(&self) -> &str {
        match self {
            Parsed::Evm(_, c) => &c.name,
            Parsed::Cosmos(_, c) => &c.name,
        }
    }
    fn caip2(&self) -> String {
        match self {
            Parsed::Evm(_, c) => c.caip2(),
            Parsed::Cosmos(_, c) => c.caip2(),
        }
    }
    fn ibc(&self) -> bool {
        match self {
            Parsed::Evm(_, c) => c.ibc_attestations,
            Parsed::Cosmos(..) => true,
        }
    }
    /// The key that names the chain in requests.
    fn id_key(&self) -> &'static str {
        match self {
            Parsed::Evm(..) => "evm_chain_id",
            Parsed::Cosmos(..) => "chain_id",
        }
    }
}

type Chains = (Vec<ChainConfig>, Vec<CosmosChainConfig>);

/// Every `[[chains]]` table by its `kind`, then what concerns several chains: distinct names and
/// CAIP-2 names, and at most one chain signed in the ibc attestation format.
fn chains(c: &mut Checker, items: &[Value], key: Option<&str>) -> Option<Chains> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let Value::Table(ct) = item else {
            c.error(
                format!("chains[{i}]"),
                format!("must be a table, not {}", item.type_str()),
            );
            ok = false;
            continue;
        };
        let parsed = match c.string(ct, "kind", &format!("chains[{i}].kind")) {
            Some("evm") => evm::chain(c, i, ct).map(|ch| Parsed::Evm(i, ch)),
            Some("cosmos") => cosmos::chain(c, i, ct).map(|ch| Parsed::Cosmos(i, ch)),
            Some(k) => {
                c.error(
                    format!("chains[{i}].kind"),
                    format!("`{k}` is not supported; the kinds are \"evm\" and \"cosmos\""),
                );
                None
            }
            None => None,
        };
        match parsed {
            Some(p) => out.push(p),
            None => ok = false,
        }
    }
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    let mut ibc: Option<&Parsed> = None;
    for ch in &out {
        let i = ch.index();
        if !names.insert(ch.name().to_string()) {
            c.error(
                format!("chains[{i}].name"),
                format!("`{}` is used by another chain", ch.name()),
            );
            ok = false;
        }
        if !ids.insert(ch.caip2()) {
            c.error(
                format!("chains[{i}].{}", ch.id_key()),
                format!(
                    "the chain `{}` is configured twice (requests name a chain by it)",
                    ch.caip2()
                ),
            );
            ok = false;
        }
        if ch.ibc() {
            match ibc {
                None => ibc = Some(ch),
                Some(first) => {
                    c.error(
                        format!("chains[{i}].ibc_attestations"),
                        format!(
                            "chains[{}] (`{}`) is already signed in the ibc attestation format \
                             by key `{}`; that format names no chain, so a signature for one \
                             chain would also verify on the other chain's clients: one key signs \
                             it for at most one chain. Attest `{}` with another attestor and \
                             its own key",
                            first.index(),
                            first.caip2(),
                            key.unwrap_or("(key)"),
                            ch.caip2()
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    if !ok {
        return None;
    }
    let mut evm = Vec::new();
    let mut cosmos = Vec::new();
    for ch in out {
        match ch {
            Parsed::Evm(_, ch) => evm.push(ch),
            Parsed::Cosmos(_, ch) => cosmos.push(ch),
        }
    }
    Some((evm, cosmos))
}

/// `name`: a metric label.
pub(super) fn chain_name(c: &mut Checker, i: usize, t: &Table) -> Option<String> {
    let key = format!("chains[{i}].name");
    c.string(t, "name", &key).and_then(|n| {
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !ok {
            c.error(
                key,
                format!(
                    "`{n}` must be 1-64 letters, digits, `-`, `_` or `.` (it is a metric label)"
                ),
            );
        }
        ok.then(|| n.to_string())
    })
}

/// At least two distinct http(s) URLs.
pub(super) fn rpc(c: &mut Checker, i: usize, v: Option<&Value>) -> Option<Vec<reqwest::Url>> {
    let key = format!("chains[{i}].rpc");
    let items = match v {
        None => {
            c.error(
                key,
                "missing: list at least two independent JSON-RPC endpoints",
            );
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(v) => {
            c.error(
                key,
                format!("must be an array of URLs, not {}", v.type_str()),
            );
            return None;
        }
    };
    let mut out: Vec<reqwest::Url> = Vec::new();
    let mut ok = true;
    for (j, item) in items.iter().enumerate() {
        let k = format!("chains[{i}].rpc[{j}]");
        let Value::String(s) = item else {
            c.error(k, format!("must be a URL string, not {}", item.type_str()));
            ok = false;
            continue;
        };
        match reqwest::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if let Some(first) = out.iter().position(|o| *o == u) {
                    c.error(
                        k,
                        format!("`{s}` is the same endpoint as chains[{i}].rpc[{first}]"),
                    );
                    ok = false;
                    continue;
                }
                let loopback = |u: &reqwest::Url| {
                    matches!(
                        u.host_str(),
                        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
                    )
                };
                if let Some(first) = out.iter().position(|o| {
                    loopback(o)
                        && loopback(&u)
                        && o.port_or_known_default() == u.port_or_known_default()
                        && o.path() == u.path()
                }) {
                    c.warn(
                        k.clone(),
                        format!(
                            "`{s}` looks like the same node as chains[{i}].rpc[{first}]; \
                             the endpoints should be independent nodes"
                        ),
                    );
                }
                if u.scheme() == "http" && !loopback(&u) {
                    c.warn(
                        k,
                        format!("`{s}` is plain http to another host: its answers can be altered on the way"),
                    );
                }
                out.push(u);
            }
            _ => {
                c.error(k, format!("`{s}` is not an http(s) URL"));
                ok = false;
            }
        }
    }
    if ok && out.len() < 2 {
        c.error(
            key,
            format!(
                "lists {} endpoint{}; at least 2 distinct endpoints are required (every header \
                 is read from all of them and must agree)",
                out.len(),
                if out.len() == 1 { "" } else { "s" }
            ),
        );
        return None;
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests;

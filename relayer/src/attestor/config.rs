//! `attestor.toml`: read as a TOML table and turned, key by key, into [`AttestorConfig`]. Every
//! problem is collected with the key it concerns (`chains[0].rpc`), so one run of
//! `ferry attestor validate` names them all. Errors stop the attestor; warnings are printed.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ethers::types::H256;
use toml::{Table, Value};

use crate::chain::evm::attestation::caip2_eip155;

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
    pub chains: Vec<ChainConfig>,
}

/// One chain this attestor vouches for.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainConfig {
    /// Label for logs and metrics.
    pub name: String,
    pub evm_chain_id: u64,
    /// Independent JSON-RPC endpoints (at least two, distinct); every header is read from all.
    pub rpc: Vec<reqwest::Url>,
    pub finality: Finality,
    /// The trusted block the header chain is verified from.
    pub checkpoint: TrustedBlock,
}

impl ChainConfig {
    /// The CAIP-2 name requests use: `eip155:<evm_chain_id>`.
    pub fn caip2(&self) -> String {
        caip2_eip155(self.evm_chain_id)
    }
}

/// When a block counts as final, and so may be signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// At or below the `finalized` block tag of every endpoint (`finality = "finalized"`).
    Finalized,
    /// At least this many blocks below the latest block of every endpoint
    /// (`finality = { depth = N }`, N ≥ 1).
    Depth(u64),
}

impl fmt::Display for Finality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finality::Finalized => write!(f, "the `finalized` block tag"),
            Finality::Depth(d) => write!(f, "{d} blocks below the latest block"),
        }
    }
}

/// A block the operator trusts: `checkpoint = "NUMBER:0xHASH"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedBlock {
    pub number: u64,
    pub hash: H256,
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
struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn error(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(Issue {
            severity: Severity::Error,
            key: key.into(),
            reason: reason.into(),
        });
    }

    fn warn(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(Issue {
            severity: Severity::Warning,
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// Keys of `t` not in `known` are errors (a typo must not silently fall back to a default).
    fn unknown_keys(&mut self, t: &Table, prefix: &str, known: &[&str]) {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                self.error(
                    format!("{prefix}{k}"),
                    format!("unknown key (known: {})", known.join(", ")),
                );
            }
        }
    }

    fn string<'a>(&mut self, t: &'a Table, key: &str, path: &str) -> Option<&'a str> {
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
    let rpc_timeout = match t.get("rpc_timeout") {
        None => Some(humantime::parse_duration(DEFAULT_RPC_TIMEOUT).expect("valid default")),
        Some(_) => {
            c.string(t, "rpc_timeout", "rpc_timeout")
                .and_then(|s| match humantime::parse_duration(s) {
                    Ok(d) if !d.is_zero() => Some(d),
                    Ok(_) => {
                        c.error("rpc_timeout", "must be greater than zero");
                        None
                    }
                    Err(e) => {
                        c.error(
                            "rpc_timeout",
                            format!("`{s}` is not a duration like \"10s\" ({e})"),
                        );
                        None
                    }
                })
        }
    };
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
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Table(ct) => match chain(c, i, ct) {
                        Some(ch) => out.push(ch),
                        None => ok = false,
                    },
                    v => {
                        c.error(
                            format!("chains[{i}]"),
                            format!("must be a table, not {}", v.type_str()),
                        );
                        ok = false;
                    }
                }
            }
            let mut names = HashSet::new();
            let mut ids = HashSet::new();
            for (i, ch) in out.iter().enumerate() {
                if !names.insert(ch.name.clone()) {
                    c.error(
                        format!("chains[{i}].name"),
                        format!("`{}` is used by another chain", ch.name),
                    );
                    ok = false;
                }
                if !ids.insert(ch.evm_chain_id) {
                    c.error(
                        format!("chains[{i}].evm_chain_id"),
                        format!(
                            "{} is configured twice (requests name a chain by `{}`)",
                            ch.evm_chain_id,
                            ch.caip2()
                        ),
                    );
                    ok = false;
                }
            }
            ok.then_some(out)
        }
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
    Some(AttestorConfig {
        key: key?,
        listen: listen?,
        rpc_timeout: rpc_timeout?,
        chains: chains?,
    })
}

fn chain(c: &mut Checker, i: usize, t: &Table) -> Option<ChainConfig> {
    let p = |k: &str| format!("chains[{i}].{k}");
    c.unknown_keys(
        t,
        &format!("chains[{i}]."),
        &[
            "name",
            "kind",
            "evm_chain_id",
            "rpc",
            "finality",
            "checkpoint",
        ],
    );
    let name = c.string(t, "name", &p("name")).and_then(|n| {
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !ok {
            c.error(
                p("name"),
                format!(
                    "`{n}` must be 1-64 letters, digits, `-`, `_` or `.` (it is a metric label)"
                ),
            );
        }
        ok.then(|| n.to_string())
    });
    let kind = c.string(t, "kind", &p("kind")).and_then(|k| {
        if k != "evm" {
            c.error(
                p("kind"),
                format!("`{k}` is not supported; the only kind is \"evm\""),
            );
            return None;
        }
        Some(())
    });
    let evm_chain_id = match t.get("evm_chain_id") {
        None => {
            c.error(p("evm_chain_id"), "missing");
            None
        }
        Some(Value::Integer(n)) if *n >= 1 => Some(*n as u64),
        Some(Value::Integer(n)) => {
            c.error(
                p("evm_chain_id"),
                format!("{n} is not an EIP-155 chain id (must be at least 1)"),
            );
            None
        }
        Some(v) => {
            c.error(
                p("evm_chain_id"),
                format!("must be an integer, not {}", v.type_str()),
            );
            None
        }
    };
    let rpc = rpc(c, i, t.get("rpc"));
    let finality = finality(c, &p("finality"), t.get("finality"));
    let checkpoint = c
        .string(t, "checkpoint", &p("checkpoint"))
        .and_then(|s| checkpoint(s).map_err(|e| c.error(p("checkpoint"), e)).ok());
    kind?;
    Some(ChainConfig {
        name: name?,
        evm_chain_id: evm_chain_id?,
        rpc: rpc?,
        finality: finality?,
        checkpoint: checkpoint?,
    })
}

/// At least two distinct http(s) URLs.
fn rpc(c: &mut Checker, i: usize, v: Option<&Value>) -> Option<Vec<reqwest::Url>> {
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

/// `"finalized"` or `{ depth = N }` with N ≥ 1.
fn finality(c: &mut Checker, key: &str, v: Option<&Value>) -> Option<Finality> {
    const SHAPE: &str = "must be \"finalized\" or { depth = N } with N ≥ 1";
    match v {
        None => {
            c.error(key, format!("missing: {SHAPE}"));
            None
        }
        Some(Value::String(s)) if s == "finalized" => Some(Finality::Finalized),
        Some(Value::Table(t)) => {
            c.unknown_keys(t, &format!("{key}."), &["depth"]);
            match t.get("depth") {
                Some(Value::Integer(n)) if *n >= 1 => Some(Finality::Depth(*n as u64)),
                Some(Value::Integer(n)) => {
                    c.error(
                        format!("{key}.depth"),
                        format!("{n} is too shallow: at least 1 block must be built on a block"),
                    );
                    None
                }
                Some(v) => {
                    c.error(
                        format!("{key}.depth"),
                        format!("must be an integer, not {}", v.type_str()),
                    );
                    None
                }
                None => {
                    c.error(key, SHAPE);
                    None
                }
            }
        }
        Some(Value::String(s)) => {
            c.error(key, format!("`{s}`: {SHAPE}"));
            None
        }
        Some(v) => {
            c.error(key, format!("{SHAPE}, not {}", v.type_str()));
            None
        }
    }
}

/// `NUMBER:0xHASH`, parsed as the relayer's `evm.checkpoint` is.
fn checkpoint(s: &str) -> Result<TrustedBlock, String> {
    let (number, hash) = crate::config::parse_checkpoint(s)?;
    Ok(TrustedBlock { number, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

    fn good() -> String {
        format!(
            r#"
key = "attestor-1"

[[chains]]
name = "evm-l3"
kind = "evm"
evm_chain_id = 33333
rpc = ["http://127.0.0.1:8545", "http://127.0.0.1:8546"]
finality = "finalized"
checkpoint = "123:{HASH}"
"#
        )
    }

    fn errors(text: &str) -> Vec<(String, String)> {
        let (cfg, issues) = parse(text);
        let errs: Vec<_> = issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| (i.key.clone(), i.reason.clone()))
            .collect();
        assert_eq!(cfg.is_some(), errs.is_empty(), "{issues:?}");
        errs
    }

    fn has(errs: &[(String, String)], key: &str, needle: &str) -> bool {
        errs.iter().any(|(k, r)| k == key && r.contains(needle))
    }

    #[test]
    fn good_config_parses_with_defaults() {
        let (cfg, issues) = parse(&good());
        assert!(issues.is_empty(), "{issues:?}");
        let cfg = cfg.unwrap();
        assert_eq!(cfg.key, "attestor-1");
        assert_eq!(cfg.listen, "127.0.0.1:9470".parse().unwrap());
        assert_eq!(cfg.rpc_timeout, Duration::from_secs(10));
        let ch = &cfg.chains[0];
        assert_eq!(ch.caip2(), "eip155:33333");
        assert_eq!(ch.finality, Finality::Finalized);
        assert_eq!(ch.checkpoint.number, 123);
        assert_eq!(ch.checkpoint.hash, H256::repeat_byte(0x11));
        assert_eq!(ch.rpc.len(), 2);

        let depth = good().replace("\"finalized\"", "{ depth = 12 }");
        assert_eq!(
            parse(&depth).0.unwrap().chains[0].finality,
            Finality::Depth(12)
        );
    }

    #[test]
    fn each_error_names_its_key() {
        let g = good();
        let one_rpc = g.replace(", \"http://127.0.0.1:8546\"", "");
        assert!(has(&errors(&one_rpc), "chains[0].rpc", "at least 2"));
        let dup = g.replace("8546", "8545/");
        assert!(has(&errors(&dup), "chains[0].rpc[1]", "same endpoint"));
        let not_url = g.replace("http://127.0.0.1:8546", "ftp://x");
        assert!(has(&errors(&not_url), "chains[0].rpc[1]", "not an http"));
        let depth0 = g.replace("\"finalized\"", "{ depth = 0 }");
        assert!(has(
            &errors(&depth0),
            "chains[0].finality.depth",
            "too shallow"
        ));
        let latest = g.replace("\"finalized\"", "\"latest\"");
        assert!(has(&errors(&latest), "chains[0].finality", "\"finalized\""));
        let cp = g.replace(&format!("123:{HASH}"), "123:0xabc");
        assert!(has(
            &errors(&cp),
            "chains[0].checkpoint",
            "not a checkpoint"
        ));
        let no_cp = g.replace(&format!("checkpoint = \"123:{HASH}\""), "");
        assert!(has(&errors(&no_cp), "chains[0].checkpoint", "missing"));
        let kind = g.replace("kind = \"evm\"", "kind = \"cosmos\"");
        assert!(has(&errors(&kind), "chains[0].kind", "not supported"));
        let id = g.replace("33333", "0");
        assert!(has(&errors(&id), "chains[0].evm_chain_id", "at least 1"));
        let id_str = g.replace("33333", "\"33333\"");
        assert!(has(&errors(&id_str), "chains[0].evm_chain_id", "integer"));
        let typo = g.replace("kind = \"evm\"", "kind = \"evm\"\nconfirmations = 3");
        assert!(has(
            &errors(&typo),
            "chains[0].confirmations",
            "unknown key"
        ));
        let key = g.replace("attestor-1", "../x");
        assert!(has(&errors(&key), "key", "not a key name"));
        let listen = format!("listen = \"nowhere\"\n{g}");
        assert!(has(&errors(&listen), "listen", "not an address"));
        let timeout = format!("rpc_timeout = \"0s\"\n{g}");
        assert!(has(&errors(&timeout), "rpc_timeout", "greater than zero"));
        assert!(has(&errors("key = \"a\""), "chains", "missing"));
        assert!(has(&errors("key = "), "(file)", "not valid TOML"));
        let twice = format!("{g}{}", &g[g.find("[[chains]]").unwrap()..]);
        let errs = errors(&twice);
        assert!(has(&errs, "chains[1].name", "used by another chain"));
        assert!(has(&errs, "chains[1].evm_chain_id", "configured twice"));
    }

    #[test]
    fn warnings_do_not_stop_it() {
        let g = good().replace("http://127.0.0.1:8546", "http://localhost:8545");
        let text = format!("listen = \"0.0.0.0:9470\"\n{g}");
        let (cfg, issues) = parse(&text);
        assert!(cfg.is_some());
        let warned: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(warned, ["listen", "chains[0].rpc[1]"], "{issues:?}");
        assert!(issues.iter().all(|i| i.severity == Severity::Warning));
    }

    #[test]
    fn key_name_alone() {
        assert_eq!(key_name(&good()).unwrap(), "attestor-1");
        let e = key_name("listen = \"x\"").unwrap_err();
        assert_eq!(e.errors[0].key, "key");
    }
}

//! A `kind = "evm"` chain of `attestor.toml`: read from JSON-RPC endpoints, its header chain
//! verified with Ferry's Ethereum light client from a trusted block, final under a rule; signed in
//! EIP-712, and in the ibc format too when flagged.

use std::fmt;

use ethers::types::{Address, H256};
use toml::{Table, Value};

use super::{chain_name, rpc, Checker};
use crate::chain::evm::attestation::caip2_eip155;

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
    /// Also sign this chain in the ibc-go `attestations` light client format.
    pub ibc_attestations: bool,
    /// The FerryRouter whose `commitments` slots ibc packet attestations prove (set exactly when
    /// `ibc_attestations`).
    pub router: Option<Address>,
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

/// A `kind = "evm"` table.
pub(super) fn chain(c: &mut Checker, i: usize, t: &Table) -> Option<ChainConfig> {
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
            "ibc_attestations",
            "router",
        ],
    );
    let name = chain_name(c, i, t);
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
    let ibc = c.flag(t, "ibc_attestations", &p("ibc_attestations"));
    let router = match (ibc, t.get("router")) {
        (Some(true), None) => {
            c.error(
                p("router"),
                "missing: ibc packet attestations read the FerryRouter's `commitments` slots; \
                 give its address (\"0x…\")",
            );
            None
        }
        (Some(true), Some(_)) => {
            c.string(t, "router", &p("router"))
                .and_then(|s| match s.parse::<Address>() {
                    Ok(a) if s.starts_with("0x") && !a.is_zero() => Some(Some(a)),
                    _ => {
                        c.error(
                            p("router"),
                            format!(
                            "`{s}` is not a contract address (\"0x\" and 40 hex digits, not zero)"
                        ),
                        );
                        None
                    }
                })
        }
        (Some(false), Some(_)) => {
            c.error(
                p("router"),
                "is only used by ibc packet attestations: set `ibc_attestations = true` or remove it",
            );
            None
        }
        (Some(false), None) => Some(None),
        (None, _) => None,
    };
    Some(ChainConfig {
        name: name?,
        evm_chain_id: evm_chain_id?,
        rpc: rpc?,
        finality: finality?,
        checkpoint: checkpoint?,
        ibc_attestations: ibc?,
        router: router?,
    })
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

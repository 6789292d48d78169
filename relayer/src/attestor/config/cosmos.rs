//! A `kind = "cosmos"` chain of `attestor.toml`: a CometBFT chain followed with Ferry's Tendermint
//! light client from a trusted header, signed only in the ibc attestation format.

use std::time::Duration;

use toml::{Table, Value};

use super::{chain_name, rpc, Checker};

/// How long a verified header may be trusted without a newer one, unless `trusting_period` says
/// otherwise: two thirds of the 21-day unbonding period most Cosmos chains use, as IBC clients do.
pub const DEFAULT_TRUSTING_PERIOD: &str = "14days";
/// How far a header's time may be ahead of this machine's clock, unless `clock_drift` says
/// otherwise.
pub const DEFAULT_CLOCK_DRIFT: &str = "10s";
/// Trusting periods above this are warned about (the common unbonding period).
const USUAL_UNBONDING: Duration = Duration::from_secs(21 * 24 * 3600);

/// One Cosmos chain this attestor vouches for.
#[derive(Clone, Debug, PartialEq)]
pub struct CosmosChainConfig {
    /// Label for logs and metrics.
    pub name: String,
    /// The CometBFT chain id every header must carry.
    pub chain_id: String,
    /// Independent CometBFT RPC endpoints (at least two, distinct); every header, validator set
    /// and proof is read from all of them.
    pub rpc: Vec<reqwest::Url>,
    /// The trusted header verification starts from.
    pub checkpoint: CosmosCheckpoint,
    /// How long a verified header's validators are trusted to skip from.
    pub trusting_period: Duration,
    pub clock_drift: Duration,
}

impl CosmosChainConfig {
    /// The CAIP-2 name requests use: `cosmos:<chain_id>`.
    pub fn caip2(&self) -> String {
        caip2_cosmos(&self.chain_id)
    }
}

/// `cosmos:<chain id>`.
pub fn caip2_cosmos(chain_id: &str) -> String {
    format!("cosmos:{chain_id}")
}

/// A header the operator trusts: `checkpoint = "HEIGHT:HASH"` (the block hash CometBFT shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CosmosCheckpoint {
    pub height: u64,
    pub hash: [u8; 32],
}

/// `HEIGHT:HASH`, the hash as 64 hex digits (upper or lower case, `0x` optional).
pub fn parse_checkpoint(s: &str) -> Result<CosmosCheckpoint, String> {
    let shape = || {
        format!(
            "`{s}` is not a checkpoint \"HEIGHT:HASH\" (a block height and its 32-byte header \
             hash in hex, as `/commit?height=HEIGHT` shows it)"
        )
    };
    let (h, hash) = s.split_once(':').ok_or_else(shape)?;
    let height: u64 = h.trim().parse().map_err(|_| shape())?;
    if height == 0 {
        return Err(format!("`{s}`: heights start at 1"));
    }
    let hex_part = hash.trim();
    let hex_part = hex_part.strip_prefix("0x").unwrap_or(hex_part);
    let bytes = hex::decode(hex_part).map_err(|_| shape())?;
    let hash: [u8; 32] = bytes.try_into().map_err(|_| shape())?;
    Ok(CosmosCheckpoint { height, hash })
}

/// A `kind = "cosmos"` table.
pub(super) fn chain(c: &mut Checker, i: usize, t: &Table) -> Option<CosmosChainConfig> {
    let p = |k: &str| format!("chains[{i}].{k}");
    c.unknown_keys(
        t,
        &format!("chains[{i}]."),
        &[
            "name",
            "kind",
            "chain_id",
            "rpc",
            "checkpoint",
            "trusting_period",
            "clock_drift",
            "ibc_attestations",
        ],
    );
    let name = chain_name(c, i, t);
    let chain_id = c.string(t, "chain_id", &p("chain_id")).and_then(|id| {
        let ok = !id.is_empty()
            && id.len() <= 50
            && id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
            && id.parse::<tendermint::chain::Id>().is_ok();
        if !ok {
            c.error(
                p("chain_id"),
                format!("`{id}` is not a CometBFT chain id (1-50 letters, digits, `-`, `_`, `.`)"),
            );
        }
        ok.then(|| id.to_string())
    });
    let rpc = rpc(c, i, t.get("rpc"));
    let checkpoint = c.string(t, "checkpoint", &p("checkpoint")).and_then(|s| {
        parse_checkpoint(s)
            .map_err(|e| c.error(p("checkpoint"), e))
            .ok()
    });
    let trusting_period = c.duration(
        t,
        "trusting_period",
        &p("trusting_period"),
        DEFAULT_TRUSTING_PERIOD,
    );
    if trusting_period.is_some_and(|d| d > USUAL_UNBONDING) {
        c.warn(
            p("trusting_period"),
            "is longer than 21 days: it must be shorter than this chain's unbonding period, or \
             validators that already unbonded could sign a forged header",
        );
    }
    let clock_drift = c.duration(t, "clock_drift", &p("clock_drift"), DEFAULT_CLOCK_DRIFT);
    let ibc = match t.get("ibc_attestations") {
        None => {
            c.error(
                p("ibc_attestations"),
                "missing: a Cosmos chain is attested only in the ibc attestation format; set \
                 `ibc_attestations = true`",
            );
            None
        }
        Some(Value::Boolean(true)) => Some(()),
        Some(Value::Boolean(false)) => {
            c.error(
                p("ibc_attestations"),
                "must be true: a Cosmos chain is attested only in the ibc attestation format",
            );
            None
        }
        Some(v) => {
            c.error(
                p("ibc_attestations"),
                format!("must be true, not {}", v.type_str()),
            );
            None
        }
    };
    ibc?;
    Some(CosmosChainConfig {
        name: name?,
        chain_id: chain_id?,
        rpc: rpc?,
        checkpoint: checkpoint?,
        trusting_period: trusting_period?,
        clock_drift: clock_drift?,
    })
}

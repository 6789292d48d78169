//! Checks a transfer passes before anything is signed: the receiver in the destination chain's own
//! address form, and a timeout the protocol accepts. A transfer that fails one would end in an
//! error acknowledgement or a timeout, paid for by the sender and by the relayer.

use thiserror::Error;

/// ibc-go refuses a v2 send whose timeout is more than 24 h ahead (`MaxTimeoutDelta`); Ferry's router
/// the same (`MAX_TIMEOUT_DELTA`).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// ibc-go's transfer app refuses a memo longer than this (`MaximumMemoLength`).
pub const MAX_MEMO_BYTES: usize = 32_768;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckError {
    #[error("--to `{to}` is not an address on {chain}: {reason}")]
    Receiver {
        to: String,
        chain: String,
        reason: String,
    },
    #[error("--timeout-seconds {0}: must be between 1 and {MAX_TIMEOUT_SECS} (24 h, the protocol's maximum)")]
    Timeout(u64),
    #[error("--timeout-seconds 0: the packet would time out as it is sent; give at least 1")]
    TimeoutZero,
    #[error("--memo is {0} bytes; the transfer app refuses more than {MAX_MEMO_BYTES}")]
    Memo(usize),
    /// `amount` and `holds` with their denom; `fee` is ", and the fee needs …" when the fee is
    /// paid in the same denom.
    #[error("--amount {amount}: {address} on {chain} holds {holds}{fee}")]
    Balance {
        amount: String,
        holds: String,
        address: String,
        chain: String,
        fee: String,
    },
    #[error("{address} on {chain} holds no {denom} to pay the fee with")]
    NoFee {
        address: String,
        chain: String,
        denom: String,
    },
}

/// A bech32 account address with `prefix` (e.g. `cosmos1…`).
pub fn cosmos_receiver(to: &str, chain: &str, prefix: &str) -> Result<(), CheckError> {
    let bad = |reason: String| CheckError::Receiver {
        to: to.into(),
        chain: chain.into(),
        reason,
    };
    let id: cosmrs::AccountId = to
        .parse()
        .map_err(|e| bad(format!("not a bech32 address ({e})")))?;
    if id.prefix() != prefix {
        return Err(bad(format!(
            "its prefix is `{}`, {chain} uses `{prefix}`",
            id.prefix()
        )));
    }
    Ok(())
}

/// `0x` and 40 hex digits; mixed case must be the EIP-55 checksum (a typo is caught, not paid for).
pub fn evm_receiver(to: &str, chain: &str) -> Result<(), CheckError> {
    let bad = |reason: &str| CheckError::Receiver {
        to: to.into(),
        chain: chain.into(),
        reason: reason.into(),
    };
    let hex = to
        .strip_prefix("0x")
        .ok_or_else(|| bad("an EVM address starts with 0x"))?;
    if hex.len() != 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("an EVM address is 0x and 40 hex digits"));
    }
    let mixed =
        hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    if mixed {
        let addr: ethers::types::Address = to.parse().map_err(|_| bad("not an address"))?;
        if ethers::utils::to_checksum(&addr, None) != to {
            return Err(bad(
                "the EIP-55 checksum does not match (a mistyped character?)",
            ));
        }
    }
    Ok(())
}

pub fn timeout(secs: u64) -> Result<(), CheckError> {
    if secs == 0 || secs > MAX_TIMEOUT_SECS {
        return Err(CheckError::Timeout(secs));
    }
    Ok(())
}

/// IBC classic has no maximum timeout; it must only lie in the future.
pub fn timeout_in_future(secs: u64) -> Result<(), CheckError> {
    if secs == 0 {
        return Err(CheckError::TimeoutZero);
    }
    Ok(())
}

pub fn memo(memo: &str) -> Result<(), CheckError> {
    if memo.len() > MAX_MEMO_BYTES {
        return Err(CheckError::Memo(memo.len()));
    }
    Ok(())
}

/// What the sender holds covers the amount, and the fee (`fee` in `fee_denom`, an upper bound)
/// when that is the same denom; some fee denom is held at all.
pub struct Funds<'a> {
    pub chain: &'a str,
    pub address: &'a str,
    pub amount: u128,
    pub denom: &'a str,
    pub balance: u128,
    pub fee_denom: &'a str,
    pub fee_balance: u128,
    pub fee: u128,
}

pub fn funds(f: &Funds) -> Result<(), CheckError> {
    let same = f.denom == f.fee_denom;
    let need = if same {
        f.amount.saturating_add(f.fee)
    } else {
        f.amount
    };
    if f.balance < need {
        return Err(CheckError::Balance {
            amount: format!("{}{}", f.amount, f.denom),
            holds: format!("{}{}", f.balance, f.denom),
            address: f.address.into(),
            chain: f.chain.into(),
            fee: if same {
                format!(", and the fee needs up to {}{}", f.fee, f.fee_denom)
            } else {
                String::new()
            },
        });
    }
    if !same && f.fee_balance == 0 {
        return Err(CheckError::NoFee {
            address: f.address.into(),
            chain: f.chain.into(),
            denom: f.fee_denom.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_timeout_and_funds() {
        assert_eq!(memo(&"x".repeat(MAX_MEMO_BYTES)), Ok(()));
        assert_eq!(
            memo(&"x".repeat(MAX_MEMO_BYTES + 1)),
            Err(CheckError::Memo(MAX_MEMO_BYTES + 1))
        );
        assert_eq!(timeout_in_future(0), Err(CheckError::TimeoutZero));
        assert_eq!(timeout_in_future(200_000), Ok(()));
        let f = Funds {
            chain: "c",
            address: "addr",
            amount: 100,
            denom: "stake",
            balance: 150,
            fee_denom: "stake",
            fee_balance: 150,
            fee: 60,
        };
        assert!(matches!(funds(&f), Err(CheckError::Balance { .. })));
        assert_eq!(funds(&Funds { fee: 50, ..f }), Ok(()));
        let other = Funds {
            denom: "samoleans",
            balance: 100,
            fee_balance: 0,
            ..f
        };
        assert!(matches!(funds(&other), Err(CheckError::NoFee { .. })));
        assert_eq!(
            funds(&Funds {
                fee_balance: 1,
                ..other
            }),
            Ok(())
        );
    }

    #[test]
    fn cosmos_receivers_need_the_destination_prefix() {
        let ok = "cosmos1zfgltfxj2j47kzs9220ehany836sqf266f0nd8";
        assert_eq!(cosmos_receiver(ok, "c", "cosmos"), Ok(()));
        // The same account with another chain's prefix: valid bech32, wrong chain.
        let osmo = "osmo1zfgltfxj2j47kzs9220ehany836sqf26jjurm4";
        match cosmos_receiver(osmo, "c", "cosmos") {
            Err(CheckError::Receiver { reason, .. }) => {
                assert!(reason.contains("prefix is `osmo`"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(cosmos_receiver("hello", "c", "cosmos").is_err());
        assert!(
            cosmos_receiver("0x5f5c26acce515fa6bd95fa415a8976f502750a16", "c", "cosmos").is_err()
        );
    }

    #[test]
    fn evm_receivers_are_0x_addresses_with_a_valid_checksum() {
        assert_eq!(
            evm_receiver("0x5f5c26acce515fa6bd95fa415a8976f502750a16", "e"),
            Ok(())
        );
        let a: ethers::types::Address = "0x5f5c26acce515fa6bd95fa415a8976f502750a16"
            .parse()
            .unwrap();
        let sum = ethers::utils::to_checksum(&a, None);
        assert_eq!(evm_receiver(&sum, "e"), Ok(()));
        // One character's case flipped: the checksum catches it.
        let mut flipped: Vec<char> = sum.chars().collect();
        let i = flipped
            .iter()
            .position(|c| c.is_ascii_alphabetic() && *c != 'x')
            .unwrap();
        flipped[i] = if flipped[i].is_ascii_uppercase() {
            flipped[i].to_ascii_lowercase()
        } else {
            flipped[i].to_ascii_uppercase()
        };
        let flipped: String = flipped.into_iter().collect();
        assert!(evm_receiver(&flipped, "e").is_err());
        assert!(evm_receiver("not-an-address", "e").is_err());
        assert!(evm_receiver("cosmos1zfgltfxj2j47kzs9220ehany836sqf266f0nd8", "e").is_err());
        assert!(evm_receiver("0x5f5c", "e").is_err());
    }

    #[test]
    fn timeouts_are_within_a_day() {
        assert_eq!(timeout(600), Ok(()));
        assert_eq!(timeout(0), Err(CheckError::Timeout(0)));
        assert_eq!(timeout(86_401), Err(CheckError::Timeout(86_401)));
    }
}

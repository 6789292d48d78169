//! Checks a transfer passes before anything is signed: the receiver in the destination chain's own
//! address form, and a timeout the protocol accepts. A transfer that fails one would end in an
//! error acknowledgement or a timeout, paid for by the sender and by the relayer.

use thiserror::Error;

/// ibc-go refuses a v2 send whose timeout is more than 24 h ahead (`MaxTimeoutDelta`); Ferry's router
/// the same (`MAX_TIMEOUT_DELTA`).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosmos_receivers_need_the_destination_prefix() {
        let ok = "cosmos1zfgltfxj2j47kzs9220ehany836sqf266f0nd8";
        assert_eq!(cosmos_receiver(ok, "c", "cosmos"), Ok(()));
        let osmo = "osmo1zfgltfxj2j47kzs9220ehany836sqf26uq9nqj";
        assert!(matches!(
            cosmos_receiver(osmo, "c", "cosmos"),
            Err(CheckError::Receiver { .. })
        ));
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

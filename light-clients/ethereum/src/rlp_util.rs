//! Strict RLP helpers on top of the `rlp` crate: its list iterator stops quietly at malformed or
//! trailing bytes, so lists are split here with explicit bounds checks.

use rlp::{DecoderError, Rlp};

/// Splits `raw`, which must be exactly one RLP list (no trailing bytes), into its items; each
/// returned [`Rlp`] spans exactly one item's encoding.
pub(crate) fn list_items(raw: &[u8]) -> Result<Vec<Rlp<'_>>, DecoderError> {
    let outer = Rlp::new(raw);
    let info = outer.payload_info()?;
    if info.total() > raw.len() {
        return Err(DecoderError::RlpIsTooShort);
    }
    if info.total() < raw.len() {
        return Err(DecoderError::RlpInconsistentLengthAndData);
    }
    if !outer.is_list() {
        return Err(DecoderError::RlpExpectedToBeList);
    }
    let mut rest = &raw[info.header_len..];
    let mut items = Vec::new();
    while !rest.is_empty() {
        let total = Rlp::new(rest).payload_info()?.total();
        if total > rest.len() {
            return Err(DecoderError::RlpIsTooShort);
        }
        items.push(Rlp::new(&rest[..total]));
        rest = &rest[total..];
    }
    Ok(items)
}

/// A byte string of exactly `N` bytes.
pub(crate) fn fixed_bytes<const N: usize>(item: &Rlp<'_>) -> Result<[u8; N], DecoderError> {
    let bytes: Vec<u8> = item.as_val()?;
    bytes
        .try_into()
        .map_err(|_| DecoderError::Custom("byte string of the wrong length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_trailing_and_truncated() {
        assert_eq!(list_items(&[0xc2, 0x01, 0x02]).unwrap().len(), 2);
        assert!(list_items(&[0xc2, 0x01, 0x02, 0x03]).is_err());
        assert!(list_items(&[0xc3, 0x01, 0x02]).is_err());
        assert!(list_items(&[0xc2, 0x82, 0x02]).is_err());
        assert!(list_items(&[0x82, 0x01, 0x02]).is_err());
        assert!(list_items(&[]).is_err());
    }
}

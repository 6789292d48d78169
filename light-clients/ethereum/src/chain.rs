//! Header-chain verification from a trusted checkpoint, and finality by confirmation depth.
//!
//! Each link is checked by small predicates (parent hash, consecutive number, increasing
//! timestamp, gas used within the limit, extra data size, well-formed fork tail);
//! [`verify_chain`] walks a run of headers from a [`Checkpoint`], and [`verify_update`] adds the
//! clock-drift check against a caller-supplied `now` and picks the newest final block.
//!
//! This is *not* consensus verification: nothing here checks proof of stake. A chain is trusted
//! because it hashes back to a trusted checkpoint; a block is final once `confirmation_depth`
//! blocks are built on it.

use primitive_types::H256;

use crate::{error::Error, header::Header};

/// The most extra data a header may carry (yellow paper, and every fork since).
pub const MAX_EXTRA_DATA: usize = 32;

/// A trusted block: its number, hash and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    pub number: u64,
    pub hash: H256,
    pub timestamp: u64,
}

impl Checkpoint {
    /// The checkpoint a header stands for (hashing it).
    pub fn of(header: &Header) -> Checkpoint {
        Checkpoint {
            number: header.number,
            hash: header.hash(),
            timestamp: header.timestamp,
        }
    }
}

/// Verification options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// A block is final when the verified head is at least this many blocks above it
    /// (`head - number >= depth`; 0 makes the head itself final).
    pub confirmation_depth: u64,
    /// How far (seconds) a header's timestamp may be ahead of `now`.
    pub max_clock_drift_secs: u64,
}

impl Default for Options {
    /// 64 confirmations (two beacon epochs, about when mainnet finalizes) and 15 s of drift.
    fn default() -> Self {
        Options {
            confirmation_depth: 64,
            max_clock_drift_secs: 15,
        }
    }
}

// --- predicates on one link --------------------------------------------------------------------

/// The child names the parent's hash as its parent.
pub fn parent_hash_matches(parent: &Checkpoint, child: &Header) -> Result<(), Error> {
    if child.parent_hash != parent.hash {
        return Err(Error::ParentHashMismatch {
            number: child.number,
            expected: parent.hash,
            found: child.parent_hash,
        });
    }
    Ok(())
}

/// The child's number is the parent's plus one.
pub fn number_follows(parent: &Checkpoint, child: &Header) -> Result<(), Error> {
    if parent.number.checked_add(1) != Some(child.number) {
        return Err(Error::NonConsecutiveNumber {
            parent: parent.number,
            child: child.number,
        });
    }
    Ok(())
}

/// The child's timestamp is not before the parent's. Equal is allowed: Ethereum L1 never makes
/// two blocks in one second, but L2/L3 chains (Arbitrum and its Orbit chains) and anvil do.
pub fn timestamp_not_decreasing(parent: &Checkpoint, child: &Header) -> Result<(), Error> {
    if child.timestamp < parent.timestamp {
        return Err(Error::DecreasingTimestamp {
            number: child.number,
            parent: parent.timestamp,
            child: child.timestamp,
        });
    }
    Ok(())
}

/// Gas used does not exceed the gas limit.
pub fn gas_within_limit(header: &Header) -> Result<(), Error> {
    if header.gas_used > header.gas_limit {
        return Err(Error::GasUsedExceedsLimit {
            number: header.number,
            gas_used: header.gas_used,
            gas_limit: header.gas_limit,
        });
    }
    Ok(())
}

/// Extra data is at most [`MAX_EXTRA_DATA`] bytes.
pub fn extra_data_within_limit(header: &Header) -> Result<(), Error> {
    if header.extra_data.len() > MAX_EXTRA_DATA {
        return Err(Error::ExtraDataTooLong {
            number: header.number,
            len: header.extra_data.len(),
        });
    }
    Ok(())
}

/// The header's timestamp is not more than `max_drift` seconds after `now` (unix seconds).
pub fn verify_not_from_future(header: &Header, now: u64, max_drift: u64) -> Result<(), Error> {
    if header.timestamp > now.saturating_add(max_drift) {
        return Err(Error::HeaderFromFuture {
            number: header.number,
            timestamp: header.timestamp,
            now,
            max_drift,
        });
    }
    Ok(())
}

/// Verifies that `child` extends the trusted `parent`; returns the child as the new checkpoint.
pub fn verify_link(parent: &Checkpoint, child: &Header) -> Result<Checkpoint, Error> {
    child.check_shape()?;
    number_follows(parent, child)?;
    parent_hash_matches(parent, child)?;
    timestamp_not_decreasing(parent, child)?;
    gas_within_limit(child)?;
    extra_data_within_limit(child)?;
    Ok(Checkpoint::of(child))
}

/// Verifies `headers` (ascending, the first a child of `trusted`) link by link; returns the
/// last one as the new checkpoint.
pub fn verify_chain(trusted: &Checkpoint, headers: &[Header]) -> Result<Checkpoint, Error> {
    if headers.is_empty() {
        return Err(Error::EmptyChain);
    }
    headers
        .iter()
        .try_fold(*trusted, |parent, child| verify_link(&parent, child))
}

// --- finality ------------------------------------------------------------------------------------

/// How many blocks are built on block `number` when `head` is the newest (`None` above the head).
pub fn confirmations(number: u64, head: u64) -> Option<u64> {
    head.checked_sub(number)
}

/// Block `number` is final under `head` with the given confirmation depth.
pub fn is_final(number: u64, head: u64, depth: u64) -> bool {
    confirmations(number, head).is_some_and(|c| c >= depth)
}

/// [`is_final`] as a check.
pub fn verify_finality(number: u64, head: u64, depth: u64) -> Result<(), Error> {
    if !is_final(number, head, depth) {
        return Err(Error::NotFinal {
            number,
            head,
            depth,
        });
    }
    Ok(())
}

/// The result of [`verify_update`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedUpdate {
    /// The newest verified header.
    pub head: Checkpoint,
    /// The newest of the supplied headers that is final under `head`, if any (otherwise the
    /// trusted checkpoint stays the newest final block).
    pub finalized: Option<Checkpoint>,
}

/// Verifies `headers` from `trusted` ([`verify_chain`]), rejects a head from the future relative
/// to `now` (unix seconds), and picks the newest final block by `options.confirmation_depth`.
pub fn verify_update(
    trusted: &Checkpoint,
    headers: &[Header],
    options: &Options,
    now: u64,
) -> Result<VerifiedUpdate, Error> {
    let head = verify_chain(trusted, headers)?;
    // Timestamps increase along the chain, so checking the head covers every header.
    let last = headers.last().ok_or(Error::EmptyChain)?;
    verify_not_from_future(last, now, options.max_clock_drift_secs)?;
    let finalized = headers
        .iter()
        .rev()
        .find(|h| is_final(h.number, head.number, options.confirmation_depth))
        .map(Checkpoint::of);
    Ok(VerifiedUpdate { head, finalized })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::tests::sample;

    /// A genesis-like checkpoint and `n` well-linked headers after it.
    fn chain(n: u64) -> (Checkpoint, Vec<Header>) {
        let genesis = sample(0);
        let trusted = Checkpoint::of(&genesis);
        let mut parent = trusted;
        let mut headers = Vec::new();
        for number in 1..=n {
            let mut h = sample(number);
            h.parent_hash = parent.hash;
            h.state_root = H256::from_low_u64_be(number);
            parent = Checkpoint::of(&h);
            headers.push(h);
        }
        (trusted, headers)
    }

    /// Re-links headers after `from` to their (possibly changed) predecessors.
    fn relink(trusted: &Checkpoint, headers: &mut [Header], from: usize) {
        for i in from..headers.len() {
            headers[i].parent_hash = if i == 0 {
                trusted.hash
            } else {
                headers[i - 1].hash()
            };
        }
    }

    #[test]
    fn accepts_a_good_chain() {
        let (trusted, headers) = chain(10);
        let head = verify_chain(&trusted, &headers).unwrap();
        assert_eq!(head, Checkpoint::of(&headers[9]));
        assert_eq!(head.number, 10);
        // Verifying in pieces gives the same head.
        let mid = verify_chain(&trusted, &headers[..4]).unwrap();
        assert_eq!(verify_chain(&mid, &headers[4..]).unwrap(), head);
    }

    #[test]
    fn rejects_an_empty_chain() {
        let (trusted, _) = chain(0);
        assert_eq!(verify_chain(&trusted, &[]), Err(Error::EmptyChain));
    }

    #[test]
    fn rejects_a_broken_parent_link() {
        let (trusted, mut headers) = chain(5);
        headers[2].parent_hash = H256::repeat_byte(0xee);
        let err = verify_chain(&trusted, &headers).unwrap_err();
        assert_eq!(
            err,
            Error::ParentHashMismatch {
                number: 3,
                expected: headers[1].hash(),
                found: H256::repeat_byte(0xee),
            }
        );
        assert_eq!(err.reason(), "parent_hash_mismatch");

        // A header changed after the fact breaks its child's link.
        let (trusted, mut headers) = chain(5);
        headers[1].state_root = H256::repeat_byte(0xab);
        assert_eq!(
            verify_chain(&trusted, &headers).unwrap_err().reason(),
            "parent_hash_mismatch"
        );

        // The first header must link to the checkpoint.
        let (mut trusted, headers) = chain(2);
        trusted.hash = H256::repeat_byte(1);
        assert_eq!(
            verify_chain(&trusted, &headers).unwrap_err().reason(),
            "parent_hash_mismatch"
        );
    }

    #[test]
    fn rejects_non_consecutive_numbers() {
        let (trusted, mut headers) = chain(5);
        headers.remove(2); // 1, 2, 4, 5
        let err = verify_chain(&trusted, &headers).unwrap_err();
        assert_eq!(
            err,
            Error::NonConsecutiveNumber {
                parent: 2,
                child: 4
            }
        );

        // Even correctly hash-linked, a skipped or repeated number is rejected.
        let (trusted, mut headers) = chain(3);
        headers[1].number = 5;
        relink(&trusted, &mut headers, 2);
        assert_eq!(
            verify_chain(&trusted, &headers),
            Err(Error::NonConsecutiveNumber {
                parent: 1,
                child: 5
            })
        );
        let (trusted, mut headers) = chain(3);
        headers[1].number = 1;
        relink(&trusted, &mut headers, 2);
        assert_eq!(
            verify_chain(&trusted, &headers),
            Err(Error::NonConsecutiveNumber {
                parent: 1,
                child: 1
            })
        );
        // The checkpoint at u64::MAX has no successor.
        let top = Checkpoint {
            number: u64::MAX,
            hash: H256::zero(),
            timestamp: 0,
        };
        assert_eq!(
            verify_link(&top, &sample(0)).unwrap_err().reason(),
            "non_consecutive_number"
        );
    }

    #[test]
    fn accepts_equal_and_rejects_decreasing_timestamps() {
        let (trusted, mut headers) = chain(4);
        headers[2].timestamp = headers[1].timestamp;
        relink(&trusted, &mut headers, 3);
        assert!(
            verify_chain(&trusted, &headers).is_ok(),
            "two blocks in one second"
        );
        for delta in [1u64, 7] {
            let (trusted, mut headers) = chain(4);
            headers[2].timestamp = headers[1].timestamp - delta;
            relink(&trusted, &mut headers, 3);
            assert_eq!(
                verify_chain(&trusted, &headers),
                Err(Error::DecreasingTimestamp {
                    number: 3,
                    parent: headers[1].timestamp,
                    child: headers[2].timestamp,
                })
            );
        }
    }

    #[test]
    fn rejects_insane_headers() {
        let (trusted, mut headers) = chain(1);
        headers[0].gas_used = headers[0].gas_limit + 1;
        assert_eq!(
            verify_chain(&trusted, &headers).unwrap_err().reason(),
            "gas_used_exceeds_limit"
        );
        let (trusted, mut headers) = chain(1);
        headers[0].extra_data = vec![0; 33];
        assert_eq!(
            verify_chain(&trusted, &headers).unwrap_err().reason(),
            "extra_data_too_long"
        );
        let (trusted, mut headers) = chain(1);
        headers[0].withdrawals_root = None;
        assert_eq!(verify_chain(&trusted, &headers), Err(Error::HeaderTailGap));
    }

    #[test]
    fn finality_by_depth() {
        assert!(is_final(10, 10, 0));
        assert!(!is_final(10, 10, 1));
        assert!(is_final(10, 11, 1));
        assert!(is_final(10, 74, 64));
        assert!(!is_final(10, 73, 64));
        assert!(!is_final(11, 10, 0)); // above the head
        assert!(is_final(0, u64::MAX, u64::MAX));
        assert_eq!(confirmations(10, 74), Some(64));
        assert_eq!(confirmations(75, 74), None);
        assert_eq!(
            verify_finality(10, 73, 64),
            Err(Error::NotFinal {
                number: 10,
                head: 73,
                depth: 64
            })
        );
        verify_finality(10, 74, 64).unwrap();
    }

    #[test]
    fn update_picks_the_newest_final_block() {
        let (trusted, headers) = chain(10);
        let now = headers[9].timestamp;
        let options = Options {
            confirmation_depth: 3,
            max_clock_drift_secs: 0,
        };
        let update = verify_update(&trusted, &headers, &options, now).unwrap();
        assert_eq!(update.head.number, 10);
        assert_eq!(update.finalized, Some(Checkpoint::of(&headers[6])));
        assert_eq!(update.finalized.unwrap().number, 7);

        // Too shallow for anything new to be final.
        let options = Options {
            confirmation_depth: 10,
            ..options
        };
        let update = verify_update(&trusted, &headers, &options, now).unwrap();
        assert_eq!(update.finalized, None);

        // A head from the future is rejected; drift allows some slack.
        let err = verify_update(&trusted, &headers, &options, now - 1).unwrap_err();
        assert_eq!(err.reason(), "header_from_future");
        let slack = Options {
            max_clock_drift_secs: 1,
            ..options
        };
        verify_update(&trusted, &headers, &slack, now - 1).unwrap();
    }
}

//! Small pure checks, one per rule. Each returns `Ok(())` or the error naming the rule it enforces.
//! None of them reads a clock or does I/O: `now` is always a parameter.

use std::time::Duration;

use tendermint::{block::Header, block::Height, chain::Id as ChainId, Hash, Time};

use crate::{TrustThreshold, VerificationError};

/// The trust threshold must be a fraction in [1/3, 1] with a non-zero denominator.
pub fn valid_trust_threshold(t: TrustThreshold) -> Result<(), VerificationError> {
    let ok =
        t.denominator > 0 && t.numerator <= t.denominator && u128::from(t.numerator) * 3 >= u128::from(t.denominator);
    if ok {
        Ok(())
    } else {
        Err(VerificationError::InvalidTrustThreshold { numerator: t.numerator, denominator: t.denominator })
    }
}

/// The trusted state is still within its trusting period: `trusted_time + trusting_period > now`.
pub fn within_trusting_period(
    trusted_time: Time,
    trusting_period: Duration,
    now: Time,
) -> Result<(), VerificationError> {
    let expires_at = (trusted_time + trusting_period).map_err(|_| VerificationError::TimeOverflow)?;
    if expires_at > now {
        Ok(())
    } else {
        Err(VerificationError::TrustedStateExpired { expired_at: expires_at, now })
    }
}

/// The header is not from the future: `header_time < now + clock_drift`.
pub fn not_from_future(header_time: Time, clock_drift: Duration, now: Time) -> Result<(), VerificationError> {
    let limit = (now + clock_drift).map_err(|_| VerificationError::TimeOverflow)?;
    if header_time < limit {
        Ok(())
    } else {
        Err(VerificationError::HeaderFromFuture { header_time, now, clock_drift })
    }
}

pub fn same_chain(trusted: &ChainId, untrusted: &ChainId) -> Result<(), VerificationError> {
    if trusted == untrusted {
        Ok(())
    } else {
        Err(VerificationError::ChainIdMismatch { trusted: trusted.clone(), untrusted: untrusted.clone() })
    }
}

pub fn height_increases(trusted: Height, untrusted: Height) -> Result<(), VerificationError> {
    if untrusted > trusted {
        Ok(())
    } else {
        Err(VerificationError::NonIncreasingHeight { trusted, untrusted })
    }
}

pub fn time_increases(trusted: Time, untrusted: Time) -> Result<(), VerificationError> {
    if untrusted > trusted {
        Ok(())
    } else {
        Err(VerificationError::NonMonotonicTime { trusted, untrusted })
    }
}

/// The commit is for this header: same height, and its block id names this header's hash.
pub fn commit_matches_header(
    header: &Header,
    header_hash: Hash,
    commit_height: Height,
    commit_hash: Hash,
) -> Result<(), VerificationError> {
    if commit_height != header.height {
        return Err(VerificationError::CommitHeightMismatch { header: header.height, commit: commit_height });
    }
    if commit_hash != header_hash {
        return Err(VerificationError::CommitForWrongBlock { header: header_hash, commit: commit_hash });
    }
    Ok(())
}

pub fn validators_match(header: Hash, computed: Hash) -> Result<(), VerificationError> {
    if header == computed {
        Ok(())
    } else {
        Err(VerificationError::ValidatorsHashMismatch { header, computed })
    }
}

pub fn next_validators_match(header: Hash, computed: Hash) -> Result<(), VerificationError> {
    if header == computed {
        Ok(())
    } else {
        Err(VerificationError::NextValidatorsHashMismatch { header, computed })
    }
}

/// For an adjacent header the trusted state already names the header's validator set.
pub fn adjacent_validators_match(trusted_next: Hash, untrusted: Hash) -> Result<(), VerificationError> {
    if trusted_next == untrusted {
        Ok(())
    } else {
        Err(VerificationError::AdjacentValidatorsMismatch { trusted_next, untrusted })
    }
}

/// The trusted state's validator set is the one its hash names (guards hand-built trusted states).
pub fn trusted_validators_match(expected: Hash, computed: Hash) -> Result<(), VerificationError> {
    if expected == computed {
        Ok(())
    } else {
        Err(VerificationError::TrustedValidatorsHashMismatch { expected, computed })
    }
}

/// `tallied / total > numerator / denominator`, computed without overflow.
pub fn exceeds(tallied: u64, total: u64, numerator: u64, denominator: u64) -> bool {
    u128::from(tallied) * u128::from(denominator) > u128::from(total) * u128::from(numerator)
}

/// More than two thirds of the header's own validator power signed.
pub fn enough_own_power(tallied: u64, total: u64) -> Result<(), VerificationError> {
    if exceeds(tallied, total, 2, 3) {
        Ok(())
    } else {
        Err(VerificationError::InsufficientVotingPower { tallied, total })
    }
}

/// More than the trust threshold of the trusted validators' power signed.
pub fn enough_trust(tallied: u64, total: u64, threshold: TrustThreshold) -> Result<(), VerificationError> {
    if exceeds(tallied, total, threshold.numerator, threshold.denominator) {
        Ok(())
    } else {
        Err(VerificationError::NotEnoughTrust { tallied, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_threshold_bounds() {
        let t = |numerator, denominator| valid_trust_threshold(TrustThreshold { numerator, denominator });
        assert!(t(1, 3).is_ok());
        assert!(t(2, 3).is_ok());
        assert!(t(1, 1).is_ok());
        assert!(t(1, 4).is_err());
        assert!(t(4, 3).is_err());
        assert!(t(0, 0).is_err());
        assert!(t(u64::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn thresholds_are_strict() {
        assert!(!exceeds(2, 3, 2, 3));
        assert!(exceeds(3, 4, 2, 3));
        assert!(!exceeds(1, 3, 1, 3));
        assert!(exceeds(u64::MAX, u64::MAX, 2, 3));
        assert!(enough_own_power(0, 0).is_err());
    }

    #[test]
    fn time_checks() {
        let t0 = Time::from_unix_timestamp(1_000, 0).unwrap();
        let t1 = Time::from_unix_timestamp(1_010, 0).unwrap();
        assert!(within_trusting_period(t0, Duration::from_secs(11), t1).is_ok());
        assert!(matches!(
            within_trusting_period(t0, Duration::from_secs(10), t1),
            Err(VerificationError::TrustedStateExpired { .. })
        ));
        assert!(not_from_future(t1, Duration::from_secs(1), t1).is_ok());
        assert!(matches!(not_from_future(t1, Duration::ZERO, t1), Err(VerificationError::HeaderFromFuture { .. })));
        assert!(time_increases(t0, t1).is_ok());
        assert!(time_increases(t1, t1).is_err());
    }
}

//! The commit against the validator sets: structure, tallies, and which signatures to check.
//!
//! Order of work, cheapest first:
//! 1. structure: one entry per validator, every voter in the set, nobody votes twice, every
//!    block vote carries a signature;
//! 2. tallies, before any crypto: the trusted set's share (skipping only, reported as
//!    [`VerificationError::NotEnoughTrust`] so bisection can step in) and the header's own +2/3;
//! 3. crypto: walk the block votes in commit order, keep just enough of them to clear both
//!    thresholds, and check those signatures in one batch. Like CometBFT's light verification,
//!    votes past the quorum are not checked.

use std::cmp::Ordering;

use tendermint::{account, block::CommitSig, validator, Signature, Time};

use crate::{
    predicates,
    signatures::{SignBytes, SignatureCheck, SignatureVerifier},
    LightBlock, TrustThreshold, VerificationError,
};

/// A commit vote for the block (flag `Commit`), with its position in the commit.
struct BlockVote<'a> {
    index: usize,
    address: account::Id,
    timestamp: Time,
    signature: &'a Signature,
    /// Index of the voter in the header's own validator set.
    own: usize,
    /// Index of the voter in the trusted set, if it is there (skipping verification only).
    trusted: Option<usize>,
}

/// Validators sorted by address, for `O(log n)` lookups.
struct AddressIndex<'a> {
    sorted: Vec<(&'a account::Id, usize)>,
}

impl<'a> AddressIndex<'a> {
    fn new(set: &'a [validator::Info]) -> Self {
        let mut sorted: Vec<_> = set.iter().enumerate().map(|(i, v)| (&v.address, i)).collect();
        // Stable sort: with (malformed) duplicate addresses, the first entry wins.
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        AddressIndex { sorted }
    }

    fn get(&self, address: &account::Id) -> Option<usize> {
        let pos = self.sorted.partition_point(|(a, _)| a.cmp(&address) == Ordering::Less);
        match self.sorted.get(pos) {
            Some((a, i)) if *a == address => Some(*i),
            _ => None,
        }
    }
}

/// Sum of voting powers, failing instead of wrapping.
pub fn total_power(set: &[validator::Info]) -> Result<u64, VerificationError> {
    set.iter().try_fold(0u64, |acc, v| acc.checked_add(v.power())).ok_or(VerificationError::VotingPowerOverflow)
}

/// Structural checks; returns the votes for the block.
fn block_votes<'a>(
    block: &'a LightBlock,
    trusted: Option<&[validator::Info]>,
) -> Result<Vec<BlockVote<'a>>, VerificationError> {
    let signatures = &block.signed_header.commit.signatures;
    let own = block.validators.validators();
    if signatures.len() != own.len() {
        return Err(VerificationError::CommitSizeMismatch { signatures: signatures.len(), validators: own.len() });
    }

    // Every non-absent vote (block or nil) names a validator; no validator may appear twice.
    let mut voters: Vec<(account::Id, usize)> =
        signatures.iter().enumerate().filter_map(|(i, s)| s.validator_address().map(|a| (a, i))).collect();
    voters.sort_unstable();
    if let Some(w) = voters.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(VerificationError::DuplicateVote { validator: w[0].0, first: w[0].1, second: w[1].1 });
    }

    let own_index = AddressIndex::new(own);
    let trusted_index = trusted.map(AddressIndex::new);
    let mut votes = Vec::with_capacity(signatures.len());
    for (index, sig) in signatures.iter().enumerate() {
        let Some(address) = sig.validator_address() else { continue };
        let Some(own) = own_index.get(&address) else {
            return Err(VerificationError::SignerNotInValidatorSet { validator: address, index });
        };
        if let CommitSig::BlockIdFlagCommit { timestamp, signature, .. } = sig {
            let signature =
                signature.as_ref().ok_or(VerificationError::MissingSignature { validator: address, index })?;
            let trusted = trusted_index.as_ref().and_then(|t| t.get(&address));
            votes.push(BlockVote { index, address, timestamp: *timestamp, signature, own, trusted });
        }
    }
    if votes.is_empty() {
        return Err(VerificationError::NoSignatures);
    }
    Ok(votes)
}

fn ed25519_key(v: &validator::Info, vote: &BlockVote<'_>) -> Result<[u8; 32], VerificationError> {
    v.pub_key
        .ed25519()
        .and_then(|k| <[u8; 32]>::try_from(k.as_bytes()).ok())
        .ok_or(VerificationError::UnsupportedKeyType { validator: vote.address, index: vote.index })
}

fn signature_bytes(vote: &BlockVote<'_>) -> Result<[u8; 64], VerificationError> {
    <[u8; 64]>::try_from(vote.signature.as_bytes())
        .map_err(|_| VerificationError::InvalidSignature { validator: vote.address, index: vote.index })
}

/// A signature chosen for checking, pointing at its vote and the key to check it with.
struct Pending {
    vote: usize,
    key: [u8; 32],
    sig: [u8; 64],
    msg: std::ops::Range<usize>,
}

/// Check that the commit in `block` carries more than 2/3 of `block.validators`' power and,
/// when `trusted` is given (skipping verification), more than `threshold` of the trusted
/// validators' power, with valid signatures.
pub fn verify_commit<V: SignatureVerifier + ?Sized>(
    block: &LightBlock,
    trusted: Option<&[validator::Info]>,
    threshold: TrustThreshold,
    verifier: &V,
) -> Result<(), VerificationError> {
    let own = block.validators.validators();
    let votes = block_votes(block, trusted)?;

    // Tallies before crypto.
    let own_total = total_power(own)?;
    let own_tallied = votes.iter().try_fold(0u64, |acc, v| acc.checked_add(own[v.own].power()));
    let own_tallied = own_tallied.ok_or(VerificationError::VotingPowerOverflow)?;
    let trust_totals = match trusted {
        Some(set) => {
            let total = total_power(set)?;
            let tallied = votes
                .iter()
                .filter_map(|v| v.trusted.map(|t| set[t].power()))
                .try_fold(0u64, |acc, p| acc.checked_add(p))
                .ok_or(VerificationError::VotingPowerOverflow)?;
            predicates::enough_trust(tallied, total, threshold)?;
            Some((set, total))
        }
        None => None,
    };
    predicates::enough_own_power(own_tallied, own_total)?;

    // Pick just enough votes to clear both thresholds, in commit order.
    let commit = &block.signed_header.commit;
    let mut sign_bytes = SignBytes::new(commit, &block.signed_header.header.chain_id);
    let mut messages = Vec::with_capacity(votes.len() * 160);
    let mut pending: Vec<Pending> = Vec::with_capacity(votes.len());
    let (mut own_sum, mut trust_sum) = (0u64, 0u64);
    let mut own_done = false;
    let mut trust_done = trust_totals.is_none();
    for (n, vote) in votes.iter().enumerate() {
        if own_done && trust_done {
            break;
        }
        let counts_for_trust = !trust_done && vote.trusted.is_some();
        if own_done && !counts_for_trust {
            continue;
        }
        let start = messages.len();
        sign_bytes.append(vote.timestamp, &mut messages);
        let msg = start..messages.len();
        let sig = signature_bytes(vote)?;
        let own_key = ed25519_key(&own[vote.own], vote)?;
        pending.push(Pending { vote: n, key: own_key, sig, msg: msg.clone() });
        own_sum = own_sum.saturating_add(own[vote.own].power());
        if let (Some((set, total)), Some(t)) = (trust_totals, vote.trusted) {
            let trusted_key = ed25519_key(&set[t], vote)?;
            if trusted_key != own_key {
                // Same address, different key in the two sets: the signature must hold for both.
                pending.push(Pending { vote: n, key: trusted_key, sig, msg });
            }
            trust_sum = trust_sum.saturating_add(set[t].power());
            trust_done = predicates::exceeds(trust_sum, total, threshold.numerator, threshold.denominator);
        }
        own_done = predicates::exceeds(own_sum, own_total, 2, 3);
    }

    let checks: Vec<SignatureCheck<'_>> = pending
        .iter()
        .map(|p| SignatureCheck { public_key: &p.key, signature: &p.sig, message: &messages[p.msg.clone()] })
        .collect();
    verifier.verify_all(&checks).map_err(|i| {
        // An out-of-range answer from a custom verifier still rejects; blame the first check.
        let vote = &votes[pending.get(i).unwrap_or(&pending[0]).vote];
        VerificationError::InvalidSignature { validator: vote.address, index: vote.index }
    })
}

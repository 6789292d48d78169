//! Commit signatures: the canonical vote sign bytes, and the crypto behind a trait.
//!
//! The default [`Ed25519Batch`] verifies all selected signatures in one Ed25519 batch
//! (`ed25519-consensus`, ZIP-215 rules, the same rules CometBFT uses). When the batch fails it
//! re-checks them one by one to name the bad signature. The batch's random coefficients come
//! from a SHA-256 of everything in the batch, so verification is deterministic and needs no OS
//! randomness, while a forger still cannot predict the coefficients before fixing the inputs.

use prost::Message;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use tendermint::{
    block::Commit,
    chain::Id as ChainId,
    vote::{CanonicalVote, Type},
    Time,
};
use tendermint_proto::v0_38::types::CanonicalVote as RawCanonicalVote;

/// One signature to check: an Ed25519 public key, a signature and the signed message.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    pub public_key: &'a [u8; 32],
    pub signature: &'a [u8; 64],
    pub message: &'a [u8],
}

/// Verifies a set of signatures. Implementations must be pure (no I/O, no clock).
pub trait SignatureVerifier {
    /// `Ok(())` when every signature is valid, otherwise `Err(i)` with `checks[i]` invalid.
    fn verify_all(&self, checks: &[SignatureCheck<'_>]) -> Result<(), usize>;
}

/// Batch Ed25519 verification with a one-by-one fallback that finds the bad signature.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519Batch;

/// Plain one-by-one Ed25519 verification (reference implementation, used in tests and benches).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519Single;

fn verify_one(check: &SignatureCheck<'_>) -> bool {
    match ed25519_consensus::VerificationKey::try_from(*check.public_key) {
        Ok(key) => key.verify(&ed25519_consensus::Signature::from(*check.signature), check.message).is_ok(),
        Err(_) => false,
    }
}

impl SignatureVerifier for Ed25519Single {
    fn verify_all(&self, checks: &[SignatureCheck<'_>]) -> Result<(), usize> {
        match checks.iter().position(|c| !verify_one(c)) {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }
}

impl SignatureVerifier for Ed25519Batch {
    fn verify_all(&self, checks: &[SignatureCheck<'_>]) -> Result<(), usize> {
        if checks.len() <= 1 {
            return Ed25519Single.verify_all(checks);
        }
        let mut batch = ed25519_consensus::batch::Verifier::new();
        for c in checks {
            let key = ed25519_consensus::VerificationKeyBytes::from(*c.public_key);
            batch.queue((key, ed25519_consensus::Signature::from(*c.signature), c.message));
        }
        if batch.verify(TranscriptRng::new(checks)).is_ok() {
            return Ok(());
        }
        // Single verification is the reference: under ZIP-215 a batch fails iff some single
        // check fails, so this finds the culprit.
        Ed25519Single.verify_all(checks)
    }
}

/// A deterministic CSPRNG seeded with SHA-256 over the whole batch (SHA-256 in counter mode).
struct TranscriptRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl TranscriptRng {
    fn new(checks: &[SignatureCheck<'_>]) -> Self {
        let mut h = Sha256::new();
        h.update(b"ferry-light-client-tendermint/ed25519-batch/v1");
        h.update((checks.len() as u64).to_le_bytes());
        for c in checks {
            h.update(c.public_key);
            h.update(c.signature);
            h.update((c.message.len() as u64).to_le_bytes());
            h.update(c.message);
        }
        TranscriptRng { seed: h.finalize().into(), counter: 0, block: [0; 32], used: 32 }
    }

    fn refill(&mut self) {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(self.counter.to_le_bytes());
        self.block = h.finalize().into();
        self.counter += 1;
        self.used = 0;
    }
}

impl RngCore for TranscriptRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == self.block.len() {
                self.refill();
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TranscriptRng {}

/// Builds the canonical precommit sign bytes for the votes of one commit. Everything but the
/// timestamp is shared, so the protobuf template is built once per commit.
pub struct SignBytes {
    template: RawCanonicalVote,
}

impl SignBytes {
    pub fn new(commit: &Commit, chain_id: &ChainId) -> Self {
        let canonical = CanonicalVote {
            vote_type: Type::Precommit,
            height: commit.height,
            round: commit.round,
            block_id: Some(commit.block_id),
            timestamp: None,
            chain_id: chain_id.clone(),
        };
        SignBytes { template: RawCanonicalVote::from(canonical) }
    }

    /// Append the length-delimited `CanonicalVote` a validator signed at `timestamp` to `out`.
    pub fn append(&mut self, timestamp: Time, out: &mut Vec<u8>) {
        self.template.timestamp = Some(timestamp.into());
        self.template.encode_length_delimited(out).expect("encoding into a Vec cannot run out of space");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_consensus::SigningKey;

    fn keys(n: u8) -> Vec<SigningKey> {
        (0..n).map(|i| SigningKey::from([i + 1; 32])).collect()
    }

    #[test]
    fn batch_names_the_bad_signature() {
        let sks = keys(5);
        let msgs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 40]).collect();
        let pks: Vec<[u8; 32]> = sks.iter().map(|k| k.verification_key().to_bytes()).collect();
        let mut sigs: Vec<[u8; 64]> = sks.iter().zip(&msgs).map(|(k, m)| k.sign(m).to_bytes()).collect();
        let checks = |sigs: &[[u8; 64]]| -> Result<(), usize> {
            let v: Vec<SignatureCheck<'_>> = (0..5)
                .map(|i| SignatureCheck { public_key: &pks[i], signature: &sigs[i], message: &msgs[i] })
                .collect();
            Ed25519Batch.verify_all(&v)
        };
        assert_eq!(checks(&sigs), Ok(()));
        sigs[3][0] ^= 1;
        assert_eq!(checks(&sigs), Err(3));
    }

    #[test]
    fn rng_is_deterministic() {
        let mut a = TranscriptRng::new(&[]);
        let mut b = TranscriptRng::new(&[]);
        let (x, y) = (a.next_u64(), b.next_u64());
        assert_eq!(x, y);
        assert_ne!(a.next_u64(), x);
    }
}

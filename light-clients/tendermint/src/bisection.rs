//! Skipping verification as a pure state machine: it says which height to fetch next, the caller
//! fetches that block (over RPC, async) and hands it back.
//!
//! It first tries the target directly from the trusted state. When the trusted validators did not
//! sign enough of it ([`VerificationError::NotEnoughTrust`]) it asks for the block halfway between,
//! verifies that, and tries the target again from there; any other error ends the bisection.

use crate::{verify, Height, LightBlock, Time, TrustedState, VerificationError, VerifyOptions};

/// What the caller should do after [`Bisection::supply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Fetch the block at this height next.
    Fetch(Height),
    /// The target verified; the new trusted state.
    Done(Box<TrustedState>),
}

pub struct Bisection {
    trusted: TrustedState,
    target: Height,
    /// Heights that still have to be verified, the last pushed is tried first.
    pending: Vec<Height>,
    /// Every trusted state so far, starting with the initial one.
    trace: Vec<TrustedState>,
    options: VerifyOptions,
    now: Time,
}

impl Bisection {
    pub fn new(trusted: TrustedState, target: Height, options: VerifyOptions, now: Time) -> Self {
        Bisection { trace: vec![trusted.clone()], trusted, target, pending: vec![target], options, now }
    }

    /// The height the caller must fetch next, or `None` when verification is complete.
    pub fn next_height(&self) -> Option<Height> {
        self.pending.last().copied()
    }

    /// The latest trusted state.
    pub fn trusted(&self) -> &TrustedState {
        &self.trusted
    }

    /// The trusted states in the order they were reached, the initial one first. When the
    /// bisection is done, the second to last is the one the target was verified from.
    pub fn trace(&self) -> &[TrustedState] {
        &self.trace
    }

    /// Supply the block at `next_height()`.
    pub fn supply(&mut self, block: &LightBlock) -> Result<Step, VerificationError> {
        let expected = self.next_height().ok_or(VerificationError::BisectionFinished)?;
        if block.height() != expected {
            return Err(VerificationError::UnexpectedHeight { expected, got: block.height() });
        }
        match verify(block, &self.trusted, &self.options, self.now) {
            Ok(next) => {
                self.trusted = next;
                self.trace.push(self.trusted.clone());
                self.pending.pop();
                match self.pending.last() {
                    Some(h) => Ok(Step::Fetch(*h)),
                    None => Ok(Step::Done(Box::new(self.trusted.clone()))),
                }
            }
            Err(VerificationError::NotEnoughTrust { .. }) => {
                let low = self.trusted.height.value();
                let high = expected.value();
                if high <= low.saturating_add(1) {
                    return Err(VerificationError::CannotBisect { trusted: self.trusted.height, untrusted: expected });
                }
                let mid = Height::try_from(low + (high - low) / 2).map_err(|_| VerificationError::CannotBisect {
                    trusted: self.trusted.height,
                    untrusted: expected,
                })?;
                self.pending.push(mid);
                Ok(Step::Fetch(mid))
            }
            Err(e) => Err(e),
        }
    }

    pub fn target(&self) -> Height {
        self.target
    }
}

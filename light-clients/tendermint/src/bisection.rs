//! Skipping verification as a pure state machine: it says which height to fetch next, the caller
//! fetches that block (over RPC, async) and hands it back.

use crate::{verify, Height, LightBlock, Time, TrustedState, VerificationError, VerifyOptions};

/// What the caller should do after [`Bisection::supply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Fetch the block at this height next.
    Fetch(Height),
    /// The target verified; the new trusted state.
    Done(TrustedState),
}

pub struct Bisection {
    trusted: TrustedState,
    target: Height,
    /// Heights that still have to be verified, the last pushed is tried first.
    pending: Vec<Height>,
    options: VerifyOptions,
    now: Time,
}

impl Bisection {
    pub fn new(trusted: TrustedState, target: Height, options: VerifyOptions, now: Time) -> Self {
        Bisection { trusted, target, pending: vec![target], options, now }
    }

    /// The height the caller must fetch next, or `None` when verification is complete.
    pub fn next_height(&self) -> Option<Height> {
        self.pending.last().copied()
    }

    pub fn trusted(&self) -> &TrustedState {
        &self.trusted
    }

    /// Supply the block at `next_height()`.
    pub fn supply(&mut self, block: &LightBlock) -> Result<Step, VerificationError> {
        let expected = self.next_height().ok_or(VerificationError::Invalid("bisection finished".into()))?;
        if block.height() != expected {
            return Err(VerificationError::Invalid(format!(
                "supplied height {} but {} was requested",
                block.height(),
                expected
            )));
        }
        match verify(block, &self.trusted, &self.options, self.now) {
            Ok(next) => {
                self.trusted = next;
                self.pending.pop();
                match self.pending.last() {
                    Some(h) => Ok(Step::Fetch(*h)),
                    None => Ok(Step::Done(self.trusted.clone())),
                }
            }
            Err(VerificationError::NotEnoughTrust { .. }) => {
                let low = self.trusted.height.value();
                let high = expected.value();
                if high <= low + 1 {
                    return Err(VerificationError::Invalid("adjacent header lacks trust".into()));
                }
                let mid = Height::try_from(low + (high - low) / 2)
                    .map_err(|e| VerificationError::Invalid(e.to_string()))?;
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

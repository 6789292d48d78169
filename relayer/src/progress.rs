//! Progress for long work (first-run builds and installs, handshakes, `transfer --wait`): on a
//! terminal, a spinner on stderr with the step and the time elapsed; otherwise plain lines, one
//! when the work starts, one per step and one when it ends, so logs and CI output stay readable.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// One piece of long work.
pub struct Progress {
    what: String,
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    /// Start `what`; a spinner when stderr is a terminal.
    pub fn start(what: impl Into<String>) -> Progress {
        let what = what.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {wide_msg} [{elapsed}]")
                    .expect("valid template"),
            );
            bar.set_prefix(what.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            eprintln!("{what} …");
        }
        Progress {
            what,
            bar,
            start: Instant::now(),
        }
    }

    /// The step under way.
    pub fn step(&self, step: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(step.to_string()),
            None => eprintln!(
                "{}: {step} [{:.0}s]",
                self.what,
                self.start.elapsed().as_secs_f64()
            ),
        }
    }

    /// A line of output that stays above the spinner (plain stdout without one).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    /// The work ended; `outcome` says how (e.g. "done", "failed").
    pub fn finish(self, outcome: &str) {
        let line = format!(
            "{}: {outcome} in {:.1}s",
            self.what,
            self.start.elapsed().as_secs_f64()
        );
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_when_not_on_a_terminal() {
        // Under `cargo test` stderr is captured, never a terminal: no spinner is drawn.
        let p = Progress::start("building x");
        assert!(p.bar.is_none());
        p.step("compiling");
        p.finish("done");
    }
}

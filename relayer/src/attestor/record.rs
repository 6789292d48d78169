//! The signed record: every (chain, height) → (timestamp, state root) this attestor ever signed,
//! so it never signs two different states for one height, across restarts too.
//!
//! One file, `<home>/attestor-record.jsonl`, JSON lines. The first line names the format and the
//! signer; each further line is one signed state:
//!
//! ```text
//! {"ferry_attestor_record":1,"signer":"0x…"}
//! {"chain":"eip155:33333","height":120,"timestamp":1700000000,"state_root":"0x…"}
//! {"format":"ibc","chain":"cosmos:simd-1","height":77,"timestamp":1700000100}
//! ```
//!
//! Lines without `format` are EIP-712 state attestations; `"format":"ibc"` lines are state
//! attestations in the ibc-go `attestations` format, whose state is the timestamp alone. The two
//! formats are kept apart: each never signs two states for one (chain, height). Records written
//! before the ibc format existed load unchanged.
//!
//! A state is appended and fsync'd *before* its signature leaves the process. The file is locked
//! (`flock`) while the attestor runs, so a second attestor on the same home cannot sign behind its
//! back. A file that is not such a record, belongs to another signer, or records two states for
//! one height is refused, never reset. Only a last line without its newline (the process died
//! while appending it, before answering) is repaired: kept when whole, else dropped with a warning.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use ethers::types::{Address, H256};
use serde::{Deserialize, Serialize};

use crate::chain::evm::attestation::StateAttestation;

pub const FILE_NAME: &str = "attestor-record.jsonl";
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("signed record {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "signed record {path} is in use by another process (another `ferry attestor start` on \
         this home?); two attestors sharing a record could sign conflicting states"
    )]
    Locked { path: PathBuf },
    #[error(
        "signed record {path} is not a Ferry attestor record ({reason}); it is never reset: \
         restore it from a backup, or move it away only if this key has never signed"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "signed record {path} belongs to signer {found:?}, but this attestor's key is {ours:?}; \
         a new key starts a new record: move the old file away (keep it) and start again"
    )]
    Foreign {
        path: PathBuf,
        found: Address,
        ours: Address,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderLine {
    ferry_attestor_record: u32,
    signer: Address,
}

/// The `format` of an ibc state line.
const IBC: &str = "ibc";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    chain: String,
    height: u64,
    timestamp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_root: Option<H256>,
}

/// What the record said about an attestation.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// First time: appended and synced.
    New,
    /// The same state was signed before (possibly for another domain): nothing written.
    Again,
    /// Another state was signed for this height: must not sign.
    Conflict { timestamp: u64, state_root: H256 },
}

/// What the record said about an ibc-format state attestation.
#[derive(Debug, PartialEq, Eq)]
pub enum IbcRecorded {
    New,
    Again,
    /// Another timestamp was signed for this height: must not sign.
    Conflict {
        timestamp: u64,
    },
}

pub struct Record {
    path: PathBuf,
    file: File,
    signed: HashMap<(String, u64), (u64, H256)>,
    /// ibc-format state attestations: (chain, height) → timestamp.
    ibc: HashMap<(String, u64), u64>,
}

impl Record {
    /// Open (or create) the record in `home` for `signer`, lock it and read it whole.
    pub fn open(home: &Path, signer: Address) -> Result<Record, RecordError> {
        let path = home.join(FILE_NAME);
        let io = |source| RecordError::Io {
            path: path.clone(),
            source,
        };
        let corrupt = |reason: String| RecordError::Corrupt {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(home).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(RecordError::Locked { path });
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8 text".into()))?;

        if text.is_empty() {
            let head = serde_json::to_string(&HeaderLine {
                ferry_attestor_record: FORMAT,
                signer,
            })
            .expect("serialisable");
            file.write_all(format!("{head}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Ok(dir) = File::open(home) {
                let _ = dir.sync_all();
            }
            return Ok(Record {
                path,
                file,
                signed: HashMap::new(),
                ibc: HashMap::new(),
            });
        }

        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        // A last line without its newline was cut short while being appended, so it was never
        // answered (answers wait for the sync). Complete it if it is whole, else drop it.
        if lines.len() > 1 {
            let last = lines[lines.len() - 1];
            if !last.ends_with('\n') {
                if serde_json::from_str::<Line>(last).is_ok() {
                    file.write_all(b"\n").map_err(io)?;
                } else {
                    tracing::warn!(path = %path.display(), line = lines.len(), "signed record ends in a torn line (a crash while appending, before answering); dropping it");
                    let keep: usize = lines[..lines.len() - 1].iter().map(|l| l.len()).sum();
                    file.set_len(keep as u64).map_err(io)?;
                    lines.pop();
                }
                file.sync_all().map_err(io)?;
            }
        }
        if !lines[0].ends_with('\n') {
            return Err(corrupt("line 1 has no end of line".into()));
        }
        let head: HeaderLine = serde_json::from_str(lines[0].trim_end())
            .map_err(|e| corrupt(format!("line 1 is not the record header: {e}")))?;
        if head.ferry_attestor_record != FORMAT {
            return Err(corrupt(format!(
                "format {} (this Ferry reads format {FORMAT})",
                head.ferry_attestor_record
            )));
        }
        if head.signer != signer {
            return Err(RecordError::Foreign {
                path,
                found: head.signer,
                ours: signer,
            });
        }
        let mut signed = HashMap::new();
        let mut ibc = HashMap::new();
        for (i, l) in lines.iter().enumerate().skip(1) {
            let line: Line = serde_json::from_str(l.trim_end())
                .map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
            let second = || {
                corrupt(format!(
                    "line {} records a second state for {} at height {}",
                    i + 1,
                    line.chain,
                    line.height
                ))
            };
            match (line.format.as_deref(), line.state_root) {
                (None, Some(root)) => {
                    let state = (line.timestamp, root);
                    match signed.insert((line.chain.clone(), line.height), state) {
                        Some(prev) if prev != state => return Err(second()),
                        _ => {}
                    }
                }
                (Some(IBC), None) => {
                    match ibc.insert((line.chain.clone(), line.height), line.timestamp) {
                        Some(prev) if prev != line.timestamp => return Err(second()),
                        _ => {}
                    }
                }
                _ => {
                    return Err(corrupt(format!(
                        "line {}: neither an EIP-712 state (with `state_root`) nor an ibc state \
                         (`\"format\":\"ibc\"`, without `state_root`)",
                        i + 1
                    )))
                }
            }
        }
        Ok(Record {
            path,
            file,
            signed,
            ibc,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many states are on record (both formats).
    pub fn len(&self) -> usize {
        self.signed.len() + self.ibc.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&mut self, line: &Line) -> Result<(), RecordError> {
        let text = serde_json::to_string(line).expect("serialisable");
        let io = |source| RecordError::Io {
            path: self.path.clone(),
            source,
        };
        self.file
            .write_all(format!("{text}\n").as_bytes())
            .map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// Record an ibc-format state `(height, timestamp)` of `chain` before signing it: new states
    /// are appended and synced; another timestamp for the same chain and height is a conflict.
    pub fn check_and_append_ibc(
        &mut self,
        chain: &str,
        height: u64,
        timestamp: u64,
    ) -> Result<IbcRecorded, RecordError> {
        let key = (chain.to_string(), height);
        match self.ibc.get(&key) {
            Some(&t) if t == timestamp => return Ok(IbcRecorded::Again),
            Some(&t) => return Ok(IbcRecorded::Conflict { timestamp: t }),
            None => {}
        }
        self.append(&Line {
            format: Some(IBC.into()),
            chain: chain.to_string(),
            height,
            timestamp,
            state_root: None,
        })?;
        self.ibc.insert(key, timestamp);
        Ok(IbcRecorded::New)
    }

    /// Record `a` before signing it: new states are appended and synced; a state that differs
    /// from one already signed for the same chain and height is a conflict (nothing written).
    pub fn check_and_append(&mut self, a: &StateAttestation) -> Result<Recorded, RecordError> {
        let key = (a.attested_chain.clone(), a.height);
        match self.signed.get(&key) {
            Some(&(t, r)) if (t, r) == (a.timestamp, a.state_root) => return Ok(Recorded::Again),
            Some(&(timestamp, state_root)) => {
                return Ok(Recorded::Conflict {
                    timestamp,
                    state_root,
                })
            }
            None => {}
        }
        self.append(&Line {
            format: None,
            chain: a.attested_chain.clone(),
            height: a.height,
            timestamp: a.timestamp,
            state_root: Some(a.state_root),
        })?;
        self.signed.insert(key, (a.timestamp, a.state_root));
        Ok(Recorded::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "ferry-attestor-record-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn att(height: u64, root: u8) -> StateAttestation {
        StateAttestation {
            attested_chain: "eip155:33333".into(),
            height,
            timestamp: 1_700_000_000 + height,
            state_root: H256::repeat_byte(root),
        }
    }

    const ME: Address = Address::repeat_byte(0xaa);

    #[test]
    fn conflict_is_refused_and_survives_a_restart() {
        let h = home("restart");
        let mut r = Record::open(&h, ME).unwrap();
        assert_eq!(r.check_and_append(&att(10, 1)).unwrap(), Recorded::New);
        assert_eq!(r.check_and_append(&att(10, 1)).unwrap(), Recorded::Again);
        assert_eq!(
            r.check_and_append(&att(10, 2)).unwrap(),
            Recorded::Conflict {
                timestamp: 1_700_000_010,
                state_root: H256::repeat_byte(1)
            }
        );
        let mut other_chain = att(10, 2);
        other_chain.attested_chain = "eip155:1".into();
        assert_eq!(r.check_and_append(&other_chain).unwrap(), Recorded::New);
        // Still locked while open.
        assert!(matches!(
            Record::open(&h, ME),
            Err(RecordError::Locked { .. })
        ));
        drop(r);

        let mut r = Record::open(&h, ME).unwrap();
        assert_eq!(r.len(), 2);
        assert!(matches!(
            r.check_and_append(&att(10, 2)).unwrap(),
            Recorded::Conflict { .. }
        ));
        assert_eq!(r.check_and_append(&att(10, 1)).unwrap(), Recorded::Again);
        assert_eq!(r.check_and_append(&att(11, 3)).unwrap(), Recorded::New);
        drop(r);
        let text = std::fs::read_to_string(h.join(FILE_NAME)).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        std::fs::remove_dir_all(h).unwrap();
    }

    #[test]
    fn corrupt_and_foreign_files_are_refused_not_reset() {
        let h = home("corrupt");
        std::fs::create_dir_all(&h).unwrap();
        let path = h.join(FILE_NAME);
        for (body, needle) in [
            ("hello\n", "line 1 is not the record header"),
            ("{\"ferry_attestor_record\":2,\"signer\":\"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n", "format 2"),
            ("{\"ferry_attestor_record\":1,\"signer\":\"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n{\"chain\":\"eip155:1\"}\n", "line 2"),
            ("{\"ferry_attestor_record\":1,\"signer\":\"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\nnot json\n{\"chain\":\"eip155:1\",\"height\":1,\"timestamp\":1,\"state_root\":\"0x1111111111111111111111111111111111111111111111111111111111111111\"}\n", "line 2"),
        ] {
            std::fs::write(&path, body).unwrap();
            let err = Record::open(&h, ME).err().expect("refused").to_string();
            assert!(err.contains(needle), "{err}");
            assert!(err.contains("never reset"), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), body, "left as it was");
        }
        let root = |b: u8| format!("{:?}", H256::repeat_byte(b));
        let two = format!(
            "{{\"ferry_attestor_record\":1,\"signer\":\"{ME:?}\"}}\n\
             {{\"chain\":\"eip155:1\",\"height\":1,\"timestamp\":1,\"state_root\":\"{}\"}}\n\
             {{\"chain\":\"eip155:1\",\"height\":1,\"timestamp\":1,\"state_root\":\"{}\"}}\n",
            root(1),
            root(2)
        );
        std::fs::write(&path, &two).unwrap();
        let err = Record::open(&h, ME).err().unwrap().to_string();
        assert!(err.contains("second state"), "{err}");

        let mut r = Record::open(&h, Address::repeat_byte(0xbb))
            .err()
            .unwrap()
            .to_string();
        assert!(r.contains("belongs to signer"), "{r}");
        std::fs::write(&path, "").unwrap();
        drop(Record::open(&h, ME).unwrap());
        r = Record::open(&h, Address::repeat_byte(0xbb))
            .err()
            .unwrap()
            .to_string();
        assert!(r.contains("belongs to signer"), "{r}");
        std::fs::remove_dir_all(h).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let h = home("torn");
        let mut r = Record::open(&h, ME).unwrap();
        r.check_and_append(&att(5, 1)).unwrap();
        drop(r);
        let path = h.join(FILE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"chain\":\"eip155:33333\",\"hei").unwrap();
        drop(f);
        let mut r = Record::open(&h, ME).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r.check_and_append(&att(6, 1)).unwrap(), Recorded::New);
        drop(r);
        let r = Record::open(&h, ME).unwrap();
        assert_eq!(r.len(), 2);
        drop(r);
        // A whole line that lost only its newline is kept.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.trim_end()).unwrap();
        let mut r = Record::open(&h, ME).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.check_and_append(&att(7, 1)).unwrap(), Recorded::New);
        drop(r);
        assert_eq!(Record::open(&h, ME).unwrap().len(), 3);
        std::fs::remove_dir_all(h).unwrap();
    }

    #[test]
    fn ibc_states_are_kept_apart_and_old_records_load() {
        let h = home("ibc");
        std::fs::create_dir_all(&h).unwrap();
        // A record written before the ibc format existed.
        let old = format!(
            "{{\"ferry_attestor_record\":1,\"signer\":\"{ME:?}\"}}\n\
             {{\"chain\":\"eip155:33333\",\"height\":10,\"timestamp\":5,\"state_root\":\"{:?}\"}}\n",
            H256::repeat_byte(1)
        );
        std::fs::write(h.join(FILE_NAME), &old).unwrap();
        let mut r = Record::open(&h, ME).unwrap();
        assert_eq!(r.len(), 1);
        // The same chain and height in the ibc format is another record.
        assert_eq!(
            r.check_and_append_ibc("eip155:33333", 10, 5).unwrap(),
            IbcRecorded::New
        );
        assert_eq!(
            r.check_and_append_ibc("cosmos:simd-1", 7, 100).unwrap(),
            IbcRecorded::New
        );
        assert_eq!(
            r.check_and_append_ibc("cosmos:simd-1", 7, 100).unwrap(),
            IbcRecorded::Again
        );
        assert_eq!(
            r.check_and_append_ibc("cosmos:simd-1", 7, 101).unwrap(),
            IbcRecorded::Conflict { timestamp: 100 }
        );
        assert_eq!(r.check_and_append(&att(11, 2)).unwrap(), Recorded::New);
        drop(r);
        let text = std::fs::read_to_string(h.join(FILE_NAME)).unwrap();
        assert!(text.starts_with(&old), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[3],
            "{\"format\":\"ibc\",\"chain\":\"cosmos:simd-1\",\"height\":7,\"timestamp\":100}"
        );
        assert!(lines[4].starts_with("{\"chain\":\"eip155:33333\",\"height\":11,"));
        let mut r = Record::open(&h, ME).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            r.check_and_append_ibc("cosmos:simd-1", 7, 99).unwrap(),
            IbcRecorded::Conflict { timestamp: 100 }
        );
        drop(r);

        // Two ibc timestamps for one height, or a line of neither format, are refused.
        for (extra, needle) in [
            ("{\"format\":\"ibc\",\"chain\":\"cosmos:simd-1\",\"height\":7,\"timestamp\":1}\n", "second state"),
            ("{\"format\":\"ibc\",\"chain\":\"c\",\"height\":1,\"timestamp\":1,\"state_root\":\"0x1111111111111111111111111111111111111111111111111111111111111111\"}\n", "neither"),
            ("{\"format\":\"x\",\"chain\":\"c\",\"height\":1,\"timestamp\":1}\n", "neither"),
            ("{\"chain\":\"c\",\"height\":1,\"timestamp\":1}\n", "neither"),
        ] {
            std::fs::write(h.join(FILE_NAME), format!("{text}{extra}")).unwrap();
            let err = Record::open(&h, ME).err().expect("refused").to_string();
            assert!(err.contains(needle), "{err}");
        }
        std::fs::remove_dir_all(h).unwrap();
    }
}

//! The repository root, and the JSON line the CLI prints last.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

pub(crate) fn last_json(out: &str) -> Value {
    serde_json::from_str(out.lines().last().expect("output")).expect("JSON output")
}

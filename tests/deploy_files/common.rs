//! Helpers: the repository root, notes on stderr, external tools, reading, parsing and walking
//! files, temporary folders, compose variable defaults.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// Repository root: `$FERRY_REPO_ROOT`, else the parent of this crate.
pub(crate) fn root() -> PathBuf {
    if let Ok(r) = std::env::var("FERRY_REPO_ROOT") {
        return PathBuf::from(r);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

/// Always-visible note (bypasses libtest's output capture).
pub(crate) fn note(msg: impl AsRef<str>) {
    let _ = writeln!(std::io::stderr(), "deploy_files: {}", msg.as_ref());
}

/// A tool that is not on PATH: the test fails (see `ferry_tests::tool_missing`).
pub(crate) fn tool_missing(tool: &str, what: &str) -> ! {
    ferry_tests::tool_missing(&format!(
        "`{tool}` not found on PATH, so {what} cannot be checked"
    ));
}

pub(crate) fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

pub(crate) fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

pub(crate) fn yaml(p: &Path) -> Yaml {
    serde_yaml::from_str(&read(p))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", p.display()))
}

pub(crate) fn json(p: &Path) -> Json {
    serde_json::from_str(&read(p))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()))
}

pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "target" && name != ".git" && name != "node_modules" {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

pub(crate) fn ext(p: &Path) -> &str {
    p.extension().and_then(|e| e.to_str()).unwrap_or("")
}

pub(crate) fn is_helm_template(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.contains("/deploy/helm/") && s.contains("/templates/")
}

pub(crate) fn ystr<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Yaml::as_str)
}

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferry-deploy-files-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// `${VAR:-default}` / `${VAR-default}` / `${VAR}` / `$VAR` as compose would expand
/// them with the variables unset: the repository's defaults are what must exist.
pub(crate) fn compose_default(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .unwrap_or_else(|| panic!("unterminated ${{ in {s:?}"));
            let inner = &body[..end];
            if let Some(j) = inner.find(":-").or_else(|| inner.find('-')) {
                let skip = if inner[j..].starts_with(":-") { 2 } else { 1 };
                out.push_str(&inner[j + skip..]);
            }
            rest = &body[end + 1..];
        } else if let Some(after2) = after.strip_prefix('$') {
            out.push('$');
            rest = after2;
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    out
}

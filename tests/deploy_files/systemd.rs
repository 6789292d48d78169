//! The systemd unit: hardening keys; with systemd-analyze, `systemd-analyze verify`.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::common::{note, read, root, temp_dir, tool_missing, which};

#[test]
fn systemd_unit() {
    let root = root();
    let unit_path = root.join("deploy/systemd/ferry.service");
    let unit = read(&unit_path);
    let mut kv: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("bad unit line {line:?}"));
        kv.entry(format!("{section}.{}", k.trim()))
            .or_default()
            .push(v.trim().to_string());
    }
    let get = |k: &str| kv.get(&format!("Service.{k}")).cloned().unwrap_or_default();
    let want: &[(&str, &str)] = &[
        (
            "ExecStart",
            "/usr/local/bin/ferry start --config /etc/ferry/config.toml",
        ),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
    ];
    let mut errors = Vec::new();
    for (k, v) in want {
        if !get(k).iter().any(|x| x == v) {
            errors.push(format!("[Service] {k}={v} expected, found {:?}", get(k)));
        }
    }
    for k in [
        "RestrictAddressFamilies",
        "StateDirectory",
        "ReadWritePaths",
    ] {
        if get(k).iter().all(String::is_empty) {
            errors.push(format!("[Service] {k}= must be set"));
        }
    }
    if !get("SystemCallFilter")
        .iter()
        .any(|v| v.split_whitespace().any(|s| s == "@system-service"))
    {
        errors.push("[Service] SystemCallFilter=@system-service expected".into());
    }
    if get("DynamicUser").iter().all(|v| v != "yes")
        && get("User").iter().all(|u| u.is_empty() || u == "root")
    {
        errors.push("[Service] needs DynamicUser=yes or a dedicated User=".into());
    }
    if !kv.contains_key("Install.WantedBy") {
        errors.push("[Install] WantedBy= missing".into());
    }
    assert!(
        errors.is_empty(),
        "systemd unit problems:\n  {}",
        errors.join("\n  ")
    );
    note("systemd: required hardening keys present");

    let Some(analyze) = which("systemd-analyze") else {
        tool_missing(
            "systemd-analyze",
            "`systemd-analyze verify deploy/systemd/ferry.service`",
        );
    };
    // verify insists that ExecStart's binary exists: point it at a stub in a temp dir.
    let dir = temp_dir("systemd");
    let stub = dir.join("ferry");
    fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = dir.join("ferry.service");
    fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/local/bin/ferry ",
            &format!("ExecStart={} ", stub.display()),
        ),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
    // Warnings about the unit (unknown keys, bad values) exit 0 but name the file: they fail too.
    let about_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ferry.service") || l.contains("ferry:"))
        .collect();
    if !out.status.success() && text.contains("System has not been booted with systemd") {
        tool_missing("a working systemd-analyze", "`systemd-analyze verify`");
    }
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify failed for deploy/systemd/ferry.service:\n{text}"
    );
    let other = text.trim();
    note(format!(
        "systemd: `systemd-analyze verify` passed (ExecStart binary replaced by a stub){}",
        if other.is_empty() {
            String::new()
        } else {
            format!("; unrelated output: {other}")
        }
    ));
}

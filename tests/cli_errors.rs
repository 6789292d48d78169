//! Bad input gets a clear error: a bad config names the key and the reason, a missing key and a key
//! file others can read are refused with what to do. Runs the `ferry` binary; no chain needed.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use ferry_tests::{ferry_bin, TempDir};

const PHRASE: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

const GOOD: &str = r#"
[telemetry]
listen = "127.0.0.1:0"

[[chains]]
id = "a-1"
rpc = ["http://127.0.0.1:1"]
key = "relayer"
gas_price = "0.01stake"

[[chains]]
id = "b-1"
rpc = ["http://127.0.0.1:2"]
key = "relayer"
gas_price = "0.01stake"

[[paths]]
name = "ab"
a = { chain = "a-1" }
b = { chain = "b-1" }
"#;

fn ferry(home: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(ferry_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn bad_config_names_key_and_reason() {
    let home = TempDir::new("cli-config");
    std::fs::write(
        home.0.join("config.toml"),
        GOOD.replace(
            "0.01stake\"\n\n[[chains]]\nid = \"b-1\"",
            "cheap\"\n\n[[chains]]\nid = \"b-1\"",
        )
        .replace("b = { chain = \"b-1\" }", "b = { chain = \"c-1\" }"),
    )
    .unwrap();
    let (ok, out) = ferry(&home.0, &["config", "validate"], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("`chains[0].gas_price`: `cheap` is not a gas price"),
        "{out}"
    );
    assert!(
        out.contains("`paths[0].b.chain`: chain `c-1` is not configured"),
        "{out}"
    );
    // The daemon refuses the same file before touching anything.
    let (ok, out) = ferry(&home.0, &["start"], &[]);
    assert!(!ok);
    assert!(out.contains("chains[0].gas_price"), "{out}");
    // --json carries the same findings.
    let (_, out) = ferry(&home.0, &["--json", "config", "validate"], &[]);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["key"] == "chains[0].gas_price" && i["severity"] == "error"));
}

#[test]
fn environment_overrides_are_validated_too() {
    let home = TempDir::new("cli-env");
    std::fs::write(home.0.join("config.toml"), GOOD).unwrap();
    assert!(ferry(&home.0, &["config", "validate"], &[]).0);
    let (ok, out) = ferry(
        &home.0,
        &["config", "validate"],
        &[("FERRY_TELEMETRY__LISTEN", "nowhere")],
    );
    assert!(!ok);
    assert!(
        out.contains("`telemetry.listen`: `nowhere` is not an address"),
        "{out}"
    );
    let (ok, out) = ferry(
        &home.0,
        &["config", "validate"],
        &[("FERRY_TELEMETRY__LISTEN", "0.0.0.0:9464")],
    );
    assert!(ok, "a public listener is a warning, not an error: {out}");
    assert!(out.contains("warning: `telemetry.listen`"), "{out}");
}

#[test]
fn missing_and_readable_keys_are_refused() {
    let home = TempDir::new("cli-keys");
    std::fs::write(home.0.join("config.toml"), GOOD).unwrap();
    let (ok, out) = ferry(&home.0, &["start"], &[]);
    assert!(!ok);
    assert!(
        out.contains("no key named `relayer`") && out.contains("ferry keys add"),
        "{out}"
    );

    let phrase = home.0.join("phrase.txt");
    std::fs::write(&phrase, PHRASE).unwrap();
    let (ok, out) = ferry(
        &home.0,
        &[
            "--json",
            "keys",
            "import",
            "relayer",
            "--mnemonic-file",
            phrase.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"),
        "{out}"
    );
    assert!(
        !out.contains("abandon"),
        "the mnemonic must never be printed: {out}"
    );
    let key = home.0.join("keys/relayer.json");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = ferry(&home.0, &["start"], &[]);
    assert!(!ok);
    assert!(
        out.contains("group or others can read it") && out.contains("chmod 600"),
        "{out}"
    );
    let (_, out) = ferry(&home.0, &["--json", "keys", "list"], &[]);
    assert!(out.contains("chmod 600"), "{out}");

    // A bad mnemonic is rejected and nothing is written.
    std::fs::write(&phrase, "not a mnemonic").unwrap();
    let (ok, out) = ferry(
        &home.0,
        &[
            "keys",
            "import",
            "other",
            "--mnemonic-file",
            phrase.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok && out.contains("not a valid BIP-39 phrase"), "{out}");
    assert!(!home.0.join("keys/other.json").exists());
}

#[test]
fn transfers_are_checked_before_anything_is_signed() {
    let home = TempDir::new("cli-transfer");
    std::fs::write(home.0.join("config.toml"), GOOD).unwrap();
    let base = [
        "transfer",
        "--path",
        "ab",
        "--from-chain",
        "a-1",
        "--amount",
        "5stake",
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        ferry(&home.0, &args, &[])
    };
    let good_to = "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4";
    // No key named and none configured: the relayer's key is not taken silently.
    let (ok, out) = run(&["--to", good_to]);
    assert!(!ok);
    assert!(
        out.contains("--key") && out.contains("default_transfer_key"),
        "{out}"
    );
    // Each refused with the flag and the reason, before any chain is asked (none runs here).
    let memo = "m".repeat(40_000);
    for (extra, needle) in [
        (
            vec!["--to", "osmo19rl4cm2hmr8afy4kldpxz3fka4jguq0a5m7df8"],
            "its prefix is `osmo`, b-1 uses `cosmos`",
        ),
        (
            vec!["--to", "hello"],
            "--to `hello` is not an address on b-1",
        ),
        (
            vec!["--to", good_to, "--timeout-seconds", "0"],
            "--timeout-seconds 0",
        ),
        (
            vec!["--to", good_to, "--memo", memo.as_str()],
            "--memo is 40000 bytes",
        ),
    ] {
        let mut args = vec!["--key", "relayer"];
        args.extend(extra);
        let (ok, out) = run(&args);
        assert!(!ok, "{args:?} passed");
        assert!(out.contains(needle), "{args:?}: {out}");
        assert!(!out.contains("RPC"), "asked a chain: {out}");
    }
}

#[test]
fn keys_list_shows_each_chains_own_address_form() {
    let home = TempDir::new("cli-keys-forms");
    let cfg = format!(
        "{GOOD}\n[[chains]]\nid = \"e-1\"\ntype = \"evm\"\nrpc = [\"http://127.0.0.1:3\"]\nkey = \"relayer\"\ngas_price = \"1gwei\"\n\n[chains.evm]\nchain_id = 31337\nrouter = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n"
    );
    std::fs::write(home.0.join("config.toml"), cfg).unwrap();
    let phrase = home.0.join("phrase.txt");
    std::fs::write(&phrase, PHRASE).unwrap();
    let (ok, out) = ferry(
        &home.0,
        &[
            "keys",
            "import",
            "relayer",
            "--mnemonic-file",
            phrase.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{out}");
    let (ok, out) = ferry(&home.0, &["--json", "keys", "list"], &[]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let addrs = &v[0]["addresses"];
    assert_eq!(
        addrs["a-1"], "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4",
        "{v}"
    );
    // The same mnemonic at the Ethereum HD path, EIP-55 checksummed.
    assert_eq!(
        addrs["e-1"], "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
        "{v}"
    );
}

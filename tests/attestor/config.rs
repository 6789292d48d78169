//! (d) bad config and bad homes, and `ferry attestor sign-rotation`.

use super::*;

#[test]
fn d_bad_config_and_homes_name_the_key() {
    let home = home_with_key("attestor-d");
    let h = H256::repeat_byte(1);
    write_config(&home.0, &["http://127.0.0.1:8545"], "\"finalized\"", (1, h));
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(!ok, "{out}");
    assert!(out.contains("`chains[0].rpc`"), "{out}");
    assert!(out.contains("at least 2"), "{out}");
    let (ok, out) = ferry(&home.0, &["--json", "attestor", "validate"]);
    assert!(!ok);
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["issues"][0]["key"], "chains[0].rpc");
    let (ok, out) = ferry(&home.0, &["attestor", "start"]);
    assert!(!ok);
    assert!(out.contains("chains[0].rpc"), "{out}");

    // Fixed, it validates (the endpoints are not contacted).
    write_config(
        &home.0,
        &["http://127.0.0.1:8545", "http://127.0.0.1:8546"],
        "{ depth = 0 }",
        (1, h),
    );
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(!ok);
    assert!(out.contains("`chains[0].finality.depth`"), "{out}");
    write_config(
        &home.0,
        &["http://127.0.0.1:8545", "http://127.0.0.1:8546"],
        "{ depth = 12 }",
        (1, h),
    );
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(ok, "{out}");
    assert!(out.contains("valid"), "{out}");

    // --config names another file.
    let other: PathBuf = home.0.join("other.toml");
    std::fs::write(&other, "key = \"attestor-1\"\n").unwrap();
    let (ok, out) = ferry(
        &home.0,
        &["--config", other.to_str().unwrap(), "attestor", "validate"],
    );
    assert!(!ok);
    assert!(out.contains("`chains`"), "{out}");

    // A rotation, signed offline by this key.
    let me = address(&home.0);
    let (new_a, new_b) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2));
    let lc = Address::repeat_byte(0x1c);
    let set = format!("{new_a:?},{new_b:?}");
    let lc_s = format!("{lc:?}");
    let args = [
        "--json",
        "attestor",
        "sign-rotation",
        "--host-chain-id",
        "31337",
        "--light-client",
        &lc_s,
        "--attestor",
        &set,
        "--quorum",
        "2",
        "--epoch",
        "3",
    ];
    let (ok, out) = ferry(&home.0, &args);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let sig = hex::decode(v["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let d = Domain {
        host_chain_id: 31337,
        light_client: lc,
    };
    assert_eq!(
        recover(rotation_digest(&d, &[new_a, new_b], 2, 3), &sig),
        Some(me)
    );
    let mut bad = args;
    bad[10] = "3";
    let (ok, out) = ferry(&home.0, &bad);
    assert!(!ok && out.contains("--quorum 3"), "{out}");

    // A second key in the home.
    let (ok, out) = ferry(&home.0, &["keys", "add", "relayer"]);
    assert!(ok, "{out}");
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(!ok);
    assert!(
        out.contains("`key`") && out.contains("exactly one key"),
        "{out}"
    );
    let (ok, out) = ferry(&home.0, &["attestor", "address"]);
    assert!(!ok);
    assert!(out.contains("exactly one key"), "{out}");
    let (ok, _) = ferry(&home.0, &["keys", "delete", "relayer"]);
    assert!(ok);

    // A key file others can read.
    use std::os::unix::fs::PermissionsExt;
    let key_file = home.0.join("keys").join(format!("{KEY}.json"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(!ok);
    assert!(out.contains("`key`") && out.contains("chmod 600"), "{out}");
}

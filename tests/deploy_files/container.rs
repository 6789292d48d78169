//! The Containerfile: multi-stage build, non-root runtime, the metrics port.

use crate::common::{note, read, root};

#[test]
fn containerfile() {
    let text = read(&root().join("deploy/container/Containerfile"));
    let froms: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage build: builder and runtime");
    assert!(
        froms[0].contains("rust:1.95"),
        "builder must be rust:1.95: {}",
        froms[0]
    );
    assert!(
        froms[1].contains("debian:bookworm-slim"),
        "runtime must be debian:bookworm-slim: {}",
        froms[1]
    );
    let user = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("USER "))
        .next_back()
        .expect("USER in runtime stage");
    assert!(
        !["root", "0", "0:0"].contains(&user.trim()),
        "runtime user must not be root"
    );
    assert!(
        text.lines().any(|l| l.trim() == "EXPOSE 9464"),
        "EXPOSE 9464"
    );
    assert!(
        text.contains("FERRY_TELEMETRY__LISTEN=0.0.0.0:9464"),
        "container should listen on 0.0.0.0"
    );
    note("container: multi-stage rust:1.95 -> debian:bookworm-slim, non-root, EXPOSE 9464");
}

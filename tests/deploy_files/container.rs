//! The Containerfile: multi-stage build, non-root runtime, the metrics port.

use crate::common::{note, read, root};

#[test]
fn containerfile() {
    let text = read(&root().join("deploy/container/Containerfile"));
    let froms: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .collect();
    assert_eq!(
        froms,
        vec![
            "FROM ${BUILDER_IMAGE} AS builder",
            "FROM scratch AS prebuilt",
            "FROM ${BINARY_FROM} AS binary",
            "FROM ${RUNTIME_IMAGE}"
        ],
        "stages: builder (or a prebuilt binary), then the runtime"
    );
    for (arg, default) in [
        ("BUILDER_IMAGE", "docker.io/library/rust:1.95-bookworm"),
        ("RUNTIME_IMAGE", "docker.io/library/debian:bookworm-slim"),
        ("BINARY_FROM", "builder"),
    ] {
        assert!(
            text.lines().any(|l| l == format!("ARG {arg}={default}")),
            "ARG {arg}={default}"
        );
    }
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
    note("container: rust:1.95-bookworm builder -> debian:bookworm-slim, non-root, EXPOSE 9464 (built and run for real by tests/container.rs)");
}

//! The container image built and run for real with Debian's `dockerd` (started by the test on its
//! own socket, no bridge and no iptables changes): no image can be pulled here, so the runtime base
//! is made with `debootstrap` and `docker import` (cached), and `deploy/container/Containerfile`
//! is built with `BINARY_FROM=prebuilt` from the `ferry` binary the tests use. The image runs as
//! uid 10001, `ferry --version` works, and `/healthz` and `/readyz` answer from a running
//! container that relays the devnet's paths.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::{eventually, ferry_bin, signal_pid, tool_missing, TempDir, TestNet, SIGTERM};

/// Debian's docker client (20.10, as the daemon): it builds with the daemon's own BuildKit and
/// needs no buildx plugin.
const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const BASE: &str = "ferry-test-base:bookworm";
const IMAGE: &str = "ferry-test:local";
const PROMETHEUS_IMAGE: &str = "ferry-test-prometheus:local";

fn cache() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/ferry/docker")
}

/// A dockerd of the test's own, stopped (by pid) when dropped. Images live in Ferry's cache so
/// the base image is made once per machine.
struct Dockerd {
    child: Child,
    sock: PathBuf,
    config: PathBuf,
    dir: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let sock = dir.join("docker.sock");
        let config = dir.join("client-config");
        std::fs::create_dir_all(&config).unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(cache().join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            sock,
            config,
            dir: dir.to_path_buf(),
        };
        let t = Instant::now();
        while !d.docker(&["version"]).status.success() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "dockerd did not come up:\n{}",
                std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        d
    }

    fn command(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env("DOCKER_BUILDKIT", "1");
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        signal_pid(self.child.id(), SIGTERM);
        let t = Instant::now();
        let stopped = loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break true;
            }
            if t.elapsed() > Duration::from_secs(20) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!(
                "dockerd killed; its log: {}",
                self.dir.join("dockerd.log").display()
            );
        }
        // dockerd leaves its network namespace mounted under its exec root: unmount what is ours.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let ours = format!("{}/", self.dir.display());
        for target in mounts.lines().filter_map(|l| l.split(' ').nth(1)) {
            if target.starts_with(&ours) {
                let _ = Command::new("umount").arg("-l").arg(target).status();
            }
        }
    }
}

/// The tools this test needs; under `make test` a missing one fails it.
fn tools_present() -> bool {
    let missing: Vec<&str> = [DOCKER, DOCKERD, "/usr/sbin/debootstrap"]
        .into_iter()
        .filter(|t| !Path::new(t).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let what = format!(
        "{} not installed (make deps installs docker.io and debootstrap)",
        missing.join(", ")
    );
    tool_missing(&what)
}

/// The bookworm base image: imported from the cached minbase tarball, made with debootstrap the
/// first time.
fn ensure_base(d: &Dockerd, tmp: &Path) {
    if d.docker(&["image", "inspect", BASE]).status.success() {
        return;
    }
    let tar = cache().join("bookworm-minbase.tar");
    if !tar.exists() {
        let rootfs = tmp.join("rootfs");
        eprintln!("making the bookworm base image with debootstrap (first time only)");
        let out = Command::new("/usr/sbin/debootstrap")
            .args(["--variant=minbase", "--include=ca-certificates", "bookworm"])
            .arg(&rootfs)
            .arg("http://deb.debian.org/debian")
            .output()
            .expect("run debootstrap");
        assert!(
            out.status.success(),
            "debootstrap failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir_all(cache()).unwrap();
        let partial = tar.with_extension("partial");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&partial)
            .arg(".")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tar: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&partial, &tar).unwrap();
        let _ = std::fs::remove_dir_all(&rootfs);
    }
    d.docker_ok(&["import", tar.to_str().unwrap(), BASE]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_builds_runs_as_non_root_and_answers_healthz() {
    if !tools_present() {
        return;
    }
    let tmp = TempDir::new("container");
    let d = Dockerd::start(&tmp.0);
    // This dockerd and its data root are the tests' own: what a crashed earlier run left goes.
    let stale = d.docker_ok(&["ps", "-aq"]);
    for id in stale.lines() {
        d.docker_ok(&["rm", "-f", id]);
    }
    d.docker_ok(&["network", "prune", "-f"]);
    d.docker_ok(&["volume", "prune", "-f"]);
    ensure_base(&d, &tmp.0);

    // Build the Containerfile as shipped, with the prebuilt binary as its context.
    let ctx = tmp.0.join("context");
    std::fs::create_dir_all(&ctx).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(
        root.join("deploy/container/Containerfile"),
        ctx.join("Containerfile"),
    )
    .unwrap();
    // Stripped: the debug binary's symbols are most of its 400 MB.
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(ctx.join("ferry"))
        .arg(ferry_bin())
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(ferry_bin(), ctx.join("ferry")).unwrap();
    }
    let out = d
        .command()
        .args(["build", "--network", "host", "--progress", "plain"])
        .args(["--build-arg", &format!("RUNTIME_IMAGE={BASE}")])
        .args(["--build-arg", "BINARY_FROM=prebuilt"])
        .args(["-t", IMAGE, "-f"])
        .arg(ctx.join("Containerfile"))
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Non-root, and the binary runs.
    let user = d.docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", IMAGE]);
    assert_eq!(user, "10001:10001");
    let version = d.docker_ok(&["run", "--rm", "--network", "none", IMAGE, "--version"]);
    assert!(version.starts_with("ferry "), "{version}");
    let id = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "id",
        IMAGE,
    ]);
    assert!(id.starts_with("uid=10001"), "{id}");

    // A running container relays the devnet (host network: the chains listen on loopback), with
    // the config and keys mounted read-only as the docs say, and answers its probes.
    let net = TestNet::start("container-devnet").await;
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let port = ferry_devnet::free_port();
    let home = net.home();
    // The container user must be able to read the keys it is given (as docs/OPERATIONS.md says).
    let keys = tmp.0.join("keys");
    copy_keys_for_uid(&home.join("keys"), &keys, 10001);
    let name = format!("ferry-test-{}", std::process::id());
    let cfg = home.join("config.toml");
    let run = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "-e",
        &format!("FERRY_TELEMETRY__LISTEN=127.0.0.1:{port}"),
        // The root is read-only: Ferry's home (its state store) is a volume, as the docs say.
        "-v",
        &format!("{name}-home:/var/lib/ferry"),
        "-v",
        &format!("{}:/etc/ferry/config.toml:ro", cfg.display()),
        "-v",
        &format!("{}:/var/lib/ferry/.ferry/keys:ro", keys.display()),
        IMAGE,
    ]);
    assert!(!run.is_empty());
    let base = format!("http://127.0.0.1:{port}");
    let healthz = eventually(
        "/healthz from the container",
        Duration::from_secs(60),
        || async {
            let r = reqwest::get(format!("{base}/healthz")).await.ok()?;
            r.status().is_success().then_some(r.text().await.ok()?)
        },
    )
    .await;
    let logs = || String::from_utf8_lossy(&d.docker(&["logs", &name]).stderr).into_owned();
    assert_eq!(healthz, "ok\n", "{}", logs());
    eventually(
        "/readyz from the container",
        Duration::from_secs(90),
        || async {
            let r = reqwest::get(format!("{base}/readyz")).await.ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ferry_up 1"), "{metrics}");
    d.docker_ok(&["stop", "-t", "20", &name]);
    let code = d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    assert_eq!(code, "0", "a clean stop exits 0:\n{}", logs());
    d.docker_ok(&["rm", &name]);
    d.docker_ok(&["volume", "rm", &format!("{name}-home")]);
    drop(net);

    compose_scrapes_ferry(&d, &tmp.0).await;
    // Keep only the base image in the cache.
    d.docker_ok(&["rmi", IMAGE, PROMETHEUS_IMAGE]);
    d.docker_ok(&["builder", "prune", "-af"]);
}

/// A copy of `from` (the key store) owned by `uid`, folder 0700 and files 0600.
fn copy_keys_for_uid(from: &Path, to: &Path, uid: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        std::fs::copy(e.path(), &dst).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&dst, Some(uid), Some(uid)).unwrap();
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(to, Some(uid), Some(uid)).unwrap();
}

/// docker compose v2, built from Go modules by `make deps` into Ferry's tool cache.
fn compose_bin() -> PathBuf {
    cache().join("../bin/docker-compose")
}

/// `deploy/compose/compose.yaml` as shipped, with local images (Ferry's from above; Prometheus
/// from Debian's binary on the base image) and free ports: Prometheus scrapes Ferry and Ferry's
/// alert rules load. Grafana's image cannot be had here and is not started.
async fn compose_scrapes_ferry(d: &Dockerd, tmp: &Path) {
    let compose = compose_bin();
    if !compose.exists() {
        tool_missing(&format!(
            "compose part: {} missing (make deps builds docker compose)",
            compose.display()
        ));
    }
    // A Prometheus image from Debian's prometheus binary, as the official image lays it out.
    let ctx = tmp.join("prometheus-image");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/usr/bin/prometheus", ctx.join("prometheus")).expect("Debian's prometheus");
    std::fs::write(
        ctx.join("Containerfile"),
        format!(
            "FROM {BASE}\nCOPY prometheus /bin/prometheus\n\
             RUN install -d -o nobody -g nogroup /prometheus /etc/prometheus\n\
             USER nobody\nWORKDIR /prometheus\nENTRYPOINT [\"/bin/prometheus\"]\n"
        ),
    )
    .unwrap();
    let ctx_s = ctx.to_str().unwrap();
    d.docker_ok(&[
        "build",
        "--network",
        "none",
        "-t",
        PROMETHEUS_IMAGE,
        "-f",
        &format!("{ctx_s}/Containerfile"),
        ctx_s,
    ]);

    // A key store with the example config's `relayer` key, readable by the container user.
    let khome = tmp.join("key-home");
    let out = Command::new(ferry_bin())
        .arg("--home")
        .arg(&khome)
        .args(["keys", "add", "relayer"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = tmp.join("compose-keys");
    copy_keys_for_uid(&khome.join("keys"), &keys, 10001);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = root.join("deploy/compose/compose.yaml");
    let project = format!("ferry-test-{}", std::process::id());
    let (ferry_port, prom_port) = (ferry_devnet::free_port(), ferry_devnet::free_port());
    // This host drops forwarded bridge traffic (iptables FORWARD policy DROP with
    // bridge-nf-call-iptables = 1) and the test's dockerd may not touch iptables, so two
    // containers on the compose network cannot talk. Prometheus joins Ferry's network namespace
    // instead, where `ferry` (its hostname) is a local address: the shipped prometheus.yml,
    // rules and services are used unchanged.
    let overlay = tmp.join("compose.test.yaml");
    std::fs::write(
        &overlay,
        "services:\n  ferry:\n    hostname: ferry\n    ports:\n      - \"127.0.0.1:${PROMETHEUS_PORT}:9090\"\n  \
         prometheus:\n    network_mode: \"service:ferry\"\n    ports: !reset []\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(&compose)
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env("DOCKER_CONFIG", &d.config)
            .env("FERRY_IMAGE", IMAGE)
            .env("PROMETHEUS_IMAGE", PROMETHEUS_IMAGE)
            .env("FERRY_PORT", ferry_port.to_string())
            .env("PROMETHEUS_PORT", prom_port.to_string())
            .env("FERRY_KEYS_DIR", &keys)
            .arg("-f")
            .arg(&file)
            .arg("-f")
            .arg(&overlay)
            .args(["-p", &project])
            .args(args)
            .output()
            .expect("run docker compose")
    };
    let up = run(&["up", "-d", "--no-build", "ferry", "prometheus"]);
    // Whatever happens below, the stack goes down (its network is a bridge on this host).
    struct Down<F: Fn()>(F);
    impl<F: Fn()> Drop for Down<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _down = Down(|| {
        let out = run(&["down", "-v", "--timeout", "20"]);
        if !out.status.success() {
            eprintln!("compose down: {}", String::from_utf8_lossy(&out.stderr));
        }
    });
    let logs = || String::from_utf8_lossy(&run(&["logs"]).stdout).into_owned();
    assert!(
        up.status.success(),
        "compose up failed:\n{}\n{}",
        String::from_utf8_lossy(&up.stderr),
        logs()
    );
    let http = reqwest::Client::new();
    let query = |q: &'static str| {
        let http = http.clone();
        async move {
            let url = format!("http://127.0.0.1:{prom_port}/api/v1/query");
            let r = http.get(url).query(&[("query", q)]).send().await.ok()?;
            let v: serde_json::Value = r.json().await.ok()?;
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_string)
        }
    };
    let t = Instant::now();
    let scraped = loop {
        if query("up{job=\"ferry\"}").await.as_deref() == Some("1")
            && query("ferry_up").await.as_deref() == Some("1")
        {
            break true;
        }
        if t.elapsed() > Duration::from_secs(90) {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    if !scraped {
        let targets =
            match reqwest::get(format!("http://127.0.0.1:{prom_port}/api/v1/targets")).await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => format!("Prometheus not reachable from the host: {e}"),
            };
        panic!(
            "Prometheus never scraped Ferry (up{{job=\"ferry\"}} == 1)\ntargets: {targets}\n{}",
            logs()
        );
    }
    let healthz = reqwest::get(format!("http://127.0.0.1:{ferry_port}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(healthz, "ok\n", "{}", logs());
    let rules = reqwest::get(format!("http://127.0.0.1:{prom_port}/api/v1/rules"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rules.contains("FerryDown"),
        "alert rules not loaded: {rules}"
    );
}

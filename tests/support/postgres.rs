//! A throwaway PostgreSQL server for one test: `initdb` into a fresh [`TempDir`], the server on a
//! free 127.0.0.1 port (user `ferry`, trust authentication, no password, database `ferry`),
//! stopped by its pid when dropped.
//!
//! The binaries come from the machine: `initdb`, `postgres` and `psql` on `PATH`, else from the
//! highest `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package; `make deps` /
//! `deploy/ci/install-deps.sh` installs it). A missing or failing binary panics with the command,
//! its exit status and its output: the test fails, it is never skipped.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, `initdb` and the server run as
//! the `postgres` system user (else `nobody`) through `setpriv`, which execs in place, so the pid
//! we signal is the server's own; the temp folder is handed to that user first.

use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

const SIGINT: i32 = 2;
const SIGQUIT: i32 = 3;
const WAIT: Duration = Duration::from_secs(30);

extern "C" {
    fn geteuid() -> u32;
}

/// A PostgreSQL server of its own, stopped (by its pid) when dropped.
pub struct Postgres {
    tmp: TempDir,
    data: PathBuf,
    sockets: PathBuf,
    log: PathBuf,
    port: u16,
    postgres: PathBuf,
    /// `Some((user, uid, gid))` when we are root and the server runs as that user.
    run_as: Option<(String, u32, u32)>,
    child: Option<Child>,
    pid: u32,
}

impl Postgres {
    /// `initdb` into a fresh temp folder (user `ferry`, trust authentication for local and
    /// 127.0.0.1), start the server on a free 127.0.0.1 port, wait until it accepts connections
    /// (at most 30 s) and create the database `ferry`.
    pub fn start(tag: &str) -> Postgres {
        let initdb = find_bin("initdb");
        let postgres = find_bin("postgres");
        let tmp = TempDir::new(&format!("pg-{tag}"));
        let run_as = if unsafe { geteuid() } == 0 {
            let user = server_user();
            std::os::unix::fs::chown(&tmp.0, Some(user.1), Some(user.2)).unwrap_or_else(|e| {
                panic!(
                    "chown {} to {} (postgres refuses root): {e}",
                    tmp.0.display(),
                    user.0
                )
            });
            Some(user)
        } else {
            None
        };
        let data = tmp.0.join("data");
        let sockets = tmp.0.join("sockets");
        let log = tmp.0.join("postgres.log");
        let mut cmd = as_user(&run_as, &initdb);
        cmd.current_dir(&tmp.0)
            .arg("-D")
            .arg(&data)
            .args(["-U", "ferry", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        check(&cmd, &out);
        std::fs::create_dir_all(&sockets).unwrap();
        if let Some((_, uid, gid)) = &run_as {
            std::os::unix::fs::chown(&sockets, Some(*uid), Some(*gid)).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut pg = Postgres {
            tmp,
            data,
            sockets,
            log,
            port,
            postgres,
            run_as,
            child: None,
            pid: 0,
        };
        pg.spawn();
        pg.psql("postgres", "CREATE DATABASE ferry");
        eprintln!(
            "postgres pid {} on 127.0.0.1:{port}, data {}, log {}",
            pg.pid,
            pg.tmp.0.display(),
            pg.log.display()
        );
        pg
    }

    /// `postgres://ferry@127.0.0.1:PORT/ferry`.
    pub fn url(&self) -> String {
        format!("postgres://ferry@127.0.0.1:{}/ferry", self.port)
    }

    /// The server's (postmaster's) pid, the last one started.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log (every start appends to it).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Fast shutdown: SIGINT to the server's pid, then wait (at most 30 s) until it exits.
    /// Nothing to do when it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        unsafe { crate::libc_kill(child.id() as i32, SIGINT) };
        if wait_child(&mut child, WAIT).is_some() {
            return;
        }
        // Immediate shutdown (the postmaster takes its backends down), then the pid itself.
        unsafe { crate::libc_kill(child.id() as i32, SIGQUIT) };
        if wait_child(&mut child, Duration::from_secs(5)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            panic!(
                "postgres pid {} did not exit within {WAIT:?} of SIGINT (killed)\n{}",
                child.id(),
                self.log_tail()
            );
        }
    }

    /// Start again on the same data folder and port; waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `psql -q -v ON_ERROR_STOP=1 -At -c SQL` against database `db`, asserting success; returns
    /// stdout.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let psql = find_bin("psql");
        let mut cmd = Command::new(&psql);
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "ferry",
        ])
        .args([
            "-d",
            db,
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10");
        let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        if !out.status.success() {
            panic!(
                "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last 4 KiB of the server's log, for panic messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
            let mut buf = Vec::new();
            let _ = f.read_to_end(&mut buf);
            text = String::from_utf8_lossy(&buf).into_owned();
        }
        format!("postgres log {}:\n{text}", self.log.display())
    }

    /// Start the server on `self.data` / `self.port` and wait until it is ready.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "postgres already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = as_user(&self.run_as, &self.postgres);
        cmd.current_dir(&self.tmp.0)
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.sockets.display()
            ))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "lc_messages=C"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        self.pid = child.id();
        self.child = Some(child);
        self.wait_ready(&cmd, log_start);
    }

    /// Until the port accepts TCP connections and the log (since `log_start`) says the server is
    /// ready; panics after 30 s or when the server exits.
    fn wait_ready(&mut self, cmd: &Command, log_start: u64) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "{cmd:?} exited ({status}) before accepting connections\n{}",
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
                && self
                    .log_since(log_start)
                    .contains("ready to accept connections")
            {
                return;
            }
            if t.elapsed() > WAIT {
                let tail = self.log_tail();
                self.stop_quietly();
                panic!("{cmd:?}: no connection on {addr} within {WAIT:?}\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_since(&self, start: u64) -> String {
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.seek(SeekFrom::Start(start));
            let _ = f.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Stop by pid without panicking (Drop, and before a panic of our own).
    fn stop_quietly(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { crate::libc_kill(child.id() as i32, SIGINT) };
            if wait_child(&mut child, WAIT).is_none() {
                unsafe { crate::libc_kill(child.id() as i32, SIGQUIT) };
                if wait_child(&mut child, Duration::from_secs(5)).is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The server we started, by its pid; the TempDir field, dropped after this, removes the
        // data folder.
        self.stop_quietly();
    }
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if t.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check(cmd: &Command, out: &Output) {
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `name` on `PATH`, else in the highest `/usr/lib/postgresql/<version>/bin`; panics if neither.
fn find_bin(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return p;
            }
        }
    }
    let mut versions: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|n| n.parse::<u64>().ok())
                .collect::<Option<Vec<u64>>>()?;
            Some((v, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| is_executable(p))
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, p)) => p,
        None => panic!(
            "PostgreSQL's `{name}` not found on PATH nor in /usr/lib/postgresql/*/bin: install the \
             `postgresql` package (deploy/ci/install-deps.sh does)"
        ),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// As root: the `postgres` system user, else `nobody`, with its uid and gid.
fn server_user() -> (String, u32, u32) {
    for user in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, user]).output().ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return (user.to_string(), uid, gid);
        }
    }
    panic!("running as root and neither user `postgres` nor `nobody` exists: PostgreSQL refuses to run as root");
}

/// `bin`, through `setpriv` as `run_as` when set (setpriv execs `bin`: same pid).
fn as_user(run_as: &Option<(String, u32, u32)>, bin: &Path) -> Command {
    match run_as {
        None => Command::new(bin),
        Some((_, uid, gid)) => {
            let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| is_executable(p))
                .unwrap_or_else(|| {
                    panic!("running as root: PostgreSQL refuses root, and setpriv (util-linux) to run it as another user is missing")
                });
            let mut cmd = Command::new(setpriv);
            cmd.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(bin);
            cmd
        }
    }
}

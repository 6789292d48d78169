//! A minimal HTTP/1.1 responder for `/metrics`, `/healthz`, `/readyz` and `/v1/quarantine`: four
//! read-only GET routes need no web framework.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Set to ready once every chain answered and every path worker runs; not ready again while any
/// component (a path worker) is marked down, with its reason.
#[derive(Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    down: Arc<Mutex<BTreeMap<String, String>>>,
    /// Components Ferry waits for without being unready (a path with no open channel yet): the
    /// other paths relay, and `/readyz` names these.
    waiting: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.down.lock().expect("not poisoned").is_empty()
    }
    /// Mark `what` down (not ready) for `reason` until [`Readiness::up`].
    pub fn down(&self, what: &str, reason: &str) {
        self.down
            .lock()
            .expect("not poisoned")
            .insert(what.to_string(), reason.to_string());
    }
    /// Note that `what` is waited for (`reason`), without making Ferry unready.
    pub fn waiting(&self, what: &str, reason: &str) {
        self.waiting
            .lock()
            .expect("not poisoned")
            .insert(what.to_string(), reason.to_string());
    }
    pub fn up(&self, what: &str) {
        self.down.lock().expect("not poisoned").remove(what);
        self.waiting.lock().expect("not poisoned").remove(what);
    }
    /// What is waited for, one line each.
    pub fn waiting_for(&self) -> String {
        let mut s = String::new();
        for (what, why) in self.waiting.lock().expect("not poisoned").iter() {
            s.push_str(&format!("{what}: waiting: {why}\n"));
        }
        s
    }
    /// Why not ready, one line per reason.
    pub fn reasons(&self) -> String {
        let mut s = String::new();
        if !self.ready.load(Ordering::SeqCst) {
            s.push_str("starting or stopping\n");
        }
        for (what, why) in self.down.lock().expect("not poisoned").iter() {
            s.push_str(&format!("{what}: {why}\n"));
        }
        s
    }
}

/// Bind and serve until the task is dropped. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    ready: Readiness,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let ready = ready.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sock.read(&mut buf),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let target = req.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = route(target, &ready);
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok((local, task))
}

fn route(target: &str, ready: &Readiness) -> (&'static str, &'static str, String) {
    match target.split('?').next().unwrap_or("/") {
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4",
            super::metrics().render(),
        ),
        "/healthz" => ("200 OK", "text/plain", "ok\n".into()),
        "/readyz" if ready.get() => (
            "200 OK",
            "text/plain",
            format!("ready\n{}", ready.waiting_for()),
        ),
        "/readyz" => (
            "503 Service Unavailable",
            "text/plain",
            format!("not ready\n{}{}", ready.reasons(), ready.waiting_for()),
        ),
        "/v1/quarantine" => (
            "200 OK",
            "application/json",
            serde_json::to_string(&super::quarantine().list()).expect("serialisable"),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_reports_a_component_down_with_its_reason() {
        let r = Readiness::default();
        assert_eq!(route("/readyz", &r).0, "503 Service Unavailable");
        r.set(true);
        assert_eq!(route("/readyz", &r).0, "200 OK");
        r.down("path p", "worker panicked: boom");
        let (status, _, body) = route("/readyz", &r);
        assert_eq!(status, "503 Service Unavailable");
        assert!(body.contains("path p: worker panicked: boom"), "{body}");
        r.up("path p");
        assert_eq!(route("/readyz", &r).0, "200 OK");
    }

    #[test]
    fn readyz_names_a_waited_for_path_and_stays_ready() {
        let r = Readiness::default();
        r.set(true);
        r.waiting("path p", "no open channel");
        let (status, _, body) = route("/readyz", &r);
        assert_eq!(status, "200 OK");
        assert!(body.contains("path p: waiting: no open channel"), "{body}");
        r.up("path p");
        assert_eq!(route("/readyz", &r).2, "ready\n");
    }

    #[test]
    fn quarantine_is_served_as_json() {
        let (status, ctype, body) = route("/v1/quarantine", &Readiness::default());
        assert_eq!((status, ctype), ("200 OK", "application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["quarantined"].is_array(), "{body}");
    }
}

//! A minimal HTTP/1.1 responder for `/metrics`, `/healthz` and `/readyz`: three read-only GET routes
//! need no web framework.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Set to ready once every chain answered and every path worker runs.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
        "/readyz" if ready.get() => ("200 OK", "text/plain", "ready\n".into()),
        "/readyz" => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".into(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

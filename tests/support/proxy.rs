//! A TCP proxy on loopback in front of a node, to break the relayer's connections on purpose: `cut`
//! closes what is open (a dropped WebSocket) and keeps accepting; `kill` stops listening too (an
//! endpoint that died); `refuse` closes the connection of each HTTP request for one JSON-RPC method,
//! or of each WebSocket upgrade (a node that cannot serve them). Dropping the proxy kills it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// One task per forwarded connection; aborting it closes both of its sockets.
    conns: Mutex<Vec<JoinHandle<()>>>,
    dead: AtomicBool,
    /// What [`Proxy::refuse`] set: a JSON-RPC method, or `websocket` for upgrades.
    refused: Mutex<Vec<String>>,
}

impl Proxy {
    /// Listen on a free 127.0.0.1 port and forward every connection to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if s.dead.load(Ordering::SeqCst) {
                    return;
                }
                let shared = s.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        forward(inbound, outbound, &shared).await;
                    }
                });
                let mut conns = s.conns.lock().unwrap();
                // `kill` sets `dead` before it takes the lock: a connection accepted meanwhile is
                // closed here rather than left open.
                if s.dead.load(Ordering::SeqCst) {
                    conn.abort();
                    return;
                }
                conns.retain(|c| !c.is_finished());
                conns.push(conn);
            }
        });
        Proxy {
            addr,
            accept,
            shared,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Close every connection open now; new ones are still accepted and forwarded.
    pub fn cut(&self) {
        for c in self.shared.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// From now on, close the connection of every HTTP request that calls JSON-RPC `method`
    /// (`"websocket"`: every WebSocket upgrade) instead of forwarding it. Empty: refuse nothing.
    pub fn refuse(&self, methods: &[&str]) {
        *self.shared.refused.lock().unwrap() = methods.iter().map(|m| m.to_string()).collect();
    }

    /// Stop listening and close every connection.
    pub fn kill(&self) {
        self.shared.dead.store(true, Ordering::SeqCst);
        self.accept.abort();
        self.cut();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Forward one connection request by request (HTTP/1.1 with `Content-Length` bodies, as the RPC
/// clients send them), dropping it at a refused request; after a WebSocket upgrade, or a body
/// framed any other way, bytes are copied through as they come.
async fn forward(inbound: TcpStream, outbound: TcpStream, shared: &Shared) {
    let (client_read, mut client_write) = inbound.into_split();
    let (mut node_read, mut node_write) = outbound.into_split();
    let answers = tokio::io::copy(&mut node_read, &mut client_write);
    let requests = async {
        let mut client = BufReader::new(client_read);
        loop {
            let mut head = Vec::new();
            loop {
                let n = client.read_until(b'\n', &mut head).await.ok()?;
                if n == 0 {
                    return None::<()>;
                }
                if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let refused = shared.refused.lock().unwrap().clone();
            let upgrade = header("upgrade:").is_some_and(|v| v == "websocket");
            if upgrade && refused.iter().any(|m| m == "websocket") {
                return None;
            }
            let length = header("content-length:").and_then(|v| v.parse::<usize>().ok());
            if upgrade || (length.is_none() && header("transfer-encoding:").is_some()) {
                node_write.write_all(&head).await.ok()?;
                tokio::io::copy(&mut client, &mut node_write).await.ok()?;
                return None;
            }
            let mut body = vec![0; length.unwrap_or(0)];
            client.read_exact(&mut body).await.ok()?;
            let calls = |m: &String| {
                let quoted = format!("\"{m}\"");
                let b = String::from_utf8_lossy(&body).replace(' ', "");
                b.contains(&format!("\"method\":{quoted}"))
            };
            if refused.iter().any(calls) {
                return None;
            }
            node_write.write_all(&head).await.ok()?;
            node_write.write_all(&body).await.ok()?;
        }
    };
    // Either side ending ends the connection: both sockets are dropped here.
    tokio::select! {
        _ = answers => {}
        _ = requests => {}
    }
}

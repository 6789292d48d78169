//! A TCP proxy on loopback in front of a node, to break the relayer's connections on purpose: `cut`
//! closes what is open (a dropped WebSocket) and keeps accepting; `kill` stops listening too (an
//! endpoint that died). Dropping the proxy kills it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if s.dead.load(Ordering::SeqCst) {
                    return;
                }
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
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

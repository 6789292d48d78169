//! A TCP proxy on loopback in front of a node that counts what the client asks, the same way for
//! every relayer (`make bench-compare`): HTTP/1.1 requests and the JSON-RPC calls in their bodies (a
//! JSON array counts each call), WebSocket messages the client sends after an `Upgrade: websocket`
//! request, and gRPC calls (HTTP/2 HEADERS frames from the client: each opens one call's stream).
//! Only the client's direction is read; the node's answers are copied through untouched.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What all connections through one proxy asked so far.
#[derive(Default, Debug)]
pub struct Counts {
    pub http_requests: AtomicU64,
    pub jsonrpc_calls: AtomicU64,
    pub ws_messages: AtomicU64,
    pub grpc_calls: AtomicU64,
    /// Bytes the counter could not read as any of the above (a chunked body, say): a run whose
    /// figure would be wrong says so instead of undercounting quietly.
    pub unparsed_bytes: AtomicU64,
}

/// A snapshot of [`Counts`].
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Tally {
    pub http_requests: u64,
    pub jsonrpc_calls: u64,
    pub ws_messages: u64,
    pub grpc_calls: u64,
    pub unparsed_bytes: u64,
}

impl Tally {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "http_requests": self.http_requests,
            "jsonrpc_calls": self.jsonrpc_calls,
            "ws_messages": self.ws_messages,
            "grpc_calls": self.grpc_calls,
            "unparsed_bytes": self.unparsed_bytes,
        })
    }

    pub fn minus(self, before: Tally) -> Tally {
        Tally {
            http_requests: self.http_requests - before.http_requests,
            jsonrpc_calls: self.jsonrpc_calls - before.jsonrpc_calls,
            ws_messages: self.ws_messages - before.ws_messages,
            grpc_calls: self.grpc_calls - before.grpc_calls,
            unparsed_bytes: self.unparsed_bytes - before.unparsed_bytes,
        }
    }

    pub fn plus(self, o: Tally) -> Tally {
        Tally {
            http_requests: self.http_requests + o.http_requests,
            jsonrpc_calls: self.jsonrpc_calls + o.jsonrpc_calls,
            ws_messages: self.ws_messages + o.ws_messages,
            grpc_calls: self.grpc_calls + o.grpc_calls,
            unparsed_bytes: self.unparsed_bytes + o.unparsed_bytes,
        }
    }
}

impl Counts {
    pub fn tally(&self) -> Tally {
        Tally {
            http_requests: self.http_requests.load(Ordering::Relaxed),
            jsonrpc_calls: self.jsonrpc_calls.load(Ordering::Relaxed),
            ws_messages: self.ws_messages.load(Ordering::Relaxed),
            grpc_calls: self.grpc_calls.load(Ordering::Relaxed),
            unparsed_bytes: self.unparsed_bytes.load(Ordering::Relaxed),
        }
    }
}

pub struct CountingProxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    pub counts: Arc<Counts>,
}

impl CountingProxy {
    /// Listen on a free 127.0.0.1 port and forward every connection to `target`.
    pub async fn start(target: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        forward(inbound, outbound, c).await;
                    }
                });
            }
        });
        CountingProxy {
            addr,
            accept,
            counts,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(inbound: TcpStream, outbound: TcpStream, counts: Arc<Counts>) {
    // Without this, Nagle's algorithm holds a small write back until the previous one is acked
    // (delayed ACK: up to 40 ms): a client of many small requests would pay for the proxy.
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (mut cr, mut cw) = inbound.into_split();
    let (mut sr, mut sw) = outbound.into_split();
    let up = async move {
        let mut reader = ClientStream::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            reader.feed(&buf[..n], &counts);
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// What the client's byte stream is, decided by its first bytes and by an upgrade.
#[derive(Default)]
enum Mode {
    #[default]
    Unknown,
    Http1,
    Http2 {
        preface_done: bool,
    },
    WebSocket,
    /// Something the counter cannot follow: the rest is counted as unparsed bytes.
    Lost,
}

/// The client's side of one connection, read as it arrives (requests may span reads).
#[derive(Default)]
pub struct ClientStream {
    mode: Mode,
    buf: Vec<u8>,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl ClientStream {
    pub fn feed(&mut self, bytes: &[u8], counts: &Counts) {
        self.buf.extend_from_slice(bytes);
        loop {
            let progressed = match self.mode {
                Mode::Unknown => self.sniff(),
                Mode::Http1 => self.http1(counts),
                Mode::Http2 { .. } => self.http2(counts),
                Mode::WebSocket => self.websocket(counts),
                Mode::Lost => {
                    counts
                        .unparsed_bytes
                        .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
                    self.buf.clear();
                    false
                }
            };
            if !progressed {
                break;
            }
        }
    }

    fn sniff(&mut self) -> bool {
        let n = self.buf.len().min(H2_PREFACE.len());
        if n == 0 {
            return false;
        }
        if self.buf[..n] == H2_PREFACE[..n] {
            if n < H2_PREFACE.len() {
                return false;
            }
            self.mode = Mode::Http2 {
                preface_done: false,
            };
        } else {
            self.mode = Mode::Http1;
        }
        true
    }

    /// One whole request (head and Content-Length body) if buffered.
    fn http1(&mut self, counts: &Counts) -> bool {
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            return false;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            self.mode = Mode::Lost;
            return true;
        }
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let total = end + 4 + len;
        if self.buf.len() < total {
            return false;
        }
        counts.http_requests.fetch_add(1, Ordering::Relaxed);
        let body = &self.buf[end + 4..total];
        let calls = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Array(a)) => a.len() as u64,
            Ok(_) => 1,
            // A GET with the call in its URL (`/status`, `/block?height=…`).
            Err(_) if len == 0 => 1,
            Err(_) => 0,
        };
        counts.jsonrpc_calls.fetch_add(calls, Ordering::Relaxed);
        let upgrade = header("upgrade").is_some_and(|v| v.contains("websocket"));
        self.buf.drain(..total);
        if upgrade {
            self.mode = Mode::WebSocket;
        }
        true
    }

    fn http2(&mut self, counts: &Counts) -> bool {
        let Mode::Http2 { preface_done } = &mut self.mode else {
            unreachable!()
        };
        if !*preface_done {
            self.buf.drain(..H2_PREFACE.len());
            *preface_done = true;
            return true;
        }
        if self.buf.len() < 9 {
            return false;
        }
        let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
        if self.buf.len() < 9 + len {
            return false;
        }
        const HEADERS: u8 = 0x1;
        if self.buf[3] == HEADERS {
            counts.grpc_calls.fetch_add(1, Ordering::Relaxed);
        }
        self.buf.drain(..9 + len);
        true
    }

    /// One whole frame; a message is counted at its final data frame (control frames are not).
    fn websocket(&mut self, counts: &Counts) -> bool {
        let b = &self.buf;
        if b.len() < 2 {
            return false;
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return false,
            n => (n as usize, 2),
        };
        if masked {
            at += 4;
        }
        if b.len() < at + len {
            return false;
        }
        if fin && opcode < 0x8 {
            counts.ws_messages.fetch_add(1, Ordering::Relaxed);
        }
        self.buf.drain(..at + len);
        true
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Tally {
        let counts = Counts::default();
        let mut s = ClientStream::default();
        for c in chunks {
            s.feed(c, &counts);
        }
        counts.tally()
    }

    fn post(body: &str) -> Vec<u8> {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn http_requests_and_batched_calls_split_across_reads() {
        let mut all = post(r#"{"id":1,"method":"status"}"#);
        all.extend(post(r#"[{"id":2},{"id":3}]"#));
        all.extend_from_slice(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
        let chunks: Vec<&[u8]> = all.chunks(11).collect();
        let t = run(&chunks);
        assert_eq!(t.http_requests, 3);
        assert_eq!(t.jsonrpc_calls, 4);
        assert_eq!(t.unparsed_bytes, 0);
    }

    #[test]
    fn websocket_messages_after_upgrade() {
        let mut s = b"GET /websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            .to_vec();
        // A masked text frame of 3 bytes, a ping (not counted), a 200-byte binary frame.
        s.extend_from_slice(&[0x81, 0x83, 1, 2, 3, 4, b'a', b'b', b'c']);
        s.extend_from_slice(&[0x89, 0x80, 1, 2, 3, 4]);
        s.extend_from_slice(&[0x82, 0xfe, 0, 200, 1, 2, 3, 4]);
        s.extend_from_slice(&[0u8; 200]);
        let bytes: Vec<&[u8]> = s.chunks(7).collect();
        let t = run(&bytes);
        assert_eq!(t.http_requests, 1);
        assert_eq!(t.ws_messages, 2);
        assert_eq!(t.unparsed_bytes, 0);
    }

    #[test]
    fn grpc_calls_are_client_headers_frames() {
        let mut s = H2_PREFACE.to_vec();
        let frame = |ty: u8, len: usize| {
            let mut f = vec![
                (len >> 16) as u8,
                (len >> 8) as u8,
                len as u8,
                ty,
                0,
                0,
                0,
                0,
                1,
            ];
            f.extend(std::iter::repeat_n(0u8, len));
            f
        };
        s.extend(frame(0x4, 6)); // SETTINGS
        s.extend(frame(0x1, 30)); // HEADERS: call 1
        s.extend(frame(0x0, 100)); // DATA
        s.extend(frame(0x1, 30)); // HEADERS: call 2
        s.extend(frame(0x8, 4)); // WINDOW_UPDATE
        let bytes: Vec<&[u8]> = s.chunks(5).collect();
        let t = run(&bytes);
        assert_eq!(t.grpc_calls, 2);
        assert_eq!(t.http_requests, 0);
    }

    #[test]
    fn chunked_bodies_are_reported_not_guessed() {
        let t =
            run(&[b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"]);
        assert!(t.unparsed_bytes > 0);
    }

    /// A loopback HTTP/1.1 server answering `ok` to every request on a kept-alive connection.
    async fn ok_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = find(&buf, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map_or(0, |v| v.trim().parse().unwrap());
                            if buf.len() < end + 4 + len {
                                break;
                            }
                            buf.drain(..end + 4 + len);
                            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                            if s.write_all(ok).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn counts_requests_through_a_real_socket() {
        let proxy = CountingProxy::start(ok_server().await).await;
        let client = reqwest::Client::new();
        let url = format!("http://{}/", proxy.addr());
        for i in 0..5 {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"status"}}"#);
            let r = client.post(&url).body(body).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "ok");
        }
        let r = client.post(&url).body("[{},{},{}]").send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "ok");
        let t = proxy.counts.tally();
        assert_eq!(
            (t.http_requests, t.jsonrpc_calls, t.unparsed_bytes),
            (6, 8, 0)
        );
    }
}

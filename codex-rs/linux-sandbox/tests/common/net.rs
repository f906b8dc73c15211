//! Loopback test peers on the host: an HTTP server that counts the
//! connections it sees, and a minimal forward proxy (absolute-URI requests
//! and `CONNECT`) that logs each request line and resolves every host name
//! to 127.0.0.1, so a sandboxed tool can name the test server by a name
//! that is not in its `NO_PROXY`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP server on host loopback answering every request with `body`.
pub struct TestServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl TestServer {
    /// Listens on `bind` (`127.0.0.1:0`, or `0.0.0.0:0` to be reachable on
    /// every host address).
    pub fn start(bind: &str, body: &'static str) -> Self {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                seen.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || answer(stream, body));
            }
        });
        TestServer { addr, connections }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Whether a connection arrives within `limit` (for negative checks,
    /// a short wait after the command ended).
    pub fn saw_connection_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.connections() > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.connections() > 0
    }
}

fn answer(stream: TcpStream, body: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        if line == "\r\n" {
            break;
        }
        line.clear();
    }
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A forward proxy on host loopback.
pub struct TestProxy {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || proxy_one(stream, &log));
            }
        });
        TestProxy { addr, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The port of `host:port` or of `http://host:port/...`.
fn port_of(authority: &str) -> Option<u16> {
    authority.rsplit(':').next()?.parse().ok()
}

fn proxy_one(client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let request_line = request_line.trim_end().to_owned();
    log.lock().unwrap().push(request_line.clone());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        headers.push(line);
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut client = client;
    if method == "CONNECT" {
        let Some(port) = port_of(target) else { return };
        let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        relay(reader, client, server);
        return;
    }
    let Some(rest) = target.strip_prefix("http://") else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        return;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(port) = port_of(authority) else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    let mut head = format!("{method} /{path} HTTP/1.1\r\n");
    for header in headers {
        if !header.to_ascii_lowercase().starts_with("proxy-") {
            head.push_str(&header);
        }
    }
    head.push_str("\r\n");
    let _ = server.write_all(head.as_bytes());
    relay(reader, client, server);
}

/// Copies both ways until each side ends (what was already buffered from
/// the client first).
fn relay(client_reader: BufReader<TcpStream>, client: TcpStream, server: TcpStream) {
    let mut server_in = server.try_clone().unwrap();
    let mut client_reader = client_reader;
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut server_in);
        let _ = server_in.shutdown(Shutdown::Write);
    });
    let mut server = server;
    let mut client = client;
    let mut buffer = Vec::new();
    let _ = server.read_to_end(&mut buffer);
    let _ = client.write_all(&buffer);
    let _ = client.shutdown(Shutdown::Write);
    let _ = upload.join();
}

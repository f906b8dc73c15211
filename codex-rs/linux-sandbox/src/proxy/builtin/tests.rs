//! The proxy on real loopback sockets, driven with raw HTTP so every byte
//! of the exchange is visible. `localhost` stands for an allowed name: it
//! resolves without DNS, to a test server on this machine.

use super::*;
use codex_sandboxing::proxy::domains::{DomainPattern, ProxyMode};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A server that answers each request on a connection with `hello`, and
/// counts connections.
fn http_server() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                        );
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

fn policy(allowed: &[&str], denied: &[&str], allow_local_addresses: bool) -> DomainPolicy {
    let parse = |list: &[&str]| {
        list.iter()
            .map(|text| DomainPattern::parse(text).unwrap())
            .collect()
    };
    DomainPolicy {
        allowed: parse(allowed),
        denied: parse(denied),
        allow_local_addresses,
        mode: ProxyMode::Full,
    }
}

/// The proxy behind a loopback listener of the test's own, fed the way
/// the bridge feeds it: each accepted connection to `serve`.
fn proxy(policy: DomainPolicy) -> SocketAddr {
    let proxy = BuiltinProxy::start(policy, "test".into()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            proxy.serve(stream);
        }
    });
    addr
}

/// Sends `request` and returns everything the proxy answers until it
/// closes or `limit` bytes arrived.
fn exchange(proxy: SocketAddr, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(proxy).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(host: &str, port: u16) -> String {
    format!(
        "GET http://{host}:{port}/x HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )
}

#[test]
fn an_allowed_name_is_forwarded() {
    let (port, count) = http_server();
    let proxy = proxy(policy(&["localhost"], &[], true));
    let answer = exchange(proxy, &get("localhost", port));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn denied_and_unlisted_targets_get_403_and_reach_nothing() {
    let (port, count) = http_server();
    let denying = proxy(policy(&["localhost"], &["localhost"], true));
    let answer = exchange(denying, &get("localhost", port));
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("denied by the domains entry `localhost`"),
        "{answer}"
    );
    assert!(
        answer.contains("x-proxy-error: blocked-by-denylist"),
        "{answer}"
    );

    let listing = proxy(policy(&["example.invalid"], &[], true));
    for target in ["localhost", "127.0.0.1"] {
        let answer = exchange(listing, &get(target, port));
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains("no domains entry allows it"), "{answer}");
        assert!(
            answer.contains("x-proxy-error: blocked-by-allowlist"),
            "{answer}"
        );
    }
    let answer = exchange(
        listing,
        &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "a refused request reached the server"
    );
}

#[test]
fn a_wildcard_never_reaches_loopback_but_an_exact_entry_does() {
    let (port, count) = http_server();
    let wildcard = proxy(policy(&["*"], &[], false));
    for target in ["localhost", "127.0.0.1"] {
        let answer = exchange(wildcard, &get(target, port));
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains("loopback or private address"), "{answer}");
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
    let named = proxy(policy(&["localhost", "127.0.0.1"], &[], false));
    for target in ["localhost", "127.0.0.1"] {
        let answer = exchange(named, &get(target, port));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn limited_mode_refuses_other_methods_and_tunnels() {
    let (port, count) = http_server();
    let proxy = proxy(DomainPolicy {
        mode: ProxyMode::Limited,
        ..policy(&["localhost"], &[], true)
    });
    let answer = exchange(proxy, &get("localhost", port));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let post = format!(
        "POST http://localhost:{port}/x HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let answer = exchange(proxy, &post);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("x-proxy-error: blocked-by-method-policy"),
        "{answer}"
    );
    let answer = exchange(
        proxy,
        &format!("CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("HTTPS tunnels are refused in limited mode"),
        "{answer}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn a_connect_tunnel_carries_bytes_to_an_allowed_name() {
    let (port, count) = http_server();
    let proxy = proxy(policy(&["localhost"], &[], true));
    let mut stream = std::net::TcpStream::connect(proxy).unwrap();
    stream
        .write_all(
            format!("CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    stream
        .write_all(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.ends_with("hello"), "{rest}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn each_request_on_a_kept_alive_connection_is_judged_on_its_own() {
    let (port, count) = http_server();
    let proxy = proxy(policy(&["localhost"], &["ip6-localhost"], true));
    let answer = exchange(
        proxy,
        &format!(
            "GET http://localhost:{port}/a HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n\
             GET http://ip6-localhost:{port}/b HTTP/1.1\r\nHost: ip6-localhost:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("denied by the domains entry `ip6-localhost`"),
        "{answer}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn only_proxy_requests_are_served() {
    let proxy = proxy(policy(&["localhost"], &[], true));
    let answer = exchange(
        proxy,
        "GET /direct HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// A server that answers with the `Host` header it received.
fn host_echo_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            let mut host = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("host:") {
                    host = value.trim().to_owned();
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{host}",
                host.len()
            );
        }
    });
    port
}

#[test]
fn the_server_sees_the_checked_name_whatever_host_header_the_client_sent() {
    let port = host_echo_server();
    let proxy = proxy(policy(&["localhost"], &[], true));
    let answer = exchange(
        proxy,
        &format!(
            "GET http://user:pw@localhost:{port}/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(&format!("\r\n\r\nlocalhost:{port}")),
        "{answer}"
    );
}

//! The outer stage's bridge: accepts on the listeners the inner stage
//! opened inside the sandbox's network namespace, and either connects each
//! connection to the host's proxy and copies bytes both ways with
//! `splice(2)` (so the payload never enters this process's memory), or
//! hands it to the [built-in proxy](super::builtin) in this process.
//!
//! Threads rather than an async runtime for the copies: each connection
//! needs two blocking copy loops, and `splice` on a blocking socket is the
//! fastest path the kernel offers. At most [`MAX_CONNECTIONS`] are copied
//! at once (further ones wait in the listener's backlog), and running out
//! of descriptors or memory pauses accepting instead of ending it. The
//! bridge lives as long as this process, which waits for bwrap: when the
//! sandbox ends, so does the bridge; when the bridge fails, the command's
//! connection is closed, and nothing else leads out of the namespace.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{OFlag, SpliceFFlags, splice};
use nix::sys::socket::{getsockopt, sockopt::AcceptConn};

use super::builtin::BuiltinProxy;
use super::handoff::receive_listeners;
use super::routes::ListenRoute;

/// How much one `splice` call moves at most (a default pipe's capacity;
/// larger pipes measured no faster, see the README).
const CHUNK: usize = 64 * 1024;

/// Connections copied at once, at most (two threads each).
pub const MAX_CONNECTIONS: usize = 256;

/// How long accepting pauses when the process is out of descriptors or
/// memory, or at [`MAX_CONNECTIONS`].
const BACKOFF: Duration = Duration::from_millis(20);

/// Where the bridge sends a connection accepted on one listener.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Connect to the first of these host addresses that answers.
    Host(Vec<SocketAddr>),
    /// Serve it with the built-in proxy.
    Builtin(BuiltinProxy),
}

/// Starts the bridge: a thread that waits for the inner stage's listeners
/// on `channel`, checks that each is a listening socket on its route's
/// address, then serves it. `routes` and `destinations` are index-aligned.
pub fn start_bridge(
    channel: OwnedFd,
    routes: Vec<ListenRoute>,
    destinations: Vec<Destination>,
) -> io::Result<JoinHandle<()>> {
    raise_descriptor_limit();
    std::thread::Builder::new()
        .name("proxy-bridge".into())
        .spawn(move || match receive_listeners(channel.as_fd()) {
            Ok(Some(listeners)) => {
                let active = Arc::new(AtomicUsize::new(0));
                for (index, fd) in listeners {
                    let (Some(route), Some(destination)) =
                        (routes.get(index), destinations.get(index))
                    else {
                        tracing::debug!(index, "handoff names an unknown route; ignored");
                        continue;
                    };
                    let listener = TcpListener::from(fd);
                    if !is_listener_on(&listener, route.listen) {
                        tracing::debug!(index, "handed-over socket is not the route's listener");
                        continue;
                    }
                    let destination = destination.clone();
                    let active = Arc::clone(&active);
                    let spawned = std::thread::Builder::new()
                        .name(format!("proxy-accept-{}", route.listen))
                        .spawn(move || accept_loop(&listener, &destination, &active));
                    if let Err(err) = spawned {
                        tracing::debug!(%err, "cannot start a proxy listener thread");
                    }
                }
            }
            Ok(None) => tracing::debug!("the inner stage ended before handing over listeners"),
            Err(err) => tracing::debug!(%err, "proxy listener handoff failed"),
        })
}

/// Whether `socket` is a listening TCP socket bound to `addr`.
fn is_listener_on(socket: &TcpListener, addr: SocketAddr) -> bool {
    getsockopt(socket, AcceptConn).unwrap_or(false)
        && socket.local_addr().is_ok_and(|bound| bound == addr)
}

/// Sets the soft descriptor limit to the hard one: each forwarded
/// connection holds six (two sockets, two pipes), and the default soft
/// limit of 1,024 would otherwise cap the bridge at about 170. Raised
/// after bwrap has started, so the command keeps the limits it inherited.
fn raise_descriptor_limit() {
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Whether an `accept` error is a passing shortage rather than a dead
/// listener.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::EINTR
                | libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::EAGAIN
        )
    )
}

fn accept_loop(listener: &TcpListener, destination: &Destination, active: &Arc<AtomicUsize>) {
    loop {
        if matches!(destination, Destination::Host(_))
            && active.load(Ordering::Acquire) >= MAX_CONNECTIONS
        {
            std::thread::sleep(BACKOFF);
            continue;
        }
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(err) if is_transient(&err) => {
                std::thread::sleep(BACKOFF);
                continue;
            }
            Err(err) => {
                tracing::debug!(%err, "proxy listener failed; no more connections");
                return;
            }
        };
        match destination {
            Destination::Builtin(proxy) => proxy.serve(client),
            Destination::Host(upstream) => {
                let upstream = upstream.clone();
                let guard = ActiveConnection::new(active);
                let spawned = std::thread::Builder::new()
                    .name("proxy-connection".into())
                    .spawn(move || {
                        let _guard = guard;
                        forward(client, &upstream);
                    });
                if let Err(err) = spawned {
                    tracing::debug!(%err, "cannot start a proxy connection thread");
                }
            }
        }
    }
}

/// Counts one connection being copied while it lives.
struct ActiveConnection(Arc<AtomicUsize>);

impl ActiveConnection {
    fn new(active: &Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::AcqRel);
        ActiveConnection(Arc::clone(active))
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connects `client` to the first upstream address that answers and
/// copies both ways until both sides are done. A client whose proxy cannot
/// be reached is closed.
fn forward(client: TcpStream, upstream: &[SocketAddr]) {
    let Some(server) = upstream
        .iter()
        .find_map(|addr| TcpStream::connect(addr).ok())
    else {
        tracing::debug!(?upstream, "proxy unreachable; closing the connection");
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client, server) = (Arc::new(client), Arc::new(server));
    let (client_up, server_up) = (Arc::clone(&client), Arc::clone(&server));
    let upload = std::thread::Builder::new()
        .name("proxy-upload".into())
        .spawn(move || pump(&client_up, &server_up));
    match upload {
        Ok(upload) => {
            pump(&server, &client);
            let _ = upload.join();
        }
        Err(err) => tracing::debug!(%err, "cannot start a proxy copy thread"),
    }
}

/// Moves bytes from `from` to `to` through a pipe until `from` ends, then
/// half-closes `to`. On an error both sockets are shut down, which also
/// ends the copy in the other direction.
fn pump(from: &TcpStream, to: &TcpStream) {
    if copy_with_splice(from, to).is_err() {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    } else {
        let _ = to.shutdown(Shutdown::Write);
    }
}

fn copy_with_splice(from: &TcpStream, to: &TcpStream) -> Result<(), Errno> {
    let (pipe_out, pipe_in) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    loop {
        let filled = retry(|| {
            splice(
                from,
                None,
                &pipe_in,
                None,
                CHUNK,
                SpliceFFlags::SPLICE_F_MOVE,
            )
        })?;
        if filled == 0 {
            return Ok(());
        }
        let mut left = filled;
        while left > 0 {
            let moved =
                retry(|| splice(&pipe_out, None, to, None, left, SpliceFFlags::SPLICE_F_MOVE))?;
            if moved == 0 {
                return Err(Errno::EPIPE);
            }
            left -= moved;
        }
    }
}

fn retry(mut call: impl FnMut() -> Result<usize, Errno>) -> Result<usize, Errno> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn active() -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(0))
    }

    /// A listener standing in for the sandbox's, bridged to an echo server
    /// standing in for the host's proxy: bytes go both ways unchanged, and
    /// the half-close reaches the far side.
    #[test]
    fn bytes_cross_both_ways_and_a_half_close_is_passed_on() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = upstream.accept().unwrap();
            let mut received = Vec::new();
            conn.read_to_end(&mut received).unwrap();
            conn.write_all(&received).unwrap();
            received.len()
        });
        let sandbox_side = TcpListener::bind("127.0.0.1:0").unwrap();
        let sandbox_addr = sandbox_side.local_addr().unwrap();
        let count = active();
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            accept_loop(
                &sandbox_side,
                &Destination::Host(vec![upstream_addr]),
                &seen,
            )
        });

        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut client = TcpStream::connect(sandbox_addr).unwrap();
        client.write_all(&payload).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(echo.join().unwrap(), payload.len());
        assert!(back == payload, "the echoed bytes differ");
        // The connection is counted while copied and released after.
        for _ in 0..100 {
            if count.load(Ordering::Acquire) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(count.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_unreachable_proxy_closes_the_client() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = closed.local_addr().unwrap();
        drop(closed);
        let sandbox_side = TcpListener::bind("127.0.0.1:0").unwrap();
        let sandbox_addr = sandbox_side.local_addr().unwrap();
        let count = active();
        std::thread::spawn(move || {
            accept_loop(&sandbox_side, &Destination::Host(vec![dead_addr]), &count)
        });
        let mut client = TcpStream::connect(sandbox_addr).unwrap();
        let mut buffer = [0u8; 1];
        assert_eq!(client.read(&mut buffer).unwrap_or(0), 0);
    }

    #[test]
    fn only_a_listening_socket_on_the_routes_address_is_served() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(is_listener_on(&listener, addr));
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(!is_listener_on(&listener, other));
        let connected = TcpStream::connect(addr).unwrap();
        let connected_addr = connected.local_addr().unwrap();
        let as_listener = TcpListener::from(OwnedFd::from(connected));
        assert!(!is_listener_on(&as_listener, connected_addr));
    }

    #[test]
    fn shortages_pause_accepting_and_other_errors_end_it() {
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ECONNABORTED,
        ] {
            assert!(is_transient(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK] {
            assert!(!is_transient(&io::Error::from_raw_os_error(errno)));
        }
    }
}

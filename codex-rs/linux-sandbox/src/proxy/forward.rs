//! The outer stage's bridge: accepts on the listeners the inner stage
//! opened inside the sandbox's network namespace, connects to the host's
//! proxy and copies bytes both ways with `splice(2)`, so the payload never
//! enters this process's memory.
//!
//! Threads rather than an async runtime: the bridge serves one command's
//! connections, each needs only two blocking copy loops, and `splice` on a
//! blocking socket is the fastest path the kernel offers. The bridge lives
//! as long as this process, which waits for bwrap: when the sandbox ends,
//! so does the bridge; when the bridge fails, the command's connection is
//! closed, and nothing else leads out of the namespace.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::fcntl::{OFlag, SpliceFFlags, splice};

use super::handoff::receive_listeners;
use super::routes::ListenRoute;

/// How much one `splice` call moves at most (a default pipe's capacity).
const CHUNK: usize = 64 * 1024;

/// Starts the bridge: a thread that waits for the inner stage's listeners
/// on `channel`, then serves each with its route's upstream addresses.
pub fn start_bridge(channel: OwnedFd, routes: Vec<ListenRoute>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("proxy-bridge".into())
        .spawn(move || match receive_listeners(channel.as_fd()) {
            Ok(Some(listeners)) => {
                for (index, fd) in listeners {
                    let Some(route) = routes.get(index) else {
                        tracing::debug!(index, "handoff names an unknown route; ignored");
                        continue;
                    };
                    let listener = TcpListener::from(fd);
                    let upstream = route.upstream.clone();
                    let spawned = std::thread::Builder::new()
                        .name(format!("proxy-accept-{}", route.listen))
                        .spawn(move || accept_loop(&listener, &upstream));
                    if let Err(err) = spawned {
                        tracing::debug!(%err, "cannot start a proxy listener thread");
                    }
                }
            }
            Ok(None) => tracing::debug!("the inner stage ended before handing over listeners"),
            Err(err) => tracing::debug!(%err, "proxy listener handoff failed"),
        })
}

fn accept_loop(listener: &TcpListener, upstream: &[SocketAddr]) {
    loop {
        match listener.accept() {
            Ok((client, _)) => {
                let upstream = upstream.to_vec();
                let spawned = std::thread::Builder::new()
                    .name("proxy-connection".into())
                    .spawn(move || forward(client, &upstream));
                if let Err(err) = spawned {
                    tracing::debug!(%err, "cannot start a proxy connection thread");
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                tracing::debug!(%err, "proxy listener failed; no more connections");
                return;
            }
        }
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
    let (Ok(client_up), Ok(server_down)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upload = std::thread::Builder::new()
        .name("proxy-upload".into())
        .spawn(move || pump(&client_up, &server_down));
    pump(&server, &client);
    if let Ok(upload) = upload {
        let _ = upload.join();
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
        std::thread::spawn(move || accept_loop(&sandbox_side, &[upstream_addr]));

        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut client = TcpStream::connect(sandbox_addr).unwrap();
        client.write_all(&payload).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(echo.join().unwrap(), payload.len());
        assert!(back == payload, "the echoed bytes differ");
    }

    #[test]
    fn an_unreachable_proxy_closes_the_client() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = closed.local_addr().unwrap();
        drop(closed);
        let sandbox_side = TcpListener::bind("127.0.0.1:0").unwrap();
        let sandbox_addr = sandbox_side.local_addr().unwrap();
        std::thread::spawn(move || accept_loop(&sandbox_side, &[dead_addr]));
        let mut client = TcpStream::connect(sandbox_addr).unwrap();
        let mut buffer = [0u8; 1];
        assert_eq!(client.read(&mut buffer).unwrap_or(0), 0);
    }
}

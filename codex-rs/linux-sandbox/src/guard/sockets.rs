//! Host Unix sockets while the network is enabled.
//!
//! An enabled network shares the host's network namespace, and a socket
//! file needs no writable mount to be connected to, so without more every
//! Unix socket of the host (`docker.sock`, D-Bus, X11, the SSH agent) and
//! every abstract name would be the command's to reach. The guard closes
//! them:
//!
//! - the sandbox's own filter refuses `AF_UNIX` datagram sockets (the only
//!   kind that can send to an address without `connect`), so `connect` is
//!   the one call that reaches a socket by name;
//! - `connect` is held ([`super::calls::GuardedCall::Connect`]) and carried
//!   out by the supervisor on a copy of the caller's socket
//!   (`pidfd_getfd`), with the address it copied once: a thread rewriting
//!   the address, or swapping the descriptor number for another socket,
//!   after the check changes nothing. Internet sockets are connected as
//!   asked (on a thread of their own when they block); a Unix path is
//!   opened (`O_PATH`, following links as `connect` does) and connected to
//!   only when the socket file it leads to is one this sandbox bound, and
//!   then through `/proc/self/fd/N` of that very file; every abstract name
//!   is refused;
//! - `bind` of an abstract name is refused, so no host client looking for
//!   its server by name (`@/tmp/.X11-unix/X0`) can reach the command.
//!
//! Deciding by the socket file's identity (device, inode) rather than by
//! its name covers a symbolic or hard link to a host socket and
//! `/proc/self/fd/N` spellings alike. Refusals get `EACCES`, as a socket
//! file the caller may not write does, and are reported on stderr once per
//! name. Landlock's scope for abstract sockets (Linux 6.12) is not used:
//! the held `connect` already decides on every name, on every kernel the
//! guard runs on.

use std::cell::RefCell;
use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd};

use std::path::PathBuf;

use codex_sandboxing::NetworkMode;
use nix::errno::Errno;

use crate::protocol::HELPER_ARGV0;

/// What an `AF_UNIX` socket address names, as the kernel reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixTarget<'a> {
    /// A socket file: the path up to its first NUL.
    Path(&'a [u8]),
    /// An abstract name: every byte after the leading NUL.
    Abstract(&'a [u8]),
    /// No name at all (only the family), which `connect` refuses itself
    /// and `bind` answers by choosing an abstract name of its own.
    Unnamed,
}

/// What `addr` names when its family is `AF_UNIX`; `None` for any other
/// family (the kernel refuses that on a Unix socket).
pub fn unix_target(addr: &[u8]) -> Option<UnixTarget<'_>> {
    let family = u16::from_ne_bytes([*addr.first()?, *addr.get(1)?]);
    if i32::from(family) != libc::AF_UNIX {
        return None;
    }
    let name = &addr[2..];
    Some(match name.first() {
        None => UnixTarget::Unnamed,
        Some(0) => UnixTarget::Abstract(&name[1..]),
        Some(_) => {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            UnixTarget::Path(&name[..end])
        }
    })
}

/// The identity of a socket file: device and inode.
pub type SocketFile = (u64, u64);

/// The Unix sockets the command may reach, and the refusals already
/// reported. Used by the supervisor's serving thread only.
#[derive(Debug, Default)]
pub struct UnixSockets {
    /// Whether `connect` is held and judged here (the network is enabled,
    /// or the profile lists host sockets); otherwise the filter or the
    /// network namespace decides, and nothing here is consulted.
    pub closed: bool,
    /// Whether abstract names are the host's (the network is enabled: no
    /// network namespace of the sandbox's own).
    pub abstract_names_are_the_hosts: bool,
    /// The listed host sockets (`network.unix_sockets`), with the socket
    /// file each led to before the command started (`None` when none):
    /// taken then, so a command that replaces a listed path by a link to
    /// another socket (the path may lie in a writable root) gains nothing.
    allowed: Vec<(PathBuf, Option<SocketFile>)>,
    /// Socket files the command bound in this sandbox.
    bound: RefCell<HashSet<SocketFile>>,
    /// Names whose refusal was already reported.
    reported: RefCell<HashSet<Vec<u8>>>,
}

impl UnixSockets {
    /// Rules for a sandbox in `network` mode whose connects are held
    /// (`closed`), letting through the sockets `allowed` lead to now.
    /// Must be made before the command starts.
    pub fn new(closed: bool, network: NetworkMode, allowed: Vec<PathBuf>) -> Self {
        let allowed = allowed
            .into_iter()
            .map(|path| {
                let file = nix::sys::stat::stat(&path)
                    .ok()
                    .filter(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFSOCK)
                    .map(|stat| (stat.st_dev, stat.st_ino));
                (path, file)
            })
            .collect();
        UnixSockets {
            closed,
            abstract_names_are_the_hosts: network == NetworkMode::Enabled,
            allowed,
            ..Self::default()
        }
    }

    /// Remembers a socket file the command bound here.
    pub fn record_bound(&self, file: SocketFile) {
        self.bound.borrow_mut().insert(file);
    }

    /// Whether the command may connect to the socket file `file`: one it
    /// bound, or one a listed path led to at start.
    pub fn may_connect(&self, file: SocketFile) -> bool {
        !self.closed
            || self.bound.borrow().contains(&file)
            || self.allowed.iter().any(|(_, listed)| *listed == Some(file))
    }

    /// Says on stderr, once per name, that a connect to the Unix socket
    /// at the path `name` was refused, and how to allow it.
    pub fn report_connect(&self, name: &[u8], process: i32) {
        if self.first_report(name) {
            eprintln!(
                "{HELPER_ARGV0}: refused to connect to the Unix socket {name} (process {process}): \
                 host sockets (docker.sock, D-Bus, X11, agents) stay closed; to allow this one, \
                 add \"{name}\" = \"allow\" to the profile's [permissions.NAME.network.unix_sockets]",
                name = String::from_utf8_lossy(name)
            );
        }
    }

    /// Says on stderr, once per name, that connecting to the host's
    /// abstract name `name` (spelled `@name`) was refused.
    pub fn report_abstract_connect(&self, name: &[u8], process: i32) {
        if self.first_report(name) {
            eprintln!(
                "{HELPER_ARGV0}: refused to connect to the abstract Unix socket {} (process \
                 {process}): with the network enabled, abstract names are the host's, and none \
                 can be allowed; list a socket file in network.unix_sockets instead",
                String::from_utf8_lossy(name)
            );
        }
    }

    /// Says on stderr, once per name, that binding the abstract name
    /// `name` (spelled `@name`) was refused.
    pub fn report_abstract_bind(&self, name: &[u8], process: i32) {
        if self.first_report(name) {
            eprintln!(
                "{HELPER_ARGV0}: refused to bind the abstract Unix socket {} (process {process}): \
                 with the network enabled, abstract names are the host's, whose programs would \
                 reach the command in place of their own server; bind a socket file instead",
                String::from_utf8_lossy(name)
            );
        }
    }

    /// Whether `name` has not been reported yet (it is from now on).
    fn first_report(&self, name: &[u8]) -> bool {
        self.reported.borrow_mut().insert(name.to_vec())
    }
}

/// `@` and the name, as abstract names are commonly spelled.
pub fn abstract_spelling(name: &[u8]) -> Vec<u8> {
    let mut spelled = b"@".to_vec();
    spelled.extend(name.iter().map(|&b| if b == 0 { b'@' } else { b }));
    spelled
}

/// The address family of the socket `fd` (`SO_DOMAIN`).
pub fn socket_domain(fd: &OwnedFd) -> Result<i32, Errno> {
    let mut domain: libc::c_int = 0;
    let mut len =
        libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: getsockopt writes at most `len` bytes into `domain`.
    let result = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&raw mut domain).cast(),
            &raw mut len,
        )
    };
    Errno::result(result).map(|_| domain)
}

/// A `connect` the supervisor carries out for the caller, on its copy of
/// the caller's socket.
#[derive(Debug)]
pub struct PendingConnect {
    socket: OwnedFd,
    addr: Vec<u8>,
    /// The socket file connected to through `/proc/self/fd/N`, held open
    /// until the call is made.
    _target: Option<OwnedFd>,
}

impl PendingConnect {
    /// A connect to `addr` exactly as the caller wrote it (copied once).
    pub fn to_address(socket: OwnedFd, addr: Vec<u8>) -> Self {
        PendingConnect {
            socket,
            addr,
            _target: None,
        }
    }

    /// A connect to the socket file `target` (an `O_PATH` descriptor of
    /// it), through this process's `/proc/self/fd/N` link to it, so the
    /// file connected to is the one that was checked.
    pub fn to_file(socket: OwnedFd, target: OwnedFd) -> Self {
        let family = u16::try_from(libc::AF_UNIX).unwrap_or_default();
        let mut addr = family.to_ne_bytes().to_vec();
        addr.extend_from_slice(format!("/proc/self/fd/{}", target.as_raw_fd()).as_bytes());
        addr.push(0);
        PendingConnect {
            socket,
            addr,
            _target: Some(target),
        }
    }

    /// Whether the connect may wait (a socket without `O_NONBLOCK`: a TCP
    /// handshake, a full Unix backlog), so it must not run on the loop.
    pub fn may_wait(&self) -> bool {
        nix::fcntl::fcntl(&self.socket, nix::fcntl::FcntlArg::F_GETFL)
            .is_ok_and(|flags| flags & libc::O_NONBLOCK == 0)
    }

    /// Carries the connect out; the caller's socket is the same open
    /// socket, so it is the one connected.
    pub fn connect(&self) -> Result<(), Errno> {
        let len = libc::socklen_t::try_from(self.addr.len()).map_err(|_| Errno::EINVAL)?;
        // Raw: the address is the caller's bytes, of any family, which nix
        // would have to parse into one of its types first.
        // SAFETY: `addr` holds `len` bytes of socket address for the call.
        let result =
            unsafe { libc::connect(self.socket.as_raw_fd(), self.addr.as_ptr().cast(), len) };
        Errno::result(result).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(name: &[u8]) -> Vec<u8> {
        let mut addr = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        addr.extend_from_slice(name);
        addr
    }

    #[test]
    fn unix_addresses_are_told_apart_as_the_kernel_reads_them() {
        assert_eq!(
            unix_target(&address(b"/run/docker.sock\0junk")),
            Some(UnixTarget::Path(b"/run/docker.sock"))
        );
        assert_eq!(
            unix_target(&address(b"rel")),
            Some(UnixTarget::Path(b"rel"))
        );
        assert_eq!(
            unix_target(&address(b"\0/tmp/.X11-unix/X0\0x")),
            Some(UnixTarget::Abstract(b"/tmp/.X11-unix/X0\0x"))
        );
        assert_eq!(unix_target(&address(b"")), Some(UnixTarget::Unnamed));
        let mut inet = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        inet.extend_from_slice(&[0; 14]);
        assert_eq!(unix_target(&inet), None);
        assert_eq!(unix_target(&[1]), None);
    }

    #[test]
    fn only_sockets_bound_here_or_listed_are_reachable_when_closed() {
        let sockets = UnixSockets::new(true, NetworkMode::Enabled, Vec::new());
        assert!(sockets.abstract_names_are_the_hosts);
        assert!(!sockets.may_connect((1, 2)));
        sockets.record_bound((1, 2));
        assert!(sockets.may_connect((1, 2)));
        assert!(!sockets.may_connect((1, 3)));
        assert!(!sockets.may_connect((2, 2)));
        assert!(UnixSockets::new(false, NetworkMode::Enabled, Vec::new()).may_connect((9, 9)));

        // A listed socket is the file its path led to when the rules were
        // made: a later link at that path leads nowhere new.
        let dir = tempfile::tempdir().unwrap();
        let listed = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&listed).unwrap();
        let other = dir.path().join("other.sock");
        let _other = std::os::unix::net::UnixListener::bind(&other).unwrap();
        let id = |path: &std::path::Path| {
            let stat = nix::sys::stat::stat(path).unwrap();
            (stat.st_dev, stat.st_ino)
        };
        let (listed_id, other_id) = (id(&listed), id(&other));
        let missing = dir.path().join("missing.sock");
        let sockets = UnixSockets::new(
            true,
            NetworkMode::Restricted,
            vec![listed.clone(), missing.clone()],
        );
        assert!(!sockets.abstract_names_are_the_hosts);
        assert!(sockets.may_connect(listed_id));
        assert!(!sockets.may_connect(other_id));
        std::fs::remove_file(&listed).unwrap();
        std::os::unix::fs::symlink(&other, &listed).unwrap();
        assert!(!sockets.may_connect(other_id));
        // A listed path that is not a socket at start allows nothing.
        std::fs::write(&missing, "").unwrap();
        assert!(!sockets.may_connect(id(&missing)));
    }

    #[test]
    fn abstract_names_are_spelled_with_an_at_sign() {
        assert_eq!(
            abstract_spelling(b"/tmp/.X11-unix/X0"),
            b"@/tmp/.X11-unix/X0"
        );
        assert_eq!(abstract_spelling(b"a\0b"), b"@a@b");
    }

    #[test]
    fn a_connect_to_a_file_goes_through_its_descriptor() {
        let (socket, _) = std::os::unix::net::UnixStream::pair().unwrap();
        let target = std::fs::File::open("/").unwrap();
        let fd = target.as_raw_fd();
        let pending = PendingConnect::to_file(socket.into(), target.into());
        assert_eq!(
            unix_target(&pending.addr),
            Some(UnixTarget::Path(format!("/proc/self/fd/{fd}").as_bytes()))
        );
        assert!(pending.may_wait());
    }
}

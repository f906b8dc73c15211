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

use super::procfs::procfs;
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

impl<'a> UnixTarget<'a> {
    /// The socket file's path, for an address that names one.
    pub fn path(self) -> Option<&'a [u8]> {
        match self {
            UnixTarget::Path(path) => Some(path),
            UnixTarget::Abstract(_) | UnixTarget::Unnamed => None,
        }
    }
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
    /// file each led to before the command started (`None` when none),
    /// held open (`O_PATH`) so its inode number cannot be given to another
    /// file while the sandbox runs, should the listed server remove it.
    allowed: Vec<(PathBuf, Option<(SocketFile, OwnedFd)>)>,
    /// The sockets the command bound to a file in this sandbox, as the
    /// kernel recorded them ([`SocketDiag`]); `None` when the kernel
    /// cannot be asked (then no socket file counts as the command's).
    own: Option<OwnSockets>,
    /// Names whose refusal was already reported.
    reported: RefCell<HashSet<Vec<u8>>>,
}

impl UnixSockets {
    /// Rules for a sandbox in `network` mode whose connects are held
    /// (`closed`), letting through the sockets `allowed` lead to now and
    /// the command's own, told apart through `diag`. Must be made before
    /// the command starts.
    pub fn new(
        closed: bool,
        network: NetworkMode,
        allowed: Vec<PathBuf>,
        diag: Option<SocketDiag>,
    ) -> Self {
        let allowed = allowed
            .into_iter()
            .map(|path| {
                let pinned = nix::fcntl::open(
                    &path,
                    nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ok()
                .and_then(|fd| {
                    let stat = nix::sys::stat::fstat(&fd).ok()?;
                    (stat.st_mode & libc::S_IFMT == libc::S_IFSOCK)
                        .then_some(((stat.st_dev, stat.st_ino), fd))
                });
                (path, pinned)
            })
            .collect();
        UnixSockets {
            closed,
            abstract_names_are_the_hosts: network == NetworkMode::Enabled,
            allowed,
            own: diag.map(|diag| OwnSockets {
                diag,
                bound: RefCell::default(),
            }),
            reported: RefCell::default(),
        }
    }

    /// Remembers that the command bound `socket` (a copy of its
    /// descriptor) with success: the file the kernel bound it to, if any,
    /// is the command's while that socket lives.
    pub fn record_bound(&self, socket: &OwnedFd) {
        let Some(own) = &self.own else {
            return;
        };
        let Ok(stat) = nix::sys::stat::fstat(socket) else {
            return;
        };
        if let Ok(Some(file)) = own.diag.bound_file(stat.st_ino) {
            let mut bound = own.bound.borrow_mut();
            bound.retain(|(_, known)| *known != file);
            bound.push((stat.st_ino, file));
        }
    }

    /// Whether the command may connect to the socket file `file`: one a
    /// listed path led to at start, or one a socket the command bound is
    /// still bound to (asked of the kernel now, so a file whose inode
    /// number was freed and given to a host socket is not taken for the
    /// command's).
    pub fn may_connect(&self, file: SocketFile) -> bool {
        let listed = |(_, pinned): &(PathBuf, Option<(SocketFile, OwnedFd)>)| {
            pinned.as_ref().is_some_and(|(known, _)| *known == file)
        };
        if !self.closed || self.allowed.iter().any(listed) {
            return true;
        }
        let Some(own) = &self.own else {
            return false;
        };
        let wanted = DiagFile::of(file);
        let socket = own
            .bound
            .borrow()
            .iter()
            .find(|(_, known)| *known == wanted)
            .map(|(socket, _)| *socket);
        let Some(socket) = socket else {
            return false;
        };
        let still_bound = own.diag.bound_file(socket) == Ok(Some(wanted));
        if !still_bound {
            own.bound.borrow_mut().retain(|(known, _)| *known != socket);
        }
        still_bound
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

/// The command's own bound sockets: (socket inode, the file it is bound
/// to), and the kernel to ask whether that still holds.
#[derive(Debug)]
struct OwnSockets {
    diag: SocketDiag,
    bound: RefCell<Vec<(u64, DiagFile)>>,
}

/// A socket file as `sock_diag` names it: the device in the kernel's own
/// encoding (major << 20 | minor) and the inode's low 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagFile {
    dev: u32,
    ino: u32,
}

impl DiagFile {
    /// `file` (as `stat` gives it) in `sock_diag`'s terms.
    fn of((dev, ino): SocketFile) -> Self {
        let (major, minor) = (libc::major(dev), libc::minor(dev));
        DiagFile {
            dev: (major << 20) | (minor & 0xf_ffff),
            // The kernel reports 32 bits of the inode number.
            #[allow(clippy::cast_possible_truncation)]
            ino: ino as u32,
        }
    }
}

/// The kernel's record of which file a Unix socket is bound to, asked
/// through `NETLINK_SOCK_DIAG` (`UDIAG_SHOW_VFS`): the one answer no
/// process can race, since the kernel keeps it from the bind on, and the
/// file stays pinned while the socket lives. Written by hand: one fixed
/// request and one attribute of the reply, which the netlink crates would
/// bring in four dependencies to build.
#[derive(Debug)]
pub struct SocketDiag(OwnedFd);

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `UDIAG_SHOW_VFS`.
const UDIAG_SHOW_VFS: u32 = 0x2;
/// `UNIX_DIAG_VFS`, the attribute holding `struct unix_diag_vfs`.
const UNIX_DIAG_VFS: u16 = 1;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HEADER: usize = 16;
/// `sizeof(struct unix_diag_msg)`.
const UNIX_DIAG_MSG: usize = 16;

impl SocketDiag {
    /// Opens the netlink socket (before the sandbox's filter, which may
    /// deny netlink sockets, is installed).
    pub fn open() -> Result<Self, Errno> {
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        let fd = Errno::result(fd)?;
        // SAFETY: the kernel just returned this new descriptor.
        Ok(SocketDiag(unsafe {
            std::os::fd::FromRawFd::from_raw_fd(fd)
        }))
    }

    /// The file the Unix socket with inode `socket` is bound to: `None`
    /// for one bound to no file (unbound, abstract); `ENOENT` when no such
    /// socket lives in this network namespace.
    pub fn bound_file(&self, socket: u64) -> Result<Option<DiagFile>, Errno> {
        let socket = u32::try_from(socket).map_err(|_| Errno::ENOENT)?;
        let mut request = Vec::with_capacity(NLMSG_HEADER + 24);
        request.extend_from_slice(&40u32.to_ne_bytes());
        request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
        request.extend_from_slice(&[0; 8]); // sequence, port
        request.push(libc::AF_UNIX as u8);
        request.extend_from_slice(&[0; 3]); // protocol, padding
        request.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
        request.extend_from_slice(&socket.to_ne_bytes());
        request.extend_from_slice(&UDIAG_SHOW_VFS.to_ne_bytes());
        request.extend_from_slice(&[0xff; 8]); // no cookie to check
        // SAFETY: send(2) of `request`, which lives across the call.
        let sent = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
            )
        };
        Errno::result(sent)?;
        let mut reply = [0u8; 1024];
        // SAFETY: recv(2) into `reply`, at most its length.
        let len = unsafe {
            libc::recv(
                self.0.as_raw_fd(),
                reply.as_mut_ptr().cast(),
                reply.len(),
                0,
            )
        };
        let len = usize::try_from(Errno::result(len)?).map_err(|_| Errno::EIO)?;
        parse_diag_reply(&reply[..len])
    }
}

/// The file a `sock_diag` reply names (see [`SocketDiag::bound_file`]).
fn parse_diag_reply(reply: &[u8]) -> Result<Option<DiagFile>, Errno> {
    let u16_at = |at: usize| {
        reply
            .get(at..at + 2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        reply
            .get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let message_len = u32_at(0).ok_or(Errno::EIO)? as usize;
    let message = reply.get(..message_len).ok_or(Errno::EIO)?;
    match u16_at(4).ok_or(Errno::EIO)? {
        kind if kind == libc::NLMSG_ERROR as u16 => {
            let code = u32_at(NLMSG_HEADER).ok_or(Errno::EIO)? as i32;
            Err(Errno::from_raw(-code))
        }
        SOCK_DIAG_BY_FAMILY => {
            let mut at = NLMSG_HEADER + UNIX_DIAG_MSG;
            while at + 4 <= message.len() {
                let attr_len = u16_at(at).ok_or(Errno::EIO)? as usize;
                if attr_len < 4 {
                    return Err(Errno::EIO);
                }
                if u16_at(at + 2) == Some(UNIX_DIAG_VFS) {
                    return Ok(Some(DiagFile {
                        ino: u32_at(at + 4).ok_or(Errno::EIO)?,
                        dev: u32_at(at + 8).ok_or(Errno::EIO)?,
                    }));
                }
                at += attr_len.next_multiple_of(4);
            }
            Ok(None)
        }
        _ => Err(Errno::EIO),
    }
}

/// `@` and the name, as abstract names are commonly spelled.
pub fn abstract_spelling(name: &[u8]) -> Vec<u8> {
    let mut spelled = b"@".to_vec();
    spelled.extend(name.iter().map(|&b| if b == 0 { b'@' } else { b }));
    spelled
}

/// The address `socket` is bound to (`getsockname`), as raw bytes.
pub fn bound_address(socket: &OwnedFd) -> Option<Vec<u8>> {
    // SAFETY: a zeroed sockaddr_storage is a valid buffer for any family.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_storage>()).ok()?;
    // SAFETY: getsockname writes at most `len` bytes into `storage`.
    let result =
        unsafe { libc::getsockname(socket.as_raw_fd(), (&raw mut storage).cast(), &raw mut len) };
    if result < 0 {
        return None;
    }
    let len = usize::try_from(len)
        .ok()?
        .min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: the kernel filled `len` bytes of `storage`, which outlives
    // the slice copied out of it here.
    let bytes = unsafe { std::slice::from_raw_parts((&raw const storage).cast::<u8>(), len) };
    Some(bytes.to_vec())
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
    to: ConnectTo,
}

/// Where a [`PendingConnect`] goes.
#[derive(Debug)]
enum ConnectTo {
    /// The address exactly as the caller wrote it (copied once).
    Address(Vec<u8>),
    /// The socket file held open here (`O_PATH`), by this process's
    /// `self/fd/N` link to it in procfs, so the file connected to is the
    /// one that was checked.
    File(OwnedFd),
}

impl PendingConnect {
    /// A connect to `addr` exactly as the caller wrote it (copied once).
    pub fn to_address(socket: OwnedFd, addr: Vec<u8>) -> Self {
        PendingConnect {
            socket,
            to: ConnectTo::Address(addr),
        }
    }

    /// A connect to the socket file `target` (an `O_PATH` descriptor of
    /// it).
    pub fn to_file(socket: OwnedFd, target: OwnedFd) -> Self {
        PendingConnect {
            socket,
            to: ConnectTo::File(target),
        }
    }

    /// Carries the connect out; the caller's socket is the same open
    /// socket, so it is the one connected. Call it on a thread of its own:
    /// reaching a socket file by its descriptor may change this thread's
    /// working directory ([`super::procfs::Procfs::fd_address_path`]).
    pub fn connect(&self) -> Result<(), Errno> {
        let addr = self.address()?;
        let len = libc::socklen_t::try_from(addr.len()).map_err(|_| Errno::EINVAL)?;
        // Raw: the address is the caller's bytes, of any family, which nix
        // would have to parse into one of its types first.
        // SAFETY: `addr` holds `len` bytes of socket address for the call.
        let result = unsafe { libc::connect(self.socket.as_raw_fd(), addr.as_ptr().cast(), len) };
        Errno::result(result).map(drop)
    }

    /// The address connected to, for the calling thread.
    fn address(&self) -> Result<Vec<u8>, Errno> {
        Ok(match &self.to {
            ConnectTo::Address(addr) => addr.clone(),
            ConnectTo::File(target) => {
                let family = u16::try_from(libc::AF_UNIX).unwrap_or_default();
                let mut addr = family.to_ne_bytes().to_vec();
                addr.extend_from_slice(
                    procfs()
                        .fd_address_path(target.as_raw_fd())?
                        .as_bytes_with_nul(),
                );
                addr
            }
        })
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
        assert_eq!(
            unix_target(&address(b"sub/.git\0")).and_then(UnixTarget::path),
            Some(&b"sub/.git"[..])
        );
        assert_eq!(
            unix_target(&address(b"\0abstract")).and_then(UnixTarget::path),
            None
        );
        let mut inet = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        inet.extend_from_slice(&[0; 14]);
        assert_eq!(unix_target(&inet), None);
        assert_eq!(unix_target(&[1]), None);
    }

    fn id(path: &std::path::Path) -> SocketFile {
        let stat = nix::sys::stat::stat(path).unwrap();
        (stat.st_dev, stat.st_ino)
    }

    #[test]
    fn a_socket_file_is_the_commands_only_while_its_socket_is_bound_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let sockets = UnixSockets::new(
            true,
            NetworkMode::Enabled,
            Vec::new(),
            Some(SocketDiag::open().unwrap()),
        );
        assert!(sockets.abstract_names_are_the_hosts);
        let own = dir.path().join("own.sock");
        let listener = std::os::unix::net::UnixListener::bind(&own).unwrap();
        let other = dir.path().join("other.sock");
        let _other = std::os::unix::net::UnixListener::bind(&other).unwrap();
        assert!(!sockets.may_connect(id(&own)));
        sockets.record_bound(&OwnedFd::from(listener.try_clone().unwrap()));
        assert!(sockets.may_connect(id(&own)));
        assert!(!sockets.may_connect(id(&other)));
        // Its socket gone, the file (whose inode number the filesystem may
        // give to the next file made, a host socket perhaps) is no one's.
        let own_id = id(&own);
        drop(listener);
        assert!(!sockets.may_connect(own_id));
        // Without the kernel to ask, no file counts as the command's.
        let blind = UnixSockets::new(true, NetworkMode::Enabled, Vec::new(), None);
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("b.sock")).unwrap();
        blind.record_bound(&OwnedFd::from(listener.try_clone().unwrap()));
        assert!(!blind.may_connect(id(&dir.path().join("b.sock"))));
        assert!(
            UnixSockets::new(false, NetworkMode::Enabled, Vec::new(), None).may_connect((9, 9))
        );
    }

    #[test]
    fn a_listed_socket_is_the_file_its_path_led_to_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let listed = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&listed).unwrap();
        let other = dir.path().join("other.sock");
        let _other = std::os::unix::net::UnixListener::bind(&other).unwrap();
        let (listed_id, other_id) = (id(&listed), id(&other));
        let missing = dir.path().join("missing.sock");
        let sockets = UnixSockets::new(
            true,
            NetworkMode::Restricted,
            vec![listed.clone(), missing.clone()],
            None,
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
    fn diag_replies_are_read_as_the_kernel_writes_them() {
        let header = |len: u32, kind: u16| {
            let mut bytes = len.to_ne_bytes().to_vec();
            bytes.extend_from_slice(&kind.to_ne_bytes());
            bytes.extend_from_slice(&[0; 10]);
            bytes
        };
        let mut error = header(36, libc::NLMSG_ERROR as u16);
        error.extend_from_slice(&(-libc::ENOENT).to_ne_bytes());
        error.extend_from_slice(&[0; 16]);
        assert_eq!(parse_diag_reply(&error), Err(Errno::ENOENT));
        // An attribute of another kind (UNIX_DIAG_NAME, 5 bytes, padded),
        // then UNIX_DIAG_VFS.
        let mut with_name = header(52, SOCK_DIAG_BY_FAMILY);
        with_name.extend_from_slice(&[0; UNIX_DIAG_MSG]);
        with_name.extend_from_slice(&5u16.to_ne_bytes());
        with_name.extend_from_slice(&0u16.to_ne_bytes());
        with_name.extend_from_slice(&[b'a', 0, 0, 0]);
        with_name.extend_from_slice(&12u16.to_ne_bytes());
        with_name.extend_from_slice(&UNIX_DIAG_VFS.to_ne_bytes());
        with_name.extend_from_slice(&77u32.to_ne_bytes());
        with_name.extend_from_slice(&(8u32 << 20 | 3).to_ne_bytes());
        assert_eq!(
            parse_diag_reply(&with_name),
            Ok(Some(DiagFile {
                ino: 77,
                dev: 8 << 20 | 3
            }))
        );
        assert_eq!(
            DiagFile::of((libc::makedev(8, 3), 77)),
            DiagFile {
                ino: 77,
                dev: 8 << 20 | 3
            }
        );
        // No file: unbound, or abstract.
        let mut bare = header(32, SOCK_DIAG_BY_FAMILY);
        bare.extend_from_slice(&[0; UNIX_DIAG_MSG]);
        assert_eq!(parse_diag_reply(&bare), Ok(None));
        assert_eq!(parse_diag_reply(&[1, 2]), Err(Errno::EIO));
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
            unix_target(&pending.address().unwrap()),
            Some(UnixTarget::Path(format!("/proc/self/fd/{fd}").as_bytes()))
        );
    }
}

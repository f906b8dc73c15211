//! The supervisor's loop: receive a held call, judge and carry it out
//! ([`super::perform`]), answer, and end with the command.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::calls::{DirArg, FileTarget, GuardedCall, UserPtr, decode};
use super::judge::{Judge, Refusal};
use super::open::{self, OnBehalfOf};
use super::paths::in_target_view;
use super::perform::{self, Outcome, Start};
use super::sockets::{
    PendingConnect, UnixSockets, UnixTarget, abstract_spelling, bound_address, socket_domain,
    unix_target,
};
use super::target::{Caller, CallerEntries, CallerProc, View};
use crate::protocol::HELPER_ARGV0;
use codex_sandboxing::protected::{names_in_words, names_with_slashes};

/// The longest extended attribute value the kernel takes.
const XATTR_SIZE_MAX: usize = 65536;

/// The most FIFO opens waiting for their other end at once.
const MAX_FIFO_WAITS: usize = 64;

/// The most connects that may wait (a TCP handshake) carried out at once.
const MAX_CONNECT_WAITS: usize = 256;

/// How descriptors reach the caller: atomically with the answer
/// (`SECCOMP_ADDFD_FLAG_SEND`, Linux 5.14), or added first and answered
/// after (Linux 5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdDelivery {
    /// `SECCOMP_ADDFD_FLAG_SEND`.
    Atomic,
    /// `SECCOMP_IOCTL_NOTIF_ADDFD`, then `SECCOMP_IOCTL_NOTIF_SEND`.
    TwoStep,
}

/// Asks the kernel which [`FdDelivery`] it has, with an ADDFD for a
/// notification id that cannot exist: a kernel that knows the request
/// looks the id up and answers `ENOENT`; one that does not, `EINVAL`.
pub fn probe_fd_delivery(listener: RawFd) -> Result<FdDelivery, NoFdDelivery> {
    let probe = |flags: u32| {
        let addfd = libc::seccomp_notif_addfd {
            id: u64::MAX,
            flags,
            srcfd: 0,
            newfd: 0,
            newfd_flags: 0,
        };
        // SAFETY: the ioctl reads the struct, which lives across the call.
        let result =
            unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &raw const addfd) };
        result < 0 && Errno::last() == Errno::ENOENT
    };
    if probe(libc::SECCOMP_ADDFD_FLAG_SEND as u32) {
        Ok(FdDelivery::Atomic)
    } else if probe(0) {
        Ok(FdDelivery::TwoStep)
    } else {
        Err(NoFdDelivery)
    }
}

/// The kernel cannot hand a descriptor to a held call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this kernel cannot hand descriptors to a held call (SECCOMP_IOCTL_NOTIF_ADDFD, Linux 5.9)"
)]
pub struct NoFdDelivery;

/// The supervisor's state.
#[derive(Debug)]
pub struct Supervisor {
    /// The notification descriptor.
    pub listener: OwnedFd,
    /// How opened descriptors reach the caller.
    pub delivery: FdDelivery,
    /// The mount namespace and root the supervisor resolves paths in.
    pub view: View,
    /// The rules calls are judged by.
    pub judge: Judge,
    /// Whether protected names are guarded (else only sockets are
    /// supervised, and a bound path is not judged).
    pub guards_names: bool,
    /// Which Unix sockets the command may reach.
    pub sockets: UnixSockets,
    /// The callers' procfs entries, kept open between their calls.
    pub entries: CallerEntries,
}

impl Supervisor {
    /// Waits for a held call, then answers it. Returns without one when
    /// the wait was interrupted or the caller died meanwhile; returns
    /// `false` once no process holds the filter any more (the command and
    /// all it started have exited), when there is nothing left to serve.
    pub fn serve_one(&self) -> bool {
        // SAFETY: a zeroed seccomp_notif is what RECV requires.
        let mut notification: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills the struct, which lives across the call.
        let received = unsafe {
            libc::ioctl(
                self.listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &raw mut notification,
            )
        };
        if received < 0 {
            return !self.abandoned();
        }
        let id = notification.id;
        let caller = Caller {
            tid: i32::try_from(notification.pid).unwrap_or(0),
        };
        let call = decode(i64::from(notification.data.nr), notification.data.args);
        self.entries.notes.call_from(caller.tid);
        let (outcome, flags) = match call {
            Some(GuardedCall::ViewChange) => {
                self.entries.notes.view_change();
                self.responder().continue_call(id);
                return true;
            }
            Some(GuardedCall::Umask) => {
                self.note_umask_change(caller);
                self.responder().continue_call(id);
                return true;
            }
            Some(GuardedCall::InodeFlags) => (Outcome::Failed(Errno::EPERM), 0),
            Some(GuardedCall::Mount) => {
                report_mount(caller);
                (Outcome::Failed(Errno::EPERM), 0)
            }
            Some(GuardedCall::Open { flags, .. }) => (self.carry_out(id, caller, call), flags),
            _ => (self.carry_out(id, caller, call), 0),
        };
        self.answer(id, caller, call, outcome, flags);
        true
    }

    /// Whether no process holds the filter any more: RECV then fails at
    /// once, and the listener reports a hang-up.
    fn abandoned(&self) -> bool {
        let mut listener = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut listener, PollTimeout::ZERO).is_ok_and(|ready| ready > 0);
        let events = listener[0].revents().unwrap_or(PollFlags::empty());
        ready && events.contains(PollFlags::POLLHUP) && !events.contains(PollFlags::POLLIN)
    }

    /// Notes that `caller`'s process changes its umask, which is then read
    /// afresh for each of its calls; where its process cannot be told, no
    /// umask is kept at all.
    fn note_umask_change(&self, caller: Caller) {
        match self
            .entries
            .memory_of(caller)
            .and_then(|(entry, _)| entry.tgid())
        {
            Ok(tgid) => self.entries.notes.umask_change(caller.tid, tgid),
            Err(_) => self.entries.notes.view_change(),
        }
    }

    /// Judges and carries out `call` for `caller`, against where the
    /// writable roots are now.
    fn carry_out(&self, id: u64, caller: Caller, call: Option<GuardedCall>) -> Outcome {
        if self.guards_names
            && let Err(err) = self.judge.refresh()
        {
            return Outcome::Failed(err);
        }
        match self.prepare(id, caller, call) {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(err),
        }
    }

    fn prepare(
        &self,
        id: u64,
        caller: Caller,
        call: Option<GuardedCall>,
    ) -> Result<Outcome, Errno> {
        let Some(call) = call else {
            return Err(Errno::ENOSYS);
        };
        let (entry, memory) = match self.entries.memory_of(caller) {
            // Not found in the outer stage's procfs though still waiting:
            // a thread in a PID namespace of its own ([`super::procfs`]).
            Err(Errno::ESRCH) if self.id_valid(id) => {
                report_unseen(caller);
                return Err(Errno::EPERM);
            }
            found => found?,
        };
        if let GuardedCall::Connect { socket, addr, len } = call {
            return self.connect(id, caller, &entry, &memory, (socket, addr, len));
        }
        if let GuardedCall::Listen { socket, backlog } = call {
            return self.listen(id, caller, &entry, socket, backlog);
        }
        if !entry.shares_view(self.view)? {
            return self.serve_other_view(id, caller, &entry, &memory, call);
        }
        // A path argument, copied and spelled for the supervisor, with the
        // directory a relative one starts from held open: opened once per
        // call for the two names of a rename or link that share it.
        let opened: RefCell<Option<(DirArg, Rc<OwnedFd>)>> = RefCell::default();
        let locate = |dir: DirArg, ptr: UserPtr| -> Result<Located, Errno> {
            let path = target_view(&CallerProc::read_path(&memory, ptr)?, caller);
            let start_dir = if path.to_bytes().starts_with(b"/") {
                None
            } else if let Some((_, fd)) = opened.borrow().as_ref().filter(|(arg, _)| *arg == dir) {
                Some(Rc::clone(fd))
            } else {
                let fd = Rc::new(entry.start_dir(dir)?);
                *opened.borrow_mut() = Some((dir, Rc::clone(&fd)));
                Some(fd)
            };
            let from = start_dir.as_deref().map_or(Start::CWD, Start::of);
            Ok(Located {
                path,
                from,
                _start_dir: start_dir,
            })
        };
        // The file a mode, owner, times or attribute change names, open
        // `O_PATH` (the link itself when not following one), and how the
        // command named it.
        let file_target = |target: FileTarget| -> Result<(OwnedFd, Vec<u8>), Errno> {
            match target {
                FileTarget::Path {
                    dir,
                    path,
                    follow,
                    empty_path,
                } => {
                    let at = locate(dir, path)?;
                    if at.path.is_empty() {
                        if !empty_path {
                            return Err(Errno::ENOENT);
                        }
                        return Ok((entry.start_dir(dir)?, b"its directory".to_vec()));
                    }
                    let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
                    let file = perform::open_at(at.from, at.path.to_bytes(), flags, 0)?;
                    Ok((file, at.path.to_bytes().to_vec()))
                }
                FileTarget::Fd(fd) => Ok((
                    entry.start_dir(DirArg::Fd(fd))?,
                    format!("descriptor {fd}").into_bytes(),
                )),
            }
        };
        // An extended attribute's file: a symbolic link itself takes none
        // (`EPERM`: user attributes are refused on links, the others need
        // capabilities the command lacks; and no `self/fd/N` path leads to
        // a link rather than through it).
        let xattr_target = |target: FileTarget| -> Result<(OwnedFd, Vec<u8>), Errno> {
            let (file, named) = file_target(target)?;
            if perform::file_type(&file)? == libc::S_IFLNK {
                return Err(Errno::EPERM);
            }
            Ok((file, named))
        };
        // Everything a call needs is gathered before `self.check(id)`: the
        // caller must still be the thread that made it, or it all belongs
        // to another process that reused its id.
        let outcome = match call {
            GuardedCall::Open {
                dir,
                path,
                flags,
                mode,
            } => {
                let at = locate(dir, path)?;
                self.check(id)?;
                // The umask is read only if something is created, and then
                // checked to be the caller's like the rest.
                let umask = || {
                    let umask = entry.umask()?;
                    self.check(id)?;
                    Ok(umask)
                };
                // So is the process id, only where a procfs entry is at
                // stake.
                let tgid = || {
                    let tgid = entry.tgid()?;
                    self.check(id)?;
                    Ok(tgid)
                };
                let on_behalf_of = OnBehalfOf {
                    tid: caller.tid,
                    tgid: &tgid,
                };
                if flags & libc::O_CREAT != 0 {
                    open::open_creating(
                        &self.judge,
                        at.from,
                        &at.path,
                        flags,
                        mode,
                        on_behalf_of,
                        umask,
                    )
                } else if flags & libc::O_TMPFILE == libc::O_TMPFILE {
                    open::open_tmpfile(&self.judge, at.from, &at.path, flags, mode, umask)
                } else {
                    open::open_writing(&self.judge, at.from, &at.path, flags, on_behalf_of)
                }
            }
            GuardedCall::Unlink { dir, path, flags } => {
                let at = locate(dir, path)?;
                self.check(id)?;
                perform::unlink(&self.judge, at.from, &at.path, flags)
            }
            GuardedCall::Truncate { path, length } => {
                let at = locate(DirArg::Cwd, path)?;
                self.check(id)?;
                open::truncate(&self.judge, at.from, &at.path, length)
            }
            GuardedCall::Chmod { target, mode } => {
                let (existing, named) = file_target(target)?;
                self.check(id)?;
                open::chmod(&self.judge, &existing, mode, &named)
            }
            GuardedCall::Chown { target, uid, gid } => {
                let (existing, named) = file_target(target)?;
                self.check(id)?;
                open::chown(&self.judge, &existing, (uid, gid), &named)
            }
            GuardedCall::Utimes { target, times } => {
                let bytes = match times.location() {
                    Some((ptr, len)) => CallerProc::read_bytes(&memory, ptr, len)?,
                    None => Vec::new(),
                };
                let times = times.decode(&bytes)?;
                let (existing, named) = file_target(target)?;
                self.check(id)?;
                open::set_times(&self.judge, &existing, times, &named)
            }
            GuardedCall::SetXattr {
                target,
                name,
                value,
                size,
                flags,
            } => {
                let name = CallerProc::read_path(&memory, name)?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|&size| size <= XATTR_SIZE_MAX)
                    .ok_or(Errno::E2BIG)?;
                let value = if size == 0 {
                    Vec::new()
                } else {
                    CallerProc::read_bytes(&memory, value, size)?
                };
                let (existing, named) = xattr_target(target)?;
                self.check(id)?;
                open::change_xattr(&self.judge, &existing, &name, Some((&value, flags)), &named)
            }
            GuardedCall::RemoveXattr { target, name } => {
                let name = CallerProc::read_path(&memory, name)?;
                let (existing, named) = xattr_target(target)?;
                self.check(id)?;
                open::change_xattr(&self.judge, &existing, &name, None, &named)
            }
            GuardedCall::Mkdir { dir, path, mode } => {
                let at = locate(dir, path)?;
                let umask = entry.umask()?;
                self.check(id)?;
                perform::with_umask(umask, || {
                    perform::mkdir(&self.judge, at.from, &at.path, mode)
                })
            }
            GuardedCall::Mknod {
                dir,
                path,
                mode,
                dev,
            } => {
                let at = locate(dir, path)?;
                let umask = entry.umask()?;
                self.check(id)?;
                perform::with_umask(umask, || {
                    perform::mknod(&self.judge, at.from, &at.path, mode, dev)
                })
            }
            GuardedCall::Symlink { target, dir, path } => {
                // The link's text is data: kept exactly as written.
                let target = CallerProc::read_path(&memory, target)?;
                let at = locate(dir, path)?;
                self.check(id)?;
                perform::symlink(&self.judge, &target, at.from, &at.path)
            }
            GuardedCall::Link {
                old_dir,
                old,
                new_dir,
                new,
                flags,
            } => {
                // An empty `old` (with AT_EMPTY_PATH) starts, and ends, at
                // `old_dir`: the copy of the caller's descriptor.
                let (old, new) = (locate(old_dir, old)?, locate(new_dir, new)?);
                self.check(id)?;
                perform::link(&self.judge, old.from, &old.path, new.from, &new.path, flags)
            }
            GuardedCall::Rename {
                old_dir,
                old,
                new_dir,
                new,
                flags,
            } => {
                let (old, new) = (locate(old_dir, old)?, locate(new_dir, new)?);
                self.check(id)?;
                perform::rename(&self.judge, old.from, &old.path, new.from, &new.path, flags)
            }
            GuardedCall::Bind { socket, addr, len } => {
                let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
                if len > SOCKADDR_STORAGE {
                    return Err(Errno::EINVAL);
                }
                let addr = CallerProc::read_bytes(&memory, addr, len)?;
                let target = unix_target(&addr);
                // An address of the family alone asks the kernel to choose
                // an abstract name: the host's too.
                let abstract_name = match target {
                    Some(UnixTarget::Abstract(name)) => Some(abstract_spelling(name)),
                    Some(UnixTarget::Unnamed) => Some(b"(chosen by the kernel)".to_vec()),
                    _ => None,
                };
                if let Some(name) = abstract_name
                    && self.sockets.abstract_names_are_the_hosts
                {
                    self.sockets.report_abstract_bind(&name, caller.tid);
                    return Err(Errno::EACCES);
                }
                let path = target.and_then(UnixTarget::path);
                let cwd = match path {
                    Some(path) if !path.starts_with(b"/") => Some(entry.start_dir(DirArg::Cwd)?),
                    _ => None,
                };
                let umask = match path {
                    Some(_) => entry.umask()?,
                    None => 0,
                };
                let socket = entry.descriptor(socket)?;
                self.check(id)?;
                perform::with_umask(umask, || {
                    perform::bind(
                        self.guards_names.then_some(&self.judge),
                        &socket,
                        &addr,
                        cwd.as_ref(),
                        &self.sockets,
                    )
                })
            }
            // Answered before any of this: by `serve_one` (mounts, inode
            // flags, the calls only noted) or above (connect, listen).
            GuardedCall::Mount
            | GuardedCall::InodeFlags
            | GuardedCall::Connect { .. }
            | GuardedCall::Listen { .. }
            | GuardedCall::Umask
            | GuardedCall::ViewChange => {
                return Err(Errno::ENOSYS);
            }
        };
        Ok(outcome)
    }

    /// `listen` on the caller's socket `fd`, refused on one whose name is
    /// abstract while abstract names are the host's (the kernel names one
    /// on `connect` for a socket with `SO_PASSCRED`).
    fn listen(
        &self,
        id: u64,
        caller: Caller,
        entry: &CallerProc,
        fd: i32,
        backlog: i32,
    ) -> Result<Outcome, Errno> {
        let socket = entry.descriptor(fd)?;
        if self.sockets.abstract_names_are_the_hosts
            && let Some(UnixTarget::Abstract(name)) =
                bound_address(&socket).as_deref().and_then(unix_target)
        {
            self.sockets
                .report_abstract_bind(&abstract_spelling(name), caller.tid);
            return Err(Errno::EACCES);
        }
        self.check(id)?;
        // SAFETY: listen(2) on a descriptor this process owns.
        let result = unsafe { libc::listen(socket.as_raw_fd(), backlog) };
        Ok(Errno::result(result).map(|_| 0).into())
    }

    /// `connect` of the caller's socket `fd` to the address at `addr`
    /// (`len` bytes), as [`super::sockets`] describes: copied once,
    /// carried out on a copy of the socket, to a Unix socket only when the
    /// file the path leads to may be reached.
    fn connect(
        &self,
        id: u64,
        caller: Caller,
        entry: &CallerProc,
        memory: &std::fs::File,
        (fd, addr, len): (i32, UserPtr, u32),
    ) -> Result<Outcome, Errno> {
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        if len > SOCKADDR_STORAGE {
            return Err(Errno::EINVAL);
        }
        let addr = CallerProc::read_bytes(memory, addr, len)?;
        let socket = entry.descriptor(fd)?;
        let is_unix = || socket_domain(&socket) == Ok(libc::AF_UNIX);
        let path = match unix_target(&addr) {
            Some(UnixTarget::Path(path)) if is_unix() => path,
            Some(UnixTarget::Abstract(name))
                if self.sockets.abstract_names_are_the_hosts && is_unix() =>
            {
                self.sockets
                    .report_abstract_connect(&abstract_spelling(name), caller.tid);
                return Err(Errno::EACCES);
            }
            // Connected as asked: another family's socket reaches no Unix
            // socket whatever the address says; the kernel refuses a Unix
            // socket given another family's address or no name; inside a
            // network namespace of the sandbox's own every abstract name
            // is the sandbox's.
            _ => {
                self.check(id)?;
                return Ok(Outcome::Connect(PendingConnect::to_address(socket, addr)));
            }
        };
        if !entry.shares_view(self.view)? {
            report_nested(caller);
            return Err(Errno::EPERM);
        }
        let spelled = target_view(&CString::new(path).map_err(|_| Errno::EINVAL)?, caller);
        let start_dir = if spelled.to_bytes().starts_with(b"/") {
            None
        } else {
            Some(entry.start_dir(DirArg::Cwd)?)
        };
        let from = start_dir.as_ref().map_or(Start::CWD, Start::of);
        // Followed to the end, as connect follows it; O_PATH needs no
        // permission on the file itself.
        let file = perform::open_at(from, spelled.to_bytes(), libc::O_PATH, 0)?;
        let stat = nix::sys::stat::fstat(&file)?;
        if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(Errno::ECONNREFUSED);
        }
        if !self.sockets.may_connect((stat.st_dev, stat.st_ino)) {
            self.sockets.report_connect(path, caller.tid);
            return Err(Errno::EACCES);
        }
        self.check(id)?;
        Ok(Outcome::Connect(PendingConnect::to_file(socket, file)))
    }

    /// A call made in a mount namespace or root of the caller's own (a
    /// nested sandbox), where its paths may mean something else: only an
    /// open for writing of the caller's own procfs entry is served (what
    /// `unshare -r` writes: `uid_map`, `gid_map`, `setgroups`), since
    /// `/proc/TID` names that very process in either view. Anything else
    /// is refused.
    fn serve_other_view(
        &self,
        id: u64,
        caller: Caller,
        entry: &CallerProc,
        memory: &std::fs::File,
        call: GuardedCall,
    ) -> Result<Outcome, Errno> {
        if let GuardedCall::Open { path, flags, .. } = call
            && flags & (libc::O_CREAT | libc::O_TMPFILE) == 0
        {
            let path = target_view(&CallerProc::read_path(memory, path)?, caller);
            let own = format!("/proc/{}/", caller.tid);
            if path.to_bytes().starts_with(own.as_bytes()) {
                let tgid = entry.tgid()?;
                self.check(id)?;
                return Ok(open::open_writing(
                    &self.judge,
                    Start::CWD,
                    &path,
                    flags,
                    OnBehalfOf {
                        tid: caller.tid,
                        tgid: &|| Ok(tgid),
                    },
                ));
            }
        }
        report_nested(caller);
        Err(Errno::EPERM)
    }

    /// `Ok` while the notification `id` is still pending.
    fn check(&self, id: u64) -> Result<(), Errno> {
        if self.id_valid(id) {
            Ok(())
        } else {
            Err(Errno::ESRCH)
        }
    }

    fn id_valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads the u64, which lives across the call.
        unsafe {
            libc::ioctl(
                self.listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &raw const id,
            ) == 0
        }
    }

    /// Sends the answer. A refusal is also reported on stderr, naming the
    /// path as the command wrote it.
    fn answer(
        &self,
        id: u64,
        caller: Caller,
        call: Option<GuardedCall>,
        outcome: Outcome,
        flags: i32,
    ) {
        match outcome {
            Outcome::Done(value) => self.send(id, value, 0),
            Outcome::Failed(err) => self.send(id, 0, err as i32),
            Outcome::Refused(path, refusal) => {
                report_refusal(caller, call, &path, refusal);
                self.send(id, 0, refusal.errno() as i32);
            }
            Outcome::Opened(fd) => self.deliver(id, &fd, flags),
            Outcome::FifoToReopen(existing, flags) => self.reopen_fifo(id, existing, flags),
            Outcome::Connect(pending) => self.connect_for(id, pending),
        }
    }

    /// Carries out a connect and answers, on a thread of its own (at most
    /// [`MAX_CONNECT_WAITS`] at once), so a slow handshake or a full
    /// backlog never holds up other calls. Always: whether the socket
    /// would wait is the command's to change (`O_NONBLOCK`) between a
    /// check and the call.
    fn connect_for(&self, id: u64, pending: PendingConnect) {
        static WAITING: AtomicUsize = AtomicUsize::new(0);
        let responder = self.responder();
        answer_on_a_thread(
            &WAITING,
            MAX_CONNECT_WAITS,
            "guard-connect",
            responder,
            id,
            move || match pending.connect() {
                Ok(()) => responder.send(id, 0, 0),
                Err(err) => responder.send(id, 0, err as i32),
            },
        );
    }

    /// Opens an existing FIFO for the caller on a thread of its own:
    /// opening one waits for its other end, which another held call may be
    /// about to open, so never in the loop. At most [`MAX_FIFO_WAITS`]
    /// wait at once.
    fn reopen_fifo(&self, id: u64, existing: OwnedFd, flags: i32) {
        static WAITING: AtomicUsize = AtomicUsize::new(0);
        let responder = self.responder();
        answer_on_a_thread(
            &WAITING,
            MAX_FIFO_WAITS,
            "guard-fifo",
            responder,
            id,
            move || match open::reopen(&existing, flags) {
                Ok(fd) => responder.deliver(id, &fd, flags),
                Err(err) => responder.send(id, 0, err as i32),
            },
        );
    }

    fn send(&self, id: u64, value: i64, error: i32) {
        self.responder().send(id, value, error);
    }

    fn deliver(&self, id: u64, fd: &OwnedFd, flags: i32) {
        self.responder().deliver(id, fd, flags);
    }

    fn responder(&self) -> Responder {
        Responder {
            listener: self.listener.as_raw_fd(),
            delivery: self.delivery,
        }
    }
}

/// Runs `answer` (which answers the held call `id`) on a thread named
/// `name`, counted in `waiting`: with `max` already waiting, or no thread
/// to be had, the call fails with `EAGAIN` instead.
fn answer_on_a_thread(
    waiting: &'static AtomicUsize,
    max: usize,
    name: &str,
    responder: Responder,
    id: u64,
    answer: impl FnOnce() + Send + 'static,
) {
    if waiting.fetch_add(1, Ordering::SeqCst) >= max {
        waiting.fetch_sub(1, Ordering::SeqCst);
        responder.send(id, 0, libc::EAGAIN);
        return;
    }
    let started = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            answer();
            waiting.fetch_sub(1, Ordering::SeqCst);
        });
    if started.is_err() {
        waiting.fetch_sub(1, Ordering::SeqCst);
        responder.send(id, 0, libc::EAGAIN);
    }
}

/// Answers held calls; copied into the threads that open FIFOs and connect. The
/// listener outlives them: the supervisor never closes it.
#[derive(Debug, Clone, Copy)]
struct Responder {
    listener: RawFd,
    delivery: FdDelivery,
}

impl Responder {
    /// Answers `id` with a return value, or with `-error` when non-zero.
    /// A failed answer means the caller is gone: nothing to do.
    fn send(self, id: u64, value: i64, error: i32) {
        self.respond(id, value, error, 0);
    }

    /// Lets the kernel carry out `id` as the caller made it. Only for calls
    /// the guard notes but never judges, which name no path it checks
    /// ([`GuardedCall::Umask`], [`GuardedCall::ViewChange`]): a path the
    /// caller could rewrite before the kernel reads it again is never let
    /// through so.
    fn continue_call(self, id: u64) {
        self.respond(id, 0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32);
    }

    /// Sends the answer to `id`. A failed answer means the caller is gone:
    /// nothing to do.
    fn respond(self, id: u64, value: i64, error: i32, flags: u32) {
        let response = libc::seccomp_notif_resp {
            id,
            val: value,
            error: -error,
            flags,
        };
        // SAFETY: SEND reads the struct, which lives across the call.
        unsafe {
            libc::ioctl(
                self.listener,
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &raw const response,
            )
        };
    }

    /// Installs `fd` in the caller (close-on-exec if the open asked for
    /// it) and answers with its number there.
    fn deliver(self, id: u64, fd: &OwnedFd, flags: i32) {
        let newfd_flags = if flags & libc::O_CLOEXEC != 0 {
            libc::O_CLOEXEC as u32
        } else {
            0
        };
        let mut addfd = libc::seccomp_notif_addfd {
            id,
            flags: 0,
            srcfd: u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX),
            newfd: 0,
            newfd_flags,
        };
        if self.delivery == FdDelivery::Atomic {
            addfd.flags = libc::SECCOMP_ADDFD_FLAG_SEND as u32;
        }
        // SAFETY: ADDFD reads the struct, which lives across the call.
        let installed = unsafe {
            libc::ioctl(
                self.listener,
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                &raw const addfd,
            )
        };
        match (self.delivery, installed) {
            (_, ..0) => self.send(id, 0, Errno::last() as i32),
            (FdDelivery::Atomic, _) => {}
            (FdDelivery::TwoStep, number) => self.send(id, i64::from(number), 0),
        }
    }
}

/// A path argument of a held call, ready to be used by the supervisor.
struct Located {
    /// The path, copied and respelled ([`target_view`]).
    path: CString,
    /// Where it starts: `start_dir`, or `AT_FDCWD` for an absolute path.
    from: Start,
    /// Held open while `from` names it.
    _start_dir: Option<Rc<OwnedFd>>,
}

/// `sizeof(struct sockaddr_storage)`: the longest address `bind` takes.
const SOCKADDR_STORAGE: usize = 128;

/// A path of the caller's spelled for the supervisor.
fn target_view(path: &CStr, caller: Caller) -> CString {
    match in_target_view(path.to_bytes(), caller.tid) {
        std::borrow::Cow::Borrowed(_) => path.to_owned(),
        // The rewrite only adds ASCII digits and letters: no NUL.
        std::borrow::Cow::Owned(bytes) => CString::new(bytes).unwrap_or_else(|_| path.to_owned()),
    }
}

fn report_refusal(caller: Caller, call: Option<GuardedCall>, path: &[u8], refusal: Refusal) {
    let call = match call {
        Some(GuardedCall::Mkdir { .. }) => "mkdir",
        Some(GuardedCall::Mknod { .. }) => "mknod",
        Some(GuardedCall::Rename { .. }) => "rename",
        Some(GuardedCall::Link { .. }) => "link",
        Some(GuardedCall::Symlink { .. }) => "symlink",
        Some(GuardedCall::Bind { .. }) => "bind",
        Some(GuardedCall::Connect { .. }) => "connect",
        Some(GuardedCall::Listen { .. }) => "listen",
        Some(GuardedCall::Truncate { .. }) => "truncate",
        Some(GuardedCall::Chmod { .. }) => "chmod",
        Some(GuardedCall::Chown { .. }) => "chown",
        Some(GuardedCall::Utimes { .. }) => "utimes",
        Some(GuardedCall::SetXattr { .. } | GuardedCall::RemoveXattr { .. }) => "xattr",
        Some(GuardedCall::Unlink { .. }) => "unlink",
        _ => "open",
    };
    let path = String::from_utf8_lossy(path);
    let process = caller.tid;
    match refusal {
        Refusal::NewName => eprintln!(
            "{HELPER_ARGV0}: refused to create {path} ({call} by process {process}): a new {} \
             would be trusted by tools outside the sandbox; --disable guard_protected_names \
             allows it",
            names_with_slashes()
        ),
        Refusal::Inside => eprintln!(
            "{HELPER_ARGV0}: refused to change {path} ({call} by process {process}): it lies in \
             an existing {} of the workspace, which stays read-only",
            names_with_slashes()
        ),
        Refusal::MovesRoot => eprintln!(
            "{HELPER_ARGV0}: refused to move or remove {path} ({call} by process {process}): it is a \
             writable root of the sandbox or lies above one"
        ),
        Refusal::Unsure => eprintln!(
            "{HELPER_ARGV0}: refused to change {path} ({call} by process {process}): whether it \
             lies in a git directory could not be told, a directory on its way moved meanwhile; \
             try again"
        ),
        Refusal::HoldsProtected => eprintln!(
            "{HELPER_ARGV0}: refused to move {path} ({call} by process {process}): it holds a \
             repository or a {} at some depth, and its path would be left free for a planted one",
            names_with_slashes()
        ),
        Refusal::NewRepository => eprintln!(
            "{HELPER_ARGV0}: refused to create {path} ({call} by process {process}): it would \
             make its directory a git repository (HEAD beside objects and refs, or commondir), \
             which host git would trust under any name; make repositories in a temporary root"
        ),
        // What a read-only mount answers in the bubblewrap pipeline, and
        // Landlock's refusals, are silent: so is this.
        Refusal::ReadOnly => {}
        Refusal::HostPrivilege => eprintln!(
            "{HELPER_ARGV0}: refused to set a security attribute on {path} ({call} by process \
             {process}): without a user namespace the host would honour it (a file capability)"
        ),
        Refusal::Foreign => eprintln!(
            "{HELPER_ARGV0}: refused to change {path} ({call} by process {process}): it lies on a \
             mount of another mount namespace (a nested sandbox's), where the guard cannot tell \
             what it is; --disable guard_protected_names allows it"
        ),
    }
}

fn report_mount(caller: Caller) {
    eprintln!(
        "{HELPER_ARGV0}: refused a filesystem mount of process {} (in a namespace of its own): \
         an overlay's copy-up could create {} where the guard holds no call; \
         --disable guard_protected_names allows it",
        caller.tid,
        names_with_slashes()
    );
}

fn report_unseen(caller: Caller) {
    eprintln!(
        "{HELPER_ARGV0}: refused a held call of thread {} made in a PID namespace of its own, which a \
         sandbox without its own /proc cannot follow; run where bwrap may mount /proc (a container \
         with --security-opt systempaths=unconfined), or --disable guard_protected_names",
        caller.tid,
    );
}

fn report_nested(caller: Caller) {
    eprintln!(
        "{HELPER_ARGV0}: refused a path-creating call of process {} made in a mount namespace or root \
         of its own (a nested sandbox?), where the guard for new {} cannot \
         follow it; --disable guard_protected_names allows it",
        caller.tid,
        names_in_words()
    );
}

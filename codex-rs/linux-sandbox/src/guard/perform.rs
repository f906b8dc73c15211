//! Carrying out an allowed call in the supervisor, on the copy of the
//! caller's strings the supervisor checked: the kernel then resolves the
//! very names that were judged, whatever the command's other threads
//! write into its memory meanwhile.
//!
//! The calls that make an entry without following a symbolic link in its
//! last component (`mkdir`, `mknod`, `symlink`, `link`, `rename`, `bind`)
//! open the directory the entry goes in first, judge it
//! ([`super::judge`]) and are made in that very directory; a link's and a
//! rename's source is judged too. The opens are in [`super::open`].
//!
//! A directory made in a temporary root, where repositories may be
//! created, is never renamed into a project root, where they may not: such
//! a rename fails with `EXDEV`, as between two filesystems, and `mv` then
//! copies, one judged creation at a time. Judging and carrying out are one
//! step for the command: the supervisor serves one call at a time, and
//! every call that could create or move an entry waits for it.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{Mode, SFlag, fstat, fstatat, mkdirat, mknodat, umask};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use nix::unistd::{UnlinkatFlags, chdir, fchdir, linkat, symlinkat, unlinkat};

use super::git_dirs::{self, Holds};
use super::judge::{Existing, Judge, NewEntry, Refusal, Unjudged};
use super::mounts;
use super::procfs::procfs;
use super::roots::Area;
use super::sockets::{PendingConnect, UnixSockets, UnixTarget, unix_target};

/// Where a relative path starts: a directory descriptor, or `AT_FDCWD`
/// for an absolute path (the supervisor shares the caller's root).
#[derive(Debug, Clone, Copy)]
pub struct Start(RawFd);

impl Start {
    /// `AT_FDCWD`: the supervisor's working directory, `/`, for absolute
    /// paths.
    pub const CWD: Start = Start(libc::AT_FDCWD);

    /// The directory `dir`, which whoever makes the `Start` keeps open for
    /// as long as it is used.
    pub fn of(dir: &OwnedFd) -> Start {
        Start(dir.as_raw_fd())
    }

    /// The directory `dir`, borrowed for as long as the `Start` is used.
    pub fn of_borrowed(dir: BorrowedFd<'_>) -> Start {
        Start(dir.as_raw_fd())
    }

    /// The descriptor for an `*at` call.
    fn fd(self) -> BorrowedFd<'static> {
        // SAFETY: a `Start` is `AT_FDCWD`, which every `*at` call takes, or
        // made by `Start::of` from a descriptor its maker holds open while
        // the `Start` is in use (the located start directory, a followed
        // link's directory); the borrow lasts one call.
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

/// What a carried-out call came to.
#[derive(Debug)]
pub enum Outcome {
    /// Success; the call's return value.
    Done(i64),
    /// An open succeeded; this descriptor goes to the caller.
    Opened(OwnedFd),
    /// An open of an existing FIFO, which blocks until the other end is
    /// opened: to be reopened with these flags away from the loop.
    FifoToReopen(OwnedFd, i32),
    /// A `connect` to carry out for the caller, away from the loop when it
    /// may wait.
    Connect(PendingConnect),
    /// The call failed with this error, as it would have in the kernel.
    Failed(Errno),
    /// The call was refused; the path it named, as the command wrote it,
    /// and why.
    Refused(Vec<u8>, Refusal),
}

impl From<Result<i64, Errno>> for Outcome {
    fn from(result: Result<i64, Errno>) -> Self {
        result.map_or_else(Outcome::Failed, Outcome::Done)
    }
}

/// Runs `create` with the process umask set to `umask`, as the caller's
/// own call would have run; the supervisor's umask is restored after.
/// The supervisor's loop is the only thread that creates entries.
pub fn with_umask<T>(mask: libc::mode_t, create: impl FnOnce() -> T) -> T {
    let previous = umask(Mode::from_bits_retain(mask));
    let result = create();
    umask(previous);
    result
}

/// `mkdirat`. An entry that exists already gets the kernel's `EEXIST`
/// whatever its name (`mkdir -p` of an existing `.git` expects it), without
/// a call that could create it were it removed meanwhile.
pub fn mkdir(judge: &Judge, start: Start, path: &CStr, mode: u32) -> Outcome {
    let mode = Mode::from_bits_retain(mode);
    let entry = match judge.locate(start, path) {
        Err(outcome) => return outcome,
        Ok(None) => return done(mkdirat(start.fd(), path, mode)),
        Ok(Some(entry)) => entry,
    };
    if fstatat(
        &entry.dir,
        entry.name.as_c_str(),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .is_ok()
    {
        return Outcome::Failed(Errno::EEXIST);
    }
    if let Err(refusal) = judge.judge_new(entry.dir.as_fd(), &entry.dir_path, entry.name.to_bytes())
    {
        return Outcome::Refused(path.to_bytes().to_vec(), refusal);
    }
    done(mkdirat(&entry.dir, entry.name.as_c_str(), mode))
}

/// `mknodat`.
pub fn mknod(judge: &Judge, start: Start, path: &CStr, mode: u32, dev: u64) -> Outcome {
    let kind = SFlag::from_bits_retain(mode & libc::S_IFMT);
    let perm = Mode::from_bits_retain(mode & !libc::S_IFMT);
    match judge.new_entry(start, path) {
        Err(outcome) => outcome,
        Ok(None) => done(mknodat(start.fd(), path, kind, perm, dev)),
        Ok(Some(entry)) => done(mknodat(&entry.dir, entry.name.as_c_str(), kind, perm, dev)),
    }
}

/// `symlinkat`: `target` is only the link's text, never looked up here.
pub fn symlink(judge: &Judge, target: &CStr, start: Start, path: &CStr) -> Outcome {
    match judge.new_entry(start, path) {
        Err(outcome) => outcome,
        Ok(None) => done(symlinkat(target, start.fd(), path)),
        Ok(Some(entry)) => done(symlinkat(target, &entry.dir, entry.name.as_c_str())),
    }
}

/// `linkat`. An empty `old` with `AT_EMPTY_PATH` links the file
/// `old_start` itself is open on (a copy of the caller's descriptor).
/// The file linked must not lie inside a protected entry: a second name
/// for `.git/config` outside it would write the same file.
pub fn link(
    judge: &Judge,
    old_start: Start,
    old: &CStr,
    new_start: Start,
    new: &CStr,
    flags: i32,
) -> Outcome {
    let source = match judge_link_source(judge, old_start, old, flags) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    let (new_dir, new_name) = match judge.new_entry(new_start, new) {
        Err(outcome) => return outcome,
        Ok(None) => (new_start.fd(), new.to_owned()),
        Ok(Some(entry)) => {
            let name = entry.name.clone();
            return link_judged(&source, old_start, old, flags, entry.dir.as_fd(), &name);
        }
    };
    link_judged(&source, old_start, old, flags, new_dir, &new_name)
}

/// Makes the link from what was judged: the source's own descriptor,
/// through this process's `self/fd/N` link to it, never the caller's path
/// again (another process could change what that path leads to in
/// between, through `/proc/PID/cwd` or `/proc/PID/fd`); or, for
/// `AT_EMPTY_PATH`, the judged start directory itself.
fn link_judged(
    source: &Option<OwnedFd>,
    old_start: Start,
    old: &CStr,
    flags: i32,
    new_dir: BorrowedFd<'_>,
    new: &CStr,
) -> Outcome {
    match source {
        Some(source) => done(procfs().link_fd(source, new_dir, new)),
        None => done(linkat(
            old_start.fd(),
            old,
            new_dir,
            new,
            AtFlags::from_bits_retain(flags),
        )),
    }
}

/// Refuses a link whose source lies inside a protected entry; else the
/// source, open `O_PATH` (`None` for `AT_EMPTY_PATH`: the start directory
/// itself, judged here).
fn judge_link_source(
    judge: &Judge,
    start: Start,
    old: &CStr,
    flags: i32,
) -> Result<Option<OwnedFd>, Outcome> {
    let unjudged = |unjudged: Unjudged| unjudged.outcome(old.to_bytes());
    let refused = |refusal| Outcome::Refused(old.to_bytes().to_vec(), refusal);
    if old.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        if start.0 == libc::AT_FDCWD {
            // The supervisor's working directory, `/`: the kernel answers.
            return Ok(None);
        }
        let source_path = judge.path_of(start.fd()).map_err(unjudged)?;
        return judge
            .judge_existing(Existing::Open(start.fd()), &source_path)
            .map(|()| None)
            .map_err(refused);
    }
    let follow = if flags & libc::AT_SYMLINK_FOLLOW != 0 {
        0
    } else {
        libc::O_NOFOLLOW
    };
    // An error here is the kernel's error for the link too.
    let source =
        open_at(start, old.to_bytes(), libc::O_PATH | follow, 0).map_err(Outcome::Failed)?;
    let source_path = judge.path_of(&source).map_err(unjudged)?;
    judge
        .judge_existing(Existing::Open(source.as_fd()), &source_path)
        .map(|()| Some(source))
        .map_err(refused)
}

/// `renameat2`. The new name is judged as a new entry and the entry moved
/// as an existing one; an exchange also gives `old`'s name to what was at
/// `new`, so then both are judged both ways. Neither side may be a
/// writable root or lie above one. A directory that would move into a
/// project root from anywhere else gets `EXDEV`.
pub fn rename(
    judge: &Judge,
    old_start: Start,
    old: &CStr,
    new_start: Start,
    new: &CStr,
    flags: u32,
) -> Outcome {
    let exchange = flags & libc::RENAME_EXCHANGE != 0;
    let located = judge.locate(old_start, old).and_then(|old_entry| {
        judge
            .locate(new_start, new)
            .map(|new_entry| (old_entry, new_entry))
    });
    let (old_entry, new_entry) = match located {
        Ok(entries) => entries,
        Err(outcome) => return outcome,
    };
    let refuse = |path: &CStr, refusal| Outcome::Refused(path.to_bytes().to_vec(), refusal);
    if flags & libc::RENAME_NOREPLACE != 0
        && let Some(entry) = &new_entry
        && nix::sys::stat::fstatat(
            &entry.dir,
            entry.name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok()
    {
        // Nothing would be replaced: the kernel's answer, whatever is there
        // (`mv x ws/` asks this of the workspace itself first).
        return Outcome::Failed(Errno::EEXIST);
    }
    for (entry, path) in [(&old_entry, old), (&new_entry, new)] {
        if let Some(entry) = entry
            && judge.roots().is_root_or_above(&entry.path())
        {
            return refuse(path, Refusal::MovesRoot);
        }
    }
    let judge_new = |entry: &NewEntry| {
        judge.judge_new(entry.dir.as_fd(), &entry.dir_path, entry.name.to_bytes())
    };
    let judge_existing =
        |entry: &NewEntry| judge.judge_existing(Existing::Entry(entry), &entry.path());
    if let Some(entry) = &new_entry {
        if let Err(refusal) = judge_new(entry) {
            return refuse(new, refusal);
        }
        if exchange && let Err(refusal) = judge_existing(entry) {
            return refuse(new, refusal);
        }
    }
    if let Some(entry) = &old_entry {
        if let Err(refusal) = judge_existing(entry) {
            return refuse(old, refusal);
        }
        if exchange && let Err(refusal) = judge_new(entry) {
            return refuse(old, refusal);
        }
    }
    let moved = [Some(&old_entry), exchange.then_some(&new_entry)];
    for (entry, path) in moved.into_iter().flatten().zip([old, new]) {
        if let Some(entry) = entry
            && let Some(outcome) = refuse_moving_a_repository(judge, entry, path)
        {
            return outcome;
        }
    }
    if let (Some(from), Some(to)) = (&old_entry, &new_entry) {
        // Only a project root's own directories may move into one: one
        // from scratch space may hold a repository, and one from where
        // the guard cannot tell may too.
        let into_project = |moved: &NewEntry, target: &NewEntry| {
            judge.roots().area_of(&target.dir_path) == Area::Project
                && judge.roots().area_of(&moved.dir_path) != Area::Project
                && is_directory(moved.dir.as_fd(), &moved.name)
        };
        if into_project(from, to) || (exchange && into_project(to, from)) {
            return Outcome::Failed(Errno::EXDEV);
        }
    }
    let (old_dir, old_name) = at(old_entry.as_ref(), old_start, old);
    let (new_dir, new_name) = at(new_entry.as_ref(), new_start, new);
    done(renameat2(old_dir, old_name, new_dir, new_name, flags))
}

/// The most entries below a directory the guard looks at before it
/// renames the directory in a project root.
const MOVE_WALK_LIMIT: usize = 20_000;

/// A directory holding a mount of the sandbox (a read-only bind, a mask)
/// or a kept path below it is not moved, in any root; nor is a directory of a project
/// root that holds a protected entry or a git directory at any depth (`EBUSY`, as a directory holding a
/// read-only mount would answer were it one): a `.git` file, a worktree or
/// the user names that repository by its path, and the path freed could
/// be filled with a planted one. One too big to look through gets
/// `EXDEV`, so `mv` copies it and the guard judges each entry.
fn refuse_moving_a_repository(judge: &Judge, entry: &NewEntry, path: &CStr) -> Option<Outcome> {
    let dir = open_at(
        Start::of(&entry.dir),
        entry.name.to_bytes(),
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
        0,
    )
    .ok()?;
    let refused = Some(Outcome::Refused(
        path.to_bytes().to_vec(),
        Refusal::HoldsProtected,
    ));
    // In any root, scratch space included: a read-only bind or a mask the
    // sandbox made below it would move with it (a worktree's gitdir in
    // /tmp, a masked dangling `.git` link's target).
    if judge.roots().keeps_below(&entry.path()) {
        return refused;
    }
    match mounts::has_mount_below(&entry.path()) {
        Ok(false) => {}
        Ok(true) => return refused,
        Err(err) => return Some(Outcome::Failed(err)),
    }
    if judge.roots().area_of(&entry.dir_path) != Area::Project {
        return None;
    }
    match git_dirs::holds_protected(dir.as_fd(), MOVE_WALK_LIMIT) {
        Ok(Holds::Nothing) => None,
        Ok(Holds::Protected) => refused,
        Ok(Holds::TooMany) => Some(Outcome::Failed(Errno::EXDEV)),
        Err(err) => Some(Outcome::Failed(err)),
    }
}

/// `renameat2(2)`, by its system call: nix has it only for glibc, and the
/// release binary may be linked with musl.
fn renameat2(
    old_dir: BorrowedFd<'_>,
    old: &CStr,
    new_dir: BorrowedFd<'_>,
    new: &CStr,
    flags: u32,
) -> Result<(), Errno> {
    // SAFETY: both names are NUL-terminated and live across the call; the
    // descriptors are borrowed for it.
    let result = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
            flags,
        )
    };
    Errno::result(result).map(drop)
}

/// `unlinkat`: an entry inside a protected one, or a writable root or a
/// directory above one, is not removed.
pub fn unlink(judge: &Judge, start: Start, path: &CStr, flags: i32) -> Outcome {
    let entry = match judge.locate(start, path) {
        Ok(entry) => entry,
        Err(outcome) => return outcome,
    };
    if let Some(entry) = &entry {
        let entry_path = entry.path();
        let refusal = if judge.roots().is_root_or_above(&entry_path) {
            Some(Refusal::MovesRoot)
        } else {
            judge
                .judge_existing(Existing::Entry(entry), &entry_path)
                .err()
        };
        if let Some(refusal) = refusal {
            return Outcome::Refused(path.to_bytes().to_vec(), refusal);
        }
    }
    let (dir, name) = at(entry.as_ref(), start, path);
    let removes_dir = flags & libc::AT_REMOVEDIR != 0;
    let flags = if removes_dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    done(unlinkat(dir, name, flags))
}

/// The directory and name to make a call with: the located entry's, or
/// the caller's as given when there is none.
fn at<'a>(entry: Option<&'a NewEntry>, start: Start, path: &'a CStr) -> (BorrowedFd<'a>, &'a CStr) {
    match entry {
        Some(entry) => (entry.dir.as_fd(), entry.name.as_c_str()),
        None => (start.fd(), path),
    }
}

/// Whether `name` in `dir` is a directory (not following a last symbolic
/// link, as rename does not).
fn is_directory(dir: BorrowedFd<'_>, name: &CStr) -> bool {
    nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// `bind` of the caller's socket (a copy of its descriptor) to `addr`. A
/// Unix socket path is a new entry, judged like any other, and bound in
/// the directory it was judged in, where the supervisor stands for the
/// call (its own working directory is `/` otherwise; only this thread
/// uses it). A relative path starts at the caller's working directory
/// `cwd`. Without a `judge` (protected names are not guarded) the path
/// is bound as given. The socket file made is recorded in `sockets`, for
/// the command's own connects to it.
pub fn bind(
    judge: Option<&Judge>,
    socket: &OwnedFd,
    addr: &[u8],
    cwd: Option<&OwnedFd>,
    sockets: &UnixSockets,
) -> Outcome {
    let mut bound_addr = addr.to_vec();
    let mut stand_in: Option<NewEntry> = None;
    if let Some(judge) = judge
        && let Some(path) = unix_target(addr).and_then(UnixTarget::path)
    {
        let Ok(path) = CString::new(path) else {
            return Outcome::Failed(Errno::EINVAL);
        };
        let start = cwd.map_or(Start::CWD, Start::of);
        match judge.new_entry(start, &path) {
            Err(outcome) => return outcome,
            Ok(None) => {}
            Ok(Some(entry)) => {
                bound_addr = unix_address(addr, entry.name.to_bytes());
                stand_in = Some(entry);
            }
        }
    }
    let Ok(len) = libc::socklen_t::try_from(bound_addr.len()) else {
        return Outcome::Failed(Errno::EINVAL);
    };
    let dir = stand_in.as_ref().map(|entry| &entry.dir).or(cwd);
    if let Some(dir) = dir
        && let Err(err) = fchdir(dir)
    {
        return Outcome::Failed(err);
    }
    // Raw: the address is the caller's bytes, of any family, which nix
    // would have to parse into one of its types first.
    // SAFETY: `bound_addr` holds `len` bytes of socket address for the call.
    let result =
        Errno::result(unsafe { libc::bind(socket.as_raw_fd(), bound_addr.as_ptr().cast(), len) });
    if result.is_ok() {
        sockets.record_bound(socket);
    }
    if dir.is_some() {
        // `/` always exists.
        let _ = chdir("/");
    }
    done(result.map(drop))
}

/// `addr`'s family followed by `name` as its path, NUL-terminated.
fn unix_address(addr: &[u8], name: &[u8]) -> Vec<u8> {
    let mut bound = addr[..2].to_vec();
    bound.extend_from_slice(name);
    bound.push(0);
    bound
}

/// `openat(start, path, flags | O_CLOEXEC, mode)`.
pub(super) fn open_at(start: Start, path: &[u8], flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
    openat(
        start.fd(),
        path.as_c_str(),
        OFlag::from_bits_retain(flags | libc::O_CLOEXEC),
        Mode::from_bits_retain(mode),
    )
}

/// The `S_IFMT` bits of an open file.
pub(super) fn file_type(fd: &OwnedFd) -> Result<libc::mode_t, Errno> {
    Ok(fstat(fd)?.st_mode & libc::S_IFMT)
}

/// The text of the symbolic link `link` (an `O_PATH | O_NOFOLLOW`
/// descriptor of it).
pub(super) fn read_link(link: &OwnedFd) -> Result<Vec<u8>, Errno> {
    Ok(readlinkat(link, c"")?.into_vec())
}

/// Whether `dir` is in procfs, which has no entries to create, but whose
/// `/proc/PID/fd/N` links jump to objects rather than naming paths (see
/// `open_in_proc`).
pub(super) fn is_procfs(dir: &OwnedFd) -> bool {
    fstatfs(dir).is_ok_and(|stat| stat.filesystem_type() == PROC_SUPER_MAGIC)
}

/// The outcome of a call that returns nothing on success.
fn done(result: Result<(), Errno>) -> Outcome {
    result.map_or_else(Outcome::Failed, |()| Outcome::Done(0))
}

//! Carrying out an allowed call in the supervisor, on the copy of the
//! caller's strings the supervisor checked: the kernel then resolves the
//! very names that were judged, whatever the command's other threads
//! write into its memory meanwhile.
//!
//! The calls that never follow a symbolic link in their last component
//! (`mkdir`, `mknod`, `symlink`, `link`, `rename`) are made as given,
//! unless the new entry has a protected name: then the directory it goes
//! in is opened first, judged by where it really is ([`Roots`]: below the
//! top of a temporary root such a name is allowed), and the call is made
//! in that very directory. An open with `O_CREAT` does follow a link, and
//! would create the entry a dangling link names, so [`open_creating`]
//! walks that last component itself: each entry it would create is judged
//! first, and it creates only with `O_EXCL | O_NOFOLLOW`, so nothing but
//! the judged name can come into being.
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
use nix::fcntl::{AtFlags, OFlag, RenameFlags, openat, readlinkat, renameat2};
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat, mknodat, umask};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use nix::unistd::{chdir, fchdir, linkat, symlinkat};

use super::paths::{SplitPath, in_target_view, split_path, unix_socket_path};
use super::roots::{Area, Roots};
use codex_sandboxing::protected::is_protected_name;

/// The most symbolic links one lookup follows, as in the kernel.
const MAX_LINKS: u32 = 40;

/// How many times a creation that lost a race to another creator of the
/// same name is retried before giving up with `EAGAIN`.
const MAX_CREATE_RACES: u32 = 8;

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
    /// The call failed with this error, as it would have in the kernel.
    Failed(Errno),
    /// The call would create (or open for creation) an entry with a
    /// protected name; the path that names it, as the command wrote it.
    Refused(Vec<u8>),
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

/// `mkdirat`.
pub fn mkdir(roots: &Roots, start: Start, path: &CStr, mode: u32) -> Outcome {
    let mode = Mode::from_bits_retain(mode);
    match place(roots, start, path) {
        Place::AsGiven => done(mkdirat(start.fd(), path, mode)),
        Place::In(entry) => done(mkdirat(&entry.dir, entry.name.as_c_str(), mode)),
        Place::Not(outcome) => outcome,
    }
}

/// `mknodat`.
pub fn mknod(roots: &Roots, start: Start, path: &CStr, mode: u32, dev: u64) -> Outcome {
    let kind = SFlag::from_bits_retain(mode & libc::S_IFMT);
    let perm = Mode::from_bits_retain(mode & !libc::S_IFMT);
    match place(roots, start, path) {
        Place::AsGiven => done(mknodat(start.fd(), path, kind, perm, dev)),
        Place::In(entry) => done(mknodat(&entry.dir, entry.name.as_c_str(), kind, perm, dev)),
        Place::Not(outcome) => outcome,
    }
}

/// `symlinkat`: `target` is only the link's text, never looked up here.
pub fn symlink(roots: &Roots, target: &CStr, start: Start, path: &CStr) -> Outcome {
    match place(roots, start, path) {
        Place::AsGiven => done(symlinkat(target, start.fd(), path)),
        Place::In(entry) => done(symlinkat(target, &entry.dir, entry.name.as_c_str())),
        Place::Not(outcome) => outcome,
    }
}

/// `linkat`. An empty `old` with `AT_EMPTY_PATH` links the file
/// `old_start` itself is open on (a copy of the caller's descriptor).
pub fn link(
    roots: &Roots,
    old_start: Start,
    old: &CStr,
    new_start: Start,
    new: &CStr,
    flags: i32,
) -> Outcome {
    let flags = AtFlags::from_bits_retain(flags);
    match place(roots, new_start, new) {
        Place::AsGiven => done(linkat(old_start.fd(), old, new_start.fd(), new, flags)),
        Place::In(entry) => done(linkat(
            old_start.fd(),
            old,
            &entry.dir,
            entry.name.as_c_str(),
            flags,
        )),
        Place::Not(outcome) => outcome,
    }
}

/// `renameat2`. An exchange also gives `old`'s name to what was at `new`,
/// so both names are judged then; a directory that would move from a
/// temporary root into a project root gets `EXDEV`.
pub fn rename(
    roots: &Roots,
    old_start: Start,
    old: &CStr,
    new_start: Start,
    new: &CStr,
    flags: u32,
) -> Outcome {
    let exchange = flags & libc::RENAME_EXCHANGE != 0;
    let new_place = match place(roots, new_start, new) {
        Place::Not(outcome) => return outcome,
        place => place,
    };
    let old_place = if exchange {
        match place(roots, old_start, old) {
            Place::Not(outcome) => return outcome,
            place => place,
        }
    } else {
        Place::AsGiven
    };
    let moves_into_project = |from: Start, what: &CStr, to: Start, into: &CStr| {
        is_directory(from, what)
            && area_of_parent(roots, from, what).is_scratch()
            && area_of_parent(roots, to, into) == Area::Project
    };
    if moves_into_project(old_start, old, new_start, new)
        || (exchange && moves_into_project(new_start, new, old_start, old))
    {
        return Outcome::Failed(Errno::EXDEV);
    }
    let flags = RenameFlags::from_bits_retain(flags);
    let (old_dir, old_name) = old_place.at(old_start, old);
    let (new_dir, new_name) = new_place.at(new_start, new);
    done(renameat2(old_dir, old_name, new_dir, new_name, flags))
}

/// Where a judged call creates its entry.
enum Place {
    /// Its name is not protected: the call is made as the caller wrote
    /// it.
    AsGiven,
    /// Its protected name is allowed in this directory, where the call is
    /// made.
    In(Entry),
    /// The call ends here, with this outcome.
    Not(Outcome),
}

impl Place {
    /// The directory and name to make the call with.
    fn at<'a>(&'a self, start: Start, path: &'a CStr) -> (BorrowedFd<'a>, &'a CStr) {
        match self {
            Place::In(entry) => (entry.dir.as_fd(), entry.name.as_c_str()),
            Place::AsGiven | Place::Not(_) => (start.fd(), path),
        }
    }
}

/// A new entry's directory, open, and its name there.
struct Entry {
    dir: OwnedFd,
    /// The last component, with a trailing slash if the path had one.
    name: CString,
}

/// Judges the new entry `path` names: an unprotected name goes ahead as
/// given; a protected one only where its directory allows it, and then in
/// that directory.
fn place(roots: &Roots, start: Start, path: &CStr) -> Place {
    let bytes = path.to_bytes();
    let split = split_path(bytes);
    if !is_protected_name(split.name) {
        return Place::AsGiven;
    }
    let dir = match open_parent(start, &split) {
        Ok(dir) => dir,
        Err(err) => return Place::Not(Outcome::Failed(err)),
    };
    if !area_of_dir(roots, &dir).allows_protected_names() {
        return Place::Not(Outcome::Refused(bytes.to_vec()));
    }
    let mut name = split.name.to_vec();
    if split.trailing_slash {
        name.push(b'/');
    }
    match CString::new(name) {
        Ok(name) => Place::In(Entry { dir, name }),
        Err(_) => Place::Not(Outcome::Failed(Errno::EINVAL)),
    }
}

/// The directory `split`'s last component is in, opened `O_PATH`
/// through every symbolic link on the way, as the kernel's lookup goes.
fn open_parent(start: Start, split: &SplitPath<'_>) -> Result<OwnedFd, Errno> {
    let parent: &[u8] = if split.parent.is_empty() {
        b"."
    } else {
        split.parent
    };
    open_at(start, parent, libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// The area of the open directory `dir`, by the path the kernel gives
/// for it.
fn area_of_dir(roots: &Roots, dir: &OwnedFd) -> Area {
    std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).map_or(Area::Outside, |path| {
        roots.area_of(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
    })
}

/// The area of the directory `path`'s last component is in; `Outside`
/// when it cannot be opened.
fn area_of_parent(roots: &Roots, start: Start, path: &CStr) -> Area {
    open_parent(start, &split_path(path.to_bytes()))
        .map_or(Area::Outside, |dir| area_of_dir(roots, &dir))
}

/// Whether `path` names a directory (not following a last symbolic link,
/// as rename does not).
fn is_directory(start: Start, path: &CStr) -> bool {
    nix::sys::stat::fstatat(start.fd(), path, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// `bind` of the caller's socket (a copy of its descriptor) to `addr`. A
/// Unix socket path is judged like any new entry; a relative one is bound
/// from the caller's working directory `cwd`, where the supervisor stands
/// for the call (its own is `/` otherwise; only this thread uses it).
pub fn bind(socket: &OwnedFd, addr: &[u8], cwd: Option<&OwnedFd>) -> Outcome {
    if let Some(path) = unix_socket_path(addr)
        && is_protected_name(split_path(path).name)
    {
        return Outcome::Refused(path.to_vec());
    }
    let Ok(len) = libc::socklen_t::try_from(addr.len()) else {
        return Outcome::Failed(Errno::EINVAL);
    };
    if let Some(cwd) = cwd
        && let Err(err) = fchdir(cwd)
    {
        return Outcome::Failed(err);
    }
    // Raw: the address is the caller's bytes, of any family, which nix
    // would have to parse into one of its types first.
    // SAFETY: `addr` holds `len` bytes of socket address for the call.
    let result =
        Errno::result(unsafe { libc::bind(socket.as_raw_fd(), addr.as_ptr().cast(), len) });
    if cwd.is_some() {
        // `/` always exists.
        let _ = chdir("/");
    }
    done(result.map(drop))
}

/// An open with `O_CREAT`, as the kernel would carry it out for the
/// thread `tid`, never creating a protected name. `umask` is the caller's,
/// applied only when something is created.
pub fn open_creating(
    roots: &Roots,
    start: Start,
    path: &CStr,
    flags: i32,
    mode: u32,
    tid: i32,
    umask: impl Fn() -> Result<libc::mode_t, Errno>,
) -> Outcome {
    if flags & libc::O_DIRECTORY != 0 {
        return Outcome::Failed(Errno::EINVAL);
    }
    let mut start = start;
    let mut path: Vec<u8> = path.to_bytes().to_vec();
    let mut links = 0;
    let mut races = 0;
    // Holds the directory a followed relative link starts from.
    let mut _link_dir: Option<OwnedFd>;
    loop {
        let split = split_path(&path);
        if split.name.is_empty() {
            return Outcome::Failed(if path.is_empty() {
                Errno::ENOENT
            } else {
                Errno::EISDIR
            });
        }
        let dir = match open_parent(start, &split) {
            Ok(dir) => dir,
            Err(err) => return Outcome::Failed(err),
        };
        if is_protected_name(split.name) && !area_of_dir(roots, &dir).allows_protected_names() {
            return Outcome::Refused(path);
        }
        let dir_start = Start::of(&dir);
        if is_procfs(&dir) {
            return open_in_proc(&dir, split.name, flags, tid);
        }
        // An open cannot create a directory: the kernel answers EISDIR to
        // `O_CREAT` on `.`, `..` and any `name/`, whatever `name` is.
        if split.name == b"." || split.name == b".." || split.trailing_slash {
            return Outcome::Failed(Errno::EISDIR);
        }
        match open_at(dir_start, split.name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(existing) => {
                let kind = match file_type(&existing) {
                    Ok(kind) => kind,
                    Err(err) => return Outcome::Failed(err),
                };
                if flags & libc::O_EXCL != 0 {
                    return Outcome::Failed(Errno::EEXIST);
                }
                match kind {
                    libc::S_IFLNK => {
                        if flags & libc::O_NOFOLLOW != 0 {
                            return Outcome::Failed(Errno::ELOOP);
                        }
                        links += 1;
                        if links > MAX_LINKS {
                            return Outcome::Failed(Errno::ELOOP);
                        }
                        let target = match read_link(&existing) {
                            Ok(target) => target,
                            Err(err) => return Outcome::Failed(err),
                        };
                        if target.is_empty() {
                            return Outcome::Failed(Errno::ENOENT);
                        }
                        start = if target.starts_with(b"/") {
                            Start::CWD
                        } else {
                            dir_start
                        };
                        path = in_target_view(&target, tid).into_owned();
                        _link_dir = Some(dir);
                    }
                    libc::S_IFDIR => return Outcome::Failed(Errno::EISDIR),
                    libc::S_IFIFO => return Outcome::FifoToReopen(existing, flags),
                    _ => {
                        return reopen(&existing, flags)
                            .map_or_else(Outcome::Failed, Outcome::Opened);
                    }
                }
            }
            Err(Errno::ENOENT) => {
                let umask = match umask() {
                    Ok(umask) => umask,
                    Err(err) => return Outcome::Failed(err),
                };
                let exclusive = flags | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
                match with_umask(umask, || open_at(dir_start, split.name, exclusive, mode)) {
                    Ok(created) => return Outcome::Opened(created),
                    // Someone else created it first: look again, unless the
                    // caller asked for exclusive creation.
                    Err(Errno::EEXIST | Errno::ELOOP) if flags & libc::O_EXCL == 0 => {
                        races += 1;
                        if races > MAX_CREATE_RACES {
                            return Outcome::Failed(Errno::EAGAIN);
                        }
                    }
                    Err(err) => return Outcome::Failed(err),
                }
            }
            Err(err) => return Outcome::Failed(err),
        }
    }
}

/// An `O_CREAT` open whose last component is in procfs, where nothing can
/// be created but `/proc/TID/fd/N` links jump to objects. Whatever is
/// opened there is opened with the supervisor's identity, which may read
/// and write any process of the sandbox (its own `mem` included), so only
/// the caller's own entry is served: `/proc/TID` and `/proc/TID/fd`, which
/// is what `/dev/stdout`, `/dev/fd/N` and `/proc/self/...` come to.
/// Anything else gets `EACCES`.
fn open_in_proc(dir: &OwnedFd, name: &[u8], flags: i32, tid: i32) -> Outcome {
    if !is_callers_proc_entry(dir, tid) {
        return Outcome::Failed(Errno::EACCES);
    }
    let existing = match open_at(Start::of(dir), name, libc::O_PATH, 0) {
        Ok(existing) => existing,
        Err(err) => return Outcome::Failed(err),
    };
    if flags & libc::O_EXCL != 0 {
        return Outcome::Failed(Errno::EEXIST);
    }
    match file_type(&existing) {
        Ok(libc::S_IFDIR) => Outcome::Failed(Errno::EISDIR),
        Ok(libc::S_IFIFO) => Outcome::FifoToReopen(existing, flags),
        Ok(_) => reopen(&existing, flags).map_or_else(Outcome::Failed, Outcome::Opened),
        Err(err) => Outcome::Failed(err),
    }
}

/// Whether the procfs directory `dir` is the caller's `/proc/TID` or
/// `/proc/TID/fd`, by the path the kernel gives for it.
fn is_callers_proc_entry(dir: &OwnedFd, tid: i32) -> bool {
    let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())) else {
        return false;
    };
    let entry = format!("/proc/{tid}");
    path.as_os_str() == entry.as_str() || path.as_os_str() == format!("{entry}/fd").as_str()
}

/// Opens an existing non-directory again, through the `O_PATH` descriptor
/// found for it, with the caller's flags (less those only creation uses):
/// the same inode, looked up by no name.
pub fn reopen(existing: &OwnedFd, flags: i32) -> Result<OwnedFd, Errno> {
    let magic = format!("/proc/self/fd/{}", existing.as_raw_fd());
    open_at(
        Start::CWD,
        magic.as_bytes(),
        flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW),
        0,
    )
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
fn file_type(fd: &OwnedFd) -> Result<libc::mode_t, Errno> {
    Ok(fstat(fd)?.st_mode & libc::S_IFMT)
}

/// The text of the symbolic link `link` (an `O_PATH | O_NOFOLLOW`
/// descriptor of it).
fn read_link(link: &OwnedFd) -> Result<Vec<u8>, Errno> {
    Ok(readlinkat(link, c"")?.into_vec())
}

/// Whether `dir` is in procfs, which has no entries to create, but whose
/// `/proc/PID/fd/N` links jump to objects rather than naming paths (see
/// `open_in_proc`).
fn is_procfs(dir: &OwnedFd) -> bool {
    fstatfs(dir).is_ok_and(|stat| stat.filesystem_type() == PROC_SUPER_MAGIC)
}

/// The outcome of a call that returns nothing on success.
fn done(result: Result<(), Errno>) -> Outcome {
    result.map_or_else(Outcome::Failed, |()| Outcome::Done(0))
}

//! The opens the guard holds, carried out by the supervisor: with
//! `O_CREAT`, which may make a new entry; with `O_TMPFILE`, which makes an
//! unnamed file in a directory; and for writing (`O_WRONLY`, `O_RDWR`,
//! `O_TRUNC`), which changes an existing file. Each is judged where it
//! really lands ([`super::judge`]); an existing file is then opened again
//! through the very descriptor that was judged, so a path the command
//! changes meanwhile changes nothing. `truncate` is an open for writing
//! too.
//!
//! An open with `O_CREAT` follows a symbolic link in its last component,
//! and would create the entry a dangling link names, so [`open_creating`]
//! walks that last component itself: each entry it would create is
//! judged first, and it creates only with `O_EXCL | O_NOFOLLOW`, so
//! nothing but the judged name can come into being.
//!
//! Whatever the supervisor opens, it opens with its own identity, which
//! may read and write any process of the sandbox (its own `mem` above
//! all): in procfs, an `O_CREAT` open is served only in the caller's own
//! entry, and an open for writing never in the supervisor's entries nor
//! another process's memory.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::ftruncate;

use super::judge::{Existing, Judge, Refusal, open_parent};
use super::paths::{in_target_view, split_path};
use super::perform::{Outcome, Start, file_type, is_procfs, open_at, read_link, with_umask};
use super::procfs::procfs;

/// The most symbolic links one lookup follows, as in the kernel.
const MAX_LINKS: u32 = 40;

/// The thread a call is carried out for.
#[derive(Clone, Copy)]
pub struct OnBehalfOf<'a> {
    /// Its thread id.
    pub tid: i32,
    /// Its process's id, asked only where a procfs entry is at stake: the
    /// first time for a thread it costs a read of its status file
    /// (checked, as every answer about the caller, to still be the
    /// caller's).
    pub tgid: &'a dyn Fn() -> Result<i32, Errno>,
}

/// How many times a creation that lost a race to another creator of the
/// same name is retried before giving up with `EAGAIN`.
const MAX_CREATE_RACES: u32 = 8;

/// An open with `O_CREAT`, as the kernel would carry it out for
/// `caller`, never creating a protected name nor opening anything
/// inside a protected entry ([`judge_new`]). `umask` is the caller's,
/// applied only when something is created.
pub fn open_creating(
    judge: &Judge,
    start: Start,
    path: &CStr,
    flags: i32,
    mode: u32,
    caller: OnBehalfOf<'_>,
    umask: impl Fn() -> Result<libc::mode_t, Errno>,
) -> Outcome {
    let tid = caller.tid;
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
        // Judged whether the name exists or not: an existing entry inside
        // a protected one is not written either.
        let dir_path = match judge.dir_path_of(&dir) {
            Ok(dir_path) => dir_path,
            Err(unjudged) => return unjudged.outcome(&path),
        };
        if let Err(refusal) = judge.judge_new(dir.as_fd(), &dir_path, split.name) {
            return Outcome::Refused(path, refusal);
        }
        let dir_start = Start::of(&dir);
        if is_procfs(&dir) {
            return open_in_proc(judge, &dir, split.name, flags, caller, &path);
        }
        // An open cannot create a directory: the kernel answers EISDIR to
        // `O_CREAT` on `.`, `..` and any `name/`, whatever `name` is.
        if split.name == b"." || split.name == b".." || split.trailing_slash {
            return Outcome::Failed(Errno::EISDIR);
        }
        // With `O_EXCL` whatever is there ends the call with `EEXIST`, so
        // the creation itself asks (`tar` and temporary files open so).
        let looked_up = if flags & libc::O_EXCL != 0 {
            Err(Errno::ENOENT)
        } else {
            open_at(dir_start, split.name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        };
        match looked_up {
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
/// Anything else gets `EACCES`. The object a link jumps to is judged as
/// an open for writing of it would be: a descriptor opened `O_PATH` on a
/// protected file does not make it writable.
fn open_in_proc(
    judge: &Judge,
    dir: &OwnedFd,
    name: &[u8],
    flags: i32,
    caller: OnBehalfOf<'_>,
    path: &[u8],
) -> Outcome {
    if !is_callers_proc_entry(dir, caller.tid) {
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
        Ok(_) => write_existing(judge, existing, flags, caller, path),
        Err(err) => Outcome::Failed(err),
    }
}

/// Whether the procfs directory `dir` is the caller's `/proc/TID` or
/// `/proc/TID/fd`, by the path the kernel gives for it.
fn is_callers_proc_entry(dir: &OwnedFd, tid: i32) -> bool {
    let Ok(path) = procfs().path_of_fd(dir.as_raw_fd()) else {
        return false;
    };
    let entry = format!("/proc/{tid}");
    path.as_os_str() == entry.as_str() || path.as_os_str() == format!("{entry}/fd").as_str()
}

/// Opens an existing non-directory again, through the `O_PATH` descriptor
/// found for it, with the caller's flags (less those only creation uses):
/// the same inode, looked up by no name.
pub fn reopen(existing: &OwnedFd, flags: i32) -> Result<OwnedFd, Errno> {
    procfs().open(
        &format!("self/fd/{}", existing.as_raw_fd()),
        flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW),
    )
}

/// An open for writing without `O_CREAT` of an existing entry, refused
/// inside a protected entry, as the kernel would carry it out for
/// `caller`.
pub fn open_writing(
    judge: &Judge,
    start: Start,
    path: &CStr,
    flags: i32,
    caller: OnBehalfOf<'_>,
) -> Outcome {
    let lookup = libc::O_PATH | (flags & (libc::O_NOFOLLOW | libc::O_DIRECTORY));
    let existing = match open_at(start, path.to_bytes(), lookup, 0) {
        Ok(existing) => existing,
        Err(err) => return Outcome::Failed(err),
    };
    let kind = match file_type(&existing) {
        Ok(kind) => kind,
        Err(err) => return Outcome::Failed(err),
    };
    if kind == libc::S_IFLNK {
        // Only with O_NOFOLLOW does the lookup stop at a link.
        return Outcome::Failed(Errno::ELOOP);
    }
    write_existing(judge, existing, flags, caller, path.to_bytes())
}

/// Opens the existing non-link `existing` (`O_PATH`) again with the
/// caller's `flags`, unless it lies inside a protected entry, on a mount
/// of another namespace, or is a procfs entry the supervisor may not open
/// for the caller. `path` is what the command named it by.
fn write_existing(
    judge: &Judge,
    existing: OwnedFd,
    flags: i32,
    caller: OnBehalfOf<'_>,
    path: &[u8],
) -> Outcome {
    let existing_path = match judge.path_of(&existing) {
        Ok(existing_path) => existing_path,
        Err(unjudged) => return unjudged.outcome(path),
    };
    if is_procfs(&existing) {
        let tgid = match (caller.tgid)() {
            Ok(tgid) => tgid,
            Err(err) => return Outcome::Failed(err),
        };
        if !may_write_proc_entry(&existing_path, (caller.tid, tgid)) {
            return Outcome::Failed(Errno::EACCES);
        }
    }
    if let Err(refusal) = judge.judge_existing(Existing::Open(existing.as_fd()), &existing_path) {
        return Outcome::Refused(path.to_vec(), refusal);
    }
    if file_type(&existing) == Ok(libc::S_IFIFO) {
        return Outcome::FifoToReopen(existing, flags);
    }
    reopen(&existing, flags).map_or_else(Outcome::Failed, Outcome::Opened)
}

/// An `O_TMPFILE` open: an unnamed file in the directory `path`, refused
/// inside a protected entry (a later `linkat` could name it there).
pub fn open_tmpfile(
    judge: &Judge,
    start: Start,
    path: &CStr,
    flags: i32,
    mode: u32,
    umask: impl Fn() -> Result<libc::mode_t, Errno>,
) -> Outcome {
    let dir = match open_at(start, path.to_bytes(), libc::O_PATH | libc::O_DIRECTORY, 0) {
        Ok(dir) => dir,
        Err(err) => return Outcome::Failed(err),
    };
    let dir_path = match judge.dir_path_of(&dir) {
        Ok(dir_path) => dir_path,
        Err(unjudged) => return unjudged.outcome(path.to_bytes()),
    };
    if let Err(refusal) = judge.judge_existing(Existing::Open(dir.as_fd()), &dir_path) {
        return Outcome::Refused(path.to_bytes().to_vec(), refusal);
    }
    let umask = match umask() {
        Ok(umask) => umask,
        Err(err) => return Outcome::Failed(err),
    };
    with_umask(umask, || open_at(Start::of(&dir), b".", flags, mode))
        .map_or_else(Outcome::Failed, Outcome::Opened)
}

/// `truncate`: an existing regular file, opened for writing through the
/// judged descriptor and cut to `length`.
pub fn truncate(judge: &Judge, start: Start, path: &CStr, length: i64) -> Outcome {
    let existing = match open_at(start, path.to_bytes(), libc::O_PATH, 0) {
        Ok(existing) => existing,
        Err(err) => return Outcome::Failed(err),
    };
    match file_type(&existing) {
        Ok(libc::S_IFREG) => {}
        Ok(libc::S_IFDIR) => return Outcome::Failed(Errno::EISDIR),
        Ok(_) => return Outcome::Failed(Errno::EINVAL),
        Err(err) => return Outcome::Failed(err),
    }
    let existing_path = match judge.path_of(&existing) {
        Ok(existing_path) => existing_path,
        Err(unjudged) => return unjudged.outcome(path.to_bytes()),
    };
    if let Err(refusal) = judge.judge_existing(Existing::Open(existing.as_fd()), &existing_path) {
        return Outcome::Refused(path.to_bytes().to_vec(), refusal);
    }
    let result = reopen(&existing, libc::O_WRONLY).and_then(|file| ftruncate(&file, length));
    result.map_or_else(Outcome::Failed, |()| Outcome::Done(0))
}

/// `chmod` of the existing file `existing` (`O_PATH`, a last link
/// followed), unless it lies inside a protected entry: a mode change can
/// make a disabled hook of a repository executable. `path` is what the
/// command named it by.
pub fn chmod(judge: &Judge, existing: &OwnedFd, mode: u32, path: &[u8]) -> Outcome {
    if let Some(refused) = judge_metadata(judge, existing, path) {
        return refused;
    }
    procfs()
        .chmod_fd(existing.as_raw_fd(), mode)
        .map_or_else(Outcome::Failed, |()| Outcome::Done(0))
}

/// An extended attribute set on (with `value` and `flags`) or, without a
/// value, removed from the existing file `existing` (`O_PATH`), unless it
/// lies inside a protected entry: a POSIX ACL (`system.posix_acl_access`)
/// sets the mode too. `path` is what the command named it by.
pub fn change_xattr(
    judge: &Judge,
    existing: &OwnedFd,
    name: &CStr,
    value: Option<(&[u8], i32)>,
    path: &[u8],
) -> Outcome {
    if let Some(refused) = judge_metadata(judge, existing, path) {
        return refused;
    }
    if judge.roots().in_place() && is_host_privilege(name.to_bytes()) {
        return Outcome::Refused(path.to_vec(), Refusal::HostPrivilege);
    }
    let result = procfs().with_fd_path(existing, |file| {
        // SAFETY: the calls read the NUL-terminated path and name and
        // `value`'s bytes, all of which live across the call.
        let result = unsafe {
            match value {
                Some((value, flags)) => libc::setxattr(
                    file.as_ptr(),
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    flags,
                ),
                None => libc::removexattr(file.as_ptr(), name.as_ptr()),
            }
        };
        Errno::result(result).map(drop)
    });
    result
        .and_then(|called| called)
        .map_or_else(Outcome::Failed, |()| Outcome::Done(0))
}

/// Whether the attribute `name` grants privilege the host honours: a file
/// capability (`security.capability`), a security label, a `trusted.`
/// attribute. Set by root outside a user namespace, they apply on the host.
fn is_host_privilege(name: &[u8]) -> bool {
    name.starts_with(b"security.") || name.starts_with(b"trusted.")
}

/// The owner, mode, times or attributes of the existing file `existing`
/// (`O_PATH`) may change ([`Judge::judge_metadata`]), or the outcome that
/// ends the call; `path` is what the command named it by.
fn judge_metadata(judge: &Judge, existing: &OwnedFd, path: &[u8]) -> Option<Outcome> {
    let existing_path = match judge.path_of(existing) {
        Ok(existing_path) => existing_path,
        Err(unjudged) => return Some(unjudged.outcome(path)),
    };
    judge
        .judge_metadata(Existing::Open(existing.as_fd()), &existing_path)
        .err()
        .map(|refusal| Outcome::Refused(path.to_vec(), refusal))
}

/// `chown` of the existing file `existing` (`O_PATH`; the link itself when
/// it was opened without following one), as [`chmod`] judges it: ownership
/// changes need no protected name, but where no mount answers them (the
/// legacy pipeline) only what the command may write changes owner.
pub fn chown(judge: &Judge, existing: &OwnedFd, owner: (u32, u32), path: &[u8]) -> Outcome {
    if let Some(refused) = judge_metadata(judge, existing, path) {
        return refused;
    }
    nix::unistd::fchownat(
        existing,
        c"",
        Some(owner.0)
            .filter(|&uid| uid != u32::MAX)
            .map(nix::unistd::Uid::from_raw),
        Some(owner.1)
            .filter(|&gid| gid != u32::MAX)
            .map(nix::unistd::Gid::from_raw),
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )
    .map_or_else(Outcome::Failed, |()| Outcome::Done(0))
}

/// `utimensat` of the existing file `existing` (`O_PATH`), with `times`
/// (access, modification; `None` for now), as [`chown`] judges it.
pub fn set_times(
    judge: &Judge,
    existing: &OwnedFd,
    times: Option<[libc::timespec; 2]>,
    path: &[u8],
) -> Outcome {
    if let Some(refused) = judge_metadata(judge, existing, path) {
        return refused;
    }
    let times_ptr = times
        .as_ref()
        .map_or(std::ptr::null(), |times| times.as_ptr());
    // SAFETY: the empty path is NUL-terminated, `times` (when given) holds
    // two timespecs, and both live across the call.
    let result = unsafe {
        libc::utimensat(
            existing.as_raw_fd(),
            c"".as_ptr(),
            times_ptr,
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::result(result).map_or_else(Outcome::Failed, |_| Outcome::Done(0))
}

/// Whether the supervisor may open the procfs entry at `path` for writing
/// on behalf of the thread `tid` of process `tgid`. It opens with its own
/// identity, which is the command's but an ancestor of every process of
/// the sandbox: so never its own entries, and another process's `mem`
/// only for that process itself. Anything else is the kernel's call, as
/// it would be for the caller.
fn may_write_proc_entry(path: &[u8], (_tid, tgid): (i32, i32)) -> bool {
    let Some(pid) = proc_pid(path) else {
        return true;
    };
    let owner = thread_group_of(pid).unwrap_or(pid);
    let supervisor = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    if owner == supervisor {
        return false;
    }
    !path.ends_with(b"/mem") || owner == tgid
}

/// The process or thread id of a `/proc/ID/...` path.
fn proc_pid(path: &[u8]) -> Option<i32> {
    let rest = path.strip_prefix(b"/proc/")?;
    let id = rest.split(|&byte| byte == b'/').next()?;
    std::str::from_utf8(id).ok()?.parse().ok()
}

/// The thread group (process) the thread `id` belongs to.
fn thread_group_of(id: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{id}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|tgid| tgid.trim().parse().ok())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_supervisors_own_proc_entries_nor_anothers_memory() {
        // This test process stands for the supervisor, a child of its for
        // the caller, and the parent that started the test for another one
        // (PID 1 in a container, where this runs too).
        let supervisor = i32::try_from(std::process::id()).unwrap();
        let other = nix::unistd::getppid().as_raw();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let caller = (pid, pid);
        let entry = |pid: i32, name: &str| format!("/proc/{pid}/{name}").into_bytes();
        assert!(!may_write_proc_entry(&entry(supervisor, "mem"), caller));
        assert!(!may_write_proc_entry(&entry(supervisor, "comm"), caller));
        assert!(may_write_proc_entry(&entry(pid, "mem"), caller));
        assert!(!may_write_proc_entry(&entry(other, "mem"), caller));
        assert!(may_write_proc_entry(&entry(other, "comm"), caller));
        assert!(may_write_proc_entry(b"/proc/sys/kernel/hostname", caller));
        assert_eq!(proc_pid(b"/proc/42/task/43/comm"), Some(42));
        assert_eq!(proc_pid(b"/proc/sys/x"), None);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

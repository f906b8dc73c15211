//! Mount points bwrap would otherwise leave behind.
//!
//! A mask over a path that does not exist needs a mount point: an empty
//! directory that bwrap creates on the host (the writable root is the
//! host's directory) and never removes. Left there, an empty `.agents` or
//! `keys/` breaks `git clone URL .`, makes `go build` fail and `rg` ignore
//! `.gitignore`. So this process creates each such directory itself,
//! holds a lease on it while its sandbox runs, and removes it after, when
//! no other sandbox still leases it: removing a mount point that another
//! sandbox still uses would detach that sandbox's mask.
//!
//! A lease is a shared `flock` on the directory itself, taken before bwrap
//! starts and held, close-on-exec, by this process alone. After bwrap
//! exits, whoever gets the lock exclusive (nobody else holds it) removes
//! the directory if it is still empty and was made for a mount point:
//! made by this process, or marked so by another sandbox (mode [`MARK`],
//! sticky and otherwise plain, which every filesystem keeps and nobody
//! gives an `.agents` directory by hand). A directory someone else made,
//! or that holds anything, is never removed. Any process that can read
//! the directory can lock it too; one that keeps it locked delays a start
//! by a bounded wait, never hangs it, and the directory is then unmarked
//! and left behind rather than removed while in use.
//!
//! Written by hand because it is a few system calls on paths the planner
//! chose, and no crate does lease-counted mount points.

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The mode that marks a directory made for a mount point.
const MARK: u32 = 0o1755;

/// How often acquiring retries when the directory is removed or replaced
/// under it by another sandbox finishing at the same moment.
const ATTEMPTS: usize = 16;

/// How long a lease waits for the exclusive lock of a sandbox that is
/// removing the directory (held for a moment only), in steps of
/// [`LOCK_STEP`]. Anything that holds it longer is not a sandbox ending
/// (any process that can read the directory can lock it): the start then
/// mounts on the directory without a lease rather than hang, after
/// unmarking it so that no run removes it under this one (it is left
/// behind; removing a mount point in use would detach its mask).
const LOCK_STEPS: usize = 200;
const LOCK_STEP: std::time::Duration = std::time::Duration::from_millis(5);

/// A held lease on one mount point; [`release`] ends it.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    /// `None` when another process kept the directory locked.
    lock: Option<Flock<File>>,
    made_here: bool,
}

/// Why a mount point could not be leased.
#[derive(Debug, thiserror::Error)]
#[error("cannot prepare the mount point {}: {source}", path.display())]
pub struct LeaseError {
    /// The mount point.
    pub path: PathBuf,
    /// What failed.
    pub source: io::Error,
}

/// Leases every path in `paths`; on failure, releases those already held.
pub fn lease_all(paths: &[PathBuf]) -> Result<Vec<Lease>, LeaseError> {
    let mut leases = Vec::with_capacity(paths.len());
    for path in paths {
        match lease(path) {
            Ok(lease) => leases.push(lease),
            Err(source) => {
                release_all(leases);
                return Err(LeaseError {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(leases)
}

/// Ends every lease, removing what is no longer leased.
pub fn release_all(leases: Vec<Lease>) {
    for lease in leases {
        release(lease);
    }
}

/// Makes (or finds) the directory at `path` and holds a shared lock on it.
fn lease(path: &Path) -> io::Result<Lease> {
    for _ in 0..ATTEMPTS {
        let made_here = match with_owner_write(path, |at| match at {
            None => std::fs::DirBuilder::new().mode(0o755).create(path),
            Some((dir, name)) => {
                nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(0o755))
                    .map_err(io::Error::from)
            }
        }) {
            Ok(()) => true,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => false,
            Err(err) => return Err(err),
        };
        let dir = match open_dir(path) {
            Ok(dir) => dir,
            // Removed by a sandbox that just finished: make it again.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        let (lock, dir) = match lock_shared(dir)? {
            Ok(lock) => {
                let dir = lock.try_clone()?;
                (Some(lock), dir)
            }
            Err(unlocked) => (None, unlocked),
        };
        if !still_at(path, &dir)? {
            continue;
        }
        use std::os::unix::fs::PermissionsExt;
        if lock.is_none() {
            // Used without a lease, the directory must never be removed
            // while this sandbox runs: no later run could tell it from an
            // abandoned mount point. Unmarked, no run removes it; it stays
            // (only while something keeps it locked does this happen).
            dir.set_permissions(std::fs::Permissions::from_mode(0o755))?;
            tracing::debug!(path = %path.display(), "mount point kept locked by another process; unmarked, not leased");
        } else if made_here {
            // So that whichever sandbox ends last, not only this one, knows
            // the directory is a mount point.
            dir.set_permissions(std::fs::Permissions::from_mode(MARK))?;
        }
        return Ok(Lease {
            path: path.to_path_buf(),
            lock,
            made_here,
        });
    }
    Err(io::Error::other(
        "it kept being removed and made again by other sandboxes",
    ))
}

/// Ends `lease`: if no other lease holds the directory, it is still the
/// one leased, it is empty and it was made for a mount point, it goes.
fn release(lease: Lease) {
    let Lease {
        path,
        lock,
        made_here,
    } = lease;
    let Some(Ok(file)) = lock.map(Flock::unlock) else {
        return;
    };
    let Ok(exclusive) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
        // Another sandbox still leases it: the last one removes it.
        return;
    };
    let marked = exclusive
        .metadata()
        .is_ok_and(|meta| meta.mode() & 0o7777 == MARK);
    let ours = made_here || marked;
    if ours
        && still_at(&path, &exclusive).unwrap_or(false)
        && is_empty(&path)
        && let Err(err) = with_owner_write(&path, |at| match at {
            None => std::fs::remove_dir(&path),
            Some((dir, name)) => {
                nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::RemoveDir)
                    .map_err(io::Error::from)
            }
        })
    {
        tracing::debug!(path = %path.display(), %err, "mount point left in place");
    }
}

/// A shared lock on `dir`, waiting at most [`LOCK_STEPS`] steps for an
/// exclusive one to go; `Err(dir)` when it did not.
fn lock_shared(mut dir: File) -> io::Result<Result<Flock<File>, File>> {
    for _ in 0..LOCK_STEPS {
        match Flock::lock(dir, FlockArg::LockSharedNonblock) {
            Ok(lock) => return Ok(Ok(lock)),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                dir = back;
                std::thread::sleep(LOCK_STEP);
            }
            Err((_, errno)) => return Err(io::Error::from(errno)),
        }
    }
    Ok(Err(dir))
}

/// Runs `make_or_remove` (on the entry `path` names, or, given the parent
/// directory and the entry's name, relative to that directory) for a
/// directory this user owns but may not write (a command may `chmod 0555`
/// a directory of its workspace): first by path, then once more with the
/// owner's write and search bits added to the parent, whose mode is then
/// put back. The planner counts owning a directory as being able to make
/// a mount point in it; this keeps that true, and keeps a mount point from
/// being left behind.
///
/// The parent is opened with no symlink anywhere on its path (`openat2`,
/// `RESOLVE_NO_SYMLINKS`), and its mode is changed and the entry made or
/// removed through that descriptor: a command swapping a directory on the
/// way for a link cannot turn this into a mode change elsewhere. Without
/// `openat2` (Linux before 5.6) the first error stands.
fn with_owner_write(
    path: &Path,
    make_or_remove: impl Fn(Option<(&File, &std::ffi::OsStr)>) -> io::Result<()>,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let first = make_or_remove(None);
    let Err(err) = &first else {
        return first;
    };
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return first;
    };
    if err.kind() != io::ErrorKind::PermissionDenied {
        return first;
    }
    let Ok(dir) = open_without_symlinks(parent) else {
        return first;
    };
    let Ok(meta) = dir.metadata() else {
        return first;
    };
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return first;
    }
    let mode = meta.mode() & 0o7777;
    dir.set_permissions(std::fs::Permissions::from_mode(mode | 0o300))?;
    let retried = make_or_remove(Some((&dir, name)));
    dir.set_permissions(std::fs::Permissions::from_mode(mode))?;
    retried
}

/// The directory at `path`, opened with no symlink followed anywhere on
/// the way. Written by hand: `openat2` is in neither `nix` nor `std`.
fn open_without_symlinks(path: &Path) -> io::Result<File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: an all-zero `open_how` is valid (no flags, no mode).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `name` is NUL-terminated and `how` a live `open_how` whose
    // size is passed; the result is a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn open_dir(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Whether `path` still names the directory `dir` is open on.
fn still_at(path: &Path, dir: &File) -> io::Result<bool> {
    let open = dir.metadata()?;
    Ok(match std::fs::symlink_metadata(path) {
        Ok(named) => named.dev() == open.dev() && named.ino() == open.ino(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => false,
        Err(err) => return Err(err),
    })
}

fn is_empty(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_makes_the_directory_and_its_end_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join(".agents");
        let leases = lease_all(std::slice::from_ref(&point)).unwrap();
        assert!(point.is_dir());
        release_all(leases);
        assert!(!point.exists(), "left behind");
    }

    #[test]
    fn the_last_of_two_overlapping_leases_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join(".git");
        let first = lease(&point).unwrap();
        let second = lease(&point).unwrap();
        release(first);
        assert!(point.is_dir(), "removed under the second lease");
        release(second);
        assert!(!point.exists(), "the last lease left it");
    }

    #[test]
    fn a_directory_made_by_someone_else_or_not_empty_stays() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        release(lease(&theirs).unwrap());
        assert!(theirs.is_dir(), "a directory the user made was removed");
        let filled = dir.path().join("filled");
        let held = lease(&filled).unwrap();
        std::fs::write(filled.join("kept"), "").unwrap();
        release(held);
        assert!(filled.join("kept").exists());
    }

    #[test]
    fn a_path_that_cannot_be_made_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        let err = lease_all(&[dir.path().join("file/sub")]).unwrap_err();
        assert!(err.to_string().contains("file/sub"), "{err}");
    }

    /// A mount point locked exclusively by something that is not a
    /// sandbox ending is used without a lease after a bounded wait, not
    /// waited on forever, and unmarked: no later run's end may remove it
    /// while this sandbox may still mount on it.
    #[test]
    fn a_lock_held_by_another_process_does_not_hang_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join(".husky");
        // A mount point an earlier sandbox made (marked), locked by
        // someone else.
        std::fs::DirBuilder::new()
            .mode(MARK)
            .create(&point)
            .unwrap();
        let holder = Flock::lock(open_dir(&point).unwrap(), FlockArg::LockExclusive).unwrap();
        let started = std::time::Instant::now();
        let unleased = lease(&point).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(unleased.lock.is_none());
        drop(holder);
        release(lease(&point).unwrap());
        assert!(point.is_dir(), "removed while a sandbox used it unleased");
        release(unleased);
        assert!(point.is_dir());
    }

    /// A parent this user owns but made read-only (`chmod 0555` by a
    /// command) neither stops the mount point nor keeps it from going; its
    /// mode is put back. (Root writes anywhere: nothing to show there.)
    #[test]
    fn a_read_only_parent_of_its_own_neither_stops_nor_keeps_a_mount_point() {
        use std::os::unix::fs::PermissionsExt;
        if nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("scripts");
        std::fs::create_dir(&parent).unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o555)).unwrap();
        let point = parent.join("hooks");
        let held = lease(&point).unwrap();
        assert!(point.is_dir());
        release(held);
        assert!(!point.exists(), "left behind");
        let mode = std::fs::metadata(&parent).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o555);
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

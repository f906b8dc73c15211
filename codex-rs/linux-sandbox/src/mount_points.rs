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
//! or that holds anything, is never removed.
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

/// A held lease on one mount point; [`release`] ends it.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    lock: Flock<File>,
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
        let made_here = match std::fs::DirBuilder::new().mode(0o755).create(path) {
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
        let lock =
            Flock::lock(dir, FlockArg::LockShared).map_err(|(_, errno)| io::Error::from(errno))?;
        if !still_at(path, &lock)? {
            continue;
        }
        if made_here {
            // So that whichever sandbox ends last, not only this one, knows
            // the directory is a mount point.
            use std::os::unix::fs::PermissionsExt;
            lock.set_permissions(std::fs::Permissions::from_mode(MARK))?;
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
    let Ok(file) = lock.unlock() else {
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
        && let Err(err) = std::fs::remove_dir(&path)
    {
        tracing::debug!(path = %path.display(), %err, "mount point left in place");
    }
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
}

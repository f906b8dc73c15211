//! Whether what a call would change lies in a git directory under another
//! name (what a `.git` file points to, a bare repository), asked of the
//! directories themselves, never of path strings.
//!
//! The walk starts at an open directory and goes up through `..` until it
//! reaches a project root (known by device and inode): every step is the
//! real parent at that moment, whatever a rename elsewhere does to the
//! path the guard read, and every question (`HEAD`?) is asked relative to
//! an open descriptor, so no path is ever too long to ask about. A path
//! string could be stale by the time it is looked up (another sandbox
//! renaming a directory above the workspace) or too long for the kernel
//! (`ENAMETOOLONG` read as "no `HEAD` here").

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstat, fstatat};

use super::perform::{Start, open_at};

/// Deeper than any path the kernel names (`PATH_MAX` is 4096 bytes, so at
/// most 2048 components): a walk this long is refused.
const MAX_LEVELS: usize = 2048;

/// A directory's identity: device and inode.
pub type DirId = (u64, u64);

/// The identity of the open file `fd`.
pub fn id_of(fd: BorrowedFd<'_>) -> Result<DirId, Errno> {
    let stat = fstat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Whether `dir` (an open directory), a directory above it strictly below
/// the first of `roots` the walk reaches, or `dir/name` when `name` is
/// given and is a directory, is a git directory. A walk that reaches `/`
/// without meeting a root looked at every directory above `dir`.
pub fn in_git_dir(
    dir: BorrowedFd<'_>,
    name: Option<&CStr>,
    roots: &[DirId],
) -> Result<bool, Errno> {
    if let Some(name) = name
        && let Ok(entry) = open_at(
            Start::of_borrowed(dir),
            name.to_bytes(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
            0,
        )
        && !roots.contains(&id_of(entry.as_fd())?)
        && is_git_dir(entry.as_fd())
    {
        return Ok(true);
    }
    let mut current: Option<OwnedFd> = None;
    for _ in 0..MAX_LEVELS {
        let here = current.as_ref().map_or(dir, |fd| fd.as_fd());
        let id = id_of(here)?;
        if roots.contains(&id) {
            return Ok(false);
        }
        if is_git_dir(here) {
            return Ok(true);
        }
        let parent = open_at(
            Start::of_borrowed(here),
            b"..",
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        if id_of(parent.as_fd())? == id {
            return Ok(false);
        }
        current = Some(parent);
    }
    Err(Errno::ELOOP)
}

/// The directory the open non-directory `file` is in, found by the path
/// the guard read for it and checked to hold that very file: `EAGAIN` if
/// it moved meanwhile.
pub fn parent_of_file(file: BorrowedFd<'_>, path: &[u8]) -> Result<OwnedFd, Errno> {
    let cut = path
        .iter()
        .rposition(|&byte| byte == b'/')
        .ok_or(Errno::EAGAIN)?;
    let (parent, name) = (&path[..cut.max(1)], &path[cut + 1..]);
    let dir = open_at(Start::CWD, parent, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let name = std::ffi::CString::new(name).map_err(|_| Errno::EAGAIN)?;
    let there = fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|_| Errno::EAGAIN)?;
    if (there.st_dev, there.st_ino) == id_of(file)? {
        Ok(dir)
    } else {
        Err(Errno::EAGAIN)
    }
}

/// Whether the directory `dir` is a git directory by git's own signs,
/// taken broadly: a `HEAD` (a file, or a symbolic link as in a legacy
/// symref, dangling or not) beside a `commondir`, or beside `objects` and
/// `refs` (which git only needs to be able to enter). Asked anew on every
/// call, never remembered: another sandbox or a host process can change
/// the answer at any moment, and a stale "no" would open a repository for
/// writing. Most directories end at the first question.
fn is_git_dir(dir: BorrowedFd<'_>) -> bool {
    let has = |name: &CStr| fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok();
    has(c"HEAD") && (has(c"commondir") || (has(c"objects") && has(c"refs")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_dir(path: &std::path::Path) -> OwnedFd {
        OwnedFd::from(std::fs::File::open(path).unwrap())
    }

    /// A git directory under another name is found from any depth below
    /// it, and from the entry itself by name; the walk stops at the root.
    #[test]
    fn a_git_directory_is_found_by_walking_up_to_the_root() {
        let base = tempfile::tempdir().unwrap();
        let ws = base.path().join("ws");
        let git = ws.join("store/realgit");
        for dir in ["objects", "refs/heads", "deep/er"] {
            std::fs::create_dir_all(git.join(dir)).unwrap();
        }
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir_all(ws.join("src")).unwrap();
        let roots = [id_of(open_dir(&ws).as_fd()).unwrap()];
        let deep = open_dir(&git.join("deep/er"));
        assert!(in_git_dir(deep.as_fd(), None, &roots).unwrap());
        let store = open_dir(&ws.join("store"));
        assert!(!in_git_dir(store.as_fd(), None, &roots).unwrap());
        assert!(in_git_dir(store.as_fd(), Some(c"realgit"), &roots).unwrap());
        let src = open_dir(&ws.join("src"));
        assert!(!in_git_dir(src.as_fd(), None, &roots).unwrap());
        // The root itself is never a git directory to the walk, even with
        // the signs: its own protected names are judged by name.
        std::fs::write(ws.join("HEAD"), "").unwrap();
        std::fs::create_dir_all(ws.join("objects")).unwrap();
        std::fs::create_dir_all(ws.join("refs")).unwrap();
        assert!(!in_git_dir(src.as_fd(), None, &roots).unwrap());
    }

    /// A legacy symref: `HEAD` a symbolic link, dangling.
    #[test]
    fn a_head_link_counts() {
        let base = tempfile::tempdir().unwrap();
        for dir in ["objects", "refs"] {
            std::fs::create_dir(base.path().join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("refs/heads/none", base.path().join("HEAD")).unwrap();
        assert!(is_git_dir(open_dir(base.path()).as_fd()));
    }

    /// The parent of an open file, checked to hold it.
    #[test]
    fn a_files_directory_is_the_one_holding_it() {
        let base = tempfile::tempdir().unwrap();
        let file_path = base.path().join("f");
        std::fs::write(&file_path, "").unwrap();
        let file = std::fs::File::open(&file_path).unwrap();
        let bytes = file_path.as_os_str().as_encoded_bytes();
        let dir = parent_of_file(file.as_fd(), bytes).unwrap();
        assert_eq!(
            id_of(dir.as_fd()).unwrap(),
            id_of(open_dir(base.path()).as_fd()).unwrap()
        );
        std::fs::rename(&file_path, base.path().join("g")).unwrap();
        assert_eq!(
            parent_of_file(file.as_fd(), bytes).unwrap_err(),
            Errno::EAGAIN
        );
    }
}

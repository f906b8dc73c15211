//! Which mounts a path the guard judges may lie on.
//!
//! The judge names what it holds by the path the kernel gives for a
//! descriptor, and that path means what the rules say only on a mount of
//! the supervisor's own mount namespace. A process of the command may make
//! a namespace of its own (`unshare -Urm`) and bind a protected directory
//! (`sub/.git`) anywhere there (`/opt`); the bind's files then read back as
//! `/opt/...`, and another process of the command can reach them from the
//! supervisor's view through `/proc/PID/root`, `/proc/PID/cwd`, a
//! descriptor passed over a socket or a detached mount (`open_tree`). So a
//! file the guard would change must lie on a mount of its own namespace,
//! known by its mount id (`statx`, `STATX_MNT_ID`, Linux 5.8; the guard
//! needs 5.9 anyway). What has no name in any tree (a pipe, a socket, an
//! unlinked file such as a `memfd`) is judged by no path and may be
//! written wherever it lives.
//!
//! The supervisor's namespace gains a mount only by propagation from the
//! host (the command has no capability to mount there), so its mounts are
//! read when first needed (many commands never write, and reading them
//! costs a start-up as much as a seccomp filter does), and an unknown id
//! reads `/proc/self/mountinfo` again before it is refused.

use std::cell::RefCell;
use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::stat::fstat;

use super::procfs::procfs;

/// The mounts of the supervisor's namespace, by id, read on first use.
#[derive(Debug, Default)]
pub struct OwnMounts {
    ids: RefCell<Option<HashSet<u64>>>,
}

/// Where a descriptor's file lies, for judging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On a mount of the supervisor's namespace: its path means what the
    /// rules say.
    Own,
    /// Nowhere in a tree (a pipe, a socket, an unlinked file): there is no
    /// path to judge and nothing protected to reach.
    Nameless,
    /// On a mount of another namespace, or detached: its path means
    /// nothing here.
    Foreign,
}

impl OwnMounts {
    /// Where the file open as `fd` lies, and the id of its mount. An error
    /// when its mount cannot be told: nothing is judged by a path the guard
    /// could not place.
    pub fn place(&self, fd: impl AsFd) -> Result<(Placement, u64), Errno> {
        let fd = fd.as_fd();
        let id = mount_id(fd)?;
        Ok((self.placement(fd, id)?, id))
    }

    fn placement(&self, fd: BorrowedFd<'_>, id: u64) -> Result<Placement, Errno> {
        if self
            .ids
            .borrow()
            .as_ref()
            .is_some_and(|ids| ids.contains(&id))
        {
            return Ok(Placement::Own);
        }
        if is_nameless(fd)? {
            return Ok(Placement::Nameless);
        }
        let now = read_mount_ids()
            .map_err(|err| err.raw_os_error().map_or(Errno::EIO, Errno::from_raw))?;
        let known = now.contains(&id);
        *self.ids.borrow_mut() = Some(now);
        Ok(if known {
            Placement::Own
        } else {
            Placement::Foreign
        })
    }
}

/// Whether a mount of the supervisor's namespace lies strictly below the
/// directory at the real path `dir`: renaming `dir` would carry that mount
/// (a read-only bind of a repository, a mask) away and free its path.
/// Read anew each time: where mounts are changes with every rename of a
/// directory above them.
pub fn has_mount_below(dir: &[u8]) -> Result<bool, Errno> {
    let text = procfs()
        .read("self/mountinfo")
        .map_err(|err| err.raw_os_error().map_or(Errno::EIO, Errno::from_raw))?;
    Ok(mount_points(&text).any(|point| is_strictly_below(&point, dir)))
}

/// The mount points of `mountinfo`: the fifth field of each line, with the
/// kernel's octal escapes (`\040` for a space, ...) undone.
fn mount_points(mountinfo: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    mountinfo
        .split(|&byte| byte == b'\n')
        .filter_map(|line| line.split(|&byte| byte == b' ').nth(4))
        .map(unescape)
}

/// `field` with each `\NNN` (three octal digits) made the byte it names.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some((&byte, tail)) = rest.split_first() {
        let octal = tail
            .get(..3)
            .filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) if byte == b'\\' => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(u8::MAX));
                rest = &tail[3..];
            }
            _ => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    out
}

/// Whether `path` lies strictly below `dir`.
fn is_strictly_below(path: &[u8], dir: &[u8]) -> bool {
    let dir = dir.strip_suffix(b"/").unwrap_or(dir);
    path.len() > dir.len() + 1 && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// The id of the mount the file open as `fd` lies on.
pub(super) fn mount_id(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    // SAFETY: an all-zero statx is a valid value of the plain C struct.
    let mut stat: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: statx with AT_EMPTY_PATH reads the empty string and fills
    // the struct, both of which live across the call.
    let result = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC,
            libc::STATX_MNT_ID,
            &raw mut stat,
        )
    };
    if result < 0 {
        return Err(Errno::last());
    }
    if stat.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Errno::EACCES);
    }
    Ok(stat.stx_mnt_id)
}

/// Whether `fd` is a pipe or socket, or a non-directory with no link left.
fn is_nameless(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let stat = fstat(fd)?;
    let kind = stat.st_mode & libc::S_IFMT;
    Ok(kind == libc::S_IFIFO
        || kind == libc::S_IFSOCK
        || (kind != libc::S_IFDIR && stat.st_nlink == 0))
}

/// The ids in `/proc/self/mountinfo`: the first field of each line.
fn read_mount_ids() -> std::io::Result<HashSet<u64>> {
    let text = procfs().read("self/mountinfo")?;
    Ok(mount_ids(&String::from_utf8_lossy(&text)))
}

fn mount_ids(mountinfo: &str) -> HashSet<u64> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_are_the_first_field_of_each_line() {
        let text = "22 1 0:21 / / rw shared:1 - tmpfs tmpfs rw\n\
                    31 22 8:1 /ws /ws rw - ext4 /dev/sda1 rw\n";
        assert_eq!(mount_ids(text), HashSet::from([22, 31]));
    }

    #[test]
    fn mount_points_are_the_fifth_field_unescaped() {
        let text = b"22 1 0:21 / / rw - tmpfs tmpfs rw\n\
                     31 22 8:1 /ws /tmp/my\\040ws/.git ro - ext4 /dev/sda1 rw\n";
        let points: Vec<Vec<u8>> = mount_points(text).collect();
        assert_eq!(points, [b"/".to_vec(), b"/tmp/my ws/.git".to_vec()]);
        assert!(is_strictly_below(b"/tmp/my ws/.git", b"/tmp/my ws"));
        assert!(is_strictly_below(b"/tmp/a/b", b"/tmp/"));
        assert!(!is_strictly_below(b"/tmp/my ws", b"/tmp/my ws"));
        assert!(!is_strictly_below(b"/tmp/abc/x", b"/tmp/ab"));
        assert_eq!(unescape(b"a\\134b\\9"), b"a\\b\\9");
    }

    #[test]
    fn files_here_are_own_and_pipes_nameless() {
        let mounts = OwnMounts::default();
        let root = std::fs::File::open("/").unwrap();
        assert_eq!(mounts.place(&root).unwrap().0, Placement::Own);
        let (reader, _writer) = nix::unistd::pipe().unwrap();
        assert_eq!(mounts.place(&reader).unwrap().0, Placement::Nameless);
    }
}

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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstat, fstatat};

use super::perform::{Start, open_at};
use codex_sandboxing::protected::is_protected_name;

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

/// Where the guard's paths put a directory: `depth` levels below the
/// project root whose identity is `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Below {
    /// How many `..` steps lead from the directory to the root.
    pub depth: usize,
    /// The root's identity.
    pub root: DirId,
}

/// The deepest [`Below::depth`] asked through `..` steps: past it (a path
/// of `../` steps would near `PATH_MAX`) the walk opens each level.
const MAX_STEPPED_DEPTH: usize = 1000;

/// Whether `dir/name` is a directory and a git directory (not one of
/// `roots`, where the walk up asks).
pub fn entry_is_git_dir(dir: BorrowedFd<'_>, name: &CStr, roots: &[DirId]) -> Result<bool, Errno> {
    {
        let entry = match open_at(
            Start::of_borrowed(dir),
            name.to_bytes(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
            0,
        ) {
            Ok(entry) => Some(entry),
            // Not a directory (a file, a link), or gone: nothing below it.
            Err(Errno::ENOTDIR | Errno::ENOENT | Errno::ELOOP) => None,
            Err(err) => return Err(err),
        };
        Ok(match entry {
            Some(entry) => !roots.contains(&id_of(entry.as_fd())?) && is_git_dir(entry.as_fd())?,
            None => false,
        })
    }
}

/// Whether `dir` (an open directory) or a directory above it, up to and
/// including the first of `roots` the walk reaches, is a git directory. A
/// walk that reaches `/` without meeting a root looked at every directory
/// above `dir`.
///
/// With `below`, where the paths the guard read put `dir`, each level is
/// first asked through `..` steps from `dir` (`../../HEAD`), with no
/// descriptor opened per level, once the step as many levels up is
/// checked to be that root; if it is not (a directory moved meanwhile),
/// the walk is made one open level at a time. Either way every question is
/// asked of the directories as they are at that moment.
pub fn walk_up(dir: BorrowedFd<'_>, roots: &[DirId], below: Option<Below>) -> Result<bool, Errno> {
    if let Some(below) = below.filter(|below| below.depth <= MAX_STEPPED_DEPTH)
        && let Some(found) = stepped_walk(dir, below)?
    {
        return Ok(found);
    }
    let mut current: Option<OwnedFd> = None;
    // Each level's identity is read once, as the level above's parent.
    let mut id = id_of(dir)?;
    for _ in 0..MAX_LEVELS {
        let here = current.as_ref().map_or(dir, |fd| fd.as_fd());
        // The root itself counts: a workspace that is a bare repository
        // keeps its hooks and config.
        if is_git_dir(here)? {
            return Ok(true);
        }
        if roots.contains(&id) {
            return Ok(false);
        }
        let parent = open_at(
            Start::of_borrowed(here),
            b"..",
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        let parent_id = id_of(parent.as_fd())?;
        if parent_id == id {
            return Ok(false);
        }
        id = parent_id;
        current = Some(parent);
    }
    Err(Errno::ELOOP)
}

/// The walk of [`walk_up`] through `..` steps from `dir` up to
/// `below.root`, `below.depth` levels up, which is checked first: `None`
/// when that step is not the root (nothing above the root is asked).
fn stepped_walk(dir: BorrowedFd<'_>, below: Below) -> Result<Option<bool>, Errno> {
    let up = |levels: usize, then: &[u8]| -> Result<std::ffi::CString, Errno> {
        let mut path = b"../".repeat(levels);
        path.extend_from_slice(then);
        if path.is_empty() {
            path.push(b'.');
        }
        std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)
    };
    let top = fstatat(dir, up(below.depth, b"")?.as_c_str(), AtFlags::empty())?;
    if (top.st_dev, top.st_ino) != below.root {
        return Ok(None);
    }
    for level in 0..=below.depth {
        if has_entry(dir, &up(level, b"HEAD")?)? {
            let ancestor = open_at(
                Start::of_borrowed(dir),
                up(level, b"")?.as_bytes(),
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )?;
            if is_git_dir(ancestor.as_fd())? {
                return Ok(Some(true));
            }
        }
    }
    Ok(Some(false))
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

/// What a walk of a directory's subtree found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Nothing protected below it.
    Nothing,
    /// A protected name (`.git`, `.codex`, ...) or a git directory under
    /// another name at some depth.
    Protected,
    /// More entries than the walk looks at: it could not tell.
    TooMany,
}

/// Whether the subtree of the directory `dir` holds, at any depth, an entry
/// with a protected name or a git directory under another name, looking
/// at no more than `limit` entries. Moving such a directory would carry a
/// repository away from the path a `.git` file, a worktree or a user names
/// it by, and free that path for a planted one.
pub fn holds_protected(dir: BorrowedFd<'_>, limit: usize) -> Result<Holds, Errno> {
    let first = open_at(
        Start::of_borrowed(dir),
        b".",
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    let mut pending = vec![first];
    let mut seen = 0usize;
    while let Some(next) = pending.pop() {
        let mut listing = nix::dir::Dir::from_fd(next)?;
        let here = listing.as_raw_fd();
        let mut signs = GitSigns::default();
        let mut subdirs = Vec::new();
        for entry in listing.iter() {
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            seen += 1;
            if seen > limit {
                return Ok(Holds::TooMany);
            }
            if is_protected_name(name.to_bytes()) {
                return Ok(Holds::Protected);
            }
            signs.note(name.to_bytes());
            let is_dir = match entry.file_type() {
                Some(nix::dir::Type::Directory) => true,
                Some(_) => false,
                None => {
                    // SAFETY: `here` is the listing's open descriptor,
                    // borrowed for this one call.
                    let dir = unsafe { BorrowedFd::borrow_raw(here) };
                    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                        .is_ok_and(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
                }
            };
            if is_dir {
                subdirs.push(name.to_owned());
            }
        }
        if signs.is_git_dir() {
            return Ok(Holds::Protected);
        }
        // SAFETY: as above, `here` stays open while `listing` lives.
        let dir = unsafe { BorrowedFd::borrow_raw(here) };
        for name in subdirs {
            pending.push(open_at(
                Start::of_borrowed(dir),
                name.to_bytes(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?);
        }
    }
    Ok(Holds::Nothing)
}

/// The names of one directory listing that make it a git directory.
#[derive(Debug, Default)]
struct GitSigns {
    head: bool,
    commondir: bool,
    objects: bool,
    refs: bool,
}

impl GitSigns {
    /// The names git looks for.
    const NAMES: [&'static CStr; 4] = [c"HEAD", c"commondir", c"objects", c"refs"];

    /// Notes `name`; whether it is one of the signs.
    fn note(&mut self, name: &[u8]) -> bool {
        match name {
            b"HEAD" => self.head = true,
            b"commondir" => self.commondir = true,
            b"objects" => self.objects = true,
            b"refs" => self.refs = true,
            _ => return false,
        }
        true
    }

    /// [`is_git_dir`]'s rule, on a listing.
    fn is_git_dir(&self) -> bool {
        self.head && (self.commondir || (self.objects && self.refs))
    }
}

/// Whether a new entry named `name` in the directory `dir` would make
/// `dir` a git directory by [`is_git_dir`]'s rule: the last of `HEAD`,
/// `objects`, `refs` or `commondir` to appear, whatever its type or
/// content. Git discovers a repository by these signs alone, under any
/// name (a bare repository, what a dangling `.git` link or a `.git` file
/// points to once it exists), and runs what its config names; refusing
/// the entry that completes them is git's own rule, not a guess from a
/// name.
pub fn completes_git_dir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<bool, Errno> {
    let mut signs = GitSigns::default();
    if !signs.note(name) {
        return Ok(false);
    }
    for sign in GitSigns::NAMES {
        if has_entry(dir, sign)? {
            signs.note(sign.to_bytes());
        }
    }
    Ok(signs.is_git_dir())
}

/// Whether `dir` holds an entry `name`. Only "no such entry" is an answer
/// of no: any other error (`EACCES` while the command flips the
/// directory's mode, say) is returned, never read as absent.
fn has_entry(dir: BorrowedFd<'_>, name: &CStr) -> Result<bool, Errno> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether the directory `dir` is a git directory by git's own signs,
/// taken broadly: a `HEAD` (a file, or a symbolic link as in a legacy
/// symref, dangling or not) beside a `commondir`, or beside `objects` and
/// `refs` (which git only needs to be able to enter). Asked anew on every
/// call, never remembered: another sandbox or a host process can change
/// the answer at any moment, and a stale "no" would open a repository for
/// writing. Most directories end at the first question.
fn is_git_dir(dir: BorrowedFd<'_>) -> Result<bool, Errno> {
    let has = |name: &CStr| has_entry(dir, name);
    Ok(has(c"HEAD")? && (has(c"commondir")? || (has(c"objects")? && has(c"refs")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `dir`, a directory above it up to a root, or `dir/name`, is
    /// a git directory: what the judge asks of an existing entry.
    fn in_git_dir(
        dir: BorrowedFd<'_>,
        name: Option<&CStr>,
        roots: &[DirId],
        below: Option<Below>,
    ) -> Result<bool, Errno> {
        if let Some(name) = name
            && entry_is_git_dir(dir, name, roots)?
        {
            return Ok(true);
        }
        walk_up(dir, roots, below)
    }

    fn open_dir(path: &std::path::Path) -> OwnedFd {
        OwnedFd::from(std::fs::File::open(path).unwrap())
    }

    /// A git directory under another name is found from any depth below
    /// it, and from the entry itself by name; the walk stops after the
    /// root.
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
        assert!(in_git_dir(deep.as_fd(), None, &roots, None).unwrap());
        let store = open_dir(&ws.join("store"));
        assert!(!in_git_dir(store.as_fd(), None, &roots, None).unwrap());
        assert!(in_git_dir(store.as_fd(), Some(c"realgit"), &roots, None).unwrap());
        let src = open_dir(&ws.join("src"));
        assert!(!in_git_dir(src.as_fd(), None, &roots, None).unwrap());
        // The root itself counts: a workspace that is a bare repository.
        std::fs::write(ws.join("HEAD"), "").unwrap();
        std::fs::create_dir_all(ws.join("objects")).unwrap();
        std::fs::create_dir_all(ws.join("refs")).unwrap();
        assert!(in_git_dir(src.as_fd(), None, &roots, None).unwrap());
    }

    /// The walk through `..` steps answers as the walk one open level at a
    /// time does, from every depth; a depth or root the paths got wrong
    /// (a directory moved meanwhile) falls back to that walk.
    #[test]
    fn the_stepped_walk_answers_as_the_open_walk_and_falls_back_when_wrong() {
        let base = tempfile::tempdir().unwrap();
        let ws = base.path().join("ws");
        let git = ws.join("store/realgit");
        for dir in ["objects", "refs/heads", "deep/er"] {
            std::fs::create_dir_all(git.join(dir)).unwrap();
        }
        std::fs::write(git.join("HEAD"), "").unwrap();
        std::fs::create_dir_all(ws.join("src/a/b")).unwrap();
        // A HEAD alone is no git directory: the walk goes on past it.
        std::fs::write(ws.join("src/a/HEAD"), "").unwrap();
        let root = id_of(open_dir(&ws).as_fd()).unwrap();
        let roots = [root];
        let other = id_of(open_dir(base.path()).as_fd()).unwrap();
        for (dir, depth, expected) in [
            ("store/realgit/deep/er", 4, true),
            ("store/realgit", 2, true),
            ("store", 1, false),
            ("src/a/b", 3, false),
            ("", 0, false),
        ] {
            let fd = open_dir(&ws.join(dir));
            let right = Below { depth, root };
            assert_eq!(
                in_git_dir(fd.as_fd(), None, &roots, Some(right)),
                Ok(expected),
                "{dir}"
            );
            assert_eq!(stepped_walk(fd.as_fd(), right), Ok(Some(expected)), "{dir}");
            for wrong in [
                Below {
                    depth: depth + 1,
                    root,
                },
                Below { depth, root: other },
            ] {
                assert_eq!(stepped_walk(fd.as_fd(), wrong), Ok(None), "{dir} {wrong:?}");
                assert_eq!(
                    in_git_dir(fd.as_fd(), None, &roots, Some(wrong)),
                    Ok(expected),
                    "{dir} {wrong:?}"
                );
            }
        }
        // The root itself counts, by either walk.
        std::fs::write(ws.join("HEAD"), "").unwrap();
        std::fs::create_dir_all(ws.join("objects")).unwrap();
        std::fs::create_dir_all(ws.join("refs")).unwrap();
        let src = open_dir(&ws.join("src/a/b"));
        let right = Below { depth: 3, root };
        assert_eq!(in_git_dir(src.as_fd(), None, &roots, Some(right)), Ok(true));
    }

    /// A sign that cannot be looked up (the directory's search permission
    /// taken away, as a racing `chmod` does) is an error, never "absent".
    #[test]
    fn a_sign_that_cannot_be_looked_up_fails_the_question() {
        use std::os::unix::fs::PermissionsExt;
        if nix::unistd::geteuid().is_root() {
            // Root searches any directory: nothing to test.
            return;
        }
        let base = tempfile::tempdir().unwrap();
        for dir in ["objects", "refs"] {
            std::fs::create_dir(base.path().join(dir)).unwrap();
        }
        let dir = open_dir(base.path());
        let set = |mode| {
            std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o600);
        let asked = completes_git_dir(dir.as_fd(), b"HEAD");
        let walked = in_git_dir(dir.as_fd(), None, &[], None);
        set(0o700);
        assert_eq!(asked, Err(Errno::EACCES));
        assert_eq!(walked, Err(Errno::EACCES));
    }

    /// A protected name or a git directory at any depth is found; an
    /// ordinary tree is not; a walk past its limit says so.
    #[test]
    fn a_subtree_holding_a_repository_is_found_at_any_depth() {
        let base = tempfile::tempdir().unwrap();
        let plain = base.path().join("plain/a/b");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("f"), "").unwrap();
        let named = base.path().join("named/x/y/z");
        std::fs::create_dir_all(named.join(".Git")).unwrap();
        let bare = base.path().join("bare/deep/repo");
        for dir in ["objects", "refs"] {
            std::fs::create_dir_all(bare.join(dir)).unwrap();
        }
        std::fs::write(bare.join("HEAD"), "").unwrap();
        let holds = |dir: &str, limit: usize| {
            holds_protected(open_dir(&base.path().join(dir)).as_fd(), limit).unwrap()
        };
        assert_eq!(holds("plain", 100), Holds::Nothing);
        assert_eq!(holds("named", 100), Holds::Protected);
        assert_eq!(holds("bare", 100), Holds::Protected);
        assert_eq!(holds("plain", 2), Holds::TooMany);
    }

    /// The last sign to appear completes a git directory, in any order;
    /// other names, and a sign while another is missing, do not.
    #[test]
    fn the_entry_completing_a_git_directory_is_told() {
        let base = tempfile::tempdir().unwrap();
        let dir = open_dir(base.path());
        let completes = |name: &str| completes_git_dir(dir.as_fd(), name.as_bytes()).unwrap();
        assert!(!completes("HEAD"));
        assert!(!completes("config"));
        std::fs::create_dir(base.path().join("objects")).unwrap();
        assert!(!completes("HEAD"));
        assert!(!completes("refs"));
        std::fs::write(base.path().join("HEAD"), "").unwrap();
        assert!(completes("refs"));
        assert!(completes("commondir"));
        assert!(!completes("hooks"));
        std::fs::remove_dir(base.path().join("objects")).unwrap();
        assert!(!completes("refs"));
        std::fs::create_dir(base.path().join("refs")).unwrap();
        assert!(completes("objects"));
    }

    /// A legacy symref: `HEAD` a symbolic link, dangling.
    #[test]
    fn a_head_link_counts() {
        let base = tempfile::tempdir().unwrap();
        for dir in ["objects", "refs"] {
            std::fs::create_dir(base.path().join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("refs/heads/none", base.path().join("HEAD")).unwrap();
        assert!(is_git_dir(open_dir(base.path()).as_fd()).unwrap());
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

//! Judging what a held call would change, by where it really is.
//!
//! A new entry is judged in the directory it goes in, opened first
//! (following every symbolic link on the way, as the kernel's lookup does)
//! and named by the path the kernel gives for that descriptor; the call is
//! then made in that very directory. An existing entry the call would
//! write, move or link is opened (`O_PATH`) and judged by its own path.
//! The rules ([`Judge`]):
//! - a protected name is new only below the top of a temporary root;
//! - nothing inside a protected entry of a project root (an existing
//!   `.git`, `.codex`, `.agents`, `.aws` at any depth, or that entry
//!   itself), nor inside a git directory under another name there (what a
//!   `.git` file points to, a bare repository: a directory with a `HEAD`
//!   file and `objects` and `refs`, or `HEAD` and `commondir`, as git
//!   itself recognises one), is written, created, removed, moved away or
//!   linked elsewhere. This is what keeps a nested repository read-only: no
//!   start-up scan has to find it first, so start-up does not grow with the
//!   tree;
//! - no git directory under another name is made in a project root: the
//!   entry that would complete one (`HEAD`, `objects`, `refs` or
//!   `commondir`) is refused, so a bare repository, or what a dangling
//!   `.git` link names, never becomes one for host git to run;
//! - a directory of a project root holding a protected entry or a git
//!   directory at any depth is not moved, which would free the path a
//!   `.git` file or the user names it by;
//! - a writable root, and every directory above one, stays where it is.

use std::cell::{Ref, RefCell};
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use super::anchors::Anchors;
use super::git_dirs;
use super::mounts::{OwnMounts, Placement};
use super::paths::{SplitPath, split_path};
use super::perform::{Outcome, Start, open_at};
use super::procfs::procfs;
use super::roots::{Area, Roots};
use codex_sandboxing::protected::is_protected_name;

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It would make a new entry with a protected name (`EPERM`).
    NewName,
    /// It would change what lies inside a protected entry of a project
    /// root (`EROFS`, what a read-only mount answers).
    Inside,
    /// It would move or replace a writable root, or a directory above one
    /// (`EBUSY`, what a mount point answers).
    MovesRoot,
    /// It lies on a mount of another mount namespace (a nested sandbox's
    /// bind, reached through `/proc/PID/root` or a passed descriptor),
    /// where its path means nothing to the rules (`EACCES`).
    Foreign,
    /// Whether it lies in a git directory could not be told: a directory on
    /// its way moved while the guard looked (`EAGAIN`).
    Unsure,
    /// It is a directory holding a protected entry or a git directory at
    /// some depth, which would leave its path free for a planted one
    /// (`EBUSY`).
    HoldsProtected,
    /// It would complete a git directory under another name in a project
    /// root (`EPERM`, as for a new protected name).
    NewRepository,
    /// It would change the owner, mode, times or extended attributes of a
    /// file the command may not write, where no read-only mount answers
    /// that (the legacy pipeline): `EROFS`, what such a mount answers.
    ReadOnly,
    /// It would set a file capability or another `security.` or `trusted.`
    /// attribute where no user namespace confines it (the legacy
    /// pipeline), so that the host would honour it (`EPERM`).
    HostPrivilege,
}

impl Refusal {
    /// The error the caller gets.
    pub fn errno(self) -> Errno {
        match self {
            Refusal::NewName => Errno::EPERM,
            Refusal::Inside => Errno::EROFS,
            Refusal::MovesRoot => Errno::EBUSY,
            Refusal::Foreign => Errno::EACCES,
            Refusal::Unsure => Errno::EAGAIN,
            Refusal::HoldsProtected => Errno::EBUSY,
            Refusal::NewRepository => Errno::EPERM,
            Refusal::ReadOnly => Errno::EROFS,
            Refusal::HostPrivilege => Errno::EPERM,
        }
    }
}

/// What a judgment of an existing entry looks at besides its path.
#[derive(Debug, Clone, Copy)]
pub enum Existing<'a> {
    /// An open file or directory.
    Open(BorrowedFd<'a>),
    /// An entry, by the directory it is in and its name.
    Entry(&'a NewEntry),
}

/// A new entry, located: the directory it goes in, open, that
/// directory's real path, and its name there.
#[derive(Debug)]
pub struct NewEntry {
    /// The directory, `O_PATH`.
    pub dir: OwnedFd,
    /// The directory's path as the kernel names it.
    pub dir_path: Vec<u8>,
    /// The last component, with a trailing slash if the path had one.
    pub name: CString,
}

impl NewEntry {
    /// The entry's own real path.
    pub fn path(&self) -> Vec<u8> {
        join(&self.dir_path, trim_slash(self.name.to_bytes()))
    }
}

/// Why the path of a descriptor could not be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unjudged {
    /// The kernel's error telling where it is.
    Failed(Errno),
    /// It lies on a mount of another namespace.
    Foreign,
}

impl Unjudged {
    /// What a call on `path` (as the command wrote it) comes to.
    pub fn outcome(self, path: &[u8]) -> Outcome {
        match self {
            Unjudged::Failed(err) => Outcome::Failed(err),
            Unjudged::Foreign => Outcome::Refused(path.to_vec(), Refusal::Foreign),
        }
    }
}

impl From<Errno> for Unjudged {
    fn from(err: Errno) -> Self {
        Unjudged::Failed(err)
    }
}

/// The guard's rules for one sandbox: its writable roots, held open, as
/// the kernel names them at the current call, and the mounts of its
/// namespace.
#[derive(Debug)]
pub struct Judge {
    anchors: Anchors,
    roots: RefCell<Roots>,
    mounts: OwnMounts,
    /// The walks up for git directories made for the call being judged,
    /// by the directory they started at and its path (one directory may be
    /// reached through two mounts): a rename whose two names share a
    /// directory asks once. Forgotten at each [`Judge::refresh`], so no
    /// answer outlives its call.
    walks: RefCell<Vec<(WalkStart, bool)>>,
}

impl Judge {
    /// The rules for the roots `anchors` hold, in the namespace whose
    /// mounts are `mounts`.
    pub fn new(anchors: Anchors, mounts: OwnMounts) -> Result<Self, Errno> {
        let roots = RefCell::new(anchors.current()?);
        Ok(Judge {
            anchors,
            roots,
            mounts,
            walks: RefCell::default(),
        })
    }

    /// Reads where the roots are now: done before each held call, whose
    /// paths are all judged against that reading.
    pub fn refresh(&self) -> Result<(), Errno> {
        self.walks.borrow_mut().clear();
        *self.roots.borrow_mut() = self.anchors.current()?;
        Ok(())
    }

    /// The writable roots, as of the last [`Judge::refresh`].
    pub fn roots(&self) -> Ref<'_, Roots> {
        self.roots.borrow()
    }

    /// Locates the entry `path` names (from `start`) and judges it as new.
    /// `Ok(None)` when its last component names no new entry (`.`, `..`,
    /// the empty path, `/`): the call is made as given, and the kernel
    /// answers it. `Err` carries the outcome that ends the call: a refusal
    /// (with `path` as the command wrote it) or the error reaching its
    /// directory.
    pub fn new_entry(&self, start: Start, path: &CStr) -> Result<Option<NewEntry>, Outcome> {
        let Some(entry) = self.locate(start, path)? else {
            return Ok(None);
        };
        self.judge_new(entry.dir.as_fd(), &entry.dir_path, entry.name.to_bytes())
            .map_err(|refusal| Outcome::Refused(path.to_bytes().to_vec(), refusal))?;
        Ok(Some(entry))
    }

    /// Whether an entry named `name` may be made in the directory `dir`,
    /// whose real path is `dir_path`.
    pub fn judge_new(
        &self,
        dir: BorrowedFd<'_>,
        dir_path: &[u8],
        name: &[u8],
    ) -> Result<(), Refusal> {
        self.judge_name(dir_path, name)?;
        self.judge_existing(Existing::Open(dir), dir_path)?;
        let area = self.roots().area_of(dir_path);
        // At the top of a temporary root too: `git init --bare $TMPDIR`
        // would be the repository of every directory there without one.
        if matches!(area, Area::Project | Area::ScratchTop) {
            match git_dirs::completes_git_dir(dir, trim_slash(name)) {
                Ok(false) => {}
                Ok(true) => return Err(Refusal::NewRepository),
                Err(_) => return Err(Refusal::Unsure),
            }
        }
        Ok(())
    }

    /// What the paths alone decide of a new entry `name` in the directory
    /// `dir_path`: no protected name where one may not appear, nothing in
    /// an existing protected entry of a project root.
    fn judge_name(&self, dir_path: &[u8], name: &[u8]) -> Result<(), Refusal> {
        let roots = self.roots();
        if is_protected_name(trim_slash(name)) && !roots.area_of(dir_path).allows_protected_names()
        {
            return Err(Refusal::NewName);
        }
        // The entry's own path, not only its directory's: a kept path that
        // does not exist yet is not made either.
        if roots.is_inside_protected(&join(dir_path, trim_slash(name))) {
            return Err(Refusal::Inside);
        }
        Ok(())
    }

    /// Whether the existing entry `existing`, at the real path `path`, may
    /// be written, removed, moved away or linked elsewhere (and, for a
    /// directory, have entries made in it): not inside a protected entry of
    /// a project root, nor in a git directory under another name there.
    pub fn judge_existing(&self, existing: Existing<'_>, path: &[u8]) -> Result<(), Refusal> {
        let roots = self.roots();
        if roots.is_inside_protected(path) {
            return Err(Refusal::Inside);
        }
        if roots.area_of(path) != Area::Project {
            return Ok(());
        }
        drop(roots);
        match self.in_git_dir(existing, path) {
            Ok(false) => Ok(()),
            Ok(true) => Err(Refusal::Inside),
            Err(_) => Err(Refusal::Unsure),
        }
    }

    /// Whether the owner, mode, times or extended attributes of the
    /// existing file `existing`, at the real path `path`, may change: as
    /// for any change of it ([`Judge::judge_existing`]), only where the
    /// command may write ([`Roots::may_change_metadata`]), never on a
    /// temporary root itself, and never on a device node: the sandbox's
    /// `/dev/null` and its siblings are the host's own nodes, bound in (in
    /// the legacy pipeline simply the host's), so root's `chmod 600
    /// /dev/null` would break it for every user.
    pub fn judge_metadata(&self, existing: Existing<'_>, path: &[u8]) -> Result<(), Refusal> {
        if let Existing::Open(fd) = existing {
            let kind = nix::sys::stat::fstat(fd)
                .map_err(|_| Refusal::Unsure)?
                .st_mode
                & libc::S_IFMT;
            if kind == libc::S_IFCHR || kind == libc::S_IFBLK {
                return Err(Refusal::ReadOnly);
            }
        }
        let roots = self.roots();
        // A temporary root itself keeps its mode and owner: `/tmp` without
        // its sticky bit lets every user remove every other's files.
        if !roots.may_change_metadata(path) || roots.area_of(path) == Area::ScratchTop {
            return Err(Refusal::ReadOnly);
        }
        drop(roots);
        self.judge_existing(existing, path)
    }

    /// Whether `existing`, or a directory above it below its project root,
    /// is a git directory ([`git_dirs::entry_is_git_dir`],
    /// [`git_dirs::walk_up`]).
    fn in_git_dir(&self, existing: Existing<'_>, path: &[u8]) -> Result<bool, Errno> {
        let roots = self.anchors.project_ids();
        match existing {
            Existing::Entry(entry) => {
                let name =
                    CString::new(trim_slash(entry.name.to_bytes())).map_err(|_| Errno::EINVAL)?;
                Ok(
                    git_dirs::entry_is_git_dir(entry.dir.as_fd(), &name, &roots)?
                        || self.walk_up(entry.dir.as_fd(), None, parent_path(path), &roots)?,
                )
            }
            Existing::Open(fd) => {
                let stat = nix::sys::stat::fstat(fd)?;
                if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    self.walk_up(fd, Some(&stat), path, &roots)
                } else if stat.st_nlink == 0 {
                    // Unlinked: in no directory any more.
                    Ok(false)
                } else {
                    let dir = git_dirs::parent_of_file(fd, path)?;
                    self.walk_up(dir.as_fd(), None, parent_path(path), &roots)
                }
            }
        }
    }

    /// [`git_dirs::walk_up`] from the directory `dir` (whose status is
    /// `stat` when already read), at the real path `dir_path`, made once per
    /// call for each directory.
    fn walk_up(
        &self,
        dir: BorrowedFd<'_>,
        stat: Option<&libc::stat>,
        dir_path: &[u8],
        roots: &[git_dirs::DirId],
    ) -> Result<bool, Errno> {
        let id = match stat {
            Some(stat) => (stat.st_dev, stat.st_ino),
            None => git_dirs::id_of(dir)?,
        };
        let key = (id, dir_path.to_vec());
        if let Some(&(_, found)) = self
            .walks
            .borrow()
            .iter()
            .find(|(walked, _)| *walked == key)
        {
            return Ok(found);
        }
        let found = git_dirs::walk_up(dir, roots, self.below(dir_path))?;
        self.walks.borrow_mut().push((key, found));
        Ok(found)
    }

    /// Where the current roots put the directory `dir_path`: how far below
    /// which project root.
    fn below(&self, dir_path: &[u8]) -> Option<git_dirs::Below> {
        let (index, depth) = self.roots().below_project(dir_path)?;
        Some(git_dirs::Below {
            depth,
            root: self.anchors.id_at(index)?,
        })
    }

    /// Locates the entry `path` names without judging it. `Ok(None)` as in
    /// [`Judge::new_entry`].
    pub fn locate(&self, start: Start, path: &CStr) -> Result<Option<NewEntry>, Outcome> {
        let split = split_path(path.to_bytes());
        if matches!(split.name, b"" | b"." | b"..") {
            return Ok(None);
        }
        let dir = open_parent(start, &split).map_err(Outcome::Failed)?;
        let dir_path = self
            .dir_path_of(&dir)
            .map_err(|unjudged| unjudged.outcome(path.to_bytes()))?;
        let mut name = split.name.to_vec();
        if split.trailing_slash {
            name.push(b'/');
        }
        let name = CString::new(name).map_err(|_| Outcome::Failed(Errno::EINVAL))?;
        Ok(Some(NewEntry {
            dir_path,
            dir,
            name,
        }))
    }

    /// The path the kernel gives for the open descriptor `fd`, to judge it
    /// by: absolute for a file on a mount of the sandbox's namespace,
    /// `pipe:[N]` and the like for what has no name. Never for a file on a
    /// mount of another namespace ([`Unjudged::Foreign`]), whose path means
    /// something else, nor when it cannot be read (a path longer than
    /// `PATH_MAX`): nothing is judged by a path the guard could not see.
    /// A file on a writable root's mount whose path does not lie in that
    /// root, as last read, was named across a rename of a directory above
    /// the root: `EAGAIN`, never a verdict by the wrong root.
    pub fn path_of(&self, fd: impl AsFd) -> Result<Vec<u8>, Unjudged> {
        let fd = fd.as_fd();
        let (placement, mount) = self.mounts.place(fd)?;
        if placement == Placement::Foreign {
            return Err(Unjudged::Foreign);
        }
        let path = procfs()
            .path_of_fd(fd.as_raw_fd())
            .map(|path| path.as_os_str().as_bytes().to_vec())
            .map_err(|err| {
                Unjudged::Failed(err.raw_os_error().map_or(Errno::EIO, Errno::from_raw))
            })?;
        if let Some(root) = self.anchors.root_on(mount)
            && self.roots().deepest_index(&path) != Some(root)
        {
            return Err(Unjudged::Failed(Errno::EAGAIN));
        }
        Ok(path)
    }

    /// [`Judge::path_of`] a directory, which must be absolute: one the
    /// kernel cannot name from the sandbox's root is refused (`EACCES`).
    pub fn dir_path_of(&self, dir: impl AsFd) -> Result<Vec<u8>, Unjudged> {
        let path = self.path_of(dir)?;
        if path.starts_with(b"/") {
            Ok(path)
        } else {
            Err(Unjudged::Failed(Errno::EACCES))
        }
    }
}

/// The directory `split`'s last component is in, opened `O_PATH` through
/// every symbolic link on the way, as the kernel's lookup goes.
pub fn open_parent(start: Start, split: &SplitPath<'_>) -> Result<OwnedFd, Errno> {
    let parent: &[u8] = if split.parent.is_empty() {
        b"."
    } else {
        split.parent
    };
    open_at(start, parent, libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// `dir/name`, without doubling a slash after `/`.
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = dir.to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// Where a walk up for git directories starts: a directory's identity and
/// its real path.
type WalkStart = (git_dirs::DirId, Vec<u8>);

/// The path of the directory `path` is in (`/` for a top-level entry).
fn parent_path(path: &[u8]) -> &[u8] {
    let path = trim_slash(path);
    match path.iter().rposition(|&byte| byte == b'/') {
        Some(cut) if cut > 0 => &path[..cut],
        _ => b"/",
    }
}

fn trim_slash(name: &[u8]) -> &[u8] {
    name.strip_suffix(b"/").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{GuardRoot, RootKind};

    /// A judge whose roots are only paths (none is held open): what
    /// [`Judge::refresh`] would read is set directly.
    fn judge() -> Judge {
        Judge {
            anchors: Anchors::default(),
            roots: RefCell::new(Roots::new(vec![
                GuardRoot {
                    path: "/tmp".into(),
                    kind: RootKind::Scratch,
                },
                GuardRoot {
                    path: "/tmp/ws".into(),
                    kind: RootKind::Project,
                },
            ])),
            walks: RefCell::default(),
            mounts: OwnMounts::default(),
        }
    }

    #[test]
    fn a_walk_up_is_made_once_per_call_and_anew_for_the_next() {
        let judge = judge();
        let base = tempfile::tempdir().unwrap();
        let dir = OwnedFd::from(std::fs::File::open(base.path()).unwrap());
        let path = base.path().as_os_str().as_bytes();
        assert_eq!(
            judge.in_git_dir(Existing::Open(dir.as_fd()), path),
            Ok(false)
        );
        // It becomes a git directory during the call: the call's answer
        // stands, as if asked a moment before.
        std::fs::write(base.path().join("HEAD"), "").unwrap();
        std::fs::create_dir(base.path().join("objects")).unwrap();
        std::fs::create_dir(base.path().join("refs")).unwrap();
        assert_eq!(
            judge.in_git_dir(Existing::Open(dir.as_fd()), path),
            Ok(false)
        );
        // The next call asks again.
        judge.refresh().unwrap();
        assert_eq!(
            judge.in_git_dir(Existing::Open(dir.as_fd()), path),
            Ok(true)
        );
    }

    #[test]
    fn the_parent_path_of_an_entry() {
        assert_eq!(parent_path(b"/ws/a/b"), b"/ws/a");
        assert_eq!(parent_path(b"/ws/a/"), b"/ws");
        assert_eq!(parent_path(b"/ws"), b"/");
        assert_eq!(parent_path(b"/"), b"/");
    }

    #[test]
    fn new_entries_are_judged_by_name_and_by_the_directory_they_go_in() {
        let judge = judge();
        let cases: [(&str, &str, Result<(), Refusal>); 10] = [
            ("/tmp/ws", "src", Ok(())),
            ("/tmp/ws", ".git", Err(Refusal::NewName)),
            ("/tmp/ws/a/b", ".Codex/", Err(Refusal::NewName)),
            ("/tmp/ws/sub/.git", "hooks", Err(Refusal::Inside)),
            ("/tmp/ws/sub/.git/hooks", "pre-commit", Err(Refusal::Inside)),
            ("/tmp", ".git", Err(Refusal::NewName)),
            ("/tmp/x", ".git", Ok(())),
            ("/tmp/x/.git", "config", Ok(())),
            ("/etc", ".git", Err(Refusal::NewName)),
            ("/etc", "passwd", Ok(())),
        ];
        for (dir, name, verdict) in cases {
            assert_eq!(
                judge.judge_name(dir.as_bytes(), name.as_bytes()),
                verdict,
                "{dir} {name}"
            );
        }
    }

    /// By path alone (the descriptor, `/`, lies in no git directory).
    #[test]
    fn existing_entries_inside_a_protected_one_stay_as_they_are() {
        let judge = judge();
        let root = std::fs::File::open("/").unwrap();
        let existing = |path: &[u8]| judge.judge_existing(Existing::Open(root.as_fd()), path);
        assert_eq!(existing(b"/tmp/ws/sub/.git/config"), Err(Refusal::Inside));
        assert_eq!(existing(b"/tmp/ws/sub/.git"), Err(Refusal::Inside));
        assert_eq!(existing(b"/tmp/ws/sub/file"), Ok(()));
        assert_eq!(existing(b"/tmp/repo/.git/config"), Ok(()));
        assert_eq!(existing(b"pipe:[7]"), Ok(()));
        assert_eq!(Refusal::Inside.errno(), Errno::EROFS);
        assert_eq!(Refusal::NewName.errno(), Errno::EPERM);
    }

    #[test]
    fn an_entrys_path_joins_its_directory_and_name() {
        assert_eq!(join(b"/", b"x"), b"/x");
        assert_eq!(join(b"/ws", b"x"), b"/ws/x");
        assert_eq!(trim_slash(b"dir/"), b"dir");
    }
}

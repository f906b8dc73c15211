//! The writable roots, held open while the command runs, so the guard
//! knows where each one is now and which mount is each one's.
//!
//! The guard judges a directory by its path, and a path is relative to
//! the roots: but a root's own path changes when anything renames a
//! directory above it, which the command cannot do here but another
//! sandbox sharing `/tmp`, or a host process, can. A workspace in `/tmp`
//! renamed from above would then read back as scratch space. So each root
//! is held open from the start and its path read again for every held
//! call; and since with the guard in the bubblewrap pipeline every
//! writable root is a mount of its own (the planner binds each), a
//! directory on a root's mount whose path does not lie in that root's
//! current path was read across a rename, and the call fails (`EAGAIN`)
//! rather than be judged by the wrong root. Mounts follow no rename: the
//! mount a directory lies on says which root it is in, whatever its path
//! reads. The legacy pipeline has no mounts ([`RootLayout::InPlace`]).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;

use super::git_dirs::{DirId, id_of};
use super::mounts::mount_id;
use super::perform::{Start, open_at};
use super::procfs::procfs;
use super::roots::Roots;
use crate::protocol::{GuardRoot, RootKind};

/// How the writable roots lie in the supervisor's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootLayout {
    /// Each root is a mount of its own (the bubblewrap pipeline binds
    /// each), and mounts keep what is read-only inside them so.
    Mounted,
    /// The roots are plain directories of the host's tree (the legacy
    /// pipeline, which makes no mount), and the guard alone keeps `kept`
    /// (real paths inside them) read-only. No mount tells a root across a
    /// rename of a directory above it, and none is needed against the
    /// command: Landlock refuses it every rename outside the roots, and
    /// the guard every move of a root or of a directory above one inside
    /// them. Only another process of the host can move one meanwhile.
    InPlace {
        /// The paths kept read-only.
        kept: Vec<PathBuf>,
        /// The real paths Landlock lets the command write (directories
        /// and files): metadata changes, which Landlock does not cover,
        /// are refused elsewhere ([`Roots::changing_metadata_only_in`]).
        writable: Vec<PathBuf>,
    },
}

/// The roots, each open (`O_PATH`) with the id of its mount where it is a
/// mount of its own.
#[derive(Debug, Default)]
pub struct Anchors {
    roots: Vec<Anchor>,
    kept: Vec<PathBuf>,
    writable: Option<Vec<PathBuf>>,
}

#[derive(Debug)]
struct Anchor {
    root: GuardRoot,
    dir: OwnedFd,
    mount: Option<u64>,
    id: DirId,
}

impl Anchors {
    /// Opens each of `roots` at the path the outer stage planned, which
    /// must be a mount of its own (the root of its mount, or `/`) where
    /// `layout` says so. An error names the root and why, and the guard
    /// does not start.
    pub fn open(roots: Vec<GuardRoot>, layout: RootLayout) -> Result<Anchors, String> {
        let mut anchors = Vec::with_capacity(roots.len());
        for root in roots {
            let path = root.path.as_os_str().as_bytes();
            let shown = root.path.display();
            let dir = open_at(
                Start::CWD,
                path,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .map_err(|err| format!("cannot hold the writable root {shown}: {err}"))?;
            let mount = match layout {
                RootLayout::Mounted => Some(own_mount(&dir, path, &shown.to_string())?),
                RootLayout::InPlace { .. } => None,
            };
            let id =
                id_of(dir.as_fd()).map_err(|err| format!("cannot tell what {shown} is: {err}"))?;
            anchors.push(Anchor {
                root,
                dir,
                mount,
                id,
            });
        }
        let (kept, writable) = match layout {
            RootLayout::Mounted => (Vec::new(), None),
            RootLayout::InPlace { kept, writable } => (kept, Some(writable)),
        };
        Ok(Anchors {
            roots: anchors,
            kept,
            writable,
        })
    }

    /// The roots at the paths the kernel gives for them now, in the order
    /// they were opened.
    pub fn current(&self) -> Result<Roots, Errno> {
        let mut roots = Vec::with_capacity(self.roots.len());
        for anchor in &self.roots {
            let path = procfs()
                .path_of_fd(anchor.dir.as_raw_fd())
                .map_err(|err| err.raw_os_error().map_or(Errno::EIO, Errno::from_raw))?;
            roots.push(GuardRoot {
                path,
                kind: anchor.root.kind,
            });
        }
        let roots = Roots::new(roots).keeping(self.kept.clone());
        Ok(match &self.writable {
            Some(writable) => roots.changing_metadata_only_in(writable.clone()),
            None => roots,
        })
    }

    /// The identities of the project roots, where a walk up from a
    /// directory looking for git directories ends.
    pub fn project_ids(&self) -> Vec<DirId> {
        self.roots
            .iter()
            .filter(|anchor| anchor.root.kind == RootKind::Project)
            .map(|anchor| anchor.id)
            .collect()
    }

    /// The identity of the root at `index`, in the order they were opened
    /// (that of [`Anchors::current`]).
    pub fn id_at(&self, index: usize) -> Option<DirId> {
        self.roots.get(index).map(|anchor| anchor.id)
    }

    /// The position of the root whose own mount is `mount`, if any.
    pub fn root_on(&self, mount: u64) -> Option<usize> {
        self.roots
            .iter()
            .position(|anchor| anchor.mount == Some(mount))
    }
}

/// The id of the mount the root open as `dir` (at `path`, shown as
/// `shown`) is, which must be its own: not its parent's, unless it is `/`.
fn own_mount(dir: &OwnedFd, path: &[u8], shown: &str) -> Result<u64, String> {
    let mount =
        mount_id(dir.as_fd()).map_err(|err| format!("cannot tell the mount of {shown}: {err}"))?;
    let parent = open_at(Start::of(dir), b"..", libc::O_PATH | libc::O_DIRECTORY, 0)
        .and_then(|parent| mount_id(parent.as_fd()))
        .map_err(|err| format!("cannot tell the mount above {shown}: {err}"))?;
    if parent == mount && path != b"/" {
        return Err(format!(
            "the writable root {shown} is not a mount of its own in the sandbox"
        ));
    }
    Ok(mount)
}

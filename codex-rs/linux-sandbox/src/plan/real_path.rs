//! Symlink resolution through an [`FsView`].
//!
//! bwrap follows symlinks at mount destinations, so the planner reasons about
//! where a mount really lands: the existing part of a path is resolved like
//! `realpath(3)` and the missing rest is kept as written.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::fs_view::{Entry, FsView};

/// Same bound as the kernel's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: usize = 40;

/// Where a path really is and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealPath {
    /// Existing prefix resolved, missing suffix appended as written.
    pub path: PathBuf,
    /// What is at `path`.
    pub kind: RealKind,
    /// Every symlink crossed on the way, as (where the link is, its target
    /// as written), in the order crossed.
    pub symlinks: Vec<(PathBuf, PathBuf)>,
}

/// What is at a resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealKind {
    /// A directory.
    Dir,
    /// Any other existing object.
    File,
    /// Does not exist; `first_missing` is the shallowest missing component,
    /// whose parent exists.
    Missing {
        /// The component to mask to stop the path from being created.
        first_missing: PathBuf,
    },
}

/// Resolves `path` (absolute) through `fs`.
pub fn real_path(fs: &dyn FsView, path: &Path) -> io::Result<RealPath> {
    // Components still to walk; a symlink's target is pushed to the front.
    let mut pending: VecDeque<OsString> = components(path);
    let mut current = PathBuf::from("/");
    let mut hops = 0;
    let mut symlinks = Vec::new();
    while let Some(part) = pending.pop_front() {
        if part == "/" {
            current = PathBuf::from("/");
        } else if part == ".." {
            current.pop();
        } else if part != "." {
            let candidate = current.join(&part);
            match fs.entry(&candidate)? {
                Entry::Dir | Entry::File => current = candidate,
                Entry::Symlink(target) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::other(format!(
                            "too many levels of symbolic links at {}",
                            candidate.display()
                        )));
                    }
                    for part in components(&target).into_iter().rev() {
                        pending.push_front(part);
                    }
                    symlinks.push((candidate, target));
                }
                Entry::Missing => {
                    let mut full = candidate.clone();
                    for rest in pending {
                        if rest == ".." {
                            full.pop();
                        } else if rest != "." && rest != "/" {
                            full.push(rest);
                        }
                    }
                    return Ok(RealPath {
                        path: full,
                        kind: RealKind::Missing {
                            first_missing: candidate,
                        },
                        symlinks,
                    });
                }
            }
        }
    }
    let kind = match fs.entry(&current)? {
        Entry::Dir => RealKind::Dir,
        _ => RealKind::File,
    };
    Ok(RealPath {
        path: current,
        kind,
        symlinks,
    })
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .map(|component| match component {
            Component::RootDir => OsString::from("/"),
            other => other.as_os_str().to_os_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_view::fake::FakeFs;

    fn resolve(fs: &FakeFs, path: &str) -> RealPath {
        real_path(fs, Path::new(path)).unwrap()
    }

    #[test]
    fn existing_paths_resolve_to_themselves() {
        let fs = FakeFs::new().dir("/a/b").file("/a/f", "");
        assert_eq!(resolve(&fs, "/a/b").path, PathBuf::from("/a/b"));
        assert_eq!(resolve(&fs, "/a/b").kind, RealKind::Dir);
        assert_eq!(resolve(&fs, "/a/f").kind, RealKind::File);
        assert!(resolve(&fs, "/a/f").symlinks.is_empty());
        assert_eq!(resolve(&fs, "/").kind, RealKind::Dir);
    }

    #[test]
    fn symlinks_are_followed_absolute_and_relative() {
        let fs = FakeFs::new()
            .dir("/data/proj")
            .symlink("/home/me/proj", "/data/proj")
            .symlink("/w/link", "../data/proj")
            .dir("/w");
        let abs = resolve(&fs, "/home/me/proj/src");
        assert_eq!(abs.path, PathBuf::from("/data/proj/src"));
        assert_eq!(
            abs.symlinks,
            [("/home/me/proj".into(), "/data/proj".into())]
        );
        assert_eq!(resolve(&fs, "/w/link").path, PathBuf::from("/data/proj"));
        assert_eq!(resolve(&fs, "/w/link").kind, RealKind::Dir);
    }

    #[test]
    fn chained_symlinks_resolve() {
        let fs = FakeFs::new()
            .symlink("/a", "/b")
            .symlink("/b", "c")
            .dir("/c/d");
        assert_eq!(resolve(&fs, "/a/d").path, PathBuf::from("/c/d"));
    }

    #[test]
    fn missing_paths_report_the_first_missing_component() {
        let fs = FakeFs::new().dir("/ws");
        let missing = resolve(&fs, "/ws/.git/hooks");
        assert_eq!(missing.path, PathBuf::from("/ws/.git/hooks"));
        assert_eq!(
            missing.kind,
            RealKind::Missing {
                first_missing: "/ws/.git".into()
            }
        );
    }

    #[test]
    fn a_dangling_symlink_resolves_to_its_missing_target() {
        let fs = FakeFs::new().dir("/ws").symlink("/ws/.git", "store/git");
        let real = resolve(&fs, "/ws/.git");
        assert_eq!(real.path, PathBuf::from("/ws/store/git"));
        assert_eq!(
            real.kind,
            RealKind::Missing {
                first_missing: "/ws/store".into()
            }
        );
        assert_eq!(real.symlinks, [("/ws/.git".into(), "store/git".into())]);
    }

    #[test]
    fn symlink_loops_are_errors() {
        let fs = FakeFs::new().symlink("/a", "/b").symlink("/b", "/a");
        let err = real_path(&fs, Path::new("/a/x")).unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
    }
}

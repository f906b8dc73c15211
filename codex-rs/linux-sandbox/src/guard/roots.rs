//! Where in the sandbox a directory lies, as the guard judges new entries:
//! in a project root (the workspace, a configured writable root), where a
//! protected name is refused at any depth; at the top of a temporary root
//! (`/tmp`, `$TMPDIR`), where it is refused too, since every git command
//! run below would find it; or below that top, scratch space where
//! `git init` and `cargo new` work. Pure: paths in, verdicts out.

use std::os::unix::ffi::OsStrExt;

use crate::protocol::{GuardRoot, RootKind};

/// The area a directory is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Below no writable root (nothing persistent can be created there),
    /// or a directory whose path the guard cannot tell.
    Outside,
    /// A temporary root itself.
    ScratchTop,
    /// Below the top of a temporary root, with no project root between.
    Scratch,
    /// A project root or anything below one (no temporary root between).
    Project,
}

impl Area {
    /// Whether an entry with a protected name may be created directly in
    /// a directory of this area.
    pub fn allows_protected_names(self) -> bool {
        self == Area::Scratch
    }

    /// Whether anything made here is shared scratch space, which a
    /// project root must not receive whole (see [`Roots`]).
    pub fn is_scratch(self) -> bool {
        matches!(self, Area::ScratchTop | Area::Scratch)
    }
}

/// The writable roots of one sandbox, deepest first where nested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    roots: Vec<GuardRoot>,
}

impl Roots {
    /// The roots the outer stage planned.
    pub fn new(roots: Vec<GuardRoot>) -> Self {
        Roots { roots }
    }

    /// The area of the directory whose absolute path (as the kernel names
    /// an open descriptor of it) is `dir`. The deepest root containing it
    /// decides; a path that is not absolute, or that the kernel marks as
    /// deleted, is [`Area::Outside`].
    pub fn area_of(&self, dir: &[u8]) -> Area {
        if !dir.starts_with(b"/") || dir.ends_with(b" (deleted)") {
            return Area::Outside;
        }
        let deepest = self
            .roots
            .iter()
            .filter(|root| is_within(dir, root.path.as_os_str().as_bytes()))
            .max_by_key(|root| root.path.as_os_str().len());
        match deepest {
            None => Area::Outside,
            Some(root) => match root.kind {
                RootKind::Project => Area::Project,
                RootKind::Scratch if is_same(dir, root.path.as_os_str().as_bytes()) => {
                    Area::ScratchTop
                }
                RootKind::Scratch => Area::Scratch,
            },
        }
    }
}

/// Whether `path` is `root` or lies below it, component-wise.
fn is_within(path: &[u8], root: &[u8]) -> bool {
    let root = trim_slashes(root);
    let path = trim_slashes(path);
    if root.is_empty() {
        return true;
    }
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

fn is_same(path: &[u8], root: &[u8]) -> bool {
    trim_slashes(path) == trim_slashes(root)
}

/// `path` without trailing slashes (`/` becomes empty).
fn trim_slashes(path: &[u8]) -> &[u8] {
    let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(list: &[(&str, RootKind)]) -> Roots {
        Roots::new(
            list.iter()
                .map(|(path, kind)| GuardRoot {
                    path: (*path).into(),
                    kind: *kind,
                })
                .collect(),
        )
    }

    #[test]
    fn the_deepest_root_decides() {
        let roots = roots(&[
            ("/tmp", RootKind::Scratch),
            ("/tmp/ws", RootKind::Project),
            ("/home/me/proj", RootKind::Project),
            ("/home/me/proj/tmp", RootKind::Scratch),
        ]);
        let cases = [
            ("/tmp", Area::ScratchTop),
            ("/tmp/", Area::ScratchTop),
            ("/tmp/a", Area::Scratch),
            ("/tmp/a/b/c", Area::Scratch),
            ("/tmpx", Area::Outside),
            ("/tmp/ws", Area::Project),
            ("/tmp/ws/sub", Area::Project),
            ("/tmp/wsx", Area::Scratch),
            ("/home/me/proj", Area::Project),
            ("/home/me/proj/tmp", Area::ScratchTop),
            ("/home/me/proj/tmp/repo", Area::Scratch),
            ("/home/me", Area::Outside),
            ("/", Area::Outside),
            ("relative", Area::Outside),
            ("/tmp/a (deleted)", Area::Outside),
        ];
        for (dir, area) in cases {
            assert_eq!(roots.area_of(dir.as_bytes()), area, "{dir}");
        }
    }

    #[test]
    fn only_below_the_top_of_a_temporary_root_may_protected_names_appear() {
        let allowed: Vec<Area> = [
            Area::Outside,
            Area::ScratchTop,
            Area::Scratch,
            Area::Project,
        ]
        .into_iter()
        .filter(|area| area.allows_protected_names())
        .collect();
        assert_eq!(allowed, [Area::Scratch]);
        assert!(Area::ScratchTop.is_scratch() && Area::Scratch.is_scratch());
        assert!(!Area::Project.is_scratch() && !Area::Outside.is_scratch());
    }

    #[test]
    fn a_root_at_slash_contains_everything() {
        let roots = roots(&[("/", RootKind::Project), ("/tmp", RootKind::Scratch)]);
        assert_eq!(roots.area_of(b"/etc"), Area::Project);
        assert_eq!(roots.area_of(b"/"), Area::Project);
        assert_eq!(roots.area_of(b"/tmp/x"), Area::Scratch);
    }
}

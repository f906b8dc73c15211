//! Where in the sandbox a directory lies, as the guard judges new entries:
//! in a project root (the workspace, a configured writable root), where a
//! protected name is refused at any depth; at the top of a temporary root
//! (`/tmp`, `$TMPDIR`), where it is refused too, since every git command
//! run below would find it; or below that top, scratch space where
//! `git init` and `cargo new` work. Pure: paths in, verdicts out.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

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
}

/// The writable roots of one sandbox, deepest first where nested, and
/// the paths inside them kept read-only without a mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    roots: Vec<GuardRoot>,
    kept: Vec<PathBuf>,
    writable: Option<Vec<PathBuf>>,
}

impl Roots {
    /// The roots the outer stage planned.
    pub fn new(roots: Vec<GuardRoot>) -> Self {
        Roots {
            roots,
            kept: Vec::new(),
            writable: None,
        }
    }

    /// These roots, where only what lies within `writable` (real paths of
    /// directories and files) may have its owner, mode, times or extended
    /// attributes changed: Landlock, which keeps the rest of the legacy
    /// pipeline's tree read-only, has no right for those changes, and no
    /// read-only mount answers them there.
    pub fn changing_metadata_only_in(mut self, writable: Vec<PathBuf>) -> Self {
        self.writable = Some(writable);
        self
    }

    /// Whether the owner, mode, times or extended attributes of the file
    /// at `path` may change: anywhere where mounts answer that (the
    /// bubblewrap pipeline), else within the writable paths.
    pub fn may_change_metadata(&self, path: &[u8]) -> bool {
        self.writable.as_ref().is_none_or(|writable| {
            writable
                .iter()
                .any(|dir| is_within(path, dir.as_os_str().as_bytes()))
        })
    }

    /// Whether the guard stands where no mount does (the legacy pipeline).
    pub fn in_place(&self) -> bool {
        self.writable.is_some()
    }

    /// These roots, with `kept` (real paths inside them) read-only as a
    /// protected entry is: where no mount can keep them so (the legacy
    /// pipeline), nothing in them is written, created, removed, moved or
    /// linked elsewhere, and no directory above one moves.
    pub fn keeping(mut self, kept: Vec<PathBuf>) -> Self {
        self.kept = kept;
        self
    }

    /// Whether a kept path lies strictly below the directory at `dir`:
    /// moving `dir` would carry it away and free its path.
    pub fn keeps_below(&self, dir: &[u8]) -> bool {
        self.kept.iter().any(|kept| {
            let kept = kept.as_os_str().as_bytes();
            is_within(kept, dir) && !is_same(kept, dir)
        })
    }

    /// The area of the directory whose absolute path (as the kernel names
    /// an open descriptor of it) is `dir`. The deepest root containing it
    /// decides; a path that is not absolute is [`Area::Outside`]. A path
    /// the kernel ends with ` (deleted)` is taken as written: a directory
    /// can be named so, and in one that was really removed nothing can be
    /// made.
    pub fn area_of(&self, dir: &[u8]) -> Area {
        match self.deepest_root(dir) {
            None => Area::Outside,
            Some(root) => match root.kind {
                RootKind::Project => Area::Project,
                RootKind::Scratch if is_same(dir, root_bytes(root)) => Area::ScratchTop,
                RootKind::Scratch => Area::Scratch,
            },
        }
    }

    /// Whether `path` (the real path of an entry, as the kernel names an
    /// open descriptor of it) lies in a project root with a protected name
    /// among its components below that root, itself included: inside an
    /// existing `.git`, `.codex`, `.agents` or `.aws` at any depth, or that
    /// entry itself; or in a temporary root, in one at its top level; or
    /// is a kept path or lies inside one ([`Roots::keeping`]). Nothing in
    /// it may be written, created, moved or linked. Paths that are not
    /// absolute (`pipe:[N]`) are never inside.
    pub fn is_inside_protected(&self, path: &[u8]) -> bool {
        if path.starts_with(b"/")
            && self
                .kept
                .iter()
                .any(|kept| is_within(path, kept.as_os_str().as_bytes()))
        {
            return true;
        }
        let Some(root) = self.deepest_root(path) else {
            return false;
        };
        let below = &trim_slashes(path)[trim_slashes(root_bytes(root)).len()..];
        let mut components = below.split(|&byte| byte == b'/').filter(|c| !c.is_empty());
        match root.kind {
            RootKind::Project => components.any(codex_sandboxing::protected::is_protected_name),
            // At the top of a temporary root a protected name is what git
            // finds above every directory there without a repository of its
            // own (`/tmp/.git`): one left there, even empty, is not filled.
            RootKind::Scratch => components
                .next()
                .is_some_and(codex_sandboxing::protected::is_protected_name),
        }
    }

    /// Whether the entry at `path` is a writable root or lies above one:
    /// moving or replacing it would move the root, and what is judged by
    /// its path with it (a workspace in `/tmp` renamed away and back would
    /// come back holding what was made in scratch space meanwhile).
    pub fn is_root_or_above(&self, path: &[u8]) -> bool {
        path.starts_with(b"/")
            && self
                .roots
                .iter()
                .any(|root| is_within(root_bytes(root), path))
    }

    /// The position (in the order they were given) of the deepest root that is
    /// `path` or lies above it.
    /// The innermost project root that `dir` (a real path) is or lies
    /// below, by its position among the roots, and how many components
    /// below it `dir` lies.
    pub fn below_project(&self, dir: &[u8]) -> Option<(usize, usize)> {
        let (index, root) = self
            .roots
            .iter()
            .enumerate()
            .filter(|(_, root)| root.kind == RootKind::Project && is_within(dir, root_bytes(root)))
            .max_by_key(|(_, root)| trim_slashes(root_bytes(root)).len())?;
        let rest = &trim_slashes(dir)[trim_slashes(root_bytes(root)).len()..];
        let depth = rest
            .split(|&byte| byte == b'/')
            .filter(|part| !part.is_empty())
            .count();
        Some((index, depth))
    }

    pub fn deepest_index(&self, path: &[u8]) -> Option<usize> {
        if !path.starts_with(b"/") {
            return None;
        }
        self.roots
            .iter()
            .enumerate()
            .filter(|(_, root)| is_within(path, root_bytes(root)))
            .max_by_key(|(_, root)| trim_slashes(root_bytes(root)).len())
            .map(|(index, _)| index)
    }

    /// The root whose rules hold at `path`: the deepest root that is `path`
    /// or lies above it, unless that is a temporary root inside a project
    /// root (`$TMPDIR` in the workspace, or moved there while the command
    /// runs), where the project root's stricter rules hold: what is made
    /// there lies in the project, where host tools will find it. A project
    /// root at `/` (the whole disk writable) leaves temporary roots theirs.
    fn deepest_root(&self, path: &[u8]) -> Option<&GuardRoot> {
        let deepest = &self.roots[self.deepest_index(path)?];
        if deepest.kind == RootKind::Project {
            return Some(deepest);
        }
        let enclosing_project = self
            .roots
            .iter()
            .filter(|root| {
                root.kind == RootKind::Project
                    && !trim_slashes(root_bytes(root)).is_empty()
                    && is_within(root_bytes(deepest), root_bytes(root))
            })
            .max_by_key(|root| trim_slashes(root_bytes(root)).len());
        Some(enclosing_project.unwrap_or(deepest))
    }
}

fn root_bytes(root: &GuardRoot) -> &[u8] {
    root.path.as_os_str().as_bytes()
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
    fn a_directory_lies_so_many_levels_below_its_innermost_project_root() {
        let roots = Roots::new(vec![
            GuardRoot {
                path: "/tmp".into(),
                kind: RootKind::Scratch,
            },
            GuardRoot {
                path: "/ws".into(),
                kind: RootKind::Project,
            },
            GuardRoot {
                path: "/ws/inner/".into(),
                kind: RootKind::Project,
            },
        ]);
        assert_eq!(roots.below_project(b"/ws"), Some((1, 0)));
        assert_eq!(roots.below_project(b"/ws/a/b"), Some((1, 2)));
        assert_eq!(roots.below_project(b"/ws/inner"), Some((2, 0)));
        assert_eq!(roots.below_project(b"/ws/inner/x//y/"), Some((2, 2)));
        assert_eq!(roots.below_project(b"/wsx/a"), None);
        assert_eq!(roots.below_project(b"/tmp/a"), None);
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
            // A temporary root inside a project root is the project's.
            ("/home/me/proj/tmp", Area::Project),
            ("/home/me/proj/tmp/repo", Area::Project),
            ("/home/me", Area::Outside),
            ("/", Area::Outside),
            ("relative", Area::Outside),
            ("/tmp/ws/d (deleted)", Area::Project),
        ];
        for (dir, area) in cases {
            assert_eq!(roots.area_of(dir.as_bytes()), area, "{dir}");
        }
    }

    /// Kept paths are protected entries of their own, and a directory
    /// above one does not move; metadata changes only within the writable
    /// paths, where they are given (the legacy pipeline), anywhere else
    /// mounts answer.
    #[test]
    fn kept_paths_and_metadata_where_no_mount_answers() {
        let mounted = roots(&[("/ws", RootKind::Project)]);
        assert!(mounted.may_change_metadata(b"/etc/passwd"));
        assert!(!mounted.in_place());
        let in_place = roots(&[("/ws", RootKind::Project)])
            .keeping(vec!["/ws/vendor".into(), "/ws/.husky".into()])
            .changing_metadata_only_in(vec!["/ws".into(), "/home/me/.history".into()]);
        assert!(in_place.in_place());
        for (path, inside) in [
            ("/ws/vendor", true),
            ("/ws/vendor/lib/x.rs", true),
            ("/ws/.husky/pre-commit", true),
            ("/ws/vendored", false),
            ("/ws/src/main.rs", false),
            ("pipe:[3]", false),
        ] {
            assert_eq!(
                in_place.is_inside_protected(path.as_bytes()),
                inside,
                "{path}"
            );
        }
        assert!(in_place.keeps_below(b"/ws"));
        assert!(!in_place.keeps_below(b"/ws/vendor"));
        assert!(!in_place.keeps_below(b"/ws/src"));
        assert!(in_place.may_change_metadata(b"/ws/src/main.rs"));
        assert!(in_place.may_change_metadata(b"/home/me/.history"));
        assert!(!in_place.may_change_metadata(b"/home/me/.bashrc"));
        assert!(!in_place.may_change_metadata(b"/etc/passwd"));
        assert!(!in_place.may_change_metadata(b"/wsx"));
    }

    /// `$TMPDIR` inside the workspace is the workspace's: a repository
    /// made there would lie in the project.
    #[test]
    fn a_temporary_root_inside_a_project_root_is_the_projects() {
        let roots = roots(&[
            ("/tmp", RootKind::Scratch),
            ("/home/me/proj", RootKind::Project),
            ("/home/me/proj/tmpd", RootKind::Scratch),
        ]);
        assert_eq!(roots.area_of(b"/home/me/proj/tmpd"), Area::Project);
        assert_eq!(roots.area_of(b"/home/me/proj/tmpd/x"), Area::Project);
        assert!(roots.is_inside_protected(b"/home/me/proj/tmpd/x/.git/config"));
        assert_eq!(roots.area_of(b"/tmp/x"), Area::Scratch);
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
    }

    #[test]
    fn inside_a_protected_entry_of_a_project_root_at_any_depth_or_at_the_top_of_a_temporary_one() {
        let roots = roots(&[
            ("/tmp", RootKind::Scratch),
            ("/tmp/ws", RootKind::Project),
            ("/home/me/.codex/ws", RootKind::Project),
        ]);
        let inside = [
            "/tmp/ws/.git",
            "/tmp/ws/.git/config",
            "/tmp/ws/a/b/c/d/e/f/g/h/i/j/.git/hooks/pre-commit",
            "/tmp/ws/sub/.GIT/HEAD",
            "/tmp/ws/x/.codex/config.toml",
            "/tmp/ws/y/.agents",
            "/tmp/ws/z/.aws/credentials",
            "/tmp/ws/w/.git./config",
            "/tmp/.git",
            "/tmp/.codex/config.toml",
        ];
        for path in inside {
            assert!(roots.is_inside_protected(path.as_bytes()), "{path}");
        }
        let outside = [
            "/tmp/ws",
            "/tmp/ws/src/main.rs",
            "/tmp/ws/.gitignore",
            "/tmp/ws/.github/workflows/ci.yml",
            "/tmp/repo/.git/config",
            "/tmp/.gitx/config",
            "/etc/.git/config",
            // A protected name above the root is not the root's business.
            "/home/me/.codex/ws/src/lib.rs",
            "pipe:[1234]",
        ];
        for path in outside {
            assert!(!roots.is_inside_protected(path.as_bytes()), "{path}");
        }
    }

    #[test]
    fn roots_and_what_lies_above_them_cannot_move() {
        let roots = roots(&[
            ("/tmp", RootKind::Scratch),
            ("/tmp/atk/a/ws", RootKind::Project),
            ("/tmp/atk/a/ws/tmp", RootKind::Scratch),
        ]);
        for fixed in [
            "/",
            "/tmp",
            "/tmp/atk",
            "/tmp/atk/a",
            "/tmp/atk/a/ws",
            "/tmp/atk/a/ws/tmp",
        ] {
            assert!(roots.is_root_or_above(fixed.as_bytes()), "{fixed}");
        }
        for free in [
            "/tmp/atk/b",
            "/tmp/atk/a/w",
            "/tmp/atk/a/ws/src",
            "/tmp/atk/a/ws/tmp/x",
            "x",
        ] {
            assert!(!roots.is_root_or_above(free.as_bytes()), "{free}");
        }
    }

    #[test]
    fn a_root_at_slash_contains_everything() {
        let roots = roots(&[("/", RootKind::Project), ("/tmp", RootKind::Scratch)]);
        assert_eq!(roots.area_of(b"/etc"), Area::Project);
        assert_eq!(roots.area_of(b"/"), Area::Project);
        assert_eq!(roots.area_of(b"/tmp/x"), Area::Scratch);
    }
}

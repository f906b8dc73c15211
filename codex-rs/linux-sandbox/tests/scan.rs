//! The start-up scan on real trees: the matches and protected paths the
//! walker must report, on one thread and in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::PathBuf;

use codex_linux_sandbox::scan::{ScanPattern, ScanReport, ScanRequest, scan};

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Tree { _dir: dir, root }
    }

    fn file(&self, path: &str) -> &Self {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
        self
    }

    fn dir(&self, path: &str) -> &Self {
        std::fs::create_dir_all(self.root.join(path)).unwrap();
        self
    }

    fn link(&self, path: &str, target: &str) -> &Self {
        symlink(target, self.root.join(path)).unwrap();
        self
    }

    fn request(&self, patterns: &[&str], depth: usize) -> ScanRequest {
        let ws = self.root.join("ws");
        ScanRequest {
            roots: vec![ws.clone()],
            patterns: patterns
                .iter()
                .map(|pattern| ScanPattern::new(&ws, pattern))
                .collect(),
            protect_under: vec![ws],
            scratch: Vec::new(),
            skip: Vec::new(),
            max_depth: Some(depth),
        }
    }

    fn relative(&self, paths: impl IntoIterator<Item = PathBuf>) -> Vec<String> {
        paths
            .into_iter()
            .map(|path| path.strip_prefix(&self.root).unwrap().display().to_string())
            .collect()
    }

    fn summary(&self, report: &ScanReport) -> (Vec<String>, Vec<String>) {
        (
            self.relative(report.matches.iter().map(|m| m.path.clone())),
            self.relative(report.protected.iter().cloned()),
        )
    }
}

/// A tree with hidden, ignored, linked and nested paths, and what a scan
/// for `**/*.env` and `**/secrets` must find in it.
fn varied_tree() -> Tree {
    let tree = Tree::new();
    tree.file("ws/.env")
        .file("ws/.gitignore")
        .file("ws/app/config/prod.env")
        .file("ws/ignored/x.env")
        .file("ws/app/main.rs")
        .file("ws/secrets/k")
        .file("ws/nested/.git/HEAD")
        .file("ws/nested/.git/objects/ab/deep.env")
        .file("ws/mod/.git")
        .file("ws/tools/.codex/config.toml")
        .file("ws/a/.agents/x")
        .dir("ws/placeholder/.codex")
        .file("outside/target.env")
        .dir("outside/dir")
        .file("outside/dir/inner.env")
        .link("ws/link.env", "../outside/target.env")
        .link("ws/linkdir", "../outside/dir");
    std::fs::write(tree.root.join("ws/.gitignore"), "*.env\nignored/\n").unwrap();
    tree
}

const VARIED_PATTERNS: [&str; 2] = ["**/*.env", "**/secrets"];

const VARIED_MATCHES: [&str; 6] = [
    "ws/.env",
    "ws/app/config/prod.env",
    "ws/ignored/x.env",
    "ws/link.env",
    "ws/linkdir/inner.env",
    "ws/secrets",
];

const VARIED_PROTECTED: [&str; 4] = [
    "ws/a/.agents",
    "ws/mod/.git",
    "ws/nested/.git",
    "ws/tools/.codex",
];

fn assert_varied_findings(tree: &Tree) {
    let report = scan(&tree.request(&VARIED_PATTERNS, 8)).unwrap();
    let (matches, protected) = tree.summary(&report);
    assert_eq!(matches, VARIED_MATCHES);
    assert_eq!(protected, VARIED_PROTECTED);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[test]
fn the_walker_finds_hidden_ignored_linked_and_nested_paths() {
    assert_varied_findings(&varied_tree());
}

#[test]
fn the_walker_finds_the_same_in_a_tree_large_enough_to_walk_in_parallel() {
    // The built-in walker walks small trees on one thread and starts over
    // in parallel past 1,024 entries; this tree has more than that.
    let tree = varied_tree();
    for index in 0..1100 {
        tree.file(&format!("ws/padding/{:02}/{index}", index % 16));
    }
    assert_varied_findings(&tree);
}

#[test]
fn the_depth_bounds_the_scan() {
    let tree = Tree::new();
    tree.file("ws/1.env")
        .file("ws/a/2.env")
        .file("ws/a/b/3.env")
        .file("ws/a/b/c/4.env");
    let request = tree.request(&["**/*.env"], 3);
    let (matches, _) = tree.summary(&scan(&request).unwrap());
    assert_eq!(matches, ["ws/1.env", "ws/a/2.env", "ws/a/b/3.env"]);
}

#[test]
fn a_request_without_roots_scans_nothing() {
    let tree = Tree::new();
    tree.file("ws/x.env");
    let request = ScanRequest {
        roots: Vec::new(),
        ..tree.request(&["*.env"], 2)
    };
    assert_eq!(scan(&request).unwrap(), ScanReport::empty());
}

/// As an unprivileged user, a directory that can be neither listed nor
/// entered is skipped; one that can be entered but not listed fails the
/// scan. Root reads everything, so there this only checks that nothing is
/// skipped.
#[test]
fn unreadable_directories_are_skipped_only_when_they_cannot_be_entered() {
    let tree = Tree::new();
    tree.file("ws/closed/s.env").file("ws/ok.env");
    let closed = tree.root.join("ws/closed");
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();
    let request = tree.request(&["**/*.env"], 4);
    let is_root = running_as_root();
    let report = scan(&request).unwrap();
    if is_root {
        assert!(report.skipped.is_empty());
    } else {
        assert_eq!(tree.relative(report.skipped.clone()), ["ws/closed"]);
        assert_eq!(tree.summary(&report).0, ["ws/ok.env"]);
    }
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o311)).unwrap();
    let result = scan(&request);
    if is_root {
        assert!(result.is_ok());
    } else {
        let err = result.unwrap_err().to_string();
        assert!(err.contains("can be entered but not listed"), "{err}");
        assert!(err.contains("closed"), "{err}");
    }
    // Where no glob looks, only nested protected names are sought, and
    // the directory is skipped.
    let report = scan(&tree.request(&[], 4)).unwrap();
    if !is_root {
        assert_eq!(tree.relative(report.skipped), ["ws/closed"]);
    }
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[test]
fn a_missing_root_scans_nothing() {
    let tree = Tree::new();
    let request = ScanRequest {
        roots: vec![tree.root.join("nowhere")],
        ..tree.request(&["**/*.env"], 2)
    };
    assert!(scan(&request).unwrap().matches.is_empty());
}

/// A temporary root inside the workspace: nothing below it counts as a
/// protected path, and the walk does not enter it at all when told to
/// skip it (no glob looks there).
#[test]
fn a_temporary_root_inside_the_workspace_is_not_protected_and_can_be_skipped() {
    let tree = Tree::new();
    tree.file("ws/tmp/repo/.git/HEAD")
        .file("ws/tmp/a.env")
        .file("ws/sub/.git/HEAD")
        .file("ws/b.env");
    let scratch = tree.root.join("ws/tmp");
    let walked = ScanRequest {
        scratch: vec![scratch.clone()],
        ..tree.request(&["**/*.env"], 8)
    };
    let (matches, protected) = tree.summary(&scan(&walked).unwrap());
    assert_eq!(matches, ["ws/b.env", "ws/tmp/a.env"]);
    assert_eq!(protected, ["ws/sub/.git"]);
    let skipped = ScanRequest {
        skip: vec![scratch],
        ..walked
    };
    let (matches, protected) = tree.summary(&scan(&skipped).unwrap());
    assert_eq!(matches, ["ws/b.env"]);
    assert_eq!(protected, ["ws/sub/.git"]);
}

//! Planner and argv renderer: random policies over a small fake tree.
//! Invariants: nothing panics; the rendered argv ends the options with
//! `--`; after the mounts are applied in order (each path is decided by
//! the latest mount at it or above it), every protected name of a writable
//! directory is read-only, and no path is
//! writable that no `write` rule covers.
#![no_main]

use std::io;
use std::path::{Path, PathBuf};

use codex_linux_sandbox::fs_view::{Entry, FsView};
use codex_linux_sandbox::plan::{MountOp, ProcMode, plan};
use codex_linux_sandbox::protocol::Arg;
use codex_linux_sandbox::render::{Stage, bwrap_args};
use codex_linux_sandbox::scan::ScanReport;
use codex_sandboxing::profile::RuleOrigin;
use codex_sandboxing::protected::PROTECTED_NAMES;
use codex_sandboxing::resolve::ResolvedRule;
use codex_sandboxing::{Access, NetworkMode, SandboxPolicy};
use libfuzzer_sys::fuzz_target;

/// The tree: directories, and one file.
const DIRS: [&str; 12] = [
    "/usr",
    "/ws",
    "/ws/a",
    "/ws/a/b",
    "/ws/.git",
    "/ws/.git/hooks",
    "/ws/a/.codex",
    "/ws/b",
    "/tmp",
    "/tmp/x",
    "/tmp/x/.agents",
    "/home/me",
];
const FILES: [&str; 2] = ["/ws/a/file", "/ws/.git/config"];

/// Paths rules may name (existing or not).
const RULE_PATHS: [&str; 14] = [
    "/",
    "/usr",
    "/ws",
    "/ws/a",
    "/ws/a/b",
    "/ws/.git",
    "/ws/a/file",
    "/ws/b",
    "/tmp",
    "/tmp/x",
    "/home/me",
    "/home/me/missing",
    "/ws/new",
    "/ws/a/.codex",
];

struct Tree;

impl FsView for Tree {
    fn entry(&self, path: &Path) -> io::Result<Entry> {
        if FILES.iter().any(|file| Path::new(file) == path) {
            return Ok(Entry::File);
        }
        // A directory: listed, or the parent of anything listed.
        let listed = DIRS.iter().chain(&FILES).map(Path::new);
        if path == Path::new("/") || listed.clone().any(|known| known.starts_with(path)) {
            return Ok(Entry::Dir);
        }
        Ok(Entry::Missing)
    }

    fn read_small_file(&self, _path: &Path) -> io::Result<String> {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }
}

fn policy(data: &[u8]) -> Option<SandboxPolicy> {
    let (&flags, rest) = data.split_first()?;
    let mut rules: Vec<ResolvedRule> = Vec::new();
    for pair in rest.chunks_exact(2).take(10) {
        let path = PathBuf::from(RULE_PATHS[usize::from(pair[0]) % RULE_PATHS.len()]);
        let access = [Access::None, Access::Read, Access::Write][usize::from(pair[1]) % 3];
        if rules.iter().all(|rule| rule.path != path) {
            rules.push(ResolvedRule {
                path,
                access,
                origin: RuleOrigin::BuiltIn(":fuzz"),
            });
        }
    }
    rules.sort_by(|a, b| a.path.cmp(&b.path));
    Some(SandboxPolicy {
        rules,
        deny_globs: Vec::new(),
        glob_scan_max_depth: Some(8),
        inner_stage: flags & 1 != 0,
        legacy_landlock: false,
        network: [
            NetworkMode::Restricted,
            NetworkMode::Enabled,
            NetworkMode::Proxy,
        ][usize::from(flags >> 1) % 3],
        domains: None,
        protect_metadata: flags & 0x80 == 0,
        guard_protected_names: flags & 0x80 == 0,
        cwd: "/ws".into(),
    })
}

/// The mounts `ops` leave, in order, each with whether it is writable.
fn mounts(ops: &[MountOp]) -> Vec<(PathBuf, bool)> {
    let mut mounts: Vec<(PathBuf, bool)> = Vec::new();
    for op in ops {
        match op {
            MountOp::Bind(at) => mounts.push((at.clone(), true)),
            MountOp::RoBind(at) | MountOp::MaskFile(at) => mounts.push((at.clone(), false)),
            MountOp::MaskDir(at) => mounts.push((at.clone(), true)),
            MountOp::RemountRo(at) => {
                if let Some(mount) = mounts.iter_mut().rev().find(|(point, _)| point == at) {
                    mount.1 = false;
                }
            }
            MountOp::Dev => mounts.push(("/dev".into(), true)),
            MountOp::Proc => mounts.push(("/proc".into(), false)),
            MountOp::Symlink { .. } => {}
        }
    }
    mounts
}

/// Whether `path` is writable under `mounts`: the latest mount at `path` or
/// above it decides (a later mount above hides earlier ones below).
fn writable(mounts: &[(PathBuf, bool)], path: &Path) -> bool {
    mounts
        .iter()
        .rev()
        .find(|(point, _)| path.starts_with(point))
        .is_some_and(|(_, rw)| *rw)
}

fuzz_target!(|data: &[u8]| {
    let Some(policy) = policy(data) else {
        return;
    };
    let Ok(mount_plan) = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &Tree) else {
        return;
    };
    let argv = bwrap_args(&mount_plan, &Stage::Bwrap, &["true".into()]);
    assert!(
        argv.iter().any(|arg| *arg == Arg::Text("--".into())),
        "no `--` in {argv:?}"
    );

    let mounts = mounts(&mount_plan.ops);
    let mut checked: Vec<PathBuf> = Vec::new();
    for path in DIRS.iter().chain(&FILES).chain(&RULE_PATHS) {
        checked.push(PathBuf::from(path));
        checked.push(Path::new(path).join("child"));
    }
    for path in &checked {
        if writable(&mounts, path) {
            assert_eq!(
                policy.access_for(path),
                Access::Write,
                "{} is writable but no write rule covers it; ops {:?}",
                path.display(),
                mount_plan.ops
            );
        }
    }
    if policy.protect_metadata {
        for rule in policy
            .rules
            .iter()
            .filter(|rule| rule.access == Access::Write)
        {
            if Tree.entry(&rule.path).ok() != Some(Entry::Dir) {
                continue;
            }
            for name in PROTECTED_NAMES {
                let protected = rule.path.join(name);
                for path in [protected.clone(), protected.join("config")] {
                    assert!(
                        !writable(&mounts, &path),
                        "protected {} is writable; ops {:?}",
                        path.display(),
                        mount_plan.ops
                    );
                }
            }
        }
    }
});

//! Protected paths: inside every writable root, `.git`, `.codex` and
//! `.agents` stay read-only, and so do the git directories a `.git` file
//! points to (`gitdir:`) and their common directory (`commondir`, where a
//! worktree's hooks and config live).

use std::io;
use std::path::{Path, PathBuf};

use codex_sandboxing::resolve::normalize;

use super::real_path::{RealKind, real_path};
use crate::fs_view::FsView;

/// Names protected at the top of every writable root.
pub const PROTECTED_NAMES: [&str; 3] = [".git", ".codex", ".agents"];

/// The paths to keep read-only for the writable root `root`, as written
/// (symlinks not yet resolved): the protected names, then any `gitdir:`
/// target and its `commondir`.
pub fn protected_candidates(fs: &dyn FsView, root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut candidates: Vec<PathBuf> = PROTECTED_NAMES.iter().map(|name| root.join(name)).collect();
    let dot_git = real_path(fs, &root.join(".git"))?;
    if dot_git.kind != RealKind::File {
        return Ok(candidates);
    }
    let git_file = fs.read_small_file(&dot_git.path)?;
    let Some(gitdir) = parse_gitdir(&git_file) else {
        return Ok(candidates);
    };
    let gitdir = normalize(&root.join(gitdir));
    candidates.push(gitdir.clone());
    let real_gitdir = real_path(fs, &gitdir)?;
    if real_gitdir.kind == RealKind::Dir {
        let commondir_file = real_path(fs, &real_gitdir.path.join("commondir"))?;
        if commondir_file.kind == RealKind::File {
            let text = fs.read_small_file(&commondir_file.path)?;
            let common = text.lines().next().unwrap_or("").trim();
            if !common.is_empty() {
                candidates.push(normalize(&real_gitdir.path.join(common)));
            }
        }
    }
    Ok(candidates)
}

/// The target of a `.git` file (`gitdir: PATH`), if it is one.
fn parse_gitdir(text: &str) -> Option<&str> {
    let line = text.lines().next()?;
    let target = line.strip_prefix("gitdir:")?.trim();
    (!target.is_empty()).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_view::fake::FakeFs;

    fn candidates(fs: &FakeFs, root: &str) -> Vec<String> {
        protected_candidates(fs, Path::new(root))
            .unwrap()
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn a_plain_root_protects_the_three_names() {
        let fs = FakeFs::new().dir("/ws/.git");
        assert_eq!(
            candidates(&fs, "/ws"),
            ["/ws/.git", "/ws/.codex", "/ws/.agents"]
        );
    }

    #[test]
    fn a_gitdir_file_adds_its_target_relative_to_the_root() {
        let fs = FakeFs::new()
            .file("/ws/sub/.git", "gitdir: ../.git/modules/sub\n")
            .dir("/ws/.git/modules/sub");
        assert_eq!(
            candidates(&fs, "/ws/sub"),
            [
                "/ws/sub/.git",
                "/ws/sub/.codex",
                "/ws/sub/.agents",
                "/ws/.git/modules/sub"
            ]
        );
    }

    #[test]
    fn a_worktree_adds_its_gitdir_and_common_dir() {
        let fs = FakeFs::new()
            .file("/wt/.git", "gitdir: /repo/.git/worktrees/wt")
            .file("/repo/.git/worktrees/wt/commondir", "../..\n");
        assert_eq!(
            candidates(&fs, "/wt"),
            [
                "/wt/.git",
                "/wt/.codex",
                "/wt/.agents",
                "/repo/.git/worktrees/wt",
                "/repo/.git"
            ]
        );
    }

    #[test]
    fn a_git_file_without_gitdir_adds_nothing() {
        let fs = FakeFs::new().file("/ws/.git", "not a gitfile");
        assert_eq!(candidates(&fs, "/ws").len(), 3);
        assert_eq!(parse_gitdir("gitdir:   \n"), None);
        assert_eq!(parse_gitdir("gitdir: x\ny"), Some("x"));
    }
}

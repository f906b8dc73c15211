//! Protected paths: inside every writable root, `.git`, `.codex` and
//! `.agents` stay read-only, and so do the git directories a `.git` file
//! points to (`gitdir:`) and their common directory (`commondir`, where a
//! worktree's hooks and config live).

use std::io;
use std::path::{Path, PathBuf};

use codex_sandboxing::protected::{is_git_name, top_level_candidates};
use codex_sandboxing::resolve::normalize;

use super::real_path::{RealKind, real_path};
use crate::fs_view::FsView;

/// The paths to keep read-only for the writable root `root`, as written
/// (symlinks not yet resolved): the protected names, then any `gitdir:`
/// target and its `commondir`.
pub fn protected_candidates(fs: &dyn FsView, root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut candidates = top_level_candidates(root);
    candidates.extend(git_file_targets(fs, &root.join(".git"))?);
    Ok(candidates)
}

/// The paths to keep read-only for a protected entry the scan found below
/// the top of a writable root: the entry itself, plus, for a `.git` file,
/// its `gitdir:` target and `commondir`.
pub fn nested_candidates(fs: &dyn FsView, found: &Path) -> io::Result<Vec<PathBuf>> {
    let mut candidates = vec![found.to_path_buf()];
    if found
        .file_name()
        .is_some_and(|name| is_git_name(name.as_encoded_bytes()))
    {
        candidates.extend(git_file_targets(fs, found)?);
    }
    Ok(candidates)
}

/// When `dot_git` is a `.git` file: the directory its `gitdir:` line names
/// (relative to the file's directory) and that directory's `commondir`.
/// Nothing for a `.git` directory or anything else.
fn git_file_targets(fs: &dyn FsView, dot_git: &Path) -> io::Result<Vec<PathBuf>> {
    let mut candidates = Vec::new();
    let real = real_path(fs, dot_git)?;
    if real.kind != RealKind::File {
        return Ok(candidates);
    }
    let git_file = fs.read_small_file(&real.path)?;
    let Some(gitdir) = parse_gitdir(&git_file) else {
        return Ok(candidates);
    };
    let base = dot_git.parent().unwrap_or(Path::new("/"));
    let gitdir = normalize(&base.join(gitdir));
    candidates.push(gitdir.clone());
    let real_gitdir = real_path(fs, &gitdir)?;
    if real_gitdir.kind == RealKind::Dir {
        candidates.extend(named_common_dir(fs, &real_gitdir.path)?);
    }
    Ok(candidates)
}

/// The common directory the `commondir` file of the git directory
/// `git_dir` names (a linked worktree's has one), relative to `git_dir`.
pub(super) fn named_common_dir(fs: &dyn FsView, git_dir: &Path) -> io::Result<Option<PathBuf>> {
    let file = real_path(fs, &git_dir.join("commondir"))?;
    if file.kind != RealKind::File {
        return Ok(None);
    }
    let text = fs.read_small_file(&file.path)?;
    let common = text.lines().next().unwrap_or("").trim();
    Ok((!common.is_empty()).then(|| normalize(&git_dir.join(common))))
}

/// The target of a `.git` file (`gitdir: PATH`), if it is one.
pub(super) fn parse_gitdir(text: &str) -> Option<&str> {
    let line = text.lines().next()?;
    let target = line.strip_prefix("gitdir:")?.trim();
    (!target.is_empty()).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_view::fake::FakeFs;
    use codex_sandboxing::protected::PROTECTED_NAMES;

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
            ["/ws/.git", "/ws/.codex", "/ws/.agents", "/ws/.aws"]
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
                "/ws/sub/.aws",
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
                "/wt/.aws",
                "/repo/.git/worktrees/wt",
                "/repo/.git"
            ]
        );
    }

    #[test]
    fn a_git_file_without_gitdir_adds_nothing() {
        let fs = FakeFs::new().file("/ws/.git", "not a gitfile");
        assert_eq!(candidates(&fs, "/ws").len(), PROTECTED_NAMES.len());
        assert_eq!(parse_gitdir("gitdir:   \n"), None);
        assert_eq!(parse_gitdir("gitdir: x\ny"), Some("x"));
    }
}

#[cfg(test)]
mod nested_tests {
    use super::*;
    use crate::fs_view::fake::FakeFs;

    #[test]
    fn a_nested_submodule_file_adds_its_gitdir_relative_to_its_own_directory() {
        let fs = FakeFs::new()
            .file("/ws/libs/x/.git", "gitdir: ../../.git/modules/x\n")
            .dir("/ws/.git/modules/x");
        let candidates = nested_candidates(&fs, Path::new("/ws/libs/x/.git")).unwrap();
        assert_eq!(
            candidates,
            [
                PathBuf::from("/ws/libs/x/.git"),
                PathBuf::from("/ws/.git/modules/x")
            ]
        );
        let codex = nested_candidates(&fs, Path::new("/ws/a/.codex")).unwrap();
        assert_eq!(codex, [PathBuf::from("/ws/a/.codex")]);
    }
}

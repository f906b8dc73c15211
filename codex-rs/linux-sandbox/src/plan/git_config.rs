//! What the git configuration of a repository the start protects names
//! for code to run: the hooks directory `core.hooksPath` points to (husky
//! sets `.husky`), a `core.fsmonitor` hook given as a path, and every file
//! an `include.path` or `includeIf.*.path` pulls in (whatever its
//! condition), with what those files name in turn. `.git/config` itself is
//! read-only, but these usually lie in the worktree, where the command
//! could rewrite what the user's next `git commit` runs; the plan keeps
//! them read-only (and masks a missing one) like a protected name.
//!
//! The files are parsed with `gix-config`, git's own grammar in Rust, never
//! by running `git` on the start-up path. A file that cannot be read or
//! parsed fails the start: what it names could not be told.

use std::io;
use std::path::{Path, PathBuf};

use codex_sandboxing::host_git::HostGitConfig;
use codex_sandboxing::resolve::normalize;

use super::protected::parse_gitdir;
use super::real_path::{RealKind, real_path};
use crate::fs_view::FsView;

/// How deep includes are followed (git's own limit is 10).
const MAX_INCLUDE_DEPTH: usize = 10;

/// The largest configuration file read; a bigger one fails the start
/// rather than being read in part.
const MAX_CONFIG_BYTES: usize = 64 * 1024 - 1;

/// A repository the start found: its git directory and, unless it is
/// bare, the top of its worktree (where hooks run, and relative hook paths
/// start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The git directory (`.git`, or what a `.git` file names).
    pub git_dir: PathBuf,
    /// The top of the worktree.
    pub worktree: PathBuf,
}

/// Why what a configuration names could not be told.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the git configuration {}: {reason}", path.display())]
pub struct GitConfigError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// The repository whose worktree is `root` or a directory above it (the
/// first with a `.git`, as git discovers one), if any.
pub fn repository_of(fs: &dyn FsView, root: &Path) -> io::Result<Option<Repository>> {
    for worktree in root.ancestors() {
        let dot_git = worktree.join(".git");
        let real = real_path(fs, &dot_git)?;
        let git_dir = match real.kind {
            RealKind::Dir => real.path,
            RealKind::File => match parse_gitdir(&fs.read_small_file(&real.path)?) {
                Some(target) => normalize(&worktree.join(target)),
                None => continue,
            },
            RealKind::Missing { .. } => continue,
        };
        return Ok(Some(Repository {
            git_dir,
            worktree: worktree.to_path_buf(),
        }));
    }
    Ok(None)
}

/// The paths the configuration of `repo`, with the host's own
/// configuration `host`, names for code to run, and the included files
/// themselves: absolute, normalised, not yet resolved through symlinks.
/// Missing configuration files are skipped, as git skips them.
pub fn code_paths(
    fs: &dyn FsView,
    repo: &Repository,
    host: &HostGitConfig,
) -> Result<Vec<PathBuf>, GitConfigError> {
    let common_dir = common_dir(fs, &repo.git_dir)?;
    let mut files: Vec<PathBuf> = host.files.clone();
    files.push(common_dir.join("config"));
    files.push(repo.git_dir.join("config.worktree"));
    let mut found = Vec::new();
    let mut pending: Vec<(PathBuf, usize)> = files.into_iter().map(|file| (file, 0)).collect();
    let mut read = Vec::new();
    while let Some((file, depth)) = pending.pop() {
        if read.contains(&file) {
            continue;
        }
        let Some(config) = parse(fs, &file)? else {
            read.push(file);
            continue;
        };
        let values = |key: &str| config.strings(key).unwrap_or_default();
        for hooks in values("core.hooksPath") {
            if let Some(path) = expand(&hooks.to_string(), &repo.worktree, host) {
                found.push(path);
            }
        }
        for monitor in values("core.fsmonitor") {
            let monitor = monitor.to_string();
            if !is_boolean(&monitor)
                && let Some(path) = expand(&monitor, &repo.worktree, host)
            {
                found.push(path);
            }
        }
        let base = file.parent().unwrap_or(Path::new("/"));
        let mut includes = values("include.path");
        if let Some(sections) = config.sections_by_name("includeIf") {
            for section in sections {
                includes.extend(section.values("path"));
            }
        }
        for include in includes {
            if let Some(path) = expand(&include.to_string(), base, host) {
                found.push(path.clone());
                if depth < MAX_INCLUDE_DEPTH {
                    pending.push((path, depth + 1));
                }
            }
        }
        read.push(file);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The repository's common directory: what `commondir` names for a
/// worktree's git directory, else the git directory itself.
fn common_dir(fs: &dyn FsView, git_dir: &Path) -> Result<PathBuf, GitConfigError> {
    let file = git_dir.join("commondir");
    match fs.read_small_file(&file) {
        Ok(text) => {
            let common = text.lines().next().unwrap_or("").trim();
            Ok(if common.is_empty() {
                git_dir.to_path_buf()
            } else {
                normalize(&git_dir.join(common))
            })
        }
        Err(err) if is_absent(&err) => Ok(git_dir.to_path_buf()),
        Err(err) => Err(GitConfigError {
            path: file,
            reason: err.to_string(),
        }),
    }
}

/// The configuration in `file`, or `None` when there is none.
fn parse(fs: &dyn FsView, file: &Path) -> Result<Option<gix_config::File>, GitConfigError> {
    let error = |reason: String| GitConfigError {
        path: file.to_path_buf(),
        reason,
    };
    let text = match fs.read_small_file(file) {
        Ok(text) => text,
        Err(err) if is_absent(&err) => return Ok(None),
        Err(err) => return Err(error(err.to_string())),
    };
    if text.len() >= MAX_CONFIG_BYTES {
        return Err(error(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    gix_config::File::from_bytes_no_includes(
        text.as_bytes(),
        gix_config::file::Metadata::default(),
        gix_config::file::init::Options::default(),
    )
    .map(Some)
    .map_err(|err| error(err.to_string()))
}

/// Whether reading failed because there is nothing to read there.
fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// A path value as git reads it: `~/` from `$HOME`, relative to `base`.
/// `None` for what names no path here (`~user/`, `%(prefix)/`, empty).
fn expand(value: &str, base: &Path, host: &HostGitConfig) -> Option<PathBuf> {
    let value = value.trim();
    if value.is_empty() || value.starts_with("%(prefix)") {
        return None;
    }
    let path = if let Some(rest) = value.strip_prefix("~/") {
        host.home.as_ref()?.join(rest)
    } else if value.starts_with('~') {
        return None;
    } else {
        base.join(value)
    };
    Some(normalize(&path))
}

/// Whether a `core.fsmonitor` value is a boolean (the built-in daemon, or
/// off) rather than the path of a hook.
fn is_boolean(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_view::fake::FakeFs;

    fn host() -> HostGitConfig {
        HostGitConfig {
            files: vec!["/home/me/.gitconfig".into()],
            home: Some("/home/me".into()),
        }
    }

    fn repo() -> Repository {
        Repository {
            git_dir: "/ws/.git".into(),
            worktree: "/ws".into(),
        }
    }

    fn paths(fs: &FakeFs) -> Vec<String> {
        code_paths(fs, &repo(), &host())
            .unwrap()
            .into_iter()
            .map(|path| path.display().to_string())
            .collect()
    }

    #[test]
    fn hooks_a_monitor_and_includes_are_named() {
        let fs = FakeFs::new()
            .file(
                "/ws/.git/config",
                "[core]\n\thooksPath = .husky\n\tfsmonitor = tools/monitor.sh\n\
                 [include]\n\tpath = ../shared.inc\n\
                 [includeIf \"gitdir:/ws/\"]\n\tpath = ~/work.inc\n",
            )
            .file("/ws/shared.inc", "[core]\n\tHooksPath = /ws/hooks2\n")
            .file("/home/me/work.inc", "[include]\n\tpath = more.inc\n")
            .file("/home/me/more.inc", "")
            .file("/home/me/.gitconfig", "[core]\n\tfsmonitor = true\n");
        assert_eq!(
            paths(&fs),
            [
                "/home/me/more.inc",
                "/home/me/work.inc",
                "/ws/.husky",
                "/ws/hooks2",
                "/ws/shared.inc",
                "/ws/tools/monitor.sh"
            ]
        );
    }

    #[test]
    fn a_worktree_reads_its_common_config_and_its_own() {
        let fs = FakeFs::new()
            .file("/wt/.git", "gitdir: /repo/.git/worktrees/wt\n")
            .file("/repo/.git/worktrees/wt/commondir", "../..\n")
            .file("/repo/.git/config", "[core]\n\thooksPath = hooks-common\n")
            .file(
                "/repo/.git/worktrees/wt/config.worktree",
                "[core]\n\thooksPath = hooks-own\n",
            );
        let repo = repository_of(&fs, Path::new("/wt/sub")).unwrap().unwrap();
        assert_eq!(
            repo,
            Repository {
                git_dir: "/repo/.git/worktrees/wt".into(),
                worktree: "/wt".into()
            }
        );
        let found = code_paths(&fs, &repo, &HostGitConfig::default()).unwrap();
        assert_eq!(
            found,
            [
                PathBuf::from("/wt/hooks-common"),
                PathBuf::from("/wt/hooks-own")
            ]
        );
    }

    #[test]
    fn nothing_is_named_without_a_config_and_no_repository_is_none() {
        let fs = FakeFs::new().dir("/ws/.git");
        assert!(paths(&fs).is_empty());
        assert_eq!(repository_of(&fs, Path::new("/other")).unwrap(), None);
    }

    #[test]
    fn an_include_loop_ends() {
        let fs = FakeFs::new()
            .file("/ws/.git/config", "[include]\n\tpath = a.inc\n")
            .file("/ws/.git/a.inc", "[include]\n\tpath = config\n");
        assert_eq!(paths(&fs), ["/ws/.git/a.inc", "/ws/.git/config"]);
    }

    #[test]
    fn a_config_git_would_refuse_fails() {
        let fs = FakeFs::new().file("/ws/.git/config", "[core\nhooksPath = x\n");
        let err = code_paths(&fs, &repo(), &host()).unwrap_err();
        assert_eq!(err.path, PathBuf::from("/ws/.git/config"));
    }

    #[test]
    fn values_that_name_no_path_here_are_skipped() {
        let base = Path::new("/ws");
        let host = host();
        assert_eq!(expand("~/h", base, &host), Some("/home/me/h".into()));
        assert_eq!(expand("~other/h", base, &host), None);
        assert_eq!(expand("%(prefix)/etc", base, &host), None);
        assert_eq!(expand("", base, &host), None);
        assert_eq!(expand("a/../b", base, &host), Some("/ws/b".into()));
        assert!(is_boolean("TRUE") && is_boolean("0") && !is_boolean("./monitor"));
    }
}

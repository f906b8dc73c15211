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

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use codex_sandboxing::host_git::HostGitConfig;
use codex_sandboxing::resolve::normalize;

use super::protected::{named_common_dir, parse_gitdir};
use super::real_path::{RealKind, real_path};
use crate::fs_view::{Entry, FsView};

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

/// The most submodule git directories [`submodules`] reads; a repository
/// with more fails the start rather than leaving some unread.
const MAX_SUBMODULES: usize = 512;

/// The submodules of `repo` whose git directories it holds
/// (`<common dir>/modules/<name>`, nested ones below theirs), each with
/// its git directory as its worktree: where the submodule's worktree
/// really is, its `core.worktree` says, which [`code_paths`] reads. A
/// `git status` of the repository recurses into them, running their
/// `core.fsmonitor`.
pub fn submodules(fs: &dyn FsView, repo: &Repository) -> Result<Vec<Repository>, GitConfigError> {
    let mut pending = vec![common_dir(fs, &repo.git_dir)?.join("modules")];
    let mut found = Vec::new();
    while let Some(dir) = pending.pop() {
        let names = match fs.list_dir(&dir) {
            Ok(names) => names,
            Err(err) if is_absent(&err) => continue,
            Err(err) => return Err(error_at(&dir, err)),
        };
        for name in names {
            let path = dir.join(name);
            if fs.entry(&path).map_err(|err| error_at(&path, err))? != Entry::Dir {
                continue;
            }
            // A submodule's name may hold slashes: a directory without
            // HEAD is a step of a name, one with HEAD a git directory.
            if fs
                .entry(&path.join("HEAD"))
                .map_err(|err| error_at(&path, err))?
                == Entry::Missing
            {
                pending.push(path);
                continue;
            }
            if found.len() == MAX_SUBMODULES {
                return Err(GitConfigError {
                    path: dir,
                    reason: format!("more than {MAX_SUBMODULES} submodules"),
                });
            }
            pending.push(path.join("modules"));
            found.push(Repository {
                git_dir: path.clone(),
                worktree: path,
            });
        }
    }
    Ok(found)
}

/// The paths the configuration of the repositories `repos`, with the
/// host's own configuration `host`, names for code to run, and every
/// configuration file read or named: absolute, as git would open them
/// (`..` is left for the resolution through symlinks to walk, as the
/// kernel does), not yet resolved. Missing configuration files are
/// skipped, as git skips them. The host's files, which apply to every
/// repository alike, are read once.
///
/// Where git's reading depends on something the start does not know (the
/// condition of an `includeIf`, which worktree git runs in), every
/// possibility counts: a relative hooks path or monitor is taken from the
/// top of the worktree, from `core.worktree`, and from every linked
/// worktree of the repository. Beyond the hooks directory itself, what
/// git runs from it is named too: each of its entries (a symlinked hook's
/// target, a hard-linked one for the planner to refuse), and for husky 9's
/// generated `.husky/_` its parent, whose scripts those hooks run.
pub fn code_paths(
    fs: &dyn FsView,
    repos: &[Repository],
    host: &HostGitConfig,
) -> Result<Vec<PathBuf>, GitConfigError> {
    let host_values = read_configs(fs, host.files.clone(), host)?;
    let mut found = host_values.files.clone();
    for repo in repos {
        found.extend(repository_code_paths(fs, repo, &host_values, host)?);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// [`code_paths`] for one repository, with what the host's files say.
fn repository_code_paths(
    fs: &dyn FsView,
    repo: &Repository,
    host_values: &ConfigValues,
    host: &HostGitConfig,
) -> Result<Vec<PathBuf>, GitConfigError> {
    let common_dir = common_dir(fs, &repo.git_dir)?;
    let linked = linked_worktrees(fs, &common_dir)?;
    let mut files = vec![
        common_dir.join("config"),
        repo.git_dir.join("config.worktree"),
    ];
    files.extend(
        linked
            .iter()
            .map(|worktree| worktree.admin_dir.join("config.worktree")),
    );
    let mut values = read_configs(fs, files, host)?;
    values.hooks.extend_from_slice(&host_values.hooks);
    values.monitors.extend_from_slice(&host_values.monitors);
    values.worktrees.extend_from_slice(&host_values.worktrees);

    let mut bases = vec![repo.worktree.clone()];
    bases.extend(
        values
            .worktrees
            .iter()
            .filter_map(|value| expand(fs, value, &repo.git_dir, host)),
    );
    bases.extend(linked.into_iter().map(|worktree| worktree.top));
    let mut found = values.files;
    for hooks in &values.hooks {
        for base in &bases {
            let Some(dir) = expand(fs, hooks, base, host) else {
                continue;
            };
            if dir.file_name().is_some_and(|name| name == "_")
                && let Some(parent) = dir.parent()
            {
                found.push(parent.to_path_buf());
            }
            found.extend(hook_entries(fs, &dir)?);
            found.push(dir);
        }
    }
    for monitor in &values.monitors {
        for word in monitor_words(monitor) {
            for base in &bases {
                if let Some(path) = expand(fs, &word, base, host) {
                    found.push(path);
                }
            }
        }
    }
    Ok(found)
}

/// The words of a `core.fsmonitor` command line that may name a file of
/// code: git runs the value through the shell, so its program and any
/// later word (a script handed to an interpreter, missing at start or
/// not) count, and a quoted word holding a command line of its own
/// (`bash -c 'tools/monitor.sh "$@"'`) is split once more. Options and
/// words of shell syntax (`"$@"`, `;`) name no file.
fn monitor_words(monitor: &str) -> Vec<String> {
    let split = |text: &str| shell_words::split(text).unwrap_or_else(|_| vec![text.to_owned()]);
    let mut words = Vec::new();
    for word in split(monitor) {
        if word.contains(char::is_whitespace) {
            words.extend(split(&word));
        } else {
            words.push(word);
        }
    }
    words.retain(|word| {
        !word.starts_with('-')
            && word
                .chars()
                .all(|c| c.is_alphanumeric() || "._/+-~@,:=".contains(c))
    });
    words
}

/// What the configuration files say that [`code_paths`] needs.
#[derive(Default)]
struct ConfigValues {
    /// Every file read or named by an include, the first ones included.
    files: Vec<PathBuf>,
    /// `core.hooksPath` values, as written.
    hooks: Vec<String>,
    /// `core.fsmonitor` values that are not booleans.
    monitors: Vec<String>,
    /// `core.worktree` values.
    worktrees: Vec<String>,
}

/// Reads `files` and what their includes name, breadth first, so that a
/// file is read at the smallest include depth it is reached by (git stops
/// at depth [`MAX_INCLUDE_DEPTH`]; a file first met deeper through a chain
/// git may skip must not hide what it names when git includes it higher).
fn read_configs(
    fs: &dyn FsView,
    files: Vec<PathBuf>,
    host: &HostGitConfig,
) -> Result<ConfigValues, GitConfigError> {
    let mut values = ConfigValues::default();
    let mut pending: VecDeque<(PathBuf, usize)> = files.into_iter().map(|file| (file, 0)).collect();
    let mut read = Vec::new();
    while let Some((file, depth)) = pending.pop_front() {
        if read.contains(&file) {
            continue;
        }
        read.push(file.clone());
        values.files.push(file.clone());
        let Some(config) = parse(fs, &file)? else {
            continue;
        };
        let strings = |key: &str| -> Vec<String> {
            config
                .strings(key)
                .unwrap_or_default()
                .into_iter()
                .map(|value| value.to_string())
                .collect()
        };
        values.hooks.extend(strings("core.hooksPath"));
        values.monitors.extend(
            strings("core.fsmonitor")
                .into_iter()
                .filter(|monitor| !is_boolean(monitor)),
        );
        values.worktrees.extend(strings("core.worktree"));
        let mut includes = strings("include.path");
        if let Some(sections) = config.sections_by_name("includeIf") {
            for section in sections {
                includes.extend(
                    section
                        .values("path")
                        .into_iter()
                        .map(|value| value.to_string()),
                );
            }
        }
        let base = file.parent().unwrap_or(Path::new("/"));
        for include in includes {
            if let Some(path) = expand(fs, &include, base, host)
                && depth < MAX_INCLUDE_DEPTH
            {
                pending.push_back((path, depth + 1));
            }
        }
    }
    Ok(values)
}

/// A linked worktree of a repository (`git worktree add`).
struct LinkedWorktree {
    /// Its administrative directory, `<common dir>/worktrees/<name>`.
    admin_dir: PathBuf,
    /// The top of its worktree.
    top: PathBuf,
}

/// The linked worktrees `common_dir/worktrees` records: each
/// administrative directory's `gitdir` file names the worktree's `.git`.
fn linked_worktrees(
    fs: &dyn FsView,
    common_dir: &Path,
) -> Result<Vec<LinkedWorktree>, GitConfigError> {
    let admin = common_dir.join("worktrees");
    let names = match fs.list_dir(&admin) {
        Ok(names) => names,
        Err(err) if is_absent(&err) => return Ok(Vec::new()),
        Err(err) => return Err(error_at(&admin, err)),
    };
    let mut linked = Vec::new();
    for name in names {
        let admin_dir = admin.join(name);
        let gitdir_file = admin_dir.join("gitdir");
        let text = match fs.read_small_file(&gitdir_file) {
            Ok(text) => text,
            Err(err) if is_absent(&err) => continue,
            Err(err) => return Err(error_at(&gitdir_file, err)),
        };
        let dot_git = admin_dir.join(text.lines().next().unwrap_or("").trim());
        if let Some(top) = dot_git.parent() {
            linked.push(LinkedWorktree {
                top: normalize(top),
                admin_dir,
            });
        }
    }
    Ok(linked)
}

/// The entries of the hooks directory `dir` that are not directories:
/// git runs them, and one that is a symlink leads to code elsewhere.
/// One this user cannot read has none git could run as this user; the
/// planner keeps the directory itself.
fn hook_entries(fs: &dyn FsView, dir: &Path) -> Result<Vec<PathBuf>, GitConfigError> {
    let real = match real_path(fs, dir) {
        Ok(real) => real,
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => return Ok(Vec::new()),
        Err(err) => return Err(error_at(dir, err)),
    };
    if real.kind != RealKind::Dir {
        return Ok(Vec::new());
    }
    let names = match fs.list_dir(&real.path) {
        Ok(names) => names,
        Err(err) if is_absent(&err) || err.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(Vec::new());
        }
        Err(err) => return Err(error_at(&real.path, err)),
    };
    let mut entries = Vec::new();
    for name in names {
        let entry = real.path.join(name);
        match fs.entry(&entry).map_err(|err| error_at(&entry, err))? {
            Entry::File | Entry::Symlink(_) => entries.push(entry),
            Entry::Dir | Entry::Missing => {}
        }
    }
    Ok(entries)
}

/// The error for `path`.
fn error_at(path: &Path, err: io::Error) -> GitConfigError {
    GitConfigError {
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

/// The repository's common directory: what `commondir` names for a
/// worktree's git directory, else the git directory itself.
fn common_dir(fs: &dyn FsView, git_dir: &Path) -> Result<PathBuf, GitConfigError> {
    Ok(named_common_dir(fs, git_dir)
        .map_err(|err| error_at(&git_dir.join("commondir"), err))?
        .unwrap_or_else(|| git_dir.to_path_buf()))
}

/// The configuration in `file`, or `None` when there is none.
fn parse(fs: &dyn FsView, file: &Path) -> Result<Option<gix_config::File>, GitConfigError> {
    let error = |reason: String| GitConfigError {
        path: file.to_path_buf(),
        reason,
    };
    // Resolved as the kernel opens it: `..` after a symlink is the
    // parent of the link's target.
    // One this user may not read, git run by this user cannot read
    // either; the planner pins the way to it (see `protect_code_paths`).
    let real = match real_path(fs, file) {
        Ok(real) => real,
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => return Ok(None),
        Err(err) => return Err(error(err.to_string())),
    };
    if matches!(real.kind, RealKind::Missing { .. }) {
        return Ok(None);
    }
    let text = match fs.read_small_file(&real.path) {
        Ok(text) => text,
        Err(err) if is_absent(&err) || err.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(None);
        }
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

/// A path value as git reads it: `~` and `~/` from `$HOME`, `~user/` from
/// that user's home, relative to `base`, with `..` kept for the resolution
/// to walk through the real directories (as the kernel does: `build/..` is
/// the parent of what `build` links to). `None` for what names no path
/// here (`%(prefix)/`, empty, `~` of an unknown user or without `$HOME`).
fn expand(fs: &dyn FsView, value: &str, base: &Path, host: &HostGitConfig) -> Option<PathBuf> {
    let value = value.trim();
    if value.is_empty() || value.starts_with("%(prefix)") {
        return None;
    }
    let path = if let Some(after_tilde) = value.strip_prefix('~') {
        let (user, rest) = after_tilde.split_once('/').unwrap_or((after_tilde, ""));
        let home = if user.is_empty() {
            host.home.clone()?
        } else {
            fs.home_of(user)?
        };
        home.join(rest)
    } else {
        base.join(value)
    };
    Some(path)
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
        code_paths(fs, &[repo()], &host())
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
                "/home/me/.gitconfig",
                "/home/me/more.inc",
                "/home/me/work.inc",
                "/ws/.git/../shared.inc",
                "/ws/.git/config",
                "/ws/.git/config.worktree",
                "/ws/.husky",
                "/ws/hooks2",
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
        let found = code_paths(&fs, &[repo], &HostGitConfig::default()).unwrap();
        assert_eq!(
            found,
            [
                PathBuf::from("/repo/.git/config"),
                PathBuf::from("/repo/.git/worktrees/wt/config.worktree"),
                PathBuf::from("/wt/hooks-common"),
                PathBuf::from("/wt/hooks-own")
            ]
        );
    }

    #[test]
    fn without_a_config_only_the_files_git_would_read_are_named() {
        let fs = FakeFs::new().dir("/ws/.git");
        assert_eq!(
            paths(&fs),
            [
                "/home/me/.gitconfig",
                "/ws/.git/config",
                "/ws/.git/config.worktree"
            ]
        );
        assert_eq!(repository_of(&fs, Path::new("/other")).unwrap(), None);
    }

    #[test]
    fn an_include_loop_ends() {
        let fs = FakeFs::new()
            .file("/ws/.git/config", "[include]\n\tpath = a.inc\n")
            .file("/ws/.git/a.inc", "[include]\n\tpath = config\n");
        assert_eq!(
            paths(&fs),
            [
                "/home/me/.gitconfig",
                "/ws/.git/a.inc",
                "/ws/.git/config",
                "/ws/.git/config.worktree"
            ]
        );
    }

    #[test]
    fn a_config_git_would_refuse_fails() {
        let fs = FakeFs::new().file("/ws/.git/config", "[core\nhooksPath = x\n");
        let err = code_paths(&fs, &[repo()], &host()).unwrap_err();
        assert_eq!(err.path, PathBuf::from("/ws/.git/config"));
    }

    #[test]
    fn values_that_name_no_path_here_are_skipped() {
        let base = Path::new("/ws");
        let host = host();
        let fs = FakeFs::new().user("alice", "/home/alice");
        assert_eq!(expand(&fs, "~/h", base, &host), Some("/home/me/h".into()));
        assert_eq!(expand(&fs, "~", base, &host), Some("/home/me".into()));
        assert_eq!(
            expand(&fs, "~alice/h", base, &host),
            Some("/home/alice/h".into())
        );
        assert_eq!(expand(&fs, "~other/h", base, &host), None);
        assert_eq!(expand(&fs, "%(prefix)/etc", base, &host), None);
        assert_eq!(expand(&fs, "", base, &host), None);
        assert_eq!(
            expand(&fs, "a/../b", base, &host),
            Some("/ws/a/../b".into())
        );
        assert!(is_boolean("TRUE") && is_boolean("0") && !is_boolean("./monitor"));
    }

    /// Fails unless `found` holds every one of `paths`.
    fn assert_names(found: &[PathBuf], paths: &[&str]) {
        for path in paths {
            assert!(found.contains(&PathBuf::from(path)), "{path}: {found:?}");
        }
    }

    fn found(fs: &FakeFs) -> Vec<PathBuf> {
        code_paths(fs, &[repo()], &host()).unwrap()
    }

    /// husky 9 points git at the generated `.husky/_`, whose hooks run the
    /// user's scripts in `.husky`: both are named, and so is every entry
    /// of the hooks directory (a symlinked hook leads to its target).
    #[test]
    fn husky_9_names_its_parent_and_every_hook() {
        let fs = FakeFs::new()
            .file("/ws/.git/config", "[core]\n\thooksPath = .husky/_\n")
            .file("/ws/.husky/_/h", "")
            .symlink("/ws/.husky/_/pre-push", "../../scripts/push.sh")
            .dir("/ws/.husky/_/sub");
        let found = found(&fs);
        assert_names(
            &found,
            &[
                "/ws/.husky",
                "/ws/.husky/_",
                "/ws/.husky/_/h",
                "/ws/.husky/_/pre-push",
            ],
        );
        assert!(!found.contains(&PathBuf::from("/ws/.husky/_/sub")));
    }

    /// A file first met deep in a chain git may skip is still read for
    /// what it names when a shallower include reaches it too.
    #[test]
    fn a_file_is_read_at_the_smallest_depth_it_is_included_at() {
        let mut fs = FakeFs::new().file(
            "/ws/.git/config",
            "[includeIf \"onbranch:never\"]\n\tpath = c1.inc\n[include]\n\tpath = x.inc\n",
        );
        for link in 1..MAX_INCLUDE_DEPTH {
            fs = fs.file(
                &format!("/ws/.git/c{link}.inc"),
                &format!("[include]\n\tpath = c{}.inc\n", link + 1),
            );
        }
        let fs = fs
            .file(
                &format!("/ws/.git/c{MAX_INCLUDE_DEPTH}.inc"),
                "[include]\n\tpath = x.inc\n",
            )
            .file("/ws/.git/x.inc", "[include]\n\tpath = y.inc\n")
            .file("/ws/.git/y.inc", "[core]\n\thooksPath = hooks-y\n");
        assert!(found(&fs).contains(&PathBuf::from("/ws/hooks-y")));
    }

    /// A relative hooks path and monitor are taken from every worktree git
    /// may run them in: the top, `core.worktree`, each linked worktree
    /// (whose own `config.worktree` is read too).
    #[test]
    fn relative_paths_are_taken_from_every_worktree() {
        let fs = FakeFs::new()
            .file(
                "/ws/.git/config",
                "[core]\n\thooksPath = .husky\n\tworktree = ../app\n",
            )
            .file(
                "/ws/.git/worktrees/feat/gitdir",
                "/ws/.worktrees/feat/.git\n",
            )
            .file(
                "/ws/.git/worktrees/feat/config.worktree",
                "[core]\n\tfsmonitor = mon.sh\n",
            );
        let found = found(&fs);
        assert_names(
            &found,
            &[
                "/ws/.husky",
                "/ws/.git/../app/.husky",
                "/ws/.worktrees/feat/.husky",
                "/ws/.worktrees/feat/mon.sh",
                "/ws/.git/worktrees/feat/config.worktree",
            ],
        );
    }

    /// A monitor is a shell command: its program and each later word that
    /// may name a file (missing or not, inside a quoted command line too),
    /// not options or shell syntax.
    #[test]
    fn a_monitor_with_arguments_names_its_scripts() {
        let fs = FakeFs::new().file(
            "/ws/.git/config",
            "[core]\n\tfsmonitor = \"sh tools/monitor.sh --quiet later.sh\"\n\
             [core]\n\tfsmonitor = \"bash -c 'tools/quoted.sh \\\"$@\\\"' name\"\n",
        );
        let found = found(&fs);
        assert_names(
            &found,
            &[
                "/ws/sh",
                "/ws/tools/monitor.sh",
                "/ws/later.sh",
                "/ws/tools/quoted.sh",
            ],
        );
        assert!(
            found
                .iter()
                .all(|path| !path.ends_with("--quiet") && !path.to_string_lossy().contains('$')),
            "{found:?}"
        );
    }

    /// Submodules kept in the repository's git directory are found, nested
    /// ones too, and what their configuration names is taken from the
    /// worktree their `core.worktree` names.
    #[test]
    fn submodules_are_read_from_their_own_worktree() {
        let fs = FakeFs::new()
            .file("/ws/.git/modules/lib/HEAD", "ref: refs/heads/main\n")
            .file(
                "/ws/.git/modules/lib/config",
                "[core]\n\tworktree = ../../../lib\n\tfsmonitor = tools/mon.sh\n",
            )
            .file(
                "/ws/.git/modules/lib/modules/a/b/HEAD",
                "ref: refs/heads/main\n",
            )
            .dir("/ws/.git/modules/lib/objects");
        let found = submodules(&fs, &repo()).unwrap();
        let dirs: Vec<_> = found.iter().map(|repo| repo.git_dir.clone()).collect();
        assert_eq!(
            dirs,
            [
                PathBuf::from("/ws/.git/modules/lib"),
                PathBuf::from("/ws/.git/modules/lib/modules/a/b")
            ]
        );
        let paths = code_paths(&fs, &found[..1], &host()).unwrap();
        assert!(
            paths.contains(&PathBuf::from(
                "/ws/.git/modules/lib/../../../lib/tools/mon.sh"
            )),
            "{paths:?}"
        );
    }
}

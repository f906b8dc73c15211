//! Trusted projects' `.codex/config.toml`, found as Codex 0.171 finds
//! them: the project root is the nearest directory at or above the working
//! directory holding one of `project_root_markers` (default `.git`), else
//! the working directory itself; each directory from the root down to the
//! working directory may hold a `.codex/config.toml`, which is read when
//! that directory is trusted: its own `[projects."/abs/dir"] trust_level`
//! in the user's configuration, else the root's. Deeper files win.
//!
//! An untrusted project's files are never read, so a repository cannot
//! choose its own sandbox; a trusted one can, down to
//! `:danger-full-access`, as in Codex.

use std::path::{Path, PathBuf};

use crate::resolve::normalize;

/// What marks a project root when `project_root_markers` is not set.
pub const DEFAULT_ROOT_MARKERS: [&str; 1] = [".git"];

/// The trust settings read from the user's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectTrust {
    /// `[projects."<dir>"] trust_level`, by directory as written.
    pub trust_levels: Vec<(PathBuf, String)>,
    /// `project_root_markers`, or `None` for the default.
    pub root_markers: Option<Vec<String>>,
}

impl ProjectTrust {
    /// The trust settings in a merged configuration table.
    pub fn from_table(table: &toml::Table) -> Self {
        let trust_levels = table
            .get("projects")
            .and_then(toml::Value::as_table)
            .map(|projects| {
                projects
                    .iter()
                    .filter_map(|(dir, settings)| {
                        let level = settings.get("trust_level")?.as_str()?;
                        Some((PathBuf::from(dir), level.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let root_markers = table
            .get("project_root_markers")
            .and_then(toml::Value::as_array)
            .map(|markers| {
                markers
                    .iter()
                    .filter_map(|marker| marker.as_str().map(str::to_owned))
                    .collect()
            });
        ProjectTrust {
            trust_levels,
            root_markers,
        }
    }

    /// The trust level configured for `dir` itself, if any.
    fn level_of(&self, dir: &Path) -> Option<&str> {
        self.trust_levels
            .iter()
            .find(|(configured, _)| same_dir(configured, dir))
            .map(|(_, level)| level.as_str())
    }
}

/// The `.codex/config.toml` files to read for a command in `cwd`
/// (absolute), root first; `skip` (the user's own `config.toml`) is never
/// one of them.
pub fn trusted_project_configs(cwd: &Path, trust: &ProjectTrust, skip: &Path) -> Vec<PathBuf> {
    let markers: Vec<&str> = match &trust.root_markers {
        Some(markers) => markers.iter().map(String::as_str).collect(),
        None => DEFAULT_ROOT_MARKERS.to_vec(),
    };
    let cwd = normalize(cwd);
    let root = cwd
        .ancestors()
        .find(|dir| markers.iter().any(|marker| dir.join(marker).exists()))
        .unwrap_or(&cwd)
        .to_path_buf();
    let root_level = trust.level_of(&root);
    let mut dirs: Vec<&Path> = cwd
        .ancestors()
        .take_while(|dir| dir.starts_with(&root))
        .collect();
    dirs.reverse();
    dirs.into_iter()
        .filter(|dir| trust.level_of(dir).or(root_level) == Some("trusted"))
        .map(|dir| dir.join(".codex").join("config.toml"))
        .filter(|file| file.is_file() && !same_file(file, skip))
        .collect()
}

/// Whether two directory names mean the same directory: equal once
/// normalised, or once resolved.
fn same_dir(configured: &Path, dir: &Path) -> bool {
    configured.is_absolute()
        && (normalize(configured) == dir
            || configured
                .canonicalize()
                .is_ok_and(|real| dir.canonicalize().is_ok_and(|other| real == other)))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(entries: &[(&Path, &str)], markers: Option<&[&str]>) -> ProjectTrust {
        ProjectTrust {
            trust_levels: entries
                .iter()
                .map(|(dir, level)| (dir.to_path_buf(), (*level).to_owned()))
                .collect(),
            root_markers: markers.map(|list| list.iter().map(|m| (*m).to_owned()).collect()),
        }
    }

    /// A repository `proj` (with `.git`) holding `.codex/config.toml` at
    /// its root and in `sub`, and a tree `plain` without a marker.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        for sub in [
            "proj/.git",
            "proj/.codex",
            "proj/sub/.codex",
            "plain/.codex",
            "plain/child/.codex",
        ] {
            std::fs::create_dir_all(base.join(sub)).unwrap();
        }
        for file in ["proj", "proj/sub", "plain", "plain/child"] {
            std::fs::write(base.join(file).join(".codex/config.toml"), "").unwrap();
        }
        (dir, base)
    }

    fn found(cwd: &Path, trust: &ProjectTrust, base: &Path) -> Vec<String> {
        trusted_project_configs(cwd, trust, Path::new("/nonexistent/config.toml"))
            .iter()
            .map(|path| path.strip_prefix(base).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn an_untrusted_project_is_never_read() {
        let (_dir, base) = tree();
        let proj = base.join("proj");
        assert!(found(&proj, &trust(&[], None), &base).is_empty());
        assert!(found(&proj, &trust(&[(&proj, "untrusted")], None), &base).is_empty());
    }

    #[test]
    fn a_trusted_root_lends_its_trust_to_the_directories_below() {
        let (_dir, base) = tree();
        let proj = base.join("proj");
        let trusted = trust(&[(&proj, "trusted")], None);
        assert_eq!(found(&proj, &trusted, &base), ["proj/.codex/config.toml"]);
        assert_eq!(
            found(&proj.join("sub"), &trusted, &base),
            ["proj/.codex/config.toml", "proj/sub/.codex/config.toml"]
        );
    }

    #[test]
    fn a_trusted_subdirectory_alone_reads_only_itself() {
        let (_dir, base) = tree();
        let sub = base.join("proj/sub");
        assert_eq!(
            found(&sub, &trust(&[(&sub, "trusted")], None), &base),
            ["proj/sub/.codex/config.toml"]
        );
    }

    #[test]
    fn without_a_marker_the_root_is_the_working_directory() {
        let (_dir, base) = tree();
        let plain = base.join("plain");
        let child = plain.join("child");
        // (The default marker is .git, which a scratch directory's
        // ancestors may hold: /tmp/.git exists on some machines.)
        let no_marker = Some(&[".root"][..]);
        assert!(found(&child, &trust(&[(&plain, "trusted")], no_marker), &base).is_empty());
        std::fs::write(plain.join(".root"), "").unwrap();
        assert_eq!(
            found(
                &child,
                &trust(&[(&plain, "trusted")], Some(&[".root"])),
                &base
            ),
            ["plain/.codex/config.toml", "plain/child/.codex/config.toml"]
        );
    }

    #[test]
    fn trust_is_read_from_the_projects_table() {
        let table: toml::Table = toml::from_str(
            "project_root_markers = [\".hg\"]\n[projects.\"/w/a\"]\ntrust_level = \"trusted\"\n\
             [projects.\"/w/b\"]\nmodel = \"x\"\n",
        )
        .unwrap();
        let trust = ProjectTrust::from_table(&table);
        assert_eq!(
            trust.trust_levels,
            [(PathBuf::from("/w/a"), "trusted".to_owned())]
        );
        assert_eq!(trust.root_markers, Some(vec![".hg".to_owned()]));
    }
}

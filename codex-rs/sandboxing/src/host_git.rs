//! Where host git reads its own configuration, besides a repository's:
//! what a sandbox must keep read-only when it lies in a writable root, and
//! read for what it names for code to run (hooks, an fsmonitor, includes).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The host's own git configuration files and `$HOME` (for `~/` in the
/// paths they name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostGitConfig {
    /// Every file host git may read as its system or global configuration,
    /// named by the environment or by default, without duplicates: a git
    /// run later with another environment reads the defaults, so both are
    /// kept.
    pub files: Vec<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl HostGitConfig {
    /// The files for the environment `vars` and `$HOME` `home`:
    /// `$GIT_CONFIG_SYSTEM` and `/etc/gitconfig`, `$GIT_CONFIG_GLOBAL`,
    /// `$XDG_CONFIG_HOME/git/config`, `~/.config/git/config` and
    /// `~/.gitconfig`. Relative values are ignored, as git ignores them.
    pub fn from_environment(vars: &[(OsString, OsString)], home: Option<&Path>) -> Self {
        let var = |name: &str| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| PathBuf::from(value))
                .filter(|path| path.is_absolute())
        };
        let mut files: Vec<PathBuf> = Vec::new();
        files.extend(var("GIT_CONFIG_SYSTEM"));
        files.push("/etc/gitconfig".into());
        files.extend(var("GIT_CONFIG_GLOBAL"));
        files.extend(var("XDG_CONFIG_HOME").map(|dir| dir.join("git/config")));
        if let Some(home) = home {
            files.push(home.join(".config/git/config"));
            files.push(home.join(".gitconfig"));
        }
        let mut unique = Vec::new();
        for file in files {
            if !unique.contains(&file) {
                unique.push(file);
            }
        }
        HostGitConfig {
            files: unique,
            home: home.map(Path::to_path_buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_adds_to_the_defaults() {
        let vars = [
            ("GIT_CONFIG_GLOBAL".into(), "/cfg/global".into()),
            ("XDG_CONFIG_HOME".into(), "relative".into()),
            ("GIT_CONFIG_SYSTEM".into(), "/etc/gitconfig".into()),
        ];
        let host = HostGitConfig::from_environment(&vars, Some(Path::new("/home/me")));
        assert_eq!(
            host.files,
            [
                PathBuf::from("/etc/gitconfig"),
                "/cfg/global".into(),
                "/home/me/.config/git/config".into(),
                "/home/me/.gitconfig".into()
            ]
        );
        assert_eq!(host.home, Some("/home/me".into()));
        let bare = HostGitConfig::from_environment(&[], None);
        assert_eq!(bare.files, [PathBuf::from("/etc/gitconfig")]);
    }
}

//! Choosing the bwrap that runs the sandbox. This module only chooses:
//! the system `bwrap` on `PATH` when a trustworthy one is there, else the
//! bundled one (see [`crate::bundled`] for how that is verified).

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bundled::{BundledBwrap, BundledError, ExpectedDigest};
use crate::locate::find_trusted_program;

/// The bwrap a run will exec.
#[derive(Debug, Clone)]
pub enum Bwrap {
    /// The host's bwrap, found on `PATH` outside every writable root.
    System(PathBuf),
    /// The bwrap shipped beside `codex`, held open after verification.
    Bundled(BundledBwrap),
}

/// Clears the ambient capabilities of the calling thread (capabilities
/// are per thread), which then spawns bwrap, so that bwrap (and so the
/// command) starts with none: a user other than
/// root that was given some (Podman's `--cap-add` for a non-root user sets
/// them) would pass them on, which bwrap refuses ("Unexpected capabilities
/// but not setuid") and the sandbox never wants. Root's capabilities are
/// bwrap's to drop; kernels before 4.3 have no ambient set (`EINVAL`).
fn drop_ambient_capabilities() -> std::io::Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    let result = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let err = std::io::Error::last_os_error();
    if result < 0 && err.raw_os_error() != Some(libc::EINVAL) {
        return Err(err);
    }
    Ok(())
}

impl Bwrap {
    /// A command that execs this bwrap (the bundled one through its open
    /// descriptor, with `bwrap` as its `argv[0]` so its messages read the
    /// same as the system one's), without ambient capabilities: they are
    /// cleared here, on the calling thread, which must be the one that
    /// spawns it. Clearing them here rather than in a `pre_exec` hook lets
    /// the standard library spawn with `posix_spawn` (a vfork that shares
    /// this process's memory) instead of a fork that copies its page
    /// tables: measured 0.17 ms less per start on a 2-core VM. This
    /// process never needs ambient capabilities itself.
    pub fn command(&self) -> std::io::Result<Command> {
        drop_ambient_capabilities()?;
        let command = match self {
            Bwrap::System(path) => Command::new(path),
            Bwrap::Bundled(bundled) => {
                let mut command = Command::new(bundled.exec_path());
                command.arg0("bwrap");
                command
            }
        };
        Ok(command)
    }

    /// The path to show in messages and `--explain`.
    pub fn display_path(&self) -> &Path {
        match self {
            Bwrap::System(path) => path,
            Bwrap::Bundled(bundled) => bundled.path(),
        }
    }

    /// One line saying which bwrap this is and, when bundled, how it was
    /// checked.
    pub fn describe(&self) -> String {
        match self {
            Bwrap::System(path) => format!("system {}", path.display()),
            Bwrap::Bundled(bundled) => format!(
                "bundled {} (SHA-256 {}, {})",
                bundled.path().display(),
                bundled.digest(),
                if bundled.verified() {
                    "verified against the digest compiled into this release"
                } else {
                    "not verified: development build"
                }
            ),
        }
    }
}

/// Why no bwrap can be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LauncherError {
    /// No system bwrap and no bundled one.
    #[error(
        "bwrap (bubblewrap) not found on PATH (outside the writable roots) and no bundled bwrap at {}",
        bundled.display()
    )]
    NoBwrap {
        /// Where the bundled bwrap was looked for.
        bundled: PathBuf,
    },
    /// The bundled bwrap exists but may not be run.
    #[error(transparent)]
    Bundled(BundledError),
}

/// Chooses the bwrap: the first trusted `bwrap` on `path_var` (skipping
/// entries inside `writable_roots`, which must be real paths), else the
/// one at `bundled_path()`, verified against `expected`. The bundled path
/// is only worked out when no system bwrap is found: it costs a resolution
/// of the running binary's path on every start otherwise.
pub fn choose_bwrap(
    path_var: &OsStr,
    writable_roots: &[PathBuf],
    bundled_path: impl FnOnce() -> PathBuf,
    expected: ExpectedDigest,
) -> Result<Bwrap, LauncherError> {
    if let Some(system) = find_trusted_program("bwrap", path_var, writable_roots) {
        return Ok(Bwrap::System(system));
    }
    match BundledBwrap::open(&bundled_path(), expected) {
        Ok(bundled) => Ok(Bwrap::Bundled(bundled)),
        Err(BundledError::Missing { path }) => Err(LauncherError::NoBwrap { bundled: path }),
        Err(err) => Err(LauncherError::Bundled(err)),
    }
}

/// Where this process's bundled bwrap is: `codex-resources/bwrap` beside
/// the real path of the running binary.
pub fn bundled_path_of_current_exe() -> PathBuf {
    std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .ok()
        .and_then(|exe| crate::bundled::bundled_path_for(&exe))
        .unwrap_or_else(|| PathBuf::from(crate::bundled::BUNDLED_RELATIVE_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn the_system_bwrap_wins_over_the_bundled_one() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        executable(&root.join("usr/bin/bwrap"));
        executable(&root.join("codex-resources/bwrap"));
        let path = std::env::join_paths([root.join("usr/bin")]).unwrap();
        let chosen = choose_bwrap(
            &path,
            &[],
            || root.join("codex-resources/bwrap"),
            ExpectedDigest::Development,
        )
        .unwrap();
        assert!(matches!(&chosen, Bwrap::System(p) if *p == root.join("usr/bin/bwrap")));
        assert!(chosen.describe().starts_with("system "));
    }

    #[test]
    fn a_planted_bwrap_is_passed_over_for_the_bundled_one() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        executable(&root.join("ws/bin/bwrap"));
        executable(&root.join("codex-resources/bwrap"));
        let path = std::env::join_paths([root.join("ws/bin")]).unwrap();
        let chosen = choose_bwrap(
            &path,
            &[root.join("ws")],
            || root.join("codex-resources/bwrap"),
            ExpectedDigest::Development,
        )
        .unwrap();
        let Bwrap::Bundled(bundled) = &chosen else {
            panic!("expected the bundled bwrap, got {chosen:?}");
        };
        assert_eq!(bundled.path(), root.join("codex-resources/bwrap"));
        assert!(
            chosen
                .describe()
                .contains("not verified: development build")
        );
        assert_eq!(
            chosen.command().unwrap().get_program(),
            bundled.exec_path().as_os_str()
        );
    }

    #[test]
    fn neither_is_an_error_naming_where_the_bundled_one_was_looked_for() {
        let tmp = tempfile::tempdir().unwrap();
        let bundled = tmp.path().join("codex-resources/bwrap");
        let err = choose_bwrap(
            OsStr::new(""),
            &[],
            || bundled.clone(),
            ExpectedDigest::Development,
        )
        .unwrap_err();
        assert!(matches!(err, LauncherError::NoBwrap { .. }));
        assert!(err.to_string().contains(&bundled.display().to_string()));
    }

    #[test]
    fn a_tampered_bundled_bwrap_is_an_error_not_a_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        let bundled = tmp.path().join("codex-resources/bwrap");
        executable(&bundled);
        let expected = ExpectedDigest::Release([7; 32]);
        let err = choose_bwrap(OsStr::new(""), &[], || bundled.clone(), expected).unwrap_err();
        assert!(matches!(
            err,
            LauncherError::Bundled(BundledError::Tampered { .. })
        ));
    }
}

//! Finding executables on `PATH`: the bwrap the sandbox runs, and the
//! command (so that a missing command is reported with status
//! 127 before any sandbox is built).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a command cannot be run, as a shell tells it apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Nothing by that name (status 127).
    #[error("{0}: command not found")]
    NotFound(String),
    /// Found, but not executable (status 126).
    #[error("{0}: permission denied (not executable)")]
    NotExecutable(String),
    /// A path to a directory (status 126, as a shell says it).
    #[error("{0}: is a directory")]
    IsDirectory(String),
}

/// The program `name` (`bwrap`) on `path_var`, skipping entries a
/// sandboxed command could have planted one in: relative entries, and
/// entries whose real path lies inside one of `writable_roots` (real
/// paths). The binary's own real path must lie outside them too.
pub fn find_trusted_program(
    name: &str,
    path_var: &OsStr,
    writable_roots: &[PathBuf],
) -> Option<PathBuf> {
    let inside_writable = |path: &Path| writable_roots.iter().any(|root| path.starts_with(root));
    // Only entries that hold the program are resolved: resolving every entry
    // of a long PATH costs a readlink per component on every start.
    std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .filter(|candidate| is_executable_file(candidate))
        .find_map(|candidate| {
            let real_dir = std::fs::canonicalize(candidate.parent()?).ok()?;
            let real_binary = std::fs::canonicalize(&candidate).ok()?;
            (!inside_writable(&real_dir) && !inside_writable(&real_binary)).then_some(real_binary)
        })
}

/// Resolves `command` the way `execvp` will: a name with a `/` relative to
/// `cwd`, otherwise the first executable match on `path_var`.
///
/// Written by hand rather than with the `which` crate because a shell's
/// distinction is needed: a match that is not executable is status 126,
/// no match at all is 127.
pub fn find_command(
    command: &OsStr,
    path_var: &OsStr,
    cwd: &Path,
) -> Result<PathBuf, CommandError> {
    let name = command.to_string_lossy().into_owned();
    if name.is_empty() {
        return Err(CommandError::NotFound(name));
    }
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![cwd.join(command)]
    } else {
        std::env::split_paths(path_var)
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    cwd.to_path_buf()
                } else {
                    cwd.join(dir)
                }
            })
            .map(|dir| dir.join(command))
            .collect()
    };
    let mut found_unexecutable = false;
    for candidate in &candidates {
        match std::fs::metadata(candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate.clone());
            }
            // A directory named by its path is an error of its own; on
            // PATH one is passed over, as a shell passes it over.
            Ok(meta) if meta.is_dir() && name.contains('/') => {
                return Err(CommandError::IsDirectory(name));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => found_unexecutable = true,
            Err(_) => {}
        }
    }
    Err(if found_unexecutable {
        CommandError::NotExecutable(name)
    } else {
        CommandError::NotFound(name)
    })
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn executable(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn bwrap_in_a_writable_root_or_relative_entry_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let (planted, system) = (root.join("ws/bin"), root.join("usr/bin"));
        std::fs::create_dir_all(&planted).unwrap();
        std::fs::create_dir_all(&system).unwrap();
        executable(&planted.join("bwrap"));
        executable(&system.join("bwrap"));
        let path = std::env::join_paths([Path::new("ws/bin"), &planted, &system]).unwrap();
        let writable = vec![root.join("ws")];
        assert_eq!(
            find_trusted_program("bwrap", &path, &writable),
            Some(system.join("bwrap"))
        );
        assert_eq!(
            find_trusted_program("bwrap", &path, &[]),
            Some(planted.join("bwrap"))
        );
    }

    #[test]
    fn a_bwrap_symlink_into_a_writable_root_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("ws")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        executable(&root.join("ws/bwrap"));
        symlink(root.join("ws/bwrap"), root.join("bin/bwrap")).unwrap();
        let path = std::env::join_paths([root.join("bin")]).unwrap();
        assert_eq!(
            find_trusted_program("bwrap", &path, &[root.join("ws")]),
            None
        );
    }

    #[test]
    fn a_non_executable_bwrap_is_not_chosen() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("bwrap"), "").unwrap();
        let path = std::env::join_paths([tmp.path()]).unwrap();
        assert_eq!(find_trusted_program("bwrap", &path, &[]), None);
    }

    #[test]
    fn commands_resolve_like_execvp_with_126_and_127() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        executable(&bin.join("tool"));
        std::fs::write(bin.join("data"), "").unwrap();
        let path = std::env::join_paths([&bin]).unwrap();
        let found = find_command(OsStr::new("tool"), &path, tmp.path()).unwrap();
        assert_eq!(found, bin.join("tool"));
        let relative = find_command(OsStr::new("bin/tool"), OsStr::new(""), tmp.path()).unwrap();
        assert_eq!(relative, tmp.path().join("bin/tool"));
        let err = find_command(OsStr::new("data"), &path, tmp.path()).unwrap_err();
        assert_eq!(err, CommandError::NotExecutable("data".into()));
        let err = find_command(OsStr::new("nope"), &path, tmp.path()).unwrap_err();
        assert_eq!(err, CommandError::NotFound("nope".into()));
        assert_eq!(err.to_string(), "nope: command not found");
        assert_eq!(
            find_command(OsStr::new("bin"), &path, tmp.path()),
            Err(CommandError::NotFound("bin".into())),
            "a directory on PATH is passed over"
        );
        let err = find_command(OsStr::new("./bin"), &path, tmp.path()).unwrap_err();
        assert_eq!(err, CommandError::IsDirectory("./bin".into()));
        assert_eq!(err.to_string(), "./bin: is a directory");
    }
}

//! What this host has taught earlier runs, kept between them in
//! `$XDG_CACHE_HOME/codex-sandbox/` (default `~/.cache`): small files of
//! `key<TAB>value` lines, newest last, each replaced atomically.
//!
//! - `bwrap-argv0`: does a bwrap know `--argv0`? Every guarded start runs
//!   the inner stage, which wants the answer, and asking means running
//!   bwrap once more (one to several milliseconds on each agent command).
//!   Keyed by the binary's path and identity ([`file_key`]), so a replaced
//!   or upgraded bwrap is asked again.
//! - `notices`: the informational notices already printed on this host
//!   ([`crate::decide::Warning::notice_key`]), so each is said once per
//!   host and version, not on every command.
//!
//! The files are only ever hints. A forged "yes" for a bwrap without
//! `--argv0` makes that bwrap refuse to start the sandbox (nothing runs),
//! and the failed start removes the answer; a forged "no" only leaves the
//! stage unnamed; a forged notice only silences information that `doctor`
//! also gives. Reading and writing them never fails a start.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Lines kept in a file: one per key, newest last.
const MAX_ENTRIES: usize = 16;

/// The file of answers about `--argv0`.
pub const ARGV0_FILE: &str = "bwrap-argv0";

/// The file of notices already given.
pub const NOTICES_FILE: &str = "notices";

/// The file `name` in the cache directory, if one can be named.
fn cache_file(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("codex-sandbox").join(name))
}

/// The key of the file at `path`: the path and the identity of the file
/// it names now (device, inode, size, modification and change times).
pub fn file_key(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let path = path.to_str()?;
    if path.contains(['\t', '\n']) {
        return None;
    }
    Some(format!(
        "{path}\t{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    ))
}

/// The value recorded for `key` in a file's text.
pub fn lookup<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().rev().find_map(|line| {
        let (line_key, value) = line.rsplit_once('\t')?;
        (line_key == key).then_some(value)
    })
}

/// A file's text with `value` recorded for `key`: any older line for the
/// key is dropped, and only the newest `MAX_ENTRIES` lines are kept.
pub fn record(text: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.rsplit_once('\t')
                .is_some_and(|(line_key, _)| line_key != key)
        })
        .collect();
    let new_line = format!("{key}\t{value}");
    lines.push(&new_line);
    let skip = lines.len().saturating_sub(MAX_ENTRIES);
    let mut out = lines[skip..].join("\n");
    out.push('\n');
    out
}

/// The value recorded for `key` in the file `name`.
pub fn load(name: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(cache_file(name)?).ok()?;
    lookup(&text, key).map(str::to_owned)
}

/// Records `value` for `key` in the file `name`, replacing it atomically.
/// A key or value holding a tab or a newline is not recorded.
pub fn store(name: &str, key: &str, value: &str) {
    if key.contains('\n') || value.contains(['\t', '\n']) {
        return;
    }
    let Some(file) = cache_file(name) else {
        return;
    };
    let Some(dir) = file.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let temporary = dir.join(format!("{name}.{}", std::process::id()));
    if std::fs::write(&temporary, record(&text, key, value)).is_ok()
        && std::fs::rename(&temporary, &file).is_err()
    {
        let _ = std::fs::remove_file(&temporary);
    }
}

/// Removes the file `name` (after a start its answers may have misled).
pub fn forget(name: &str) {
    if let Some(file) = cache_file(name) {
        let _ = std::fs::remove_file(file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_by_their_whole_key() {
        let text = "/usr/bin/bwrap\t1:2:3:4.5:6.7\tno\n/opt/bwrap\t1:9:3:4.5:6.7\tyes\n";
        assert_eq!(lookup(text, "/usr/bin/bwrap\t1:2:3:4.5:6.7"), Some("no"));
        assert_eq!(lookup(text, "/opt/bwrap\t1:9:3:4.5:6.7"), Some("yes"));
        // Same path, another file (upgraded): asked again.
        assert_eq!(lookup(text, "/usr/bin/bwrap\t1:8:3:4.5:6.7"), None);
        assert_eq!(lookup("garbage\n", "x"), None);
        assert_eq!(lookup("", "x"), None);
    }

    #[test]
    fn recording_replaces_the_key_and_keeps_the_newest_lines() {
        let text = record("", "a\t1", "no");
        let text = record(&text, "b\t1", "yes");
        let text = record(&text, "a\t1", "yes");
        assert_eq!(text, "b\t1\tyes\na\t1\tyes\n");
        let mut text = String::new();
        for i in 0..40 {
            text = record(&text, &format!("k{i}\t0"), &i.to_string());
        }
        assert_eq!(text.lines().count(), MAX_ENTRIES);
        assert_eq!(lookup(&text, "k39\t0"), Some("39"));
        assert_eq!(lookup(&text, "k0\t0"), None);
    }

    #[test]
    fn the_key_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bwrap");
        std::fs::write(&path, "one").unwrap();
        let first = file_key(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "other").unwrap();
        assert_ne!(file_key(&path).unwrap(), first);
        assert!(file_key(&dir.path().join("missing")).is_none());
    }
}

//! The answer to "does this bwrap know `--argv0`?", kept between runs.
//!
//! Every guarded start runs the inner stage, which wants the answer, and
//! asking means running bwrap once more (one to several milliseconds on
//! each agent command). The answer depends only on the bwrap binary, so it
//! is kept in `$XDG_CACHE_HOME/codex-sandbox/bwrap-argv0` (default
//! `~/.cache`), one line per binary, keyed by its path and the identity of
//! the file there (device, inode, size, modification and change times): a
//! replaced or upgraded bwrap is a new key and is asked again.
//!
//! The file is only ever a hint. A forged "yes" for a bwrap without
//! `--argv0` makes that bwrap refuse to start the sandbox (nothing runs),
//! and the failed start removes the file; a forged "no" only leaves the
//! stage unnamed. Reading and writing it never fails a start.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Lines kept in the file: one per bwrap binary seen, newest last.
const MAX_ENTRIES: usize = 8;

/// The cache file, if a cache directory can be named.
pub fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("codex-sandbox").join("bwrap-argv0"))
}

/// The key of the bwrap binary at `path`: the path and the identity of the
/// file it names now.
pub fn key_of(path: &Path) -> Option<String> {
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

/// The cached answer for `key` in the file's text.
pub fn lookup(text: &str, key: &str) -> Option<bool> {
    text.lines().rev().find_map(|line| {
        let (line_key, answer) = line.rsplit_once('\t')?;
        (line_key == key).then_some(answer)?.parse_answer()
    })
}

/// The file's text with `answer` recorded for `key`: any older line for
/// the key is dropped, and only the newest `MAX_ENTRIES` lines are kept.
pub fn record(text: &str, key: &str, answer: bool) -> String {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.rsplit_once('\t')
                .is_some_and(|(line_key, _)| line_key != key)
        })
        .collect();
    let new_line = format!("{key}\t{}", if answer { "yes" } else { "no" });
    lines.push(&new_line);
    let skip = lines.len().saturating_sub(MAX_ENTRIES);
    let mut out = lines[skip..].join("\n");
    out.push('\n');
    out
}

/// Reads the cached answer for the bwrap at `path`.
pub fn load(path: &Path) -> Option<bool> {
    let key = key_of(path)?;
    let text = std::fs::read_to_string(cache_file()?).ok()?;
    lookup(&text, &key)
}

/// Records `answer` for the bwrap at `path`, replacing the file atomically.
pub fn store(path: &Path, answer: bool) {
    let (Some(key), Some(file)) = (key_of(path), cache_file()) else {
        return;
    };
    let Some(dir) = file.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let temporary = dir.join(format!("bwrap-argv0.{}", std::process::id()));
    if std::fs::write(&temporary, record(&text, &key, answer)).is_ok()
        && std::fs::rename(&temporary, &file).is_err()
    {
        let _ = std::fs::remove_file(&temporary);
    }
}

/// Removes the cache file (after a start it may have misled).
pub fn forget() {
    if let Some(file) = cache_file() {
        let _ = std::fs::remove_file(file);
    }
}

trait ParseAnswer {
    fn parse_answer(self) -> Option<bool>;
}

impl ParseAnswer for &str {
    fn parse_answer(self) -> Option<bool> {
        match self {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_by_their_whole_key() {
        let text = "/usr/bin/bwrap\t1:2:3:4.5:6.7\tno\n/opt/bwrap\t1:9:3:4.5:6.7\tyes\n";
        assert_eq!(lookup(text, "/usr/bin/bwrap\t1:2:3:4.5:6.7"), Some(false));
        assert_eq!(lookup(text, "/opt/bwrap\t1:9:3:4.5:6.7"), Some(true));
        // Same path, another file (upgraded): asked again.
        assert_eq!(lookup(text, "/usr/bin/bwrap\t1:8:3:4.5:6.7"), None);
        assert_eq!(lookup("garbage\nx\tmaybe\n", "x"), None);
        assert_eq!(lookup("", "x"), None);
    }

    #[test]
    fn recording_replaces_the_key_and_keeps_the_newest_lines() {
        let text = record("", "a\t1", false);
        let text = record(&text, "b\t1", true);
        let text = record(&text, "a\t1", true);
        assert_eq!(text, "b\t1\tyes\na\t1\tyes\n");
        let mut text = String::new();
        for i in 0..20 {
            text = record(&text, &format!("k{i}\t0"), i % 2 == 0);
        }
        assert_eq!(text.lines().count(), MAX_ENTRIES);
        assert_eq!(lookup(&text, "k19\t0"), Some(false));
        assert_eq!(lookup(&text, "k0\t0"), None);
    }

    #[test]
    fn the_key_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bwrap");
        std::fs::write(&path, "one").unwrap();
        let first = key_of(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "other").unwrap();
        assert_ne!(key_of(&path).unwrap(), first);
        assert!(key_of(&dir.path().join("missing")).is_none());
    }
}

//! The built-in scanner: one parallel walk (the `ignore` crate, ripgrep's
//! walker) over every root, with all ignore-file handling turned off.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

use super::matcher::{Findings, Matcher};
use super::{ScanError, ScanReport, ScanRequest, ScannerKind, pattern_list, unreadable_verdict};

/// Walks `request.roots` and reports what `matcher` finds.
pub fn scan(request: &ScanRequest, matcher: &Matcher) -> Result<ScanReport, ScanError> {
    let Some((first, rest)) = request.roots.split_first() else {
        return Ok(ScanReport::empty());
    };
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    // No hidden-file or ignore-file filtering of any kind: a `.gitignore`
    // must not hide a secret from the scan.
    builder
        .standard_filters(false)
        .follow_links(true)
        .max_depth(Some(request.max_depth));

    let findings = Mutex::new(Findings::default());
    let skipped = Mutex::new(Vec::new());
    let failure = Mutex::new(None);
    builder.build_parallel().run(|| {
        Box::new(|result| {
            let entry = match result {
                Ok(entry) => entry,
                Err(err) => {
                    return match classify(&err) {
                        Classified::Benign => WalkState::Continue,
                        Classified::Unreadable(path) => match unreadable_verdict(request, &path) {
                            Ok(()) => {
                                lock(&skipped).push(path);
                                WalkState::Continue
                            }
                            Err(message) => fail(&failure, request, path, message),
                        },
                        Classified::Fatal(path, message) => fail(&failure, request, path, message),
                    };
                }
            };
            let mut local = Findings::default();
            matcher.inspect(entry.path(), &mut local);
            if local != Findings::default() {
                lock(&findings).absorb(local);
            }
            let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
            if is_dir && !Matcher::descend_into(entry.path()) {
                WalkState::Skip
            } else {
                WalkState::Continue
            }
        })
    });

    if let Some(err) = into_inner(failure) {
        return Err(err);
    }
    let findings = into_inner(findings);
    Ok(ScanReport {
        matches: findings.matches,
        protected: findings.protected,
        skipped: into_inner(skipped),
        scanner: ScannerKind::Builtin,
    })
}

fn fail(
    failure: &Mutex<Option<ScanError>>,
    request: &ScanRequest,
    path: PathBuf,
    message: String,
) -> WalkState {
    let mut slot = lock(failure);
    if slot.is_none() {
        *slot = Some(ScanError::Walk {
            patterns: pattern_list(&request.patterns_covering(&path)),
            path,
            message,
        });
    }
    WalkState::Quit
}

/// What a walk error means for the scan.
#[derive(Debug, PartialEq, Eq)]
enum Classified {
    /// The entry vanished while walking, or a symlink loop (its target is
    /// walked anyway): nothing to mask.
    Benign,
    /// Permission denied on this path.
    Unreadable(PathBuf),
    /// Anything else: the scan cannot vouch for what it did not see.
    Fatal(PathBuf, String),
}

fn classify(err: &ignore::Error) -> Classified {
    classify_at(err, Path::new(""))
}

fn classify_at(err: &ignore::Error, path: &Path) -> Classified {
    match err {
        ignore::Error::WithPath { path, err } => classify_at(err, path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            classify_at(err, path)
        }
        ignore::Error::Loop { .. } => Classified::Benign,
        ignore::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => Classified::Benign,
            std::io::ErrorKind::PermissionDenied if !path.as_os_str().is_empty() => {
                Classified::Unreadable(path.to_path_buf())
            }
            _ => Classified::Fatal(path.to_path_buf(), io.to_string()),
        },
        other => Classified::Fatal(path.to_path_buf(), other.to_string()),
    }
}

/// Locks a mutex, recovering the data if a walker thread panicked while
/// holding it (the data is only appended to, so it stays consistent).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_entries_and_loops_are_benign_denials_are_not() {
        let io = |kind| ignore::Error::Io(std::io::Error::from(kind));
        let with_path = |err| ignore::Error::WithPath {
            path: "/ws/x".into(),
            err: Box::new(err),
        };
        assert_eq!(
            classify(&with_path(io(std::io::ErrorKind::NotFound))),
            Classified::Benign
        );
        assert_eq!(
            classify(&ignore::Error::Loop {
                ancestor: "/ws".into(),
                child: "/ws/l".into()
            }),
            Classified::Benign
        );
        assert_eq!(
            classify(&ignore::Error::WithDepth {
                depth: 2,
                err: Box::new(with_path(io(std::io::ErrorKind::PermissionDenied)))
            }),
            Classified::Unreadable("/ws/x".into())
        );
        assert!(matches!(
            classify(&with_path(io(std::io::ErrorKind::InvalidData))),
            Classified::Fatal(path, _) if path == Path::new("/ws/x")
        ));
        assert!(matches!(
            classify(&io(std::io::ErrorKind::PermissionDenied)),
            Classified::Fatal(..)
        ));
    }
}

//! The built-in scanner: a walk (the `ignore` crate, ripgrep's walker) over
//! every root, with all ignore-file handling turned off.
//!
//! Small trees, the usual case at start-up, are walked on this thread: the
//! parallel walker's threads cost more than they save there, and its idle
//! workers sleep in 1 ms steps, which a start-up of a few milliseconds
//! feels. A walk that passes `SEQUENTIAL_LIMIT` entries starts over in
//! parallel, which is what large trees need.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::{DirEntry, WalkBuilder, WalkState};

use super::matcher::{Findings, Matcher};
use super::{ScanError, ScanReport, ScanRequest, pattern_list};

/// Entries walked on this thread before the walk starts over in parallel:
/// about a millisecond of walking, so a large tree loses little.
const SEQUENTIAL_LIMIT: usize = 1024;

/// Walks `request.roots` and reports what `matcher` finds.
pub fn scan(request: &ScanRequest, matcher: &Matcher) -> Result<ScanReport, ScanError> {
    let Some(builder) = walk_builder(request) else {
        return Ok(ScanReport::empty());
    };
    let (findings, skipped) = match walk_sequentially(&builder, request, matcher) {
        Some(result) => result?,
        None => walk_in_parallel(&builder, request, matcher)?,
    };
    Ok(ScanReport {
        matches: findings.matches,
        protected: findings.protected,
        skipped,
    })
}

/// What a scan collects: findings, and the unreadable paths it skipped.
type Collected = (Findings, Vec<PathBuf>);

fn walk_builder(request: &ScanRequest) -> Option<WalkBuilder> {
    let (first, rest) = request.roots.split_first()?;
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    // No hidden-file or ignore-file filtering of any kind: a `.gitignore`
    // must not hide a secret from the scan.
    builder
        .standard_filters(false)
        .follow_links(true)
        .max_depth(request.max_depth);
    Some(builder)
}

/// The walk on this thread; `None` once it passes [`SEQUENTIAL_LIMIT`].
fn walk_sequentially(
    builder: &WalkBuilder,
    request: &ScanRequest,
    matcher: &Matcher,
) -> Option<Result<Collected, ScanError>> {
    let mut findings = Findings::default();
    let mut skipped = Vec::new();
    // The sequential walk cannot be told to skip a directory after seeing
    // it; it drops the children of one `visit` prunes instead, which keeps
    // it from descending any further.
    let mut pruning = builder.clone();
    let skip = request.skip.clone();
    pruning.filter_entry(move |entry| {
        entry.path().parent().is_none_or(Matcher::descend_into)
            && !skip.iter().any(|dir| entry.path() == dir)
    });
    for (entries, result) in pruning.build().enumerate() {
        if entries == SEQUENTIAL_LIMIT {
            return None;
        }
        match visit(result, request, matcher, &mut findings) {
            Visit::Descend | Visit::Prune => {}
            Visit::Skipped(path) => skipped.push(path),
            Visit::Failed(err) => return Some(Err(err)),
        }
    }
    Some(Ok((findings, skipped)))
}

fn walk_in_parallel(
    builder: &WalkBuilder,
    request: &ScanRequest,
    matcher: &Matcher,
) -> Result<Collected, ScanError> {
    let findings = Mutex::new(Findings::default());
    let skipped = Mutex::new(Vec::new());
    let failure = Mutex::new(None);
    builder.build_parallel().run(|| {
        Box::new(|result| {
            let mut local = Findings::default();
            let visit = visit(result, request, matcher, &mut local);
            if local != Findings::default() {
                lock(&findings).absorb(local);
            }
            match visit {
                Visit::Descend => WalkState::Continue,
                Visit::Prune => WalkState::Skip,
                Visit::Skipped(path) => {
                    lock(&skipped).push(path);
                    WalkState::Continue
                }
                Visit::Failed(err) => {
                    lock(&failure).get_or_insert(err);
                    WalkState::Quit
                }
            }
        })
    });
    match into_inner(failure) {
        Some(err) => Err(err),
        None => Ok((into_inner(findings), into_inner(skipped))),
    }
}

/// What one walk entry means for the walk.
enum Visit {
    /// Go on, into the entry if it is a directory.
    Descend,
    /// Go on, but not into this directory.
    Prune,
    /// The entry could not be read and the scan may do without it.
    Skipped(PathBuf),
    /// The scan cannot vouch for what it did not see.
    Failed(ScanError),
}

/// Inspects one entry, adding what `matcher` finds in it to `findings`.
fn visit(
    result: Result<DirEntry, ignore::Error>,
    request: &ScanRequest,
    matcher: &Matcher,
    findings: &mut Findings,
) -> Visit {
    let entry = match result {
        Ok(entry) => entry,
        Err(err) => {
            return match classify(&err) {
                Classified::Benign => Visit::Descend,
                Classified::Unreadable(path) => match unreadable_verdict(request, &path) {
                    Ok(()) => Visit::Skipped(path),
                    Err(message) => Visit::Failed(walk_error(request, path, message)),
                },
                Classified::Fatal(path, message) => {
                    Visit::Failed(walk_error(request, path, message))
                }
            };
        }
    };
    if request.skip.iter().any(|dir| entry.path() == dir) {
        return Visit::Prune;
    }
    matcher.inspect(entry.path(), findings);
    let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
    if is_dir && !Matcher::descend_into(entry.path()) {
        Visit::Prune
    } else {
        Visit::Descend
    }
}

/// Whether a directory the scan could not list may be skipped (see the
/// module documentation); the error says why not.
fn unreadable_verdict(request: &ScanRequest, dir: &Path) -> Result<(), String> {
    let patterns = request.patterns_covering(dir);
    if patterns.is_empty() || !can_enter(dir) {
        tracing::debug!(path = %dir.display(), "scan: skipping a directory this user cannot list");
        return Ok(());
    }
    Err(format!(
        "{} can be entered but not listed, so files in it matching {} would stay readable; \
         make it readable (chmod u+r) or keep it out of the glob's root",
        dir.display(),
        patterns.join(", ")
    ))
}

/// Whether the invoking user may enter `dir` (search permission).
fn can_enter(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::X_OK).is_ok()
}

fn walk_error(request: &ScanRequest, path: PathBuf, message: String) -> ScanError {
    ScanError::Walk {
        patterns: pattern_list(&request.patterns_covering(&path)),
        path,
        message,
    }
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

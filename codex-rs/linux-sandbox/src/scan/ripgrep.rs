//! The ripgrep scanner: `rg --files --hidden --no-ignore --follow` lists
//! every file under the roots; this module matches each listed file and
//! each of its directories with the shared [`Matcher`].
//!
//! ripgrep lists files only, so a directory is seen through the files in
//! it: an empty directory is invisible to this scanner (a matched empty
//! directory has nothing to read, and an empty `.codex` is no different
//! from a missing one). Its other messages are classified line by line:
//! anything not known to be benign fails the scan.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::matcher::{Findings, Matcher, NEVER_SCANNED};
use super::{
    ScanError, ScanPattern, ScanReport, ScanRequest, ScannerKind, pattern_list, unreadable_verdict,
};

/// Runs `rg` over `request.roots` and reports what `matcher` finds.
pub fn scan(rg: &Path, request: &ScanRequest, matcher: &Matcher) -> Result<ScanReport, ScanError> {
    let fail = |message: String| ScanError::Ripgrep {
        rg: rg.to_path_buf(),
        patterns: pattern_list(
            &request
                .patterns
                .iter()
                .map(ScanPattern::anchored)
                .collect::<Vec<_>>(),
        ),
        message,
    };
    let output = command(rg, request)
        .output()
        .map_err(|err| fail(format!("cannot run it: {err}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let skipped = classify_messages(request, &stderr).map_err(fail)?;
    // Every message is benign or a skipped directory by now; status 2 is
    // how rg says it printed some.
    match output.status.code() {
        Some(0 | 1) => {}
        Some(2) if !stderr.trim().is_empty() => {}
        Some(code) => {
            return Err(fail(format!(
                "exited with status {code}: {}",
                stderr.trim()
            )));
        }
        None => return Err(fail(format!("killed by a signal ({})", output.status))),
    }
    let findings = inspect_in_parallel(&output.stdout, &request.roots, matcher);
    Ok(ScanReport {
        matches: findings.matches,
        protected: findings.protected,
        skipped,
        scanner: ScannerKind::Ripgrep(rg.to_path_buf()),
    })
}

/// The rg command line, with an empty environment so no
/// `RIPGREP_CONFIG_PATH` can add options. No exclusion globs unless a root
/// is `/`: any `--glob` makes rg match every path against it, a fifth of
/// its time on a large tree; `.git` internals are dropped while reading
/// the listing instead.
fn command(rg: &Path, request: &ScanRequest) -> Command {
    let mut cmd = Command::new(rg);
    cmd.current_dir("/")
        .env_clear()
        .args([
            "--files",
            "--hidden",
            "--no-ignore",
            "--no-config",
            "--follow",
            "--null",
        ])
        .arg("--max-depth")
        .arg(request.max_depth.to_string());
    if request.roots.iter().any(|root| root == Path::new("/")) {
        // Run from `/` so that these globs are anchored there.
        for never in NEVER_SCANNED {
            cmd.arg("--glob").arg(format!("!{never}"));
        }
    }
    cmd.arg("--")
        .args(&request.roots)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Inspects the listing on every core, in NUL-aligned slices. It runs after
/// rg has ended: reading while rg runs makes its printing threads wait on
/// the pipe, which measured slower on two cores than collecting first.
/// Slices may inspect a shared directory twice; the report is deduplicated.
fn inspect_in_parallel(listing: &[u8], roots: &[PathBuf], matcher: &Matcher) -> Findings {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let target = listing.len() / threads + 1;
    let mut slices = Vec::with_capacity(threads);
    let mut start = 0;
    while start < listing.len() {
        let guess = (start + target).min(listing.len());
        let end = listing[guess..]
            .iter()
            .position(|byte| *byte == 0)
            .map_or(listing.len(), |offset| guess + offset + 1);
        slices.push(&listing[start..end]);
        start = end;
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = slices
            .into_iter()
            .map(|slice| {
                scope.spawn(move || {
                    let mut part = Listing::new(roots, matcher);
                    part.feed(slice);
                    part.findings
                })
            })
            .collect();
        let mut findings = Findings::default();
        for worker in workers {
            if let Ok(part) = worker.join() {
                findings.absorb(part);
            }
        }
        findings
    })
}

/// Inspects every listed file and, once each, every directory between it
/// and its root. Works on raw bytes: ripgrep prints hundreds of thousands
/// of paths, and hashing or comparing `Path`s component by component would
/// cost more than ripgrep's own walk.
struct Listing<'a> {
    roots: Vec<&'a [u8]>,
    matcher: &'a Matcher,
    seen_dirs: HashSet<Vec<u8>>,
    findings: Findings,
}

impl<'a> Listing<'a> {
    fn new(roots: &'a [PathBuf], matcher: &'a Matcher) -> Self {
        Listing {
            roots: roots
                .iter()
                .map(|root| root.as_os_str().as_bytes())
                .collect(),
            matcher,
            seen_dirs: HashSet::new(),
            findings: Findings::default(),
        }
    }

    /// Inspects NUL-separated paths.
    fn feed(&mut self, records: &[u8]) {
        for file in records
            .split(|byte| *byte == 0)
            .filter(|raw| !raw.is_empty())
        {
            self.inspect_file(file);
        }
    }

    fn inspect_file(&mut self, listed: &[u8]) {
        let file = trim_git_internals(listed);
        if file.len() < listed.len() && !self.remember(file) {
            return;
        }
        self.matcher.inspect(as_path(file), &mut self.findings);
        let Some(root_len) = self
            .roots
            .iter()
            .filter(|root| is_below(file, root))
            .map(|root| root.len())
            .min()
        else {
            return;
        };
        let mut dir = file;
        while let Some(slash) = dir.iter().rposition(|byte| *byte == b'/') {
            dir = &dir[..slash];
            if dir.len() < root_len || !self.remember(dir) {
                break;
            }
            self.matcher.inspect(as_path(dir), &mut self.findings);
        }
    }

    /// Records `dir` as inspected; false if it already was.
    fn remember(&mut self, dir: &[u8]) -> bool {
        if self.seen_dirs.contains(dir) {
            return false;
        }
        self.seen_dirs.insert(dir.to_vec())
    }
}

/// A path inside a subdirectory of a `.git` directory is cut back to that
/// subdirectory, which the walker would have listed without entering it
/// (see [`Matcher::descend_into`]).
fn trim_git_internals(path: &[u8]) -> &[u8] {
    const GIT: &[u8] = b"/.git/";
    let Some(at) = path.windows(GIT.len()).position(|window| window == GIT) else {
        return path;
    };
    let inside = at + GIT.len();
    match path[inside..].iter().position(|byte| *byte == b'/') {
        Some(end) => &path[..inside + end],
        None => path,
    }
}

fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Whether `path` is `root` or lies below it.
fn is_below(path: &[u8], root: &[u8]) -> bool {
    let root = match root {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => root,
    };
    path.starts_with(root) && (path.len() == root.len() || path[root.len()] == b'/' || root == b"/")
}

/// Splits rg's messages into directories to skip (see
/// [`unreadable_verdict`]) and failures. Returns the skipped directories, or the first
/// message that is not benign.
fn classify_messages(request: &ScanRequest, stderr: &str) -> Result<Vec<PathBuf>, String> {
    let mut skipped = Vec::new();
    for line in stderr.lines().filter(|line| !line.trim().is_empty()) {
        if is_benign(line) {
            continue;
        }
        let text = line.strip_prefix("rg: ").unwrap_or(line);
        match text.strip_suffix(": Permission denied (os error 13)") {
            Some(path) => {
                unreadable_verdict(request, Path::new(path))?;
                skipped.push(PathBuf::from(path));
            }
            None => return Err(format!("unexpected error: {line}")),
        }
    }
    Ok(skipped)
}

/// Messages that cannot hide a file: an entry that vanished during the
/// walk, and a symlink loop (the looped-to directory is walked anyway).
fn is_benign(line: &str) -> bool {
    line.contains("File system loop found")
        || line.ends_with("(os error 2)")
        || line.ends_with("(os error 20)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(patterns: &[&str]) -> ScanRequest {
        ScanRequest {
            roots: vec!["/".into()],
            patterns: patterns.iter().map(|p| ScanPattern::new("/", p)).collect(),
            protect_under: Vec::new(),
            max_depth: 8,
        }
    }

    #[test]
    fn messages_are_classified_and_unknown_ones_fail() {
        let request = request(&["**/*.env"]);
        assert_eq!(classify_messages(&request, ""), Ok(Vec::new()));
        assert_eq!(
            classify_messages(
                &request,
                "rg: /ws/gone: No such file or directory (os error 2)\n\
                 File system loop found: /ws/l points to an ancestor /ws\n"
            ),
            Ok(Vec::new())
        );
        let err =
            classify_messages(&request, "rg: /ws: Input/output error (os error 5)\n").unwrap_err();
        assert!(err.contains("Input/output error"), "{err}");
    }

    #[test]
    fn a_denied_directory_that_can_be_entered_fails_and_one_that_cannot_is_skipped() {
        // `/` can be entered by anyone; a missing path cannot be entered.
        let globbed = request(&["**/*.env"]);
        let err =
            classify_messages(&globbed, "rg: /: Permission denied (os error 13)").unwrap_err();
        assert!(err.contains("can be entered but not listed"), "{err}");
        assert_eq!(
            classify_messages(&globbed, "/no/such/dir: Permission denied (os error 13)"),
            Ok(vec![PathBuf::from("/no/such/dir")])
        );
        // Where no glob looks, only protected names are sought: skipped.
        assert_eq!(
            classify_messages(&request(&[]), "rg: /: Permission denied (os error 13)"),
            Ok(vec![PathBuf::from("/")])
        );
    }

    #[test]
    fn directories_are_inspected_once_through_their_files() {
        let request = ScanRequest {
            roots: vec!["/ws".into()],
            patterns: vec![
                ScanPattern::new("/ws", "**/secrets"),
                ScanPattern::new("/ws", "**/*.env"),
            ],
            protect_under: vec!["/ws".into()],
            max_depth: 8,
        };
        let matcher = Matcher::new(&request).unwrap();
        let mut listing = Listing::new(&request.roots, &matcher);
        listing.feed(b"/ws/a/secrets/k\0/ws/a/secrets/l\0/ws/sub/.git/HEAD\0/ws/b/.env\0");
        let findings = listing.findings;
        let matches: Vec<String> = findings
            .matches
            .iter()
            .map(|m| m.path.display().to_string())
            .collect();
        assert_eq!(matches, ["/ws/a/secrets", "/ws/b/.env"]);
        assert_eq!(findings.protected, [PathBuf::from("/ws/sub/.git")]);
    }

    #[test]
    fn parallel_slices_find_what_one_pass_finds() {
        let request = ScanRequest {
            roots: vec!["/ws".into()],
            patterns: vec![
                ScanPattern::new("/ws", "**/*.env"),
                ScanPattern::new("/ws", "**/d7"),
            ],
            protect_under: vec!["/ws".into()],
            max_depth: 8,
        };
        let matcher = Matcher::new(&request).unwrap();
        let mut listing = Vec::new();
        for index in 0..5000 {
            let name = if index % 97 == 0 { "x.env" } else { "f.rs" };
            listing.extend_from_slice(format!("/ws/d{}/s{index}/{name}\0", index % 13).as_bytes());
            if index % 501 == 0 {
                listing.extend_from_slice(format!("/ws/r{index}/.git/HEAD\0").as_bytes());
            }
        }
        let sorted = |mut findings: Findings| {
            let mut matches: Vec<PathBuf> = findings.matches.drain(..).map(|m| m.path).collect();
            matches.sort();
            matches.dedup();
            findings.protected.sort();
            findings.protected.dedup();
            (matches, findings.protected)
        };
        let mut single = Listing::new(&request.roots, &matcher);
        single.feed(&listing);
        let (matches, protected) = sorted(single.findings);
        assert_eq!(matches.len(), 52 + 1, "{matches:?}");
        assert_eq!(protected.len(), 10);
        assert_eq!(
            sorted(inspect_in_parallel(&listing, &request.roots, &matcher)),
            (matches, protected)
        );
    }

    #[test]
    fn git_internals_are_cut_back_to_the_first_subdirectory() {
        assert_eq!(trim_git_internals(b"/ws/.git/HEAD"), b"/ws/.git/HEAD");
        assert_eq!(
            trim_git_internals(b"/ws/.git/objects/ab/cd"),
            b"/ws/.git/objects"
        );
        assert_eq!(trim_git_internals(b"/ws/a.git/x/y"), b"/ws/a.git/x/y");
        assert_eq!(trim_git_internals(b"/ws/src/main.rs"), b"/ws/src/main.rs");
    }

    #[test]
    fn below_means_at_or_under_a_whole_component() {
        assert!(is_below(b"/ws/a", b"/ws"));
        assert!(is_below(b"/ws", b"/ws"));
        assert!(is_below(b"/ws/a", b"/ws/"));
        assert!(is_below(b"/a", b"/"));
        assert!(!is_below(b"/wsx/a", b"/ws"));
        assert!(!is_below(b"/w", b"/ws"));
    }
}

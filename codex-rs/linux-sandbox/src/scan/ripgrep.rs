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
use super::{ScanError, ScanReport, ScanRequest, ScannerKind, pattern_list, unreadable_verdict};

/// Runs `rg` over `request.roots` and reports what `matcher` finds.
pub fn scan(rg: &Path, request: &ScanRequest, matcher: &Matcher) -> Result<ScanReport, ScanError> {
    let fail = |message: String| ScanError::Ripgrep {
        rg: rg.to_path_buf(),
        patterns: pattern_list(
            &request
                .patterns
                .iter()
                .map(String::as_str)
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
    let findings = inspect_listing(&output.stdout, &request.roots, matcher);
    Ok(ScanReport {
        matches: findings.matches,
        protected: findings.protected,
        skipped,
        scanner: ScannerKind::Ripgrep(rg.to_path_buf()),
    })
}

/// The rg command line. It runs from `/` so that the exclusion globs
/// `!/proc` and friends are anchored at the filesystem root, with an empty
/// environment so no `RIPGREP_CONFIG_PATH` can add options.
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
        .arg(request.max_depth.to_string())
        .args(["--glob", "!**/.git/*/**"]);
    for never in NEVER_SCANNED {
        cmd.arg("--glob").arg(format!("!{never}"));
    }
    cmd.arg("--")
        .args(&request.roots)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Inspects every listed file and, once each, every directory between it
/// and its root.
fn inspect_listing(stdout: &[u8], roots: &[PathBuf], matcher: &Matcher) -> Findings {
    let mut findings = Findings::default();
    let mut seen_dirs: HashSet<&Path> = HashSet::new();
    for raw in stdout
        .split(|byte| *byte == 0)
        .filter(|raw| !raw.is_empty())
    {
        let file = Path::new(OsStr::from_bytes(raw));
        matcher.inspect(file, &mut findings);
        let Some(root) = roots
            .iter()
            .filter(|root| file.starts_with(root))
            .min_by_key(|root| root.as_os_str().len())
        else {
            continue;
        };
        for dir in file.ancestors().skip(1) {
            if !dir.starts_with(root) || !seen_dirs.insert(dir) {
                break;
            }
            matcher.inspect(dir, &mut findings);
        }
    }
    findings
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
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            protect_under: Vec::new(),
            max_depth: 8,
        }
    }

    #[test]
    fn messages_are_classified_and_unknown_ones_fail() {
        let request = request(&["/**/*.env"]);
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
        let globbed = request(&["/**/*.env"]);
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
            patterns: vec!["/ws/**/secrets".into(), "/ws/**/*.env".into()],
            protect_under: vec!["/ws".into()],
            max_depth: 8,
        };
        let matcher = Matcher::new(&request).unwrap();
        let listing = b"/ws/a/secrets/k\0/ws/a/secrets/l\0/ws/sub/.git/HEAD\0/ws/b/.env\0";
        let findings = inspect_listing(listing, &request.roots, &matcher);
        let matches: Vec<String> = findings
            .matches
            .iter()
            .map(|m| m.path.display().to_string())
            .collect();
        assert_eq!(matches, ["/ws/a/secrets", "/ws/b/.env"]);
        assert_eq!(findings.protected, [PathBuf::from("/ws/sub/.git")]);
    }
}

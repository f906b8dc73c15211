//! What a scanned entry means: which globs match it, whether it is a
//! protected name below a writable root, and whether to look inside it.
//! Pure: both scanners feed it paths, so they agree by construction.

use std::path::{Path, PathBuf};

use globset::{Candidate, GlobSet, GlobSetBuilder};

use super::{GlobMatch, ScanError, ScanRequest};
use crate::plan::protected::PROTECTED_NAMES;

/// Directories never scanned: the sandbox mounts its own `/dev` and
/// `/proc`, and `/sys` holds kernel state, not files a glob is about.
pub const NEVER_SCANNED: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Findings of part of a scan.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Paths some glob matched.
    pub matches: Vec<GlobMatch>,
    /// Protected names below a writable root.
    pub protected: Vec<PathBuf>,
}

impl Findings {
    /// Moves `other`'s findings into `self`.
    pub fn absorb(&mut self, other: Findings) {
        self.matches.extend(other.matches);
        self.protected.extend(other.protected);
    }
}

/// The compiled patterns and the writable roots of one scan.
#[derive(Debug)]
pub struct Matcher {
    set: GlobSet,
    protect_under: Vec<PathBuf>,
}

impl Matcher {
    /// Compiles every pattern of `request` into one set, so each path is
    /// matched once however many patterns there are.
    pub fn new(request: &ScanRequest) -> Result<Self, ScanError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &request.patterns {
            let glob = codex_sandboxing::glob::build_matcher_glob(pattern).map_err(|err| {
                ScanError::Pattern {
                    pattern: pattern.clone(),
                    message: err.kind().to_string(),
                }
            })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|err| ScanError::Pattern {
            pattern: request.patterns.join(", "),
            message: err.to_string(),
        })?;
        Ok(Matcher {
            set,
            protect_under: request.protect_under.clone(),
        })
    }

    /// Records what `path` is in `findings`.
    pub fn inspect(&self, path: &Path, findings: &mut Findings) {
        let is_protected_name = path
            .file_name()
            .is_some_and(|name| PROTECTED_NAMES.iter().any(|protected| name == *protected));
        if is_protected_name
            && self
                .protect_under
                .iter()
                .any(|root| path != root && path.starts_with(root))
        {
            findings.protected.push(path.to_path_buf());
        }
        if self.set.is_empty() {
            return;
        }
        let candidate = Candidate::new(path);
        if self.set.is_match_candidate(&candidate) {
            findings.matches.push(GlobMatch {
                path: path.to_path_buf(),
                globs: self.set.matches_candidate(&candidate),
            });
        }
    }

    /// Whether a scanner should look inside the directory `dir`: never in
    /// [`NEVER_SCANNED`], and not in the subdirectories of a `.git`
    /// directory (objects and refs hold no working files, and can be huge).
    pub fn descend_into(dir: &Path) -> bool {
        let in_git_dir = dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|name| name == ".git");
        !in_git_dir && !NEVER_SCANNED.iter().any(|never| dir == Path::new(never))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str], protect_under: &[&str]) -> Matcher {
        Matcher::new(&ScanRequest {
            roots: vec!["/ws".into()],
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            protect_under: protect_under.iter().map(PathBuf::from).collect(),
            max_depth: 8,
        })
        .unwrap()
    }

    fn inspect(matcher: &Matcher, paths: &[&str]) -> Findings {
        let mut findings = Findings::default();
        for path in paths {
            matcher.inspect(Path::new(path), &mut findings);
        }
        findings
    }

    #[test]
    fn each_path_reports_every_pattern_that_matches_it() {
        let matcher = matcher(&["/ws/**/*.env", "/ws/**/prod.*", "/ws/*.pem"], &[]);
        let findings = inspect(
            &matcher,
            &["/ws/.env", "/ws/a/prod.env", "/ws/a/k.pem", "/ws/a"],
        );
        let matched: Vec<(String, Vec<usize>)> = findings
            .matches
            .iter()
            .map(|m| (m.path.display().to_string(), m.globs.clone()))
            .collect();
        assert_eq!(
            matched,
            [
                ("/ws/.env".to_string(), vec![0]),
                ("/ws/a/prod.env".to_string(), vec![0, 1]),
            ]
        );
    }

    #[test]
    fn protected_names_count_only_below_a_writable_root() {
        let matcher = matcher(&[], &["/ws"]);
        let findings = inspect(
            &matcher,
            &[
                "/ws",
                "/ws/sub/.git",
                "/ws/a/b/.codex",
                "/ws/x/.agents",
                "/other/.git",
                "/ws/.gitignore",
            ],
        );
        let protected: Vec<String> = findings
            .protected
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            protected,
            ["/ws/sub/.git", "/ws/a/b/.codex", "/ws/x/.agents"]
        );
        assert!(findings.matches.is_empty());
    }

    #[test]
    fn git_internals_and_kernel_trees_are_not_descended() {
        assert!(Matcher::descend_into(Path::new("/ws/.git")));
        assert!(!Matcher::descend_into(Path::new("/ws/.git/objects")));
        assert!(Matcher::descend_into(Path::new("/ws/src")));
        for never in NEVER_SCANNED {
            assert!(!Matcher::descend_into(Path::new(never)));
        }
        assert!(Matcher::descend_into(Path::new("/ws/proc")));
    }
}

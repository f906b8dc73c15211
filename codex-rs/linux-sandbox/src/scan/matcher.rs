//! What a scanned entry means: which globs match it, whether it is a
//! protected name below a writable root, and whether to look inside it.
//! Pure: the walker feeds it paths, so every rule is a unit test.

use std::path::{Path, PathBuf};

use globset::{Candidate, GlobSet, GlobSetBuilder};

use super::{GlobMatch, ScanError, ScanPattern, ScanRequest};
use codex_sandboxing::protected::{is_git_name, is_protected_name};

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
///
/// Patterns of the form `**/NAME` (most deny globs: `**/*.env`,
/// `**/id_rsa*`) are matched against the file name only, plus a check that
/// the path lies below their root; the rest against the whole path. Both
/// sets match every pattern they hold in one pass, which keeps the cost
/// nearly flat in the number of patterns.
#[derive(Debug)]
pub struct Matcher {
    /// Whole-path patterns, anchored at their roots.
    by_path: GlobSet,
    /// Policy index of each pattern in `by_path`.
    by_path_index: Vec<usize>,
    /// File-name patterns.
    by_name: GlobSet,
    /// Policy index and root of each pattern in `by_name`.
    by_name_index: Vec<(usize, PathBuf)>,
    protect_under: Vec<PathBuf>,
    scratch: Vec<PathBuf>,
}

impl Matcher {
    /// Compiles the patterns of `request`.
    pub fn new(request: &ScanRequest) -> Result<Self, ScanError> {
        let compile = |text: &str| {
            codex_sandboxing::glob::build_matcher_glob(text).map_err(|err| ScanError::Pattern {
                pattern: text.to_string(),
                message: err.kind().to_string(),
            })
        };
        let mut by_path = GlobSetBuilder::new();
        let mut by_path_index = Vec::new();
        let mut by_name = GlobSetBuilder::new();
        let mut by_name_index = Vec::new();
        for (index, pattern) in request.patterns.iter().enumerate() {
            match pattern.file_name_pattern() {
                Some(name) => {
                    by_name.add(compile(name)?);
                    by_name_index.push((index, pattern.root.clone()));
                }
                None => {
                    by_path.add(compile(&pattern.anchored())?);
                    by_path_index.push(index);
                }
            }
        }
        let build = |builder: GlobSetBuilder| {
            builder.build().map_err(|err| ScanError::Pattern {
                pattern: request
                    .patterns
                    .iter()
                    .map(ScanPattern::anchored)
                    .collect::<Vec<_>>()
                    .join(", "),
                message: err.to_string(),
            })
        };
        Ok(Matcher {
            by_path: build(by_path)?,
            by_path_index,
            by_name: build(by_name)?,
            by_name_index,
            protect_under: request.protect_under.clone(),
            scratch: request.scratch.clone(),
        })
    }

    /// Records what `path` is in `findings`.
    pub fn inspect(&self, path: &Path, findings: &mut Findings) {
        let Some(name) = path.file_name() else {
            return;
        };
        if is_protected_name(name.as_encoded_bytes()) && self.in_project(path) {
            findings.protected.push(path.to_path_buf());
        }
        let mut globs = Vec::new();
        if !self.by_name.is_empty() && self.by_name.is_match(name) {
            globs.extend(
                self.by_name
                    .matches(name)
                    .into_iter()
                    .map(|hit| &self.by_name_index[hit])
                    .filter(|(_, root)| path != root && path.starts_with(root))
                    .map(|(index, _)| *index),
            );
        }
        if !self.by_path.is_empty() {
            let candidate = Candidate::new(path);
            if self.by_path.is_match_candidate(&candidate) {
                globs.extend(
                    self.by_path
                        .matches_candidate(&candidate)
                        .into_iter()
                        .map(|hit| self.by_path_index[hit]),
                );
            }
        }
        if !globs.is_empty() {
            globs.sort_unstable();
            findings.matches.push(GlobMatch {
                path: path.to_path_buf(),
                globs,
            });
        }
    }

    /// Whether the deepest root above `path` is a project root (a
    /// temporary root nested in one, or one nested in a temporary root,
    /// decides for what lies below it).
    fn in_project(&self, path: &Path) -> bool {
        let deepest = |roots: &[PathBuf]| {
            roots
                .iter()
                .filter(|root| path != *root && path.starts_with(root))
                .map(|root| root.components().count())
                .max()
        };
        match (deepest(&self.protect_under), deepest(&self.scratch)) {
            (Some(project), Some(scratch)) => project > scratch,
            (project, _) => project.is_some(),
        }
    }

    /// Whether the scan should look inside the directory `dir`: never in
    /// [`NEVER_SCANNED`], and not in the subdirectories of a `.git`
    /// directory (objects and refs hold no working files, and can be huge).
    pub fn descend_into(dir: &Path) -> bool {
        let in_git_dir = dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|name| is_git_name(name.as_encoded_bytes()));
        !in_git_dir && !NEVER_SCANNED.iter().any(|never| dir == Path::new(never))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str], protect_under: &[&str]) -> Matcher {
        Matcher::new(&ScanRequest {
            roots: vec!["/ws".into()],
            patterns: patterns
                .iter()
                .map(|p| ScanPattern::new("/ws", p))
                .collect(),
            protect_under: protect_under.iter().map(PathBuf::from).collect(),
            scratch: vec!["/ws/tmp".into(), "/tmp".into()],
            skip: Vec::new(),
            max_depth: Some(8),
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
        let matcher = matcher(&["**/*.env", "**/prod.*", "*.pem", "a/**/*.rs"], &[]);
        let findings = inspect(
            &matcher,
            &[
                "/ws/.env",
                "/ws/a/prod.env",
                "/ws/a/k.pem",
                "/ws/a",
                "/other/x.env",
                "/ws/a/b/main.rs",
                "/ws/b/main.rs",
            ],
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
                ("/ws/a/b/main.rs".to_string(), vec![3]),
            ]
        );
    }

    #[test]
    fn file_name_patterns_never_match_their_root_itself() {
        let matcher = Matcher::new(&ScanRequest {
            roots: vec!["/ws/secrets".into()],
            patterns: vec![ScanPattern::new("/ws/secrets", "**/secrets")],
            protect_under: Vec::new(),
            scratch: Vec::new(),
            skip: Vec::new(),
            max_depth: Some(8),
        })
        .unwrap();
        let findings = inspect(&matcher, &["/ws/secrets", "/ws/secrets/a/secrets"]);
        assert_eq!(findings.matches.len(), 1);
        assert_eq!(findings.matches[0].path, Path::new("/ws/secrets/a/secrets"));
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
    fn below_a_temporary_root_only_a_project_root_inside_it_counts() {
        let matcher = matcher(&[], &["/ws", "/ws/tmp/proj", "/tmp/ws"]);
        let findings = inspect(
            &matcher,
            &[
                "/ws/tmp/.git",
                "/ws/tmp/repo/.git",
                "/ws/tmp/proj/sub/.git",
                "/tmp/other/.git",
                "/tmp/ws/sub/.codex",
            ],
        );
        assert_eq!(
            findings.protected,
            [
                PathBuf::from("/ws/tmp/proj/sub/.git"),
                PathBuf::from("/tmp/ws/sub/.codex")
            ]
        );
    }

    #[test]
    fn protected_names_are_found_in_every_spelling_a_filesystem_may_fold() {
        let matcher = matcher(&[], &["/ws"]);
        let findings = inspect(
            &matcher,
            &[
                "/ws/sub/.GIT",
                "/ws/a/.Codex",
                "/ws/b/.aws",
                "/ws/c/.git.",
                "/ws/d/.agentſ",
                "/ws/e/.github",
            ],
        );
        assert_eq!(
            findings.protected,
            [
                PathBuf::from("/ws/sub/.GIT"),
                PathBuf::from("/ws/a/.Codex"),
                PathBuf::from("/ws/b/.aws"),
                PathBuf::from("/ws/c/.git."),
                PathBuf::from("/ws/d/.agentſ"),
            ]
        );
        assert!(!Matcher::descend_into(Path::new("/ws/sub/.GIT/objects")));
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

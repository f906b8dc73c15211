//! The start-up scan: one walk, per sandbox start, over every glob root
//! and, without the guard, every project root, that finds
//! - the paths deny-read globs match (to be masked), and
//! - without the guard, `.git`, `.codex`, `.agents` and `.aws` entries
//!   below a project root (to be kept read-only). With the guard (the
//!   default) nothing is walked for them: the guard keeps whatever lies
//!   inside one read-only at any depth as the command runs.
//!
//! The scanner is a walker ([`walker`], ripgrep's own walking crate, in
//! process; measured with `just bench` at 0.53x the time of `rg --files`
//! over 200,000 files on two cores) feeding [`matcher::Matcher`]. Its
//! semantics:
//! - hidden and git-ignored files are scanned (a `.gitignore` must not hide
//!   a secret);
//! - symlinks are followed (a link to a secret outside the root is a way to
//!   read it), loops are skipped;
//! - at most `glob_scan_max_depth` levels below each root are scanned;
//!   without it, every level when the policy has deny globs (as Codex
//!   expands them) and [`PROTECTED_NAMES_SCAN_DEPTH`] levels when the scan
//!   only looks for nested protected names;
//! - inside a `.git` directory only its direct entries are looked at;
//! - `/proc`, `/sys` and `/dev` are never scanned;
//! - temporary roots (`/tmp`, `$TMPDIR`) are not walked for protected
//!   names: what other users keep there must not slow or stop a start, and
//!   below their top level nothing is protected. One nested in a walked
//!   root is skipped unless a glob looks into it; protected names found
//!   below one (on a glob's walk) are not reported;
//! - a directory the invoking user cannot list is skipped when the user
//!   cannot enter it either (the sandboxed command, running as that user,
//!   cannot read anything in it), or when no glob looks there (only nested
//!   protected names are sought, and one that cannot be seen is no
//!   different from one created later). A directory that can be entered
//!   but not listed, under a glob's root, fails the scan: a secret in it
//!   could be opened by name. Any other error fails the scan too, and with
//!   it the start-up.

pub mod matcher;
pub mod walker;

use std::path::{Path, PathBuf};

use codex_sandboxing::SandboxPolicy;

use crate::fs_view::{FsView, HostFs};
use codex_sandboxing::protected::names_with_slashes;

/// Levels below each writable root searched for nested protected names
/// when no deny glob asks for more: deep enough for the usual monorepo
/// layout (`apps/web/vendor/lib/.git` is depth 5), shallow enough that a
/// start-up never walks a whole home directory.
pub const PROTECTED_NAMES_SCAN_DEPTH: usize = 8;

/// What to scan, derived from a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    /// Directories to walk: glob roots and writable roots, as the policy
    /// writes them, sorted, without duplicates.
    pub roots: Vec<PathBuf>,
    /// The deny-read globs, in policy order.
    pub patterns: Vec<ScanPattern>,
    /// Project roots: protected names are reported only below these.
    pub protect_under: Vec<PathBuf>,
    /// Temporary roots: a protected name whose deepest root is one of
    /// these is not reported.
    pub scratch: Vec<PathBuf>,
    /// Directories the walk does not enter: temporary roots inside a
    /// walked root that no glob looks into.
    pub skip: Vec<PathBuf>,
    /// Levels scanned below each root; `None` for every level.
    pub max_depth: Option<usize>,
}

impl ScanRequest {
    /// The scan `policy` needs.
    pub fn for_policy(policy: &SandboxPolicy) -> Self {
        // With the guard, nested protected names need no scan: the guard
        // refuses to write, create, move or link anything inside one at any
        // depth, so start-up does not grow with the tree.
        let protect_under: Vec<PathBuf> = policy
            .project_roots()
            .filter(|_| policy.protect_metadata && !policy.guard_protected_names)
            .map(Path::to_path_buf)
            .collect();
        let mut roots: Vec<PathBuf> = policy
            .deny_globs
            .iter()
            .map(|glob| glob.root.clone())
            .chain(protect_under.iter().cloned())
            .collect();
        roots.sort();
        roots.dedup();
        let glob_roots: Vec<&Path> = policy
            .deny_globs
            .iter()
            .map(|glob| glob.root.as_path())
            .collect();
        let skip = policy
            .scratch_roots
            .iter()
            .filter(|scratch| {
                roots
                    .iter()
                    .any(|root| scratch.starts_with(root) && *scratch != root)
            })
            .filter(|scratch| {
                !glob_roots
                    .iter()
                    .any(|glob| scratch.starts_with(glob) || glob.starts_with(scratch))
            })
            .cloned()
            .collect();
        ScanRequest {
            roots,
            patterns: policy
                .deny_globs
                .iter()
                .map(|glob| ScanPattern::new(&glob.root, &glob.pattern))
                .collect(),
            max_depth: match policy.glob_scan_max_depth {
                Some(depth) => Some(depth),
                None if policy.deny_globs.is_empty() => Some(PROTECTED_NAMES_SCAN_DEPTH),
                None => None,
            },
            protect_under,
            scratch: policy.scratch_roots.clone(),
            skip,
        }
    }

    /// The depth in words, for messages: `8 levels`, `every level`.
    pub fn depth_text(&self) -> String {
        match self.max_depth {
            Some(1) => "1 level".into(),
            Some(depth) => format!("{depth} levels"),
            None => "every level".into(),
        }
    }

    /// The anchored patterns whose root contains `path`, for messages.
    pub fn patterns_covering(&self, path: &Path) -> Vec<String> {
        self.patterns
            .iter()
            .filter(|pattern| path.starts_with(&pattern.root))
            .map(ScanPattern::anchored)
            .collect()
    }
}

/// A glob to expand: a pattern relative to an absolute root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPattern {
    /// Where matches can be; the walk starts here.
    pub root: PathBuf,
    /// The pattern relative to `root` (syntax in `codex_sandboxing::glob`).
    pub pattern: String,
}

impl ScanPattern {
    /// `pattern` below `root`.
    pub fn new(root: impl Into<PathBuf>, pattern: &str) -> Self {
        ScanPattern {
            root: root.into(),
            pattern: pattern.to_string(),
        }
    }

    /// The pattern anchored at its root, for matching absolute paths.
    pub fn anchored(&self) -> String {
        codex_sandboxing::glob::anchored_pattern(&self.root, &self.pattern)
    }

    /// For `**/NAME` with a single-component NAME: NAME. Such a pattern
    /// matches exactly the paths below the root whose last component
    /// matches NAME, which is cheaper to test on the file name alone.
    pub fn file_name_pattern(&self) -> Option<&str> {
        let name = self.pattern.strip_prefix("**/")?;
        (!name.is_empty() && !name.contains('/') && !name.contains("**")).then_some(name)
    }
}

/// One path a glob matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobMatch {
    /// The path as walked (through any symlinks).
    pub path: PathBuf,
    /// Indexes into [`ScanRequest::patterns`] (and the policy's
    /// `deny_globs`) of every pattern that matched it.
    pub globs: Vec<usize>,
}

/// What a scan found, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Every path some glob matched.
    pub matches: Vec<GlobMatch>,
    /// `.git`, `.codex` and `.agents` entries below a writable root, except
    /// empty directories: protecting one would block nothing that creating
    /// the name afresh elsewhere does not allow, and each costs a mount
    /// (sandboxes leave empty placeholders behind in temporary
    /// directories, which would otherwise pile up into hundreds of mounts).
    pub protected: Vec<PathBuf>,
    /// Directories skipped because the user can neither list nor enter them.
    pub skipped: Vec<PathBuf>,
}

impl ScanReport {
    /// The report of a policy that needs no scan.
    pub fn empty() -> Self {
        ScanReport {
            matches: Vec::new(),
            protected: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// Why a scan failed. Every variant names the patterns it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A pattern did not compile (resolution validates them, so a bug).
    #[error("glob `{pattern}` does not compile: {message}")]
    Pattern {
        /// The anchored pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// The built-in walker hit an error it cannot classify.
    #[error("scanning {} failed (patterns: {patterns}): {message}", path.display())]
    Walk {
        /// Where.
        path: PathBuf,
        /// The patterns whose root contains `path`.
        patterns: String,
        /// What went wrong.
        message: String,
    },
}

/// Runs the scan `request` asks for. A request with no roots scans
/// nothing.
pub fn scan(request: &ScanRequest) -> Result<ScanReport, ScanError> {
    if request.roots.is_empty() {
        return Ok(ScanReport::empty());
    }
    let matcher = matcher::Matcher::new(request)?;
    let mut report = walker::scan(request, &matcher)?;
    report.matches.sort_by(|a, b| a.path.cmp(&b.path));
    report.matches.dedup_by(|a, b| a.path == b.path);
    report.protected.sort();
    report.protected.dedup();
    report.protected.retain(|path| !HostFs.is_empty_dir(path));
    report.skipped.sort();
    report.skipped.dedup();
    Ok(report)
}

/// Joins patterns for an error message.
fn pattern_list(patterns: &[String]) -> String {
    if patterns.is_empty() {
        format!("none; scanning for nested {}", names_with_slashes())
    } else {
        patterns.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::policy;
    use codex_sandboxing::profile::RuleOrigin;
    use codex_sandboxing::resolve::ResolvedGlob;
    use codex_sandboxing::{Access, NetworkMode};

    /// The scan of a policy without the guard.
    fn request(rules: &[(&str, Access)], scratch: &[&str], globs: &[&str]) -> ScanRequest {
        let mut policy = policy(rules, "/ws", NetworkMode::Restricted);
        policy.guard_protected_names = false;
        policy.scratch_roots = scratch.iter().map(PathBuf::from).collect();
        policy.deny_globs = env_globs(globs);
        ScanRequest::for_policy(&policy)
    }

    /// `**/*.env` denied below each of `roots`.
    fn env_globs(roots: &[&str]) -> Vec<ResolvedGlob> {
        roots
            .iter()
            .map(|root| ResolvedGlob {
                root: root.into(),
                pattern: "**/*.env".into(),
                origin: RuleOrigin::BuiltIn(":test"),
            })
            .collect()
    }

    #[test]
    fn temporary_roots_are_neither_walked_nor_protected_unless_a_glob_looks_there() {
        let rules = [
            ("/", Access::Write),
            ("/tmp", Access::Write),
            ("/ws", Access::Write),
        ];
        let plain = request(&rules, &["/tmp"], &[]);
        assert_eq!(plain.roots, [PathBuf::from("/"), PathBuf::from("/ws")]);
        assert_eq!(plain.protect_under, plain.roots);
        assert_eq!(plain.scratch, [PathBuf::from("/tmp")]);
        assert_eq!(plain.skip, [PathBuf::from("/tmp")]);
        let globbed = request(&rules, &["/tmp"], &["/tmp/x"]);
        assert!(globbed.skip.is_empty());
        let workspace = request(
            &[("/", Access::Read), ("/tmp", Access::Write)],
            &["/tmp"],
            &[],
        );
        assert!(workspace.roots.is_empty() && workspace.skip.is_empty());
    }

    #[test]
    fn with_the_guard_only_globs_are_walked() {
        let rules = [("/", Access::Read), ("/ws", Access::Write)];
        let guarded = ScanRequest::for_policy(&policy(&rules, "/ws", NetworkMode::Restricted));
        assert!(guarded.roots.is_empty() && guarded.protect_under.is_empty());
        let mut globbed = policy(&rules, "/ws", NetworkMode::Restricted);
        globbed.deny_globs = env_globs(&["/ws/src"]);
        let request = ScanRequest::for_policy(&globbed);
        assert_eq!(request.roots, [PathBuf::from("/ws/src")]);
        assert!(request.protect_under.is_empty());
    }
}

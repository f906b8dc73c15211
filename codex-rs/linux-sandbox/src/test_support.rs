//! Fixtures shared by the unit tests of the planner and the Landlock
//! grants.

use std::path::PathBuf;

use codex_sandboxing::profile::RuleOrigin;
use codex_sandboxing::resolve::ResolvedRule;
use codex_sandboxing::{Access, NetworkMode, SandboxPolicy};

/// A policy of `rules` (path, access) run in `cwd`, protecting metadata,
/// with every feature off and no temporary roots.
pub(crate) fn policy(rules: &[(&str, Access)], cwd: &str, network: NetworkMode) -> SandboxPolicy {
    let mut rules: Vec<ResolvedRule> = rules
        .iter()
        .map(|(path, access)| ResolvedRule {
            path: PathBuf::from(path),
            access: *access,
            origin: RuleOrigin::BuiltIn(":test"),
        })
        .collect();
    rules.sort_by(|a, b| a.path.cmp(&b.path));
    SandboxPolicy {
        rules,
        deny_globs: Vec::new(),
        glob_scan_max_depth: None,
        inner_stage: false,
        legacy_landlock: false,
        network,
        domains: None,
        protect_metadata: true,
        guard_protected_names: true,
        cwd: cwd.into(),
        scratch_roots: Vec::new(),
        host_git: Default::default(),
        unix_sockets: Vec::new(),
    }
}

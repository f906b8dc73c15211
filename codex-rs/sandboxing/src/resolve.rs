//! Resolution: a profile plus the invocation's context (working directory,
//! `$HOME`, `$TMPDIR`, configured roots) becomes an [`EffectivePolicy`] of
//! absolute, normalised paths with exactly one rule per path.
//!
//! Semantics: for any path, the deepest rule covering it decides; two rules
//! on the same path keep the stricter access. Rules on paths that do not
//! exist are kept: whether and how they are enforced is the backend's call.

use std::path::{Component, Path, PathBuf};

use crate::access::Access;
use crate::environment::CommandEnvironment;
use crate::glob::{anchored_pattern, split_literal_prefix};
use crate::host_git::HostGitConfig;
use crate::profile::{FsTarget, MINIMAL_PATHS, NetworkMode, Profile, RuleOrigin, WorkspaceRoot};
use crate::proxy::domains::DomainPolicy;
use crate::unix_sockets::AllowedUnixSocket;

/// The facts of one invocation that rules refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveContext {
    /// The workspace root and working directory (`-C`), absolute.
    pub cwd: PathBuf,
    /// `$HOME`, for `~/` paths.
    pub home: Option<PathBuf>,
    /// `$TMPDIR`, for `:tmpdir`.
    pub tmpdir: Option<PathBuf>,
}

/// One resolved rule: an absolute, normalised path and its access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRule {
    /// Absolute, without `.` or `..` components.
    pub path: PathBuf,
    /// What the path and everything below it allow.
    pub access: Access,
    /// Where the rule came from.
    pub origin: RuleOrigin,
}

/// A deny-read glob anchored at an absolute directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedGlob {
    /// Absolute, normalised: the deepest directory every match lies under
    /// (the rule's base plus the pattern's literal leading directories).
    pub root: PathBuf,
    /// The rest of the pattern, relative to `root`.
    pub pattern: String,
    /// Where the rule came from.
    pub origin: RuleOrigin,
}

impl ResolvedGlob {
    /// The pattern anchored at `root`, for matching absolute paths.
    pub fn anchored(&self) -> String {
        anchored_pattern(&self.root, &self.pattern)
    }
}

/// The resolved sandbox: rules sorted by path, one per path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    /// Sorted by path; no two rules share a path.
    pub rules: Vec<ResolvedRule>,
    /// Deny-read globs, one per distinct root and pattern.
    pub deny_globs: Vec<ResolvedGlob>,
    /// Directory levels scanned below each glob's root; `None` for no
    /// limit.
    pub glob_scan_max_depth: Option<usize>,
    /// Install `no_new_privs` and seccomp in the helper's inner stage
    /// (`features.inner_stage`) rather than through bwrap's `--seccomp`.
    pub inner_stage: bool,
    /// Enforce with Landlock in-process instead of bwrap
    /// (`features.use_legacy_landlock`).
    pub legacy_landlock: bool,
    /// Network mode.
    pub network: NetworkMode,
    /// The built-in proxy's rules (network mode proxy with
    /// `allowed_domains`); `None` routes to the proxy of the environment.
    pub domains: Option<DomainPolicy>,
    /// Whether `.git`, `.codex` and `.agents` in writable roots are kept
    /// read-only (off only for `:danger-full-access` under the managed
    /// proxy).
    pub protect_metadata: bool,
    /// Whether the inner stage refuses new `.git`, `.codex` and `.agents`
    /// entries while the command runs (`features.guard_protected_names`,
    /// on by default; never without `protect_metadata`).
    pub guard_protected_names: bool,
    /// Working directory of the command.
    pub cwd: PathBuf,
    /// The temporary roots among the `write` rules: `/tmp` and `$TMPDIR`,
    /// unless one is also a workspace root. Shared scratch space: only
    /// their top level is protected (nothing may create `/tmp/.git`),
    /// below it nothing is scanned or protected (see
    /// [`SandboxPolicy::is_scratch_root`]). Sorted, without duplicates.
    pub scratch_roots: Vec<PathBuf>,
    /// The host's own git configuration, read for what it names for code
    /// to run (kept read-only where it lies in a writable root).
    pub host_git: HostGitConfig,
    /// The host Unix sockets the command may connect to (the profile's
    /// `network.unix_sockets`, resolved by [`crate::unix_sockets`]).
    pub unix_sockets: Vec<AllowedUnixSocket>,
}

/// What to run the command under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// The profile's name.
    pub profile: String,
    /// Why that profile was chosen.
    pub chosen_by: String,
    /// The sandbox, or `None` for `:danger-full-access`.
    pub sandbox: Option<SandboxPolicy>,
    /// Settings accepted without effect, one line each (a retired
    /// feature), to print before the command runs.
    pub warnings: Vec<String>,
    /// The command's environment (`[shell_environment_policy]`), before
    /// any proxy variables the network route adds.
    pub environment: CommandEnvironment,
    /// The directory the command runs in, under every profile (the
    /// sandbox's own `cwd` when there is one).
    pub cwd: PathBuf,
}

/// A rule that cannot be resolved; names the rule and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ResolveError {
    /// The rule at fault.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

impl SandboxPolicy {
    /// The access of `path`: that of the deepest rule covering it, and
    /// [`Access::None`] when no rule covers it (there is no `:root` rule).
    pub fn access_for(&self, path: &Path) -> Access {
        self.rule_for(path).map_or(Access::None, |rule| rule.access)
    }

    /// The deepest rule covering `path`, if any.
    pub fn rule_for(&self, path: &Path) -> Option<&ResolvedRule> {
        self.rules
            .iter()
            .filter(|rule| path.starts_with(&rule.path))
            .max_by_key(|rule| rule.path.components().count())
    }

    /// The paths of every `write` rule.
    pub fn writable_roots(&self) -> impl Iterator<Item = &Path> {
        self.rules
            .iter()
            .filter(|rule| rule.access == Access::Write)
            .map(|rule| rule.path.as_path())
    }

    /// Whether `path` is one of [`SandboxPolicy::scratch_roots`].
    pub fn is_scratch_root(&self, path: &Path) -> bool {
        self.scratch_roots.iter().any(|root| root == path)
    }

    /// The writable roots that keep every protection at any depth: the
    /// `write` rules that are not temporary roots.
    pub fn project_roots(&self) -> impl Iterator<Item = &Path> {
        self.writable_roots()
            .filter(|path| !self.is_scratch_root(path))
    }
}

/// Resolves `profile` in `context`.
pub fn resolve(
    profile: &Profile,
    context: &ResolveContext,
) -> Result<EffectivePolicy, ResolveError> {
    let sandbox = match &profile.sandbox {
        None => None,
        Some(sandbox) => {
            let workspace_roots = workspace_roots(&sandbox.extra_workspace_roots, context)?;
            let mut rules: Vec<ResolvedRule> = Vec::new();
            for rule in &sandbox.filesystem {
                // `:minimal` lends the system's files, never more than readable.
                let access = match rule.target {
                    FsTarget::Minimal => rule.access.min(Access::Read),
                    _ => rule.access,
                };
                for path in expand_target(&rule.target, context, &workspace_roots, &rule.origin)? {
                    add_rule(
                        &mut rules,
                        ResolvedRule {
                            path: normalize(&path.join(&rule.subpath)),
                            access,
                            origin: rule.origin.clone(),
                        },
                    );
                }
            }
            rules.sort_by(|a, b| a.path.cmp(&b.path));
            let mut deny_globs: Vec<ResolvedGlob> = Vec::new();
            for glob in &sandbox.deny_globs {
                let (prefix, pattern) = split_literal_prefix(&glob.pattern);
                for base in expand_target(&glob.base, context, &workspace_roots, &glob.origin)? {
                    let resolved = ResolvedGlob {
                        root: normalize(&base.join(&prefix)),
                        pattern: pattern.clone(),
                        origin: glob.origin.clone(),
                    };
                    if !deny_globs.iter().any(|known| {
                        known.root == resolved.root && known.pattern == resolved.pattern
                    }) {
                        deny_globs.push(resolved);
                    }
                }
            }
            let scratch_roots = scratch_roots(&rules, context, &workspace_roots);
            Some(SandboxPolicy {
                rules,
                deny_globs,
                glob_scan_max_depth: sandbox.glob_scan_max_depth,
                inner_stage: false,
                legacy_landlock: false,
                network: sandbox.network,
                domains: sandbox.domains.clone(),
                protect_metadata: sandbox.protect_metadata,
                guard_protected_names: false,
                cwd: context.cwd.clone(),
                scratch_roots,
                host_git: HostGitConfig::default(),
                unix_sockets: Vec::new(),
            })
        }
    };
    Ok(EffectivePolicy {
        profile: profile.name.clone(),
        chosen_by: profile.chosen_by.clone(),
        sandbox,
        warnings: Vec::new(),
        environment: CommandEnvironment::default(),
        cwd: context.cwd.clone(),
    })
}

/// The `write` rules at `/tmp` or `$TMPDIR` (however the profile names
/// them: `:slash_tmp`, `:tmpdir` or the path written out) that are not
/// workspace roots. `/` is never one: a `TMPDIR=/` must not turn the
/// whole disk into scratch space. Nor is one inside another writable root
/// (a `$TMPDIR` in the workspace): what is made there lies in that root,
/// which keeps its protections.
fn scratch_roots(
    rules: &[ResolvedRule],
    context: &ResolveContext,
    workspace_roots: &[PathBuf],
) -> Vec<PathBuf> {
    let tmpdir = context
        .tmpdir
        .as_ref()
        .filter(|dir| dir.is_absolute())
        .map(|dir| normalize(dir));
    let mut roots: Vec<PathBuf> = rules
        .iter()
        .filter(|rule| rule.access == Access::Write)
        .map(|rule| rule.path.clone())
        .filter(|path| path == Path::new("/tmp") || Some(path) == tmpdir.as_ref())
        .filter(|path| path != Path::new("/") && !workspace_roots.contains(path))
        .collect();
    roots.sort();
    roots.dedup();
    let candidates = roots.clone();
    roots.retain(|scratch| {
        !rules.iter().any(|rule| {
            rule.access == Access::Write
                && rule.path != Path::new("/")
                && !candidates.contains(&rule.path)
                && scratch.starts_with(&rule.path)
        })
    });
    roots
}

/// Adds a rule; on a path that already has one, the stricter access wins.
fn add_rule(rules: &mut Vec<ResolvedRule>, rule: ResolvedRule) {
    match rules.iter_mut().find(|existing| existing.path == rule.path) {
        Some(existing) if rule.access < existing.access => *existing = rule,
        Some(_) => {}
        None => rules.push(rule),
    }
}

/// The directories `:workspace_roots` stands for: the working directory,
/// then the profile's other roots (`~` from `$HOME`, relative ones from the
/// working directory), without duplicates.
fn workspace_roots(
    extra: &[WorkspaceRoot],
    context: &ResolveContext,
) -> Result<Vec<PathBuf>, ResolveError> {
    let mut roots = vec![normalize(&context.cwd)];
    for root in extra {
        let path = expand_home(&root.path, context, &root.origin)?;
        let path = normalize(&context.cwd.join(path));
        if !roots.contains(&path) {
            roots.push(path);
        }
    }
    Ok(roots)
}

fn expand_target(
    target: &FsTarget,
    context: &ResolveContext,
    workspace_roots: &[PathBuf],
    origin: &RuleOrigin,
) -> Result<Vec<PathBuf>, ResolveError> {
    let error = |message: String| ResolveError {
        origin: origin.to_string(),
        message,
    };
    match target {
        FsTarget::Root => Ok(vec![PathBuf::from("/")]),
        FsTarget::Minimal => Ok(MINIMAL_PATHS.iter().map(PathBuf::from).collect()),
        FsTarget::SlashTmp => Ok(vec![PathBuf::from("/tmp")]),
        FsTarget::Tmpdir => match &context.tmpdir {
            None => Ok(Vec::new()),
            Some(dir) if dir.is_absolute() => Ok(vec![normalize(dir)]),
            Some(dir) => Err(error(format!(
                "TMPDIR={} is relative; set it to an absolute path or unset it",
                dir.display()
            ))),
        },
        FsTarget::WorkspaceRoots => Ok(workspace_roots.to_vec()),
        FsTarget::Path(path) => {
            let absolute = expand_home(path, context, origin)?;
            if !absolute.is_absolute() {
                return Err(error(format!(
                    "`{}` is not an absolute path",
                    absolute.display()
                )));
            }
            Ok(vec![normalize(&absolute)])
        }
    }
}

/// `path` with a leading `~` replaced by `$HOME`; other paths unchanged.
fn expand_home(
    path: &Path,
    context: &ResolveContext,
    origin: &RuleOrigin,
) -> Result<PathBuf, ResolveError> {
    let text = path.to_string_lossy();
    if text != "~" && !text.starts_with("~/") {
        return Ok(path.to_path_buf());
    }
    let home = context.home.as_ref().ok_or_else(|| ResolveError {
        origin: origin.to_string(),
        message: "uses ~ but HOME is not set; set HOME or write the path out".into(),
    })?;
    Ok(home.join(text.trim_start_matches('~').trim_start_matches('/')))
}

/// Makes an absolute path canonical in form, without touching the
/// filesystem: drops `.` components and resolves `..` lexically (`..` at the
/// root stays at the root). Symlinks are the backend's business.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;

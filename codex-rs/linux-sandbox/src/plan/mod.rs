//! The pure planner: an effective policy becomes an ordered list of mount
//! operations for bwrap. Nothing here changes the system; the filesystem is
//! only read through [`FsView`].
//!
//! How a plan is built:
//! 1. every rule's path is resolved through symlinks (bwrap follows them at
//!    mount destinations, so the plan reasons about where mounts land);
//! 2. the start-up scan's glob matches become `none` rules at their real
//!    paths, and protected paths (at the top of every writable root, and
//!    those the scan found deeper) are capped at `read`; missing top-level
//!    ones are masked at their first missing component, as are missing
//!    `none` and `read` rules where the command could otherwise create them;
//! 3. rules are emitted parents first: the root, `/dev`, `/proc`, then each
//!    rule whose access differs from its parent's, with read-only remounts
//!    of masks deferred to the end so carve-outs can create mount points in
//!    them first.

pub mod git_config;
pub mod protected;
pub mod real_path;

use std::io;
use std::path::{Path, PathBuf};

use codex_sandboxing::profile::{NetworkMode, RuleOrigin};
use codex_sandboxing::protected::names_with_slashes;
use codex_sandboxing::{Access, SandboxPolicy};

use crate::fs_view::FsView;
use crate::protocol::{GuardRoot, RootKind};
use crate::scan::ScanReport;
use codex_sandboxing::host_git::HostGitConfig;
use codex_sandboxing::resolve::normalize;
use protected::{nested_candidates, protected_candidates};
use real_path::{RealKind, RealPath, real_path};

/// One bwrap mount operation, in the order bwrap must apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOp {
    /// `--ro-bind PATH PATH`.
    RoBind(PathBuf),
    /// `--ro-bind-try PATH PATH`: a protected path the start-up scan
    /// found, which another process may delete before bwrap mounts it;
    /// bwrap then skips it (there is nothing left to protect) instead of
    /// failing the start.
    RoBindTry(PathBuf),
    /// `--bind PATH PATH`.
    Bind(PathBuf),
    /// `--ro-bind /dev/null PATH`: an unreadable, unwritable file.
    MaskFile(PathBuf),
    /// `--tmpfs PATH`: an empty directory, made read-only by a later
    /// [`MountOp::RemountRo`]. bwrap creates PATH if it is missing.
    MaskDir(PathBuf),
    /// `--dev /dev`: a fresh minimal `/dev`.
    Dev,
    /// `--proc /proc`: the sandbox's own `/proc`.
    Proc,
    /// `--symlink TARGET LINK`: recreates a symlink a rule's path goes
    /// through where the policy hides the original (an unreadable `:root`
    /// hides Debian's `/bin -> usr/bin`, say).
    Symlink {
        /// The link's target, as written on the host.
        target: PathBuf,
        /// Where the link is.
        link: PathBuf,
    },
    /// `--remount-ro PATH` (not recursive).
    RemountRo(PathBuf),
}

/// Whether to mount a fresh `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcMode {
    /// `--proc /proc`.
    Mount,
    /// No `/proc` mount (restrictive containers); the host's `/proc` is
    /// hidden under an empty read-only directory instead.
    Skip,
}

/// What the plan did with one rule; shown by `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Mounted as asked.
    Mounted,
    /// Same access as its parent: nothing to mount.
    Inherited,
    /// The path does not exist; nothing mounted (nothing is created).
    MissingSkipped,
    /// The path does not exist; its first missing component is masked
    /// so it cannot be created.
    MissingMasked(PathBuf),
    /// A protected name that does not exist: nothing is mounted, since the
    /// guard refuses its creation.
    MissingGuarded,
    /// A protected name that is an empty directory, without the guard:
    /// masked on it as on a mount point of its own, leased for the run
    /// (often it is another sandbox's mount point, which that sandbox
    /// removes when it ends).
    EmptyMasked,
    /// The path does not exist and this user cannot make it where it
    /// would go: nothing to mask.
    MissingUncreatable,
    /// Not applied, for the stated reason.
    Ignored(&'static str),
}

/// Mounts the start-up scan may add (glob masks plus nested protected
/// paths). bwrap rescans the mount table for every mount, so its start-up
/// grows with the square of the count: measured here, 100 masks add about
/// 20 ms, 256 about 80 ms, 1000 a full second. Above this, refuse.
pub const MAX_SCAN_MOUNTS: usize = 256;

/// A rule as the plan applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRule {
    /// The real path the rule applies to (symlinks resolved).
    pub path: PathBuf,
    /// What is at that path.
    pub kind: RealKind,
    /// The path as the policy wrote it, when it differs.
    pub requested: Option<PathBuf>,
    /// The access applied.
    pub access: Access,
    /// Where the rule came from.
    pub origin: RuleOrigin,
    /// Set when a protected path lowered a `write` rule to `read`.
    pub capped_by: Option<PathBuf>,
    /// What the plan did with it.
    pub outcome: Outcome,
    /// Whether the start-up scan produced it (a glob match or a protected
    /// path below the top of a writable root).
    pub from_scan: bool,
}

/// One path a deny-read glob matched, and where the plan masks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobMask {
    /// Index of the glob in the policy's `deny_globs`.
    pub glob: usize,
    /// The path the scan matched.
    pub matched: PathBuf,
    /// Its real path (symlinks resolved), where the rule applies.
    pub real: PathBuf,
}

/// The plan: mounts in order plus the rest of what bwrap needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// Mount operations in application order.
    pub ops: Vec<MountOp>,
    /// Every rule and what became of it, sorted by path.
    pub rules: Vec<PlannedRule>,
    /// Every glob match, by glob then path.
    pub glob_masks: Vec<GlobMask>,
    /// Network mode (decides `--unshare-net` and the seccomp filter).
    pub network: NetworkMode,
    /// Working directory inside the sandbox.
    pub chdir: PathBuf,
    /// Whether `/proc` is mounted.
    pub proc: ProcMode,
    /// Whether the inner stage guards protected names while the command
    /// runs (the inner stage's guard).
    pub guard_protected_names: bool,
    /// The writable roots the guard judges new entries by, at their real
    /// paths: temporary roots (scratch below their top level) and project
    /// roots (protected at any depth).
    pub guard_roots: Vec<GuardRoot>,
    /// Whether the inner stage's supervisor holds the command's socket
    /// calls: the network is enabled (elsewhere the filter or the network
    /// namespace closes host sockets) or the profile lists host sockets to
    /// let through.
    pub close_unix_sockets: bool,
    /// The host Unix sockets the profile lists (`network.unix_sockets`).
    pub allowed_unix_sockets: Vec<PathBuf>,
    /// The directories masks need as mount points (missing ones, and empty
    /// protected ones without the guard), which the launch leases, makes if
    /// missing and removes again if it made them ([`crate::mount_points`]).
    pub mount_points: Vec<PathBuf>,
}

impl MountPlan {
    /// The rule that decides what the sandbox sees at the real path `path`:
    /// the deepest planned rule covering it (glob masks included). `None`
    /// means no rule covers it, so it is hidden.
    pub fn deciding_rule(&self, path: &Path) -> Option<&PlannedRule> {
        self.rules
            .iter()
            .filter(|rule| path.starts_with(&rule.path))
            .max_by_key(|rule| depth(&rule.path))
    }

    /// Whether the inner stage's supervisor reads the command's calls
    /// through the outer stage's `/proc` (passed as a descriptor), the
    /// sandbox having none of its own: it supervises (the guard, or closed
    /// sockets) without `/proc` mounted.
    pub fn supervises_through_outer_procfs(&self) -> bool {
        self.proc == ProcMode::Skip && (self.guard_protected_names || self.close_unix_sockets)
    }
}

/// Why no plan could be made. Each names the path or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The filesystem could not be inspected.
    #[error("cannot inspect {}: {source}", path.display())]
    Inspect {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The scan found more paths to mount than bwrap starts quickly with.
    #[error(
        "the filesystem rules need {total} mounts for what the start-up scan found ({detail}), above the limit of {MAX_SCAN_MOUNTS}: \
         bwrap would take seconds to start. Narrow the patterns, deny a whole directory instead of the files in it, \
         or set glob_scan_max_depth lower (the scan went {depth} deep)"
    )]
    TooManyMounts {
        /// Mounts the scan produced.
        total: usize,
        /// Where they came from.
        detail: String,
        /// The scan depth in force, in words.
        depth: String,
    },
    /// A git configuration could not be read for what it names.
    #[error("{0}; fix or remove it (what it names for code to run must be kept read-only)")]
    GitConfig(#[from] git_config::GitConfigError),
    /// What git configuration names for code to run is reached through a
    /// symlink the command could repoint.
    #[error(
        "{} (named by git configuration for code to run) is reached through the symlink {}, which lies in a writable root: \
         the command could point it elsewhere, and no mount can keep a symlink. Replace the link by what it names, \
         or keep it out of the writable roots",
        code_path.display(),
        link.display()
    )]
    GitCodeThroughLink {
        /// The symlink in a writable root.
        link: PathBuf,
        /// The path git configuration names.
        code_path: PathBuf,
    },
    /// A listed host Unix socket lies in a writable root, or is reached
    /// through one.
    #[error(
        "network.unix_sockets allows {} ({key}), reached through {}, which lies in the writable root {}: \
         a command could put another socket (or a link to one) at that path for the next command to \
         reach. Keep the socket out of the writable roots (ssh-agent -a ~/.ssh/agent.sock, or systemd's \
         $XDG_RUNTIME_DIR/ssh-agent.socket), or the writable root out of the profile",
        socket.display(),
        through.display(),
        root.display()
    )]
    ListedSocketInWritableRoot {
        /// The listed path.
        socket: PathBuf,
        /// The key that listed it.
        key: String,
        /// Where on its way it meets the writable root.
        through: PathBuf,
        /// The writable root.
        root: PathBuf,
    },
    /// A file git configuration names for code to run has a second name.
    #[error(
        "{} (named by git configuration for code to run) has another hard link: the command could rewrite it through \
         that name whatever the sandbox mounts on this one. Replace it by a copy of its own (cp FILE FILE.new && mv FILE.new FILE)",
        .0.display()
    )]
    GitCodeHardLinked(PathBuf),
    /// The working directory would not be visible in the sandbox.
    #[error(
        "the working directory {} is not readable under this profile; grant it read access or choose another directory with -C",
        .0.display()
    )]
    CwdHidden(PathBuf),
}

/// Builds the mount plan for `policy`, given what the start-up scan found.
pub fn plan(
    policy: &SandboxPolicy,
    scan: &ScanReport,
    proc: ProcMode,
    fs: &dyn FsView,
) -> Result<MountPlan, PlanError> {
    // Symlinks crossed on the way to a rule's path or the working
    // directory; recreated below where the policy hides them.
    let mut links = Vec::new();
    let mut rules = resolve_rules(policy, fs, &mut links)?;
    let guard_roots = guard_roots(policy, fs)?;
    let glob_masks = add_glob_matches(&mut rules, policy, scan, fs)?;
    refuse_listed_sockets_in_writable_roots(policy, &rules, fs)?;
    let cwd = inspect(fs, &policy.cwd)?;
    links.extend(cwd.symlinks.iter().cloned());
    links.sort();
    links.dedup();
    if policy.protect_metadata {
        protect(
            &mut rules,
            &scan.protected,
            policy.guard_protected_names,
            fs,
        )?;
        protect_code_paths(
            &mut rules,
            &scan.protected,
            &policy.host_git,
            &guard_roots,
            fs,
        )?;
    }
    rules.sort_by(|a, b| {
        depth(&a.path)
            .cmp(&depth(&b.path))
            .then(a.path.cmp(&b.path))
    });

    let root_access = rules
        .iter()
        .find(|rule| rule.path == Path::new("/"))
        .map_or(Access::None, |rule| rule.access);
    let mut ops = Vec::new();
    let mut remounts = Vec::new();
    match root_access {
        Access::Read => ops.push(MountOp::RoBind("/".into())),
        Access::Write => ops.push(MountOp::Bind("/".into())),
        Access::None => {}
    }
    ops.push(MountOp::Dev);
    match proc {
        ProcMode::Mount => ops.push(MountOp::Proc),
        ProcMode::Skip if root_access != Access::None => {
            ops.push(MountOp::MaskDir("/proc".into()));
            remounts.push(MountOp::RemountRo("/proc".into()));
        }
        ProcMode::Skip => {}
    }

    // A missing path can be created only where its first missing
    // component's parent is writable, by the policy and by this user.
    let creatable_at = |first_missing: &Path| {
        first_missing.parent().is_some_and(|parent| {
            access_at(&rules, parent, root_access) == Access::Write && fs.may_create_in(parent)
        })
    };
    let creatable: Vec<bool> = rules
        .iter()
        .map(|rule| match &rule.kind {
            RealKind::Missing { first_missing } => creatable_at(first_missing),
            RealKind::Dir | RealKind::File => false,
        })
        .collect();
    let mut mount_points = Vec::new();
    let guarded = policy.guard_protected_names;
    for index in 0..rules.len() {
        let parent_access = parent_access(&rules, index, root_access);
        let rule = &mut rules[index];
        if rule.path == Path::new("/") {
            rule.outcome = Outcome::Mounted;
            continue;
        }
        if rule.path.starts_with("/dev") || rule.path.starts_with("/proc") {
            rule.outcome = Outcome::Ignored("the sandbox mounts its own /dev and /proc");
            continue;
        }
        match (&rule.outcome, rule.kind.clone()) {
            (Outcome::MissingGuarded, _) => {}
            (Outcome::EmptyMasked, _) => {
                ops.push(MountOp::MaskDir(rule.path.clone()));
                remounts.push(MountOp::RemountRo(rule.path.clone()));
                mount_points.push(rule.path.clone());
            }
            (Outcome::MissingMasked(_), RealKind::Missing { .. }) if !creatable[index] => {
                rule.outcome = Outcome::MissingUncreatable;
            }
            (Outcome::MissingMasked(first_missing), _) => {
                ops.push(MountOp::MaskDir(first_missing.clone()));
                remounts.push(MountOp::RemountRo(first_missing.clone()));
                mount_points.push(first_missing.clone());
            }
            (_, RealKind::Missing { first_missing })
                if rule.access != Access::Write && creatable[index] =>
            {
                ops.push(MountOp::MaskDir(first_missing.clone()));
                remounts.push(MountOp::RemountRo(first_missing.clone()));
                mount_points.push(first_missing.clone());
                rule.outcome = Outcome::MissingMasked(first_missing);
            }
            (_, RealKind::Missing { .. }) => rule.outcome = Outcome::MissingSkipped,
            // With the guard every writable root is a mount of its own: the
            // guard tells which root a directory is in by its mount, which
            // no rename of a directory above the root can change.
            _ if rule.access == parent_access
                && !(guarded && guard_roots.iter().any(|root| root.path == rule.path)) =>
            {
                rule.outcome = Outcome::Inherited
            }
            (_, kind) => {
                rule.outcome = Outcome::Mounted;
                ops.push(match (rule.access, kind) {
                    (Access::Write, _) => MountOp::Bind(rule.path.clone()),
                    (Access::Read, _) if rule.from_scan || (guarded && is_guarded_name(rule)) => {
                        MountOp::RoBindTry(rule.path.clone())
                    }
                    (Access::Read, _) => MountOp::RoBind(rule.path.clone()),
                    (Access::None, RealKind::Dir) => {
                        remounts.push(MountOp::RemountRo(rule.path.clone()));
                        MountOp::MaskDir(rule.path.clone())
                    }
                    (Access::None, _) => MountOp::MaskFile(rule.path.clone()),
                });
            }
        }
    }
    for (link, target) in links {
        let parent = link.parent().unwrap_or(Path::new("/"));
        let parent_visible = inspect(fs, parent)
            .is_ok_and(|real| access_at(&rules, &real.path, root_access) != Access::None);
        if !parent_visible {
            ops.push(MountOp::Symlink { target, link });
        }
    }
    ops.extend(remounts);
    if root_access == Access::None {
        ops.push(MountOp::RemountRo("/".into()));
    }

    if access_at(&rules, &cwd.path, root_access) == Access::None {
        return Err(PlanError::CwdHidden(policy.cwd.clone()));
    }
    check_scan_mounts(&rules, policy)?;

    rules.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(MountPlan {
        ops,
        rules,
        glob_masks,
        network: policy.network,
        chdir: policy.cwd.clone(),
        proc,
        guard_protected_names: policy.guard_protected_names,
        guard_roots,
        close_unix_sockets: policy.network == NetworkMode::Enabled
            || !policy.unix_sockets.is_empty(),
        allowed_unix_sockets: policy
            .unix_sockets
            .iter()
            .map(|socket| socket.path.clone())
            .collect(),
        mount_points: {
            mount_points.sort();
            mount_points.dedup();
            mount_points
        },
    })
}

fn inspect(fs: &dyn FsView, path: &Path) -> Result<RealPath, PlanError> {
    real_path(fs, path).map_err(|source| PlanError::Inspect {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses a listed host Unix socket (`network.unix_sockets`) that lies in
/// a writable root, or whose path crosses a symlink there: what the
/// sandbox lets through is the socket the path leads to when a command
/// starts, so a command that could change what the path leads to would
/// choose the socket the next one reaches (another agent of the user, a
/// terminal multiplexer, a container engine). Checked on the path as
/// written, on every symlink crossed and on where it ends.
fn refuse_listed_sockets_in_writable_roots(
    policy: &SandboxPolicy,
    rules: &[PlannedRule],
    fs: &dyn FsView,
) -> Result<(), PlanError> {
    if policy.unix_sockets.is_empty() {
        return Ok(());
    }
    // A profile that writes `/` leaves nothing of the host to keep.
    let writable: Vec<PathBuf> = writable_dirs(rules)
        .into_iter()
        .filter(|root| root != Path::new("/"))
        .collect();
    let root_of = |path: &Path| writable.iter().find(|root| path.starts_with(root)).cloned();
    for socket in &policy.unix_sockets {
        let real = inspect(fs, &socket.path)?;
        let on_the_way = std::iter::once(socket.path.clone())
            .chain(real.symlinks.iter().map(|(link, _)| link.clone()))
            .chain(std::iter::once(real.path.clone()));
        for through in on_the_way {
            if let Some(root) = root_of(&through) {
                return Err(PlanError::ListedSocketInWritableRoot {
                    socket: socket.path.clone(),
                    key: socket.key.clone(),
                    through,
                    root,
                });
            }
        }
    }
    Ok(())
}

/// Policy rules in real-path space; two rules landing on one real path
/// keep the stricter access. The symlinks crossed are added to `links`.
fn resolve_rules(
    policy: &SandboxPolicy,
    fs: &dyn FsView,
    links: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<Vec<PlannedRule>, PlanError> {
    let mut rules: Vec<PlannedRule> = Vec::new();
    for rule in &policy.rules {
        let real = inspect(fs, &rule.path)?;
        links.extend(real.symlinks.iter().cloned());
        let candidate = PlannedRule {
            requested: (real.path != rule.path).then(|| rule.path.clone()),
            path: real.path,
            kind: real.kind,
            access: rule.access,
            origin: rule.origin.clone(),
            capped_by: None,
            outcome: Outcome::Mounted,
            from_scan: false,
        };
        match rules
            .iter_mut()
            .find(|existing| existing.path == candidate.path)
        {
            Some(existing) if candidate.access < existing.access => *existing = candidate,
            Some(_) => {}
            None => rules.push(candidate),
        }
    }
    Ok(rules)
}

/// What the guard alone keeps where no mount can (the legacy pipeline):
/// the writable roots it judges by, and the real paths inside them that
/// the bubblewrap pipeline's mounts would keep read-only. Those are the
/// policy's `read` rules inside `write` ones (the configuration
/// directories among them), the protected entries at the top of each
/// root with the git directory a `.git` file there names, and what git's
/// configuration names for code to run (a `core.hooksPath`, an
/// `include.path` file). Protected names deeper in a root need no entry:
/// the guard judges every path by its components. No scan is read: the
/// paths a scan adds are all such names. A host Unix socket the policy
/// lists inside a writable root is refused, as for the mount plan.
pub fn kept_by_the_guard(
    policy: &SandboxPolicy,
    fs: &dyn FsView,
) -> Result<(Vec<GuardRoot>, Vec<PathBuf>), PlanError> {
    let mut rules = resolve_rules(policy, fs, &mut Vec::new())?;
    let roots = guard_roots(policy, fs)?;
    refuse_listed_sockets_in_writable_roots(policy, &rules, fs)?;
    if policy.protect_metadata {
        protect(&mut rules, &[], true, fs)?;
        protect_code_paths(&mut rules, &[], &policy.host_git, &roots, fs)?;
    }
    let mut kept: Vec<PathBuf> = rules
        .into_iter()
        .filter(|rule| {
            rule.access != Access::Write
                && roots.iter().any(|root| rule.path.starts_with(&root.path))
        })
        .map(|rule| rule.path)
        .collect();
    kept.sort();
    kept.dedup();
    Ok((roots, kept))
}

/// The policy's writable directories at their real paths, each a project
/// or a temporary root; a real path reached both ways is a project root.
fn guard_roots(policy: &SandboxPolicy, fs: &dyn FsView) -> Result<Vec<GuardRoot>, PlanError> {
    let mut roots: Vec<GuardRoot> = Vec::new();
    for path in policy.writable_roots() {
        let real = inspect(fs, path)?;
        if real.kind != RealKind::Dir {
            continue;
        }
        let kind = if policy.is_scratch_root(path) {
            RootKind::Scratch
        } else {
            RootKind::Project
        };
        match roots.iter_mut().find(|root| root.path == real.path) {
            Some(known) if kind == RootKind::Project => known.kind = kind,
            Some(_) => {}
            None => roots.push(GuardRoot {
                path: real.path,
                kind,
            }),
        }
    }
    roots.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(roots)
}

/// Adds a `none` rule at the real path of every glob match; a match on a
/// path that already has a rule keeps the stricter access.
fn add_glob_matches(
    rules: &mut Vec<PlannedRule>,
    policy: &SandboxPolicy,
    scan: &ScanReport,
    fs: &dyn FsView,
) -> Result<Vec<GlobMask>, PlanError> {
    let mut masks = Vec::new();
    for found in &scan.matches {
        let real = inspect(fs, &found.path)?;
        if matches!(real.kind, RealKind::Missing { .. }) {
            // Gone since the scan, or a dangling link: nothing to read.
            continue;
        }
        let Some(origin) = found
            .globs
            .first()
            .and_then(|index| policy.deny_globs.get(*index))
            .map(|glob| glob.origin.clone())
        else {
            continue;
        };
        for glob in &found.globs {
            masks.push(GlobMask {
                glob: *glob,
                matched: found.path.clone(),
                real: real.path.clone(),
            });
        }
        match rules.iter_mut().find(|rule| rule.path == real.path) {
            Some(existing) if existing.access == Access::None => {}
            Some(existing) => {
                existing.access = Access::None;
                existing.origin = origin;
                existing.from_scan = true;
            }
            None => rules.push(PlannedRule {
                requested: (real.path != found.path).then(|| found.path.clone()),
                path: real.path,
                kind: real.kind,
                access: Access::None,
                origin,
                capped_by: None,
                outcome: Outcome::Mounted,
                from_scan: true,
            }),
        }
    }
    masks.sort_by(|a, b| a.glob.cmp(&b.glob).then(a.matched.cmp(&b.matched)));
    Ok(masks)
}

/// Caps every protected path inside a writable root at `read`: the
/// protected names at the top of each writable root (when missing, masked,
/// or left to the guard when it runs), and the ones the scan found deeper.
fn protect(
    rules: &mut Vec<PlannedRule>,
    found_by_scan: &[PathBuf],
    guarded: bool,
    fs: &dyn FsView,
) -> Result<(), PlanError> {
    let roots = writable_dirs(rules);
    let inspect_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PlanError::Inspect { path, source }
    };
    for root in roots {
        for candidate in protected_candidates(fs, &root).map_err(inspect_error(&root))? {
            protect_candidate(
                rules,
                candidate,
                (RuleOrigin::Protected, false),
                guarded,
                fs,
            )?;
        }
    }
    for found in found_by_scan {
        // Deleted since the scan (another process's repository): nothing
        // to protect, and nothing to leave behind by masking its name.
        if matches!(inspect(fs, found)?.kind, RealKind::Missing { .. }) {
            continue;
        }
        for candidate in nested_candidates(fs, found).map_err(inspect_error(found))? {
            protect_candidate(rules, candidate, (RuleOrigin::Protected, true), guarded, fs)?;
        }
    }
    Ok(())
}

/// The directories the rules let the command write, the writable roots.
fn writable_dirs(rules: &[PlannedRule]) -> Vec<PathBuf> {
    rules
        .iter()
        .filter(|rule| rule.access == Access::Write && rule.kind == RealKind::Dir)
        .map(|rule| rule.path.clone())
        .collect()
}

/// Caps at `read` what the git configuration of every repository the
/// start knows names for code to run ([`git_config`]), and the host's own
/// git configuration files, where they lie in a writable root: the
/// repository of each writable root (at its top or above it, as git
/// discovers one), the submodules it holds, and the nested ones the scan
/// found. Each path is resolved once.
fn protect_code_paths(
    rules: &mut Vec<PlannedRule>,
    found_by_scan: &[PathBuf],
    host_git: &HostGitConfig,
    guard_roots: &[GuardRoot],
    fs: &dyn FsView,
) -> Result<(), PlanError> {
    let writable = writable_dirs(rules);
    let nested = found_by_scan
        .iter()
        .filter(|found| found.file_name().is_some_and(|name| name == ".git"))
        .filter_map(|found| found.parent());
    let mut repositories = Vec::new();
    for start in writable.iter().map(PathBuf::as_path).chain(nested) {
        let found = git_config::repository_of(fs, start).map_err(|source| PlanError::Inspect {
            path: start.to_path_buf(),
            source,
        })?;
        if let Some(repository) = found
            && !repositories.contains(&repository)
        {
            let submodules = git_config::submodules(fs, &repository)?;
            repositories.push(repository);
            repositories.extend(submodules);
        }
    }
    let mut candidates = host_git.files.clone();
    candidates.extend(git_config::code_paths(fs, &repositories, host_git)?);
    candidates.sort();
    candidates.dedup();

    // Below the top of a temporary root is scratch that other users share
    // (a linked worktree kept in /tmp): nothing there is kept, and nothing
    // someone links there refuses a start. The deepest root holding a path
    // decides: a workspace inside /tmp keeps its project rules.
    let in_scratch = |path: &Path| {
        guard_roots
            .iter()
            .filter(|root| path.starts_with(&root.path))
            .max_by_key(|root| root.path.components().count())
            .is_some_and(|root| {
                root.kind == RootKind::Scratch
                    && path
                        .strip_prefix(&root.path)
                        .is_ok_and(|below| below.components().count() >= 2)
            })
    };
    let mut reachable = Vec::new();
    for candidate in candidates {
        if in_scratch(&normalize(&candidate)) {
            continue;
        }
        let (path, real) = resolve_code_path(fs, candidate)?;
        reachable.push((path, real));
    }
    let pins = pinned_directories(rules, &reachable, fs)?;
    reachable.extend(pins);
    reachable.retain(|(_, real)| !in_scratch(&real.path));
    reachable.sort_by(|a, b| a.0.cmp(&b.0));
    reachable.dedup_by(|a, b| a.0 == b.0);

    // A profile that writes `/` keeps nothing of the host: refusing it for
    // a hard link or a symlinked dotfile would protect nothing.
    let refuse_unkeepable = access_at(rules, Path::new("/"), Access::None) != Access::Write;
    // A file the command can write under another name cannot be kept
    // read-only by any mount of this one.
    let mut crossed = Vec::new();
    for (candidate, real) in &reachable {
        if refuse_unkeepable
            && real.kind == RealKind::File
            && access_at(rules, &real.path, Access::None) == Access::Write
            && fs
                .link_count(&real.path)
                .map_err(|source| PlanError::Inspect {
                    path: real.path.clone(),
                    source,
                })?
                > 1
        {
            return Err(PlanError::GitCodeHardLinked(real.path.clone()));
        }
        crossed.extend(
            real.symlinks
                .iter()
                .map(|(link, _)| (link.clone(), candidate.clone())),
        );
    }
    for (candidate, real) in reachable {
        protect_resolved(
            rules,
            candidate,
            real,
            (RuleOrigin::GitCode, false),
            false,
            fs,
        );
    }
    // Mounts follow symlinks: the target is kept, but a link the command
    // can replace would lead git elsewhere next time.
    for (link, code_path) in crossed {
        if refuse_unkeepable
            && !in_scratch(&link)
            && access_at(rules, &link, Access::None) == Access::Write
        {
            return Err(PlanError::GitCodeThroughLink { link, code_path });
        }
    }
    Ok(())
}

/// `path` resolved; when a directory on the way may not be searched by
/// this user (a command of an earlier run may `chmod 000` one it owns),
/// the deepest directory on the way that can be is kept in its place:
/// git run by this user cannot reach past it either, and kept read-only,
/// its mode cannot be changed back during the run.
fn resolve_code_path(fs: &dyn FsView, path: PathBuf) -> Result<(PathBuf, RealPath), PlanError> {
    if let Some(real) = inspect_searchable(fs, &path)? {
        return Ok((path, real));
    }
    for ancestor in path.ancestors().skip(1) {
        if let Some(real) = inspect_searchable(fs, ancestor)?
            && real.kind == RealKind::Dir
        {
            return Ok((ancestor.to_path_buf(), real));
        }
    }
    Err(PlanError::Inspect {
        path,
        source: io::Error::from(io::ErrorKind::PermissionDenied),
    })
}

/// `path` resolved, or `None` when a directory on the way may not be
/// searched by this user ([`resolve_code_path`] keeps that way instead).
fn inspect_searchable(fs: &dyn FsView, path: &Path) -> Result<Option<RealPath>, PlanError> {
    match inspect(fs, path) {
        Ok(real) => Ok(Some(real)),
        Err(PlanError::Inspect { source, .. })
            if source.kind() == io::ErrorKind::PermissionDenied =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The directories a path git runs could be moved away from under it,
/// which a read-only bind pins (a mount point cannot be renamed, and the
/// guard refuses renaming what holds one): each named directory a `..`
/// climbs out of (`build` in `build/../hooks`: replaced by a link, it
/// would lead git elsewhere), and the existing parent of a missing path
/// that this user cannot create in (no mask can be made there, but the
/// command could rename the parent and make the path in a new one).
/// Never a writable root itself, which is a mount of its own.
fn pinned_directories(
    rules: &[PlannedRule],
    resolved: &[(PathBuf, RealPath)],
    fs: &dyn FsView,
) -> Result<Vec<(PathBuf, RealPath)>, PlanError> {
    let is_root = |path: &Path| {
        rules
            .iter()
            .any(|rule| rule.path == path && rule.access == Access::Write)
    };
    let mut pins = Vec::new();
    for (candidate, real) in resolved {
        let components: Vec<_> = candidate.components().collect();
        for (index, pair) in components.windows(2).enumerate() {
            if pair[1] == std::path::Component::ParentDir
                && matches!(pair[0], std::path::Component::Normal(_))
            {
                let prefix: PathBuf = components[..=index].iter().collect();
                if let Some(real) = inspect_searchable(fs, &prefix)?
                    && !is_root(&real.path)
                {
                    pins.push((prefix, real));
                }
            }
        }
        if let RealKind::Missing { first_missing } = &real.kind
            && let Some(parent) = first_missing.parent()
            && access_at(rules, parent, Access::None) == Access::Write
            && !fs.may_create_in(parent)
            && !is_root(parent)
        {
            pins.push((parent.to_path_buf(), inspect(fs, parent)?));
        }
    }
    Ok(pins)
}

/// Caps `candidate` (and every write rule below it) at `read` if it is
/// writable; a missing candidate is masked at its first missing component,
/// unless the guard (`guarded`) refuses its creation. The pair is the new
/// rule's origin and whether the scan found it.
fn protect_candidate(
    rules: &mut Vec<PlannedRule>,
    candidate: PathBuf,
    origin: (RuleOrigin, bool),
    guarded: bool,
    fs: &dyn FsView,
) -> Result<(), PlanError> {
    let real = inspect(fs, &candidate)?;
    protect_resolved(rules, candidate, real, origin, guarded, fs);
    Ok(())
}

/// [`protect_candidate`] for a candidate already resolved to `real`.
fn protect_resolved(
    rules: &mut Vec<PlannedRule>,
    candidate: PathBuf,
    real: RealPath,
    (origin, from_scan): (RuleOrigin, bool),
    guarded: bool,
    fs: &dyn FsView,
) {
    if access_at(rules, &real.path, Access::None) != Access::Write {
        return;
    }
    let requested = (real.path != candidate).then(|| candidate.clone());
    let (target, outcome) = match &real.kind {
        // The guard refuses entries by name: it covers a missing protected
        // name itself, not a path reached through a symlink or a `gitdir:`
        // whose missing parts have other names.
        RealKind::Missing { first_missing }
            if guarded && *first_missing == candidate && is_protected_path(first_missing) =>
        {
            (real.path.clone(), Outcome::MissingGuarded)
        }
        RealKind::Missing { first_missing } => (
            first_missing.clone(),
            Outcome::MissingMasked(first_missing.clone()),
        ),
        // Without the guard, an empty directory is masked and leased like a
        // missing one: it is often another sandbox's mount point, which
        // must not vanish under a bind of it.
        // So is an empty directory git's configuration names, guard or
        // not: the guard knows protected names, not these.
        RealKind::Dir
            if ((!guarded && *real.path == candidate && is_protected_path(&candidate))
                || origin == RuleOrigin::GitCode)
                && fs.is_empty_dir(&real.path) =>
        {
            (real.path.clone(), Outcome::EmptyMasked)
        }
        RealKind::Dir | RealKind::File => (real.path.clone(), Outcome::Mounted),
    };
    for rule in rules.iter_mut() {
        if rule.path.starts_with(&target) && rule.access == Access::Write {
            rule.access = Access::Read;
            rule.capped_by = Some(target.clone());
        }
    }
    if !rules.iter().any(|rule| rule.path == target) {
        rules.push(PlannedRule {
            path: target,
            kind: real.kind.clone(),
            requested,
            access: Access::Read,
            origin,
            capped_by: None,
            outcome,
            from_scan,
        });
    }
}

/// Refuses a plan whose scan-made mounts exceed [`MAX_SCAN_MOUNTS`].
fn check_scan_mounts(rules: &[PlannedRule], policy: &SandboxPolicy) -> Result<(), PlanError> {
    let mounted = |rule: &&PlannedRule| {
        rule.from_scan && matches!(rule.outcome, Outcome::Mounted | Outcome::MissingMasked(_))
    };
    let total = rules.iter().filter(mounted).count();
    if total <= MAX_SCAN_MOUNTS {
        return Ok(());
    }
    // Count by the key that produced each mount.
    let mut per_origin: Vec<(usize, String)> = Vec::new();
    for rule in rules.iter().filter(mounted) {
        let origin = match &rule.origin {
            RuleOrigin::Protected => format!("nested {}", names_with_slashes()),
            other => other.to_string(),
        };
        match per_origin.iter_mut().find(|(_, known)| *known == origin) {
            Some((count, _)) => *count += 1,
            None => per_origin.push((1, origin)),
        }
    }
    per_origin.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let parts: Vec<String> = per_origin
        .iter()
        .map(|(count, origin)| format!("{count} from {origin}"))
        .collect();
    Err(PlanError::TooManyMounts {
        total,
        detail: parts.join(", "),
        depth: crate::scan::ScanRequest::for_policy(policy).depth_text(),
    })
}

/// Whether `rule` keeps a protected name read-only, whose re-creation the
/// guard would refuse if another process deleted it before bwrap mounts
/// it; so bwrap may skip the mount then (`--ro-bind-try`).
fn is_guarded_name(rule: &PlannedRule) -> bool {
    rule.origin == RuleOrigin::Protected && is_protected_path(&rule.path)
}

/// Whether the last component of `path` is a protected name.
fn is_protected_path(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| codex_sandboxing::protected::is_protected_name(name.as_encoded_bytes()))
}

fn depth(path: &Path) -> usize {
    path.components().count()
}

/// Access of the deepest rule covering `path`, or `default` if none does.
fn access_at(rules: &[PlannedRule], path: &Path, default: Access) -> Access {
    rules
        .iter()
        .filter(|rule| path.starts_with(&rule.path))
        .max_by_key(|rule| depth(&rule.path))
        .map_or(default, |rule| rule.access)
}

/// Access of the deepest rule strictly above `rules[index]`.
fn parent_access(rules: &[PlannedRule], index: usize, root_access: Access) -> Access {
    let path = &rules[index].path;
    rules
        .iter()
        .filter(|rule| rule.path != *path && path.starts_with(&rule.path))
        .max_by_key(|rule| depth(&rule.path))
        .map_or(root_access, |rule| rule.access)
}

#[cfg(test)]
mod tests;

//! `--explain`: the plan of a start, rendered: the effective policy, one
//! resolved rule per line with where it came from and what the plan did
//! with it, what the start-up scan found (every glob with its matches and
//! their masks), the proxy route, who installs seccomp, then the exact
//! bwrap command the launch runs ([`BwrapLaunch::argv`], with descriptors
//! named), and what would stop it from running.

use std::ffi::OsString;
use std::fmt::Write;

use codex_sandboxing::protected::names_with_slashes;
use codex_sandboxing::proxy::domains::DomainPattern;
use codex_sandboxing::proxy::env::redact_credentials;
use codex_sandboxing::{EffectivePolicy, NetworkMode};

use crate::decide::{BwrapLaunch, LandlockLaunch, Launch, LaunchPlan, StagePlan, Upstream};
use crate::landlock::LandlockKernel;
use crate::plan::real_path::RealKind;
use crate::plan::{MountPlan, Outcome, ProcMode};
use crate::protocol::{RootKind, placeholder_args};
use crate::scan::ScanReport;

/// The explanation of `plan`, made for `policy`.
pub fn explain(policy: &EffectivePolicy, plan: &LaunchPlan<'_>) -> String {
    let mut out = match &plan.launch {
        Launch::Direct { command, .. } => explain_unsandboxed(policy, command),
        Launch::Landlock(launch) => explain_landlock(policy, launch),
        Launch::Bwrap(launch) => explain_sandboxed(policy, launch),
    };
    if let Some(blocked) = &plan.blocked {
        let _ = writeln!(out, "running would be refused: {blocked}");
    }
    out
}

/// The explanation of a run under bwrap.
fn explain_sandboxed(policy: &EffectivePolicy, launch: &BwrapLaunch<'_>) -> String {
    let plan = &launch.mounts;
    let mut out = profile_line(policy);
    let _ = writeln!(out, "network: {}", plan.network.as_str());
    if plan.proc == ProcMode::Skip {
        let _ = writeln!(out, "/proc: not mounted (host /proc hidden)");
    }
    let _ = writeln!(out, "rules (deepest wins):");
    let width = plan
        .rules
        .iter()
        .map(|rule| rule.path.as_os_str().len())
        .max()
        .unwrap_or(0);
    for rule in &plan.rules {
        let mut line = format!(
            "  {:<width$}  {:<5}  {}",
            rule.path.display(),
            rule.access.as_str(),
            rule.origin
        );
        if let Some(requested) = &rule.requested {
            let _ = write!(line, "; as {}", requested.display());
        }
        if plan
            .guard_roots
            .iter()
            .any(|root| root.path == rule.path && root.kind == RootKind::Scratch)
        {
            line.push_str("; temporary root: protected at its top level only, never scanned");
        }
        if let Some(protected) = &rule.capped_by {
            let _ = write!(
                line,
                "; capped at read by protected {}",
                protected.display()
            );
        }
        match &rule.outcome {
            Outcome::Mounted => {}
            Outcome::Inherited => line.push_str("; same as parent, nothing to mount"),
            Outcome::MissingSkipped => line.push_str("; path does not exist, nothing mounted"),
            Outcome::MissingGuarded => {
                line.push_str("; does not exist, the guard refuses its creation")
            }
            Outcome::EmptyMasked => {
                line.push_str("; an empty directory: masked read-only, held while the sandbox runs")
            }
            Outcome::MissingUncreatable => {
                line.push_str("; does not exist, and this user cannot create it there")
            }
            Outcome::MissingMasked(at) => {
                let _ = write!(
                    line,
                    "; does not exist, creation blocked by masking {}",
                    at.display()
                );
            }
            Outcome::Ignored(reason) => {
                let _ = write!(line, "; ignored: {reason}");
            }
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(sandbox) = &policy.sandbox {
        explain_scan(&mut out, sandbox, launch.scan, plan);
    }
    match launch.bwrap {
        Some(bwrap) => {
            let _ = writeln!(out, "bwrap: {}", bwrap.describe());
        }
        None => {
            let _ = writeln!(out, "bwrap: no usable bwrap (see below)");
        }
    }
    let program = launch.bwrap.map_or_else(
        || "bwrap".to_string(),
        |bwrap| bwrap.display_path().display().to_string(),
    );
    if let Some(proxy) = &launch.proxy {
        let _ = writeln!(
            out,
            "proxy routes (listened on inside the sandbox by the inner stage, each connection forwarded to the same address on the host):"
        );
        for route in &proxy.routes {
            let optional = if route.required {
                ""
            } else {
                " (skipped where the kernel has no IPv6)"
            };
            let _ = writeln!(out, "  {}{optional}", route.listen);
        }
        let _ = writeln!(
            out,
            "proxy environment, set for the command (passwords shown as ***):"
        );
        for (name, value) in &proxy.env {
            let _ = writeln!(out, "  {name}={}", redact_credentials(value));
        }
        if let Upstream::Builtin(domains) = &proxy.upstream {
            let list = |patterns: &[DomainPattern]| {
                if patterns.is_empty() {
                    "(none)".to_owned()
                } else {
                    patterns
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let _ = writeln!(
                out,
                "built-in proxy, answering on the addresses above; allowed: {}; denied: {}; \
                 mode: {}; loopback and private addresses: {}",
                list(&domains.allowed),
                list(&domains.denied),
                domains.mode.as_str(),
                if domains.allow_local_addresses {
                    "allowed (allow_local_binding)"
                } else {
                    "only those an exact entry names"
                }
            );
        }
    }
    let _ = writeln!(out, "seccomp: {}", describe_stage(&launch.stage));
    let _ = writeln!(
        out,
        "guard for new {}: {}",
        names_with_slashes(),
        describe_guard(plan)
    );
    let _ = writeln!(
        out,
        "unix sockets of the host: {}",
        describe_unix_sockets(plan)
    );
    for socket in &plan.allowed_unix_sockets {
        let _ = writeln!(
            out,
            "  allowed: {} (network.unix_sockets){}",
            socket.display(),
            if plan.close_unix_sockets {
                ""
            } else {
                ", but unreachable: no /proc to let it through"
            }
        );
    }
    let mut argv = vec![program];
    argv.extend(
        placeholder_args(&launch.argv())
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    let _ = writeln!(
        out,
        "bwrap command (<NAME> stands for a descriptor opened at launch):"
    );
    let _ = writeln!(out, "  {}", shell_words::join(&argv));
    out
}

/// The explanation of a run under the legacy Landlock pipeline: the
/// rules, what the ruleset grants, and what the kernel offers.
fn explain_landlock(policy: &EffectivePolicy, launch: &LandlockLaunch<'_>) -> String {
    let LandlockLaunch {
        grants,
        kernel,
        guard,
        ..
    } = launch;
    let mut out = profile_line(policy);
    let _ = writeln!(
        out,
        "pipeline: legacy Landlock (features.use_legacy_landlock): this process restricts itself, \
         drops every capability, sets no_new_privs and the seccomp filter, then supervises the \
         command (the guard: protected names, owner, mode and times changes{}); no namespaces, \
         no mounts",
        if guard.close_unix_sockets {
            ", host Unix sockets"
        } else {
            ""
        }
    );
    if let Some(sandbox) = &policy.sandbox {
        let _ = writeln!(out, "network: {}", sandbox.network.as_str());
        let _ = writeln!(out, "rules:");
        for rule in &sandbox.rules {
            let _ = writeln!(
                out,
                "  {}  {}  {}",
                rule.path.display(),
                rule.access.as_str(),
                rule.origin
            );
        }
    }
    for (label, paths) in [
        ("read beneath", &grants.read),
        ("write beneath", &grants.write),
    ] {
        let _ = writeln!(out, "landlock {label}:");
        for path in paths {
            let _ = writeln!(out, "  {}", path.display());
        }
    }
    let _ = writeln!(
        out,
        "kept read-only by the guard inside the writable roots:"
    );
    for path in &guard.kept {
        let _ = writeln!(out, "  {}", path.display());
    }
    match kernel {
        Ok(LandlockKernel { abi, notes, open }) => {
            let _ = writeln!(out, "kernel: Landlock ABI {abi}");
            for note in notes {
                let _ = writeln!(out, "  not enforced, without weakening the policy: {note}");
            }
            for note in open {
                let _ = writeln!(out, "  not confined by this kernel: {note}");
            }
        }
        Err(_) => {
            let _ = writeln!(out, "kernel: no usable Landlock (see below)");
        }
    }
    out
}

/// `profile: NAME (chosen by ...)`, the first line of every explanation.
/// The profile and the names (never the values) of the variables the
/// command gets.
fn profile_line(policy: &EffectivePolicy) -> String {
    let names: Vec<String> = policy
        .environment
        .vars()
        .iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    format!(
        "profile: {} (chosen by {})\nenvironment ([shell_environment_policy]): {}\n",
        policy.profile,
        policy.chosen_by,
        if names.is_empty() {
            "no variables".to_string()
        } else {
            names.join(" ")
        }
    )
}

/// Who installs `no_new_privs` and the seccomp filter.
fn describe_stage(stage: &StagePlan) -> &'static str {
    match stage {
        StagePlan::Bwrap { .. } => {
            "installed by bwrap (--seccomp) right before it execs the command"
        }
        StagePlan::Inner { argv0: true, .. } => {
            "installed by the inner stage (the guard, an enabled or proxy-routed network, or \
             features.inner_stage): bwrap execs this binary, named codex-linux-sandbox, which sets no_new_privs and the \
             filter, then execs the command"
        }
        StagePlan::Inner { argv0: false, .. } => {
            "installed by the inner stage (the guard, an enabled or proxy-routed network, or \
             features.inner_stage): bwrap execs this binary, which sets no_new_privs and the filter, then execs the \
             command; this bwrap has no --argv0, so the stage is named by its path"
        }
    }
}

/// Whether the protected-name guard runs, and how.
fn describe_guard(plan: &MountPlan) -> &'static str {
    if plan.guard_protected_names {
        "on: the inner stage supervises every call that creates, writes, moves or removes an \
         entry (seccomp user notification), refuses any that would create one, and keeps what \
         lies inside an existing one read-only at any depth (features.guard_protected_names)"
    } else {
        "off: only the mounts above protect them (--disable guard_protected_names, a profile \
         without protected paths, or one that writes nothing)"
    }
}

/// Whether the host's Unix sockets are reachable, and what closes them.
fn describe_unix_sockets(plan: &MountPlan) -> &'static str {
    match plan.network {
        NetworkMode::Restricted | NetworkMode::Proxy if plan.close_unix_sockets => {
            "closed but for those listed: the inner stage connects Unix sockets itself, only to \
             the listed ones"
        }
        NetworkMode::Restricted => "closed: the filter refuses connect and datagram sockets",
        NetworkMode::Proxy => "closed: the filter refuses every Unix socket but socketpair",
        NetworkMode::Enabled if plan.close_unix_sockets => {
            "closed: the inner stage connects Unix sockets itself, only to socket files the \
             sandbox bound and the listed ones; abstract names are refused, datagram sockets too"
        }
        NetworkMode::Enabled => {
            "OPEN: the network is enabled and the sandbox has no /proc to supervise connects \
             through"
        }
    }
}

/// The scan: how deep, what it skipped, and each glob with its matches.
fn explain_scan(
    out: &mut String,
    sandbox: &codex_sandboxing::SandboxPolicy,
    scan: &ScanReport,
    plan: &MountPlan,
) {
    let request = crate::scan::ScanRequest::for_policy(sandbox);
    if !sandbox.protect_metadata {
        let _ = writeln!(out, "scan: no nested names protected");
    } else if sandbox.project_roots().next().is_none() {
        let _ = writeln!(
            out,
            "scan: none for nested {}: no project root is writable",
            names_with_slashes()
        );
    } else if request.protect_under.is_empty() {
        let _ = writeln!(
            out,
            "scan: none for nested {}: the guard keeps what lies inside one (or a git directory \
             under another name) read-only at any depth",
            names_with_slashes()
        );
    } else {
        let _ = writeln!(
            out,
            "scan: {} below each project root; {} nested {} found",
            request.depth_text(),
            scan.protected.len(),
            names_with_slashes()
        );
    }
    for skipped in &scan.skipped {
        let _ = writeln!(
            out,
            "  skipped {} (this user can neither list nor enter it)",
            skipped.display()
        );
    }
    if sandbox.deny_globs.is_empty() {
        return;
    }
    let _ = writeln!(out, "globs (deny reading):");
    for (index, glob) in sandbox.deny_globs.iter().enumerate() {
        let masks: Vec<_> = plan.glob_masks.iter().filter(|m| m.glob == index).collect();
        let _ = writeln!(
            out,
            "  {}  ({}): {} match{}",
            glob.anchored(),
            glob.origin,
            masks.len(),
            if masks.len() == 1 { "" } else { "es" }
        );
        for mask in masks {
            let mut line = format!("    {}", mask.matched.display());
            if mask.real != mask.matched {
                let _ = write!(line, " -> {}", mask.real.display());
            }
            let rule = plan.rules.iter().find(|rule| rule.path == mask.real);
            let effect = match rule.map(|rule| (&rule.outcome, &rule.kind)) {
                Some((Outcome::Mounted, RealKind::Dir)) => "masked by an empty read-only directory",
                Some((Outcome::Mounted, _)) => "masked by /dev/null",
                Some((Outcome::Inherited, _)) => "already unreadable, nothing to mount",
                Some((Outcome::Ignored(reason), _)) => reason,
                _ => "not masked",
            };
            let _ = writeln!(out, "{line}: {effect}");
        }
    }
}

/// The explanation of an unsandboxed run.
fn explain_unsandboxed(policy: &EffectivePolicy, command: &[OsString]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    format!(
        "{}no sandbox: the command runs directly with full access\n  {}\n",
        profile_line(policy),
        shell_words::join(&words)
    )
}

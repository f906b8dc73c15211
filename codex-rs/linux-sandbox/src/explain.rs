//! `--explain`: the effective policy, one resolved rule per line with where
//! it came from and what the plan did with it, then the exact bwrap command.

use std::ffi::OsString;
use std::fmt::Write;
use std::path::Path;

use codex_sandboxing::EffectivePolicy;

use crate::plan::{MountPlan, Outcome, ProcMode};
use crate::render::{LaunchFds, bwrap_args};

/// The explanation of a sandboxed run.
pub fn explain_sandboxed(
    policy: &EffectivePolicy,
    plan: &MountPlan,
    bwrap: Option<&Path>,
    command: &[OsString],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "profile: {} (chosen by {})",
        policy.profile, policy.chosen_by
    );
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
    let program = bwrap.map_or_else(|| "bwrap".to_string(), |path| path.display().to_string());
    let mut argv = vec![program];
    argv.extend(
        bwrap_args(plan, LaunchFds::PLACEHOLDERS, command)
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    let _ = writeln!(
        out,
        "bwrap command (seccomp filter and status report are passed as open descriptors):"
    );
    let _ = writeln!(out, "  {}", shell_words::join(&argv));
    if bwrap.is_none() {
        let _ = writeln!(out, "  (no usable bwrap found on PATH: running would fail)");
    }
    out
}

/// The explanation of an unsandboxed run.
pub fn explain_unsandboxed(policy: &EffectivePolicy, command: &[OsString]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    format!(
        "profile: {} (chosen by {})\nno sandbox: the command runs directly with full access\n  {}\n",
        policy.profile,
        policy.chosen_by,
        shell_words::join(&words)
    )
}

//! `codex sandbox doctor`: every host fact the sandbox depends on, judged.
//! Pure: [`HostObservations`] is what the caller read and probed; [`diagnose`]
//! turns it into one [`Check`] per line, each failure with its fix, so every
//! rule is tested on recorded inputs.

use crate::protected::names_in_words;
use std::fmt::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::host::{Wsl, bubblewrap_install_hint, detect_wsl};
use crate::namespaces::{NamespaceFacts, diagnose_namespace_failure};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but something is worse than it could be.
    Warn,
    /// Stops the default profile from running.
    Fail,
    /// A fact, neither good nor bad.
    Info,
}

/// One judged fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable identifier for machines (`user_namespaces`).
    pub id: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found, in one line.
    pub summary: String,
    /// For a `fail` or `warn`: the command or setting that fixes it.
    pub fix: Option<String>,
}

/// Every check, and whether the default profile can run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// The checks, in display order.
    pub checks: Vec<Check>,
    /// True when a real start of the default profile worked here:
    /// `codex sandbox -- CMD` runs.
    pub default_profile_can_run: bool,
}

/// What a failed observation left (bwrap's message, an errno, a
/// configuration error), kept as text for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FailureText(pub String);

impl std::fmt::Display for FailureText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for FailureText {
    fn from(text: String) -> Self {
        FailureText(text)
    }
}

impl From<&str> for FailureText {
    fn from(text: &str) -> Self {
        FailureText(text.to_owned())
    }
}

/// What was found out about one bwrap binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BwrapObservation {
    /// Its path.
    pub path: PathBuf,
    /// `bwrap --version`, if it answered.
    pub version: Option<String>,
    /// Whether it accepts `--argv0` (bubblewrap 0.9+).
    pub argv0: bool,
    /// The namespace probe: `Err` holds bwrap's message.
    pub namespaces: Result<(), FailureText>,
    /// The `/proc` probe: `Err` holds bwrap's message.
    pub proc_mount: Result<(), FailureText>,
}

/// The bundled bwrap, as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum BundledObservation {
    /// Not shipped beside this binary.
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Present, and usable.
    Usable {
        /// Its SHA-256.
        sha256: String,
        /// Whether that was checked against a compiled-in digest.
        verified: bool,
        /// The probes of it (`None` when a system bwrap is used instead and
        /// it was not probed).
        probes: Option<BwrapObservation>,
    },
    /// Present but refused (modified or unreadable).
    Refused {
        /// Why, naming both digests.
        reason: String,
    },
}

/// Everything the doctor looks at, read and probed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostObservations {
    /// `uname -r`.
    pub kernel_release: String,
    /// `/proc/version`.
    pub proc_version: String,
    /// `/etc/os-release`.
    pub os_release: String,
    /// `landlock_create_ruleset(.., LANDLOCK_CREATE_RULESET_VERSION)`: the
    /// ABI version, or the errno text.
    pub landlock_abi: Result<u32, FailureText>,
    /// `/proc/self/status`.
    pub proc_self_status: String,
    /// Sysctls and container markers.
    pub namespaces: NamespaceFacts,
    /// The system bwrap chosen from PATH (outside the writable roots).
    pub system_bwrap: Option<BwrapObservation>,
    /// The bundled bwrap.
    pub bundled_bwrap: BundledObservation,
    /// Loading the configuration and the default profile: `Err` holds the
    /// error.
    pub config: Result<String, FailureText>,
    /// What the protected-name guard needs from the kernel.
    pub guard: GuardObservation,
    /// Host git's `safe.bareRepository`.
    pub bare_repositories: BareRepositorySetting,
    /// The host's Unix sockets, as the default profile sees them.
    pub unix_sockets: UnixSocketObservation,
    /// A real start of the default profile (`codex sandbox -- true`), as a
    /// user's run makes it: `Err` holds how it ended and its last message.
    /// The verdict is this start's, so the report never contradicts a run.
    pub default_start: Result<(), FailureText>,
}

/// The host Unix sockets the default profile allows, and the well-known
/// ones present here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnixSocketObservation {
    /// What the default profile lists (`network.unix_sockets`).
    pub allowed: Vec<PathBuf>,
    /// Of those, the ones that give the command the host (a container
    /// engine's, or root's when this user is not root).
    pub privileged: Vec<PathBuf>,
    /// Well-known host sockets present here (a container engine's, D-Bus,
    /// the display, systemd, the SSH and GPG agents).
    pub present: Vec<PathBuf>,
}

/// Host git's `safe.bareRepository`, as `git config --get` reads it from
/// the system and global configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BareRepositorySetting {
    /// No `git` to ask.
    #[default]
    NoGit,
    /// Its value; `None` when unset (git then uses `all`).
    Value(Option<String>),
}

/// What the protected-name guard (`features.guard_protected_names`) needs
/// from the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuardObservation {
    /// Whether the default profile runs the guard.
    pub enabled: bool,
    /// `/proc/sys/kernel/seccomp/actions_avail`, if readable.
    pub seccomp_actions: Option<String>,
    /// `/proc/sys/kernel/yama/ptrace_scope`, if Yama is there.
    pub yama_ptrace_scope: Option<u32>,
}

/// Judges `host`.
pub fn diagnose(host: &HostObservations) -> DoctorReport {
    let mut checks = vec![
        config_check(host),
        kernel_check(host),
        wsl_check(host),
        container_check(host),
        seccomp_check(host),
        landlock_check(host),
        system_bwrap_check(host),
        bundled_bwrap_check(host),
    ];
    checks.extend(chosen_bwrap_checks(host));
    checks.push(guard_check(host));
    checks.push(bare_repositories_check(host));
    checks.push(unix_sockets_check(&host.unix_sockets));
    checks.push(default_start_check(host));
    let default_profile_can_run = host.default_start.is_ok();
    DoctorReport {
        checks,
        default_profile_can_run,
    }
}

fn check(
    id: &'static str,
    status: Status,
    summary: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        id,
        status,
        summary: summary.into(),
        fix,
    }
}

fn config_check(host: &HostObservations) -> Check {
    match &host.config {
        Ok(profile) => check(
            "config",
            Status::Pass,
            format!("configuration loads; default profile {profile}"),
            None,
        ),
        Err(err) => check(
            "config",
            Status::Fail,
            format!("configuration error: {err}"),
            Some("correct the key or variable named above (see `codex sandbox --help`)".into()),
        ),
    }
}

/// `(major, minor)` of a kernel release such as `6.1.0-18-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Some((major, minor)),
        _ => None,
    }
}

fn kernel_check(host: &HostObservations) -> Check {
    let release = host.kernel_release.trim();
    match kernel_version(release) {
        Some(version) if version < (3, 8) => check(
            "kernel",
            Status::Fail,
            format!("Linux {release}: older than 3.8, no unprivileged user namespaces"),
            Some("upgrade the kernel".into()),
        ),
        Some(_) => check("kernel", Status::Pass, format!("Linux {release}"), None),
        _ => check(
            "kernel",
            Status::Info,
            format!("kernel release {release:?} not recognised"),
            None,
        ),
    }
}

fn wsl_check(host: &HostObservations) -> Check {
    match detect_wsl(&host.proc_version) {
        Wsl::No => check("wsl", Status::Pass, "not WSL", None),
        Wsl::Wsl2 => check("wsl", Status::Pass, "WSL2 (a real Linux kernel)", None),
        Wsl::Wsl1 => check(
            "wsl",
            Status::Fail,
            "WSL1: no Linux namespaces, the sandbox cannot run",
            Some("convert the distribution to WSL2: `wsl --set-version <distro> 2`".into()),
        ),
    }
}

fn container_check(host: &HostObservations) -> Check {
    match host.namespaces.container {
        Some(container) => check(
            "container",
            Status::Info,
            format!("running in a {} container", container.name()),
            None,
        ),
        None => check("container", Status::Info, "not in a container", None),
    }
}

fn seccomp_check(host: &HostObservations) -> Check {
    let mode = host
        .proc_self_status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .map(str::trim);
    match mode {
        Some("2") => check(
            "seccomp",
            Status::Pass,
            "available; this process already runs under a seccomp filter (a container's?), which the sandbox's filter stacks on",
            None,
        ),
        Some(_) => check("seccomp", Status::Pass, "available", None),
        None => check(
            "seccomp",
            Status::Fail,
            "the kernel has no seccomp (no Seccomp: line in /proc/self/status)",
            Some("use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER".into()),
        ),
    }
}

fn landlock_check(host: &HostObservations) -> Check {
    match &host.landlock_abi {
        Ok(abi) => check(
            "landlock",
            Status::Info,
            format!("Landlock ABI {abi}"),
            None,
        ),
        Err(reason) => check(
            "landlock",
            Status::Info,
            format!("Landlock unavailable ({reason}); only the legacy Landlock pipeline needs it"),
            None,
        ),
    }
}

fn system_bwrap_check(host: &HostObservations) -> Check {
    match &host.system_bwrap {
        Some(bwrap) => check(
            "system_bwrap",
            Status::Pass,
            format!(
                "{} ({}){}",
                bwrap.path.display(),
                bwrap.version.as_deref().unwrap_or("version unknown"),
                if bwrap.argv0 {
                    ", supports --argv0"
                } else {
                    ", no --argv0 (older than 0.9: features.inner_stage works but is not named codex-linux-sandbox)"
                }
            ),
            None,
        ),
        None => check(
            "system_bwrap",
            Status::Warn,
            "no bwrap on PATH (outside the writable roots); the bundled one is used",
            Some(bubblewrap_install_hint(&host.os_release).to_owned()),
        ),
    }
}

fn bundled_bwrap_check(host: &HostObservations) -> Check {
    let needed = host.system_bwrap.is_none();
    match &host.bundled_bwrap {
        BundledObservation::Missing { path } => check(
            "bundled_bwrap",
            if needed { Status::Fail } else { Status::Info },
            format!("none at {}", path.display()),
            needed.then(|| bubblewrap_install_hint(&host.os_release).to_owned()),
        ),
        BundledObservation::Usable {
            sha256, verified, ..
        } => check(
            "bundled_bwrap",
            Status::Pass,
            format!(
                "SHA-256 {sha256}, {}",
                if *verified {
                    "verified against this release"
                } else {
                    "not verified (development build)"
                }
            ),
            None,
        ),
        BundledObservation::Refused { reason } => check(
            "bundled_bwrap",
            if needed { Status::Fail } else { Status::Warn },
            reason.clone(),
            Some("reinstall codex".into()),
        ),
    }
}

/// The probes of the bwrap a run would use: namespaces and `/proc`.
fn chosen_bwrap_checks(host: &HostObservations) -> Vec<Check> {
    let chosen = host.system_bwrap.as_ref().or(match &host.bundled_bwrap {
        BundledObservation::Usable { probes, .. } => probes.as_ref(),
        _ => None,
    });
    let Some(bwrap) = chosen else {
        return vec![check(
            "user_namespaces",
            Status::Fail,
            "not probed: no usable bwrap",
            Some(bubblewrap_install_hint(&host.os_release).to_owned()),
        )];
    };
    let facts = &host.namespaces;
    let settings = format!(
        "user.max_user_namespaces={}, kernel.unprivileged_userns_clone={}, kernel.apparmor_restrict_unprivileged_userns={}",
        show(facts.max_user_namespaces),
        show(facts.unprivileged_userns_clone.map(u8::from)),
        show(facts.apparmor_restrict_unprivileged_userns.map(u8::from)),
    );
    let namespaces = match &bwrap.namespaces {
        Ok(()) => check(
            "user_namespaces",
            Status::Pass,
            format!("bwrap creates user and network namespaces ({settings})"),
            None,
        ),
        Err(message) => {
            let diagnosis = diagnose_namespace_failure(&message.0, facts);
            check(
                "user_namespaces",
                Status::Fail,
                format!("{} ({settings})", diagnosis.cause),
                Some(diagnosis.fix),
            )
        }
    };
    let proc_mount = match (&bwrap.namespaces, &bwrap.proc_mount) {
        (Err(_), _) => check("proc_mount", Status::Info, "not probed: no namespaces", None),
        (Ok(()), Ok(())) => check("proc_mount", Status::Pass, "a fresh /proc mounts in a new pid namespace", None),
        (Ok(()), Err(message)) => check(
            "proc_mount",
            Status::Warn,
            format!(
                "a fresh /proc cannot be mounted ({message}); the command sees an empty /proc \
                 (the guard reads its calls through codex's own), and tools that need /proc fail"
            ),
            Some("usual in containers that mask parts of /proc: start the container with `--security-opt systempaths=unconfined` for a fresh /proc, or pass --no-proc to skip the attempt".into()),
        ),
    };
    vec![namespaces, proc_mount]
}

/// Host git finds a repository by its signs alone, under any name, unless
/// `safe.bareRepository` is `explicit`: then a bare repository is used only
/// when named (`--git-dir`, `GIT_DIR`). The guard refuses completing one in
/// a project root or at the top of a temporary root, but one made below that
/// top, or by a sandbox without the guard, would run its config for any
/// git run below it.
fn unix_sockets_check(sockets: &UnixSocketObservation) -> Check {
    const ID: &str = "unix_sockets";
    let list = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let closed: Vec<PathBuf> = sockets
        .present
        .iter()
        .filter(|path| !sockets.allowed.contains(path))
        .cloned()
        .collect();
    let allowed = if sockets.allowed.is_empty() {
        "the default profile lets the command reach no host Unix socket".to_string()
    } else {
        format!(
            "the default profile lets the command reach these host Unix sockets \
             (network.unix_sockets): {}",
            list(&sockets.allowed)
        )
    };
    let closed = if closed.is_empty() {
        String::new()
    } else {
        format!("; present here and closed to it: {}", list(&closed))
    };
    if sockets.privileged.is_empty() {
        check(ID, Status::Info, format!("{allowed}{closed}"), None)
    } else {
        check(
            ID,
            Status::Warn,
            format!(
                "{allowed}{closed}; through {} the command can take over the host (a container \
                 engine's, or root's)",
                list(&sockets.privileged)
            ),
            Some("remove it from network.unix_sockets unless the command must drive it".into()),
        )
    }
}

fn bare_repositories_check(host: &HostObservations) -> Check {
    const ID: &str = "bare_repositories";
    match &host.bare_repositories {
        BareRepositorySetting::NoGit => check(
            ID,
            Status::Info,
            "no git on PATH: safe.bareRepository not checked",
            None,
        ),
        BareRepositorySetting::Value(Some(value)) if value.eq_ignore_ascii_case("explicit") => {
            check(
                ID,
                Status::Pass,
                "host git uses a bare repository only when told to (safe.bareRepository=explicit)",
                None,
            )
        }
        BareRepositorySetting::Value(value) => check(
            ID,
            Status::Warn,
            format!(
                "host git uses any bare repository it finds above its directory \
                 (safe.bareRepository={}): one a command makes in /tmp, or in a sandbox without \
                 the guard, runs its config for any git run below it",
                value.as_deref().unwrap_or("all, unset")
            ),
            Some("git config --global safe.bareRepository explicit".into()),
        ),
    }
}

/// The real start of the default profile, whose outcome is the verdict.
fn default_start_check(host: &HostObservations) -> Check {
    match &host.default_start {
        Ok(()) => check(
            "default_start",
            Status::Pass,
            "`codex sandbox -- true` ran in the default profile",
            None,
        ),
        Err(failure) => check(
            "default_start",
            Status::Fail,
            format!("`codex sandbox -- true` failed: {failure}"),
            Some("the run's message on this line names the blocker and its fix; the checks above show the host's settings".into()),
        ),
    }
}

/// The guard needs seccomp user notification with descriptor handover
/// (Linux 5.9) and a Yama policy that lets a process read the memory of
/// its descendants.
fn guard_check(host: &HostObservations) -> Check {
    let guard = &host.guard;
    if !guard.enabled {
        return check(
            "guard",
            Status::Info,
            format!(
                "the default profile runs without the guard for new {}",
                names_in_words()
            ),
            None,
        );
    }
    let disable =
        "or run with --disable guard_protected_names (mounts still protect the names that exist)";
    let no_notification = guard.seccomp_actions.as_deref().is_some_and(|actions| {
        !actions
            .split_whitespace()
            .any(|action| action == "user_notif")
    });
    let old_kernel = kernel_version(&host.kernel_release).is_some_and(|version| version < (5, 9));
    if no_notification || old_kernel {
        return check(
            "guard",
            Status::Fail,
            format!(
                "the guard for new {} needs seccomp user notification with \
                 descriptor handover (Linux 5.9); this kernel is {}",
                names_in_words(),
                host.kernel_release.trim()
            ),
            Some(format!("upgrade to Linux 5.9 or later, {disable}")),
        );
    }
    match guard.yama_ptrace_scope {
        Some(scope) if scope >= 2 => check(
            "guard",
            Status::Fail,
            format!(
                "kernel.yama.ptrace_scope is {scope}: the guard's supervisor may not read the \
                 paths the command passes, so every file creation would fail"
            ),
            Some(format!(
                "set kernel.yama.ptrace_scope to 1 or 0 (sysctl), {disable}"
            )),
        ),
        scope => check(
            "guard",
            Status::Pass,
            format!(
                "seccomp user notification available; Yama ptrace_scope {} (the supervisor is an \
                 ancestor of every sandboxed process); {}",
                show(scope),
                if kernel_version(&host.kernel_release).is_some_and(|version| version >= (6, 6)) {
                    "held calls are handed over on the caller's CPU (Linux 6.6)"
                } else {
                    "held calls wait for the supervisor's CPU to wake (Linux 6.6 hands them over \
                     on the caller's, faster)"
                }
            ),
            None,
        ),
    }
}

fn show<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "absent".to_owned(), |v| v.to_string())
}

/// The report as text: one line per check with ✔, ✘, ! or ·, and the fix
/// under each failure or warning, then the verdict.
pub fn render_text(report: &DoctorReport) -> String {
    let mut out = String::new();
    for check in &report.checks {
        let mark = match check.status {
            Status::Pass => "✔",
            Status::Fail => "✘",
            Status::Warn => "!",
            Status::Info => "·",
        };
        let _ = writeln!(out, "{mark} {}: {}", check.id, check.summary);
        if let Some(fix) = &check.fix {
            let _ = writeln!(out, "    fix: {fix}");
        }
    }
    let failures = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let plural = if failures == 1 { "" } else { "s" };
    if !report.default_profile_can_run {
        let _ = writeln!(
            out,
            "the default profile cannot run here: {failures} check{plural} failed"
        );
    } else if failures > 0 {
        let _ = writeln!(
            out,
            "the default profile can run here; {failures} check{plural} failed, which other profiles \
             or features may need"
        );
    } else {
        let _ = writeln!(out, "the default profile can run here");
    }
    out
}

#[cfg(test)]
mod tests;

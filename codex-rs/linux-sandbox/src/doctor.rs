//! `codex sandbox doctor`: gathers the host facts (file reads and a few
//! real bwrap probes) that `codex_sandboxing::doctor` judges, and prints
//! the report.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use codex_sandboxing::cli::SandboxArgs;
use codex_sandboxing::doctor::{
    BareRepositorySetting, BundledObservation, BwrapObservation, DoctorReport, FailureText,
    GuardObservation, HostObservations, UnixSocketObservation, diagnose, render_text,
};
use codex_sandboxing::request::{Environment, build_policy};

use crate::bundled::{BundledBwrap, BundledError, COMPILED_IN_DIGEST};
use crate::decide::proxy_plan;
use crate::host_facts::{gives_the_host, real_writable_roots, text_variables};
use crate::launcher::{Bwrap, bundled_path_of_current_exe};
use crate::locate::find_trusted_program;
use crate::probe::{
    ProbeFailure, bwrap_version, landlock_abi, namespace_facts, probe_namespaces, probe_proc_mount,
    supports_argv0, true_program,
};

/// Exit status when the default profile cannot run here.
pub const CANNOT_RUN: i32 = 1;

/// Inspects the host, prints the report (text, or JSON with `json`) and
/// returns the exit status: 0 when the default profile can run here.
pub fn doctor_main(json: bool) -> i32 {
    let report = diagnose(&observe_host());
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("codex sandbox doctor: cannot render JSON: {err}");
                return crate::protocol::exit_status::INTERNAL;
            }
        }
    } else {
        print!("{}", render_text(&report));
    }
    exit_status(&report)
}

/// 0 when the default profile can run, else [`CANNOT_RUN`].
pub fn exit_status(report: &DoctorReport) -> i32 {
    if report.default_profile_can_run {
        0
    } else {
        CANNOT_RUN
    }
}

/// Reads and probes everything the doctor judges.
pub fn observe_host() -> HostObservations {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let DefaultPolicy {
        config,
        writable,
        guard_enabled,
        unix_sockets,
    } = default_policy();
    let system_bwrap = find_trusted_program("bwrap", &path_var, &writable)
        .map(|path| observe_bwrap(&Bwrap::System(path)));
    let bundled_path = bundled_path_of_current_exe();
    let bundled_bwrap = match BundledBwrap::open(&bundled_path, COMPILED_IN_DIGEST) {
        Ok(bundled) => {
            let (sha256, verified) = (bundled.digest().to_string(), bundled.verified());
            let probes = system_bwrap
                .is_none()
                .then(|| observe_bwrap(&Bwrap::Bundled(bundled)));
            BundledObservation::Usable {
                sha256,
                verified,
                probes,
            }
        }
        Err(BundledError::Missing { path }) => BundledObservation::Missing { path },
        Err(err) => BundledObservation::Refused {
            reason: err.to_string(),
        },
    };
    HostObservations {
        kernel_release: kernel_release(),
        proc_version: read("/proc/version"),
        os_release: read("/etc/os-release"),
        landlock_abi: landlock_abi().map_err(|err| FailureText(err.to_string())),
        proc_self_status: read("/proc/self/status"),
        namespaces: namespace_facts(),
        system_bwrap,
        bundled_bwrap,
        config,
        guard: GuardObservation {
            enabled: guard_enabled,
            seccomp_actions: std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").ok(),
            yama_ptrace_scope: std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .ok()
                .and_then(|text| text.trim().parse().ok()),
        },
        bare_repositories: bare_repository_setting(&path_var, &writable),
        unix_sockets: UnixSocketObservation {
            privileged: unix_sockets
                .iter()
                .filter(|path| gives_the_host(path))
                .cloned()
                .collect(),
            allowed: unix_sockets,
            present: well_known_sockets()
                .into_iter()
                .filter(|path| is_socket(path))
                .collect(),
        },
        default_start: start_default_profile(),
    }
}

/// How long the doctor's real start may take.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts `codex sandbox -- true` for real, from this executable with this
/// process's environment and directory, exactly as a user's run: the
/// doctor's verdict is what that run does. `Err` holds its status and the
/// last line it printed (the refusal, which names the blocker). Its cache
/// directory is a temporary one, so the notices a first run says once per
/// host are still said to the user's first real run.
fn start_default_profile() -> Result<(), FailureText> {
    let exe = std::env::current_exe()
        .map_err(|err| FailureText(format!("cannot find this executable: {err}")))?;
    let cache = tempfile::tempdir()
        .map_err(|err| FailureText(format!("cannot make a cache directory: {err}")))?;
    let mut child = std::process::Command::new(exe)
        // Not codex-linux-sandbox, whatever the file is called.
        .arg0("codex")
        .env("XDG_CACHE_HOME", cache.path())
        .args(["sandbox", "--", true_program()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| FailureText(format!("cannot start it: {err}")))?;
    // A start takes milliseconds; one that hangs must not hang the doctor.
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    while child.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(FailureText(format!(
                "it did not end within {} s",
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let output = child
        .wait_with_output()
        .map_err(|err| FailureText(format!("cannot wait for it: {err}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message");
    let status = output.status.code().map_or_else(
        || "killed by a signal".to_owned(),
        |code| format!("exit {code}"),
    );
    Err(FailureText(format!(
        "{status}: {}",
        last.trim().trim_start_matches("codex sandbox: ")
    )))
}

/// Where the host's well-known Unix sockets live: container engines, the
/// system and session buses, the displays, systemd's managers, the SSH
/// and GPG agents.
fn well_known_sockets() -> Vec<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let mut paths: Vec<PathBuf> = [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/podman/podman.sock",
        "/run/containerd/containerd.sock",
        "/run/dbus/system_bus_socket",
        "/run/systemd/private",
        "/tmp/.X11-unix/X0",
        "/tmp/.X11-unix/X1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        for name in [
            "bus",
            "podman/podman.sock",
            "docker.sock",
            "wayland-0",
            "systemd/private",
            "gnupg/S.gpg-agent",
            "pipewire-0",
            "pulse/native",
        ] {
            paths.push(runtime.join(name));
        }
    }
    paths.extend(var("SSH_AUTH_SOCK"));
    paths.extend(var("HOME").map(|home| home.join(".gnupg/S.gpg-agent")));
    paths
}

/// Whether `path` leads to a socket.
fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

/// What the doctor reads of the default profile.
struct DefaultPolicy {
    /// Its name, or why the configuration does not load.
    config: Result<String, FailureText>,
    /// The real paths of its writable roots (where a planted bwrap is
    /// ignored).
    writable: Vec<PathBuf>,
    /// Whether it runs the protected-name guard.
    guard_enabled: bool,
    /// The host Unix sockets it lists.
    unix_sockets: Vec<PathBuf>,
}

/// Host git's `safe.bareRepository` from its system and global
/// configuration: `git config --get` run in `/`, where no repository's own
/// configuration applies (git honours this key only in those anyway), by
/// a `git` outside the writable roots. The doctor may run git; a sandbox
/// start never does.
fn bare_repository_setting(
    path_var: &std::ffi::OsStr,
    writable: &[PathBuf],
) -> BareRepositorySetting {
    let Some(git) = find_trusted_program("git", path_var, writable) else {
        return BareRepositorySetting::NoGit;
    };
    let output = std::process::Command::new(git)
        .args(["-C", "/", "config", "--get", "safe.bareRepository"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => BareRepositorySetting::Value(Some(
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )),
        // 1: the key is not set.
        Ok(output) if output.status.code() == Some(1) => BareRepositorySetting::Value(None),
        _ => BareRepositorySetting::NoGit,
    }
}

/// The default profile for the current directory and configuration.
fn default_policy() -> DefaultPolicy {
    let policy = Environment::from_process()
        .map_err(|err| FailureText(format!("cannot read the current directory: {err}")))
        .and_then(|env| {
            build_policy(&SandboxArgs::default(), &env).map_err(|err| FailureText(err.to_string()))
        });
    match policy {
        Ok(policy) => {
            let writable = policy
                .sandbox
                .as_ref()
                .map(real_writable_roots)
                .unwrap_or_default();
            // A proxy profile also needs a route it can build: the same
            // check a run makes before anything starts.
            let route = policy
                .sandbox
                .as_ref()
                .map_or(Ok(None), |sandbox| {
                    proxy_plan(sandbox, &text_variables(), 0)
                })
                .map_err(|err| FailureText(err.to_string()));
            let sandbox = policy.sandbox.as_ref();
            DefaultPolicy {
                config: route.map(|_| policy.profile.to_string()),
                writable,
                guard_enabled: sandbox.is_some_and(|sandbox| sandbox.guard_protected_names),
                unix_sockets: sandbox
                    .map(|sandbox| {
                        sandbox
                            .unix_sockets
                            .iter()
                            .map(|socket| socket.path.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        }
        Err(err) => DefaultPolicy {
            config: Err(err),
            writable: Vec::new(),
            guard_enabled: false,
            unix_sockets: Vec::new(),
        },
    }
}

fn observe_bwrap(bwrap: &Bwrap) -> BwrapObservation {
    let failure = |result: Result<(), ProbeFailure>| {
        result.map_err(|ProbeFailure(message)| FailureText(message))
    };
    BwrapObservation {
        path: bwrap.display_path().to_path_buf(),
        version: bwrap_version(bwrap),
        argv0: supports_argv0(bwrap),
        namespaces: failure(probe_namespaces(bwrap)),
        proc_mount: failure(probe_proc_mount(bwrap)),
    }
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|name| name.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

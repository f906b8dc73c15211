//! Probes of the host and of the chosen bwrap: small real runs and file
//! reads whose results the pure checks in `codex_sandboxing` interpret.
//! None runs on a successful start except when a feature needs its answer,
//! and each runs at most once per process.

use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;

use codex_sandboxing::namespaces::{Container, NamespaceFacts};

use crate::host_memory;
use crate::launcher::Bwrap;

/// Why a bwrap probe failed: bwrap's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure(pub String);

/// Runs `bwrap --unshare-user --unshare-net --ro-bind / / -- true`: the
/// least the sandbox needs from the kernel.
pub fn probe_namespaces(bwrap: &Bwrap) -> Result<(), ProbeFailure> {
    run_probe(
        bwrap,
        &[
            "--unshare-user",
            "--unshare-net",
            "--ro-bind",
            "/",
            "/",
            "--",
            true_program(),
        ],
    )
}

/// `true` by its full path where the usual places have it, so a probe does
/// not depend on `PATH` (which may hold nothing at all); by name elsewhere.
pub fn true_program() -> &'static str {
    ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|path| Path::new(path).is_file())
        .unwrap_or("true")
}

/// Whether this process may create a user namespace, asked of the kernel
/// in a short-lived child (`unshare(CLONE_NEWUSER)`): the reason when not.
/// Far cheaper than a bwrap run (a fork), so a start in a container can ask
/// it before launching, and refuse with the real blocker first; a setuid
/// bwrap needs no such permission, so its caller must not ask then.
pub fn may_create_user_namespace() -> Result<(), String> {
    // SAFETY: the child calls only unshare and _exit, both async-signal-safe.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(errno) => errno as i32,
            };
            // SAFETY: _exit ends the child without running this process's
            // exit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(nix::sys::wait::WaitStatus::Exited(_, errno)) => Err(format!(
                    "creating a user namespace: {}",
                    nix::errno::Errno::from_raw(errno).desc()
                )),
                // Unknown: let bwrap answer for itself.
                _ => Ok(()),
            }
        }
        Err(_) => Ok(()),
    }
}

/// Runs a bwrap that also mounts a fresh `/proc` in a new pid namespace.
pub fn probe_proc_mount(bwrap: &Bwrap) -> Result<(), ProbeFailure> {
    run_probe(
        bwrap,
        &[
            "--unshare-user",
            "--unshare-pid",
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--",
            true_program(),
        ],
    )
}

/// `bwrap --version`'s answer (`bubblewrap 0.8.0`), if any.
pub fn bwrap_version(bwrap: &Bwrap) -> Option<String> {
    let output = bwrap
        .command()
        .ok()?
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// Whether this bwrap knows `--argv0` (bubblewrap 0.9 and later):
/// `--argv0 x --version` prints the version where the option exists and
/// fails with "Unknown option" where it does not. The bundled bwrap is
/// pinned at a version that has it; a system bwrap is asked once per
/// binary, the answer kept between runs ([`crate::host_memory`]), and once
/// per process in any case.
pub fn supports_argv0(bwrap: &Bwrap) -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| match bwrap {
        Bwrap::Bundled(_) => true,
        Bwrap::System(path) => {
            let key = host_memory::file_key(path);
            let known = key
                .as_deref()
                .and_then(|key| host_memory::load(host_memory::ARGV0_FILE, key));
            match known.as_deref() {
                Some("yes") => true,
                Some("no") => false,
                _ => {
                    let answer = ask_argv0(bwrap);
                    if let Some(key) = &key {
                        let value = if answer { "yes" } else { "no" };
                        host_memory::store(host_memory::ARGV0_FILE, key, value);
                    }
                    answer
                }
            }
        }
    })
}

/// Runs the `--argv0` question.
fn ask_argv0(bwrap: &Bwrap) -> bool {
    bwrap.command().is_ok_and(|mut command| {
        command
            .args(["--argv0", "codex-probe", "--version"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// The sysctls and container markers that decide whether user namespaces
/// work here.
pub fn namespace_facts() -> NamespaceFacts {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let container = Container::detect(
        Path::new("/.dockerenv").exists(),
        Path::new("/run/.containerenv").exists(),
        &read("/proc/1/cgroup").unwrap_or_default(),
    );
    let root = nix::unistd::getuid().is_root();
    NamespaceFacts::from_sysctls(
        read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref(),
        read("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
        read("/proc/sys/user/max_user_namespaces").as_deref(),
        container,
        root,
    )
}

fn run_probe(bwrap: &Bwrap, args: &[&str]) -> Result<(), ProbeFailure> {
    let output = bwrap
        .command()
        .and_then(|mut command| {
            command
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
        })
        .map_err(|err| ProbeFailure(format!("cannot run bwrap: {err}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ProbeFailure(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// Why the kernel offers no Landlock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoLandlock {
    /// The kernel is built without it.
    #[error("the kernel is built without Landlock (ENOSYS)")]
    NotBuilt,
    /// It is built but not enabled.
    #[error(
        "Landlock is disabled at boot (EOPNOTSUPP); add `landlock` to the lsm= kernel parameter"
    )]
    Disabled,
    /// Another error.
    #[error("cannot ask the kernel for its Landlock ABI: {0}")]
    Other(String),
}

/// The Landlock ABI version the kernel offers, for showing it (`--explain`,
/// `doctor`): whether a ruleset can be enforced is the landlock crate's
/// call ([`crate::landlock::check_kernel`]).
///
/// Asked with the raw system call: the crate tells the ABI only after a
/// ruleset has been enforced.
pub fn landlock_abi() -> Result<u32, NoLandlock> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag,
    // the call only returns the ABI version (or an error); it touches no
    // memory of ours.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi >= 0 {
        return u32::try_from(abi).map_err(|_| NoLandlock::Other(format!("unexpected ABI {abi}")));
    }
    let err = std::io::Error::last_os_error();
    Err(match err.raw_os_error() {
        Some(libc::ENOSYS) => NoLandlock::NotBuilt,
        Some(libc::EOPNOTSUPP) => NoLandlock::Disabled,
        _ => NoLandlock::Other(err.to_string()),
    })
}

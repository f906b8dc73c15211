//! Everything a start reads from the host, read in one place and before
//! anything is decided: the command's path, the environment, `/proc`,
//! WSL, the bwrap to run and what it supports, the real writable roots,
//! the start-up scan, the Landlock ABI. [`crate::decide`] turns these facts
//! and the policy into the plan without reading anything more, so every
//! decision is a unit test on a fixture of [`HostFacts`].

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use codex_sandboxing::cli::SandboxArgs;
use codex_sandboxing::host::{
    Wsl, bubblewrap_install_hint, detect_wsl, proc_mount_expected_to_work,
};
use codex_sandboxing::namespaces::{NamespaceDiagnosis, diagnose_namespace_refusal};
use codex_sandboxing::{Access, EffectivePolicy, NetworkMode, SandboxPolicy};

use crate::bundled::COMPILED_IN_DIGEST;
use crate::error::SandboxError;
use crate::fs_view::{FsView, HostFs};
use crate::landlock::{LandlockError, LandlockKernel, check_kernel};
use crate::launcher::{Bwrap, LauncherError, bundled_path_of_current_exe, choose_bwrap};
use crate::locate::{CommandError, find_command};
use crate::plan::real_path::{RealKind, real_path};
use crate::probe::{may_create_user_namespace, namespace_facts, supports_argv0};
use crate::protocol::COMMAND_ARGS_ON_BWRAPS_LINE;
use crate::scan::{ScanReport, ScanRequest, scan};

/// What a start knows about the host.
pub struct HostFacts<'a> {
    /// The command, resolved as `execvp` will resolve it.
    pub command: Result<PathBuf, CommandError>,
    /// The variables of this process's environment that are text (proxy
    /// variables and the ones a proxy route extends are read from here).
    pub variables: BTreeMap<String, String>,
    /// What the backend the policy needs reads.
    pub backend: BackendFacts<'a>,
}

/// The facts of the backend a policy runs on.
pub enum BackendFacts<'a> {
    /// No sandbox (`:danger-full-access`): nothing more is read.
    Direct,
    /// The legacy Landlock pipeline (`features.use_legacy_landlock`).
    Landlock(LandlockFacts<'a>),
    /// The bubblewrap pipeline.
    Bwrap(BwrapFacts<'a>),
}

/// What the legacy Landlock pipeline needs to know.
pub struct LandlockFacts<'a> {
    /// The filesystem, as the ruleset is planned over it.
    pub fs: &'a dyn FsView,
    /// Whether this is WSL, and which.
    pub wsl: Wsl,
    /// What the kernel's Landlock offers.
    pub kernel: Result<LandlockKernel, LandlockError>,
}

/// What the bubblewrap pipeline needs to know.
pub struct BwrapFacts<'a> {
    /// The filesystem, as the mounts are planned over it.
    pub fs: &'a dyn FsView,
    /// Whether this is WSL, and which.
    pub wsl: Wsl,
    /// Whether the sandbox can have its own `/proc`.
    pub proc: ProcFacts,
    /// The bwrap to run, or why there is none.
    pub bwrap: Result<Bwrap, LauncherError>,
    /// Whether that bwrap knows `--argv0`; asked only when the inner
    /// stage will run (false otherwise).
    pub argv0: bool,
    /// The command that installs bubblewrap here, for a missing bwrap.
    pub install_hint: &'static str,
    /// What the start-up scan found.
    pub scan: ScanReport,
    /// This executable's real path, for an inner stage run by path.
    pub current_exe: std::io::Result<PathBuf>,
    /// The port the built-in proxy answers on inside the sandbox.
    pub builtin_proxy_port: u16,
    /// The listed host Unix sockets that give the command the host: a
    /// container engine's, or one owned by root when this user is not.
    pub privileged_unix_sockets: Vec<PathBuf>,
    /// Why this process may not create a user namespace, and the fix;
    /// asked only in a container whose `/proc` is masked (where it is often
    /// so) or with `--no-proc` (which such containers want), and never of
    /// a setuid bwrap.
    pub user_namespace_refused: Option<Box<NamespaceDiagnosis>>,
}

/// Whether the sandbox can mount its own `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcFacts {
    /// Nothing speaks against it.
    Mountable,
    /// `--no-proc`: the user said not to.
    NotAsked,
    /// This mount namespace has mounts over parts of `/proc` (a
    /// container), which makes the kernel refuse a fresh one.
    ExpectedToFail,
    /// bwrap was refused the mount at launch.
    RefusedAtLaunch,
}

impl<'a> HostFacts<'a> {
    /// Reads what running `policy` with `args` needs, through `fs` for
    /// the planner's view of the filesystem. Fails only where nothing
    /// could be decided without the fact (the scan).
    pub fn observe(
        policy: &EffectivePolicy,
        args: &SandboxArgs,
        process_cwd: &Path,
        fs: &'a dyn FsView,
    ) -> Result<Self, SandboxError> {
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        let variables = text_variables();
        // Looked up where execvp will look: the command's own PATH.
        let command_in = |cwd: &Path| match args.command.first() {
            Some(name) => find_command(name, policy.environment.search_path(), cwd),
            None => Err(CommandError::NotFound(String::new())),
        };
        let Some(sandbox) = &policy.sandbox else {
            return Ok(HostFacts {
                command: command_in(process_cwd),
                variables,
                backend: BackendFacts::Direct,
            });
        };
        let wsl = detect_wsl(&read_or_empty("/proc/version"));
        let backend = if sandbox.legacy_landlock {
            BackendFacts::Landlock(LandlockFacts {
                fs,
                wsl,
                kernel: check_kernel(),
            })
        } else {
            BackendFacts::Bwrap(observe_bwrap_host(sandbox, args, &path_var, fs, wsl)?)
        };
        Ok(HostFacts {
            command: command_in(&sandbox.cwd),
            variables,
            backend,
        })
    }
}

fn observe_bwrap_host<'a>(
    sandbox: &SandboxPolicy,
    args: &SandboxArgs,
    path_var: &OsStr,
    fs: &'a dyn FsView,
    wsl: Wsl,
) -> Result<BwrapFacts<'a>, SandboxError> {
    let proc = if args.no_proc {
        ProcFacts::NotAsked
    } else if proc_mount_expected_to_work(&read_or_empty("/proc/self/mountinfo")) {
        ProcFacts::Mountable
    } else {
        ProcFacts::ExpectedToFail
    };
    let writable = real_writable_roots(sandbox);
    let request = ScanRequest::for_policy(sandbox);
    tracing::debug!(?request, "scanning");
    let scan = scan(&request)?;
    tracing::debug!(
        matches = scan.matches.len(),
        protected = scan.protected.len(),
        skipped = ?scan.skipped,
        "scan done"
    );
    let bwrap = choose_bwrap(
        path_var,
        &writable,
        bundled_path_of_current_exe,
        COMPILED_IN_DIGEST,
    );
    let argv0 =
        runs_inner_stage(sandbox, &args.command) && bwrap.as_ref().is_ok_and(supports_argv0);
    let install_hint = match &bwrap {
        Ok(Bwrap::System(_)) => "",
        _ => bubblewrap_install_hint(&read_or_empty("/etc/os-release")),
    };
    let current_exe = std::env::current_exe().and_then(std::fs::canonicalize);
    let user_namespace_refused = match &bwrap {
        Ok(bwrap)
            if matches!(proc, ProcFacts::ExpectedToFail | ProcFacts::NotAsked)
                && !is_setuid(bwrap.display_path()) =>
        {
            may_create_user_namespace().err().map(|message| {
                Box::new(diagnose_namespace_refusal(
                    "the kernel",
                    &message,
                    &namespace_facts(),
                ))
            })
        }
        _ => None,
    };
    Ok(BwrapFacts {
        fs,
        wsl,
        proc,
        bwrap,
        argv0,
        install_hint,
        scan,
        current_exe,
        builtin_proxy_port: builtin_proxy_port(),
        privileged_unix_sockets: sandbox
            .unix_sockets
            .iter()
            .map(|socket| socket.path.clone())
            .filter(|path| gives_the_host(path))
            .collect(),
        user_namespace_refused,
    })
}

/// Whether the file at `path` is set-user-ID.
fn is_setuid(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & libc::S_ISUID != 0)
}

/// Sockets of container engines, whose clients can start a privileged
/// container: the host's root.
const ENGINE_SOCKETS: [&str; 3] = ["docker.sock", "podman.sock", "containerd.sock"];

/// Whether the socket at `path` gives whoever connects the host: a
/// container engine's, or one whose file root owns while this user is not
/// root (its server most likely runs as root).
pub fn gives_the_host(path: &Path) -> bool {
    let engine = path
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| ENGINE_SOCKETS.contains(&name));
    let root_owned =
        std::fs::metadata(path).is_ok_and(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0);
    engine || (root_owned && !nix::unistd::geteuid().is_root())
}

/// Whether the bubblewrap pipeline runs this binary's inner stage for
/// `sandbox`: for the guard, which supervises the command from there; in
/// network mode proxy, whose listeners are opened inside the sandbox's
/// network namespace; with the network enabled, or host Unix sockets
/// listed, where it supervises connects to them; with `features.inner_stage`; and for a command
/// too long for bwrap's command line.
pub fn runs_inner_stage(sandbox: &SandboxPolicy, command: &[OsString]) -> bool {
    sandbox.inner_stage
        || sandbox.network != NetworkMode::Restricted
        || !sandbox.unix_sockets.is_empty()
        || sandbox.guard_protected_names
        || command_through_fd(command)
}

/// Whether `command` is too long for bwrap's own command line, so that it
/// reaches the inner stage through a descriptor.
pub fn command_through_fd(command: &[OsString]) -> bool {
    command.len() > COMMAND_ARGS_ON_BWRAPS_LINE
}

/// Real paths of the policy's write rules: a tool found below one of them
/// could have been planted by an earlier sandboxed command. None when the
/// policy writes `/` itself (`:danger-full-access` under the managed
/// proxy): every `PATH` entry is inside it, and a command that may write
/// anywhere the user may could change the user's configuration as well,
/// so tools are trusted as an unsandboxed run trusts them.
pub fn real_writable_roots(policy: &SandboxPolicy) -> Vec<PathBuf> {
    if policy.access_for(Path::new("/")) == Access::Write {
        return Vec::new();
    }
    policy
        .writable_roots()
        .filter_map(|root| real_path(&HostFs, root).ok())
        .filter(|real| !matches!(real.kind, RealKind::Missing { .. }))
        .map(|real| real.path)
        .collect()
}

/// The port the built-in proxy answers on inside the sandbox: any free one
/// there will do, since it is the sandbox's own loopback; a random one in
/// the ephemeral range keeps it out of the way of a server the command
/// may start itself.
fn builtin_proxy_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    const FIRST: u16 = 32768;
    const COUNT: u64 = 28232; // 32768..=60999, Linux's default ephemeral range
    FIRST + u16::try_from(random % COUNT).unwrap_or(0)
}

/// The variables of this process's environment whose name and value are
/// text.
pub fn text_variables() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

/// The text of `path`, or nothing when it cannot be read.
pub fn read_or_empty(path: impl AsRef<OsStr>) -> String {
    std::fs::read_to_string(Path::new(path.as_ref())).unwrap_or_default()
}

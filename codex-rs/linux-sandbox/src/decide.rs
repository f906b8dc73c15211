//! The decision: a policy and the host's facts become the plan of one start
//! ([`LaunchPlan`]): which pipeline, which mounts, which bwrap and stage,
//! which proxy route and variables, which warnings, and what (if anything)
//! stops it from running. Pure: everything it knows comes from
//! [`HostFacts`], so each decision with a security edge is a unit test.
//! `--explain` renders the plan and [`crate::execute`] runs it; both read
//! the bwrap argv from [`BwrapLaunch::argv`], so they cannot diverge.
//!
//! So does the retry after a failed start ([`retry`]): a pure function of
//! the first start's failure and the facts, which is a plan without
//! `/proc` or the reason there is none.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use codex_sandboxing::environment::CommandEnvironment;
use codex_sandboxing::host::Wsl;
use codex_sandboxing::namespaces::{NamespaceFacts, diagnose_namespace_failure};
use codex_sandboxing::proxy::domains::DomainPolicy;
use codex_sandboxing::proxy::env::{proxy_environment, redact_credentials};
use codex_sandboxing::proxy::{ProxyRoutes, builtin_routes, first_proxy_variable, proxy_routes};
use codex_sandboxing::{Access, EffectivePolicy, NetworkMode, SandboxPolicy};

use crate::error::SandboxError;
use crate::host_facts::{
    BackendFacts, BwrapFacts, HostFacts, LandlockFacts, ProcFacts, command_through_fd,
    runs_inner_stage,
};
use crate::landlock::{
    LandlockError, LandlockGrants, LandlockKernel, LegacyGuard, landlock_grants,
};
use crate::launcher::{Bwrap, LauncherError};
use crate::plan::{MountPlan, Outcome, ProcMode, kept_by_the_guard, plan};
use crate::probe::ProbeFailure;
use crate::protocol::Arg;
use crate::proxy::routes::{ListenRoute, ListenSpec, listen_routes};
use crate::render::{HelperExec, Stage, bwrap_args};
use crate::scan::ScanReport;
use crate::seccomp::{ListedSockets, build_filter, program_bytes};

/// Everything one start does, decided before anything runs.
#[derive(Debug)]
pub struct LaunchPlan<'f> {
    /// What runs the command.
    pub launch: Launch<'f>,
    /// What weakens this run or is worth knowing, printed before it.
    pub warnings: Vec<Warning>,
    /// Why running this plan would be refused, although it can be shown
    /// (no usable bwrap, no such command, a kernel without Landlock).
    pub blocked: Option<SandboxError>,
}

/// The pipeline that runs the command.
#[derive(Debug)]
pub enum Launch<'f> {
    /// No sandbox (`:danger-full-access`): this process becomes the command.
    Direct {
        /// The command and its arguments.
        command: Vec<OsString>,
        /// Its environment.
        env: CommandEnvironment,
        /// The directory it runs in (`-C`).
        cwd: PathBuf,
    },
    /// The legacy Landlock pipeline: this process restricts itself and
    /// becomes the command.
    Landlock(LandlockLaunch<'f>),
    /// bwrap, with seccomp installed by bwrap or by the inner stage.
    Bwrap(Box<BwrapLaunch<'f>>),
}

/// A start under the legacy Landlock pipeline.
#[derive(Debug)]
pub struct LandlockLaunch<'f> {
    /// What the ruleset grants.
    pub grants: LandlockGrants,
    /// What the kernel offers, or why it cannot enforce the policy.
    pub kernel: &'f Result<LandlockKernel, LandlockError>,
    /// The seccomp filter's network mode.
    pub network: NetworkMode,
    /// Where the command runs.
    pub cwd: PathBuf,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// Its environment.
    pub env: CommandEnvironment,
    /// What `codex`, supervising the command, keeps besides Landlock.
    pub guard: LegacyGuard,
}

/// A start under bwrap.
#[derive(Debug)]
pub struct BwrapLaunch<'f> {
    /// The bwrap to run; `None` when there is none (the plan is blocked).
    pub bwrap: Option<&'f Bwrap>,
    /// The mounts.
    pub mounts: MountPlan,
    /// What the start-up scan found, which the mounts are made from.
    pub scan: &'f ScanReport,
    /// Who installs `no_new_privs` and seccomp.
    pub stage: StagePlan,
    /// The proxy route, in network mode proxy.
    pub proxy: Option<ProxyPlan>,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// Its environment, without the proxy's variables.
    pub env: CommandEnvironment,
}

/// Who installs `no_new_privs` and the seccomp filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagePlan {
    /// bwrap, reading the compiled filter from a descriptor.
    Bwrap {
        /// The filter as bwrap's `--seccomp` reads it.
        filter: Vec<u8>,
    },
    /// This binary's inner stage, exec'd by bwrap.
    Inner {
        /// How bwrap finds it.
        helper: HelperExec,
        /// Whether bwrap names it with `--argv0`.
        argv0: bool,
        /// Whether the command reaches it through [`Descriptor::Command`]
        /// (too long for bwrap's command line).
        command_fd: bool,
    },
}

/// The proxy route of a start in network mode proxy.
#[derive(Debug, Clone)]
pub struct ProxyPlan {
    /// The listeners the inner stage opens, in order.
    pub routes: Vec<ListenRoute>,
    /// Where their connections go.
    pub upstream: Upstream,
    /// The variables the command gets (through bwrap's environment, never
    /// its argv).
    pub env: Vec<(String, String)>,
}

/// Where proxy-routed connections go.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// To the same address on the host: the loopback proxy the
    /// environment names.
    Host,
    /// To the built-in proxy, enforcing these domain rules.
    Builtin(DomainPolicy),
}

/// A warning printed before the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The sandbox runs without its own `/proc`.
    NoProc,
    /// The bundled bwrap runs, since no system one was found.
    BundledBwrap {
        /// Its path.
        path: PathBuf,
        /// How to install the distribution's bubblewrap.
        install_hint: &'static str,
    },
    /// bwrap cannot name the inner stage.
    NoArgv0 {
        /// The bwrap.
        bwrap: PathBuf,
    },
    /// The built-in proxy connects directly, although the environment
    /// names a proxy.
    HostProxyNotUsed {
        /// The first proxy variable set, as `NAME=value`.
        variable: String,
    },
    /// A listed host Unix socket gives the command the host.
    PrivilegedUnixSocket {
        /// Its path.
        path: PathBuf,
    },
}

impl Warning {
    /// For a notice that is only informational (nothing is weaker than
    /// asked), the key under which it is said once per host and version
    /// ([`crate::host_memory::NOTICES_FILE`]); `None` for a warning said
    /// on every run. Every notice is also in `doctor`'s report or in the
    /// plan `--explain` prints.
    pub fn notice_key(&self) -> Option<String> {
        let version = env!("CARGO_PKG_VERSION");
        let file = |path: &std::path::Path| {
            crate::host_memory::file_key(path).unwrap_or_else(|| path.display().to_string())
        };
        Some(match self {
            Warning::NoProc => format!("no-proc\t{version}"),
            Warning::BundledBwrap { path, .. } => {
                format!("bundled-bwrap\t{version}\t{}", file(path))
            }
            Warning::NoArgv0 { bwrap } => format!("no-argv0\t{version}\t{}", file(bwrap)),
            Warning::HostProxyNotUsed { variable } => {
                format!("host-proxy-not-used\t{version}\t{variable}")
            }
            Warning::PrivilegedUnixSocket { .. } => return None,
        })
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NoProc => f.write_str(
                "this host does not allow mounting a fresh /proc in the sandbox (usual inside \
                 containers); the command sees an empty /proc. Pass --no-proc to skip this check.",
            ),
            Warning::BundledBwrap { path, install_hint } => write!(
                f,
                "no bwrap on PATH (outside the writable roots); using the bundled {}. \
                 Install your distribution's bubblewrap for one it keeps patched: {install_hint}",
                path.display()
            ),
            Warning::NoArgv0 { bwrap } => write!(
                f,
                "{} is too old for --argv0 (bubblewrap 0.9 or later has it); the inner stage \
                 still runs, named by its path instead of codex-linux-sandbox",
                bwrap.display()
            ),
            Warning::HostProxyNotUsed { variable } => write!(
                f,
                "{} is set, but the built-in proxy connects directly, as Codex's does; if this \
                 machine reaches the internet only through that proxy, requests will fail (502)",
                redact_credentials(variable)
            ),
            Warning::PrivilegedUnixSocket { path } => write!(
                f,
                "network.unix_sockets allows {}, whose server runs as root or starts containers: \
                 the command can take over the host through it",
                path.display()
            ),
        }
    }
}

impl BwrapLaunch<'_> {
    /// bwrap's argv after its program name, descriptors unnumbered: what
    /// `--explain` shows and, numbered, what runs.
    pub fn argv(&self) -> Vec<Arg> {
        let listen: Vec<ListenSpec> = self
            .proxy
            .iter()
            .flat_map(|proxy| proxy.routes.iter().map(ListenSpec::of))
            .collect();
        let stage = match &self.stage {
            StagePlan::Bwrap { .. } => Stage::Bwrap,
            StagePlan::Inner {
                helper,
                argv0,
                command_fd,
            } => Stage::Inner {
                helper,
                argv0: *argv0,
                proxy_listen: self.proxy.as_ref().map(|_| &listen[..]),
                command_through_fd: *command_fd,
            },
        };
        bwrap_args(&self.mounts, &stage, &self.command)
    }
}

/// Decides how to run `command` under `policy` on the host `facts` describe.
/// An error is a refusal that even `--explain` reports.
pub fn decide<'f>(
    policy: &EffectivePolicy,
    facts: &'f HostFacts<'_>,
    command: &[OsString],
) -> Result<LaunchPlan<'f>, SandboxError> {
    match (&policy.sandbox, &facts.backend) {
        (None, BackendFacts::Direct) => Ok(LaunchPlan {
            launch: Launch::Direct {
                command: command.to_vec(),
                env: policy.environment.clone(),
                cwd: policy.cwd.clone(),
            },
            warnings: Vec::new(),
            blocked: facts.command.clone().err().map(SandboxError::from),
        }),
        (Some(sandbox), BackendFacts::Landlock(landlock)) => {
            decide_landlock(sandbox, landlock, facts, command, &policy.environment)
        }
        (Some(sandbox), BackendFacts::Bwrap(bwrap)) => {
            decide_bwrap(sandbox, bwrap, facts, command, &policy.environment)
        }
        _ => Err(SandboxError::Internal(
            "the host facts were observed for another pipeline".into(),
        )),
    }
}

fn decide_landlock<'f>(
    sandbox: &SandboxPolicy,
    landlock: &'f LandlockFacts<'_>,
    facts: &HostFacts<'_>,
    command: &[OsString],
    env: &CommandEnvironment,
) -> Result<LaunchPlan<'f>, SandboxError> {
    refuse_wsl1(landlock.wsl)?;
    let grants = landlock_grants(sandbox, landlock.fs)?;
    let (roots, kept) = kept_by_the_guard(sandbox, landlock.fs)?;
    let guard = LegacyGuard {
        roots,
        kept,
        close_unix_sockets: sandbox.network == NetworkMode::Enabled,
        allowed_unix_sockets: sandbox
            .unix_sockets
            .iter()
            .map(|socket| socket.path.clone())
            .collect(),
    };
    let blocked = match &landlock.kernel {
        Err(LandlockError::Kernel(reason)) => Some(SandboxError::Landlock(LandlockError::Kernel(
            reason.clone(),
        ))),
        Err(other) => Some(SandboxError::Internal(other.to_string())),
        Ok(_) => facts.command.clone().err().map(SandboxError::from),
    };
    Ok(LaunchPlan {
        launch: Launch::Landlock(LandlockLaunch {
            grants,
            kernel: &landlock.kernel,
            network: sandbox.network,
            cwd: sandbox.cwd.clone(),
            command: command.to_vec(),
            env: env.clone(),
            guard,
        }),
        warnings: Vec::new(),
        blocked,
    })
}

fn decide_bwrap<'f>(
    sandbox: &SandboxPolicy,
    host: &'f BwrapFacts<'_>,
    facts: &HostFacts<'_>,
    command: &[OsString],
    env: &CommandEnvironment,
) -> Result<LaunchPlan<'f>, SandboxError> {
    refuse_wsl1(host.wsl)?;
    if let (Some(diagnosis), Ok(bwrap)) = (&host.user_namespace_refused, &host.bwrap) {
        return Err(SandboxError::Namespaces {
            bwrap: bwrap.display_path().to_path_buf(),
            cause: diagnosis.cause.clone(),
            fix: diagnosis.fix.clone(),
        });
    }
    let proxy = proxy_plan(sandbox, &facts.variables, host.builtin_proxy_port)?;
    let mut warnings = Vec::new();
    if let Some(ProxyPlan {
        upstream: Upstream::Builtin(_),
        ..
    }) = &proxy
        && let Some(variable) = first_proxy_variable(|name| facts.variables.get(name).cloned())
    {
        warnings.push(Warning::HostProxyNotUsed { variable });
    }
    let proc = match host.proc {
        ProcFacts::Mountable => ProcMode::Mount,
        ProcFacts::NotAsked => ProcMode::Skip,
        ProcFacts::ExpectedToFail | ProcFacts::RefusedAtLaunch => {
            warnings.push(Warning::NoProc);
            ProcMode::Skip
        }
    };
    let mounts = plan(sandbox, &host.scan, proc, host.fs)?;
    tracing::debug!(?mounts, "mount plan");
    warnings.extend(
        host.privileged_unix_sockets
            .iter()
            .map(|path| Warning::PrivilegedUnixSocket { path: path.clone() }),
    );
    refuse_writable_self(&mounts, &host.current_exe)?;
    for rule in &mounts.rules {
        if rule.outcome == Outcome::MissingSkipped && rule.access == Access::Write {
            tracing::debug!(path = %rule.path.display(), origin = %rule.origin, "write rule on a missing path: not created");
        }
    }
    let stage = if runs_inner_stage(sandbox, command) {
        StagePlan::Inner {
            helper: inner_stage_helper(&mounts, &host.current_exe)?,
            argv0: host.argv0,
            command_fd: command_through_fd(command),
        }
    } else {
        StagePlan::Bwrap {
            filter: program_bytes(&build_filter(mounts.network, ListedSockets::None)?),
        }
    };
    let bwrap = host.bwrap.as_ref().ok();
    match bwrap {
        Some(Bwrap::Bundled(bundled)) => warnings.push(Warning::BundledBwrap {
            path: bundled.path().to_path_buf(),
            install_hint: host.install_hint,
        }),
        Some(bwrap @ Bwrap::System(_))
            if matches!(stage, StagePlan::Inner { argv0: false, .. }) =>
        {
            warnings.push(Warning::NoArgv0 {
                bwrap: bwrap.display_path().to_path_buf(),
            });
        }
        _ => {}
    }
    let blocked = match &host.bwrap {
        Err(LauncherError::Bundled(err)) => Some(SandboxError::BundledBwrap(err.clone())),
        Err(reason @ LauncherError::NoBwrap { .. }) => Some(SandboxError::BwrapMissing {
            reason: reason.clone(),
            hint: host.install_hint,
        }),
        Ok(_) => facts.command.clone().err().map(SandboxError::from),
    };
    Ok(LaunchPlan {
        launch: Launch::Bwrap(Box::new(BwrapLaunch {
            bwrap,
            mounts,
            scan: &host.scan,
            stage,
            proxy,
            command: command.to_vec(),
            env: env.clone(),
        })),
        warnings,
        blocked,
    })
}

/// WSL1 has no namespaces; refused before anything is tried.
fn refuse_wsl1(wsl: Wsl) -> Result<(), SandboxError> {
    match wsl {
        Wsl::Wsl1 => Err(SandboxError::Wsl1),
        Wsl::No | Wsl::Wsl2 => Ok(()),
    }
}

/// In network mode proxy, where connections go: the built-in proxy when
/// the policy has its rules, else the loopback proxy the environment
/// names. A route that cannot be built is refused. The built-in proxy
/// connects directly, as Codex's does: a proxy the environment names is
/// not used (a warning says so).
pub fn proxy_plan(
    sandbox: &SandboxPolicy,
    variables: &BTreeMap<String, String>,
    builtin_port: u16,
) -> Result<Option<ProxyPlan>, SandboxError> {
    if sandbox.network != NetworkMode::Proxy {
        return Ok(None);
    }
    let lookup = |name: &str| variables.get(name).cloned();
    let (routes, upstream): (ProxyRoutes, Upstream) = match &sandbox.domains {
        Some(domains) => {
            let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, builtin_port));
            (builtin_routes(listen), Upstream::Builtin(domains.clone()))
        }
        None => (proxy_routes(lookup)?, Upstream::Host),
    };
    let mut env = proxy_environment(&routes, lookup);
    if let Upstream::Builtin(rules) = &upstream {
        // The markers Codex's managed proxy sets, which tools read.
        env.push(("CODEX_NETWORK_PROXY_ACTIVE".into(), "1".into()));
        env.push((
            "CODEX_NETWORK_ALLOW_LOCAL_BINDING".into(),
            if rules.allow_local_addresses {
                "1"
            } else {
                "0"
            }
            .into(),
        ));
    }
    Ok(Some(ProxyPlan {
        routes: listen_routes(&routes),
        upstream,
        env,
    }))
}

/// Refuses a start whose `codex` (at its real path `current_exe`), or the
/// `codex-resources` directory beside it, lies in a writable root of
/// `mounts`: what the command writes there would run unsandboxed next
/// time. Unknown, it is refused too. A profile that writes `/` itself
/// gives the command every file of the machine on purpose, this one
/// included, and is not refused for it.
fn refuse_writable_self(
    mounts: &MountPlan,
    current_exe: &std::io::Result<PathBuf>,
) -> Result<(), SandboxError> {
    let exe = current_exe
        .as_ref()
        .map_err(|err| SandboxError::HelperNotFound(err.to_string()))?;
    let resources = crate::bundled::bundled_path_for(exe)
        .and_then(|bwrap| bwrap.parent().map(Path::to_path_buf));
    for path in std::iter::once(exe).chain(resources.as_ref()) {
        if let Some(root) = mounts
            .guard_roots
            .iter()
            .find(|root| root.path != Path::new("/") && path.starts_with(&root.path))
        {
            return Err(SandboxError::SelfWritable {
                path: path.clone(),
                root: root.path.clone(),
            });
        }
    }
    Ok(())
}

/// How bwrap is to find this binary for the inner stage under `mounts`:
/// through a descriptor where the sandbox has its own `/proc`, else by its
/// real path, which the mounts must then leave visible.
fn inner_stage_helper(
    mounts: &MountPlan,
    current_exe: &std::io::Result<PathBuf>,
) -> Result<HelperExec, SandboxError> {
    if mounts.proc == ProcMode::Mount {
        return Ok(HelperExec::Descriptor);
    }
    let exe = current_exe
        .as_ref()
        .map_err(|err| SandboxError::HelperNotFound(err.to_string()))?;
    let hidden_by = match mounts.deciding_rule(exe) {
        Some(rule) if rule.access != Access::None => return Ok(HelperExec::Path(exe.clone())),
        Some(rule) => format!("hidden by {}", rule.origin),
        None => "no rule makes it readable".to_owned(),
    };
    Err(SandboxError::HelperHidden {
        exe: exe.clone(),
        hidden_by,
    })
}

/// How a bwrap start failed before the command, as probed afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupFailure {
    /// The bwrap that failed.
    pub bwrap: PathBuf,
    /// Its exit status.
    pub code: i32,
    /// Whether the start mounted `/proc`.
    pub proc: ProcMode,
    /// bwrap's message when it cannot create namespaces at all.
    pub namespaces: Result<(), ProbeFailure>,
    /// Whether bwrap is refused a fresh `/proc` here.
    pub proc_refused: bool,
    /// The settings that decide whether user namespaces work.
    pub namespace_facts: NamespaceFacts,
}

impl From<SetupFailure> for SandboxError {
    /// The refusal of a start that failed for a reason bwrap has printed.
    fn from(failure: SetupFailure) -> Self {
        SandboxError::BwrapFailed {
            bwrap: failure.bwrap,
            code: failure.code,
        }
    }
}

/// What follows a start that failed before the command: the reason, when
/// bwrap cannot create namespaces or failed for another reason than a
/// refused `/proc`; else, once, the plan without `/proc` (with its
/// warning, or the guard's refusal).
pub fn retry<'f>(
    policy: &EffectivePolicy,
    facts: &'f mut HostFacts<'_>,
    failure: &SetupFailure,
    command: &[OsString],
) -> Result<LaunchPlan<'f>, SandboxError> {
    if let Err(ProbeFailure(message)) = &failure.namespaces {
        let diagnosis = diagnose_namespace_failure(message, &failure.namespace_facts);
        return Err(SandboxError::Namespaces {
            bwrap: failure.bwrap.clone(),
            cause: diagnosis.cause,
            fix: diagnosis.fix,
        });
    }
    let bwrap_failed = || SandboxError::from(failure.clone());
    if failure.proc == ProcMode::Skip || !failure.proc_refused {
        return Err(bwrap_failed());
    }
    match &mut facts.backend {
        BackendFacts::Bwrap(host) => host.proc = ProcFacts::RefusedAtLaunch,
        BackendFacts::Direct | BackendFacts::Landlock(_) => return Err(bwrap_failed()),
    }
    decide(policy, facts, command)
}

#[cfg(test)]
mod tests;

//! The entry point shared by `codex sandbox` and `codex-linux-sandbox`:
//! options and environment in, exit status out. The order of checks is
//! what makes the sandbox fail closed: everything that can refuse does so
//! before the command is started.

use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use codex_sandboxing::cli::SandboxArgs;
use codex_sandboxing::host::{
    Wsl, bubblewrap_install_hint, detect_wsl, proc_mount_expected_to_work,
};
use codex_sandboxing::namespaces::diagnose_namespace_failure;
use codex_sandboxing::proxy::domains::DomainPolicy;
use codex_sandboxing::proxy::env::proxy_environment;
use codex_sandboxing::proxy::{ProxyRoutes, builtin_routes, first_proxy_variable, proxy_routes};
use codex_sandboxing::request::{Environment, build_policy};
use codex_sandboxing::{Access, EffectivePolicy, NetworkMode, SandboxPolicy};

use crate::bundled::COMPILED_IN_DIGEST;
use crate::error::SandboxError;
use crate::explain::{explain_landlock, explain_sandboxed, explain_unsandboxed};
use crate::fd::close_inherited_on_exec;
use crate::fs_view::HostFs;
use crate::landlock::{check_kernel, exec_under_landlock, landlock_grants};
use crate::launch::{InnerHelper, LaunchOutcome, Pipeline, ProxyLaunch, launch};
use crate::launcher::{Bwrap, LauncherError, bundled_path_of_current_exe, choose_bwrap};
use crate::locate::{find_command, find_trusted_program};
use crate::plan::real_path::{RealKind, real_path};
use crate::plan::{MountPlan, Outcome, ProcMode, plan};
use crate::probe::{
    ProbeFailure, namespace_facts, probe_namespaces, probe_proc_mount, supports_argv0,
};
use crate::proxy::builtin::BuiltinProxy;
use crate::proxy::forward::Destination;
use crate::proxy::routes::{ListenRoute, ListenSpec, listen_routes};
use crate::render::{HelperExec, Stage};
use crate::scan::{ScanReport, ScanRequest, Scanner};
use crate::seccomp::{build_filter, program_bytes};

/// Runs `args` and returns the exit status to end with. `program` prefixes
/// every message (`codex sandbox`, `codex-linux-sandbox`).
pub fn run_main(args: &SandboxArgs, program: &str) -> i32 {
    init_logging();
    match run(args, program) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{program}: {err}");
            err.exit_code()
        }
    }
}

fn run(args: &SandboxArgs, program: &str) -> Result<i32, SandboxError> {
    let env = Environment::from_process()
        .map_err(|err| SandboxError::Setup(format!("cannot read the current directory: {err}")))?;
    let policy = build_policy(args, &env)?;
    let Some(sandbox) = &policy.sandbox else {
        if args.explain {
            print!("{}", explain_unsandboxed(&policy, &args.command));
            return Ok(0);
        }
        return Err(exec_unsandboxed(&args.command, &env.process_cwd, &policy));
    };
    refuse_unsupported_host()?;
    close_inherited_on_exec().map_err(|err| {
        SandboxError::Setup(format!(
            "cannot keep inherited descriptors out of the sandbox: {err}"
        ))
    })?;
    if sandbox.legacy_landlock {
        return run_legacy_landlock(&policy, sandbox, &args.command, args.explain);
    }
    let proxy_source = proxy_source(sandbox)?;
    let proc = if args.no_proc {
        ProcMode::Skip
    } else if proc_mount_expected_to_work(&read_or_empty("/proc/self/mountinfo")) {
        ProcMode::Mount
    } else {
        warn_no_proc(program);
        ProcMode::Skip
    };
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let writable = real_writable_roots(sandbox);
    let scan = scan(sandbox, &path_var, &writable)?;
    let mount_plan = plan(sandbox, &scan, proc, &HostFs)?;
    tracing::debug!(?mount_plan, "mount plan");
    for rule in &mount_plan.rules {
        if rule.outcome == Outcome::MissingSkipped && rule.access == Access::Write {
            tracing::debug!(path = %rule.path.display(), origin = %rule.origin, "write rule on a missing path: not created");
        }
    }
    let bwrap = choose_bwrap(
        &path_var,
        &writable,
        bundled_path_of_current_exe,
        COMPILED_IN_DIGEST,
    );
    // Proxy routing needs the inner stage: it opens the listeners inside
    // the sandbox's network namespace; so does the guard, which supervises
    // the command from there.
    let helper =
        if sandbox.inner_stage || proxy_source.is_some() || mount_plan.guard_protected_names {
            Some(inner_stage_helper(&mount_plan)?)
        } else {
            None
        };
    if args.explain {
        let argv0 = helper.is_some() && bwrap.as_ref().is_ok_and(supports_argv0);
        let explained_proxy = proxy_source.as_ref().map(|source| {
            proxy_launch_for(&source.routes_for_explain(), |route| {
                Destination::Host(route.upstream.clone())
            })
        });
        let specs: Vec<ListenSpec> = explained_proxy
            .iter()
            .flat_map(|proxy| proxy.routes.iter().map(ListenSpec::of))
            .collect();
        let stage = match &helper {
            Some(helper) => Stage::Inner {
                helper: explained_helper(helper),
                argv0,
                proxy_listen: explained_proxy.is_some().then_some(&specs[..]),
            },
            None => Stage::Bwrap,
        };
        let proxy_env = explained_proxy.as_ref().map_or(&[][..], |proxy| &proxy.env);
        let launcher = bwrap.as_ref().map_err(ToString::to_string);
        print!(
            "{}",
            explain_sandboxed(
                &policy,
                &scan,
                &mount_plan,
                launcher,
                stage,
                proxy_env,
                &args.command
            )
        );
        return Ok(0);
    }
    let bwrap = bwrap.map_err(|err| match err {
        LauncherError::Bundled(err) => SandboxError::BundledBwrap(err),
        reason @ LauncherError::NoBwrap { .. } => SandboxError::BwrapMissing {
            reason,
            hint: bubblewrap_install_hint(&read_or_empty("/etc/os-release")),
        },
    })?;
    if let Bwrap::Bundled(bundled) = &bwrap {
        eprintln!(
            "{program}: warning: no bwrap on PATH (outside the writable roots); using the bundled {}. \
             Install your distribution's bubblewrap for one it keeps patched: {}",
            bundled.path().display(),
            bubblewrap_install_hint(&read_or_empty("/etc/os-release"))
        );
    }
    let Some(command_name) = args.command.first() else {
        return Err(SandboxError::Internal("no command to run".into()));
    };
    find_command(command_name, &path_var, &sandbox.cwd)?;
    let proxy = proxy_source
        .map(|source| source.start(program))
        .transpose()?;
    let filter;
    let pipeline = if let Some(helper) = &helper {
        let argv0 = supports_argv0(&bwrap);
        if !argv0 {
            eprintln!(
                "{program}: warning: {} is too old for --argv0 (bubblewrap 0.9 or later has it); \
                 the inner stage still runs, named by its path instead of codex-linux-sandbox",
                bwrap.display_path().display()
            );
        }
        Pipeline::InnerStage {
            helper,
            argv0,
            proxy: proxy.as_ref(),
        }
    } else {
        let program = build_filter(mount_plan.network)
            .map_err(|err| SandboxError::Internal(err.to_string()))?;
        filter = program_bytes(&program);
        Pipeline::BwrapSeccomp { filter: &filter }
    };
    tracing::debug!(bwrap = %bwrap.describe(), inner_stage = helper.is_some(), "launching");
    let launch_error = |err: std::io::Error| {
        SandboxError::Setup(format!(
            "cannot run {}: {err}",
            bwrap.display_path().display()
        ))
    };
    let code = match launch(&bwrap, &mount_plan, pipeline, &args.command).map_err(launch_error)? {
        LaunchOutcome::Ran(code) => return Ok(code),
        LaunchOutcome::InnerStageFailed(report) => return Err(inner_stage_failed(&report)),
        LaunchOutcome::SetupFailed(code) => code,
    };
    // The kept --argv0 answer may be what made bwrap refuse: the next
    // start asks again.
    if matches!(pipeline, Pipeline::InnerStage { argv0: true, .. }) {
        crate::argv0_cache::forget();
    }
    // Diagnosed only now, so that a start that works pays for no probe.
    if let Err(ProbeFailure(message)) = probe_namespaces(&bwrap) {
        let diagnosis = diagnose_namespace_failure(&message, &namespace_facts());
        return Err(SandboxError::Setup(format!(
            "{} cannot create the sandbox's namespaces on this host: {}; to fix it: {}",
            bwrap.display_path().display(),
            diagnosis.cause,
            diagnosis.fix
        )));
    }
    // Only a refused /proc mount is retried, once, without /proc.
    let proc_refused = matches!(probe_proc_mount(&bwrap), Err(ProbeFailure(message)) if message.contains("Can't mount proc"));
    if mount_plan.proc == ProcMode::Skip || !proc_refused {
        return Err(setup_failed(&bwrap, code));
    }
    let retry_plan = plan(sandbox, &scan, ProcMode::Skip, &HostFs)?;
    // Without /proc the inner stage can only be found by path (and the
    // guard cannot run: refused here, before the warning about going on).
    let retry_helper;
    let pipeline = match pipeline {
        Pipeline::InnerStage { argv0, proxy, .. } => {
            retry_helper = inner_stage_helper(&retry_plan)?;
            Pipeline::InnerStage {
                helper: &retry_helper,
                argv0,
                proxy,
            }
        }
        bwrap_seccomp @ Pipeline::BwrapSeccomp { .. } => bwrap_seccomp,
    };
    warn_no_proc(program);
    match launch(&bwrap, &retry_plan, pipeline, &args.command).map_err(launch_error)? {
        LaunchOutcome::Ran(code) => Ok(code),
        LaunchOutcome::InnerStageFailed(report) => Err(inner_stage_failed(&report)),
        LaunchOutcome::SetupFailed(code) => Err(setup_failed(&bwrap, code)),
    }
}

/// The legacy Landlock pipeline: refuses a policy or kernel it cannot
/// enforce exactly, else becomes the command (returns only on failure).
fn run_legacy_landlock(
    policy: &EffectivePolicy,
    sandbox: &SandboxPolicy,
    command: &[OsString],
    explain: bool,
) -> Result<i32, SandboxError> {
    let grants = landlock_grants(sandbox, &HostFs).map_err(SandboxError::Unenforceable)?;
    let kernel = check_kernel();
    if explain {
        print!("{}", explain_landlock(policy, &grants, &kernel));
        return Ok(0);
    }
    let (abi, notes) = kernel.map_err(|reason| {
        SandboxError::UnsupportedHost(format!(
            "features.use_legacy_landlock: {reason}; remove the feature to use the bubblewrap pipeline"
        ))
    })?;
    tracing::debug!(abi, ?notes, ?grants, "legacy Landlock pipeline");
    let Some(name) = command.first() else {
        return Err(SandboxError::Internal("no command to run".into()));
    };
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    find_command(name, &path_var, &sandbox.cwd)?;
    let Err(reason) = exec_under_landlock(&grants, sandbox, command);
    Err(SandboxError::Setup(reason))
}

/// Where a proxy-mode sandbox's connections go.
pub(crate) enum ProxySource {
    /// The loopback proxy the environment's proxy variables name.
    Environment(ProxyRoutes),
    /// The built-in proxy, enforcing the profile's domain rules.
    Builtin(DomainPolicy),
}

impl ProxySource {
    /// Starts what must run for the route (the built-in proxy) and returns
    /// the route and the command's variables.
    fn start(self, program: &str) -> Result<ProxyLaunch, SandboxError> {
        match self {
            ProxySource::Environment(routes) => Ok(proxy_launch_for(&routes, |route| {
                Destination::Host(route.upstream.clone())
            })),
            ProxySource::Builtin(policy) => {
                let proxy = BuiltinProxy::start(policy, program.to_owned()).map_err(|err| {
                    SandboxError::Setup(format!("cannot start the built-in proxy: {err}"))
                })?;
                let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, builtin_proxy_port()));
                Ok(proxy_launch_for(&builtin_routes(listen), |_| {
                    Destination::Builtin(proxy.clone())
                }))
            }
        }
    }

    /// The routes `--explain` shows; the built-in proxy's port is chosen at
    /// launch and shows as 0.
    fn routes_for_explain(&self) -> ProxyRoutes {
        match self {
            ProxySource::Environment(routes) => routes.clone(),
            ProxySource::Builtin(_) => builtin_routes(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        }
    }
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

/// In network mode proxy, where connections go: the built-in proxy when
/// the profile has `allowed_domains`, else the loopback proxy the
/// environment names. A route that cannot be built is refused here,
/// before anything starts; so is a profile with `allowed_domains` run with
/// a proxy variable set, since the rules could not be enforced on the
/// proxy it names.
pub(crate) fn proxy_source(sandbox: &SandboxPolicy) -> Result<Option<ProxySource>, SandboxError> {
    if sandbox.network != NetworkMode::Proxy {
        return Ok(None);
    }
    let lookup = |name: &str| std::env::var(name).ok();
    if let Some(policy) = &sandbox.domains {
        if let Some(variable) = first_proxy_variable(lookup) {
            return Err(SandboxError::Unenforceable(format!(
                "the profile's allowed_domains start the built-in proxy, but {variable} names another \
                 proxy, where those rules cannot be enforced; unset the proxy variables or remove allowed_domains"
            )));
        }
        return Ok(Some(ProxySource::Builtin(policy.clone())));
    }
    let routes =
        proxy_routes(lookup).map_err(|err| SandboxError::Unenforceable(err.to_string()))?;
    Ok(Some(ProxySource::Environment(routes)))
}

/// The listeners and variables for `routes`, each listener's connections
/// going where `destination` says.
fn proxy_launch_for(
    routes: &ProxyRoutes,
    destination: impl Fn(&ListenRoute) -> Destination,
) -> ProxyLaunch {
    let listeners = listen_routes(routes);
    ProxyLaunch {
        destinations: listeners.iter().map(destination).collect(),
        routes: listeners,
        env: proxy_environment(routes, |name| std::env::var(name).ok()),
    }
}

/// How bwrap is to find this binary for the inner stage under `plan`:
/// through a descriptor where the sandbox has its own `/proc`, else by its
/// real path, which the plan must then leave visible.
fn inner_stage_helper(plan: &MountPlan) -> Result<InnerHelper, SandboxError> {
    if plan.guard_protected_names && plan.proc == ProcMode::Skip {
        return Err(SandboxError::Unenforceable(
            "the guard against new .git, .codex and .agents (features.guard_protected_names) reads \
             the command's calls through the sandbox's own /proc, which is not mounted here; \
             run where bwrap may mount /proc, or pass --disable guard_protected_names to go \
             without the guard (mounts still protect the ones that exist)"
                .into(),
        ));
    }
    if plan.proc == ProcMode::Mount {
        return Ok(InnerHelper::RunningImage);
    }
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|err| {
            SandboxError::Setup(format!(
                "cannot find this executable to run as the inner stage: {err}"
            ))
        })?;
    let hidden_by = match plan.deciding_rule(&exe) {
        Some(rule) if rule.access != Access::None => return Ok(InnerHelper::Path(exe)),
        Some(rule) => format!("hidden by {}", rule.origin),
        None => "no rule makes it readable".to_owned(),
    };
    Err(SandboxError::Unenforceable(format!(
        "features.inner_stage runs {} inside a sandbox without /proc, where it can only be \
         found by path, but this profile hides it ({hidden_by}); grant it read access or turn the feature off",
        exe.display()
    )))
}

/// The helper as `--explain` shows it.
fn explained_helper(helper: &InnerHelper) -> HelperExec<'_> {
    match helper {
        InnerHelper::RunningImage => HelperExec::Descriptor,
        InnerHelper::Path(path) => HelperExec::Path(path),
    }
}

fn inner_stage_failed(report: &str) -> SandboxError {
    SandboxError::Setup(format!(
        "the inner stage stopped before starting the command: {}",
        report.trim()
    ))
}

fn setup_failed(bwrap: &Bwrap, code: i32) -> SandboxError {
    SandboxError::Setup(format!(
        "{} exited with status {code} before starting the command; its own message is above",
        bwrap.display_path().display()
    ))
}

fn warn_no_proc(program: &str) {
    eprintln!(
        "{program}: warning: this host does not allow mounting a fresh /proc in the sandbox \
         (usual inside containers); running without /proc. Pass --no-proc to skip this check."
    );
}

/// WSL1 has no namespaces; refuse before trying bwrap.
fn refuse_unsupported_host() -> Result<(), SandboxError> {
    match detect_wsl(&read_or_empty("/proc/version")) {
        Wsl::Wsl1 => Err(SandboxError::UnsupportedHost(
            "WSL1 cannot run the sandbox (it has no Linux namespaces); convert the distribution to WSL2 \
             with `wsl --set-version <distro> 2`"
                .into(),
        )),
        Wsl::No | Wsl::Wsl2 => Ok(()),
    }
}

/// Real paths of the policy's write rules: a tool found below one of them
/// could have been planted by an earlier sandboxed command. None when the
/// policy writes `/` itself (`:danger-full-access` under the managed
/// proxy): every `PATH` entry is inside it, and a command that may write
/// anywhere the user may could change the user's configuration as well,
/// so tools are trusted as an unsandboxed run trusts them.
pub(crate) fn real_writable_roots(policy: &SandboxPolicy) -> Vec<PathBuf> {
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

/// The start-up scan: the built-in walker, or a trusted `rg` when
/// `features.scan_with_ripgrep` asks for it (none found is an error, not a
/// silent switch).
fn scan(
    policy: &SandboxPolicy,
    path_var: &OsStr,
    writable: &[PathBuf],
) -> Result<ScanReport, SandboxError> {
    let scanner = if policy.scan_with_ripgrep {
        let rg = find_trusted_program("rg", path_var, writable).ok_or_else(|| {
            SandboxError::Setup(
                "features.scan_with_ripgrep is on but no rg was found on PATH outside the writable roots; \
                 install ripgrep or turn the feature off"
                    .into(),
            )
        })?;
        Scanner::Ripgrep(rg)
    } else {
        Scanner::Builtin
    };
    let request = ScanRequest::for_policy(policy);
    tracing::debug!(?scanner, ?request, "scanning");
    let report = scanner
        .scan(&request)
        .map_err(|err| SandboxError::Setup(err.to_string()))?;
    tracing::debug!(
        matches = report.matches.len(),
        protected = report.protected.len(),
        skipped = ?report.skipped,
        "scan done"
    );
    Ok(report)
}

/// Replaces this process with the command (`:danger-full-access`). Returns
/// only on failure.
fn exec_unsandboxed(command: &[OsString], cwd: &Path, policy: &EffectivePolicy) -> SandboxError {
    let Some((name, rest)) = command.split_first() else {
        return SandboxError::Internal("no command to run".into());
    };
    tracing::debug!(profile = %policy.profile, "running without a sandbox");
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    if let Err(err) = find_command(name, &path_var, cwd) {
        return err;
    }
    let err = std::process::Command::new(name).args(rest).exec();
    SandboxError::Setup(format!("cannot execute {}: {err}", name.to_string_lossy()))
}

fn read_or_empty(path: impl AsRef<OsStr>) -> String {
    std::fs::read_to_string(Path::new(path.as_ref())).unwrap_or_default()
}

/// `RUST_LOG` turns on logging; without it nothing is set up, keeping
/// start-up lean.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

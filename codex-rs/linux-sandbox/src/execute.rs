//! Running a [`LaunchPlan`]: the only code that starts anything.
//!
//! A plan that is blocked is refused before anything happens. The direct
//! and Landlock pipelines become the command. The bwrap pipeline opens the
//! descriptors the plan's argv names ([`crate::protocol::Descriptor`]),
//! numbers them into that argv, starts the proxy route if any, runs bwrap
//! and learns how the start ended:
//!
//! - bwrap's `--json-status-fd` writes an `exit-code` record only when its
//!   child was actually exec'd, so a failure in bwrap's own setup (a mount
//!   it could not make) is told apart from the command exiting non-zero;
//! - the inner stage's report descriptor does the same one step later,
//!   with a [`StageReport`] saying which step failed.
//!
//! When bwrap fails before the command, the probes that explain why are
//! run only then ([`SetupFailure`]), so a start that works pays for none.

use codex_sandboxing::environment::CommandEnvironment;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use serde::Deserialize;

use crate::decide::{
    BwrapLaunch, Launch, LaunchPlan, ProxyPlan, SetupFailure, StagePlan, Upstream,
};
use crate::error::SandboxError;
use crate::fd::{close_inherited_on_exec, set_close_on_exec};
use crate::landlock::{LandlockRun, run_guarded_under_landlock};
use crate::launcher::Bwrap;
use crate::mount_points;
use crate::parent::wait_tied_to_parent;
use crate::plan::ProcMode;
use crate::probe::{ProbeFailure, namespace_facts, probe_namespaces, probe_proc_mount};
use crate::protocol::{Descriptor, StageReport, encode_command, exit_code_of, resolve_args};
use crate::proxy::builtin::BuiltinProxy;
use crate::proxy::forward::{Destination, start_bridge};
use crate::proxy::handoff;
use crate::render::HelperExec;

/// How a start ended, when it did not end this process.
#[derive(Debug)]
pub enum Launched {
    /// The command ran; this is its exit status (128+N for signal N).
    Ran(i32),
    /// bwrap stopped before starting the command; what the probes say.
    SetupFailed(SetupFailure),
}

/// Runs `plan`. The direct and Landlock pipelines return only on failure;
/// `program` prefixes the built-in proxy's messages.
pub fn execute(plan: LaunchPlan<'_>, program: &str) -> Result<Launched, SandboxError> {
    if let Some(blocked) = plan.blocked {
        return Err(blocked);
    }
    match plan.launch {
        Launch::Direct { command, env, cwd } => Err(exec_direct(&command, &env, &cwd)),
        Launch::Landlock(launch) => {
            close_inherited_on_exec().map_err(SandboxError::InheritedDescriptors)?;
            tracing::debug!(kernel = ?launch.kernel, grants = ?launch.grants, guard = ?launch.guard, "legacy Landlock pipeline");
            let run = LandlockRun {
                network: launch.network,
                cwd: &launch.cwd,
                command: &launch.command,
                env: &launch.env,
            };
            let Err(err) = run_guarded_under_landlock(&launch.grants, run, launch.guard, program);
            Err(err.into())
        }
        Launch::Bwrap(launch) => {
            close_inherited_on_exec().map_err(SandboxError::InheritedDescriptors)?;
            run_bwrap(&launch, program)
        }
    }
}

/// Replaces this process with the command (`:danger-full-access`), with
/// exactly `env`. Returns only the reason it could not.
fn exec_direct(command: &[OsString], env: &CommandEnvironment, cwd: &Path) -> SandboxError {
    let Some((name, rest)) = command.split_first() else {
        return SandboxError::Internal("no command to run".into());
    };
    tracing::debug!("running without a sandbox");
    let err = std::process::Command::new(name)
        .args(rest)
        .current_dir(cwd)
        .env_clear()
        .envs(env.vars().iter().cloned())
        .exec();
    SandboxError::Launch {
        program: name.into(),
        source: err,
    }
}

/// Runs bwrap as `launch` says and waits for it.
fn run_bwrap(launch: &BwrapLaunch<'_>, program: &str) -> Result<Launched, SandboxError> {
    let Some(bwrap) = launch.bwrap else {
        return Err(SandboxError::Internal(
            "a bwrap plan without a bwrap".into(),
        ));
    };
    let launch_error = |source: io::Error| SandboxError::Launch {
        program: bwrap.display_path().to_path_buf(),
        source,
    };
    let destinations = match &launch.proxy {
        Some(proxy) => destinations(proxy, program)?,
        None => Vec::new(),
    };
    tracing::debug!(bwrap = %bwrap.describe(), stage = ?launch.stage, "launching");
    // Mount points the masks need are made here and removed after, unless
    // another sandbox still uses them: bwrap would leave them behind.
    let leases = mount_points::lease_all(&launch.mounts.mount_points)?;
    let ended = spawn_and_wait(bwrap, launch, destinations);
    mount_points::release_all(leases);
    let ended = ended.map_err(launch_error)?;
    match ended {
        Ended::Ran(code) => Ok(Launched::Ran(code)),
        Ended::InnerStageFailed(message) => Err(SandboxError::InnerStage(message)),
        Ended::SetupFailed(code) => {
            // The kept --argv0 answer may be what made bwrap refuse: the
            // next start asks again.
            if matches!(launch.stage, StagePlan::Inner { argv0: true, .. }) {
                crate::host_memory::forget(crate::host_memory::ARGV0_FILE);
            }
            Ok(Launched::SetupFailed(probe_failure(
                bwrap,
                code,
                launch.mounts.proc,
            )))
        }
    }
}

/// Where each proxy listener's connections go, starting the built-in
/// proxy when the route needs it.
fn destinations(proxy: &ProxyPlan, program: &str) -> Result<Vec<Destination>, SandboxError> {
    Ok(match &proxy.upstream {
        Upstream::Host => proxy
            .routes
            .iter()
            .map(|route| Destination::Host(route.upstream.clone()))
            .collect(),
        Upstream::Builtin(domains) => {
            let builtin = BuiltinProxy::start(domains.clone(), program.to_owned())
                .map_err(SandboxError::ProxyStart)?;
            vec![Destination::Builtin(builtin); proxy.routes.len()]
        }
    })
}

/// How bwrap ended.
enum Ended {
    /// The command ran, with this status.
    Ran(i32),
    /// bwrap stopped before the command, with this status.
    SetupFailed(i32),
    /// The inner stage stopped before the command, saying why.
    InnerStageFailed(String),
}

fn spawn_and_wait(
    bwrap: &Bwrap,
    launch: &BwrapLaunch<'_>,
    destinations: Vec<Destination>,
) -> io::Result<Ended> {
    // Every descriptor below is close-on-exec when created; only those
    // bwrap (or the inner stage) must see are made inheritable, just
    // before the spawn. Other threads of this process (the built-in proxy,
    // a bridge from an earlier attempt) never fork or exec, so the
    // inheritable ones can only reach bwrap.
    let mut passed = PassedDescriptors::default();
    let (mut status_reader, status_writer) = io::pipe()?;
    passed.add(Descriptor::Status, status_writer.into())?;
    let mut report_reader = None;
    match &launch.stage {
        StagePlan::Bwrap { filter } => {
            let (seccomp_reader, mut seccomp_writer) = io::pipe()?;
            // The filter is a few hundred bytes, far below a pipe's
            // capacity, so writing it before bwrap reads cannot block.
            seccomp_writer.write_all(filter)?;
            drop(seccomp_writer);
            passed.add(Descriptor::Seccomp, seccomp_reader.into())?;
        }
        StagePlan::Inner {
            helper, command_fd, ..
        } => {
            let (reader, writer) = io::pipe()?;
            report_reader = Some(reader);
            passed.add(Descriptor::Report, writer.into())?;
            if *helper == HelperExec::Descriptor {
                passed.add(Descriptor::Helper, File::open("/proc/self/exe")?.into())?;
            }
            if *command_fd {
                passed.add(Descriptor::Command, command_descriptor(&launch.command)?)?;
            }
            if launch.mounts.supervises_through_outer_procfs() {
                let procfs = File::open("/proc").map_err(|err| {
                    io::Error::new(err.kind(), format!("cannot open /proc: {err}"))
                })?;
                passed.add(Descriptor::Procfs, procfs.into())?;
            }
        }
    }
    let mut bridge = None;
    if let Some(proxy) = &launch.proxy {
        let (outer, inner) = handoff::channel()?;
        passed.add(Descriptor::Proxy, inner)?;
        bridge = Some((outer, proxy.routes.clone()));
    }
    let args = resolve_args(&launch.argv(), |descriptor| passed.number(descriptor));
    tracing::debug!(?args, "bwrap argv");
    let command_env = launch
        .proxy
        .as_ref()
        .map_or(&[][..], |proxy| &proxy.env[..]);
    // bwrap's init in the sandbox's pid namespace can outlive the bwrap we
    // wait for by a moment; as its subreaper, this process inherits and
    // reaps it, instead of leaving it a zombie to whoever is above (an
    // agent that is PID 1 of its container never reaps it).
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
    let mut child = bwrap
        .command()?
        .args(args)
        // bwrap passes its environment on to the command: exactly the
        // policy's, plus the proxy route's variables.
        .env_clear()
        .envs(launch.env.vars().iter().cloned())
        .envs(command_env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::inherit())
        .spawn()?;
    drop(passed);
    // Started only now that this process holds no copy of the inner end:
    // if the inner stage fails before handing over, the bridge sees EOF.
    if let Some((outer, routes)) = bridge {
        start_bridge(outer, routes, destinations)?;
    }
    let status = wait_tied_to_parent(&mut child)?;
    reap_orphans();
    let mut bwrap_status = String::new();
    status_reader.read_to_string(&mut bwrap_status)?;
    let mut failure = String::new();
    if let Some(mut reader) = report_reader {
        reader.read_to_string(&mut failure)?;
    }
    let code = exit_code_of(status);
    Ok(match StageReport::parse(&failure) {
        Some(report) => Ended::InnerStageFailed(report.message),
        None if command_was_started(&bwrap_status) => Ended::Ran(code),
        None => Ended::SetupFailed(code),
    })
}

/// Reaps every child left: bwrap's init, reparented here when the bwrap
/// that started it exited first. Its namespace's processes die with it, so
/// this waits only for them to finish dying.
fn reap_orphans() {
    loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// A memory file holding `command` NUL-separated, read from the start: no
/// pipe to fill before bwrap runs, whatever the command's length.
fn command_descriptor(command: &[OsString]) -> io::Result<OwnedFd> {
    let fd =
        nix::sys::memfd::memfd_create(c"codex-command", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(&encode_command(command))?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0))?;
    Ok(file.into())
}

/// The descriptors a launch passes to bwrap, inheritable and held open
/// until bwrap has been spawned.
#[derive(Default)]
struct PassedDescriptors(Vec<(Descriptor, OwnedFd)>);

impl PassedDescriptors {
    /// Passes `fd` as `descriptor`.
    fn add(&mut self, descriptor: Descriptor, fd: OwnedFd) -> io::Result<()> {
        set_close_on_exec(fd.as_fd(), false)?;
        self.0.push((descriptor, fd));
        Ok(())
    }

    /// The number of `descriptor`; `-1`, which bwrap and the inner stage
    /// both refuse, for one that was not passed (a bug).
    fn number(&self, descriptor: Descriptor) -> String {
        self.0
            .iter()
            .find(|(known, _)| *known == descriptor)
            .map_or(-1, |(_, fd)| fd.as_raw_fd())
            .to_string()
    }
}

/// One record of bwrap's `--json-status-fd` stream; the one with
/// `exit-code` is written only once the command was exec'd.
#[derive(Deserialize)]
struct StatusRecord {
    #[serde(rename = "exit-code")]
    exit_code: Option<i32>,
}

/// Whether bwrap's JSON status report says the command was exec'd.
fn command_was_started(report: &str) -> bool {
    serde_json::Deserializer::from_str(report)
        .into_iter::<StatusRecord>()
        .map_while(Result::ok)
        .any(|record| record.exit_code.is_some())
}

/// Probes why `bwrap` failed before the command: whether it can create
/// namespaces at all and, for a start that mounted `/proc`, whether a
/// fresh `/proc` is refused.
fn probe_failure(bwrap: &Bwrap, code: i32, proc: ProcMode) -> SetupFailure {
    let namespaces = probe_namespaces(bwrap);
    let proc_refused = namespaces.is_ok()
        && proc == ProcMode::Mount
        && matches!(probe_proc_mount(bwrap), Err(ProbeFailure(message)) if message.contains("Can't mount proc"));
    SetupFailure {
        bwrap: bwrap.display_path().to_path_buf(),
        code,
        proc,
        namespace_facts: if namespaces.is_err() {
            namespace_facts()
        } else {
            Default::default()
        },
        namespaces,
        proc_refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_report_marks_a_started_command() {
        assert!(command_was_started(
            "{ \"child-pid\": 12 }\n{ \"exit-code\": 3 }\n"
        ));
        assert!(command_was_started("{\"child-pid\":12}{\"exit-code\":0}"));
        assert!(!command_was_started("{ \"child-pid\": 12 }\n"));
        assert!(!command_was_started(
            "{ \"child-pid\": 12, \"note\": \"exit-code\" }\n"
        ));
        assert!(!command_was_started(""));
        assert!(!command_was_started("garbage"));
    }
}

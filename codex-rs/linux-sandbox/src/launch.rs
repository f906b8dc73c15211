//! Starting bwrap and learning how it ended.
//!
//! Two pipelines give the command the same guarantees ([`Pipeline`]):
//!
//! - by default the seccomp filter is handed to bwrap (`--seccomp FD`),
//!   which installs it after `no_new_privs` as the last step before
//!   exec'ing the command, keeping the chain `codex -> bwrap -> command`;
//! - with `features.inner_stage`, bwrap execs this binary's
//!   [inner stage](crate::inner_stage), which installs both itself. That
//!   costs one more exec per command (see `just bench`) and is where work
//!   that must happen inside the namespaces belongs.
//!
//! bwrap's `--json-status-fd` writes an `exit-code` record only when its
//! child was actually exec'd, so a failure in bwrap's own setup (a mount it
//! could not make) is told apart from the command exiting non-zero. The
//! inner stage's report descriptor does the same one step later.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;

use crate::fd::set_close_on_exec;
use crate::launcher::Bwrap;
use crate::parent::wait_tied_to_parent;
use crate::plan::MountPlan;
use crate::protocol::{Descriptor, StageReport, exit_code_of, resolve_args};
use crate::proxy::forward::{Destination, start_bridge};
use crate::proxy::handoff;
use crate::proxy::routes::{ListenRoute, ListenSpec};
use crate::render::{HelperExec, Stage, bwrap_args};

/// Who installs `no_new_privs` and the seccomp filter.
#[derive(Debug, Clone, Copy)]
pub enum Pipeline<'a> {
    /// bwrap, from `filter` (raw BPF bytes) passed as `--seccomp FD`.
    BwrapSeccomp {
        /// The compiled filter.
        filter: &'a [u8],
    },
    /// This binary's inner stage, exec'd by bwrap.
    InnerStage {
        /// How bwrap finds this binary.
        helper: &'a InnerHelper,
        /// Whether to name the stage with `--argv0`.
        argv0: bool,
        /// Proxy routing, in network mode proxy.
        proxy: Option<&'a ProxyLaunch>,
    },
}

/// Proxy routing for one launch (see [`crate::proxy`]).
#[derive(Debug, Clone)]
pub struct ProxyLaunch {
    /// The listeners the inner stage opens, in order.
    pub routes: Vec<ListenRoute>,
    /// Where each listener's connections go, index-aligned with `routes`.
    pub destinations: Vec<Destination>,
    /// The variables the command gets.
    pub env: Vec<(String, String)>,
}

/// How bwrap is to find this binary for the inner stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InnerHelper {
    /// Through a descriptor of the running image (`/proc/self/exe`),
    /// opened at launch; the sandbox must mount its own `/proc`.
    RunningImage,
    /// By this real path, which the sandbox must show.
    Path(PathBuf),
}

/// How a launch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// The command ran; this is its exit status (128+N for signal N).
    Ran(i32),
    /// bwrap stopped before starting the command; bwrap's exit status.
    SetupFailed(i32),
    /// The inner stage stopped before starting the command; its report.
    InnerStageFailed(String),
}

/// Runs `command` under `bwrap` as `plan` says, with seccomp installed as
/// `pipeline` says, and waits for it.
pub fn launch(
    bwrap: &Bwrap,
    plan: &MountPlan,
    pipeline: Pipeline<'_>,
    command: &[OsString],
) -> io::Result<LaunchOutcome> {
    // Every descriptor below is close-on-exec when created; only those
    // bwrap (or the inner stage) must see are made inheritable, just
    // before the spawn. Other threads of this process (the built-in proxy,
    // a bridge from an earlier attempt) never fork or exec, so the
    // inheritable ones can only reach bwrap.
    let mut passed = PassedDescriptors::default();
    let (mut status_reader, status_writer) = io::pipe()?;
    passed.add(Descriptor::Status, status_writer.into())?;
    let mut report_reader = None;
    let mut bridge = None;
    let mut command_env: &[(String, String)] = &[];
    let specs: Vec<ListenSpec>;
    let stage = match pipeline {
        Pipeline::BwrapSeccomp { filter } => {
            let (seccomp_reader, mut seccomp_writer) = io::pipe()?;
            // The filter is a few hundred bytes, far below a pipe's
            // capacity, so writing it before bwrap reads cannot block.
            seccomp_writer.write_all(filter)?;
            drop(seccomp_writer);
            passed.add(Descriptor::Seccomp, seccomp_reader.into())?;
            Stage::Bwrap
        }
        Pipeline::InnerStage {
            helper,
            argv0,
            proxy,
        } => {
            let (reader, writer) = io::pipe()?;
            report_reader = Some(reader);
            passed.add(Descriptor::Report, writer.into())?;
            let helper = match helper {
                InnerHelper::RunningImage => {
                    passed.add(Descriptor::Helper, File::open("/proc/self/exe")?.into())?;
                    HelperExec::Descriptor
                }
                InnerHelper::Path(path) => HelperExec::Path(path),
            };
            let proxy_listen = match proxy {
                Some(launch) => {
                    let (outer, inner) = handoff::channel()?;
                    passed.add(Descriptor::Proxy, inner)?;
                    bridge = Some((outer, launch.routes.clone(), launch.destinations.clone()));
                    command_env = &launch.env;
                    specs = launch.routes.iter().map(ListenSpec::of).collect();
                    Some(&specs[..])
                }
                None => None,
            };
            Stage::Inner {
                helper,
                argv0,
                proxy_listen,
            }
        }
    };
    let args = resolve_args(&bwrap_args(plan, &stage, command), |descriptor| {
        passed.number(descriptor)
    });
    let mut child = bwrap
        .command()
        .args(args)
        // bwrap passes its environment on to the command.
        .envs(command_env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::inherit())
        .spawn()?;
    drop(passed);
    // Started only now that this process holds no copy of the inner end:
    // if the inner stage fails before handing over, the bridge sees EOF.
    if let Some((outer, routes, destinations)) = bridge {
        start_bridge(outer, routes, destinations)?;
    }
    let status = wait_tied_to_parent(&mut child)?;
    let mut report = String::new();
    status_reader.read_to_string(&mut report)?;
    let mut failure = String::new();
    if let Some(mut reader) = report_reader {
        reader.read_to_string(&mut failure)?;
    }
    let code = exit_code_of(status);
    Ok(match StageReport::parse(&failure) {
        Some(Ok(report)) => LaunchOutcome::InnerStageFailed(report.message),
        Some(Err(text)) => LaunchOutcome::InnerStageFailed(text),
        None if command_was_started(&report) => LaunchOutcome::Ran(code),
        None => LaunchOutcome::SetupFailed(code),
    })
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

/// Whether bwrap's JSON status report says the command was exec'd.
fn command_was_started(report: &str) -> bool {
    report.lines().any(|line| line.contains("\"exit-code\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_report_marks_a_started_command() {
        assert!(command_was_started(
            "{ \"child-pid\": 12 }\n{ \"exit-code\": 3 }\n"
        ));
        assert!(!command_was_started("{ \"child-pid\": 12 }\n"));
        assert!(!command_was_started(""));
    }
}

//! The inner stage: what runs inside the namespaces, between bwrap and the
//! command, with the protected-name guard (the default), in network mode
//! proxy, or when `features.inner_stage` is on.
//!
//! bwrap execs this same executable with [`INNER_STAGE_FLAG`] first, named
//! `codex-linux-sandbox` where bwrap has `--argv0` (the flag, not the name,
//! selects the stage). It execs it through `/proc/self/fd/N`, a descriptor
//! of the running image, when the sandbox mounts its own `/proc`, and by
//! its full path otherwise. The stage then:
//!
//! 1. closes that descriptor, if any, and marks its report descriptor
//!    close-on-exec;
//! 2. in network mode proxy, listens on the proxy routes' loopback
//!    addresses and hands the listeners to the outer stage
//!    (`listeners`, [`crate::proxy`]);
//! 3. sets `no_new_privs`;
//! 4. installs the seccomp filter for the requested network mode;
//! 5. execs the command.
//!
//! With the guard, or when the host's Unix sockets are closed (the
//! network is enabled), steps 4 and 5 happen in a forked child, after it
//! has installed the guard's filter and handed its listener to this
//! process, which stays as the supervisor ([`crate::guard`]).
//!
//! Any failure is written to the report descriptor as a
//! [`StageReport`], which the outer stage reads after bwrap ends: a
//! non-empty report means the command never started. A successful exec
//! closes the descriptor, so the command can neither hold nor forge it.
//! The hidden command line and the report are defined in
//! [`crate::protocol`].

mod listeners;

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};

use crate::fd::{is_open, set_close_on_exec};
use crate::guard::{GuardedRun, RootLayout};
use crate::protocol::{
    CommandSource, FailureReport, HELPER_ARGV0, INNER_STAGE_FLAG, InnerStageArgs, StageReport,
    StageStep, decode_command, exit_status, parse_inner_stage_args,
};
use crate::seccomp::{ListedSockets, build_filter, exec_filtered};

/// Becomes the inner stage when the first argument is [`INNER_STAGE_FLAG`];
/// returns otherwise. Both `codex` and `codex-linux-sandbox` call it before
/// any other parsing, so the stage runs whatever arg0 bwrap gave it.
pub fn dispatch_inner_stage() {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|first| first == INNER_STAGE_FLAG) {
        let rest: Vec<OsString> = args.collect();
        run_inner_stage(&rest);
    }
}

/// Runs the stage with the arguments after [`INNER_STAGE_FLAG`]; never
/// returns. Malformed arguments are reported on stderr (there is no
/// trustworthy report descriptor then) and end the process with
/// [`exit_status::USAGE`]; a failed step ends it with
/// [`exit_status::SETUP`].
fn run_inner_stage(args: &[OsString]) -> ! {
    let spec = match parse_inner_stage_args(args) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("{HELPER_ARGV0}: {err}");
            std::process::exit(exit_status::USAGE);
        }
    };
    let mut report = match take_report_fd(spec.report_fd) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("{HELPER_ARGV0}: inner stage: {err}");
            std::process::exit(exit_status::SETUP);
        }
    };
    let command = match take_command(&spec.command) {
        Ok(command) => command,
        Err(failure) => failure.write_and_exit(&mut report),
    };
    if let Err(failure) = prepare(&spec) {
        failure.write_and_exit(&mut report);
    }
    if spec.guard.is_some() || spec.close_unix_sockets {
        let procfs = match spec.procfs_fd.map(take_procfs_fd).transpose() {
            Ok(procfs) => procfs,
            Err(failure) => failure.write_and_exit(&mut report),
        };
        crate::guard::run_guarded(
            GuardedRun {
                network: spec.network,
                roots: spec.guard.map(|roots| (roots, RootLayout::Mounted)),
                close_unix_sockets: spec.close_unix_sockets,
                allowed_unix_sockets: spec.allowed_unix_sockets,
                procfs,
                command: &command,
                without_bwrap: None,
            },
            FailureReport::Pipe(report),
        );
    }
    let Err(failure) = exec_command(&spec, &command);
    failure.write_and_exit(&mut report)
}

/// The command: as given after `--`, or read whole from its descriptor,
/// which is closed then.
fn take_command(source: &CommandSource) -> Result<Vec<OsString>, StageReport> {
    let fd = match source {
        CommandSource::Arguments(command) => return Ok(command.clone()),
        CommandSource::Descriptor(fd) => *fd,
    };
    let failed = |message: String| StageReport::new(StageStep::Command, message);
    if !is_open(fd) {
        return Err(failed(format!("command descriptor {fd} is not open")));
    }
    // SAFETY: `fd` is open (checked above) and, by the stage's protocol,
    // handed to this process alone to own.
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes)
        .map_err(|err| failed(format!("cannot read the command descriptor {fd}: {err}")))?;
    decode_command(&bytes).map_err(|err| failed(err.to_string()))
}

/// Steps 1 (for the helper descriptor) to 3.
fn prepare(spec: &InnerStageArgs) -> Result<(), StageReport> {
    if let Some(fd) = spec.helper_fd {
        // Nothing in this process uses the helper descriptor, which was
        // open only for bwrap's exec of this binary.
        nix::unistd::close(fd).map_err(|err| {
            StageReport::new(
                StageStep::HelperFd,
                format!("cannot close the helper descriptor {fd}: {err}"),
            )
        })?;
    }
    if let Some(proxy) = &spec.proxy {
        listeners::hand_over_listeners(proxy)?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(|err| {
        StageReport::new(
            StageStep::NoNewPrivs,
            format!("cannot set no_new_privs: {err}"),
        )
    })?;
    Ok(())
}

/// Steps 4 and 5 without the guard; returns only with the reason a step
/// failed.
fn exec_command(spec: &InnerStageArgs, command: &[OsString]) -> Result<Infallible, StageReport> {
    let filter = build_filter(spec.network, ListedSockets::None)
        .map_err(|err| StageReport::new(StageStep::Seccomp, err.to_string()))?;
    exec_filtered(&filter, command, None, None)
}

/// Takes ownership of the outer stage's `/proc` after checking that it is
/// open, and marks it close-on-exec so the command never inherits it.
fn take_procfs_fd(fd: RawFd) -> Result<OwnedFd, StageReport> {
    let failed = |message: String| StageReport::new(StageStep::Guard, message);
    if !is_open(fd) {
        return Err(failed(format!("procfs descriptor {fd} is not open")));
    }
    // SAFETY: `fd` is open (checked above) and, by the stage's protocol,
    // handed to this process alone to own.
    let procfs = unsafe { OwnedFd::from_raw_fd(fd) };
    set_close_on_exec(procfs.as_fd(), true).map_err(|err| {
        failed(format!(
            "cannot mark procfs descriptor {fd} close-on-exec: {err}"
        ))
    })?;
    Ok(procfs)
}

/// Takes ownership of the report descriptor after checking that it is
/// open, and marks it close-on-exec so the command never inherits it.
fn take_report_fd(fd: RawFd) -> Result<File, String> {
    if !is_open(fd) {
        return Err(format!("report descriptor {fd} is not open"));
    }
    // SAFETY: `fd` is open (checked above) and, by the stage's protocol,
    // handed to this process alone to own.
    let report = unsafe { File::from_raw_fd(fd) };
    set_close_on_exec(report.as_fd(), true)
        .map_err(|err| format!("cannot mark report descriptor {fd} close-on-exec: {err}"))?;
    Ok(report)
}

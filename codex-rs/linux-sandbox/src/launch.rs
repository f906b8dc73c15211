//! Starting bwrap and learning how it ended.
//!
//! The seccomp filter is handed to bwrap (`--seccomp FD`), which installs it
//! after `no_new_privs` as the last step before exec'ing the command. That
//! keeps the chain `codex -> bwrap -> command`: an inner stage (bwrap
//! re-exec'ing our helper to install the filter) would add an exec of a
//! larger binary to every command, about an eighth of bwrap's own start-up
//! cost here, for identical guarantees.
//!
//! bwrap's `--json-status-fd` writes an `exit-code` record only when the
//! command was actually exec'd, so a failure in bwrap's own setup (a mount it
//! could not make) is told apart from the command exiting non-zero.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::Stdio;

use crate::launcher::Bwrap;
use crate::plan::MountPlan;
use crate::render::{FdArg, LaunchFds, bwrap_args};

/// How a launch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// The command ran; this is its exit status (128+N for signal N).
    Ran(i32),
    /// bwrap stopped before starting the command; bwrap's exit status.
    SetupFailed(i32),
}

/// Runs `command` under `bwrap` as `plan` says, with `filter` (raw BPF
/// bytes) as its seccomp program, and waits for it.
pub fn launch(
    bwrap: &Bwrap,
    plan: &MountPlan,
    filter: &[u8],
    command: &[OsString],
) -> io::Result<LaunchOutcome> {
    let (seccomp_reader, mut seccomp_writer) = io::pipe()?;
    // The filter is a few hundred bytes, far below a pipe's capacity, so
    // writing it before bwrap reads cannot block.
    seccomp_writer.write_all(filter)?;
    drop(seccomp_writer);
    let (mut status_reader, status_writer) = io::pipe()?;
    // Both pipes are close-on-exec; only bwrap's ends must survive into it.
    // This process is single-threaded here, so nothing else can fork and
    // inherit them in between.
    set_inheritable(seccomp_reader.as_fd())?;
    set_inheritable(status_writer.as_fd())?;
    let fds = LaunchFds {
        seccomp: FdArg::Fd(seccomp_reader.as_raw_fd()),
        status: FdArg::Fd(status_writer.as_raw_fd()),
    };
    let mut child = bwrap
        .command()
        .args(bwrap_args(plan, fds, command))
        .stdin(Stdio::inherit())
        .spawn()?;
    drop(seccomp_reader);
    drop(status_writer);
    let status = child.wait()?;
    let mut report = String::new();
    status_reader.read_to_string(&mut report)?;
    let code = exit_code_of(status);
    Ok(if command_was_started(&report) {
        LaunchOutcome::Ran(code)
    } else {
        LaunchOutcome::SetupFailed(code)
    })
}

/// Whether bwrap's JSON status report says the command was exec'd.
fn command_was_started(report: &str) -> bool {
    report.lines().any(|line| line.contains("\"exit-code\""))
}

/// The shell's convention: the exit code, or 128+N for a signal.
pub fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

fn set_inheritable(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the descriptor flags of
    // a descriptor that `fd` keeps open for the duration of the call.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

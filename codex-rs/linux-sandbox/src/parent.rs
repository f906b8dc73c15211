//! Ending the sandbox with the process that started `codex`.
//!
//! bwrap's `--die-with-parent` ends the sandbox when `codex` dies, but
//! nothing ends `codex` when *its* parent (the agent) dies: it would be
//! reparented and the sandboxed command would run on, unsupervised. So a
//! thread waits on a pidfd of the parent and, when the parent is gone,
//! kills bwrap, whose PID namespace takes every sandboxed process with it.
//!
//! `PR_SET_PDEATHSIG` is not used: it fires when the parent *thread* that
//! spawned `codex` exits, which for a multi-threaded agent (a worker pool
//! spawning commands) happens while the agent lives on.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// How often the parent is looked at where it cannot be given a pidfd.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Kills bwrap (`bwrap_pid`, a child of this process not yet reaped) with
/// SIGKILL when this process's parent exits, at once if it already has.
/// Does nothing for a parent that is init. The signal goes through a pidfd
/// opened now, so it can never reach another process that reuses the pid
/// after bwrap has been reaped; without pidfds (before Linux 5.3) the
/// sandbox is not tied to the parent.
pub fn end_with_parent(bwrap_pid: u32) {
    // SAFETY: getppid has no preconditions and cannot fail.
    let parent = unsafe { libc::getppid() };
    if parent <= 1 {
        return;
    }
    let Some(bwrap) = libc::pid_t::try_from(bwrap_pid).ok().and_then(pidfd_open) else {
        tracing::debug!("no pidfd for bwrap: the sandbox is not tied to the parent");
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            wait_for_exit(parent);
            tracing::debug!(parent, "the parent of codex exited; ending the sandbox");
            // SAFETY: pidfd_send_signal with a pidfd we own and no siginfo;
            // a bwrap already reaped answers ESRCH.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    bwrap.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
        });
    if let Err(err) = spawned {
        tracing::debug!(%err, "cannot watch the parent process");
    }
}

/// A pidfd of `pid`, if the kernel has them.
fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by pidfd_open and is owned by no one
    // else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Returns once `pid`, this process's parent when the call began, has
/// exited.
fn wait_for_exit(pid: libc::pid_t) {
    // SAFETY: getppid has no preconditions and cannot fail.
    let still_parent = || unsafe { libc::getppid() } == pid;
    let Some(pidfd) = pidfd_open(pid) else {
        while still_parent() {
            std::thread::sleep(POLL_INTERVAL);
        }
        return;
    };
    // The parent may have died before the pidfd was opened (then the pid
    // could even be someone else's): the parent pid tells.
    if !still_parent() {
        return;
    }
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut poll, 1, -1) };
        if ready > 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

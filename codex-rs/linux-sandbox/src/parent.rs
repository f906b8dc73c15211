//! Ending the sandbox with the process that started `codex`.
//!
//! bwrap's `--die-with-parent` ends the sandbox when `codex` dies, but
//! nothing ends `codex` when *its* parent (the agent) dies: it would be
//! reparented and the sandboxed command would run on, unsupervised. So
//! `codex` waits for bwrap and for its own parent together, on two pidfds,
//! and kills bwrap (whose PID namespace takes every sandboxed process with
//! it) if the parent goes first. No thread is started: the wait is the one
//! `codex` does anyway.
//!
//! `PR_SET_PDEATHSIG` is not used: it fires when the parent *thread* that
//! spawned `codex` exits, which for a multi-threaded agent (a worker pool
//! spawning commands) happens while the agent lives on.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::fd::pidfd_open;
use std::process::{Child, ExitStatus};

/// Waits for `bwrap` (a child of this process) to exit, killing it first
/// if this process's parent exits before it. Without pidfds (before
/// Linux 5.3), or when the parent is init, this is a plain wait.
pub fn wait_tied_to_parent(bwrap: &mut Child) -> io::Result<ExitStatus> {
    // SAFETY: getppid has no preconditions and cannot fail.
    let parent = unsafe { libc::getppid() };
    let pidfds = libc::pid_t::try_from(bwrap.id())
        .ok()
        .and_then(|pid| pidfd_open(pid).ok())
        .zip((parent > 1).then(|| pidfd_open(parent).ok()).flatten());
    let Some((child_fd, parent_fd)) = pidfds else {
        return bwrap.wait();
    };
    // The parent may have died before its pidfd was opened (the pid could
    // then even be someone else's): the parent pid tells.
    // SAFETY: getppid has no preconditions and cannot fail.
    if unsafe { libc::getppid() } != parent || parent_exits_first(&child_fd, &parent_fd) {
        tracing::debug!(parent, "the parent of codex exited; ending the sandbox");
        // SAFETY: pidfd_send_signal with a pidfd we own and no siginfo.
        // bwrap is not reaped yet (only the wait below reaps it), so the
        // pidfd still names it.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                child_fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    bwrap.wait()
}

/// Polls both pidfds until one is readable (its process exited); whether
/// it was the parent's while bwrap still ran.
fn parent_exits_first(child: &OwnedFd, parent: &OwnedFd) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: child.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: parent.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfds for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ready > 0 {
            return fds[0].revents == 0 && fds[1].revents != 0;
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

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
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::getppid;

use crate::fd::pidfd_open;
use std::process::{Child, ExitStatus};

/// Waits for `bwrap` (a child of this process) to exit, killing it first
/// if this process's parent exits before it. Without pidfds (before
/// Linux 5.3), or when the parent is init, this is a plain wait.
pub fn wait_tied_to_parent(bwrap: &mut Child) -> io::Result<ExitStatus> {
    let parent = getppid();
    let pidfds = libc::pid_t::try_from(bwrap.id())
        .ok()
        .and_then(|pid| pidfd_open(pid).ok())
        .zip(
            (parent.as_raw() > 1)
                .then(|| pidfd_open(parent.as_raw()).ok())
                .flatten(),
        );
    let Some((child_fd, parent_fd)) = pidfds else {
        return bwrap.wait();
    };
    // The parent may have died before its pidfd was opened (the pid could
    // then even be someone else's): the parent pid tells.
    if getppid() != parent || parent_exits_first(&child_fd, &parent_fd) {
        tracing::debug!(%parent, "the parent of codex exited; ending the sandbox");
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
        PollFd::new(child.as_fd(), PollFlags::POLLIN),
        PollFd::new(parent.as_fd(), PollFlags::POLLIN),
    ];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(ready) if ready > 0 => {
                let exited =
                    |fd: &PollFd<'_>| fd.revents().is_some_and(|events| !events.is_empty());
                return !exited(&fds[0]) && exited(&fds[1]);
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

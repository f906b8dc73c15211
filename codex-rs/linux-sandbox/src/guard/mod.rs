//! The guard for protected names: while the command runs, no new `.git`,
//! `.codex` or `.agents` entry may appear anywhere in the sandbox.
//!
//! Mounts keep the protected names that exist at start read-only, and
//! mask a missing one at the top of each writable root, but they cannot
//! stop `mkdir -p sub/.git` or `mv x sub/.git` deeper down, which plants a
//! repository whose config and hooks git runs later, outside the sandbox.
//!
//! # How
//!
//! The inner stage forks. The child, which becomes the command, installs
//! a second seccomp filter (`filter`) that holds every call that creates,
//! writes, moves, removes or changes the mode of an entry (`mkdir*`,
//! `mknod*`, `symlink*`, `link*`, `rename*`, `unlink*`, `rmdir`,
//! `truncate`, `creat`, `open`/`openat` for writing (reading opens never
//! leave the kernel), `chmod`, `fchmod*`, `*setxattr`, `*removexattr`,
//! and `bind`, whose Unix socket
//! paths are entries too; a new filesystem, which could create entries
//! with no call to hold, is refused)
//! and passes the filter's notification descriptor to the parent. The
//! parent, the supervisor, receives each held call (`supervisor`),
//! copies its path strings out of the caller's memory (`target`, through
//! procfs: `procfs`),
//! refuses any call whose new entry has a protected name where the
//! directory it goes in is not scratch space below the top of a temporary
//! root (`roots`; `EPERM`, and a line on stderr), and carries out the
//! others itself, on those copies (`perform`): a thread of the command
//! that rewrites the string after the check changes nothing, because the
//! kernel never reads it again.
//!
//! The supervisor runs with the command's credentials, in its namespaces
//! and under the same base seccomp filter, so whatever it does for the
//! command the command could have done itself; it applies the caller's
//! umask, starts relative paths at the caller's working directory or
//! descriptor through `/proc/TID/`, and respells the caller's own
//! `/proc/self`, `/dev/fd` and `/dev/std*` for that thread (`paths`).
//!
//! It is the command's parent and a child subreaper, so it stays an
//! ancestor of every process the command starts, which is what Yama's
//! `ptrace_scope=1` demands before it may read their memory. It is not
//! dumpable, so the command cannot reach into it through `/proc`. If the
//! command kills it, the sandbox ends (bwrap's PID 1 follows its child),
//! and a call held at that moment fails with `ENOSYS`: the failure is
//! closed.
//!
//! # Limits
//!
//! - `openat2`, `fchmodat2`, `setxattrat`, `removexattrat` and `clone3`
//!   get `ENOSYS` from the filter itself (their arguments are out of its
//!   reach); their callers fall back to `openat`, `fchmodat`,
//!   `setxattr` and `clone`, as on the kernels before them.
//! - `umask`, `unshare`, `setns`, `chroot`, `pivot_root` and a `clone`
//!   with `CLONE_NEWNS` (or one of `CLONE_FS` and `CLONE_THREAD` without
//!   the other) are held
//!   only to be noted, then let through as made: until one is seen, the
//!   supervisor keeps a thread's umask and its view of the filesystem
//!   between its calls instead of asking procfs on each ([`target`]).
//! - A command in a mount namespace or root of its own (a nested sandbox)
//!   cannot create anything: its paths mean something else to the
//!   supervisor, so its calls are refused.
//! - A symbolic link of the command's own that leads into `/proc/self` is
//!   followed as the supervisor's (only leading `/proc/self` components are
//!   respelled). Since whatever the supervisor opens is opened with its
//!   identity, an open that ends in procfs is served only inside the
//!   caller's own `/proc/TID` and `/proc/TID/fd`; any other process's entry,
//!   the supervisor's own `mem` above all, gets `EACCES`.
//! - Each held call costs a round trip to the supervisor; `just
//!   bench-build` measures a build under it.
//! - It needs Linux 5.9 (`SECCOMP_ADDFD`). Without the sandbox's own
//!   `/proc` it reads the command's calls through the outer stage's
//!   ([`procfs`]); a thread in a PID namespace of its own is then not
//!   found, and its calls fail.

mod anchors;
mod calls;
mod filter;
mod git_dirs;
mod judge;
mod mounts;
mod open;
mod paths;
mod perform;
mod procfs;
mod roots;
mod sockets;
mod supervisor;
mod target;

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use codex_sandboxing::NetworkMode;
use codex_sandboxing::environment::CommandEnvironment;
use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::protocol::{
    FailureReport, GuardRoot, HELPER_ARGV0, StageReport, StageStep, exit_status,
};
use crate::proxy::handoff::{channel, receive_listeners, send_listeners};
use crate::seccomp::{ListedSockets, build_filter, exec_command, install_filter};
use anchors::Anchors;
pub use anchors::RootLayout;
use calls::Held;
use filter::{build_guard_filter, install_with_listener};
use judge::Judge;
use mounts::OwnMounts;
use sockets::{SocketDiag, UnixSockets};
use supervisor::{Supervisor, probe_fd_delivery};
use target::{CallerEntries, View};

/// What one guarded run supervises.
#[derive(Debug)]
pub struct GuardedRun<'a> {
    /// The network mode the base filter is built for.
    pub network: NetworkMode,
    /// The protected-name guard's writable roots and how they lie; `None`
    /// when it is off.
    pub roots: Option<(Vec<GuardRoot>, RootLayout)>,
    /// Whether the host's Unix sockets are closed ([`sockets`]).
    pub close_unix_sockets: bool,
    /// The host sockets left open when they are.
    pub allowed_unix_sockets: Vec<PathBuf>,
    /// The outer stage's `/proc`, when the sandbox has none of its own
    /// ([`procfs`]).
    pub procfs: Option<OwnedFd>,
    /// The command and its arguments.
    pub command: &'a [OsString],
    /// Set when no bwrap stands around the guard (the legacy pipeline):
    /// where the command runs and its whole environment, which bwrap sets
    /// otherwise. The command then also starts a session of its own (no
    /// `TIOCSTI` into the caller's terminal, as bwrap's `--new-session`)
    /// and is killed if the supervisor dies (as bwrap's PID 1 ends the
    /// sandbox).
    pub without_bwrap: Option<(&'a Path, &'a CommandEnvironment)>,
}

/// Runs `run.command` under the guard: forks, becomes the supervisor of
/// the child that execs the command, and exits with the command's status
/// (128+N for signal N). With `run.roots`, new entries are judged by these
/// writable roots (the protected-name guard); with `close_unix_sockets`,
/// the host's Unix sockets are closed ([`sockets`]) but for
/// `allowed_unix_sockets`; either may come alone. With `procfs`, the outer
/// stage's `/proc`, the supervisor reads the command's calls through it
/// (the sandbox has none of its own; [`procfs`]). `no_new_privs` must be
/// set already. A failure before the command starts goes to `report` and
/// ends the process with [`exit_status::SETUP`]; once it has started,
/// `report` is closed.
pub fn run_guarded(run: GuardedRun<'_>, mut report: FailureReport) -> ! {
    let GuardedRun {
        network,
        roots,
        close_unix_sockets,
        allowed_unix_sockets,
        procfs,
        command,
        without_bwrap,
    } = run;
    if let Some(procfs) = procfs
        && let Err(err) = procfs::use_ancestor_procfs(procfs)
    {
        report.fail(guard_failure(err));
    }
    let held = Held {
        names: roots.is_some(),
        connect: close_unix_sockets,
        metadata: matches!(roots, Some((_, RootLayout::InPlace { .. }))),
    };
    let listed = if close_unix_sockets && !allowed_unix_sockets.is_empty() {
        ListedSockets::Some
    } else {
        ListedSockets::None
    };
    let prepared = match prepare(network, held, listed) {
        Ok(prepared) => prepared,
        Err(failure) => report.fail(failure),
    };
    // SAFETY: this process is single-threaded (the inner stage starts no
    // thread before this point), so the child may run any code.
    let pid = match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => child,
        Ok(ForkResult::Child) => {
            drop(prepared.supervisor_end);
            drop(prepared.socket_diag);
            let Err(failure) = become_command(
                &prepared.guard_filter,
                prepared.command_end,
                command,
                without_bwrap,
            );
            report.fail(failure)
        }
        Err(err) => report.fail(guard_failure(format!("cannot fork the command: {err}"))),
    };
    drop(prepared.command_end);
    let sockets = UnixSockets::new(
        close_unix_sockets,
        network,
        allowed_unix_sockets,
        prepared.socket_diag,
    );
    match start_supervising(prepared.supervisor_end, roots, sockets) {
        Ok(Some(supervisor)) => {
            drop(report);
            supervise(supervisor, pid)
        }
        // The child failed before handing the listener over and said why
        // in the report: end with its status.
        Ok(None) => std::process::exit(wait_for(pid)),
        Err(failure) => {
            let _ = kill(pid, Signal::SIGKILL);
            report.fail(failure)
        }
    }
}

/// A report of the guard failing to start.
fn guard_failure(message: String) -> StageReport {
    StageReport::new(StageStep::Guard, message)
}

struct Prepared {
    /// The guard's filter, compiled before the fork.
    guard_filter: seccompiler::BpfProgram,
    supervisor_end: OwnedFd,
    command_end: OwnedFd,
    /// The kernel to ask which file a socket is bound to, when connects
    /// are held (opened before the filter, which may deny netlink).
    socket_diag: Option<SocketDiag>,
}

/// Everything that can fail before the fork: the base filter, installed
/// here once for the supervisor and the command alike (each filter costs
/// a compile in the kernel), the guard's filter, the channel, subreaping.
fn prepare(
    network: NetworkMode,
    held: Held,
    listed: ListedSockets,
) -> Result<Prepared, StageReport> {
    let base = build_filter(network, listed)
        .map_err(|err| StageReport::new(StageStep::Seccomp, err.to_string()))?;
    let guard_filter = build_guard_filter(held).map_err(|err| guard_failure(err.to_string()))?;
    // Without it no socket file counts as the command's own: its connects
    // to them are refused, which fails closed.
    let socket_diag = held.connect.then(|| SocketDiag::open().ok()).flatten();
    forbid_core_dumps()?;
    install_filter(&base)?;
    let (supervisor_end, command_end) = channel()
        .map_err(|err| guard_failure(format!("cannot create the guard's channel: {err}")))?;
    prctl::set_child_subreaper(true)
        .map_err(|err| guard_failure(format!("cannot become a subreaper: {err}")))?;
    Ok(Prepared {
        guard_filter,
        supervisor_end,
        command_end,
        socket_diag,
    })
}

/// Sets the core dump size to nothing, hard limit included, for the
/// supervisor and everything the command starts: the kernel writes a dump
/// into the crashing process's working directory with no call the guard
/// could hold, so a command crashing on purpose inside `.git` (where the
/// legacy pipeline has no read-only mount) or a git directory under
/// another name would write there. Without `CAP_SYS_RESOURCE` (dropped)
/// nothing below raises it again.
fn forbid_core_dumps() -> Result<(), StageReport> {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|err| guard_failure(format!("cannot forbid core dumps: {err}")))
}

/// The child, under the base filter already: installs the guard's
/// filter, hands its listener to the supervisor and waits until the
/// supervisor holds it, then execs the command. Returns only with the
/// reason a step failed.
fn become_command(
    guard_filter: &seccompiler::BpfProgram,
    channel: OwnedFd,
    command: &[OsString],
    without_bwrap: Option<(&Path, &CommandEnvironment)>,
) -> Result<Infallible, StageReport> {
    if without_bwrap.is_some() {
        leave_the_callers_session()?;
    }
    let listener = install_with_listener(guard_filter).map_err(|err| {
        guard_failure(format!("cannot install the guard's seccomp filter (seccomp user notification, Linux 5.0): {err}"))
    })?;
    send_listeners(channel.as_fd(), &[(0, listener.as_fd())]).map_err(|err| {
        guard_failure(format!(
            "cannot hand the guard's listener to the supervisor: {err}"
        ))
    })?;
    drop(listener);
    let mut ack = [0u8; 1];
    let mut channel = File::from(channel);
    if channel
        .read(&mut ack)
        .map_err(|err| guard_failure(err.to_string()))?
        != 1
    {
        return Err(guard_failure(
            "the guard's supervisor stopped before the command started".into(),
        ));
    }
    drop(channel);
    let (cwd, env) = without_bwrap.unzip();
    exec_command(command, cwd, env)
}

/// What bwrap does for its command, done here where no bwrap runs: a
/// session of its own, and death with the supervisor (its parent), which
/// it cannot outlive unsupervised.
fn leave_the_callers_session() -> Result<(), StageReport> {
    let failed = |what: &str, err: Errno| guard_failure(format!("cannot {what}: {err}"));
    let supervisor = nix::unistd::getppid();
    prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|err| failed("tie the command to its supervisor", err))?;
    // The supervisor may have died before the tie was made.
    if nix::unistd::getppid() != supervisor {
        return Err(guard_failure(
            "the guard's supervisor ended before the command started".into(),
        ));
    }
    nix::unistd::setsid().map_err(|err| failed("start a session of its own", err))?;
    Ok(())
}

/// The parent, before the command starts: takes the listener, checks what
/// the kernel offers, locks itself down and tells the child to go on.
/// `Ok(None)` when the child stopped before handing the listener over.
fn start_supervising(
    channel: OwnedFd,
    roots: Option<(Vec<GuardRoot>, RootLayout)>,
    sockets: UnixSockets,
) -> Result<Option<Supervisor>, StageReport> {
    let received = receive_listeners(channel.as_fd())
        .map_err(|err| guard_failure(format!("cannot receive the guard's listener: {err}")))?;
    let Some(listener) = received.and_then(|fds| fds.into_iter().next()) else {
        return Ok(None);
    };
    let listener = listener.1;
    let delivery =
        probe_fd_delivery(listener.as_raw_fd()).map_err(|err| guard_failure(err.to_string()))?;
    let synchronous = wake_on_the_callers_cpu(&listener);
    tracing::debug!(synchronous, "guard hand-over");
    let view = View::own()
        .map_err(|err| guard_failure(format!("cannot read the supervisor's procfs: {err}")))?;
    let guards_names = roots.is_some();
    let (roots, layout) = roots.unwrap_or((Vec::new(), RootLayout::Mounted));
    let judge = Anchors::open(roots, layout)
        .map_err(guard_failure)
        .and_then(|anchors| {
            Judge::new(anchors, OwnMounts::default()).map_err(|err| {
                guard_failure(format!("cannot read where the writable roots are: {err}"))
            })
        })?;
    prctl::set_dumpable(false)
        .map_err(|err| guard_failure(format!("cannot make the supervisor undumpable: {err}")))?;
    detach_stdio()
        .map_err(|err| guard_failure(format!("cannot detach the supervisor's stdio: {err}")))?;
    // Its own working directory never matters (relative paths start at the
    // caller's); `/` keeps a path that reaches it anyway (a command's link
    // into /proc/self/cwd) on the read-only root, not in the workspace.
    std::env::set_current_dir("/")
        .map_err(|err| guard_failure(format!("cannot leave the workspace directory: {err}")))?;
    File::from(channel)
        .write_all(&[1])
        .map_err(|err| guard_failure(format!("cannot start the command: {err}")))?;
    Ok(Some(Supervisor {
        listener,
        delivery,
        view,
        judge,
        guards_names,
        sockets,
        entries: CallerEntries::default(),
    }))
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, not in the `libc` crate.
const SYNC_WAKE_UP: u64 = 1;

/// Asks the kernel to hand each held call over synchronously (Linux 6.6):
/// the supervisor is woken on the CPU of the thread that made the call,
/// which waits anyway, and that thread on the supervisor's once answered,
/// so no hand-over waits for another CPU to wake. Measured on a 2-core VM
/// (`just bench`'s files bench): 2,000 held creations took 703 ms without
/// it, 565 ms with it. Whether the kernel took it; an older one refuses
/// the request, and the guard works as before, only slower.
fn wake_on_the_callers_cpu(listener: &OwnedFd) -> bool {
    // SAFETY: SET_FLAGS takes the flags by value.
    let result = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SYNC_WAKE_UP,
        )
    };
    result == 0
}

/// Points the supervisor's stdin and stdout at `/dev/null`: it reads
/// nothing and writes only refusals, to stderr, and must not hold the
/// command's terminal or pipes open.
fn detach_stdio() -> std::io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    Ok(())
}

/// Serves held calls on a thread of their own (blocking in RECV, so a
/// call wakes it directly) while this thread reaps children, orphans
/// included, until the command (`child`) exits; then exits with the
/// command's status. The serving thread is the only one that creates
/// entries, so the umask it sets around a creation is never raced.
fn supervise(supervisor: Supervisor, child: Pid) -> ! {
    let serving = std::thread::Builder::new()
        .name("guard".into())
        .spawn(move || {
            // A panic would leave every later call held for ever: end the
            // sandbox instead, so the failure is closed and visible.
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                while supervisor.serve_one() {}
            }));
            // Nothing holds the filter: the command is gone and the other
            // thread is about to exit with its status.
            if served.is_ok() {
                return;
            }
            eprintln!("{HELPER_ARGV0}: the guard's supervisor failed; ending the sandbox");
            std::process::exit(exit_status::SETUP);
        });
    if let Err(err) = serving {
        eprintln!("{HELPER_ARGV0}: cannot start the guard's supervisor: {err}");
        let _ = kill(child, Signal::SIGKILL);
        std::process::exit(exit_status::SETUP);
    }
    loop {
        match waitpid(None, None) {
            Ok(status) if status.pid() == Some(child) => {
                std::process::exit(shell_status(status));
            }
            Err(Errno::ECHILD) => std::process::exit(exit_status::SETUP),
            Ok(_) | Err(_) => {}
        }
    }
}

/// Waits for `child` and returns its status.
fn wait_for(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(status) => return shell_status(status),
            Err(Errno::EINTR) => {}
            Err(_) => return exit_status::SETUP,
        }
    }
}

/// How a child that was waited for ended, in the shell's convention: its
/// exit code, or 128+N for signal N.
fn shell_status(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => exit_status::SETUP,
    }
}

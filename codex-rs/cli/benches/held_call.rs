//! What one held file creation costs, from the kernel's part up: the same
//! loop of `O_CREAT | O_EXCL` opens natively, under two minimal supervisors
//! written here, and in the sandbox without and with the protected-name
//! guard, in the same run.
//!
//! Run with `cargo bench -p codex-cli --bench held_call` (or `just bench`).
//! It prints numbers and never fails on a threshold; it exits non-zero
//! only when it cannot run, with the reason.
//!
//! # Variants (each creates the same files in a fresh directory, timed
//! inside the creating process, so start-up is not counted)
//!
//! - **N** natively;
//! - **C** each creation held (`SECCOMP_RET_USER_NOTIF`) by a supervisor
//!   that only lets it through (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): the
//!   kernel's round trip alone, which the guard may not use for a path
//!   (the caller could rewrite it before the kernel reads it again);
//! - **A** each creation held by a supervisor that reads the path, creates
//!   the file itself and hands the descriptor over
//!   (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`): the least
//!   any supervisor that carries out opens can cost;
//! - **U** `codex sandbox -P :workspace --disable guard_protected_names`;
//! - **G** `codex sandbox -P :workspace` (the guard on, the default).
//!
//! C and A ask for the synchronous hand-over
//! (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`) as the guard does. The kernel
//! wakes the caller for a handed-over descriptor without it (it has no
//! such flag for `ADDFD`), so A − C is what handing a descriptor over
//! costs, and G − A what the guard's own checks cost.
//!
//! The workspace is a `tmpfs` the bench mounts when it runs as root, else
//! a directory of `/var/tmp` ([`support::MemoryFs`]). Rounds default to 5
//! (`CODEX_BENCH_HELD_ROUNDS`), creations per run to 5,000
//! (`CODEX_BENCH_HELD_FILES`).

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Re-run as the creating loop, in the sandbox or under a supervisor.
    if let [_, flag, dir, count, ..] = args.as_slice()
        && flag == linux::CREATE_LOOP
    {
        match count
            .parse()
            .map_err(|err| format!("count {count:?}: {err}"))
            .and_then(|count| linux::create_files(std::path::Path::new(dir), count))
        {
            Ok(nanos) => println!("{nanos}"),
            Err(message) => {
                eprintln!("held_call bench: {message}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(message) = linux::main() {
        eprintln!("held_call bench: cannot run: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("held_call bench: skipped, seccomp user notification needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::ffi::CString;
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Instant;

    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };

    use super::support::{MemoryFs, count_from_env};

    /// The argument that makes the bench binary the creating loop.
    pub const CREATE_LOOP: &str = "--create-loop";

    /// `SECCOMP_IOCTL_NOTIF_SET_FLAGS` (`SECCOMP_IOW(4, __u64)`), which
    /// `libc` does not name.
    const NOTIF_SET_FLAGS: libc::c_ulong = 0x4008_2104;
    /// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6).
    const SYNC_WAKE_UP: u64 = 1;

    /// Creates `count` files in `dir` (which must be empty) and returns
    /// the nanoseconds one creation took on average.
    pub fn create_files(dir: &Path, count: usize) -> Result<u128, String> {
        let started = Instant::now();
        for index in 0..count {
            let path = CString::new(dir.join(format!("f{index}")).as_os_str().as_bytes())
                .map_err(|err| err.to_string())?;
            // SAFETY: the path is NUL-terminated and lives across the call.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd < 0 {
                return Err(format!(
                    "create {}: {}",
                    path.to_string_lossy(),
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY: the descriptor was just opened here.
            unsafe { libc::close(fd) };
        }
        Ok(started.elapsed().as_nanos() / count.max(1) as u128)
    }

    /// How the minimal supervisor answers a held creation.
    #[derive(Clone, Copy)]
    enum Answer {
        Continue,
        HandOver,
    }

    pub fn main() -> Result<(), String> {
        let rounds = count_from_env("CODEX_BENCH_HELD_ROUNDS", 5)?;
        let files = count_from_env("CODEX_BENCH_HELD_FILES", 5000)?;
        let codex = std::env::var_os("CODEX_BENCH_BIN").map(PathBuf::from);
        let workspace = MemoryFs::new("512m")?;
        let me = std::env::current_exe().map_err(|err| err.to_string())?;
        let mut labels = vec![
            "N  natively",
            "C  held, let through",
            "A  held, descriptor handed over",
        ];
        if codex.is_some() {
            labels.extend(["U  sandbox, no guard", "G  sandbox, guard (default)"]);
        }
        let mut samples: BTreeMap<&str, Vec<u128>> = BTreeMap::new();
        for round in 0..rounds {
            for (index, label) in labels.iter().enumerate() {
                let dir = workspace.path().join(format!("run-{round}-{index}"));
                std::fs::create_dir(&dir).map_err(|err| err.to_string())?;
                let nanos = match index {
                    0 => create_files(&dir, files)?,
                    1 => supervised(&dir, files, Answer::Continue)?,
                    2 => supervised(&dir, files, Answer::HandOver)?,
                    _ => sandboxed(
                        codex.as_deref().unwrap_or(Path::new("codex")),
                        &me,
                        &workspace,
                        &dir,
                        files,
                        index == 3,
                    )?,
                };
                std::fs::remove_dir_all(&dir).map_err(|err| err.to_string())?;
                samples.entry(label).or_default().push(nanos);
            }
        }
        let median = |label: &str| -> f64 {
            let mut values = samples[label].clone();
            values.sort_unstable();
            values[values.len() / 2] as f64 / 1000.0
        };
        println!(
            "\none O_CREAT | O_EXCL open, {files} per run, {rounds} round(s), medians, on {}",
            workspace.kind()
        );
        for label in &labels {
            println!("{label:<36} {:>8.1} us", median(label));
        }
        let (n, c, a) = (median(labels[0]), median(labels[1]), median(labels[2]));
        println!(
            "the kernel's round trip C - N = {:.1} us; handing a descriptor over A - C = {:.1} us",
            c - n,
            a - c
        );
        if codex.is_some() {
            let (u, g) = (median(labels[3]), median(labels[4]));
            println!(
                "the guard G - U = {:.1} us per creation ({:.0} held creations per second), of which beyond the least a supervisor can cost G - A = {:.1} us",
                g - u,
                1e6 / g,
                g - a
            );
        }
        Ok(())
    }

    /// Runs the creating loop in the sandbox and returns its figure.
    fn sandboxed(
        codex: &Path,
        me: &Path,
        workspace: &MemoryFs,
        dir: &Path,
        files: usize,
        unguarded: bool,
    ) -> Result<u128, String> {
        let mut command = Command::new(codex);
        command
            .args(["sandbox", "-P", ":workspace", "-C"])
            .arg(workspace.path());
        if unguarded {
            command.args(["--disable", "guard_protected_names"]);
        }
        let output = command
            .arg("--")
            .arg(me)
            .arg(CREATE_LOOP)
            .arg(dir)
            .arg(files.to_string())
            .output()
            .map_err(|err| format!("{}: {err}", codex.display()))?;
        if !output.status.success() {
            return Err(format!(
                "the sandboxed loop failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|err| format!("the sandboxed loop printed no figure: {err}"))
    }

    /// Runs the creating loop in a child whose creations are held by a
    /// supervisor that answers each as `answer` says.
    fn supervised(dir: &Path, files: usize, answer: Answer) -> Result<u128, String> {
        let filter = creation_filter()?;
        let (mut from_child, to_parent) = pipe()?;
        let (from_parent, mut to_child) = pipe()?;
        // SAFETY: the bench is single-threaded, so the child may run any code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            drop(from_child);
            drop(to_child);
            let status = child(&filter, to_parent, from_parent, dir, files);
            // SAFETY: ends the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(status) };
        }
        drop(to_parent);
        drop(from_parent);
        let mut number = [0u8; 4];
        from_child
            .read_exact(&mut number)
            .map_err(|err| format!("no listener from the child: {err}"))?;
        let listener = take_descriptor(pid, i32::from_ne_bytes(number))?;
        // SAFETY: SET_FLAGS takes the flags by value; older kernels refuse it.
        unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SET_FLAGS, SYNC_WAKE_UP) };
        to_child.write_all(b"g").map_err(|err| err.to_string())?;
        serve(&listener, answer);
        let mut figure = String::new();
        from_child
            .read_to_string(&mut figure)
            .map_err(|err| err.to_string())?;
        // SAFETY: reaps the child forked above.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        figure
            .trim()
            .parse()
            .map_err(|_| format!("the supervised loop failed: {figure:?}"))
    }

    /// The child: installs the filter, tells the parent its listener, waits
    /// for the go and runs the loop. Returns its exit status.
    fn child(
        filter: &[libc::sock_filter],
        mut to_parent: File,
        mut from_parent: File,
        dir: &Path,
        files: usize,
    ) -> i32 {
        let program = libc::sock_fprog {
            len: u16::try_from(filter.len()).unwrap_or(0),
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: plain prctl and seccomp calls; `program` outlives them.
        let listener = unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &raw const program,
            )
        };
        let Ok(listener) = i32::try_from(listener) else {
            return 1;
        };
        if listener < 0 || to_parent.write_all(&listener.to_ne_bytes()).is_err() {
            return 1;
        }
        let mut go = [0u8; 1];
        if from_parent.read_exact(&mut go).is_err() {
            return 1;
        }
        // SAFETY: the parent holds its own copy; this one is not needed.
        unsafe { libc::close(listener) };
        match create_files(dir, files) {
            Ok(nanos) => i32::from(writeln!(to_parent, "{nanos}").is_err()),
            Err(message) => i32::from(writeln!(to_parent, "{message}").is_err()) + 1,
        }
    }

    /// Answers held creations until no process holds the filter.
    fn serve(listener: &OwnedFd, answer: Answer) {
        loop {
            let mut poll = libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: polls the one descriptor in `poll`.
            if unsafe { libc::poll(&raw mut poll, 1, -1) } < 0 || poll.revents & libc::POLLIN == 0 {
                return;
            }
            // SAFETY: a zeroed seccomp_notif is what RECV requires.
            let mut held: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: RECV fills the struct, which lives across the call.
            if unsafe {
                libc::ioctl(
                    listener.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV,
                    &raw mut held,
                )
            } < 0
            {
                continue;
            }
            match answer {
                Answer::Continue => answer_with(
                    listener,
                    held.id,
                    0,
                    libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
                ),
                Answer::HandOver => hand_over(listener, &held),
            }
        }
    }

    /// Answers the held call `id` with `-error` (or 0), or lets it through
    /// with `SECCOMP_USER_NOTIF_FLAG_CONTINUE` in `flags`.
    fn answer_with(listener: &OwnedFd, id: u64, error: i32, flags: u32) {
        let response = libc::seccomp_notif_resp {
            id,
            val: 0,
            error: -error,
            flags,
        };
        // SAFETY: SEND reads the struct, which lives across the call.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &raw const response,
            )
        };
    }

    /// Reads the held open's path from the caller's memory, creates the
    /// file and hands the descriptor over (or the error back).
    fn hand_over(listener: &OwnedFd, held: &libc::seccomp_notif) {
        let fail = |error: i32| answer_with(listener, held.id, error, 0);
        let mut path = vec![0u8; 512];
        let read = File::open(format!("/proc/{}/mem", held.pid))
            .and_then(|memory| memory.read_at(&mut path, held.data.args[1]));
        let Some(end) = read
            .ok()
            .and_then(|_| path.iter().position(|&byte| byte == 0))
        else {
            return fail(libc::EFAULT);
        };
        path.truncate(end);
        let Ok(path) = CString::new(path) else {
            return fail(libc::EINVAL);
        };
        // The flags and mode as the caller gave them (the kernel reads ints).
        #[allow(clippy::cast_possible_truncation)]
        let (flags, mode) = (held.data.args[2] as i32, held.data.args[3] as libc::c_uint);
        // SAFETY: the path is NUL-terminated and lives across the call.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) };
        if fd < 0 {
            return fail(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
            );
        }
        // SAFETY: the descriptor was just opened here.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let add = libc::seccomp_notif_addfd {
            id: held.id,
            flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
            srcfd: u32::try_from(file.as_raw_fd()).unwrap_or(u32::MAX),
            newfd: 0,
            newfd_flags: libc::O_CLOEXEC as u32,
        };
        // SAFETY: ADDFD reads the struct, which lives across the call.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                &raw const add,
            )
        };
    }

    /// A filter holding every `open`/`openat` with `O_CREAT`.
    fn creation_filter() -> Result<Vec<libc::sock_filter>, String> {
        let creating = |arg: u8| -> Result<Vec<SeccompRule>, String> {
            let condition = SeccompCondition::new(
                arg,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(libc::O_CREAT as u64),
                libc::O_CREAT as u64,
            )
            .map_err(|err| err.to_string())?;
            Ok(vec![
                SeccompRule::new(vec![condition]).map_err(|err| err.to_string())?,
            ])
        };
        let mut rules = BTreeMap::new();
        rules.insert(libc::SYS_openat, creating(2)?);
        #[cfg(target_arch = "x86_64")]
        rules.insert(libc::SYS_open, creating(1)?);
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|err| err.to_string())?;
        let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trap, arch)
            .map_err(|err| err.to_string())?;
        let program: seccompiler::BpfProgram = filter
            .try_into()
            .map_err(|err: seccompiler::BackendError| err.to_string())?;
        // seccompiler has no user-notification action: `ret TRAP` becomes one.
        Ok(program
            .into_iter()
            .map(|mut insn| {
                if insn.code == 0x06 && insn.k == libc::SECCOMP_RET_TRAP {
                    insn.k = libc::SECCOMP_RET_USER_NOTIF;
                }
                libc::sock_filter {
                    code: insn.code,
                    jt: insn.jt,
                    jf: insn.jf,
                    k: insn.k,
                }
            })
            .collect())
    }

    /// A copy of the child's descriptor `number` (`pidfd_getfd`).
    fn take_descriptor(pid: libc::pid_t, number: i32) -> Result<OwnedFd, String> {
        // SAFETY: pidfd_open and pidfd_getfd take plain numbers.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = i32::try_from(pidfd)
            .ok()
            .filter(|&fd| fd >= 0)
            .ok_or_else(|| format!("pidfd_open: {}", std::io::Error::last_os_error()))?;
        // SAFETY: the kernel just returned this descriptor, owned by no one.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        // SAFETY: as above.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), number, 0) };
        let copy = i32::try_from(copy)
            .ok()
            .filter(|&fd| fd >= 0)
            .ok_or_else(|| format!("pidfd_getfd: {}", std::io::Error::last_os_error()))?;
        // SAFETY: the kernel just installed this copy here.
        Ok(unsafe { OwnedFd::from_raw_fd(copy) })
    }

    fn pipe() -> Result<(File, File), String> {
        let mut ends = [0; 2];
        // SAFETY: pipe2 fills the two-element array.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: the kernel just returned these two descriptors.
        Ok(unsafe { (File::from_raw_fd(ends[0]), File::from_raw_fd(ends[1])) })
    }
}

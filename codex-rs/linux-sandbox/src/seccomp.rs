//! The seccomp filter, built with `seccompiler`.
//!
//! Default-allow, with these denials (EPERM):
//! - always: `ptrace`, `process_vm_readv`, `process_vm_writev`, `io_uring_*`;
//! - restricted network: every socket family but `AF_UNIX`, every `AF_UNIX`
//!   socket type but `SOCK_STREAM` and `SOCK_SEQPACKET` (a datagram socket
//!   can `sendmsg` to any host socket path without `connect`, and the kernel
//!   turns `SOCK_RAW` into a datagram socket), and `connect`, `bind`,
//!   `listen`, `accept`, `accept4`, `sendto`,
//!   `sendmmsg`, `recvmmsg`, `getsockopt`, `setsockopt`, `getpeername`,
//!   `getsockname`, `shutdown`.
//!
//! - enabled network: every `AF_UNIX` socket type but `SOCK_STREAM` and
//!   `SOCK_SEQPACKET`, for `socket` and `socketpair` alike (a datagram
//!   socket sends to any socket path or abstract name without `connect`,
//!   and `connect` is where the guard closes host sockets, see
//!   `guard::sockets`); every other family is the host network's.
//!
//! - proxy-routed network: `socket` for every family but `AF_INET` and
//!   `AF_INET6` (the namespace's only interface is loopback, where the
//!   proxy listeners are), so no `AF_UNIX` socket can reach a host socket
//!   path;
//! - where the profile lists host Unix sockets ([`ListedSockets::Some`]),
//!   a restricted network denies only `bind`, `listen`, `accept` and
//!   `accept4` of the calls above, and a proxy-routed one allows `AF_UNIX`
//!   stream and seqpacket sockets too: the guard's supervisor holds every
//!   `connect` and lets only a listed socket through; `socketpair` only as an `AF_UNIX` stream or seqpacket pair,
//!   whose two ends both belong to the command (Node's `child_process`,
//!   and so npm's install scripts, needs it for every child's stdio).
//!
//! A default-allow filter keyed on syscall numbers must also stop the other
//! syscall ABIs, whose numbers differ: seccompiler's architecture check
//! kills the process on a foreign architecture (the i386 `int 0x80` entry),
//! and on x86_64 `X32_GUARD` kills it on any x32 syscall number.

use codex_sandboxing::environment::CommandEnvironment;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::protocol::{StageReport, StageStep};
use codex_sandboxing::NetworkMode;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// Why the filter could not be built (a bug or an unsupported architecture).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the seccomp filter: {0}")]
pub struct SeccompError(String);

impl SeccompError {
    /// Wraps the message of a `seccompiler` error (or a plain reason).
    pub fn from_display(err: impl std::fmt::Display) -> Self {
        SeccompError(err.to_string())
    }
}

/// Syscalls denied under every sandboxing profile: debugging other
/// processes, `io_uring` (whose operations no filter sees), and the kernel
/// keyrings. The command stays in its caller's session keyring, and the
/// user keyring is shared by every process of that user, so joining a
/// fresh session keyring before exec would still leave the user's keys
/// readable: the key syscalls are denied instead (`EPERM`), which tools
/// treat as "no keyring here".
const ALWAYS_DENIED: [i64; 9] = [
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
];

/// The calls that set a file's mode, and which argument holds it. Any of
/// them with `S_ISUID` or `S_ISGID` is denied (`EPERM`): run as root, the
/// sandbox maps the command to the host's root, and a set-user-ID file it
/// left in the workspace would run as root for any local user. (File
/// capabilities need `CAP_SETFCAP`, which the sandbox drops.) `open` and
/// `openat` count only with `O_CREAT`, but a mode with these bits and no
/// `O_CREAT` is denied too: the C libraries pass no mode then.
const MODE_SETTING: &[(i64, u8)] = &[
    (libc::SYS_fchmod, 1),
    (libc::SYS_fchmodat, 2),
    (libc::SYS_fchmodat2, 2),
    (libc::SYS_openat, 3),
    (libc::SYS_mkdirat, 2),
    (libc::SYS_mknodat, 2),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_chmod, 1),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_open, 2),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_creat, 1),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_mkdir, 1),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_mknod, 1),
];

/// The mode bits no file the command makes or changes may carry.
const PRIVILEGE_BITS: [u64; 2] = [libc::S_ISUID as u64, libc::S_ISGID as u64];

/// Whether the profile lists host Unix sockets the command may connect to
/// (`network.unix_sockets`), which the inner stage's supervisor then
/// lets through one `connect` at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedSockets {
    /// None listed (or no supervisor to let them through).
    None,
    /// Some listed: a Unix stream socket may be made and connected in
    /// every network mode (each `connect` held).
    Some,
}

/// The server half of [`NETWORK_DENIED`]: what stays denied when the
/// network is restricted but listed sockets may be connected to.
const SERVER_CALLS: [i64; 4] = [
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
];

/// Socket calls denied outright when the network is restricted.
const NETWORK_DENIED: [i64; 13] = [
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_sendto,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getpeername,
    libc::SYS_getsockname,
    libc::SYS_shutdown,
];

/// The bit that marks an x32 syscall number on x86_64.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Builds the filter for a network mode, as a BPF program. With
/// [`ListedSockets::Some`], a restricted network allows the client calls
/// of a Unix stream socket (whose only way out is a held `connect`) and a
/// proxy-routed one allows Unix stream sockets.
pub fn build_filter(
    network: NetworkMode,
    listed: ListedSockets,
) -> Result<BpfProgram, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for syscall in ALWAYS_DENIED {
        rules.insert(syscall, Vec::new());
    }
    for &(syscall, arg) in MODE_SETTING {
        let deny = PRIVILEGE_BITS
            .iter()
            .map(|&bit| rule(condition(arg, SeccompCmpOp::MaskedEq(bit), bit)?))
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(syscall, deny);
    }
    match network {
        NetworkMode::Enabled => {
            for syscall in [libc::SYS_socket, libc::SYS_socketpair] {
                rules.insert(syscall, unix_datagrams()?);
            }
        }
        NetworkMode::Restricted => {
            let denied: &[i64] = match listed {
                ListedSockets::None => &NETWORK_DENIED,
                ListedSockets::Some => &SERVER_CALLS,
            };
            for &syscall in denied {
                rules.insert(syscall, Vec::new());
            }
            for syscall in [libc::SYS_socket, libc::SYS_socketpair] {
                rules.insert(syscall, unix_stream_only()?);
            }
        }
        NetworkMode::Proxy => {
            // Internet sockets only: the namespace has nothing but
            // loopback, where the proxy listeners are. Both conditions
            // must hold for the rule to deny.
            let mut not_internet = vec![
                condition(0, SeccompCmpOp::Ne, libc::AF_INET as u64)?,
                condition(0, SeccompCmpOp::Ne, libc::AF_INET6 as u64)?,
            ];
            let mut deny_socket = Vec::new();
            if listed == ListedSockets::Some {
                not_internet.push(condition(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?);
                deny_socket.extend(unix_datagrams()?);
            }
            deny_socket
                .push(SeccompRule::new(not_internet).map_err(|err| SeccompError(err.to_string()))?);
            rules.insert(libc::SYS_socket, deny_socket);
            rules.insert(libc::SYS_socketpair, unix_stream_only()?);
        }
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|err| SeccompError(format!("unsupported architecture: {err}")))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|err| SeccompError(err.to_string()))?;
    let mut program: BpfProgram = filter
        .try_into()
        .map_err(|err: seccompiler::BackendError| SeccompError(err.to_string()))?;
    if arch == TargetArch::x86_64 {
        insert_x32_guard(&mut program)?;
    }
    Ok(program)
}

/// Rules that deny a `socket`/`socketpair` call unless it asks for an
/// `AF_UNIX` stream or seqpacket socket. Any one rule denies: a family
/// other than `AF_UNIX`, or a socket type (the low four bits of `type`;
/// the rest are flags) other than the connection-oriented ones, stream (1)
/// and seqpacket (5). seccompiler has no masked "not equal", so the other
/// fourteen types are covered by three masked matches, each a few
/// instructions (the kernel compiles every instruction at each start):
/// bit 3 set (8 to 15), bit 1 set (2, 3, 6, 7), or bits 0, 1 and 3 all
/// clear (0, 4). 1 and 5 match none of them.
fn unix_stream_only() -> Result<Vec<SeccompRule>, SeccompError> {
    let mut deny = vec![rule(condition(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?)?];
    for (mask, value) in NOT_STREAM_TYPES {
        deny.push(rule(condition(1, SeccompCmpOp::MaskedEq(mask), value)?)?);
    }
    Ok(deny)
}

/// Socket types (masked matches on the low four bits of `type`) other
/// than stream (1) and seqpacket (5): bit 3 set (8 to 15), bit 1 set (2,
/// 3, 6, 7), or bits 0, 1 and 3 all clear (0, 4).
const NOT_STREAM_TYPES: [(u64, u64); 3] = [(0b1000, 0b1000), (0b0010, 0b0010), (0b1011, 0)];

/// Rules that deny a `socket`/`socketpair` call for an `AF_UNIX` socket of
/// any type but stream and seqpacket (each rule: the family, and one of
/// [`NOT_STREAM_TYPES`]); other families are left alone.
fn unix_datagrams() -> Result<Vec<SeccompRule>, SeccompError> {
    NOT_STREAM_TYPES
        .iter()
        .map(|&(mask, value)| {
            SeccompRule::new(vec![
                condition(0, SeccompCmpOp::Eq, libc::AF_UNIX as u64)?,
                condition(1, SeccompCmpOp::MaskedEq(mask), value)?,
            ])
            .map_err(|err| SeccompError(err.to_string()))
        })
        .collect()
}

/// Installs `filter` on this (single-threaded) process and execs
/// `command`, in `cwd` and with exactly `env` when given (else with this
/// process's environment, which bwrap set): the last step of every pipeline that
/// starts the command itself (the inner stage, legacy Landlock).
/// `no_new_privs` must be set already. Returns only with the step that
/// failed and why; the command has not run then.
pub fn exec_filtered(
    filter: &BpfProgram,
    command: &[OsString],
    cwd: Option<&Path>,
    env: Option<&CommandEnvironment>,
) -> Result<Infallible, StageReport> {
    install_filter(filter)?;
    exec_command(command, cwd, env)
}

/// Installs `filter` on every thread of this process (and every child it
/// forks from now on). `no_new_privs` must be set already.
pub fn install_filter(filter: &BpfProgram) -> Result<(), StageReport> {
    seccompiler::apply_filter_all_threads(filter).map_err(|err| {
        StageReport::new(
            StageStep::Seccomp,
            format!("cannot install the seccomp filter: {err}"),
        )
    })
}

/// Execs `command` as [`exec_filtered`] does, under the filters already
/// installed.
pub fn exec_command(
    command: &[OsString],
    cwd: Option<&Path>,
    env: Option<&CommandEnvironment>,
) -> Result<Infallible, StageReport> {
    let (program, rest) = command
        .split_first()
        .ok_or_else(|| StageReport::new(StageStep::Exec, "no command to run"))?;
    let mut exec = std::process::Command::new(program);
    exec.args(rest);
    if let Some(cwd) = cwd {
        exec.current_dir(cwd);
    }
    if let Some(env) = env {
        exec.env_clear().envs(env.vars().iter().cloned());
    }
    let err = exec.exec();
    Err(StageReport::new(
        StageStep::Exec,
        format!("cannot execute {}: {err}", program.to_string_lossy()),
    ))
}

/// The program as the raw `struct sock_filter` array bwrap's `--seccomp`
/// reads.
pub fn program_bytes(program: &[sock_filter]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for instruction in program {
        bytes.extend_from_slice(&instruction.code.to_ne_bytes());
        bytes.push(instruction.jt);
        bytes.push(instruction.jf);
        bytes.extend_from_slice(&instruction.k.to_ne_bytes());
    }
    bytes
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SeccompError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|err| SeccompError(err.to_string()))
}

fn rule(condition: SeccompCondition) -> Result<SeccompRule, SeccompError> {
    SeccompRule::new(vec![condition]).map_err(|err| SeccompError(err.to_string()))
}

/// Three instructions that kill the process on an x32 syscall number.
///
/// seccompiler has no way to match a range of syscall numbers, so this is
/// written by hand and spliced in right after seccompiler's architecture
/// check (`load arch; jeq; ret kill`), before its own `load nr`. All of
/// seccompiler's jumps are relative and lie after the splice point, so
/// they are unaffected.
const X32_GUARD: [sock_filter; 3] = [
    // A = seccomp_data.nr
    sock_filter {
        code: 0x20,
        jt: 0,
        jf: 0,
        k: 0,
    },
    // if (A >= X32_SYSCALL_BIT) fall through to kill, else skip it
    sock_filter {
        code: 0x35,
        jt: 0,
        jf: 1,
        k: X32_SYSCALL_BIT,
    },
    sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_KILL_PROCESS,
    },
];

/// Length of seccompiler's leading architecture check.
const ARCH_CHECK_LEN: usize = 3;

fn insert_x32_guard(program: &mut BpfProgram) -> Result<(), SeccompError> {
    let arch_check_ends_in_kill = program
        .get(ARCH_CHECK_LEN - 1)
        .is_some_and(|insn| insn.code == 0x06 && insn.k == libc::SECCOMP_RET_KILL_PROCESS);
    if !arch_check_ends_in_kill {
        return Err(SeccompError(
            "seccompiler's program no longer starts with the expected architecture check".into(),
        ));
    }
    program.splice(ARCH_CHECK_LEN..ARCH_CHECK_LEN, X32_GUARD);
    Ok(())
}

#[cfg(test)]
mod tests;

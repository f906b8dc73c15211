//! The guard's seccomp filter: syscalls that create, move or write
//! entries go to the supervisor (`SECCOMP_RET_USER_NOTIF`), everything
//! else is allowed (reading opens never leave the kernel); the filter
//! answers `ENOSYS` itself to the calls the guard cannot read
//! ([`Interception::Unsupported`]). It is installed in addition to the
//! sandbox's own filter, whose denials win.
//!
//! seccompiler compiles the rules but has no user-notification action, so
//! the filter is compiled with `Trap` as its match action, an action the
//! guard never uses otherwise, and each `ret TRAP` is then rewritten into
//! `ret USER_NOTIF`.

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::calls::{Held, Interception, WRITING_OPEN_FLAGS, intercepted};
use crate::seccomp::SeccompError;

/// `BPF_RET | BPF_K`: return the constant in `k`.
const RET_K: u16 = 0x06;

/// `BPF_JMP | BPF_JA`: jump forward by `k` instructions.
const JA: u16 = 0x05;

/// Builds the filter for the calls `held` names, as one BPF program: the
/// calls the guard cannot read answered `ENOSYS`, then the others held.
///
/// seccompiler gives each filter one action for a match, and the guard
/// needs two; rather than install two filters (each an attach and a
/// compile in the kernel, at every start), the `ENOSYS` program comes
/// first and each of its `ret ALLOW` becomes a jump to the start of the
/// holding program. Both begin with their own architecture check.
pub fn build_guard_filter(held: Held) -> Result<BpfProgram, SeccompError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(SeccompError::from_display)?;
    let (unsupported, notified): (Vec<_>, Vec<_>) = intercepted(held)
        .into_iter()
        .partition(|(_, interception)| *interception == Interception::Unsupported);
    let mut program: BpfProgram = SeccompFilter::new(
        unsupported
            .into_iter()
            .map(|(nr, _)| (nr, Vec::new()))
            .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(SeccompError::from_display)?
    .try_into()
    .map_err(|err: seccompiler::BackendError| SeccompError::from_display(err))?;
    let len = program.len();
    for (index, instruction) in program.iter_mut().enumerate() {
        if instruction.code == RET_K && instruction.k == libc::SECCOMP_RET_ALLOW {
            instruction.code = JA;
            instruction.k = u32::try_from(len - index - 1)
                .map_err(|_| SeccompError::from_display("the guard's filter is too long"))?;
        }
    }
    program.extend(build_notifying(notified, arch)?);
    Ok(program)
}

/// The filter sending `calls` to the supervisor.
fn build_notifying(
    calls: Vec<(i64, Interception)>,
    arch: TargetArch,
) -> Result<BpfProgram, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, interception) in calls {
        let syscall_rules = match interception {
            Interception::Always | Interception::Unsupported => Vec::new(),
            Interception::WritingOpen(arg) => WRITING_OPEN_FLAGS
                .iter()
                .map(|&flag| masked_rule(arg, flag, flag))
                .collect::<Result<_, _>>()?,
            Interception::OneOf(arg, values) => values
                .iter()
                .map(|&value| masked_rule(arg, 0xffff_ffff, value))
                .collect::<Result<_, _>>()?,
            Interception::WithoutFlags(arg, mask) => vec![masked_rule(arg, mask, 0)?],
            Interception::AnyMasked(arg, pairs) => pairs
                .iter()
                .map(|&(mask, value)| masked_rule(arg, mask, value))
                .collect::<Result<_, _>>()?,
        };
        rules.insert(nr, syscall_rules);
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trap, arch)
        .map_err(SeccompError::from_display)?;
    let mut program: BpfProgram = filter
        .try_into()
        .map_err(|err: seccompiler::BackendError| SeccompError::from_display(err))?;
    let mut rewritten = 0;
    for instruction in &mut program {
        if instruction.code == RET_K && instruction.k == libc::SECCOMP_RET_TRAP {
            instruction.k = libc::SECCOMP_RET_USER_NOTIF;
            rewritten += 1;
        }
    }
    if rewritten == 0 {
        return Err(SeccompError::from_display(
            "seccompiler's program has no `ret TRAP` to turn into a user notification",
        ));
    }
    Ok(program)
}

/// A rule that matches when `arg & mask == value` (low 32 bits).
fn masked_rule(arg: u8, mask: u64, value: u64) -> Result<SeccompRule, SeccompError> {
    let condition = SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(mask),
        value,
    )
    .map_err(SeccompError::from_display)?;
    SeccompRule::new(vec![condition]).map_err(SeccompError::from_display)
}

/// Installs `program` on the calling thread and returns the notification
/// descriptor (`SECCOMP_FILTER_FLAG_NEW_LISTENER`). `no_new_privs` must be
/// set already.
///
/// Where the kernel has it (Linux 5.19), the filter also asks that a
/// thread whose call the supervisor has received wait for the answer
/// through any signal but a fatal one. Otherwise a signal (Go's runtime
/// sends SIGURG all the time) would restart a call the supervisor may
/// already have carried out, and the repeat would fail with `EEXIST`.
pub fn install_with_listener(program: &BpfProgram) -> std::io::Result<OwnedFd> {
    let killable =
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    match install(program, killable) {
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
            install(program, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
        }
        result => result,
    }
}

fn install(program: &BpfProgram, flags: libc::c_ulong) -> std::io::Result<OwnedFd> {
    let len = u16::try_from(program.len())
        .map_err(|_| std::io::Error::other("the guard's filter is too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut().cast(),
    };
    // SAFETY: `fprog` points at `program`, which outlives the call; the
    // kernel copies the filter before returning.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &raw const fprog,
        )
    };
    let fd = i32::try_from(fd).unwrap_or(-1);
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor, owned by no one.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_notifies_answers_enosys_and_allows_but_never_traps() {
        let program = build_guard_filter(Held::ALL).unwrap();
        let returns: Vec<u32> = program
            .iter()
            .filter(|insn| insn.code == RET_K)
            .map(|insn| insn.k)
            .collect();
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        for action in [
            libc::SECCOMP_RET_USER_NOTIF,
            libc::SECCOMP_RET_ALLOW,
            enosys,
        ] {
            assert!(returns.contains(&action), "no return of {action:#x}");
        }
        for action in returns {
            assert!(
                [
                    libc::SECCOMP_RET_USER_NOTIF,
                    libc::SECCOMP_RET_ALLOW,
                    libc::SECCOMP_RET_KILL_PROCESS,
                    enosys,
                ]
                .contains(&action),
                "unexpected action {action:#x}"
            );
        }
        // Every jump stays inside the program, forwards.
        for (index, insn) in program.iter().enumerate() {
            if insn.code == JA {
                assert!(index + 1 + (insn.k as usize) < program.len());
            }
        }
        let compared: Vec<u32> = program
            .iter()
            .filter(|insn| insn.code == 0x15)
            .map(|insn| insn.k)
            .collect();
        assert!(compared.contains(&u32::try_from(libc::SYS_clone3).unwrap()));
        assert!(compared.contains(&u32::try_from(libc::SYS_openat2).unwrap()));
    }
}

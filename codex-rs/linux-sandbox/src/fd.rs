//! Descriptor flags: the close-on-exec bit decides which descriptors cross
//! an exec, so it is set and cleared in exactly one place.
//!
//! `nix` makes the calls where a descriptor is held; the raw ones left are
//! what it does not wrap (`pidfd_open`, `close_range`) and what must work
//! on a descriptor number nobody holds (`is_open`, the fallback walk of
//! `/proc/self/fd`).

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};

/// A pidfd of `pid` (Linux 5.3), close-on-exec like every pidfd.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    match i32::try_from(fd) {
        Ok(fd) if fd >= 0 => {
            // SAFETY: `fd` was just returned by pidfd_open and is owned by
            // no one else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sets (`true`) or clears (`false`) `FD_CLOEXEC` on `fd`.
pub(crate) fn set_close_on_exec(fd: BorrowedFd<'_>, close: bool) -> io::Result<()> {
    let mut flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD)?);
    flags.set(FdFlag::FD_CLOEXEC, close);
    fcntl(fd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// Whether `fd` is an open descriptor of this process.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads the flags of any descriptor number and fails
    // cleanly (EBADF) when it is not open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0
}

/// Marks every descriptor above stderr close-on-exec, so nothing this
/// process inherited (a directory handle, a socket, a jobserver pipe) is
/// passed through bwrap to the command: an inherited directory descriptor
/// alone would let it `openat` outside every mount. The descriptors bwrap
/// must see are made inheritable again one by one, right before the spawn.
pub(crate) fn close_inherited_on_exec() -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing; it only
    // sets the close-on-exec flag of every open descriptor in the range.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if done == 0 {
        return Ok(());
    }
    // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk the table.
    let entries: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in entries {
        // SAFETY: F_GETFD/F_SETFD only touch descriptor flags, and fail
        // cleanly (EBADF) for the directory descriptor the walk used,
        // which is closed by now.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // SAFETY: as above.
        if flags >= 0 && unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

//! Descriptor flags: the close-on-exec bit decides which descriptors cross
//! an exec, so it is set and cleared in exactly one place.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Sets (`true`) or clears (`false`) `FD_CLOEXEC` on `fd`.
pub(crate) fn set_close_on_exec(fd: BorrowedFd<'_>, close: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the descriptor flags of
    // a descriptor that `fd` keeps open for the duration of the call.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if close {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` is an open descriptor of this process.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads the flags of any descriptor number and fails
    // cleanly (EBADF) when it is not open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0
}

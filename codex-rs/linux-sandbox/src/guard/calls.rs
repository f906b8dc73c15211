//! The syscalls the guard intercepts (those that create, move, remove or
//! write entries), decoded from the raw numbers and arguments of a seccomp
//! notification. Pure.

use nix::errno::Errno;

/// A directory argument: where a relative path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirArg {
    /// The calling thread's working directory (`AT_FDCWD`, or a call
    /// without a directory argument).
    Cwd,
    /// One of the calling process's descriptors.
    Fd(i32),
}

impl DirArg {
    /// Decodes an `int dirfd` argument (the kernel reads the low 32 bits).
    fn from_arg(arg: u64) -> Self {
        // Truncation is the point: the kernel reads an int.
        #[allow(clippy::cast_possible_truncation)]
        let fd = arg as u32 as i32;
        if fd == libc::AT_FDCWD {
            DirArg::Cwd
        } else {
            DirArg::Fd(fd)
        }
    }
}

/// A pointer into the calling process's memory.
pub type UserPtr = u64;

/// The file a mode, owner, times or extended attribute change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTarget {
    /// A path from `dir`.
    Path {
        /// Where a relative `path` starts.
        dir: DirArg,
        /// The path.
        path: UserPtr,
        /// Whether a last symbolic link is followed (not with `lchown`,
        /// `lsetxattr`, `AT_SYMLINK_NOFOLLOW`).
        follow: bool,
        /// Whether an empty path names `dir` itself (`AT_EMPTY_PATH`).
        empty_path: bool,
    },
    /// One of the caller's descriptors (`fchmod`, `fchown`, `futimens`,
    /// `fsetxattr`).
    Fd(i32),
}

/// The times a times change sets, as the caller's memory holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewTimes {
    /// Both now (a null pointer).
    Now,
    /// Two `struct timespec` (`utimensat`).
    Timespecs(UserPtr),
    /// Two `struct timeval` (`utimes`, `futimesat`).
    Timevals(UserPtr),
    /// A `struct utimbuf` (`utime`): two `time_t`.
    Utimbuf(UserPtr),
}

impl NewTimes {
    /// Where the caller's times are and how many bytes they take; `None`
    /// for now.
    pub fn location(self) -> Option<(UserPtr, usize)> {
        match self {
            NewTimes::Now => None,
            NewTimes::Timespecs(ptr) | NewTimes::Timevals(ptr) => Some((ptr, 32)),
            NewTimes::Utimbuf(ptr) => Some((ptr, 16)),
        }
    }

    /// The access and modification times `bytes` (read from
    /// [`NewTimes::location`]) hold, as `utimensat` takes them: `EINVAL`
    /// for microseconds out of range, as the kernel answers.
    pub fn decode(self, bytes: &[u8]) -> Result<Option<[libc::timespec; 2]>, Errno> {
        let word = |index: usize| -> Result<i64, Errno> {
            bytes
                .get(index * 8..index * 8 + 8)
                .and_then(|word| word.try_into().ok())
                .map(i64::from_ne_bytes)
                .ok_or(Errno::EFAULT)
        };
        let spec = |sec: i64, nsec: i64| libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        };
        Ok(Some(match self {
            NewTimes::Now => return Ok(None),
            NewTimes::Timespecs(_) => [spec(word(0)?, word(1)?), spec(word(2)?, word(3)?)],
            NewTimes::Timevals(_) => {
                let micros = |usec: i64| {
                    (0..1_000_000)
                        .contains(&usec)
                        .then_some(usec * 1000)
                        .ok_or(Errno::EINVAL)
                };
                [
                    spec(word(0)?, micros(word(1)?)?),
                    spec(word(2)?, micros(word(3)?)?),
                ]
            }
            NewTimes::Utimbuf(_) => [spec(word(0)?, 0), spec(word(1)?, 0)],
        }))
    }
}

/// One intercepted call, with the arguments the supervisor needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardedCall {
    /// `open`, `openat` or `creat` that may create or write: with
    /// `O_CREAT`, `O_WRONLY`, `O_RDWR` or `O_TRUNC` (`O_TMPFILE` comes
    /// with one of the two write modes).
    Open {
        /// Where a relative `path` starts.
        dir: DirArg,
        /// The path.
        path: UserPtr,
        /// The open flags.
        flags: i32,
        /// The mode for a created file.
        mode: u32,
    },
    /// `mkdir` or `mkdirat`.
    Mkdir {
        /// Where a relative `path` starts.
        dir: DirArg,
        /// The path.
        path: UserPtr,
        /// The mode.
        mode: u32,
    },
    /// `mknod` or `mknodat`.
    Mknod {
        /// Where a relative `path` starts.
        dir: DirArg,
        /// The path.
        path: UserPtr,
        /// Type and mode.
        mode: u32,
        /// The device number.
        dev: u64,
    },
    /// `symlink` or `symlinkat`.
    Symlink {
        /// What the link points to (any text; not a lookup).
        target: UserPtr,
        /// Where a relative `path` starts.
        dir: DirArg,
        /// The link to create.
        path: UserPtr,
    },
    /// `link` or `linkat`.
    Link {
        /// Where a relative `old` starts.
        old_dir: DirArg,
        /// The existing entry.
        old: UserPtr,
        /// Where a relative `new` starts.
        new_dir: DirArg,
        /// The entry to create.
        new: UserPtr,
        /// `AT_SYMLINK_FOLLOW`, `AT_EMPTY_PATH`.
        flags: i32,
    },
    /// `rename`, `renameat` or `renameat2`.
    Rename {
        /// Where a relative `old` starts.
        old_dir: DirArg,
        /// The entry to move.
        old: UserPtr,
        /// Where a relative `new` starts.
        new_dir: DirArg,
        /// Its new name.
        new: UserPtr,
        /// `RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`.
        flags: u32,
    },
    /// `bind`: an `AF_UNIX` address with a path creates a socket file of
    /// that name. Every bind is held (the family sits behind a pointer).
    Bind {
        /// The caller's socket.
        socket: i32,
        /// The address.
        addr: UserPtr,
        /// Its length.
        len: u32,
    },
    /// `connect`, held only while the network is enabled (elsewhere the
    /// sandbox's own filter or network namespace already keeps host sockets
    /// out of reach): the supervisor connects the caller's socket itself,
    /// to a Unix socket only where [`super::sockets`] allows it.
    Connect {
        /// The caller's socket.
        socket: i32,
        /// The address.
        addr: UserPtr,
        /// Its length.
        len: u32,
    },
    /// `listen`, held with `connect`: a socket the kernel gave an abstract
    /// name of its choosing (`SO_PASSCRED` names one on `connect`) must
    /// not serve the host's clients.
    Listen {
        /// The caller's socket.
        socket: i32,
        /// The backlog asked for.
        backlog: i32,
    },
    /// `mount` of a new filesystem (not a bind, move, remount or change of
    /// propagation) or `fsopen`: a filesystem instance made in a mount
    /// namespace of the command's own. An overlay whose upper layer is
    /// writable creates entries on copy-up with no call of the command's to
    /// hold, so every new filesystem is refused (`EPERM`). Without such a
    /// namespace the command has no capability to mount anything anyway.
    Mount,
    /// `unlink`, `unlinkat` or `rmdir`.
    Unlink {
        /// Where a relative `path` starts.
        dir: DirArg,
        /// The entry to remove.
        path: UserPtr,
        /// `AT_REMOVEDIR` for a directory.
        flags: i32,
    },
    /// `chmod`, `fchmodat` or `fchmod`: a mode change, which can make a
    /// disabled hook of a repository executable.
    Chmod {
        /// The file whose mode changes.
        target: FileTarget,
        /// The new mode.
        mode: u32,
    },
    /// `setxattr`, `lsetxattr` or `fsetxattr`: an extended attribute, a
    /// POSIX ACL among them, which sets the mode too.
    SetXattr {
        /// The file.
        target: FileTarget,
        /// The attribute's name (NUL-terminated).
        name: UserPtr,
        /// Its value.
        value: UserPtr,
        /// The value's length.
        size: u64,
        /// `XATTR_CREATE`, `XATTR_REPLACE`.
        flags: i32,
    },
    /// `removexattr`, `lremovexattr` or `fremovexattr`.
    RemoveXattr {
        /// The file.
        target: FileTarget,
        /// The attribute's name (NUL-terminated).
        name: UserPtr,
    },
    /// `chown`, `lchown`, `fchown` or `fchownat` (held where no read-only
    /// mount answers them: the legacy pipeline).
    Chown {
        /// The file whose owner changes.
        target: FileTarget,
        /// The new owner (`u32::MAX`: unchanged).
        uid: u32,
        /// The new group (`u32::MAX`: unchanged).
        gid: u32,
    },
    /// `utimensat`, `utimes`, `futimesat` or `utime` (held as
    /// [`GuardedCall::Chown`] is).
    Utimes {
        /// The file whose times change.
        target: FileTarget,
        /// The times.
        times: NewTimes,
    },
    /// `ioctl` setting inode flags or attributes (`chattr`'s
    /// `FS_IOC_SETFLAGS`, `FS_IOC_FSSETXATTR`): held where no read-only
    /// mount refuses them (the legacy pipeline; Landlock's ioctl right
    /// covers devices only), and refused (`EPERM`).
    InodeFlags,
    /// `truncate` of a path.
    Truncate {
        /// The file (relative to the working directory).
        path: UserPtr,
        /// The new length.
        length: i64,
    },
    /// `umask`: the caller's umask, which the supervisor applies to what it
    /// creates and keeps between calls, changes. Only noted, then carried
    /// out by the kernel as made (it names no path).
    Umask,
    /// A call that may leave the caller resolving paths elsewhere than the
    /// supervisor (`unshare`, `setns`, `chroot`, `pivot_root`, `clone` with
    /// `CLONE_NEWNS`), or sharing its umask with another process, or
    /// keeping one of its own in its process (`clone` with one of
    /// `CLONE_FS` and `CLONE_THREAD` but not the other). Only noted, then
    /// carried out by the kernel as made: none creates an entry.
    ViewChange,
}

/// Which syscalls the filter sends to the supervisor, and on which
/// arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interception {
    /// Every call.
    Always,
    /// Opens whose flags argument, at this index, has any of
    /// [`WRITING_OPEN_FLAGS`] set.
    WritingOpen(u8),
    /// Calls whose argument at this index (low 32 bits) is one of these.
    OneOf(u8, &'static [u64]),
    /// Calls whose argument at this index has none of these bits set.
    WithoutFlags(u8, u64),
    /// Calls whose argument at this index, masked by one of these masks,
    /// equals the value paired with it.
    AnyMasked(u8, &'static [(u64, u64)]),
    /// Every call, answered `ENOSYS` by the filter itself without reaching
    /// the supervisor: calls whose arguments sit in a structure
    /// the filter cannot read, which every caller must already handle by
    /// falling back to an older call, as on the kernels before them
    /// (`openat2` to `openat`, `fchmodat2` to `fchmodat`, `setxattrat` to
    /// `setxattr`, `clone3` to `clone`).
    Unsupported,
}

/// `clone` flags the guard notes ([`GuardedCall::ViewChange`]): a mount
/// namespace of its own, a umask shared with another process (`CLONE_FS`
/// without `CLONE_THREAD`), or a thread with a umask of its own
/// (`CLONE_THREAD` without `CLONE_FS`, whose exec would then hand the
/// process's id, and what the supervisor keeps for it, to another umask).
/// Until one is seen, a process's threads share one umask and no other
/// process shares it.
pub const CLONE_NOTED: [(u64, u64); 3] = [
    (libc::CLONE_NEWNS as u64, libc::CLONE_NEWNS as u64),
    (
        (libc::CLONE_FS | libc::CLONE_THREAD) as u64,
        libc::CLONE_FS as u64,
    ),
    (
        (libc::CLONE_FS | libc::CLONE_THREAD) as u64,
        libc::CLONE_THREAD as u64,
    ),
];

/// The `ioctl` requests that set inode flags or attributes: `FS_IOC_SETFLAGS`,
/// its 32-bit spelling, and `FS_IOC_FSSETXATTR`.
pub const INODE_FLAG_REQUESTS: [u64; 3] = [0x4008_6602, 0x4004_6602, 0x401c_5820];

/// Open flags that may create or change an entry, each tested alone (the
/// two write modes are bits of the access mode).
pub const WRITING_OPEN_FLAGS: [u64; 4] = [
    libc::O_CREAT as u64,
    libc::O_WRONLY as u64,
    libc::O_RDWR as u64,
    libc::O_TRUNC as u64,
];

/// `mount` flags that make no new filesystem: bind, move, remount and
/// propagation changes (what `unshare -m` itself does).
pub const MOUNT_WITHOUT_NEW_FILESYSTEM: u64 = libc::MS_BIND
    | libc::MS_MOVE
    | libc::MS_REMOUNT
    | libc::MS_SHARED
    | libc::MS_PRIVATE
    | libc::MS_SLAVE
    | libc::MS_UNBINDABLE;

/// Which calls the guard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The calls that create, move, remove or write entries (the
    /// protected-name guard).
    pub names: bool,
    /// `connect` ([`GuardedCall::Connect`]: the host's Unix sockets are
    /// closed).
    pub connect: bool,
    /// Owner and times changes ([`GuardedCall::Chown`],
    /// [`GuardedCall::Utimes`]), where no read-only mount refuses them.
    pub metadata: bool,
}

#[cfg(test)]
impl Held {
    /// Every call the guard can hold.
    pub const ALL: Held = Held {
        names: true,
        connect: true,
        metadata: true,
    };
}

/// The intercepted syscalls of this architecture, as `held` asks; `bind`
/// always (a socket path is an entry, an abstract name the host's).
pub fn intercepted(held: Held) -> Vec<(i64, Interception)> {
    let mut calls = vec![
        (libc::SYS_bind, Interception::Always),
        (libc::SYS_umask, Interception::Always),
        (libc::SYS_unshare, Interception::Always),
        (libc::SYS_setns, Interception::Always),
        (libc::SYS_chroot, Interception::Always),
        (libc::SYS_pivot_root, Interception::Always),
        (libc::SYS_clone, Interception::AnyMasked(0, &CLONE_NOTED)),
        (libc::SYS_clone3, Interception::Unsupported),
    ];
    if held.connect {
        calls.push((libc::SYS_connect, Interception::Always));
        calls.push((libc::SYS_listen, Interception::Always));
    }
    if held.metadata {
        calls.extend([
            (
                libc::SYS_ioctl,
                Interception::OneOf(1, &INODE_FLAG_REQUESTS),
            ),
            (libc::SYS_fchown, Interception::Always),
            (libc::SYS_fchownat, Interception::Always),
            (libc::SYS_utimensat, Interception::Always),
            (libc::SYS_futimesat, Interception::Always),
        ]);
        #[cfg(target_arch = "x86_64")]
        calls.extend([
            (libc::SYS_chown, Interception::Always),
            (libc::SYS_lchown, Interception::Always),
            (libc::SYS_utimes, Interception::Always),
            (libc::SYS_utime, Interception::Always),
        ]);
    }
    if !held.names {
        return calls;
    }
    calls.extend([
        (libc::SYS_openat, Interception::WritingOpen(2)),
        (libc::SYS_truncate, Interception::Always),
        (libc::SYS_unlinkat, Interception::Always),
        (libc::SYS_openat2, Interception::Unsupported),
        (libc::SYS_mkdirat, Interception::Always),
        (libc::SYS_mknodat, Interception::Always),
        (libc::SYS_symlinkat, Interception::Always),
        (libc::SYS_linkat, Interception::Always),
        (libc::SYS_renameat, Interception::Always),
        (libc::SYS_renameat2, Interception::Always),
        (libc::SYS_fchmod, Interception::Always),
        (libc::SYS_fchmodat, Interception::Always),
        (SYS_FCHMODAT2, Interception::Unsupported),
        (libc::SYS_setxattr, Interception::Always),
        (libc::SYS_lsetxattr, Interception::Always),
        (libc::SYS_fsetxattr, Interception::Always),
        (libc::SYS_removexattr, Interception::Always),
        (libc::SYS_lremovexattr, Interception::Always),
        (libc::SYS_fremovexattr, Interception::Always),
        (SYS_SETXATTRAT, Interception::Unsupported),
        (SYS_REMOVEXATTRAT, Interception::Unsupported),
        (
            libc::SYS_mount,
            Interception::WithoutFlags(3, MOUNT_WITHOUT_NEW_FILESYSTEM),
        ),
        (libc::SYS_fsopen, Interception::Always),
    ]);
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        (libc::SYS_open, Interception::WritingOpen(1)),
        (libc::SYS_creat, Interception::Always),
        (libc::SYS_mkdir, Interception::Always),
        (libc::SYS_mknod, Interception::Always),
        (libc::SYS_symlink, Interception::Always),
        (libc::SYS_link, Interception::Always),
        (libc::SYS_rename, Interception::Always),
        (libc::SYS_unlink, Interception::Always),
        (libc::SYS_rmdir, Interception::Always),
        (libc::SYS_chmod, Interception::Always),
    ]);
    calls
}

/// `fchmodat2`'s number, the same on every architecture (Linux 6.6).
const SYS_FCHMODAT2: i64 = 452;

/// `setxattrat`'s and `removexattrat`'s numbers, the same on every
/// architecture (Linux 6.13).
const SYS_SETXATTRAT: i64 = 463;
const SYS_REMOVEXATTRAT: i64 = 466;

/// A path target from `dir`, with the `AT_SYMLINK_NOFOLLOW` and
/// `AT_EMPTY_PATH` of `flags`.
fn path_target(dir: DirArg, path: UserPtr, flags: i32) -> FileTarget {
    FileTarget::Path {
        dir,
        path,
        follow: flags & libc::AT_SYMLINK_NOFOLLOW == 0,
        empty_path: flags & libc::AT_EMPTY_PATH != 0,
    }
}

/// The times at `ptr`, in the layout `layout` says; now for a null one.
fn times_at(ptr: UserPtr, layout: fn(UserPtr) -> NewTimes) -> NewTimes {
    if ptr == 0 { NewTimes::Now } else { layout(ptr) }
}

/// Decodes a notification's syscall; `None` for a syscall the filter does
/// not send (which the supervisor refuses).
pub fn decode(nr: i64, args: [u64; 6]) -> Option<GuardedCall> {
    let [a0, a1, a2, a3, a4, _] = args;
    // The kernel reads int and mode arguments from the low 32 bits.
    #[allow(clippy::cast_possible_truncation)]
    let int = |arg: u64| arg as u32 as i32;
    #[allow(clippy::cast_possible_truncation)]
    let uint = |arg: u64| arg as u32;
    let at = DirArg::from_arg;
    #[cfg(target_arch = "x86_64")]
    {
        let cwd = DirArg::Cwd;
        let legacy = match nr {
            libc::SYS_open => Some(GuardedCall::Open {
                dir: cwd,
                path: a0,
                flags: int(a1),
                mode: uint(a2),
            }),
            libc::SYS_creat => Some(GuardedCall::Open {
                dir: cwd,
                path: a0,
                flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                mode: uint(a1),
            }),
            libc::SYS_mkdir => Some(GuardedCall::Mkdir {
                dir: cwd,
                path: a0,
                mode: uint(a1),
            }),
            libc::SYS_mknod => Some(GuardedCall::Mknod {
                dir: cwd,
                path: a0,
                mode: uint(a1),
                dev: a2,
            }),
            libc::SYS_symlink => Some(GuardedCall::Symlink {
                target: a0,
                dir: cwd,
                path: a1,
            }),
            libc::SYS_link => Some(GuardedCall::Link {
                old_dir: cwd,
                old: a0,
                new_dir: cwd,
                new: a1,
                flags: 0,
            }),
            libc::SYS_rename => Some(GuardedCall::Rename {
                old_dir: cwd,
                old: a0,
                new_dir: cwd,
                new: a1,
                flags: 0,
            }),
            libc::SYS_unlink => Some(GuardedCall::Unlink {
                dir: cwd,
                path: a0,
                flags: 0,
            }),
            libc::SYS_rmdir => Some(GuardedCall::Unlink {
                dir: cwd,
                path: a0,
                flags: libc::AT_REMOVEDIR,
            }),
            libc::SYS_chmod => Some(GuardedCall::Chmod {
                target: path_target(cwd, a0, 0),
                mode: uint(a1),
            }),
            libc::SYS_chown | libc::SYS_lchown => Some(GuardedCall::Chown {
                target: FileTarget::Path {
                    dir: cwd,
                    path: a0,
                    follow: nr == libc::SYS_chown,
                    empty_path: false,
                },
                uid: uint(a1),
                gid: uint(a2),
            }),
            libc::SYS_utimes => Some(GuardedCall::Utimes {
                target: path_target(cwd, a0, 0),
                times: times_at(a1, NewTimes::Timevals),
            }),
            libc::SYS_utime => Some(GuardedCall::Utimes {
                target: path_target(cwd, a0, 0),
                times: times_at(a1, NewTimes::Utimbuf),
            }),
            _ => None,
        };
        if legacy.is_some() {
            return legacy;
        }
    }
    match nr {
        libc::SYS_openat => Some(GuardedCall::Open {
            dir: at(a0),
            path: a1,
            flags: int(a2),
            mode: uint(a3),
        }),
        libc::SYS_fchmod => Some(GuardedCall::Chmod {
            target: FileTarget::Fd(int(a0)),
            mode: uint(a1),
        }),
        // The kernel's fchmodat has no flags: it always follows.
        libc::SYS_fchmodat => Some(GuardedCall::Chmod {
            target: path_target(at(a0), a1, 0),
            mode: uint(a2),
        }),
        libc::SYS_ioctl => Some(GuardedCall::InodeFlags),
        libc::SYS_fchown => Some(GuardedCall::Chown {
            target: FileTarget::Fd(int(a0)),
            uid: uint(a1),
            gid: uint(a2),
        }),
        libc::SYS_fchownat => Some(GuardedCall::Chown {
            target: path_target(at(a0), a1, int(a4)),
            uid: uint(a2),
            gid: uint(a3),
        }),
        // A null path names the descriptor itself (`futimens`).
        libc::SYS_utimensat => Some(GuardedCall::Utimes {
            target: if a1 == 0 {
                FileTarget::Fd(int(a0))
            } else {
                path_target(at(a0), a1, int(a3))
            },
            times: times_at(a2, NewTimes::Timespecs),
        }),
        libc::SYS_futimesat => Some(GuardedCall::Utimes {
            target: path_target(at(a0), a1, 0),
            times: times_at(a2, NewTimes::Timevals),
        }),
        libc::SYS_setxattr | libc::SYS_lsetxattr => Some(GuardedCall::SetXattr {
            target: path_target(
                DirArg::Cwd,
                a0,
                if nr == libc::SYS_setxattr {
                    0
                } else {
                    libc::AT_SYMLINK_NOFOLLOW
                },
            ),
            name: a1,
            value: a2,
            size: a3,
            flags: int(a4),
        }),
        libc::SYS_fsetxattr => Some(GuardedCall::SetXattr {
            target: FileTarget::Fd(int(a0)),
            name: a1,
            value: a2,
            size: a3,
            flags: int(a4),
        }),
        libc::SYS_removexattr | libc::SYS_lremovexattr => Some(GuardedCall::RemoveXattr {
            target: path_target(
                DirArg::Cwd,
                a0,
                if nr == libc::SYS_removexattr {
                    0
                } else {
                    libc::AT_SYMLINK_NOFOLLOW
                },
            ),
            name: a1,
        }),
        libc::SYS_fremovexattr => Some(GuardedCall::RemoveXattr {
            target: FileTarget::Fd(int(a0)),
            name: a1,
        }),
        libc::SYS_umask => Some(GuardedCall::Umask),
        libc::SYS_unshare
        | libc::SYS_setns
        | libc::SYS_chroot
        | libc::SYS_pivot_root
        | libc::SYS_clone => Some(GuardedCall::ViewChange),
        // The kernel reads the length as a signed 64-bit off_t.
        #[allow(clippy::cast_possible_wrap)]
        libc::SYS_truncate => Some(GuardedCall::Truncate {
            path: a0,
            length: a1 as i64,
        }),
        libc::SYS_mount | libc::SYS_fsopen => Some(GuardedCall::Mount),
        libc::SYS_bind => Some(GuardedCall::Bind {
            socket: int(a0),
            addr: a1,
            len: uint(a2),
        }),
        libc::SYS_connect => Some(GuardedCall::Connect {
            socket: int(a0),
            addr: a1,
            len: uint(a2),
        }),
        libc::SYS_listen => Some(GuardedCall::Listen {
            socket: int(a0),
            backlog: int(a1),
        }),
        libc::SYS_mkdirat => Some(GuardedCall::Mkdir {
            dir: at(a0),
            path: a1,
            mode: uint(a2),
        }),
        libc::SYS_mknodat => Some(GuardedCall::Mknod {
            dir: at(a0),
            path: a1,
            mode: uint(a2),
            dev: a3,
        }),
        libc::SYS_symlinkat => Some(GuardedCall::Symlink {
            target: a0,
            dir: at(a1),
            path: a2,
        }),
        libc::SYS_linkat => Some(GuardedCall::Link {
            old_dir: at(a0),
            old: a1,
            new_dir: at(a2),
            new: a3,
            flags: int(a4),
        }),
        libc::SYS_renameat => Some(GuardedCall::Rename {
            old_dir: at(a0),
            old: a1,
            new_dir: at(a2),
            new: a3,
            flags: 0,
        }),
        libc::SYS_unlinkat => Some(GuardedCall::Unlink {
            dir: at(a0),
            path: a1,
            flags: int(a2),
        }),
        libc::SYS_renameat2 => Some(GuardedCall::Rename {
            old_dir: at(a0),
            old: a1,
            new_dir: at(a2),
            new: a3,
            flags: uint(a4),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CWD: u64 = libc::AT_FDCWD as u32 as u64;

    #[test]
    fn every_intercepted_syscall_decodes() {
        for (nr, interception) in intercepted(Held::ALL) {
            if interception == Interception::Unsupported {
                assert_eq!(decode(nr, [0; 6]), None, "syscall {nr}");
            } else {
                assert!(decode(nr, [0; 6]).is_some(), "syscall {nr}");
            }
        }
        assert_eq!(decode(libc::SYS_read, [0; 6]), None);
        assert_eq!(decode(libc::SYS_getpid, [0; 6]), None);
    }

    #[test]
    fn each_kind_of_call_is_held_only_when_asked() {
        let holds = |held, syscall| intercepted(held).iter().any(|(nr, _)| *nr == syscall);
        for names in [false, true] {
            for connect in [false, true] {
                for metadata in [false, true] {
                    let held = Held {
                        names,
                        connect,
                        metadata,
                    };
                    assert_eq!(holds(held, libc::SYS_connect), connect);
                    assert_eq!(holds(held, libc::SYS_listen), connect);
                    assert_eq!(holds(held, libc::SYS_mkdirat), names);
                    assert_eq!(holds(held, libc::SYS_openat), names);
                    assert_eq!(holds(held, libc::SYS_fchownat), metadata);
                    assert_eq!(holds(held, libc::SYS_utimensat), metadata);
                    assert_eq!(holds(held, libc::SYS_ioctl), metadata);
                    assert!(holds(held, libc::SYS_bind));
                }
            }
        }
        assert_eq!(
            decode(libc::SYS_connect, [3, 0x20, 110, 0, 0, 0]),
            Some(GuardedCall::Connect {
                socket: 3,
                addr: 0x20,
                len: 110
            })
        );
    }

    #[test]
    fn owner_and_times_changes_name_their_file_and_how_it_is_followed() {
        let nofollow = libc::AT_SYMLINK_NOFOLLOW as u64;
        let empty = libc::AT_EMPTY_PATH as u64;
        assert_eq!(
            decode(libc::SYS_fchownat, [3, 0x10, 1000, 100, nofollow, 0]),
            Some(GuardedCall::Chown {
                target: FileTarget::Path {
                    dir: DirArg::Fd(3),
                    path: 0x10,
                    follow: false,
                    empty_path: false
                },
                uid: 1000,
                gid: 100
            })
        );
        assert_eq!(
            decode(libc::SYS_fchown, [4, u64::from(u32::MAX), 7, 0, 0, 0]),
            Some(GuardedCall::Chown {
                target: FileTarget::Fd(4),
                uid: u32::MAX,
                gid: 7
            })
        );
        // futimens: a null path names the descriptor.
        assert_eq!(
            decode(libc::SYS_utimensat, [5, 0, 0x30, 0, 0, 0]),
            Some(GuardedCall::Utimes {
                target: FileTarget::Fd(5),
                times: NewTimes::Timespecs(0x30)
            })
        );
        assert_eq!(
            decode(libc::SYS_utimensat, [CWD, 0x10, 0, empty, 0, 0]),
            Some(GuardedCall::Utimes {
                target: FileTarget::Path {
                    dir: DirArg::Cwd,
                    path: 0x10,
                    follow: true,
                    empty_path: true
                },
                times: NewTimes::Now
            })
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            decode(libc::SYS_lchown, [0x10, 1, 2, 0, 0, 0]),
            Some(GuardedCall::Chown {
                target: FileTarget::Path {
                    dir: DirArg::Cwd,
                    path: 0x10,
                    follow: false,
                    empty_path: false
                },
                uid: 1,
                gid: 2
            })
        );
    }

    #[test]
    fn times_are_read_in_the_callers_layout() {
        let words = |values: &[i64]| -> Vec<u8> {
            values
                .iter()
                .flat_map(|value| value.to_ne_bytes())
                .collect()
        };
        let pair = |times: Option<[libc::timespec; 2]>| {
            times.map(|[a, m]| ((a.tv_sec, a.tv_nsec), (m.tv_sec, m.tv_nsec)))
        };
        assert_eq!(NewTimes::Now.decode(&[]), Ok(None));
        assert_eq!(NewTimes::Now.location(), None);
        assert_eq!(
            pair(
                NewTimes::Timespecs(8)
                    .decode(&words(&[1, 2, 3, 4]))
                    .unwrap()
            ),
            Some(((1, 2), (3, 4)))
        );
        assert_eq!(NewTimes::Timevals(8).location(), Some((8, 32)));
        assert_eq!(
            pair(
                NewTimes::Timevals(8)
                    .decode(&words(&[1, 2, 3, 999_999]))
                    .unwrap()
            ),
            Some(((1, 2000), (3, 999_999_000)))
        );
        assert_eq!(
            NewTimes::Timevals(8).decode(&words(&[1, 1_000_000, 3, 4])),
            Err(Errno::EINVAL)
        );
        assert_eq!(NewTimes::Utimbuf(8).location(), Some((8, 16)));
        assert_eq!(
            pair(NewTimes::Utimbuf(8).decode(&words(&[5, 6])).unwrap()),
            Some(((5, 0), (6, 0)))
        );
        assert_eq!(NewTimes::Timespecs(8).decode(&[0; 8]), Err(Errno::EFAULT));
    }

    #[test]
    fn at_calls_keep_their_directory_and_flags() {
        assert_eq!(
            decode(libc::SYS_openat, [7, 0x1000, 0o1101, 0o644, 0, 0]),
            Some(GuardedCall::Open {
                dir: DirArg::Fd(7),
                path: 0x1000,
                flags: 0o1101,
                mode: 0o644
            })
        );
        assert_eq!(
            decode(libc::SYS_mkdirat, [CWD, 0x10, 0o755, 0, 0, 0]),
            Some(GuardedCall::Mkdir {
                dir: DirArg::Cwd,
                path: 0x10,
                mode: 0o755
            })
        );
        assert_eq!(
            decode(libc::SYS_renameat2, [3, 0x10, CWD, 0x20, 2, 0]),
            Some(GuardedCall::Rename {
                old_dir: DirArg::Fd(3),
                old: 0x10,
                new_dir: DirArg::Cwd,
                new: 0x20,
                flags: libc::RENAME_EXCHANGE
            })
        );
        assert_eq!(
            decode(libc::SYS_linkat, [3, 0x10, 4, 0x20, 0x1000, 0]),
            Some(GuardedCall::Link {
                old_dir: DirArg::Fd(3),
                old: 0x10,
                new_dir: DirArg::Fd(4),
                new: 0x20,
                flags: libc::AT_EMPTY_PATH
            })
        );
        assert_eq!(
            decode(libc::SYS_symlinkat, [0x30, 5, 0x40, 0, 0, 0]),
            Some(GuardedCall::Symlink {
                target: 0x30,
                dir: DirArg::Fd(5),
                path: 0x40
            })
        );
        assert_eq!(
            decode(libc::SYS_mknodat, [CWD, 0x10, 0o10644, 0, 0, 0]),
            Some(GuardedCall::Mknod {
                dir: DirArg::Cwd,
                path: 0x10,
                mode: 0o10644,
                dev: 0
            })
        );
    }

    #[test]
    fn only_the_low_32_bits_of_an_int_argument_count() {
        let high_garbage = 0xdead_beef_0000_0000 | CWD;
        assert!(matches!(
            decode(libc::SYS_mkdirat, [high_garbage, 0x10, 0o755, 0, 0, 0]),
            Some(GuardedCall::Mkdir {
                dir: DirArg::Cwd,
                ..
            })
        ));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn legacy_calls_start_at_the_working_directory() {
        assert_eq!(
            decode(libc::SYS_creat, [0x10, 0o600, 0, 0, 0, 0]),
            Some(GuardedCall::Open {
                dir: DirArg::Cwd,
                path: 0x10,
                flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                mode: 0o600
            })
        );
        assert_eq!(
            decode(libc::SYS_rmdir, [0x10, 0, 0, 0, 0, 0]),
            Some(GuardedCall::Unlink {
                dir: DirArg::Cwd,
                path: 0x10,
                flags: libc::AT_REMOVEDIR
            })
        );
        assert_eq!(
            decode(libc::SYS_rename, [0x10, 0x20, 0, 0, 0, 0]),
            Some(GuardedCall::Rename {
                old_dir: DirArg::Cwd,
                old: 0x10,
                new_dir: DirArg::Cwd,
                new: 0x20,
                flags: 0
            })
        );
        assert_eq!(
            decode(libc::SYS_link, [0x10, 0x20, 0, 0, 0, 0]),
            Some(GuardedCall::Link {
                old_dir: DirArg::Cwd,
                old: 0x10,
                new_dir: DirArg::Cwd,
                new: 0x20,
                flags: 0
            })
        );
    }
}

//! What the supervisor learns about the thread whose call it holds, all
//! through that thread's entry in procfs ([`super::procfs`]): the strings its
//! pointers name, the directories its relative paths start from, its
//! umask, and whether it still sees the filesystem as the supervisor does.
//!
//! Every answer may belong to another process if the thread died and its
//! id was reused meanwhile; the supervisor checks that the notification is
//! still pending after asking (`SECCOMP_IOCTL_NOTIF_ID_VALID`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstat, fstatat};

use crate::fd::pidfd_open;

use super::calls::{DirArg, UserPtr};
use super::perform::{Start, open_at};
use super::procfs::{namespace_ids, procfs, read_status};

/// The longest path the kernel accepts, its terminating NUL included.
const PATH_MAX: usize = libc::PATH_MAX as usize;

/// Reads of the caller's memory never cross a page boundary: a read that
/// runs onto an unmapped page fails as a whole.
const PAGE: u64 = 4096;

/// A thread of the command, by its id in the sandbox's PID namespace.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The thread id the notification names.
    pub tid: i32,
}

/// Which mount namespace and root directory a process resolves paths in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    mount_namespace: (u64, u64),
    root: (u64, u64),
}

impl View {
    /// The supervisor's own view.
    pub fn own() -> io::Result<View> {
        View::of("self")
    }

    fn of(process: &str) -> io::Result<View> {
        let entry = CallerProc {
            dir: Arc::new(procfs().open(process, libc::O_PATH | libc::O_DIRECTORY)?),
        };
        Ok(View {
            mount_namespace: entry.identity("ns/mnt")?,
            root: entry.identity("root")?,
        })
    }
}

impl Caller {
    /// The caller's `/proc` entry, opened once for all the questions about
    /// one call.
    pub fn open(self) -> Result<CallerProc, Errno> {
        Ok(CallerProc {
            dir: Arc::new(procfs().thread_entry(self.tid)?),
        })
    }
}

/// A caller's `/proc/TID` directory.
#[derive(Debug, Clone)]
pub struct CallerProc {
    dir: Arc<OwnedFd>,
}

/// The most callers' entries kept open at once; past it all are dropped.
const KEPT_ENTRIES: usize = 1024;

/// The callers' `/proc/TID` directories, kept open between their calls:
/// opening one is a procfs lookup, on every held call otherwise. The
/// entry of a thread that ended fails every lookup in it, whatever thread
/// has its number now, so an entry is used only through a lookup that
/// succeeds ([`CallerEntries::memory_of`]), and is opened afresh otherwise.
#[derive(Debug, Default)]
pub struct CallerEntries {
    kept: RefCell<HashMap<i32, CallerProc>>,
}

impl CallerEntries {
    /// The caller's entry and its memory, from the kept entry when that
    /// still names a live thread, else opened afresh (and kept). The
    /// error of opening it afresh is returned as is.
    pub fn memory_of(&self, caller: Caller) -> Result<(CallerProc, File), Errno> {
        let kept = self.kept.borrow().get(&caller.tid).cloned();
        if let Some(entry) = kept {
            if let Ok(memory) = entry.memory() {
                return Ok((entry, memory));
            }
            self.kept.borrow_mut().remove(&caller.tid);
        }
        let entry = caller.open()?;
        let memory = entry.memory()?;
        let mut kept = self.kept.borrow_mut();
        if kept.len() >= KEPT_ENTRIES {
            kept.clear();
        }
        kept.insert(caller.tid, entry.clone());
        Ok((entry, memory))
    }
}

impl CallerProc {
    /// The caller's memory, to read strings from.
    pub fn memory(&self) -> Result<File, Errno> {
        self.open("mem", libc::O_RDONLY).map(File::from)
    }

    /// Copies the NUL-terminated string at `ptr` out of `memory`: `EFAULT`
    /// for an unreadable address, `ENAMETOOLONG` past `PATH_MAX`, as the
    /// kernel would answer.
    pub fn read_path(memory: &File, ptr: UserPtr) -> Result<CString, Errno> {
        if ptr == 0 {
            return Err(Errno::EFAULT);
        }
        let mut path = Vec::new();
        let mut address = ptr;
        while path.len() < PATH_MAX {
            let to_page_end = PAGE - address % PAGE;
            let wanted = usize::try_from(to_page_end)
                .unwrap_or(PATH_MAX)
                .min(PATH_MAX - path.len());
            let mut chunk = vec![0u8; wanted];
            let read = memory
                .read_at(&mut chunk, address)
                .map_err(|_| Errno::EFAULT)?;
            if read == 0 {
                return Err(Errno::EFAULT);
            }
            if let Some(nul) = chunk[..read].iter().position(|&b| b == 0) {
                path.extend_from_slice(&chunk[..nul]);
                return CString::new(path).map_err(|_| Errno::EFAULT);
            }
            path.extend_from_slice(&chunk[..read]);
            address = address.checked_add(read as u64).ok_or(Errno::EFAULT)?;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// The directory a relative path of the caller starts from, opened
    /// `O_PATH`: its working directory or one of its descriptors.
    pub fn start_dir(&self, dir: DirArg) -> Result<OwnedFd, Errno> {
        match dir {
            DirArg::Cwd => self.open("cwd", libc::O_PATH),
            DirArg::Fd(fd) if fd < 0 => Err(Errno::EBADF),
            DirArg::Fd(fd) => self.open(&format!("fd/{fd}"), libc::O_PATH),
        }
    }

    /// A copy of the caller's descriptor `fd` (`pidfd_getfd` on its
    /// process): the same open file, to act on in the caller's stead.
    /// Checked to be what the calling thread's own table holds at that
    /// number: a thread with a table of its own (`unshare(CLONE_FILES)`)
    /// may hold another file there than its process (`EBADF` then, as
    /// when the number changes meanwhile).
    pub fn descriptor(&self, fd: i32) -> Result<OwnedFd, Errno> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        let pidfd = pidfd_open(self.tgid()?)
            .map_err(|err| err.raw_os_error().map_or(Errno::ESRCH, Errno::from_raw))?;
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number and flags.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        let copy = i32::try_from(copy).map_err(|_| Errno::EBADF)?;
        if copy < 0 {
            return Err(Errno::last());
        }
        // SAFETY: pidfd_getfd just installed this descriptor in this process.
        let copy = unsafe { OwnedFd::from_raw_fd(copy) };
        let held = fstatat(&self.dir, format!("fd/{fd}").as_str(), AtFlags::empty())?;
        let copied = fstat(&copy)?;
        if (held.st_dev, held.st_ino) != (copied.st_dev, copied.st_ino) {
            return Err(Errno::EBADF);
        }
        Ok(copy)
    }

    /// The caller's umask, from its status file.
    pub fn umask(&self) -> Result<libc::mode_t, Errno> {
        let value = self.status_field("Umask:")?;
        libc::mode_t::from_str_radix(&value, 8).map_err(|_| Errno::EIO)
    }

    /// The caller's process (thread group) id in the supervisor's PID
    /// namespace (its number at [`Procfs::own_level`] of the status file's
    /// `NStgid:` line: the procfs read may be an ancestor namespace's, and
    /// the caller may be in a namespace of its own below).
    ///
    /// [`Procfs::own_level`]: super::procfs::Procfs::own_level
    pub fn tgid(&self) -> Result<i32, Errno> {
        let status = read_status(&self.dir).map_err(errno)?;
        namespace_ids(&status, "NStgid:")
            .get(procfs().own_level())
            .copied()
            .ok_or(Errno::EIO)
    }

    /// The value of a line of the status file.
    fn status_field(&self, field: &str) -> Result<String, Errno> {
        read_status(&self.dir)
            .map_err(errno)?
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .map(|value| value.trim().to_owned())
            .ok_or(Errno::EIO)
    }

    /// Copies `len` bytes at `ptr` out of `memory` (`EFAULT` if any is
    /// unreadable).
    pub fn read_bytes(memory: &File, ptr: UserPtr, len: usize) -> Result<Vec<u8>, Errno> {
        let mut bytes = vec![0u8; len];
        match memory.read_at(&mut bytes, ptr) {
            Ok(read) if read == len => Ok(bytes),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Whether the caller resolves paths as the supervisor does: same
    /// mount namespace, same root. A command that made a mount namespace
    /// of its own (a nested sandbox) or chrooted does not.
    pub fn shares_view(&self, own: View) -> Result<bool, Errno> {
        let view = View {
            mount_namespace: self.identity("ns/mnt")?,
            root: self.identity("root")?,
        };
        Ok(view == own)
    }

    /// Device and inode of what `name` (below the entry) leads to.
    fn identity(&self, name: &str) -> Result<(u64, u64), Errno> {
        let stat = nix::sys::stat::fstatat(&self.dir, name, nix::fcntl::AtFlags::empty())?;
        Ok((stat.st_dev, stat.st_ino))
    }

    fn open(&self, name: &str, flags: i32) -> Result<OwnedFd, Errno> {
        open_at(Start::of(&self.dir), name.as_bytes(), flags, 0)
    }
}

fn errno(err: io::Error) -> Errno {
    err.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{Mode, umask};

    fn own_thread() -> Caller {
        Caller {
            tid: nix::unistd::gettid().as_raw(),
        }
    }

    #[test]
    fn strings_are_read_up_to_their_nul_even_across_a_page() {
        let caller = own_thread().open().unwrap();
        let memory = caller.memory().unwrap();
        // A string that starts 3 bytes before a page boundary.
        let mut buffer = vec![b'x'; 3 * PAGE as usize];
        let base = buffer.as_ptr() as u64;
        let start = (base / PAGE + 1) * PAGE - 3;
        let offset = usize::try_from(start - base).unwrap();
        buffer[offset..offset + 9].copy_from_slice(b"sub/.git\0");
        let read = CallerProc::read_path(&memory, start).unwrap();
        assert_eq!(read.as_bytes(), b"sub/.git");
        assert_eq!(CallerProc::read_path(&memory, 0), Err(Errno::EFAULT));
        let unterminated = vec![b'a'; PATH_MAX + 10];
        assert_eq!(
            CallerProc::read_path(&memory, unterminated.as_ptr() as u64),
            Err(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn the_umask_and_view_of_a_thread_are_read_from_proc() {
        let caller = own_thread().open().unwrap();
        let previous = umask(Mode::from_bits_retain(0o027));
        let read = caller.umask();
        umask(previous);
        assert_eq!(read, Ok(0o027));
        assert!(caller.shares_view(View::own().unwrap()).unwrap());
        assert!(caller.start_dir(DirArg::Cwd).is_ok());
        assert_eq!(caller.start_dir(DirArg::Fd(-5)).err(), Some(Errno::EBADF));
    }
}

//! Where the supervisor reads procfs, and under which number it finds a
//! thread of the command there.
//!
//! The kernel numbers the thread of a seccomp notification in the PID
//! namespace of the supervisor, the sandbox's. With the sandbox's own
//! `/proc` (bwrap's `--proc`) those are the numbers `/proc` lists, and
//! everything is read at `/proc/...` ([`Procfs::Own`]).
//!
//! A container that masks paths of its `/proc` (Podman's default, Docker
//! with `seccomp=unconfined`) forbids a fresh one, and the sandbox then
//! sees an empty directory at `/proc`. The outer stage passes a descriptor
//! of its own `/proc` instead ([`Procfs::Ancestor`]): a procfs of an
//! ancestor PID namespace, where the same thread has another number. Only
//! the supervisor holds it: the command sees no procfs at all, neither
//! the container's processes nor its own. A thread is found there by its
//! `NSpid:` line, whose last number is its id in the sandbox; the answers
//! are cached, and each use checks again, through the entry it opened, that
//! the thread there is in the sandbox's PID namespace with that id. An
//! opened entry stays bound to its thread (a dead thread's entry answers
//! `ESRCH`, never another's), so what is read through it belongs to the
//! notifying thread for as long as the notification is pending, which the
//! supervisor checks after reading.
//!
//! Why not a pidfd, whose `fdinfo` gives a thread's number in the PID
//! namespace of the procfs it is read through: `pidfd_open` of a thread
//! that does not lead its process needs `PIDFD_THREAD` (Linux 6.9), and
//! Debian 12's kernel is 6.1. A walk of procfs (every process it shows:
//! a container's few, or the whole host's with `--no-proc` outside one),
//! run only for a thread not seen before, works on every kernel the guard
//! runs on.
//! Measured on a memory filesystem (release build, 20,000 `O_CREAT` opens
//! from one process): 230–270 µs per held call either way, within the
//! noise of the round trip itself; a storm of 200 processes of 8 threads
//! each, every thread new, 15–20 s against 14–18 s with the sandbox's own
//! `/proc`.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;

use super::perform::{Start, open_at};

/// Room for a thread's whole `status` file (about 1.5 KiB).
const STATUS_BUFFER: usize = 8192;

/// The procfs this process reads, set once ([`use_ancestor_procfs`])
/// before the first read; `/proc` when never set.
static PROCFS: OnceLock<Procfs> = OnceLock::new();

/// The procfs this process reads.
pub fn procfs() -> &'static Procfs {
    PROCFS.get_or_init(|| Procfs::Own)
}

/// Makes `dir`, a procfs of an ancestor PID namespace (the outer stage's
/// `/proc`), the one this process reads, and checks that it shows this
/// process. Must come before any other read of procfs.
pub fn use_ancestor_procfs(dir: OwnedFd) -> Result<(), String> {
    let ancestor = Ancestor::new(dir).map_err(|err| {
        format!("the /proc passed by the outer stage does not show the sandbox: {err}")
    })?;
    PROCFS
        .set(Procfs::Ancestor(ancestor))
        .map_err(|_| "procfs was read before the outer stage's /proc was set".to_owned())
}

/// A procfs, and how thread ids of the supervisor's PID namespace are
/// found in it.
#[derive(Debug)]
pub enum Procfs {
    /// The sandbox's own `/proc`: numbers are the supervisor's.
    Own,
    /// The procfs of an ancestor PID namespace, held open.
    Ancestor(Ancestor),
}

impl Procfs {
    /// Where `rest` (`self/fd/3`, `self/mountinfo`) below procfs is, for an
    /// `*at` call: `/proc/REST`, or `REST` from the ancestor's procfs held
    /// open. Every read of procfs goes through here.
    fn at(&self, rest: &str) -> Result<(RawFd, CString), Errno> {
        let (dir, path) = match self {
            Procfs::Own => (libc::AT_FDCWD, format!("/proc/{rest}")),
            Procfs::Ancestor(ancestor) => (ancestor.dir.as_raw_fd(), rest.to_owned()),
        };
        Ok((dir, CString::new(path).map_err(|_| Errno::EINVAL)?))
    }

    /// Opens `rest` below procfs.
    pub fn open(&self, rest: &str, flags: i32) -> Result<OwnedFd, Errno> {
        let (dir, path) = self.at(rest)?;
        // SAFETY: `dir` is AT_FDCWD or the procfs this process holds open
        // for as long as it lives.
        let dir = unsafe { std::os::fd::BorrowedFd::borrow_raw(dir) };
        open_at(Start::of_borrowed(dir), path.to_bytes(), flags, 0)
    }

    /// The whole of the file `rest` below procfs.
    pub fn read(&self, rest: &str) -> io::Result<Vec<u8>> {
        let file = std::fs::File::from(self.open(rest, libc::O_RDONLY)?);
        io::Read::bytes(io::BufReader::new(file)).collect()
    }

    /// The path the kernel gives for this process's descriptor `fd`,
    /// read in this process's `self/fd` directory held open
    /// ([`own_fd_dir`]): the guard asks it several times per held call, and
    /// one lookup there is a third of the cost of the whole link's.
    pub fn path_of_fd(&self, fd: impl AsRawFd) -> io::Result<PathBuf> {
        let dir = own_fd_dir(self)?;
        let name = CString::new(fd.as_raw_fd().to_string()).map_err(|_| Errno::EINVAL)?;
        let mut buffer = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: readlinkat writes at most `buffer.len()` bytes into it and
        // reads the NUL-terminated name; `dir` is held open.
        let len = unsafe {
            libc::readlinkat(dir, name.as_ptr(), buffer.as_mut_ptr().cast(), buffer.len())
        };
        let len = usize::try_from(len).map_err(|_| io::Error::last_os_error())?;
        buffer.truncate(len);
        Ok(PathBuf::from(std::ffi::OsString::from_vec(buffer)))
    }

    /// Where the supervisor's own PID namespace comes in the `NSpid:` and
    /// `NStgid:` lines read here (outermost first): the number of a thread
    /// as notifications give it, whatever namespace below the thread itself
    /// is in.
    pub fn own_level(&self) -> usize {
        match self {
            Procfs::Own => 0,
            Procfs::Ancestor(ancestor) => ancestor.depth - 1,
        }
    }

    /// The entry of the thread `tid` (an id of the supervisor's PID
    /// namespace, as notifications give it), opened `O_PATH`.
    pub fn thread_entry(&self, tid: i32) -> Result<OwnedFd, Errno> {
        match self {
            Procfs::Own => self.open(&tid.to_string(), libc::O_PATH | libc::O_DIRECTORY),
            Procfs::Ancestor(ancestor) => ancestor.thread_entry(tid),
        }
    }

    /// `chmod` of the file this process holds open as `fd` (`O_PATH` will
    /// do), through its `self/fd/N` link: that very file, by no name the
    /// command could change.
    pub fn chmod_fd(&self, fd: impl AsRawFd, mode: u32) -> Result<(), Errno> {
        let (dir, path) = self.at(&fd_link(fd.as_raw_fd()))?;
        // SAFETY: fchmodat reads the NUL-terminated path, which lives across
        // the call; `dir` is AT_FDCWD or a descriptor this process holds.
        let result = unsafe { libc::fchmodat(dir, path.as_ptr(), mode & 0o7777, 0) };
        Errno::result(result).map(drop)
    }

    /// A hard link named `name` in `dir` to the file this process holds
    /// open as `fd` (`O_PATH` will do; a symbolic link itself, when that is
    /// what it holds), through its `self/fd/N` link: that very file.
    pub fn link_fd(
        &self,
        fd: &OwnedFd,
        dir: std::os::fd::BorrowedFd<'_>,
        name: &std::ffi::CStr,
    ) -> Result<(), Errno> {
        let (from, path) = self.at(&fd_link(fd.as_raw_fd()))?;
        // SAFETY: linkat reads the two NUL-terminated paths, which live
        // across the call; `from` is AT_FDCWD or a descriptor this process
        // holds, as is `dir`.
        let result = unsafe {
            libc::linkat(
                from,
                path.as_ptr(),
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        Errno::result(result).map(drop)
    }

    /// Runs `call` with a path that leads to the file this process holds
    /// open as `fd`, for the calls that take only a path (`setxattr`): the
    /// path of [`Procfs::at`], from this process's working directory made
    /// the ancestor's procfs for the call (and `/` again after, as the
    /// supervisor's `bind` does; only the serving thread resolves relative
    /// paths from it).
    pub fn with_fd_path<T>(
        &self,
        fd: &OwnedFd,
        call: impl FnOnce(&std::ffi::CStr) -> T,
    ) -> Result<T, Errno> {
        let (_, path) = self.at(&fd_link(fd.as_raw_fd()))?;
        let Procfs::Ancestor(ancestor) = self else {
            return Ok(call(&path));
        };
        nix::unistd::fchdir(&ancestor.dir)?;
        let result = call(&path);
        nix::unistd::chdir("/")?;
        Ok(result)
    }

    /// The address path through which the calling thread reaches this
    /// process's descriptor `fd` by name, for a `connect` to the very
    /// socket file it holds: the path of [`Procfs::at`], from a working
    /// directory made the ancestor's procfs for this thread alone. Call it
    /// only on a thread of its own that resolves no other relative path.
    pub fn fd_address_path(&self, fd: impl AsRawFd) -> Result<CString, Errno> {
        let (_, path) = self.at(&fd_link(fd.as_raw_fd()))?;
        if let Procfs::Ancestor(ancestor) = self {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
            nix::unistd::fchdir(&ancestor.dir)?;
        }
        Ok(path)
    }
}

/// This process's `self/fd` directory below `procfs`, opened on first
/// use and kept, with the id of the process that opened it: a child forked
/// after (the guard's command, before it execs) opens its own.
fn own_fd_dir(procfs: &Procfs) -> Result<RawFd, Errno> {
    static OWN: Mutex<Option<(u32, OwnedFd)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut own = OWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((opener, dir)) = own.as_ref()
        && *opener == pid
    {
        return Ok(dir.as_raw_fd());
    }
    let dir = procfs.open("self/fd", libc::O_PATH | libc::O_DIRECTORY)?;
    let raw = dir.as_raw_fd();
    *own = Some((pid, dir));
    Ok(raw)
}

/// The `self/fd/N` link of this process's descriptor `fd`.
fn fd_link(fd: RawFd) -> String {
    format!("self/fd/{fd}")
}

/// A procfs of an ancestor PID namespace, and the threads of the sandbox
/// found in it so far.
#[derive(Debug)]
pub struct Ancestor {
    dir: OwnedFd,
    /// This process's PID namespace (device, inode), the sandbox's.
    pid_namespace: (u64, u64),
    /// How many numbers a thread of this namespace has in `NSpid:` lines
    /// read here.
    depth: usize,
    /// Sandbox id to procfs number, as last found.
    numbers: Mutex<HashMap<i32, i32>>,
}

impl Ancestor {
    fn new(dir: OwnedFd) -> io::Result<Ancestor> {
        let own = open_at(
            Start::of(&dir),
            b"thread-self",
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        let pid_namespace = identity(&own, "ns/pid")?;
        let ids = namespace_ids(&read_status(&own)?, "NSpid:");
        if ids.len() < 2 {
            return Err(io::Error::other(
                "it is not the procfs of an ancestor PID namespace",
            ));
        }
        Ok(Ancestor {
            dir,
            pid_namespace,
            depth: ids.len(),
            numbers: Mutex::new(HashMap::new()),
        })
    }

    fn thread_entry(&self, tid: i32) -> Result<OwnedFd, Errno> {
        let known = self.lock().get(&tid).copied();
        if let Some(number) = known
            && let Ok(entry) = self.checked_entry(number, tid)
        {
            return Ok(entry);
        }
        // A walk that reads only the threads not met before finds a new
        // one; a full walk, the rare thread whose procfs number another
        // one had (and so was skipped).
        for full in [false, true] {
            self.walk(full);
            let number = self.lock().get(&tid).copied();
            if let Some(number) = number
                && let Ok(entry) = self.checked_entry(number, tid)
            {
                return Ok(entry);
            }
        }
        Err(Errno::ESRCH)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, i32>> {
        self.numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The entry `number`, if the thread there is `tid` of the sandbox.
    fn checked_entry(&self, number: i32, tid: i32) -> Result<OwnedFd, Errno> {
        let entry = open_at(
            Start::of(&self.dir),
            number.to_string().as_bytes(),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        if self.sandbox_id(&entry) == Some(tid) {
            Ok(entry)
        } else {
            Err(Errno::ESRCH)
        }
    }

    /// The id in the sandbox of the thread whose entry is `entry`, if it is
    /// one of the sandbox's.
    fn sandbox_id(&self, entry: &OwnedFd) -> Option<i32> {
        if identity(entry, "ns/pid").ok()? != self.pid_namespace {
            return None;
        }
        let ids = namespace_ids(&read_status(entry).ok()?, "NSpid:");
        (ids.len() == self.depth)
            .then(|| ids.last().copied())
            .flatten()
    }

    /// Brings the numbers of the sandbox's threads up to date: lists the
    /// processes in the sandbox's PID namespace, then their threads, and
    /// reads the status of those whose procfs number is not known yet (of
    /// all, when `full`): reading a status is most of a walk's cost, and a
    /// command that starts many threads would otherwise read every earlier
    /// one's again. Numbers no longer listed are forgotten.
    fn walk(&self, full: bool) {
        let mut numbers = self.lock();
        if full {
            numbers.clear();
        }
        let known: HashSet<i32> = numbers.values().copied().collect();
        let mut listed = HashSet::new();
        for process in numbered_entries(&self.dir, ".") {
            let Ok(entry) = self.entry(&process.to_string()) else {
                continue;
            };
            if identity(&entry, "ns/pid").ok() != Some(self.pid_namespace) {
                continue;
            }
            for thread in numbered_entries(&self.dir, &format!("{process}/task")) {
                listed.insert(thread);
                if known.contains(&thread) {
                    continue;
                }
                if let Ok(entry) = self.entry(&thread.to_string())
                    && let Some(id) = self.sandbox_id(&entry)
                {
                    numbers.insert(id, thread);
                }
            }
        }
        numbers.retain(|_, number| listed.contains(number));
    }

    fn entry(&self, name: &str) -> Result<OwnedFd, Errno> {
        open_at(
            Start::of(&self.dir),
            name.as_bytes(),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
    }
}

/// The numeric names in the directory `name` below `procfs`.
fn numbered_entries(procfs: &OwnedFd, name: &str) -> Vec<i32> {
    let Ok(dir) = open_at(
        Start::of(procfs),
        name.as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    ) else {
        return Vec::new();
    };
    let Ok(mut listing) = nix::dir::Dir::from_fd(dir) else {
        return Vec::new();
    };
    listing
        .iter()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().ok()?.parse().ok())
        .collect()
}

/// The `status` file of a thread's entry, read in one call (the kernel
/// generates the whole text on each read).
pub fn read_status(entry: &OwnedFd) -> io::Result<String> {
    let file = std::fs::File::from(open_at(Start::of(entry), b"status", libc::O_RDONLY, 0)?);
    let mut buffer = vec![0u8; STATUS_BUFFER];
    let len = std::os::unix::fs::FileExt::read_at(&file, &mut buffer, 0)?;
    buffer.truncate(len);
    // ASCII but for the command's name, which the command sets: checked
    // whole first, which is quicker than replacing bytes on the way.
    Ok(String::from_utf8(buffer)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
}

/// The numbers of a `status` line that lists one id per PID namespace
/// (`NSpid:`, `NStgid:`), outermost first.
pub fn namespace_ids(status: &str, field: &str) -> Vec<i32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .map(|ids| {
            ids.split_whitespace()
                .filter_map(|id| id.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Device and inode of what `name` below `entry` leads to.
fn identity(entry: &OwnedFd, name: &str) -> io::Result<(u64, u64)> {
    let stat = fstatat(entry.as_fd(), name, AtFlags::empty())?;
    Ok((stat.st_dev, stat.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_ids_are_read_outermost_first() {
        let status = "Name:\tsh\nTgid:\t812\nNStgid:\t812\t3\nNSpid:\t815\t5\n";
        assert_eq!(namespace_ids(status, "NSpid:"), vec![815, 5]);
        assert_eq!(namespace_ids(status, "NStgid:"), vec![812, 3]);
        assert_eq!(namespace_ids(status, "NSsid:"), Vec::<i32>::new());
    }

    #[test]
    fn the_procfs_of_this_pid_namespace_is_not_an_ancestors() {
        let dir = open_at(Start::CWD, b"/proc", libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let err = Ancestor::new(dir).unwrap_err();
        assert!(err.to_string().contains("ancestor"), "{err}");
    }
}

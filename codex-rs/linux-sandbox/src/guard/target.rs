//! What the supervisor learns about the thread whose call it holds, all
//! through that thread's entry in procfs ([`super::procfs`]): the strings its
//! pointers name, the directories its relative paths start from, its
//! umask, and whether it still sees the filesystem as the supervisor does.
//!
//! Every answer may belong to another process if the thread died and its
//! id was reused meanwhile; the supervisor checks that the notification is
//! still pending after asking (`SECCOMP_IOCTL_NOTIF_ID_VALID`).
//!
//! Two answers are kept between a thread's calls, each costing a procfs
//! read otherwise, for as long as the guard's own filter shows they cannot
//! have changed ([`Notes`]): whether it sees the filesystem as the
//! supervisor does (no call that could change that has been made by any
//! thread), and its umask (no `umask` call in its process since it was
//! read, and no thread keeping a umask apart from its process's nor a
//! process sharing one with another). The calls that could change either
//! are held, so the note is taken before the kernel carries the change
//! out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
            status: Arc::default(),
            notes: Arc::default(),
        };
        Ok(View {
            mount_namespace: entry.identity("ns/mnt")?,
            root: entry.identity("root")?,
        })
    }
}

impl Caller {
    /// The caller's `/proc` entry, whose answers are kept as `notes`
    /// allow.
    pub fn open(self, notes: Arc<Notes>) -> Result<CallerProc, Errno> {
        Ok(CallerProc {
            dir: Arc::new(procfs().thread_entry(self.tid)?),
            status: Arc::default(),
            notes,
        })
    }
}

/// The calls of the command that decide which answers about a thread may
/// be kept between its calls: the guard's filter holds each of them, and
/// the supervisor notes it before the kernel carries it out.
#[derive(Debug, Default)]
pub struct Notes {
    /// A thread made a call that may have left it seeing the filesystem
    /// otherwise, or sharing or unsharing its umask with other processes
    /// ([`super::calls::GuardedCall::ViewChange`]): from then on nothing is
    /// kept.
    view_changes: AtomicBool,
    umask: Mutex<UmaskNotes>,
}

/// The `umask` calls noted.
#[derive(Debug, Default)]
struct UmaskNotes {
    /// How many each process (by thread group id) made: a umask read
    /// before the last one is not used again.
    generations: HashMap<i32, u64>,
    /// The threads whose `umask` call was let through but may not have
    /// been carried out yet, with their processes: until the thread's next
    /// held call shows it was, its process's umask is read for every call
    /// of its other threads and kept for none.
    in_flight: HashMap<i32, i32>,
}

/// The most processes noted as changing their umask, and threads whose
/// change may still be in flight; past either no umask is kept at all.
const NOTED_UMASK_CHANGES: usize = 4096;

impl Notes {
    /// Notes a call that may change a thread's view or umask sharing.
    pub fn view_change(&self) {
        self.view_changes.store(true, Ordering::SeqCst);
    }

    /// Notes a `umask` call of the thread `tid` of the process `tgid`.
    pub fn umask_change(&self, tid: i32, tgid: i32) {
        let mut umask = self.umask_notes();
        if umask.generations.len() >= NOTED_UMASK_CHANGES
            || umask.in_flight.len() >= NOTED_UMASK_CHANGES
        {
            self.view_change();
            return;
        }
        *umask.generations.entry(tgid).or_default() += 1;
        umask.in_flight.insert(tid, tgid);
    }

    /// Notes a held call of the thread `tid`: any `umask` call it made
    /// before has been carried out.
    pub fn call_from(&self, tid: i32) {
        let mut umask = self.umask_notes();
        if !umask.in_flight.is_empty() {
            umask.in_flight.remove(&tid);
        }
    }

    fn views_may_differ(&self) -> bool {
        self.view_changes.load(Ordering::SeqCst)
    }

    /// Which of the process `tgid`'s umask readings may be used: those
    /// taken at this generation; `None` while none may be kept.
    fn umask_generation(&self, tgid: i32) -> Option<u64> {
        if self.views_may_differ() {
            return None;
        }
        let umask = self.umask_notes();
        if umask.in_flight.values().any(|&process| process == tgid) {
            return None;
        }
        Some(umask.generations.get(&tgid).copied().unwrap_or(0))
    }

    fn umask_notes(&self) -> std::sync::MutexGuard<'_, UmaskNotes> {
        self.umask
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A caller's `/proc/TID` directory, with what its status file said.
#[derive(Debug, Clone)]
pub struct CallerProc {
    dir: Arc<OwnedFd>,
    status: Arc<Mutex<Option<StatusFacts>>>,
    notes: Arc<Notes>,
}

/// What the supervisor reads from a caller's status file.
#[derive(Debug, Clone, Copy)]
struct StatusFacts {
    /// The process id, in the supervisor's PID namespace.
    tgid: i32,
    umask: libc::mode_t,
    /// The process's umask generation when read ([`Notes`]); `None` if the
    /// umask was not to be kept.
    generation: Option<u64>,
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
    /// What decides which answers the entries keep.
    pub notes: Arc<Notes>,
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
        let entry = caller.open(Arc::clone(&self.notes))?;
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

    /// The caller's umask, from its status file: as read for an earlier
    /// call unless its process may have changed it since ([`Notes`]).
    pub fn umask(&self) -> Result<libc::mode_t, Errno> {
        if let Some(facts) = self.kept_status()
            && facts.generation.is_some()
            && facts.generation == self.notes.umask_generation(facts.tgid)
        {
            return Ok(facts.umask);
        }
        Ok(self.read_status()?.umask)
    }

    /// The caller's process (thread group) id in the supervisor's PID
    /// namespace (its number at [`Procfs::own_level`] of the status file's
    /// `NStgid:` line: the procfs read may be an ancestor namespace's, and
    /// the caller may be in a namespace of its own below). A live thread's
    /// never changes (a thread that execs takes its process's id, and its
    /// own entry ends; the entry kept for that id then stands for it, with
    /// the umask its threads share unless a `clone` was noted), so it is
    /// read once per entry.
    ///
    /// [`Procfs::own_level`]: super::procfs::Procfs::own_level
    pub fn tgid(&self) -> Result<i32, Errno> {
        match self.kept_status() {
            Some(facts) => Ok(facts.tgid),
            None => Ok(self.read_status()?.tgid),
        }
    }

    fn kept_status(&self) -> Option<StatusFacts> {
        *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the status file, keeping what it says for later calls.
    fn read_status(&self) -> Result<StatusFacts, Errno> {
        let status = read_status(&self.dir).map_err(errno)?;
        let tgid = namespace_ids(&status, "NStgid:")
            .get(procfs().own_level())
            .copied()
            .ok_or(Errno::EIO)?;
        let umask = status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .and_then(|value| libc::mode_t::from_str_radix(value.trim(), 8).ok())
            .ok_or(Errno::EIO)?;
        // The supervisor's loop alone notes calls, and it is here: nothing
        // is noted between the reading and this.
        let facts = StatusFacts {
            tgid,
            umask,
            generation: self.notes.umask_generation(tgid),
        };
        *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(facts);
        Ok(facts)
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
    /// of its own (a nested sandbox) or chrooted does not; until a thread
    /// makes a call that could ([`Notes`]), every thread does, and procfs
    /// is not asked.
    pub fn shares_view(&self, own: View) -> Result<bool, Errno> {
        if !self.notes.views_may_differ() {
            return Ok(true);
        }
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
        let caller = own_thread().open(Arc::default()).unwrap();
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
        let notes = Arc::new(Notes::default());
        notes.view_change();
        let caller = own_thread().open(notes).unwrap();
        let previous = umask(Mode::from_bits_retain(0o027));
        let read = caller.umask();
        umask(previous);
        assert_eq!(read, Ok(0o027));
        assert_eq!(caller.tgid(), Ok(std::process::id().cast_signed()));
        assert!(caller.shares_view(View::own().unwrap()).unwrap());
        assert!(caller.start_dir(DirArg::Cwd).is_ok());
        assert_eq!(caller.start_dir(DirArg::Fd(-5)).err(), Some(Errno::EBADF));
    }

    /// Runs `check` on a thread of its own, whose umask it may change
    /// without touching the other tests' (`unshare(CLONE_FS)`).
    fn on_own_fs(check: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || {
            // SAFETY: unshare takes flags only.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_FS) }, 0);
            check();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_umask_is_kept_until_its_process_is_noted_changing_it() {
        on_own_fs(|| {
            let notes = Arc::new(Notes::default());
            let caller = own_thread().open(Arc::clone(&notes)).unwrap();
            umask(Mode::from_bits_retain(0o027));
            assert_eq!(caller.umask(), Ok(0o027));
            umask(Mode::from_bits_retain(0o077));
            // Unnoted, the change is not seen: what the held call assures.
            assert_eq!(caller.umask(), Ok(0o027));
            let tid = nix::unistd::gettid().as_raw();
            notes.umask_change(tid, caller.tgid().unwrap());
            assert_eq!(caller.umask(), Ok(0o077));
            // Until the thread's next call, every call reads it again.
            umask(Mode::from_bits_retain(0o022));
            assert_eq!(caller.umask(), Ok(0o022));
            // Then it is kept again.
            notes.call_from(tid);
            assert_eq!(caller.umask(), Ok(0o022));
            umask(Mode::from_bits_retain(0o007));
            assert_eq!(caller.umask(), Ok(0o022));
            // Another thread's call does not end the first's flight.
            notes.umask_change(tid, caller.tgid().unwrap());
            notes.call_from(tid + 1);
            assert_eq!(caller.umask(), Ok(0o007));
        });
    }

    #[test]
    fn nothing_is_kept_once_a_view_change_is_noted() {
        on_own_fs(|| {
            let notes = Arc::new(Notes::default());
            let caller = own_thread().open(Arc::clone(&notes)).unwrap();
            umask(Mode::from_bits_retain(0o027));
            assert_eq!(caller.umask(), Ok(0o027));
            notes.view_change();
            umask(Mode::from_bits_retain(0o007));
            assert_eq!(caller.umask(), Ok(0o007));
        });
    }

    #[test]
    fn the_view_is_asked_of_procfs_only_once_a_change_is_noted() {
        let notes = Arc::new(Notes::default());
        let own = View::own().unwrap();
        let other = View {
            mount_namespace: (0, 0),
            root: (0, 0),
        };
        let caller = own_thread().open(Arc::clone(&notes)).unwrap();
        // Not asked: every thread shares the supervisor's view.
        assert!(caller.shares_view(other).unwrap());
        notes.view_change();
        assert!(!caller.shares_view(other).unwrap());
        assert!(caller.shares_view(own).unwrap());
    }

    #[test]
    fn past_so_many_noted_processes_no_umask_is_kept() {
        let notes = Notes::default();
        let unnoted = i32::try_from(NOTED_UMASK_CHANGES).unwrap() + 5;
        for tgid in 0..i32::try_from(NOTED_UMASK_CHANGES).unwrap() {
            notes.umask_change(tgid, tgid);
            notes.call_from(tgid);
        }
        assert!(!notes.views_may_differ());
        assert_eq!(notes.umask_generation(unnoted), Some(0));
        assert_eq!(notes.umask_generation(3), Some(1));
        notes.umask_change(-1, -1);
        assert_eq!(notes.umask_generation(unnoted), None);
    }
}

//! The planner's only window onto the filesystem.
//!
//! Planning needs a few facts (does a path exist, is it a directory, where
//! does a symlink point, what does a `.git` file say). They come through
//! [`FsView`] so that every planning rule is unit-tested against an in-memory
//! tree, and the real [`HostFs`] is the only code that asks the kernel.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// What is at a path, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing (or a parent is not a directory).
    Missing,
    /// A directory.
    Dir,
    /// Anything else that is not a symlink: file, socket, device, fifo.
    File,
    /// A symlink, with its target as written.
    Symlink(PathBuf),
}

/// Read-only filesystem facts needed for planning.
pub trait FsView {
    /// What is at `path` (`lstat`). Errors other than "not found" and
    /// "not a directory" are returned, never guessed around.
    fn entry(&self, path: &Path) -> io::Result<Entry>;
    /// The text of a small file (`.git` files and `commondir`).
    fn read_small_file(&self, path: &Path) -> io::Result<String>;
    /// Whether this user can make an entry in the directory `dir`: it may
    /// write there, or owns it (and could allow itself to).
    fn may_create_in(&self, dir: &Path) -> bool;
    /// Whether `dir` is a directory with nothing in it. Anything that
    /// cannot be read counts as not empty.
    fn is_empty_dir(&self, dir: &Path) -> bool;
    /// The names in the directory `dir`, in no particular order.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// How many names the object at `path` has (`st_nlink` of `lstat`).
    fn link_count(&self, path: &Path) -> io::Result<u64>;
    /// The home directory of the user `name` (what `~name` means to git).
    fn home_of(&self, name: &str) -> Option<PathBuf>;
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostFs;

impl FsView for HostFs {
    fn entry(&self, path: &Path) -> io::Result<Entry> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Ok(Entry::Symlink(std::fs::read_link(path)?))
            }
            Ok(meta) if meta.is_dir() => Ok(Entry::Dir),
            Ok(_) => Ok(Entry::File),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(Entry::Missing)
            }
            Err(err) => Err(err),
        }
    }

    fn may_create_in(&self, dir: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK);
        match writable {
            Ok(()) => true,
            // A read-only filesystem: nobody makes anything there.
            Err(nix::errno::Errno::EROFS) => false,
            Err(_) => std::fs::metadata(dir)
                .is_ok_and(|meta| meta.uid() == nix::unistd::geteuid().as_raw()),
        }
    }

    fn is_empty_dir(&self, dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect()
    }

    fn link_count(&self, path: &Path) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::symlink_metadata(path)?.nlink())
    }

    fn home_of(&self, name: &str) -> Option<PathBuf> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|user| user.dir)
    }

    fn read_small_file(&self, path: &Path) -> io::Result<String> {
        use std::io::Read;
        const LIMIT: u64 = 64 * 1024;
        let mut text = String::new();
        std::fs::File::open(path)?
            .take(LIMIT)
            .read_to_string(&mut text)?;
        Ok(text)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory tree for planner tests.

    use super::*;
    use std::collections::BTreeMap;

    /// Paths mapped to entries; parents are implied directories.
    #[derive(Debug, Default)]
    pub(crate) struct FakeFs {
        entries: BTreeMap<PathBuf, (Entry, String)>,
        /// Whether names compare in any ASCII case, as on vfat or a
        /// casefolded ext4 (`.GIT` is found as `.git`).
        fold_case: bool,
        /// Directories this user can make nothing in.
        closed: Vec<PathBuf>,
        /// Files with a second name somewhere.
        hard_linked: Vec<PathBuf>,
        /// Users' home directories.
        homes: Vec<(String, PathBuf)>,
        /// Directories this user may not search: what is below them
        /// cannot be looked up.
        unsearchable: Vec<PathBuf>,
    }

    impl FakeFs {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn dir(mut self, path: &str) -> Self {
            self.entries
                .insert(path.into(), (Entry::Dir, String::new()));
            self
        }

        pub(crate) fn file(mut self, path: &str, text: &str) -> Self {
            self.entries.insert(path.into(), (Entry::File, text.into()));
            self
        }

        pub(crate) fn symlink(mut self, path: &str, target: &str) -> Self {
            self.entries
                .insert(path.into(), (Entry::Symlink(target.into()), String::new()));
            self
        }

        /// A directory this user may not search (mode 000).
        pub(crate) fn unsearchable_dir(mut self, path: &str) -> Self {
            self.unsearchable.push(path.into());
            self.dir(path)
        }

        /// The user `name`, whose home is `home`.
        pub(crate) fn user(mut self, name: &str, home: &str) -> Self {
            self.homes.push((name.into(), home.into()));
            self
        }

        /// A file that has another name too.
        pub(crate) fn hard_linked_file(mut self, path: &str, text: &str) -> Self {
            self.hard_linked.push(path.into());
            self.file(path, text)
        }

        /// A directory this user can make nothing in.
        pub(crate) fn closed_dir(mut self, path: &str) -> Self {
            self.closed.push(path.into());
            self.dir(path)
        }

        /// Makes every lookup case-insensitive.
        pub(crate) fn case_insensitive(mut self) -> Self {
            self.fold_case = true;
            self
        }

        /// The key of `path` in the tree, as this filesystem compares.
        fn key_of<'a>(&'a self, path: &'a Path) -> Option<&'a PathBuf> {
            self.entries.keys().find(|known| self.same(known, path))
        }

        fn same(&self, a: &Path, b: &Path) -> bool {
            if self.fold_case {
                a.as_os_str().eq_ignore_ascii_case(b.as_os_str())
            } else {
                a == b
            }
        }
    }

    impl FsView for FakeFs {
        fn entry(&self, path: &Path) -> io::Result<Entry> {
            if path == Path::new("/") {
                return Ok(Entry::Dir);
            }
            if path
                .ancestors()
                .skip(1)
                .any(|ancestor| self.unsearchable.iter().any(|dir| self.same(dir, ancestor)))
            {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            if let Some((entry, _)) = self.key_of(path).and_then(|key| self.entries.get(key)) {
                return Ok(entry.clone());
            }
            let implied_dir = self
                .entries
                .keys()
                .any(|known| known.ancestors().any(|ancestor| self.same(ancestor, path)));
            Ok(if implied_dir {
                Entry::Dir
            } else {
                Entry::Missing
            })
        }

        fn may_create_in(&self, dir: &Path) -> bool {
            !self.closed.iter().any(|closed| self.same(closed, dir))
        }

        fn is_empty_dir(&self, dir: &Path) -> bool {
            !self
                .unsearchable
                .iter()
                .any(|closed| self.same(closed, dir))
                && self.entry(dir).is_ok_and(|entry| entry == Entry::Dir)
                && !self
                    .entries
                    .keys()
                    .any(|known| known.parent().is_some_and(|parent| self.same(parent, dir)))
        }

        fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
            if self.entry(dir)? != Entry::Dir {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            let mut names: Vec<OsString> = self
                .entries
                .keys()
                .filter_map(|known| {
                    let below = known.strip_prefix(dir).ok()?;
                    below
                        .components()
                        .next()
                        .map(|first| first.as_os_str().to_owned())
                })
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        }

        fn link_count(&self, path: &Path) -> io::Result<u64> {
            Ok(
                if self
                    .hard_linked
                    .iter()
                    .any(|linked| self.same(linked, path))
                {
                    2
                } else {
                    1
                },
            )
        }

        fn home_of(&self, name: &str) -> Option<PathBuf> {
            self.homes
                .iter()
                .find(|(user, _)| user == name)
                .map(|(_, home)| home.clone())
        }

        fn read_small_file(&self, path: &Path) -> io::Result<String> {
            match self.key_of(path).and_then(|key| self.entries.get(key)) {
                Some((Entry::File, text)) => Ok(text.clone()),
                _ => Err(io::Error::from(io::ErrorKind::NotFound)),
            }
        }
    }
}

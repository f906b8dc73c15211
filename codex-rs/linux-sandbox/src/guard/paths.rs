//! How the supervisor reads a path the command passed: which entry it
//! names, and how to spell it so that the supervisor, a different process,
//! reaches the same object. Pure, so every spelling is a unit test.

use std::borrow::Cow;

/// A path cut before its last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPath<'a> {
    /// Everything before the last component, without the slash that ends
    /// it; `/` for an entry of the root; empty for an entry of the start
    /// directory.
    pub parent: &'a [u8],
    /// The last component; empty for `/` and for the empty path.
    pub name: &'a [u8],
    /// Whether slashes followed the last component (`dir/`), which makes
    /// the kernel insist on a directory.
    pub trailing_slash: bool,
}

/// Splits `path` the way the kernel's lookup does before creating its
/// last component: repeated and trailing slashes are ignored.
pub fn split_path(path: &[u8]) -> SplitPath<'_> {
    let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let trailing_slash = trimmed_len > 0 && trimmed_len < path.len();
    let trimmed = &path[..trimmed_len];
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(slash) => {
            let name = &trimmed[slash + 1..];
            let parent_len = trimmed[..slash]
                .iter()
                .rposition(|&b| b != b'/')
                .map_or(0, |i| i + 1);
            let parent = if parent_len == 0 {
                &path[..1]
            } else {
                &path[..parent_len]
            };
            SplitPath {
                parent,
                name,
                trailing_slash,
            }
        }
        None if trimmed.is_empty() && !path.is_empty() => SplitPath {
            parent: &path[..1],
            name: b"",
            trailing_slash: false,
        },
        None => SplitPath {
            parent: b"",
            name: trimmed,
            trailing_slash,
        },
    }
}

/// `path` as the command's thread `tid` means it, spelled for another
/// process of the same sandbox: `/proc/self` and `/proc/thread-self` name
/// whoever resolves them, and `/dev/fd`, `/dev/stdin`, `/dev/stdout` and
/// `/dev/stderr` are symbolic links into `/proc/self`, so each becomes
/// `/proc/<tid>`. Only leading components are rewritten; a symbolic link
/// of the command's own that points into `/proc/self` still resolves as
/// the supervisor (see the module documentation of [`super`]).
pub fn in_target_view(path: &[u8], tid: i32) -> Cow<'_, [u8]> {
    if !path.starts_with(b"/") {
        return Cow::Borrowed(path);
    }
    let mut components = path.split(|&b| b == b'/').filter(|c| !c.is_empty());
    let first = components.next();
    let second = components.next();
    let proc_dir = format!("/proc/{tid}");
    let (replacement, consumed): (String, usize) = match (first, second) {
        (Some(b"proc"), Some(b"self" | b"thread-self")) => (proc_dir, 2),
        (Some(b"dev"), Some(b"fd")) => (format!("{proc_dir}/fd"), 2),
        (Some(b"dev"), Some(b"stdin")) => (format!("{proc_dir}/fd/0"), 2),
        (Some(b"dev"), Some(b"stdout")) => (format!("{proc_dir}/fd/1"), 2),
        (Some(b"dev"), Some(b"stderr")) => (format!("{proc_dir}/fd/2"), 2),
        _ => return Cow::Borrowed(path),
    };
    let rest = after_components(path, consumed);
    let mut rewritten = replacement.into_bytes();
    rewritten.extend_from_slice(rest);
    Cow::Owned(rewritten)
}

/// What follows the first `count` components of an absolute path, from
/// the slash after them on (empty when nothing follows).
fn after_components(path: &[u8], count: usize) -> &[u8] {
    let mut seen = 0;
    let mut index = 0;
    while index < path.len() {
        while index < path.len() && path[index] == b'/' {
            index += 1;
        }
        if index == path.len() {
            break;
        }
        if seen == count {
            return &path[index - 1..];
        }
        while index < path.len() && path[index] != b'/' {
            index += 1;
        }
        seen += 1;
    }
    &path[path.len()..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(path: &str) -> (&str, &str, bool) {
        let split = split_path(path.as_bytes());
        (
            std::str::from_utf8(split.parent).unwrap(),
            std::str::from_utf8(split.name).unwrap(),
            split.trailing_slash,
        )
    }

    #[test]
    fn splitting_finds_the_last_component_as_the_kernel_does() {
        assert_eq!(split("a/b/c"), ("a/b", "c", false));
        assert_eq!(split("c"), ("", "c", false));
        assert_eq!(split("/c"), ("/", "c", false));
        assert_eq!(split("//c"), ("/", "c", false));
        assert_eq!(split("/a//b"), ("/a", "b", false));
        assert_eq!(split("sub/.git/"), ("sub", ".git", true));
        assert_eq!(split("sub/.git//"), ("sub", ".git", true));
        assert_eq!(split(".git/"), ("", ".git", true));
        assert_eq!(split("/"), ("/", "", false));
        assert_eq!(split("///"), ("/", "", false));
        assert_eq!(split(""), ("", "", false));
        assert_eq!(split("a/."), ("a", ".", false));
        assert_eq!(split(".."), ("", "..", false));
    }

    #[test]
    fn the_created_name_ignores_trailing_slashes() {
        for (path, name) in [
            ("sub/.git", ".git"),
            ("sub/.git/", ".git"),
            ("/ws/a/.codex//", ".codex"),
            (".agents", ".agents"),
            ("x/.git/config", "config"),
        ] {
            assert_eq!(split_path(path.as_bytes()).name, name.as_bytes(), "{path}");
        }
    }

    fn view(path: &str) -> String {
        String::from_utf8(in_target_view(path.as_bytes(), 42).into_owned()).unwrap()
    }

    #[test]
    fn paths_through_the_callers_own_proc_entry_are_respelled_for_its_thread() {
        assert_eq!(view("/proc/self/fd/3/x"), "/proc/42/fd/3/x");
        assert_eq!(view("/proc/thread-self/cwd/x"), "/proc/42/cwd/x");
        assert_eq!(view("//proc//self//cwd"), "/proc/42/cwd");
        assert_eq!(view("/proc/self"), "/proc/42");
        assert_eq!(view("/dev/fd/4/new"), "/proc/42/fd/4/new");
        assert_eq!(view("/dev/stdout"), "/proc/42/fd/1");
        assert_eq!(view("/dev/stderr"), "/proc/42/fd/2");
        assert_eq!(view("/dev/stdin"), "/proc/42/fd/0");
    }

    #[test]
    fn other_paths_are_left_alone() {
        for path in [
            "proc/self/fd/1",
            "/proc/1/fd",
            "/proc/selfish",
            "/dev/null",
            "/dev/fdx",
            "/tmp/x",
            "/",
            "",
        ] {
            assert_eq!(view(path), path);
        }
    }
}

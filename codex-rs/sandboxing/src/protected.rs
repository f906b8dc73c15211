//! The entry names no sandboxed command may write: repository metadata and
//! agent configuration that tools outside the sandbox trust and run.

/// Names kept read-only at any depth below a writable root, and refused
/// as the name of anything new there.
pub const PROTECTED_NAMES: [&str; 3] = [".git", ".codex", ".agents"];

/// Whether an entry called `name` is, or may be taken by a filesystem
/// for, one of [`PROTECTED_NAMES`]: in any ASCII case (on a
/// case-insensitive filesystem, vfat, exFAT or ext4 with casefolding,
/// `.GIT` is the same entry as `.git`, and git on one reads it), with any
/// trailing dots and spaces (which vfat drops: `.git.` creates `.git`),
/// and with `ſ` (U+017F), the one non-ASCII letter that Unicode case
/// folding turns into a letter of those names (`s`).
pub fn is_protected_name(name: &[u8]) -> bool {
    let end = name
        .iter()
        .rposition(|&b| b != b'.' && b != b' ')
        .map_or(0, |last| last + 1);
    let folded = fold_long_s(&name[..end]);
    PROTECTED_NAMES
        .iter()
        .any(|protected| folded.eq_ignore_ascii_case(protected.as_bytes()))
}

/// `name` with every UTF-8 `ſ` (0xC5 0xBF) replaced by `s`.
fn fold_long_s(name: &[u8]) -> Vec<u8> {
    let mut folded = Vec::with_capacity(name.len());
    let mut rest = name;
    while let Some((&first, tail)) = rest.split_first() {
        if first == 0xC5 && tail.first() == Some(&0xBF) {
            folded.push(b's');
            rest = &tail[1..];
        } else {
            folded.push(first);
            rest = tail;
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_names_match_in_any_ascii_case_and_nothing_else() {
        for name in [
            ".git", ".GIT", ".Git", ".codex", ".CODEX", ".agents", ".Agents",
        ] {
            assert!(is_protected_name(name.as_bytes()), "{name}");
        }
        for name in [
            "git",
            ".git2",
            ".gitignore",
            "x.git",
            ".git/",
            "",
            ".",
            "..",
            ".codexx",
            "agents",
        ] {
            assert!(!is_protected_name(name.as_bytes()), "{name}");
        }
    }
}

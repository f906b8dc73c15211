//! The entry names no sandboxed command may write: repository metadata and
//! agent configuration that tools outside the sandbox trust and run.

/// Names kept read-only at any depth below a writable root, and refused
/// as the name of anything new there.
pub const PROTECTED_NAMES: [&str; 3] = [".git", ".codex", ".agents"];

/// Whether an entry called `name` is one of [`PROTECTED_NAMES`], in any
/// ASCII case: on a case-insensitive filesystem (vfat, exFAT, ext4 with
/// casefolding) `.GIT` is the same entry as `.git`, and git on one reads it.
pub fn is_protected_name(name: &[u8]) -> bool {
    PROTECTED_NAMES
        .iter()
        .any(|protected| name.eq_ignore_ascii_case(protected.as_bytes()))
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

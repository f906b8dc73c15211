//! The protected names: entries no sandboxed command may write, create or
//! replace inside a writable root, because tools outside the sandbox trust
//! and run what they hold (a repository's config and hooks, an agent's
//! configuration, cloud credentials). This module is their only owner: the
//! planner, the start-up scan, the guard, the Landlock pipeline, the
//! Seatbelt profile, `--explain` and `doctor` all read it.

use std::path::{Path, PathBuf};

/// The protected names, as written. Matching is wider: see
/// [`is_protected_name`].
pub const PROTECTED_NAMES: [&str; 4] = [".git", ".codex", ".agents", ".aws"];

/// The names as a list for messages: `.git, .codex, .agents and .aws`.
pub fn names_in_words() -> String {
    let (last, rest) = PROTECTED_NAMES
        .split_last()
        .unwrap_or((&"", &PROTECTED_NAMES[..0]));
    format!("{} and {last}", rest.join(", "))
}

/// The names joined by `/` for short labels: `.git/.codex/.agents/.aws`.
pub fn names_with_slashes() -> String {
    PROTECTED_NAMES.join("/")
}

/// Whether an entry called `name` is, or may be taken by a filesystem
/// for, one of [`PROTECTED_NAMES`]: in any ASCII case (on a
/// case-insensitive filesystem, vfat, exFAT, APFS or ext4 with
/// casefolding, `.GIT` is the same entry as `.git`, and git on one reads
/// it), with any trailing dots and spaces (which vfat drops: `.git.`
/// creates `.git`), and with `ſ` (U+017F), the one non-ASCII letter that
/// Unicode case folding turns into a letter of those names (`s`).
pub fn is_protected_name(name: &[u8]) -> bool {
    protected_name_of(name).is_some()
}

/// The protected name an entry called `name` stands for, matched as
/// [`is_protected_name`] matches (`.GIT.` stands for `.git`).
pub fn protected_name_of(name: &[u8]) -> Option<&'static str> {
    let end = name
        .iter()
        .rposition(|&b| b != b'.' && b != b' ')
        .map_or(0, |last| last + 1);
    let folded = fold_long_s(&name[..end]);
    PROTECTED_NAMES
        .into_iter()
        .find(|protected| folded.eq_ignore_ascii_case(protected.as_bytes()))
}

/// Whether `name` stands for `.git`, whose file form (`gitdir: ...`) and
/// directory both hold a repository.
pub fn is_git_name(name: &[u8]) -> bool {
    protected_name_of(name) == Some(".git")
}

/// The paths a writable directory `root` protects at its top level, one
/// per name as written. The planner keeps the existing ones read-only and
/// keeps the missing ones from being created.
pub fn top_level_candidates(root: &Path) -> Vec<PathBuf> {
    PROTECTED_NAMES.iter().map(|name| root.join(name)).collect()
}

/// A POSIX extended regular expression (the dialect of Seatbelt's
/// `regex` filter) matching exactly the path components
/// [`is_protected_name`] accepts, as one group, for use between `/` and
/// `(/|$)`. Macs run APFS case-insensitively, so the case folding matters
/// there as much as on vfat.
pub fn protected_name_ere() -> String {
    let names: Vec<String> = PROTECTED_NAMES
        .iter()
        .map(|name| name.chars().map(ere_letter).collect())
        .collect();
    format!("({})[. ]*", names.join("|"))
}

/// One character of a protected name, in any case it may be matched in.
fn ere_letter(letter: char) -> String {
    match letter {
        '.' => "\\.".to_owned(),
        's' => "(s|S|ſ)".to_owned(),
        letter if letter.is_ascii_alphabetic() => format!(
            "[{}{}]",
            letter.to_ascii_lowercase(),
            letter.to_ascii_uppercase()
        ),
        letter => letter.to_string(),
    }
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

    /// Names the predicate must take for protected, and names it must not.
    const PROTECTED: [&str; 14] = [
        ".git", ".GIT", ".Git", ".codex", ".CODEX", ".agents", ".Agents", ".aws", ".AWS", ".git.",
        ".git ..", ".awſ", ".agentſ", ".AWſ",
    ];
    const NOT_PROTECTED: [&str; 14] = [
        "git",
        ".git2",
        ".gitignore",
        "x.git",
        "",
        ".",
        "..",
        ".codexx",
        "agents",
        ".aw",
        "aws",
        ". git",
        ".gi t",
        ".awss",
    ];

    #[test]
    fn protected_names_match_in_any_case_with_trailing_dots_and_nothing_else() {
        for name in PROTECTED {
            assert!(is_protected_name(name.as_bytes()), "{name}");
        }
        for name in NOT_PROTECTED {
            assert!(!is_protected_name(name.as_bytes()), "{name}");
        }
        assert_eq!(protected_name_of(b".GIT. "), Some(".git"));
        assert_eq!(protected_name_of(".Awſ".as_bytes()), Some(".aws"));
        assert!(is_git_name(b".Git") && !is_git_name(b".codex"));
    }

    #[test]
    fn the_seatbelt_rendering_matches_exactly_what_the_predicate_matches() {
        let ere = regex::Regex::new(&format!("^{}$", protected_name_ere())).unwrap();
        for name in PROTECTED.iter().chain(&NOT_PROTECTED) {
            assert_eq!(
                ere.is_match(name),
                is_protected_name(name.as_bytes()),
                "{name} against {ere}"
            );
        }
        for name in PROTECTED_NAMES {
            let upper = name.to_ascii_uppercase();
            assert!(ere.is_match(&upper) && is_protected_name(upper.as_bytes()));
        }
    }

    #[test]
    fn every_writable_root_gets_one_candidate_per_name() {
        assert_eq!(
            top_level_candidates(Path::new("/ws")),
            [
                PathBuf::from("/ws/.git"),
                PathBuf::from("/ws/.codex"),
                PathBuf::from("/ws/.agents"),
                PathBuf::from("/ws/.aws"),
            ]
        );
        assert_eq!(names_in_words(), ".git, .codex, .agents and .aws");
        assert_eq!(names_with_slashes(), ".git/.codex/.agents/.aws");
    }
}

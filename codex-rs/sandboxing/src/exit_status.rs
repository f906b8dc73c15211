//! The exit statuses `codex sandbox` ends with when the sandbox itself
//! fails, written once: the Linux backend, the macOS backend, the `codex`
//! front end and the `--help` text all read them from here, and a test
//! checks the README's table against [`DOCUMENTED`]. The command's own
//! status passes through unchanged (128+N when signal N killed it).

/// Bad command-line usage (unknown option, no command).
pub const USAGE: i32 = 2;
/// The host cannot run the sandbox (WSL1, no backend for this OS, a
/// kernel that cannot enforce the policy).
pub const UNSUPPORTED_HOST: i32 = 69;
/// Internal error (a bug): please report it.
pub const INTERNAL: i32 = 70;
/// The sandbox could not be set up (bwrap or the inner stage stopped
/// before starting the command).
pub const SETUP: i32 = 71;
/// No usable bwrap: none installed and none bundled, or the bundled one
/// failed verification.
pub const BWRAP_MISSING: i32 = 72;
/// The configuration, the chosen profile or the policy is invalid.
pub const CONFIG: i32 = 78;
/// The command exists but cannot be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command does not exist.
pub const NOT_FOUND: i32 = 127;

/// Every status of the sandbox's own, with the words `--help` and the
/// README use for it, in the order they are listed.
pub const DOCUMENTED: [(i32, &str); 8] = [
    (USAGE, "usage error"),
    (CONFIG, "configuration error"),
    (UNSUPPORTED_HOST, "unsupported host"),
    (BWRAP_MISSING, "bwrap not found"),
    (SETUP, "sandbox setup failed"),
    (INTERNAL, "internal error"),
    (NOT_EXECUTABLE, "command not executable"),
    (NOT_FOUND, "command not found"),
];

/// The `Exit status:` paragraph of `--help`, wrapped at 88 columns.
pub fn help_paragraph() -> String {
    let mut words: Vec<String> = "Exit status: the command's own (128+N if killed by signal N);"
        .split(' ')
        .map(str::to_owned)
        .collect();
    for (index, (code, meaning)) in DOCUMENTED.iter().enumerate() {
        let end = if index + 1 == DOCUMENTED.len() {
            "."
        } else {
            ","
        };
        words.push(code.to_string());
        let mut meaning_words: Vec<String> = meaning.split(' ').map(str::to_owned).collect();
        if let Some(last) = meaning_words.last_mut() {
            last.push_str(end);
        }
        words.extend(meaning_words);
    }
    wrap(&words, 88)
}

/// `words` joined by spaces into lines of at most `width` columns.
fn wrap(words: &[String], width: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in words {
        if line_len > 0 && line_len + 1 + word.len() > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_paragraph_names_every_status_once_within_88_columns() {
        let text = help_paragraph();
        assert!(text.starts_with("Exit status: the command's own"), "{text}");
        assert!(text.lines().all(|line| line.len() <= 88), "{text}");
        let flat = text.replace('\n', " ");
        for (code, meaning) in DOCUMENTED {
            assert_eq!(
                flat.matches(&format!(" {code} {meaning}")).count(),
                1,
                "{flat}"
            );
        }
        assert!(flat.ends_with("127 command not found."), "{flat}");
    }

    #[test]
    fn statuses_are_distinct_and_never_a_plain_success() {
        let mut codes: Vec<i32> = DOCUMENTED.iter().map(|(code, _)| *code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DOCUMENTED.len());
        assert!(codes.iter().all(|code| *code > 1 && *code < 128));
    }

    /// The README's exit-status table lists exactly these statuses, each
    /// with the words `--help` uses.
    #[test]
    fn the_readme_table_matches() {
        let readme = include_str!("../../../README.md");
        let rows: Vec<(i32, &str)> = readme
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("| ")?;
                let (code, meaning) = rest.split_once(" | ")?;
                Some((code.parse().ok()?, meaning))
            })
            .collect();
        assert_eq!(rows.len(), DOCUMENTED.len(), "{rows:?}");
        for (code, meaning) in DOCUMENTED {
            assert!(
                rows.iter()
                    .any(|(row_code, text)| *row_code == code && text.starts_with(meaning)),
                "README has no row `| {code} | {meaning}`: {rows:?}"
            );
        }
    }
}

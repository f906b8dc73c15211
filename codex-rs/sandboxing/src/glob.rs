//! Glob patterns in filesystem rules: how a key is recognised as a glob,
//! the syntax it accepts, and how a pattern is split into the directory a
//! scan must start from and the part that needs matching.
//!
//! Syntax (the `globset` crate's, with two settings fixed so that every
//! backend reads a pattern the same way):
//! - `*` and `?` never match `/`; `**` as a whole component matches any
//!   number of directories, including none (`**/*.env` matches `.env`);
//! - `[abc]`, `[!abc]` and `{a,b}` as usual; `\` escapes the next character.
//!
//! Patterns are matched against whole paths relative to the rule's base, so
//! `*.env` matches only at the top of the base, and `**/*.env` at any depth.

use std::path::{Component, Path, PathBuf};

/// Characters that make a filesystem key a glob.
pub const GLOB_METACHARACTERS: [char; 4] = ['*', '?', '[', '{'];

/// Whether `key` is a glob pattern rather than a plain path.
pub fn is_glob(key: &str) -> bool {
    key.contains(GLOB_METACHARACTERS)
}

/// Why a glob pattern is refused; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(String);

/// Checks a pattern relative to its base; the error says what is wrong.
pub fn validate_relative_pattern(pattern: &str) -> Result<(), PatternError> {
    if pattern.is_empty() {
        return Err(PatternError("an empty glob pattern matches nothing".into()));
    }
    if pattern.starts_with('/') {
        return Err(PatternError(
            "a pattern under a filesystem key is relative to it; drop the leading `/`".into(),
        ));
    }
    if pattern.split('/').any(|part| part == "..") {
        return Err(PatternError(
            "`..` would leave the rule's base; patterns cannot contain `..`".into(),
        ));
    }
    build_matcher_glob(pattern)
        .map(|_| ())
        .map_err(|err| PatternError(format!("invalid glob: {}", err.kind())))
}

/// Compiles `pattern` with the project's fixed syntax settings.
pub fn build_matcher_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
}

/// Splits a relative pattern into its leading literal directories and the
/// rest: `secrets/**/*.key` becomes (`secrets`, `**/*.key`). A scan can
/// start at `base/secrets` instead of walking all of `base`. The rest
/// always starts at a component that contains a metacharacter or escape.
pub fn split_literal_prefix(pattern: &str) -> (PathBuf, String) {
    let parts: Vec<&str> = pattern.split('/').collect();
    let literal = parts
        .iter()
        .take(parts.len().saturating_sub(1))
        .take_while(|part| !is_glob(part) && !part.contains('\\'))
        .count();
    let prefix: PathBuf = parts[..literal]
        .iter()
        .filter(|part| !part.is_empty() && **part != ".")
        .collect();
    (prefix, parts[literal..].join("/"))
}

/// The pattern anchored at the absolute directory `root`, for matching
/// absolute paths. Characters of `root` that glob syntax would read are
/// escaped.
pub fn anchored_pattern(root: &Path, pattern: &str) -> String {
    let root = root.to_string_lossy();
    let root = root.trim_end_matches('/');
    format!("{}/{pattern}", globset::escape(root))
}

/// Number of normal components of `path` (`/a/b` has 2).
pub fn depth_of(path: &Path) -> usize {
    path.components()
        .filter(|part| matches!(part, Component::Normal(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_metacharacters_are_globs() {
        for glob in ["**/*.env", "/home/me/**/id_*", "a?", "[ab]", "{a,b}"] {
            assert!(is_glob(glob), "{glob}");
        }
        for plain in ["/data", "~/x", ".", "a\\b", "secrets/key"] {
            assert!(!is_glob(plain), "{plain}");
        }
    }

    #[test]
    fn relative_patterns_are_validated() {
        assert_eq!(validate_relative_pattern("**/*.env"), Ok(()));
        assert_eq!(validate_relative_pattern("a/{b,c}/*.pem"), Ok(()));
        for (bad, says) in [
            ("", "empty"),
            ("/x/*", "leading `/`"),
            ("../*.env", "`..`"),
            ("a/../b*", "`..`"),
            ("[a", "invalid glob"),
            ("{a,b", "invalid glob"),
        ] {
            let err = validate_relative_pattern(bad).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn literal_prefixes_are_split_off() {
        let split = |pattern: &str| {
            let (prefix, rest) = split_literal_prefix(pattern);
            (prefix.display().to_string(), rest)
        };
        assert_eq!(split("**/*.env"), ("".into(), "**/*.env".into()));
        assert_eq!(
            split("secrets/**/*.key"),
            ("secrets".into(), "**/*.key".into())
        );
        assert_eq!(split("a/b/c*"), ("a/b".into(), "c*".into()));
        assert_eq!(split("./a/*"), ("a".into(), "*".into()));
        assert_eq!(split("a\\*/b*"), ("".into(), "a\\*/b*".into()));
        assert_eq!(split("id_*"), ("".into(), "id_*".into()));
    }

    #[test]
    fn anchored_patterns_match_below_their_root_only() {
        let anchored = anchored_pattern(Path::new("/ws [1]"), "**/*.env");
        let glob = build_matcher_glob(&anchored).unwrap().compile_matcher();
        assert!(glob.is_match("/ws [1]/.env"));
        assert!(glob.is_match("/ws [1]/a/b/prod.env"));
        assert!(!glob.is_match("/ws 1/.env"));
        assert!(!glob.is_match("/other/.env"));
        let at_root = anchored_pattern(Path::new("/"), "*.pem");
        assert_eq!(at_root, "/*.pem");
    }

    #[test]
    fn star_does_not_cross_directories() {
        let glob = build_matcher_glob("/ws/*.env").unwrap().compile_matcher();
        assert!(glob.is_match("/ws/.env"));
        assert!(!glob.is_match("/ws/a/.env"));
    }

    #[test]
    fn depth_counts_normal_components() {
        assert_eq!(depth_of(Path::new("/")), 0);
        assert_eq!(depth_of(Path::new("/a/b")), 2);
    }
}

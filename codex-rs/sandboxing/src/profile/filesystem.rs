//! `[permissions.NAME.filesystem]`: the keys a user profile may hold and
//! what each becomes, with the meaning OpenAI Codex gives them.
//!
//! ```toml
//! [permissions.dev.filesystem]
//! ":root" = "read"                      # special key or path = access
//! ":minimal" = "read"                   # only the system's /usr, /etc, /lib...
//! "/home/me/**/id_*" = "deny"           # absolute glob: deny reading
//! "/opt/cache/**" = "write"             # trailing /**: the subtree
//! glob_scan_max_depth = 4               # how deep globs are expanded
//! [permissions.dev.filesystem.":workspace_roots"]
//! "." = "write"                         # the key itself
//! "build" = "read"                      # a path below it
//! "**/*.env" = "deny"                   # a glob below it
//! ```
//!
//! Accesses are `read`, `write` and `deny` (`none` is Codex's older
//! spelling of `deny`). A special key this version does not know is
//! ignored with a warning, as Codex ignores it, so a configuration written
//! for a newer Codex still loads.

use std::path::{Component, Path, PathBuf};

use crate::access::Access;
use crate::glob::{is_glob, validate_relative_pattern};

use super::{FsRule, FsTarget, GlobRule, RuleOrigin, SPECIAL_KEYS};

/// The key that bounds glob expansion.
pub const GLOB_SCAN_MAX_DEPTH_KEY: &str = "glob_scan_max_depth";

/// The suffix that makes a read or write key cover a whole subtree.
const SUBTREE_SUFFIX: &str = "/**";

/// One entry of a filesystem table, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsEntry {
    /// `target` (plus `subpath` below it) gets `access`.
    Rule {
        /// The key.
        target: FsTarget,
        /// A relative path below the key; empty for the key itself.
        subpath: PathBuf,
        /// The access.
        access: Access,
    },
    /// Reading whatever matches `pattern` below `base` is denied.
    DenyGlob {
        /// What the pattern is relative to.
        base: FsTarget,
        /// The pattern, relative to `base`.
        pattern: String,
    },
    /// A special key this version does not know: ignored, with a warning.
    UnknownSpecial {
        /// The key as written.
        key: String,
    },
}

impl FsEntry {
    /// Adds this entry, which came from `origin`, to `filesystem` or
    /// `deny_globs`; an unknown special path adds nothing and its key is
    /// returned, for the warning.
    pub fn add_to(
        self,
        origin: RuleOrigin,
        filesystem: &mut Vec<FsRule>,
        deny_globs: &mut Vec<GlobRule>,
    ) -> Option<String> {
        match self {
            FsEntry::Rule {
                target,
                subpath,
                access,
            } => filesystem.push(FsRule {
                target,
                subpath,
                access,
                origin,
            }),
            FsEntry::DenyGlob { base, pattern } => deny_globs.push(GlobRule {
                base,
                pattern,
                origin,
            }),
            FsEntry::UnknownSpecial { key } => return Some(key),
        }
        None
    }
}

/// A parsed entry and, for one inside a nested table, its key there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedEntry {
    /// The key inside the nested table, or `None` for a top-level key.
    pub subkey: Option<String>,
    /// What the entry says.
    pub entry: FsEntry,
}

/// An entry's problem; `subkey` is set when it lies in a nested table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// The key inside the nested table at fault, if any.
    pub subkey: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl EntryError {
    fn at(subkey: Option<&str>, message: impl Into<String>) -> Self {
        EntryError {
            subkey: subkey.map(str::to_string),
            message: message.into(),
        }
    }
}

/// Parses `glob_scan_max_depth`: a positive integer (directory levels).
pub fn parse_scan_depth(value: &toml::Value) -> Result<usize, ScanDepthError> {
    match value {
        toml::Value::Integer(depth) => usize::try_from(*depth)
            .ok()
            .filter(|depth| *depth >= 1)
            .ok_or_else(|| ScanDepthError(depth.to_string())),
        other => Err(ScanDepthError(other.type_str().to_owned())),
    }
}

/// A `glob_scan_max_depth` that is not a depth; holds what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be a positive integer (directory levels scanned below each glob's root; leave it out for no limit); found {0}"
)]
pub struct ScanDepthError(String);

/// What a filesystem key names.
enum KeyTarget {
    /// A place this version knows.
    Known(FsTarget),
    /// A `:special` key it does not.
    Unknown,
}

/// Parses one `key = value` of a filesystem table into its entries.
pub fn parse_entry(key: &str, value: &toml::Value) -> Result<Vec<KeyedEntry>, EntryError> {
    let top = |entry: FsEntry| {
        vec![KeyedEntry {
            subkey: None,
            entry,
        }]
    };
    let at_key = |message: String| EntryError::at(None, message);
    let toml::Value::Table(table) = value else {
        let access = parse_access(value).map_err(at_key)?;
        return parse_plain_key(key, access).map(top).map_err(at_key);
    };
    if is_glob(key) {
        return Err(at_key(
            "a glob cannot hold a table of rules; use a plain path or special key here".into(),
        ));
    }
    let base = match parse_target(key).map_err(at_key)? {
        KeyTarget::Known(base) => base,
        KeyTarget::Unknown => {
            return Ok(table
                .keys()
                .map(|subkey| KeyedEntry {
                    subkey: Some(subkey.clone()),
                    entry: FsEntry::UnknownSpecial { key: key.into() },
                })
                .collect());
        }
    };
    table
        .iter()
        .map(
            |(subkey, value)| match parse_scoped(key, &base, subkey, value) {
                Ok(entry) => Ok(KeyedEntry {
                    subkey: Some(subkey.clone()),
                    entry,
                }),
                Err(message) => Err(EntryError::at(Some(subkey), message)),
            },
        )
        .collect()
}

/// A top-level `key = access`.
fn parse_plain_key(key: &str, access: Access) -> Result<FsEntry, String> {
    if is_glob(key) {
        if access == Access::None {
            let (base, pattern) = split_absolute_glob(key)?;
            validate_relative_pattern(&pattern).map_err(|err| err.to_string())?;
            return Ok(FsEntry::DenyGlob { base, pattern });
        }
        let subtree = subtree_root(key, access)?;
        return parse_plain_key(subtree, access);
    }
    Ok(match parse_target(key)? {
        KeyTarget::Known(target) => FsEntry::Rule {
            target,
            subpath: PathBuf::new(),
            access,
        },
        KeyTarget::Unknown => FsEntry::UnknownSpecial { key: key.into() },
    })
}

/// One `subkey = access` inside `[...filesystem."KEY"]`.
fn parse_scoped(
    key: &str,
    base: &FsTarget,
    subkey: &str,
    value: &toml::Value,
) -> Result<FsEntry, String> {
    if value.is_table() {
        return Err("tables nest one level only: write the deeper path as one key".into());
    }
    let access = parse_access(value)?;
    let rule = |subpath: PathBuf| FsEntry::Rule {
        target: base.clone(),
        subpath,
        access,
    };
    if subkey == "." {
        return Ok(rule(PathBuf::new()));
    }
    if !matches!(base, FsTarget::WorkspaceRoots | FsTarget::Path(_)) {
        return Err(format!(
            "`{key}` does not take nested entries (only \".\", the key itself); write the path as a key of its own"
        ));
    }
    if is_glob(subkey) {
        if access == Access::None {
            validate_relative_pattern(subkey).map_err(|err| err.to_string())?;
            return Ok(FsEntry::DenyGlob {
                base: base.clone(),
                pattern: subkey.to_string(),
            });
        }
        return descendant(subtree_root(subkey, access)?).map(rule);
    }
    descendant(subkey).map(rule)
}

/// For a read or write glob: the directory of a trailing `/**` (the whole
/// subtree), when the rest holds no glob. Anything else is refused: read
/// and write go to paths, only `deny` takes patterns.
fn subtree_root(key: &str, access: Access) -> Result<&str, String> {
    match key.strip_suffix(SUBTREE_SUFFIX) {
        Some(root) if !root.is_empty() && !is_glob(root) => Ok(root),
        _ => Err(format!(
            "a glob can only deny reading (\"deny\"), not grant \"{access}\"; write an exact path, or one ending in `/**` for its whole subtree"
        )),
    }
}

/// A path below a key: relative, made only of names (no `.`, `..` or
/// leading `/`), as Codex requires.
fn descendant(subkey: &str) -> Result<PathBuf, String> {
    let path = Path::new(subkey);
    if path.is_absolute() {
        return Err("paths under a filesystem key are relative to it; drop the leading `/` or write the absolute path as its own key".into());
    }
    if path
        .components()
        .any(|part| matches!(part, Component::ParentDir))
    {
        return Err("`..` would leave the key's directory; write that path as its own key".into());
    }
    if subkey.is_empty()
        || !path
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
    {
        return Err(
            "a path under a filesystem key is made of names only (no `.` component); write \".\" for the key itself"
                .into(),
        );
    }
    Ok(path.to_path_buf())
}

/// `/home/me/**/id_*` is `/` plus `home/me/**/id_*`; `~/x/*` is `~` plus `x/*`.
fn split_absolute_glob(key: &str) -> Result<(FsTarget, String), String> {
    if let Some(rest) = key.strip_prefix("~/") {
        return Ok((FsTarget::Path(PathBuf::from("~")), rest.to_string()));
    }
    if let Some(rest) = key.strip_prefix('/') {
        return Ok((FsTarget::Root, rest.to_string()));
    }
    Err(format!(
        "`{key}` is a relative glob; write it under a filesystem key (for example [permissions.NAME.filesystem.\":workspace_roots\"]) or make it absolute"
    ))
}

/// A filesystem key that names a place: special key, absolute or `~` path.
fn parse_target(key: &str) -> Result<KeyTarget, String> {
    Ok(KeyTarget::Known(match key {
        ":root" => FsTarget::Root,
        ":minimal" => FsTarget::Minimal,
        ":workspace_roots" | ":project_roots" => FsTarget::WorkspaceRoots,
        ":tmpdir" => FsTarget::Tmpdir,
        ":slash_tmp" => FsTarget::SlashTmp,
        _ if key.starts_with(':') => return Ok(KeyTarget::Unknown),
        _ if key.starts_with('/') || key == "~" || key.starts_with("~/") => {
            FsTarget::Path(PathBuf::from(key))
        }
        _ => {
            return Err(format!(
                "`{key}` is neither a special key ({}) nor an absolute path; write it as /abs/path or ~/path",
                SPECIAL_KEYS.join(", ")
            ));
        }
    }))
}

fn parse_access(value: &toml::Value) -> Result<Access, String> {
    match value {
        toml::Value::String(text) => Access::parse(text).ok_or_else(|| {
            format!("unknown access `{text}`; valid values: read, write, deny (or its alias none)")
        }),
        other => Err(format!(
            "expected \"read\", \"write\" or \"deny\", found {}",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> Result<Vec<FsEntry>, EntryError> {
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .unwrap()
            .remove("v")
            .unwrap();
        let entries = parse_entry(key, &value)?;
        Ok(entries.into_iter().map(|keyed| keyed.entry).collect())
    }

    fn rule(target: FsTarget, subpath: &str, access: Access) -> FsEntry {
        FsEntry::Rule {
            target,
            subpath: PathBuf::from(subpath),
            access,
        }
    }

    fn glob(base: FsTarget, pattern: &str) -> FsEntry {
        FsEntry::DenyGlob {
            base,
            pattern: pattern.into(),
        }
    }

    #[test]
    fn plain_keys_are_rules() {
        assert_eq!(
            entry(":root", "\"read\"").unwrap(),
            [rule(FsTarget::Root, "", Access::Read)]
        );
        for spelling in ["\"deny\"", "\"none\""] {
            assert_eq!(
                entry("/data", spelling).unwrap(),
                [rule(FsTarget::Path("/data".into()), "", Access::None)]
            );
        }
        assert_eq!(
            entry(":minimal", "\"read\"").unwrap(),
            [rule(FsTarget::Minimal, "", Access::Read)]
        );
        assert_eq!(
            entry(":project_roots", "\"write\"").unwrap(),
            [rule(FsTarget::WorkspaceRoots, "", Access::Write)],
            "Codex's alias of :workspace_roots"
        );
    }

    #[test]
    fn an_unknown_special_key_is_set_aside_with_its_nested_entries() {
        assert_eq!(
            entry(":future", "\"write\"").unwrap(),
            [FsEntry::UnknownSpecial {
                key: ":future".into()
            }]
        );
        let nested = parse_entry(
            ":future",
            &toml::from_str::<toml::Table>("v = { a = \"read\", b = \"write\" }")
                .unwrap()
                .remove("v")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            nested
                .iter()
                .map(|keyed| keyed.subkey.as_deref())
                .collect::<Vec<_>>(),
            [Some("a"), Some("b")]
        );
    }

    #[test]
    fn absolute_globs_deny_reads_below_the_root_or_home() {
        assert_eq!(
            entry("/home/me/**/id_*", "\"deny\"").unwrap(),
            [glob(FsTarget::Root, "home/me/**/id_*")]
        );
        assert_eq!(
            entry("~/.ssh/id_*", "\"none\"").unwrap(),
            [glob(FsTarget::Path("~".into()), ".ssh/id_*")]
        );
    }

    #[test]
    fn a_trailing_double_star_grants_read_or_write_to_the_subtree() {
        assert_eq!(
            entry("/opt/cache/**", "\"write\"").unwrap(),
            [rule(FsTarget::Path("/opt/cache".into()), "", Access::Write)]
        );
        assert_eq!(
            entry(":workspace_roots", r#"{ "docs/**" = "read" }"#).unwrap(),
            [rule(FsTarget::WorkspaceRoots, "docs", Access::Read)]
        );
    }

    #[test]
    fn a_table_scopes_paths_and_globs_to_its_key() {
        let entries = entry(
            ":workspace_roots",
            r#"{ "." = "write", "build/out" = "read", "**/*.env" = "deny" }"#,
        )
        .unwrap();
        assert_eq!(
            entries,
            [
                glob(FsTarget::WorkspaceRoots, "**/*.env"),
                rule(FsTarget::WorkspaceRoots, "", Access::Write),
                rule(FsTarget::WorkspaceRoots, "build/out", Access::Read),
            ]
        );
        assert_eq!(
            entry("/srv", r#"{ "." = "read", "logs" = "write" }"#).unwrap(),
            [
                rule(FsTarget::Path("/srv".into()), "", Access::Read),
                rule(FsTarget::Path("/srv".into()), "logs", Access::Write),
            ]
        );
    }

    #[test]
    fn special_keys_other_than_workspace_roots_take_only_dot() {
        for key in [":root", ":tmpdir", ":slash_tmp", ":minimal"] {
            assert!(entry(key, r#"{ "." = "read" }"#).is_ok(), "{key}");
            let err = entry(key, r#"{ "a" = "read" }"#).unwrap_err();
            assert_eq!(err.subkey.as_deref(), Some("a"));
            assert!(
                err.message.contains("does not take nested entries"),
                "{key}: {}",
                err.message
            );
        }
    }

    #[test]
    fn bad_globs_and_misplaced_globs_are_refused_naming_the_problem() {
        for (key, value, subkey, says) in [
            ("/x/**/*.env", "\"read\"", None, "can only deny reading"),
            ("/x/**", "\"none\"", None, ""),
            ("/x/*/**", "\"write\"", None, "can only deny reading"),
            ("**/*.env", "\"deny\"", None, "relative glob"),
            ("/x/[a", "\"deny\"", None, "invalid glob"),
            ("/x/*", r#"{ "a" = "deny" }"#, None, "cannot hold a table"),
            ("/r", r#"{ "[a" = "deny" }"#, Some("[a"), "invalid glob"),
            ("/r", r#"{ "*.pem" = "write" }"#, Some("*.pem"), "only deny"),
            ("/r", r#"{ "../*.pem" = "deny" }"#, Some("../*.pem"), "`..`"),
            ("/r", r#"{ "../x" = "deny" }"#, Some("../x"), "`..`"),
            ("/r", r#"{ "./x" = "deny" }"#, Some("./x"), "names only"),
            ("/r", r#"{ "" = "deny" }"#, Some(""), "names only"),
            ("/r", r#"{ "/x" = "deny" }"#, Some("/x"), "relative"),
            (
                "/r",
                r#"{ "a" = { "b" = "deny" } }"#,
                Some("a"),
                "one level",
            ),
            ("/r", r#"{ "a" = 3 }"#, Some("a"), "found integer"),
            ("/r", r#"{ "a" = "rw" }"#, Some("a"), "unknown access `rw`"),
            ("data", "\"read\"", None, "nor an absolute path"),
        ] {
            let result = entry(key, value);
            if says.is_empty() {
                assert!(result.is_ok(), "{key} = {value}: {result:?}");
                continue;
            }
            let err = result.unwrap_err();
            assert_eq!(err.subkey.as_deref(), subkey, "{key} = {value}");
            assert!(
                err.message.contains(says),
                "{key} = {value}: {}",
                err.message
            );
        }
    }

    #[test]
    fn scan_depth_must_be_a_positive_integer() {
        let parse = |text: &str| {
            let value = toml::from_str::<toml::Table>(&format!("v = {text}"))
                .unwrap()
                .remove("v")
                .unwrap();
            parse_scan_depth(&value)
        };
        assert_eq!(parse("4"), Ok(4));
        assert_eq!(parse("1000"), Ok(1000), "no upper bound, as in Codex");
        for bad in ["0", "-1", "\"4\"", "4.5", "true"] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("positive integer"), "{bad}: {err}");
        }
    }
}

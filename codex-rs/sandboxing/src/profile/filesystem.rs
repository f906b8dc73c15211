//! `[permissions.NAME.filesystem]`: the keys a user profile may hold and
//! what each becomes.
//!
//! ```toml
//! [permissions.dev.filesystem]
//! ":root" = "read"                      # special key or path = access
//! "/home/me/**/id_*" = "none"           # absolute glob: deny reading
//! glob_scan_max_depth = 4               # how deep globs are expanded
//! [permissions.dev.filesystem.":workspace_roots"]
//! "." = "write"                         # the key itself
//! "build" = "read"                      # a path below it
//! "**/*.env" = "none"                   # a glob below it
//! ```

use std::path::{Component, Path, PathBuf};

use crate::access::Access;
use crate::glob::{MAX_GLOB_SCAN_DEPTH, is_glob, validate_relative_pattern};

use super::{FsTarget, SPECIAL_KEYS};

/// The key that bounds glob expansion.
pub const GLOB_SCAN_MAX_DEPTH_KEY: &str = "glob_scan_max_depth";

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

/// Parses `glob_scan_max_depth`: a positive integer up to
/// [`MAX_GLOB_SCAN_DEPTH`].
pub fn parse_scan_depth(value: &toml::Value) -> Result<usize, ScanDepthError> {
    match value {
        toml::Value::Integer(depth) => usize::try_from(*depth)
            .ok()
            .filter(|depth| (1..=MAX_GLOB_SCAN_DEPTH).contains(depth))
            .ok_or_else(|| ScanDepthError(depth.to_string())),
        other => Err(ScanDepthError(other.type_str().to_owned())),
    }
}

/// A `glob_scan_max_depth` that is not a depth; holds what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be a positive integer (directory levels scanned below each root, at most {MAX_GLOB_SCAN_DEPTH}); found {0}"
)]
pub struct ScanDepthError(String);

/// Parses one `key = value` of a filesystem table into its entries.
pub fn parse_entry(key: &str, value: &toml::Value) -> Result<Vec<KeyedEntry>, EntryError> {
    match value {
        toml::Value::Table(table) => {
            if is_glob(key) {
                return Err(EntryError::at(
                    None,
                    "a glob cannot hold a table of rules; use a plain path or special key here",
                ));
            }
            let base = parse_target(key).map_err(|message| EntryError::at(None, message))?;
            table
                .iter()
                .map(|(subkey, value)| match parse_scoped(&base, subkey, value) {
                    Ok(entry) => Ok(KeyedEntry {
                        subkey: Some(subkey.clone()),
                        entry,
                    }),
                    Err(message) => Err(EntryError::at(Some(subkey), message)),
                })
                .collect()
        }
        _ if is_glob(key) => {
            let access = parse_access(value).map_err(|message| EntryError::at(None, message))?;
            let (base, pattern) =
                split_absolute_glob(key).map_err(|message| EntryError::at(None, message))?;
            let entry = deny_glob(base, pattern, access)
                .map_err(|message| EntryError::at(None, message))?;
            Ok(vec![KeyedEntry {
                subkey: None,
                entry,
            }])
        }
        _ => {
            let target = parse_target(key).map_err(|message| EntryError::at(None, message))?;
            let access = parse_access(value).map_err(|message| EntryError::at(None, message))?;
            Ok(vec![KeyedEntry {
                subkey: None,
                entry: FsEntry::Rule {
                    target,
                    subpath: PathBuf::new(),
                    access,
                },
            }])
        }
    }
}

/// One `subkey = access` inside `[...filesystem."KEY"]`.
fn parse_scoped(base: &FsTarget, subkey: &str, value: &toml::Value) -> Result<FsEntry, String> {
    if value.is_table() {
        return Err("tables nest one level only: write the deeper path as one key".into());
    }
    let access = parse_access(value)?;
    if is_glob(subkey) {
        return deny_glob(base.clone(), subkey.to_string(), access);
    }
    let subpath = Path::new(subkey);
    if subpath.is_absolute() {
        return Err("paths under a filesystem key are relative to it; drop the leading `/` or write the absolute path as its own key".into());
    }
    if subpath
        .components()
        .any(|part| matches!(part, Component::ParentDir))
    {
        return Err("`..` would leave the key's directory; write that path as its own key".into());
    }
    Ok(FsEntry::Rule {
        target: base.clone(),
        subpath: subpath
            .components()
            .filter(|part| matches!(part, Component::Normal(_)))
            .collect(),
        access,
    })
}

fn deny_glob(base: FsTarget, pattern: String, access: Access) -> Result<FsEntry, String> {
    if access != Access::None {
        return Err(format!(
            "a glob can only deny reading (\"none\"), not grant \"{}\"; list the paths to grant one by one",
            access.as_str()
        ));
    }
    validate_relative_pattern(&pattern).map_err(|err| err.to_string())?;
    Ok(FsEntry::DenyGlob { base, pattern })
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
fn parse_target(key: &str) -> Result<FsTarget, String> {
    match key {
        ":root" => Ok(FsTarget::Root),
        ":workspace_roots" => Ok(FsTarget::WorkspaceRoots),
        ":tmpdir" => Ok(FsTarget::Tmpdir),
        ":slash_tmp" => Ok(FsTarget::SlashTmp),
        ":project_roots" => Err(
            "`:project_roots` is not a filesystem key; the canonical name is `:workspace_roots`"
                .into(),
        ),
        _ if key.starts_with(':') => Err(format!(
            "unknown special key; valid special keys: {}",
            SPECIAL_KEYS.join(", ")
        )),
        _ if key.starts_with('/') || key == "~" || key.starts_with("~/") => {
            Ok(FsTarget::Path(PathBuf::from(key)))
        }
        _ => Err(format!(
            "`{key}` is neither a special key ({}) nor an absolute path; write it as /abs/path or ~/path",
            SPECIAL_KEYS.join(", ")
        )),
    }
}

fn parse_access(value: &toml::Value) -> Result<Access, String> {
    match value {
        toml::Value::String(text) => Access::parse(text)
            .ok_or_else(|| format!("unknown access `{text}`; valid values: read, write, none")),
        other => Err(format!(
            "expected \"read\", \"write\" or \"none\", found {}",
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
        assert_eq!(
            entry("/data", "\"none\"").unwrap(),
            [rule(FsTarget::Path("/data".into()), "", Access::None)]
        );
    }

    #[test]
    fn absolute_globs_deny_reads_below_the_root_or_home() {
        assert_eq!(
            entry("/home/me/**/id_*", "\"none\"").unwrap(),
            [glob(FsTarget::Root, "home/me/**/id_*")]
        );
        assert_eq!(
            entry("~/.ssh/id_*", "\"none\"").unwrap(),
            [glob(FsTarget::Path("~".into()), ".ssh/id_*")]
        );
    }

    #[test]
    fn a_table_scopes_paths_and_globs_to_its_key() {
        let entries = entry(
            ":workspace_roots",
            r#"{ "." = "write", "build/out" = "read", "**/*.env" = "none" }"#,
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
    }

    #[test]
    fn bad_globs_and_misplaced_globs_are_refused_naming_the_problem() {
        for (key, value, subkey, says) in [
            ("/x/**/*.env", "\"read\"", None, "can only deny reading"),
            ("**/*.env", "\"none\"", None, "relative glob"),
            ("/x/[a", "\"none\"", None, "invalid glob"),
            ("/x/*", r#"{ "a" = "none" }"#, None, "cannot hold a table"),
            (":root", r#"{ "[a" = "none" }"#, Some("[a"), "invalid glob"),
            (
                ":root",
                r#"{ "*.pem" = "write" }"#,
                Some("*.pem"),
                "only deny",
            ),
            (
                ":root",
                r#"{ "../*.pem" = "none" }"#,
                Some("../*.pem"),
                "`..`",
            ),
            (":root", r#"{ "../x" = "none" }"#, Some("../x"), "`..`"),
            (":root", r#"{ "/x" = "none" }"#, Some("/x"), "relative"),
            (
                ":root",
                r#"{ "a" = { "b" = "none" } }"#,
                Some("a"),
                "one level",
            ),
            (":root", r#"{ "a" = 3 }"#, Some("a"), "found integer"),
            (":nope", r#"{ "a" = "none" }"#, None, "unknown special key"),
        ] {
            let err = entry(key, value).unwrap_err();
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
        assert_eq!(parse("64"), Ok(64));
        for bad in ["0", "-1", "65", "\"4\"", "4.5", "true"] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("positive integer"), "{bad}: {err}");
        }
    }
}

//! A merged profile table (a `[permissions]` profile with what it extends,
//! or a built-in's table) becomes the rules of a [`SandboxProfile`].

use std::path::PathBuf;

use crate::config::DomainAccessToml;
use crate::glob::is_glob;
use crate::unix_sockets::UnixSocketEntry;

use super::filesystem::{GLOB_SCAN_MAX_DEPTH_KEY, KeyedEntry, parse_entry, parse_scan_depth};
use super::inherit::{KeyError, MergedProfile};
use super::network::profile_network;
use super::{SPECIAL_KEYS, SandboxProfile, WorkspaceRoot};

/// The rules of `merged`, and a warning for each thing it says that has
/// no effect here. Errors name the key at fault, in the profile that
/// declares it.
pub fn sandbox_profile(merged: &MergedProfile) -> Result<(SandboxProfile, Vec<String>), KeyError> {
    let toml = &merged.toml;
    let mut filesystem = Vec::new();
    let mut deny_globs = Vec::new();
    let mut glob_scan_max_depth = None;
    let mut warnings = Vec::new();
    for (key, value) in &toml.filesystem {
        let key_error = |subkey: Option<&str>, message: String| {
            let mut path = vec!["filesystem", key.as_str()];
            path.extend(subkey);
            (merged.key_path(&path), message)
        };
        if key == GLOB_SCAN_MAX_DEPTH_KEY {
            let depth = parse_scan_depth(value).map_err(|err| key_error(None, err.to_string()))?;
            glob_scan_max_depth = Some(depth);
            continue;
        }
        let entries =
            parse_entry(key, value).map_err(|err| key_error(err.subkey.as_deref(), err.message))?;
        for KeyedEntry { subkey, entry } in entries {
            let mut path = vec!["filesystem", key.as_str()];
            path.extend(subkey.as_deref());
            let origin = merged.origin_of(&path);
            if let Some(key) = entry.add_to(origin.clone(), &mut filesystem, &mut deny_globs) {
                warnings.push(format!(
                    "{origin}: `{key}` is not a special path this version knows, so the entry is ignored \
                     (as Codex ignores one it does not know); known: {}, :project_roots",
                    SPECIAL_KEYS.join(", ")
                ));
            }
        }
    }
    if filesystem.is_empty() {
        warnings.push(format!(
            "permissions.{} has no filesystem rule this version knows: the command can read nothing",
            merged.lineage[0]
        ));
    }
    let (network, proxy_settings) = profile_network(&toml.network).map_err(|(key, message)| {
        let mut path = vec!["network"];
        path.extend(key.iter().map(String::as_str));
        (merged.key_path(&path), message)
    })?;
    let unix_sockets = toml
        .network
        .unix_sockets
        .iter()
        .flatten()
        .map(|(key, access)| UnixSocketEntry {
            key: key.clone(),
            allow: *access == DomainAccessToml::Allow,
            origin: merged
                .origin_of(&["network", "unix_sockets", key.as_str()])
                .to_string(),
        })
        .collect();
    let extra_workspace_roots = toml
        .workspace_roots
        .iter()
        .filter(|(_, enabled)| **enabled)
        .map(|(path, _)| {
            let key = ["workspace_roots", path.as_str()];
            if path.is_empty() || is_glob(path) {
                return Err((
                    merged.key_path(&key),
                    "a workspace root is a directory path (absolute, ~/..., or relative to the working directory), not empty or a glob".into(),
                ));
            }
            Ok(WorkspaceRoot {
                path: PathBuf::from(path),
                origin: merged.origin_of(&key),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((
        SandboxProfile {
            filesystem,
            deny_globs,
            glob_scan_max_depth,
            network,
            domains: None,
            proxy_settings,
            unix_sockets,
            protect_metadata: true,
            extra_workspace_roots,
        },
        warnings,
    ))
}

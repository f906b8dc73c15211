//! `--sandbox-state-json`: a sandbox given directly, as Codex 0.171 takes
//! the value of its MCP `codex/sandbox-state` notification, instead of
//! being chosen from the configuration:
//!
//! ```json
//! {"permissionProfile": {"type": "managed",
//!                        "file_system": {"type": "restricted", "entries": [
//!                          {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"},
//!                          {"path": {"type": "special", "value": {"kind": "project_roots"}}, "access": "write"}]},
//!                        "network": "restricted"},
//!  "sandboxCwd": "file:///home/me/project"}
//! ```
//!
//! As in Codex: `disabled` runs without a sandbox; `external` (a sandbox
//! someone else provides) runs read-only without network; `managed` runs
//! its entries (paths, special paths, deny globs) and network. The command
//! runs in `sandboxCwd`, which also decides the trusted project.
//! `--sandbox-state-readable-root DIR` adds readable directories (relative
//! ones from the process's directory), `--sandbox-state-disable-network`
//! turns the network off. The configuration still applies its environment
//! policy and network proxy, never its profile choice or requirements.
//! Entries go through the same parser as a profile's filesystem table, so
//! a path here means what it means there.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::access::Access;
use crate::profile::filesystem::parse_entry;
use crate::profile::network::ProxySettings;
use crate::profile::{
    FsRule, FsTarget, GlobRule, NetworkMode, Profile, RuleOrigin, SandboxProfile,
};
use crate::resolve::normalize;

/// The sandbox a state describes, and where the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxState {
    /// The profile (named `--sandbox-state-json`).
    pub profile: Profile,
    /// `sandboxCwd`, an existing directory.
    pub cwd: PathBuf,
    /// `useLegacyLandlock`.
    pub legacy_landlock: bool,
}

/// Why a state cannot be used; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --sandbox-state-json value: {0}")]
pub struct SandboxStateError(String);

/// What `--sandbox-state-json` and its two companion flags ask for.
pub struct StateRequest<'a> {
    /// The JSON.
    pub json: &'a str,
    /// `--sandbox-state-readable-root` values.
    pub readable_roots: &'a [PathBuf],
    /// `--sandbox-state-disable-network`.
    pub disable_network: bool,
    /// The process's directory, for relative readable roots.
    pub process_cwd: &'a Path,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateJson {
    permission_profile: ProfileJson,
    sandbox_cwd: String,
    #[serde(default)]
    use_legacy_landlock: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProfileJson {
    Tagged(TaggedProfileJson),
    Legacy(LegacyProfileJson),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedProfileJson {
    Managed {
        file_system: FileSystemJson,
        network: NetworkJson,
    },
    Disabled,
    External {
        network: NetworkJson,
    },
}

/// The shape written before profiles said how they are enforced.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyProfileJson {
    network: Option<LegacyNetworkJson>,
    file_system: Option<EntriesJson>,
}

#[derive(Deserialize)]
struct LegacyNetworkJson {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FileSystemJson {
    Unrestricted,
    Restricted(EntriesJson),
}

#[derive(Deserialize)]
struct EntriesJson {
    entries: Vec<EntryJson>,
    glob_scan_max_depth: Option<usize>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum NetworkJson {
    Enabled,
    Restricted,
}

#[derive(Deserialize)]
struct EntryJson {
    path: PathJson,
    access: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PathJson {
    Path { path: String },
    GlobPattern { pattern: String },
    Special { value: SpecialJson },
}

#[derive(Deserialize)]
struct SpecialJson {
    kind: String,
    subpath: Option<String>,
}

/// Parses and checks a state.
pub fn parse_state(request: &StateRequest<'_>) -> Result<SandboxState, SandboxStateError> {
    let error = |message: String| SandboxStateError(message);
    let state: StateJson =
        serde_json::from_str(request.json).map_err(|err| error(err.to_string()))?;
    let cwd = file_uri_path(&state.sandbox_cwd).map_err(error)?;
    if !cwd.is_dir() {
        return Err(error(format!(
            "sandboxCwd {} is not an existing directory",
            cwd.display()
        )));
    }
    let mut warnings = Vec::new();
    let sandbox = match state.permission_profile {
        ProfileJson::Tagged(TaggedProfileJson::Disabled) => {
            if request.disable_network {
                return Err(error(
                    "--sandbox-state-disable-network cannot be applied to a disabled permission profile"
                        .into(),
                ));
            }
            None
        }
        ProfileJson::Tagged(TaggedProfileJson::External { network }) => {
            // A sandbox someone else provides: read-only without network
            // here, whatever its network says, as in Codex.
            let _ = network;
            Some(sandbox_of(
                vec![rule(FsTarget::Root, Access::Read)],
                Vec::new(),
                None,
                false,
            ))
        }
        ProfileJson::Tagged(TaggedProfileJson::Managed {
            file_system,
            network,
        }) => {
            let enabled = network == NetworkJson::Enabled;
            Some(match file_system {
                // Everything writable, as Codex has it: nothing left to
                // protect names in (and no whole-disk scan for them).
                FileSystemJson::Unrestricted => SandboxProfile {
                    protect_metadata: false,
                    ..sandbox_of(
                        vec![rule(FsTarget::Root, Access::Write)],
                        Vec::new(),
                        None,
                        enabled,
                    )
                },
                FileSystemJson::Restricted(entries) => {
                    restricted(&entries, enabled, &mut warnings).map_err(error)?
                }
            })
        }
        ProfileJson::Legacy(legacy) => {
            let enabled = legacy
                .network
                .and_then(|network| network.enabled)
                .unwrap_or(false);
            let entries = legacy.file_system.unwrap_or(EntriesJson {
                entries: Vec::new(),
                glob_scan_max_depth: None,
            });
            Some(restricted(&entries, enabled, &mut warnings).map_err(error)?)
        }
    };
    let sandbox = sandbox.map(|mut sandbox| {
        if request.disable_network {
            sandbox.network = NetworkMode::Restricted;
        }
        sandbox
            .filesystem
            .extend(request.readable_roots.iter().map(|root| FsRule {
                target: FsTarget::Path(normalize(&request.process_cwd.join(root))),
                subpath: PathBuf::new(),
                access: Access::Read,
                origin: RuleOrigin::SandboxState,
            }));
        sandbox
    });
    Ok(SandboxState {
        profile: Profile {
            name: "--sandbox-state-json".into(),
            chosen_by: "--sandbox-state-json".into(),
            sandbox,
            warnings,
        },
        cwd,
        legacy_landlock: state.use_legacy_landlock,
    })
}

/// The path of a `file://` URI.
fn file_uri_path(text: &str) -> Result<PathBuf, String> {
    let url = url::Url::parse(text).map_err(|err| format!("sandboxCwd `{text}`: {err}"))?;
    if url.scheme() != "file" {
        return Err(format!(
            "sandboxCwd `{text}`: unsupported path URI scheme `{}`; use file://",
            url.scheme()
        ));
    }
    url.to_file_path()
        .map_err(|()| format!("sandboxCwd `{text}` names no local path"))
}

/// A managed, restricted file system: each entry as the same key and
/// access in a profile's filesystem table would be.
fn restricted(
    entries: &EntriesJson,
    network_enabled: bool,
    warnings: &mut Vec<String>,
) -> Result<SandboxProfile, String> {
    let mut filesystem = Vec::new();
    let mut deny_globs = Vec::new();
    for (index, entry) in entries.entries.iter().enumerate() {
        let at = |message: String| format!("entries[{index}]: {message}");
        let access = toml::Value::String(entry.access.clone());
        let (key, value) = match &entry.path {
            PathJson::Path { path } => (path.clone(), access),
            PathJson::GlobPattern { pattern } => (pattern.clone(), access),
            PathJson::Special { value } => {
                let key = match value.kind.as_str() {
                    "root" => ":root",
                    "minimal" => ":minimal",
                    "project_roots" | "current_working_directory" => ":workspace_roots",
                    "tmpdir" => ":tmpdir",
                    "slash_tmp" => ":slash_tmp",
                    other => {
                        warnings.push(format!(
                            "--sandbox-state-json entries[{index}]: special path `{other}` is not one \
                             this version knows, so the entry is ignored"
                        ));
                        continue;
                    }
                };
                match &value.subpath {
                    Some(subpath) => {
                        let mut table = toml::Table::new();
                        table.insert(subpath.clone(), access);
                        (key.to_owned(), toml::Value::Table(table))
                    }
                    None => (key.to_owned(), access),
                }
            }
        };
        for keyed in parse_entry(&key, &value).map_err(|err| at(err.message))? {
            let origin = RuleOrigin::SandboxState;
            if let Some(key) = keyed.entry.add_to(origin, &mut filesystem, &mut deny_globs) {
                return Err(at(format!("unknown special path `{key}`")));
            }
        }
    }
    if entries.glob_scan_max_depth == Some(0) {
        return Err("glob_scan_max_depth must be at least 1".into());
    }
    Ok(sandbox_of(
        filesystem,
        deny_globs,
        entries.glob_scan_max_depth,
        network_enabled,
    ))
}

fn rule(target: FsTarget, access: Access) -> FsRule {
    FsRule {
        target,
        subpath: PathBuf::new(),
        access,
        origin: RuleOrigin::SandboxState,
    }
}

fn sandbox_of(
    filesystem: Vec<FsRule>,
    deny_globs: Vec<GlobRule>,
    glob_scan_max_depth: Option<usize>,
    network_enabled: bool,
) -> SandboxProfile {
    SandboxProfile {
        filesystem,
        deny_globs,
        glob_scan_max_depth,
        network: if network_enabled {
            NetworkMode::Enabled
        } else {
            NetworkMode::Restricted
        },
        domains: None,
        proxy_settings: ProxySettings::default(),
        unix_sockets: Vec::new(),
        protect_metadata: true,
        extra_workspace_roots: Vec::new(),
    }
}

#[cfg(test)]
mod tests;

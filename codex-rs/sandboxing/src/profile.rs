//! Permission profiles: the built-ins, user profiles from `[permissions.*]`,
//! and the choice between them (`-P`, `default_permissions`, `sandbox_mode`).

use std::fmt;
use std::path::PathBuf;

use crate::access::Access;
use crate::config::{ConfigSource, LoadedConfig, NetworkModeToml, SandboxMode, WorkspaceWriteToml};
use crate::glob::DEFAULT_GLOB_SCAN_MAX_DEPTH;
use crate::proxy::domains::{DomainPattern, DomainPolicy};
use filesystem::{FsEntry, GLOB_SCAN_MAX_DEPTH_KEY, KeyedEntry, parse_entry, parse_scan_depth};

pub mod filesystem;

/// Name of the built-in profile that reads everything and writes nothing.
pub const READ_ONLY: &str = ":read-only";
/// Name of the built-in profile that writes the workspace and temp dirs.
pub const WORKSPACE: &str = ":workspace";
/// Name of the built-in profile that runs the command without a sandbox.
pub const DANGER_FULL_ACCESS: &str = ":danger-full-access";
/// Every built-in profile name, for error messages and `--help`.
pub const BUILT_IN_PROFILES: [&str; 3] = [READ_ONLY, WORKSPACE, DANGER_FULL_ACCESS];
/// The filesystem keys with a special meaning.
pub const SPECIAL_KEYS: [&str; 4] = [":root", ":workspace_roots", ":tmpdir", ":slash_tmp"];

/// What a filesystem rule applies to, before paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsTarget {
    /// `:root`, the whole filesystem.
    Root,
    /// `:workspace_roots`: the working directory and configured writable roots.
    WorkspaceRoots,
    /// `:tmpdir`: `$TMPDIR`, when set.
    Tmpdir,
    /// `:slash_tmp`: `/tmp`.
    SlashTmp,
    /// An absolute path, or one starting with `~/`.
    Path(PathBuf),
}

/// Where a rule came from, shown by `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// Part of a built-in profile.
    BuiltIn(&'static str),
    /// A key of a user profile.
    Config {
        /// The dotted key, e.g. `permissions.dev.filesystem."/data"`.
        key: String,
        /// The layer that set it.
        source: ConfigSource,
    },
    /// Added by the sandbox to keep `.git`, `.codex` or `.agents` read-only.
    Protected,
    /// Added under `[managed_proxy]` to keep the configuration that sets it
    /// out of the command's reach.
    ManagedProxyConfig,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOrigin::BuiltIn(profile) => write!(f, "built-in {profile}"),
            RuleOrigin::Config { key, source } => write!(f, "{key} ({source})"),
            RuleOrigin::Protected => f.write_str("protected path"),
            RuleOrigin::ManagedProxyConfig => {
                f.write_str("configuration of [managed_proxy], kept read-only")
            }
        }
    }
}

/// One filesystem rule of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRule {
    /// What it covers.
    pub target: FsTarget,
    /// A relative path below `target`; empty for `target` itself.
    pub subpath: PathBuf,
    /// What it grants.
    pub access: Access,
    /// Where it came from.
    pub origin: RuleOrigin,
}

/// A glob whose matches the command must not read (`"**/*.env" = "none"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobRule {
    /// What the pattern is relative to (`:root` for an absolute glob).
    pub base: FsTarget,
    /// The pattern, relative to `base`; syntax in [`crate::glob`].
    pub pattern: String,
    /// Where it came from.
    pub origin: RuleOrigin,
}

/// How the sandboxed command may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// No network: own network namespace and a seccomp filter on sockets.
    Restricted,
    /// The host's network.
    Enabled,
    /// Only through a loopback proxy.
    Proxy,
}

impl NetworkMode {
    /// The `config.toml` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Restricted => "restricted",
            NetworkMode::Enabled => "enabled",
            NetworkMode::Proxy => "proxy",
        }
    }
}

/// A chosen profile. `sandbox` is `None` only for `:danger-full-access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name (`:workspace`, `dev`, ...).
    pub name: String,
    /// Why this profile was chosen (`-P`, `default_permissions`, ...).
    pub chosen_by: String,
    /// The rules, or `None` for no sandbox at all.
    pub sandbox: Option<SandboxProfile>,
}

/// The rules of a sandboxing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxProfile {
    /// Filesystem rules, in configuration order.
    pub filesystem: Vec<FsRule>,
    /// Deny-read globs, expanded when the sandbox starts.
    pub deny_globs: Vec<GlobRule>,
    /// Directory levels scanned below each root, for globs and for nested
    /// protected paths.
    pub glob_scan_max_depth: usize,
    /// Network mode.
    pub network: NetworkMode,
    /// The built-in proxy's rules, when `allowed_domains` is set (network
    /// mode proxy only).
    pub domains: Option<DomainPolicy>,
    /// Whether `.git`, `.codex` and `.agents` in writable roots are kept
    /// read-only. Off only for `:danger-full-access` run under the managed
    /// proxy, which restricts the network and nothing else.
    pub protect_metadata: bool,
    /// Directories `:workspace_roots` covers besides the working directory
    /// (the legacy workspace-write mode's `writable_roots`).
    pub extra_workspace_roots: Vec<PathBuf>,
}

/// Why no profile could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} ({origin}): {message}")]
pub struct ProfileError {
    /// The option or key at fault (`-P`, `default_permissions`, ...).
    pub key: String,
    /// Which layer set it.
    pub origin: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Chooses the profile as OpenAI Codex's `codex sandbox` does: `-P`; else
/// a legacy `sandbox_mode` given with `-c` (one written in a file is
/// ignored), unless `default_permissions` is given with `-c` too; else
/// `default_permissions`; else `:read-only`. `[sandbox_workspace_write]`
/// tunes only the legacy `workspace-write` mode, never a built-in chosen by
/// name. Then puts the network under the managed proxy when
/// `[managed_proxy]` is set.
pub fn select_profile(
    loaded: &LoadedConfig,
    cli_choice: Option<&str>,
) -> Result<Profile, ProfileError> {
    let profile = select_configured_profile(loaded, cli_choice)?;
    match &loaded.config.managed_proxy {
        Some(managed) => apply_managed_proxy(profile, managed, loaded),
        None => Ok(profile),
    }
}

/// The key path of a `[managed_proxy]` key.
const MANAGED_PROXY: &str = "managed_proxy";

/// A configured managed proxy stays fail-closed whatever the profile: a
/// profile with the network on, or in proxy mode without rules of its
/// own, goes through the built-in proxy with the managed rules;
/// `:danger-full-access` runs sandboxed, with the whole filesystem
/// writable and that same network; a restricted network stays restricted.
/// A profile with `allowed_domains` of its own is an error: the two sets
/// of rules would have to be merged.
fn apply_managed_proxy(
    mut profile: Profile,
    managed: &crate::config::ManagedProxyToml,
    loaded: &LoadedConfig,
) -> Result<Profile, ProfileError> {
    let managed_error = |(key, message): (&'static str, String)| ProfileError {
        key: format!("{MANAGED_PROXY}.{key}"),
        origin: loaded.source_of(&[MANAGED_PROXY, key]).to_string(),
        message,
    };
    let rules = domain_policy(
        Some(&managed.allowed_domains),
        managed.denied_domains.as_deref(),
        managed.allow_local_addresses,
        NetworkMode::Proxy,
    )
    .map_err(managed_error)?
    .unwrap_or_default();
    let sandbox = match profile.sandbox.take() {
        None => SandboxProfile {
            filesystem: vec![built_in(DANGER_FULL_ACCESS, FsTarget::Root, Access::Write)],
            deny_globs: Vec::new(),
            glob_scan_max_depth: DEFAULT_GLOB_SCAN_MAX_DEPTH,
            network: NetworkMode::Proxy,
            domains: Some(rules),
            protect_metadata: false,
            extra_workspace_roots: Vec::new(),
        },
        Some(sandbox) if sandbox.domains.is_some() => {
            return Err(ProfileError {
                key: format!("permissions.{}.network.allowed_domains", profile.name),
                origin: loaded
                    .source_of(&["permissions", &profile.name, "network", "allowed_domains"])
                    .to_string(),
                message: format!(
                    "the profile has domain rules of its own while [{MANAGED_PROXY}] sets the rules for every \
                     profile ({}); keep one of the two",
                    loaded.source_of(&[MANAGED_PROXY])
                ),
            });
        }
        Some(sandbox) if sandbox.network == NetworkMode::Restricted => sandbox,
        Some(sandbox) => SandboxProfile {
            network: NetworkMode::Proxy,
            domains: Some(rules),
            ..sandbox
        },
    };
    // The command must not be able to remove the managed proxy for the
    // next run by editing the files that set it.
    let mut sandbox = sandbox;
    sandbox
        .filesystem
        .extend(loaded.file_directories().into_iter().map(|dir| FsRule {
            target: FsTarget::Path(dir),
            subpath: PathBuf::new(),
            access: Access::Read,
            origin: RuleOrigin::ManagedProxyConfig,
        }));
    profile.chosen_by = format!(
        "{}; network through the managed proxy ({})",
        profile.chosen_by,
        loaded.source_of(&[MANAGED_PROXY])
    );
    profile.sandbox = Some(sandbox);
    Ok(profile)
}

fn select_configured_profile(
    loaded: &LoadedConfig,
    cli_choice: Option<&str>,
) -> Result<Profile, ProfileError> {
    let config = &loaded.config;
    if let Some(name) = cli_choice {
        return profile_by_name(loaded, name, "-P", "command line");
    }
    let from_command_line = |key: &str| {
        matches!(
            loaded.source_of(&[key]),
            ConfigSource::Override(_) | ConfigSource::FeatureFlag(_)
        )
    };
    let legacy_mode = config
        .sandbox_mode
        .filter(|_| from_command_line("sandbox_mode"))
        .filter(|_| {
            !(config.default_permissions.is_some() && from_command_line("default_permissions"))
        });
    if let Some(mode) = legacy_mode {
        let origin = loaded.source_of(&["sandbox_mode"]).to_string();
        let chosen_by = format!("sandbox_mode ({origin})");
        let sandbox = match mode {
            SandboxMode::ReadOnly => Some(read_only_profile()),
            SandboxMode::WorkspaceWrite => Some(legacy_workspace_profile(loaded)),
            SandboxMode::DangerFullAccess => None,
        };
        let name = match mode {
            SandboxMode::ReadOnly => READ_ONLY,
            SandboxMode::WorkspaceWrite => WORKSPACE,
            SandboxMode::DangerFullAccess => DANGER_FULL_ACCESS,
        };
        return Ok(Profile {
            name: name.to_owned(),
            chosen_by,
            sandbox,
        });
    }
    if let Some(name) = &config.default_permissions {
        let origin = loaded.source_of(&["default_permissions"]).to_string();
        return profile_by_name(loaded, name, "default_permissions", &origin);
    }
    if let Some(first) = config.permissions.keys().next() {
        return Err(ProfileError {
            key: "default_permissions".into(),
            origin: "built-in default".into(),
            message: format!(
                "the configuration defines [permissions] profiles ({}, in {}) but does not set \
                 default_permissions; set it, or choose one with -P",
                config
                    .permissions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                loaded.source_of(&["permissions", first])
            ),
        });
    }
    profile_by_name(loaded, READ_ONLY, "default", "built-in default")
}

fn profile_by_name(
    loaded: &LoadedConfig,
    name: &str,
    key: &str,
    origin: &str,
) -> Result<Profile, ProfileError> {
    let error = |message: String| ProfileError {
        key: key.to_string(),
        origin: origin.to_string(),
        message,
    };
    let chosen_by = format!("{key} ({origin})");
    let sandbox = match name {
        READ_ONLY => Some(read_only_profile()),
        WORKSPACE => Some(workspace_profile()),
        DANGER_FULL_ACCESS => None,
        ":danger-no-sandbox" => {
            return Err(error(format!(
                "`{name}` is not a profile; the canonical name is `{DANGER_FULL_ACCESS}`"
            )));
        }
        _ if name.starts_with(':') => {
            return Err(error(format!(
                "unknown built-in profile `{name}`; valid profiles: {}",
                valid_profiles(loaded)
            )));
        }
        _ => match loaded.config.permissions.get(name) {
            Some(_) => Some(user_profile(loaded, name).map_err(|(key, message)| {
                let path: Vec<&str> = key.iter().map(String::as_str).collect();
                ProfileError {
                    key: dotted(&path),
                    origin: loaded.source_of(&path).to_string(),
                    message,
                }
            })?),
            None => {
                return Err(error(format!(
                    "unknown profile `{name}`; valid profiles: {}",
                    valid_profiles(loaded)
                )));
            }
        },
    };
    Ok(Profile {
        name: name.to_string(),
        chosen_by,
        sandbox,
    })
}

fn valid_profiles(loaded: &LoadedConfig) -> String {
    BUILT_IN_PROFILES
        .iter()
        .map(|name| name.to_string())
        .chain(loaded.config.permissions.keys().cloned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_only_profile() -> SandboxProfile {
    SandboxProfile {
        filesystem: vec![built_in(READ_ONLY, FsTarget::Root, Access::Read)],
        deny_globs: Vec::new(),
        glob_scan_max_depth: DEFAULT_GLOB_SCAN_MAX_DEPTH,
        network: NetworkMode::Restricted,
        domains: None,
        protect_metadata: true,
        extra_workspace_roots: Vec::new(),
    }
}

/// The built-in `:workspace`: read everything, write the workspace roots,
/// `$TMPDIR` and `/tmp`, no network.
fn workspace_profile() -> SandboxProfile {
    legacy_workspace_with(&WorkspaceWriteToml::default())
}

/// The legacy `workspace-write` mode, tuned by `[sandbox_workspace_write]`.
fn legacy_workspace_profile(loaded: &LoadedConfig) -> SandboxProfile {
    legacy_workspace_with(&loaded.config.sandbox_workspace_write)
}

/// `:workspace` with `settings` applied.
fn legacy_workspace_with(settings: &WorkspaceWriteToml) -> SandboxProfile {
    let mut filesystem = vec![
        built_in(WORKSPACE, FsTarget::Root, Access::Read),
        built_in(WORKSPACE, FsTarget::WorkspaceRoots, Access::Write),
    ];
    if !settings.exclude_tmpdir_env_var {
        filesystem.push(built_in(WORKSPACE, FsTarget::Tmpdir, Access::Write));
    }
    if !settings.exclude_slash_tmp {
        filesystem.push(built_in(WORKSPACE, FsTarget::SlashTmp, Access::Write));
    }
    SandboxProfile {
        filesystem,
        deny_globs: Vec::new(),
        glob_scan_max_depth: DEFAULT_GLOB_SCAN_MAX_DEPTH,
        network: if settings.network_access {
            NetworkMode::Enabled
        } else {
            NetworkMode::Restricted
        },
        domains: None,
        protect_metadata: true,
        extra_workspace_roots: settings.writable_roots.clone(),
    }
}

fn built_in(profile: &'static str, target: FsTarget, access: Access) -> FsRule {
    FsRule {
        target,
        subpath: PathBuf::new(),
        access,
        origin: RuleOrigin::BuiltIn(profile),
    }
}

/// A `[permissions.NAME]` profile. Errors carry the key path at fault.
fn user_profile(
    loaded: &LoadedConfig,
    name: &str,
) -> Result<SandboxProfile, (Vec<String>, String)> {
    let Some(toml) = loaded.config.permissions.get(name) else {
        return Err((
            vec!["permissions".into(), name.into()],
            "no such profile".into(),
        ));
    };
    let mut filesystem = Vec::new();
    let mut deny_globs = Vec::new();
    let mut glob_scan_max_depth = DEFAULT_GLOB_SCAN_MAX_DEPTH;
    for (key, value) in &toml.filesystem {
        let mut key_path = vec![
            "permissions".to_string(),
            name.to_string(),
            "filesystem".to_string(),
            key.clone(),
        ];
        if key == GLOB_SCAN_MAX_DEPTH_KEY {
            glob_scan_max_depth =
                parse_scan_depth(value).map_err(|err| (key_path.clone(), err.to_string()))?;
            continue;
        }
        let entries = parse_entry(key, value).map_err(|err| {
            key_path.extend(err.subkey);
            (key_path.clone(), err.message)
        })?;
        for KeyedEntry { subkey, entry } in entries {
            let mut entry_path: Vec<&str> = key_path.iter().map(String::as_str).collect();
            entry_path.extend(subkey.as_deref());
            let origin = RuleOrigin::Config {
                key: dotted(&entry_path),
                source: loaded.source_of(&entry_path),
            };
            match entry {
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
            }
        }
    }
    let network = match toml.network.mode {
        None | Some(NetworkModeToml::Restricted) => NetworkMode::Restricted,
        Some(NetworkModeToml::Enabled) => NetworkMode::Enabled,
        Some(NetworkModeToml::Proxy) => NetworkMode::Proxy,
    };
    let domains = domain_policy(
        toml.network.allowed_domains.as_ref(),
        toml.network.denied_domains.as_deref(),
        toml.network.allow_local_addresses,
        network,
    )
    .map_err(|(key, message)| (network_key(name, key), message))?;
    Ok(SandboxProfile {
        filesystem,
        deny_globs,
        glob_scan_max_depth,
        network,
        domains,
        protect_metadata: true,
        extra_workspace_roots: Vec::new(),
    })
}

/// `permissions.NAME.network.KEY` as a key path.
fn network_key(name: &str, key: &str) -> Vec<String> {
    vec![
        "permissions".into(),
        name.into(),
        "network".into(),
        key.into(),
    ]
}

/// The built-in proxy's rules from `allowed_domains`, `denied_domains` and
/// `allow_local_addresses`: present exactly when `allowed_domains` is,
/// which needs mode proxy; the other two keys need `allowed_domains`.
/// Errors name the key at fault.
fn domain_policy(
    allowed: Option<&Vec<String>>,
    denied: Option<&[String]>,
    allow_local_addresses: Option<bool>,
    network: NetworkMode,
) -> Result<Option<DomainPolicy>, (&'static str, String)> {
    let Some(allowed) = allowed else {
        if denied.is_some() {
            return Err((
                "denied_domains",
                "needs allowed_domains (it only narrows what the built-in proxy allows)".into(),
            ));
        }
        if allow_local_addresses.is_some() {
            return Err((
                "allow_local_addresses",
                "needs allowed_domains (it is a rule of the built-in proxy)".into(),
            ));
        }
        return Ok(None);
    };
    if network != NetworkMode::Proxy {
        return Err((
            "allowed_domains",
            format!(
                "needs mode = \"proxy\" (the mode is \"{}\"); the built-in proxy is the proxy of that mode",
                network.as_str()
            ),
        ));
    }
    let parse = |key: &'static str, list: &[String]| {
        list.iter()
            .map(|text| DomainPattern::parse(text).map_err(|err| (key, err.to_string())))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Some(DomainPolicy {
        allowed: parse("allowed_domains", allowed)?,
        denied: parse("denied_domains", denied.unwrap_or_default())?,
        allow_local_addresses: allow_local_addresses.unwrap_or(false),
    }))
}

/// Renders a key path the way TOML spells it, quoting segments as needed.
fn dotted(path: &[&str]) -> String {
    path.iter()
        .map(|segment| {
            let bare = !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                segment.to_string()
            } else {
                format!("{segment:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests;

//! Permission profiles: the built-ins, user profiles from `[permissions.*]`,
//! and the choice between them (`-P`, `default_permissions`, `sandbox_mode`).

use std::fmt;
use std::path::PathBuf;

use crate::access::Access;
use crate::config::{ConfigSource, LoadedConfig, SandboxMode};
use crate::proxy::domains::DomainPolicy;
use inherit::MergedProfile;
use network::ProxySettings;

use crate::unix_sockets::UnixSocketEntry;

pub mod built_in;
pub mod filesystem;
pub mod inherit;
pub mod network;
mod proxied;
mod user;

/// Name of the built-in profile that reads everything and writes nothing.
pub const READ_ONLY: &str = ":read-only";
/// Name of the built-in profile that writes the workspace and temp dirs.
pub const WORKSPACE: &str = ":workspace";
/// Name of the built-in profile that runs the command without a sandbox.
pub const DANGER_FULL_ACCESS: &str = ":danger-full-access";
/// Every built-in profile name, for error messages and `--help`.
pub const BUILT_IN_PROFILES: [&str; 3] = [READ_ONLY, WORKSPACE, DANGER_FULL_ACCESS];
/// The filesystem keys with a special meaning (`:project_roots` is
/// Codex's other name for `:workspace_roots`).
pub const SPECIAL_KEYS: [&str; 5] = [
    ":root",
    ":minimal",
    ":workspace_roots",
    ":tmpdir",
    ":slash_tmp",
];
/// What `:minimal` covers, as in Codex: the system's programs, libraries
/// and configuration (those that exist), never more than readable.
pub const MINIMAL_PATHS: [&str; 8] = [
    "/bin",
    "/sbin",
    "/usr",
    "/etc",
    "/lib",
    "/lib64",
    "/nix/store",
    "/run/current-system/sw",
];

/// What a filesystem rule applies to, before paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsTarget {
    /// `:root`, the whole filesystem.
    Root,
    /// `:minimal`: [`MINIMAL_PATHS`], at most readable.
    Minimal,
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
    /// Added by the sandbox to keep a protected name (`.git`, `.codex`,
    /// ...) read-only.
    Protected,
    /// Added to every sandbox to keep `CODEX_HOME` and the directories of
    /// the configuration files read out of the command's reach: a command
    /// that rewrote them would choose the next run's sandbox.
    Configuration,
    /// Added by the sandbox to keep what a git configuration names for
    /// code to run (`core.hooksPath`, a `core.fsmonitor` path, included
    /// files), and the host's own git configuration files, read-only.
    GitCode,
    /// Given by `--sandbox-state-json` or its readable roots.
    SandboxState,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOrigin::BuiltIn(profile) => write!(f, "built-in {profile}"),
            RuleOrigin::Config { key, source } => write!(f, "{key} ({source})"),
            RuleOrigin::Protected => f.write_str("protected path"),
            RuleOrigin::Configuration => f.write_str("configuration directory, kept read-only"),
            RuleOrigin::GitCode => f.write_str("named by git configuration for code to run"),
            RuleOrigin::SandboxState => f.write_str("--sandbox-state-json"),
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
    /// What the profile says that has no effect here (an unknown special
    /// key), one line each, to print before the command runs.
    pub warnings: Vec<String>,
}

/// A directory `:workspace_roots` covers besides the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRoot {
    /// Absolute, `~` or `~/...`, or relative to the working directory.
    pub path: PathBuf,
    /// Where it came from.
    pub origin: RuleOrigin,
}

/// The rules of a sandboxing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxProfile {
    /// Filesystem rules, in configuration order.
    pub filesystem: Vec<FsRule>,
    /// Deny-read globs, expanded when the sandbox starts.
    pub deny_globs: Vec<GlobRule>,
    /// Directory levels scanned below each glob's root
    /// (`glob_scan_max_depth`); `None`, Codex's default, for no limit.
    pub glob_scan_max_depth: Option<usize>,
    /// Network mode.
    pub network: NetworkMode,
    /// The built-in proxy's rules, when it runs (network mode proxy
    /// through `features.network_proxy` or `[managed_proxy]`); `None` in
    /// mode proxy routes to the environment's proxy.
    pub domains: Option<DomainPolicy>,
    /// The profile's own `domains`, `mode` and `allow_local_binding`,
    /// for the managed proxy to enforce if it runs.
    pub proxy_settings: ProxySettings,
    /// The host Unix sockets the profile lets the command reach
    /// (`network.unix_sockets`), as written.
    pub unix_sockets: Vec<UnixSocketEntry>,
    /// Whether `.git`, `.codex` and `.agents` in writable roots are kept
    /// read-only. Off only for `:danger-full-access` run under the managed
    /// proxy, which restricts the network and nothing else.
    pub protect_metadata: bool,
    /// Directories `:workspace_roots` covers besides the working directory
    /// (a profile's `workspace_roots`, the legacy mode's `writable_roots`).
    pub extra_workspace_roots: Vec<WorkspaceRoot>,
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

/// Chooses the profile as OpenAI Codex's `codex sandbox` does: a
/// `default_permissions` of `managed_config.toml`; else `-P`; else
/// a legacy `sandbox_mode` given with `-c` (one written in a file is
/// ignored), unless `default_permissions` is given with `-c` too; else
/// `default_permissions`; else `:read-only`. `[sandbox_workspace_write]`
/// tunes only the legacy `workspace-write` mode, never a built-in chosen by
/// name. Then routes an enabled network through the built-in proxy when
/// `[features] network_proxy` is on (Codex's managed proxy), and every
/// network when `[managed_proxy]` (this sandbox's own) is set.
pub fn select_profile(
    loaded: &LoadedConfig,
    cli_choice: Option<&str>,
) -> Result<Profile, ProfileError> {
    let profile = select_configured_profile(loaded, cli_choice)?;
    route_network(profile, loaded)
}

/// Routes `profile`'s network as the configuration says: through the
/// built-in proxy when `[features] network_proxy` is on (Codex's managed
/// proxy), and every network when `[managed_proxy]` (this sandbox's own)
/// is set. For a profile chosen otherwise (`--sandbox-state-json`).
pub fn route_network(profile: Profile, loaded: &LoadedConfig) -> Result<Profile, ProfileError> {
    let profile = proxied::apply_network_proxy_feature(profile, loaded)?;
    let mut profile = match &loaded.config.managed_proxy {
        Some(managed) => proxied::apply_managed_proxy(profile, managed, loaded)?,
        None => profile,
    };
    keep_configuration_read_only(&mut profile, loaded);
    Ok(profile)
}

/// Adds a read-only rule for every configuration directory
/// ([`LoadedConfig::configuration_directories`]) to a profile that
/// sandboxes: a `CODEX_HOME` inside a writable root (`$PWD/.codex-home`
/// in CI) would otherwise let the command choose the next run's profile,
/// or none. Where the directory is read-only anyway the rule mounts
/// nothing.
fn keep_configuration_read_only(profile: &mut Profile, loaded: &LoadedConfig) {
    if let Some(sandbox) = &mut profile.sandbox {
        sandbox
            .filesystem
            .extend(
                loaded
                    .configuration_directories()
                    .into_iter()
                    .map(|dir| FsRule {
                        target: FsTarget::Path(dir),
                        subpath: PathBuf::new(),
                        access: Access::Read,
                        origin: RuleOrigin::Configuration,
                    }),
            );
    }
}

fn select_configured_profile(
    loaded: &LoadedConfig,
    cli_choice: Option<&str>,
) -> Result<Profile, ProfileError> {
    let config = &loaded.config;
    if let Some(reserved) = config.permissions.keys().find(|name| name.starts_with(':')) {
        return Err(ProfileError {
            key: dotted(&["permissions", reserved]),
            origin: loaded.source_of(&["permissions", reserved]).to_string(),
            message:
                "names starting with `:` are reserved for built-in profiles; rename the profile"
                    .into(),
        });
    }
    if let Some(name) = &config.default_permissions
        && let source @ ConfigSource::Managed(_) = loaded.source_of(&["default_permissions"])
    {
        // An administrator's choice wins over -P, as in Codex.
        return profile_by_name(loaded, name, "default_permissions", &source.to_string());
    }
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
        let name = match mode {
            SandboxMode::ReadOnly => READ_ONLY,
            SandboxMode::WorkspaceWrite => WORKSPACE,
            SandboxMode::DangerFullAccess => DANGER_FULL_ACCESS,
        };
        let mut profile = profile_by_name(loaded, name, "sandbox_mode", &origin)?;
        if mode == SandboxMode::WorkspaceWrite
            && let Some(workspace) = profile.sandbox.take()
        {
            profile.sandbox = Some(built_in::tune_legacy_workspace(workspace, loaded).map_err(
                |message| {
                    ProfileError {
                        key: "sandbox_workspace_write.writable_roots".into(),
                        origin: loaded
                            .source_of(&["sandbox_workspace_write", "writable_roots"])
                            .to_string(),
                        message,
                    }
                },
            )?);
        }
        return Ok(profile);
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
    let profile = |sandbox, warnings| Profile {
        name: name.to_string(),
        chosen_by: format!("{key} ({origin})"),
        sandbox,
        warnings,
    };
    let key_error = |(path, message): (Vec<String>, String)| error_at(loaded, &path, message);
    let merged = match name {
        DANGER_FULL_ACCESS => return Ok(profile(None, Vec::new())),
        ":danger-no-sandbox" => {
            return Err(error(format!(
                "`{name}` is not a profile; the canonical name is `{DANGER_FULL_ACCESS}`"
            )));
        }
        _ if name.starts_with(':') => match MergedProfile::of_built_in(name) {
            Some(merged) => merged,
            None => {
                return Err(error(format!(
                    "unknown built-in profile `{name}`; valid profiles: {}",
                    valid_profiles(loaded)
                )));
            }
        },
        _ if !loaded.config.permissions.contains_key(name) => {
            return Err(error(format!(
                "unknown profile `{name}`; valid profiles: {}",
                valid_profiles(loaded)
            )));
        }
        _ => MergedProfile::of_config(loaded, name),
    };
    let (sandbox, warnings) =
        user::sandbox_profile(&merged.map_err(key_error)?).map_err(key_error)?;
    Ok(profile(Some(sandbox), warnings))
}

fn valid_profiles(loaded: &LoadedConfig) -> String {
    BUILT_IN_PROFILES
        .iter()
        .map(|name| name.to_string())
        .chain(loaded.config.permissions.keys().cloned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error `message` about the key at `path`, with the layer that set it.
fn error_at(loaded: &LoadedConfig, path: &[String], message: String) -> ProfileError {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    ProfileError {
        key: dotted(&path),
        origin: loaded.source_of(&path).to_string(),
        message,
    }
}

/// Renders a key path the way TOML spells it, quoting segments as needed.
pub(crate) fn dotted(path: &[&str]) -> String {
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

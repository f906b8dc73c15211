//! The typed shape of the keys this sandbox reads from `config.toml`.
//!
//! These structs see only the keys this tool reads: every other key was set
//! aside first ([`super::keys`]), Codex's silently and unknown ones with a
//! warning, so they deny unknown fields only as a check of that sorting.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Feature flags this build knows (`features.NAME`, `--enable`, `--disable`).
pub const KNOWN_FEATURES: &[&str] = &[
    USE_LEGACY_LANDLOCK,
    INNER_STAGE,
    GUARD_PROTECTED_NAMES,
    NETWORK_PROXY,
];

/// Feature (Codex's): a profile whose network is enabled goes through the
/// built-in proxy, which enforces its `domains`, `mode` and
/// `allow_local_binding`. `true`, or a table of the same keys as a
/// profile's network with `enabled = true`, whose values win over the
/// profile's.
pub const NETWORK_PROXY: &str = "network_proxy";

/// Features earlier builds knew, with what became of them: still accepted,
/// with a one-line warning, so a config that sets one keeps working.
pub const RETIRED_FEATURES: &[(&str, &str)] = &[(
    "scan_with_ripgrep",
    "the start-up scan always uses the built-in walker (measured faster); remove the setting",
)];

/// Feature: enforce the policy with Landlock in this process instead of
/// bwrap, for hosts where bwrap cannot run; refuses every policy it cannot
/// enforce exactly.
pub const USE_LEGACY_LANDLOCK: &str = "use_legacy_landlock";

/// Feature: install `no_new_privs` and the seccomp filter in the helper's
/// own inner stage inside the namespaces, rather than handing the filter to
/// bwrap (`--seccomp`). Same guarantees; one more exec per command.
pub const INNER_STAGE: &str = "inner_stage";

/// Feature, on unless disabled: refuse, while the command runs, the
/// creation of any new `.git`, `.codex` or `.agents` below a writable root
/// (mounts protect only those that exist at start). Costs a round trip to
/// a supervisor on every path-creating syscall; see `just bench-build`.
pub const GUARD_PROTECTED_NAMES: &str = "guard_protected_names";

/// The sandbox-related part of `config.toml`, after layering.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigToml {
    /// Profile used when `-P` is not given (`":workspace"`, `"dev"`, ...).
    pub default_permissions: Option<String>,
    /// Legacy profile selector, mapped onto the built-in profiles.
    pub sandbox_mode: Option<SandboxMode>,
    /// Settings of the `:workspace` profile (legacy `workspace-write`).
    #[serde(default)]
    pub sandbox_workspace_write: WorkspaceWriteToml,
    /// User-defined permission profiles, by name.
    #[serde(default)]
    pub permissions: BTreeMap<String, PermissionProfileToml>,
    /// Feature flags; names are checked against [`KNOWN_FEATURES`].
    #[serde(default)]
    pub features: BTreeMap<String, FeatureToml>,
    /// The managed proxy: domain rules every profile's network goes
    /// through, `:danger-full-access` included.
    pub managed_proxy: Option<ManagedProxyToml>,
    /// Which variables of this process's environment the command gets.
    #[serde(default)]
    pub shell_environment_policy: ShellEnvironmentPolicyToml,
}

/// `[shell_environment_policy]`: the command's environment, built as
/// Codex builds it (see [`crate::environment`]).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellEnvironmentPolicyToml {
    /// Where to start: every variable (the default), the core ones, or none.
    pub inherit: Option<EnvironmentInherit>,
    /// Keep variables whose names contain KEY, SECRET or TOKEN. Codex
    /// defaults to `true`; this sandbox to `false`, so secrets stay out
    /// unless asked for.
    pub ignore_default_excludes: Option<bool>,
    /// Name patterns (`*` and `?`, any case) of variables to drop.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Variables to set, over what was inherited.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// When not empty, only variables matching one of these patterns stay.
    #[serde(default)]
    pub include_only: Vec<String>,
}

/// `shell_environment_policy.inherit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentInherit {
    /// Every variable of this process.
    All,
    /// Only [`crate::environment::CORE_VARIABLES`].
    Core,
    /// None.
    None,
}

/// `[managed_proxy]`, this sandbox's own: the built-in proxy's rules for
/// every profile, in the vocabulary of a profile's network.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedProxyToml {
    /// Host pattern -> `allow` or `deny`.
    #[serde(default)]
    pub domains: BTreeMap<String, DomainAccessToml>,
    /// Which methods pass.
    pub mode: Option<ProxyModeToml>,
    /// Let allowed hosts be or lead to loopback and private addresses.
    pub allow_local_binding: Option<bool>,
}

impl ConfigToml {
    /// Whether feature `name` is on (`Some(true)`), off, or not set. A
    /// table (`[features.network_proxy]`) is on when its `enabled` is.
    pub fn feature(&self, name: &str) -> Option<bool> {
        match self.features.get(name)? {
            FeatureToml::Switch(on) => Some(*on),
            FeatureToml::Table(table) => table.enabled,
        }
    }

    /// The settings `[features.network_proxy]` holds as a table, if it
    /// is one.
    pub fn network_proxy_settings(&self) -> Option<&NetworkToml> {
        match self.features.get(NETWORK_PROXY)? {
            FeatureToml::Table(table) => Some(table),
            FeatureToml::Switch(_) => None,
        }
    }
}

/// A feature: on or off, or (`network_proxy` only) a table of settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FeatureToml {
    /// `name = true`.
    Switch(bool),
    /// `[features.network_proxy]`.
    Table(NetworkToml),
}

/// The legacy `sandbox_mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Maps to `:read-only`.
    ReadOnly,
    /// Maps to `:workspace`.
    WorkspaceWrite,
    /// Maps to `:danger-full-access`.
    DangerFullAccess,
}

/// `[sandbox_workspace_write]`: tunes the `:workspace` profile.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceWriteToml {
    /// Extra workspace roots, writable like the working directory.
    #[serde(default)]
    pub writable_roots: Vec<PathBuf>,
    /// Give the command full network access.
    #[serde(default)]
    pub network_access: bool,
    /// Do not make `$TMPDIR` writable.
    #[serde(default)]
    pub exclude_tmpdir_env_var: bool,
    /// Do not make `/tmp` writable.
    #[serde(default)]
    pub exclude_slash_tmp: bool,
}

/// `[permissions.NAME]`: one user-defined profile.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionProfileToml {
    /// Free text for people; no effect.
    pub description: Option<String>,
    /// The profile this one builds on: another `[permissions]` profile,
    /// `:read-only` or `:workspace`. Its keys apply unless this profile
    /// sets them (tables merge key by key).
    pub extends: Option<String>,
    /// Directories `:workspace_roots` covers besides the working
    /// directory: path (absolute, `~/...` or relative to the working
    /// directory) -> whether it is one (`false` takes back an inherited one).
    #[serde(default)]
    pub workspace_roots: BTreeMap<String, bool>,
    /// Filesystem rules: special key or absolute path -> access. Values stay
    /// untyped here so that resolution can name the exact key on error.
    #[serde(default)]
    pub filesystem: BTreeMap<String, toml::Value>,
    /// Network settings.
    #[serde(default)]
    pub network: NetworkToml,
}

/// `[permissions.NAME.network]`, Codex's keys with Codex's meaning, and
/// one of this sandbox's own (`environment_proxy`).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkToml {
    /// The switch: the network is restricted unless this is `true`.
    pub enabled: Option<bool>,
    /// With the managed proxy: which HTTP methods pass.
    pub mode: Option<ProxyModeToml>,
    /// With the managed proxy: host pattern -> `allow` or `deny`.
    pub domains: Option<BTreeMap<String, DomainAccessToml>>,
    /// With the managed proxy: let allowed hosts be or lead to loopback and
    /// private addresses.
    pub allow_local_binding: Option<bool>,
    /// Socket path -> `allow` or `deny`; Codex's proxy has no effect with
    /// them on Linux, nor does this sandbox.
    pub unix_sockets: Option<BTreeMap<String, DomainAccessToml>>,
    /// Codex: let its proxy go through the environment's proxy.
    pub allow_upstream_proxy: Option<bool>,
    /// Codex: let its proxy listen beyond loopback.
    pub dangerously_allow_non_loopback_proxy: Option<bool>,
    /// Codex: let a proxied command use every Unix socket.
    pub dangerously_allow_all_unix_sockets: Option<bool>,
    /// Codex: its proxy's address (no visible effect in Codex 0.171).
    pub proxy_url: Option<String>,
    /// Codex: its SOCKS5 listener's address.
    pub socks_url: Option<String>,
    /// Codex: whether it offers SOCKS5.
    pub enable_socks5: Option<bool>,
    /// Codex: whether its SOCKS5 carries UDP.
    pub enable_socks5_udp: Option<bool>,
    /// This sandbox's own: with `enabled = true`, the command's only way
    /// out is the loopback proxy the environment's `HTTP_PROXY`,
    /// `HTTPS_PROXY` or `ALL_PROXY` names.
    pub environment_proxy: Option<bool>,
}

/// `allow` or `deny`, for a `domains` or `unix_sockets` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainAccessToml {
    /// May be reached.
    Allow,
    /// May not, whatever else allows it.
    Deny,
}

/// `mode`: `limited` or `full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ProxyModeToml {
    /// `GET`, `HEAD` and `OPTIONS` only.
    Limited,
    /// Every method.
    Full,
}

impl TryFrom<String> for ProxyModeToml {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "limited" => Ok(ProxyModeToml::Limited),
            "full" => Ok(ProxyModeToml::Full),
            "enabled" | "restricted" | "proxy" => Err(format!(
                "`{text}` is not a mode: mode is \"limited\" or \"full\" (the managed proxy's methods); \
                 the network is switched on with enabled = true{}",
                if text == "proxy" {
                    ", and routed through the environment's proxy with environment_proxy = true"
                } else {
                    ""
                }
            )),
            _ => Err(format!("unknown mode `{text}`; valid modes: limited, full")),
        }
    }
}

//! The two ways a network goes through the built-in proxy once a profile
//! is chosen:
//!
//! - `[features] network_proxy` (Codex's managed proxy): a profile whose
//!   network is enabled is proxied with its `domains`, `mode` and
//!   `allow_local_binding`, over which `[features.network_proxy]` values
//!   win; a restricted network stays restricted and `:danger-full-access`
//!   keeps the host's network, as in Codex;
//! - `[managed_proxy]` (this sandbox's own, for administrators): every
//!   network that is not restricted is proxied with its rules, the
//!   unsandboxed `:danger-full-access` included, and the configuration
//!   that sets it is kept read-only.

use std::path::PathBuf;

use crate::access::Access;
use crate::config::{LoadedConfig, ManagedProxyToml, NETWORK_PROXY};

use super::network::{NetworkKeyError, ProxySettings};
use super::{
    DANGER_FULL_ACCESS, FsRule, FsTarget, NetworkMode, Profile, ProfileError, RuleOrigin,
    SandboxProfile, error_at,
};

/// The table of `[managed_proxy]`.
const MANAGED_PROXY: &str = "managed_proxy";

/// Routes an enabled network through the built-in proxy when
/// `[features] network_proxy` is on; says so when the profile has proxy
/// rules that, without it, do nothing (Codex ignores them silently).
pub fn apply_network_proxy_feature(
    mut profile: Profile,
    loaded: &LoadedConfig,
) -> Result<Profile, ProfileError> {
    let feature_on = loaded.config.feature(NETWORK_PROXY) == Some(true);
    let feature_source = || loaded.source_of(&["features", NETWORK_PROXY]);
    let Some(sandbox) = profile.sandbox.as_mut() else {
        return Ok(profile);
    };
    let network_key = format!("permissions.{}.network", profile.name);
    match sandbox.network {
        NetworkMode::Enabled if feature_on => {
            let feature = match loaded.config.network_proxy_settings() {
                Some(table) => ProxySettings::of_network(table)
                    .map_err(|error| below(loaded, &["features", NETWORK_PROXY], error))?,
                None => ProxySettings::default(),
            };
            sandbox.domains = Some(feature.over(sandbox.proxy_settings.clone()).rules());
            sandbox.network = NetworkMode::Proxy;
            profile.chosen_by = format!(
                "{}; network through the built-in proxy (features.network_proxy, {})",
                profile.chosen_by,
                feature_source()
            );
        }
        NetworkMode::Proxy if feature_on && sandbox.domains.is_none() => {
            return Err(ProfileError {
                key: format!("{network_key}.environment_proxy"),
                origin: feature_source().to_string(),
                message: "routes the network through the environment's proxy while \
                          features.network_proxy routes it through the built-in one; keep one"
                    .into(),
            });
        }
        NetworkMode::Enabled if !sandbox.proxy_settings.is_empty() => {
            profile.warnings.push(format!(
                "{network_key}: domains, mode and allow_local_binding have no effect without \
                 features.network_proxy (as in Codex): the network is the host's, unfiltered; set \
                 [features] network_proxy = true to enforce them"
            ));
        }
        _ => {}
    }
    Ok(profile)
}

/// A configured `[managed_proxy]` stays fail-closed whatever the profile:
/// a network that is not restricted goes through the built-in proxy with
/// the managed rules; `:danger-full-access` runs sandboxed, with the whole
/// filesystem writable and that same network; a restricted network stays
/// restricted. A network already under rules of its own (through
/// `features.network_proxy`) is an error: the two sets would have to be
/// merged.
pub fn apply_managed_proxy(
    mut profile: Profile,
    managed: &ManagedProxyToml,
    loaded: &LoadedConfig,
) -> Result<Profile, ProfileError> {
    let source = loaded.source_of(&[MANAGED_PROXY]);
    let rules = ProxySettings::parse(
        managed.mode,
        Some(&managed.domains),
        managed.allow_local_binding,
    )
    .map_err(|error| below(loaded, &[MANAGED_PROXY], error))?
    .rules();
    let sandbox = match profile.sandbox.take() {
        None => SandboxProfile {
            filesystem: vec![FsRule {
                target: FsTarget::Root,
                subpath: PathBuf::new(),
                access: Access::Write,
                origin: RuleOrigin::BuiltIn(DANGER_FULL_ACCESS),
            }],
            deny_globs: Vec::new(),
            glob_scan_max_depth: None,
            network: NetworkMode::Proxy,
            domains: Some(rules),
            proxy_settings: ProxySettings::default(),
            unix_sockets: Vec::new(),
            protect_metadata: false,
            extra_workspace_roots: Vec::new(),
        },
        Some(sandbox) if sandbox.domains.is_some() => {
            return Err(ProfileError {
                key: format!("features.{NETWORK_PROXY}"),
                origin: loaded.source_of(&["features", NETWORK_PROXY]).to_string(),
                message: format!(
                    "puts the profile's network under rules of its own while [{MANAGED_PROXY}] \
                     ({source}) sets the rules for every profile; keep one of the two"
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
    profile.chosen_by = format!(
        "{}; network through the managed proxy ({source})",
        profile.chosen_by
    );
    profile.sandbox = Some(sandbox);
    Ok(profile)
}

/// A network table's error, its key placed below `table`.
fn below(loaded: &LoadedConfig, table: &[&str], (key, message): NetworkKeyError) -> ProfileError {
    let path: Vec<String> = table
        .iter()
        .map(|segment| (*segment).to_owned())
        .chain(key)
        .collect();
    error_at(loaded, &path, message)
}

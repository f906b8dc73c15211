//! A profile's network, with Codex's meaning: `enabled` is the switch;
//! `domains`, `mode` and `allow_local_binding` are rules for the managed
//! proxy, which only `[features] network_proxy` starts (without it, as in
//! Codex, they have no effect and the network is the host's). This
//! sandbox adds one key of its own, `environment_proxy`, which routes an
//! enabled network through the loopback proxy the environment names.

use std::collections::BTreeMap;

use crate::config::{DomainAccessToml, NetworkToml, ProxyModeToml};
use crate::proxy::domains::{DomainPattern, DomainPolicy, ProxyMode};

use super::NetworkMode;

/// A key path below a network table, and what is wrong there.
pub type NetworkKeyError = (Vec<String>, String);

/// The managed proxy's settings from one table (a profile's network,
/// `[features.network_proxy]` or `[managed_proxy]`), validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySettings {
    /// `mode`, when set.
    pub mode: Option<ProxyMode>,
    /// `domains`, one entry per pattern (spellings that differ only in
    /// case or a trailing dot are one pattern; if they disagree, `deny`).
    pub domains: BTreeMap<DomainPattern, DomainAccessToml>,
    /// `allow_local_binding`, when set.
    pub allow_local_binding: Option<bool>,
}

impl ProxySettings {
    /// The settings of `mode`, `domains` and `allow_local_binding`; an
    /// error names the key (below the table) at fault.
    pub fn parse(
        mode: Option<ProxyModeToml>,
        domains: Option<&BTreeMap<String, DomainAccessToml>>,
        allow_local_binding: Option<bool>,
    ) -> Result<Self, NetworkKeyError> {
        let mut parsed: BTreeMap<DomainPattern, DomainAccessToml> = BTreeMap::new();
        for (text, access) in domains.into_iter().flatten() {
            let key = || vec!["domains".to_string(), text.clone()];
            let pattern = DomainPattern::parse(text).map_err(|err| (key(), err.to_string()))?;
            if pattern == DomainPattern::Any && *access == DomainAccessToml::Deny {
                return Err((
                    key(),
                    "`*` cannot be denied (as in Codex): deny exact hosts or scoped wildcards \
                     (*.example.com, **.example.com); to reach nothing, allow nothing"
                        .into(),
                ));
            }
            let stricter = match parsed.get(&pattern) {
                Some(DomainAccessToml::Deny) => DomainAccessToml::Deny,
                _ => *access,
            };
            parsed.insert(pattern, stricter);
        }
        Ok(ProxySettings {
            mode: mode.map(|mode| match mode {
                ProxyModeToml::Limited => ProxyMode::Limited,
                ProxyModeToml::Full => ProxyMode::Full,
            }),
            domains: parsed,
            allow_local_binding,
        })
    }

    /// The settings of a network table.
    pub fn of_network(toml: &NetworkToml) -> Result<Self, NetworkKeyError> {
        Self::parse(toml.mode, toml.domains.as_ref(), toml.allow_local_binding)
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == ProxySettings::default()
    }

    /// `self` laid over `base`, as `[features.network_proxy]` is laid over
    /// a profile's network in Codex: each value set here wins; the domain
    /// tables merge, this one's entry winning for the same pattern.
    pub fn over(self, base: ProxySettings) -> ProxySettings {
        let mut domains = base.domains;
        domains.extend(self.domains);
        ProxySettings {
            mode: self.mode.or(base.mode),
            domains,
            allow_local_binding: self.allow_local_binding.or(base.allow_local_binding),
        }
    }

    /// The rules the built-in proxy enforces: allow and deny lists, local
    /// addresses only with `allow_local_binding`, `full` mode by default.
    pub fn rules(&self) -> DomainPolicy {
        let with = |wanted: DomainAccessToml| {
            self.domains
                .iter()
                .filter(|(_, access)| **access == wanted)
                .map(|(pattern, _)| pattern.clone())
                .collect()
        };
        DomainPolicy {
            allowed: with(DomainAccessToml::Allow),
            denied: with(DomainAccessToml::Deny),
            allow_local_addresses: self.allow_local_binding.unwrap_or(false),
            mode: self.mode.unwrap_or_default(),
        }
    }
}

/// What a profile's network table asks for: the mode before the managed
/// proxy decides (restricted, the host's network, or the environment's
/// proxy), and the settings the managed proxy would enforce.
pub fn profile_network(
    toml: &NetworkToml,
) -> Result<(NetworkMode, ProxySettings), NetworkKeyError> {
    let settings = ProxySettings::of_network(toml)?;
    let enabled = toml.enabled.unwrap_or(false);
    let environment_proxy = toml.environment_proxy.unwrap_or(false);
    let key = |name: &str| vec![name.to_string()];
    if environment_proxy && !enabled {
        return Err((
            key("environment_proxy"),
            "needs enabled = true: it routes the network that switch turns on".into(),
        ));
    }
    if environment_proxy && !settings.is_empty() {
        return Err((
            key("environment_proxy"),
            "the environment's proxy enforces no domains, mode or allow_local_binding; remove \
             them, or use the managed proxy ([features] network_proxy = true) instead"
                .into(),
        ));
    }
    let mode = match (enabled, environment_proxy) {
        (false, _) => NetworkMode::Restricted,
        (true, true) => NetworkMode::Proxy,
        (true, false) => NetworkMode::Enabled,
    };
    Ok((mode, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(toml: &str) -> NetworkToml {
        toml::from_str(toml).expect("a network table")
    }

    #[test]
    fn enabled_is_the_switch() {
        assert_eq!(
            profile_network(&network("")).unwrap().0,
            NetworkMode::Restricted
        );
        assert_eq!(
            profile_network(&network("enabled = false")).unwrap().0,
            NetworkMode::Restricted
        );
        assert_eq!(
            profile_network(&network("enabled = true")).unwrap().0,
            NetworkMode::Enabled
        );
        assert_eq!(
            profile_network(&network("enabled = true\nenvironment_proxy = true"))
                .unwrap()
                .0,
            NetworkMode::Proxy
        );
    }

    #[test]
    fn the_environment_proxy_needs_the_switch_and_takes_no_rules() {
        for (toml, says) in [
            ("environment_proxy = true", "needs enabled = true"),
            (
                "enabled = true\nenvironment_proxy = true\nmode = \"limited\"",
                "enforces no domains",
            ),
        ] {
            let (key, message) = profile_network(&network(toml)).unwrap_err();
            assert_eq!(key, ["environment_proxy"]);
            assert!(message.contains(says), "{toml}: {message}");
        }
    }

    #[test]
    fn old_mode_spellings_point_to_the_switch() {
        let err = toml::from_str::<NetworkToml>("mode = \"enabled\"").unwrap_err();
        assert!(err.to_string().contains("enabled = true"), "{err}");
        let err = toml::from_str::<NetworkToml>("mode = \"proxy\"").unwrap_err();
        assert!(
            err.to_string().contains("environment_proxy = true"),
            "{err}"
        );
    }

    #[test]
    fn settings_merge_with_the_upper_table_winning() {
        let profile = ProxySettings::of_network(&network(
            "mode = \"limited\"\nallow_local_binding = true\n[domains]\n\"a.com\" = \"allow\"\n\"b.com\" = \"allow\"\n",
        ))
        .unwrap();
        let feature = ProxySettings::of_network(&network(
            "mode = \"full\"\n[domains]\n\"B.com\" = \"deny\"\n\"c.com\" = \"allow\"\n",
        ))
        .unwrap();
        let rules = feature.over(profile).rules();
        assert_eq!(rules.mode, ProxyMode::Full);
        assert!(rules.allow_local_addresses);
        let shown =
            |list: &[DomainPattern]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown(&rules.allowed), ["a.com", "c.com"]);
        assert_eq!(shown(&rules.denied), ["b.com"]);
    }

    #[test]
    fn spellings_of_one_pattern_collapse_and_deny_wins() {
        let settings = ProxySettings::of_network(&network(
            "[domains]\n\"LOCALHOST\" = \"deny\"\n\"localhost\" = \"allow\"\n",
        ))
        .unwrap();
        assert_eq!(settings.rules().denied.len(), 1);
        assert!(settings.rules().allowed.is_empty());
    }

    #[test]
    fn the_global_wildcard_can_be_allowed_but_not_denied() {
        assert!(ProxySettings::of_network(&network("[domains]\n\"*\" = \"allow\"\n")).is_ok());
        let (key, message) =
            ProxySettings::of_network(&network("[domains]\n\"*\" = \"deny\"\n")).unwrap_err();
        assert_eq!(key, ["domains", "*"]);
        assert!(message.contains("cannot be denied"), "{message}");
    }

    #[test]
    fn a_bad_pattern_names_its_key() {
        let (key, message) =
            ProxySettings::of_network(&network("[domains]\n\"10.0.0.0/8\" = \"allow\"\n"))
                .unwrap_err();
        assert_eq!(key, ["domains", "10.0.0.0/8"]);
        assert!(message.contains("address ranges"), "{message}");
    }

    #[test]
    fn no_settings_mean_full_mode_and_nothing_allowed() {
        let rules = ProxySettings::default().rules();
        assert_eq!(rules.mode, ProxyMode::Full);
        assert!(rules.allowed.is_empty() && !rules.allow_local_addresses);
    }
}

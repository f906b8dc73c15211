//! The built-in proxy's rules: which host names a proxy-routed command may
//! reach (`allowed_domains`, `denied_domains`) and which addresses those
//! names may lead to. Pure, so every rule is a unit test.
//!
//! - `example.com` matches exactly that name; `*.example.com` matches every
//!   name below it (`a.example.com`, `a.b.example.com`) but not
//!   `example.com` itself: list both to allow both.
//! - A denied pattern beats an allowed one.
//! - Names are compared in lower case, with one trailing dot ignored.
//! - A raw IP address is never allowed: the lists are about names.
//! - An allowed name must not lead to a loopback, private, link-local,
//!   shared (100.64.0.0/10), unspecified, multicast or otherwise
//!   non-public address, unless `allow_local_addresses` is set (for a
//!   package mirror on this machine or the local network).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One entry of `allowed_domains` or `denied_domains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPattern {
    /// `example.com`: that name only.
    Exact(String),
    /// `*.example.com`: every name strictly below `example.com`.
    Subdomains(String),
}

/// Why a domain pattern is refused; the message names it and says what
/// is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainPatternError(String);

impl DomainPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, DomainPatternError> {
        let lower = text.to_ascii_lowercase();
        let (subdomains, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.contains('*') {
            return Err(DomainPatternError(format!(
                "`{text}`: `*` is allowed only as a whole first label (`*.example.com`)"
            )));
        }
        if name.parse::<IpAddr>().is_ok()
            || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
            || is_numeric_address(name)
        {
            return Err(DomainPatternError(format!(
                "`{text}` is an IP address; the built-in proxy refuses raw addresses, list names"
            )));
        }
        if !is_host_name(name) {
            return Err(DomainPatternError(format!(
                "`{text}` is not a host name (letters, digits, `-` and `.`, no port or path)"
            )));
        }
        Ok(if subdomains {
            DomainPattern::Subdomains(name.to_owned())
        } else {
            DomainPattern::Exact(name.to_owned())
        })
    }

    /// Whether `host` (already normalised) matches.
    fn matches(&self, host: &str) -> bool {
        match self {
            DomainPattern::Exact(name) => host == name,
            DomainPattern::Subdomains(name) => host
                .strip_suffix(name.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainPattern::Exact(name) => f.write_str(name),
            DomainPattern::Subdomains(name) => write!(f, "*.{name}"),
        }
    }
}

/// The built-in proxy's rules for one profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainPolicy {
    /// Names that may be reached.
    pub allowed: Vec<DomainPattern>,
    /// Names that may not, whatever `allowed` says.
    pub denied: Vec<DomainPattern>,
    /// Whether allowed names may lead to non-public addresses.
    pub allow_local_addresses: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The target is an IP address, not a name.
    RawAddress,
    /// The name is not a host name at all.
    BadName,
    /// A `denied_domains` entry matches.
    Denied(String),
    /// No `allowed_domains` entry matches.
    NotAllowed,
    /// The name leads to a non-public address.
    LocalAddress(IpAddr),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::RawAddress => f.write_str("raw IP addresses are refused; use a host name"),
            Refusal::BadName => f.write_str("not a valid host name"),
            Refusal::Denied(pattern) => write!(f, "denied by denied_domains entry `{pattern}`"),
            Refusal::NotAllowed => f.write_str("not in allowed_domains"),
            Refusal::LocalAddress(ip) => write!(
                f,
                "resolves to {ip}, a loopback or private address (allow_local_addresses is off)"
            ),
        }
    }
}

impl DomainPolicy {
    /// Decides on a request's host (as written in the request, without
    /// the port).
    pub fn check_host(&self, host: &str) -> Result<(), Refusal> {
        let lower = host.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() || is_numeric_address(name) {
            return Err(Refusal::RawAddress);
        }
        if !is_host_name(name) {
            return Err(Refusal::BadName);
        }
        if let Some(pattern) = self.denied.iter().find(|pattern| pattern.matches(name)) {
            return Err(Refusal::Denied(pattern.to_string()));
        }
        if self.allowed.iter().any(|pattern| pattern.matches(name)) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }

    /// Decides on an address an allowed name resolved to.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_local_addresses || is_public(ip) {
            Ok(())
        } else {
            Err(Refusal::LocalAddress(ip))
        }
    }
}

/// Whether the resolver would read `name` as an IPv4 address in one of
/// the old `inet_aton` spellings (`127.1`, `2130706433`, `0x7f.1`,
/// `0177.0.0.1`): its last label is all digits or a `0x` number. No real
/// top-level domain looks like that.
fn is_numeric_address(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|digits| digits.chars().all(|c| c.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `name` is a syntactically valid DNS host name.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
}

/// Whether `ip` is a globally routed unicast address. Written out because
/// `IpAddr::is_global` is not stable.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Global unicast (`2000::/3`) only, without the ranges that carry or
/// reach another address: documentation (`2001:db8::/32`), Teredo
/// (`2001::/32`) and 6to4 (`2002::/16`). IPv4-mapped addresses are judged
/// as IPv4 before this.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    (first & 0xe000) == 0x2000
        && !(first == 0x2001 && (second == 0x0db8 || second == 0x0000))
        && first != 0x2002
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], denied: &[&str]) -> DomainPolicy {
        DomainPolicy {
            allowed: allowed
                .iter()
                .map(|p| DomainPattern::parse(p).unwrap())
                .collect(),
            denied: denied
                .iter()
                .map(|p| DomainPattern::parse(p).unwrap())
                .collect(),
            allow_local_addresses: false,
        }
    }

    #[test]
    fn exact_names_and_strict_subdomain_wildcards() {
        let rules = policy(&["crates.io", "*.crates.io", "GitHub.com"], &[]);
        for host in [
            "crates.io",
            "static.crates.io",
            "a.b.crates.io",
            "CRATES.IO",
            "crates.io.",
            "github.com",
        ] {
            assert_eq!(rules.check_host(host), Ok(()), "{host}");
        }
        for host in [
            "evilcrates.io",
            "crates.io.evil.com",
            "api.github.com",
            "io",
            "",
        ] {
            assert!(rules.check_host(host).is_err(), "{host}");
        }
        let only_sub = policy(&["*.example.com"], &[]);
        assert_eq!(only_sub.check_host("example.com"), Err(Refusal::NotAllowed));
        assert_eq!(only_sub.check_host(".example.com"), Err(Refusal::BadName));
    }

    #[test]
    fn deny_beats_allow() {
        let rules = policy(&["*.example.com", "example.com"], &["secret.example.com"]);
        assert_eq!(
            rules.check_host("secret.example.com"),
            Err(Refusal::Denied("secret.example.com".into()))
        );
        assert_eq!(rules.check_host("www.example.com"), Ok(()));
        let wide = policy(&["api.example.com"], &["*.example.com"]);
        assert_eq!(
            wide.check_host("api.example.com"),
            Err(Refusal::Denied("*.example.com".into()))
        );
    }

    #[test]
    fn raw_addresses_are_refused_whatever_the_lists_say() {
        let rules = policy(&["*.example.com"], &[]);
        for host in [
            "1.1.1.1",
            "127.0.0.1",
            "127.0.0.1.",
            "[::1]",
            "::1",
            "[2606:4700::1111]",
            "127.1",
            "2130706433",
            "0x7f.1",
            "0x7f000001",
            "0177.0.0.1",
            "a.b.1",
        ] {
            assert_eq!(rules.check_host(host), Err(Refusal::RawAddress), "{host}");
        }
    }

    #[test]
    fn patterns_are_validated() {
        for (text, needle) in [
            ("*", "only as a whole first label"),
            ("*.*.example.com", "only as a whole first label"),
            ("ex*ample.com", "only as a whole first label"),
            ("10.0.0.1", "IP address"),
            ("127.1", "IP address"),
            ("*.0x7f", "IP address"),
            ("[::1]", "IP address"),
            ("example.com:443", "not a host name"),
            ("https://example.com", "not a host name"),
            ("", "not a host name"),
            ("-bad.com", "not a host name"),
        ] {
            let err = DomainPattern::parse(text).unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        assert_eq!(
            DomainPattern::parse("*.Example.COM.").unwrap().to_string(),
            "*.example.com"
        );
    }

    #[test]
    fn only_public_addresses_unless_local_ones_are_allowed() {
        let rules = policy(&["x.com"], &[]);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::7f00:1",
            "2002:7f00:1::1",
            "2001:0:7f00:1::1",
            "2001:db8::1",
            "fec0::1",
            "100::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                rules.check_address(ip),
                Err(Refusal::LocalAddress(ip)),
                "{ip}"
            );
        }
        for ip in [
            "1.1.1.1",
            "151.101.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(rules.check_address(ip), Ok(()), "{ip}");
        }
        let local = DomainPolicy {
            allow_local_addresses: true,
            ..rules
        };
        assert_eq!(local.check_address("127.0.0.1".parse().unwrap()), Ok(()));
    }
}

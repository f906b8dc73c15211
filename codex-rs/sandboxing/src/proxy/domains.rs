//! The built-in proxy's rules, with the meaning OpenAI Codex's managed
//! network proxy gives `[permissions.NAME.network.domains]`: which hosts a
//! proxy-routed command may reach, which addresses they may lead to, and
//! which HTTP methods it may use. Pure, so every rule is a unit test.
//!
//! - `example.com` matches exactly that name; `*.example.com` every name
//!   below it (`a.example.com`, `a.b.example.com`) but not `example.com`;
//!   `**.example.com` both; `*` every host. An IP address (`127.0.0.1`,
//!   `::1`) matches exactly that address.
//! - A `deny` entry beats an `allow` entry.
//! - Names are compared in lower case, with one trailing dot ignored.
//! - A target that is, or resolves to, a loopback, private, link-local,
//!   shared (100.64.0.0/10), documentation, unspecified, multicast or
//!   otherwise non-public address is refused unless an exact entry names
//!   it (`localhost`, `127.0.0.1`) or `allow_local_binding` is set:
//!   wildcards never reach this machine or its network on their own.
//! - In `limited` mode only `GET`, `HEAD` and `OPTIONS` pass. HTTPS
//!   tunnels (`CONNECT`) are refused in that mode, since the methods
//!   inside cannot be seen: stricter than Codex, which intercepts TLS
//!   with a certificate authority of its own to look inside.
//! - Old numeric spellings of IPv4 addresses (`127.1`, `0x7f.1`,
//!   `2130706433`) are refused as targets and as patterns.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One key of a `domains` table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DomainPattern {
    /// `example.com`: that name only.
    Exact(String),
    /// `127.0.0.1`, `::1`: that address only.
    Address(IpAddr),
    /// `*.example.com`: every name strictly below `example.com`.
    Subdomains(String),
    /// `**.example.com`: `example.com` and every name below it.
    NameAndSubdomains(String),
    /// `*`: every host.
    Any,
}

/// Why a domain pattern is refused; the message names it and says what
/// is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainPatternError(String);

impl DomainPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, DomainPatternError> {
        let lower = text.trim().to_ascii_lowercase();
        if lower == "*" {
            return Ok(DomainPattern::Any);
        }
        if let Some(address) = parse_address(&lower) {
            return Ok(DomainPattern::Address(address));
        }
        if lower.contains('/') && !lower.contains("://") {
            return Err(DomainPatternError(format!(
                "`{text}`: address ranges are not supported (as in Codex); list the addresses"
            )));
        }
        let (make, name): (fn(String) -> DomainPattern, &str) =
            if let Some(rest) = lower.strip_prefix("**.") {
                (DomainPattern::NameAndSubdomains, rest)
            } else if let Some(rest) = lower.strip_prefix("*.") {
                (DomainPattern::Subdomains, rest)
            } else {
                (DomainPattern::Exact, lower.as_str())
            };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.contains('*') {
            return Err(DomainPatternError(format!(
                "`{text}`: `*` is allowed only as `*`, or as a whole first label (`*.example.com`, `**.example.com`)"
            )));
        }
        if is_numeric_address(name) {
            return Err(DomainPatternError(format!(
                "`{text}` reads as an IP address in an old numeric spelling; write the address out (`127.0.0.1`)"
            )));
        }
        if !is_host_name(name) {
            return Err(DomainPatternError(format!(
                "`{text}` is not a host name (letters, digits, `-` and `.`, no port or path)"
            )));
        }
        Ok(make(name.to_owned()))
    }

    /// Whether a host (already normalised) matches.
    fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (DomainPattern::Any, _) => true,
            (DomainPattern::Address(pattern), Host::Address(address)) => pattern == address,
            (DomainPattern::Exact(pattern), Host::Name(name)) => name == pattern,
            (DomainPattern::Subdomains(pattern), Host::Name(name)) => is_below(name, pattern),
            (DomainPattern::NameAndSubdomains(pattern), Host::Name(name)) => {
                name == pattern || is_below(name, pattern)
            }
            _ => false,
        }
    }

    /// Whether this pattern names one host exactly, which lets that host
    /// be a local address.
    fn is_exact(&self) -> bool {
        matches!(self, DomainPattern::Exact(_) | DomainPattern::Address(_))
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainPattern::Exact(name) => f.write_str(name),
            DomainPattern::Address(address) => write!(f, "{address}"),
            DomainPattern::Subdomains(name) => write!(f, "*.{name}"),
            DomainPattern::NameAndSubdomains(name) => write!(f, "**.{name}"),
            DomainPattern::Any => f.write_str("*"),
        }
    }
}

/// Which HTTP methods the built-in proxy lets through (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// Every method, and HTTPS tunnels (Codex's default).
    #[default]
    Full,
    /// `GET`, `HEAD` and `OPTIONS` only; no HTTPS tunnels.
    Limited,
}

impl ProxyMode {
    /// The `config.toml` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Full => "full",
            ProxyMode::Limited => "limited",
        }
    }
}

/// The built-in proxy's rules for one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainPolicy {
    /// Hosts that may be reached.
    pub allowed: Vec<DomainPattern>,
    /// Hosts that may not, whatever `allowed` says.
    pub denied: Vec<DomainPattern>,
    /// Whether allowed hosts may be, or lead to, non-public addresses
    /// (`allow_local_binding`).
    pub allow_local_addresses: bool,
    /// Which methods pass.
    pub mode: ProxyMode,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The host is neither a host name nor an IP address.
    BadName,
    /// A `deny` entry matches.
    Denied(String),
    /// No `allow` entry matches.
    NotAllowed,
    /// The host is, or leads to, a non-public address.
    LocalAddress(IpAddr),
    /// The method is not allowed in `limited` mode.
    Method(String),
}

impl Refusal {
    /// The value of the `x-proxy-error` header Codex's proxy answers a
    /// refusal with, which tools may read.
    pub fn header_value(&self) -> &'static str {
        match self {
            Refusal::Denied(_) => "blocked-by-denylist",
            Refusal::Method(_) => "blocked-by-method-policy",
            Refusal::BadName | Refusal::NotAllowed | Refusal::LocalAddress(_) => {
                "blocked-by-allowlist"
            }
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadName => f.write_str("not a valid host name or IP address"),
            Refusal::Denied(pattern) => write!(f, "denied by the domains entry `{pattern}`"),
            Refusal::NotAllowed => f.write_str("no domains entry allows it"),
            Refusal::LocalAddress(ip) => write!(
                f,
                "{ip} is a loopback or private address: only an exact domains entry or \
                 allow_local_binding lets one through"
            ),
            Refusal::Method(method) if method == "CONNECT" => f.write_str(
                "HTTPS tunnels are refused in limited mode, where the methods inside could not be seen",
            ),
            Refusal::Method(method) => {
                write!(f, "{method} is not allowed in limited mode (GET, HEAD, OPTIONS are)")
            }
        }
    }
}

/// A request's target host, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    Address(IpAddr),
}

/// What the host check concluded, for the address check that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostAllowed {
    /// Whether an exact entry named the host, which lets it be local.
    pub exactly: bool,
}

impl DomainPolicy {
    /// Decides on a request's method.
    pub fn check_method(&self, method: &str) -> Result<(), Refusal> {
        match self.mode {
            ProxyMode::Full => Ok(()),
            ProxyMode::Limited if matches!(method, "GET" | "HEAD" | "OPTIONS") => Ok(()),
            ProxyMode::Limited => Err(Refusal::Method(method.to_owned())),
        }
    }

    /// Decides on a request's host (as written in the request, without
    /// the port). An IP address is judged here in full; a name is judged
    /// again on each address it resolves to ([`DomainPolicy::check_address`]).
    pub fn check_host(&self, host: &str) -> Result<HostAllowed, Refusal> {
        let lower = host.to_ascii_lowercase();
        let host = match parse_address(&lower) {
            Some(address) => Host::Address(address),
            None => {
                let name = lower.strip_suffix('.').unwrap_or(&lower);
                if is_numeric_address(name) || !is_host_name(name) {
                    return Err(Refusal::BadName);
                }
                Host::Name(name.to_owned())
            }
        };
        if let Some(pattern) = self.denied.iter().find(|pattern| pattern.matches(&host)) {
            return Err(Refusal::Denied(pattern.to_string()));
        }
        let matching: Vec<&DomainPattern> = self
            .allowed
            .iter()
            .filter(|pattern| pattern.matches(&host))
            .collect();
        if matching.is_empty() {
            return Err(Refusal::NotAllowed);
        }
        let allowed = HostAllowed {
            exactly: matching.iter().any(|pattern| pattern.is_exact()),
        };
        if let Host::Address(address) = host {
            self.check_address(address, allowed)?;
        }
        Ok(allowed)
    }

    /// Decides on an address an allowed host is or resolved to.
    pub fn check_address(&self, ip: IpAddr, host: HostAllowed) -> Result<(), Refusal> {
        if self.allow_local_addresses || host.exactly || is_public(ip) {
            Ok(())
        } else {
            Err(Refusal::LocalAddress(ip))
        }
    }
}

/// `host` as an IP address: IPv4 in its usual spelling, IPv6 with or
/// without brackets.
fn parse_address(host: &str) -> Option<IpAddr> {
    let bare = host.strip_suffix('.').unwrap_or(host);
    bare.parse::<Ipv4Addr>().map(IpAddr::V4).ok().or_else(|| {
        bare.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .ok()
    })
}

/// Whether `name` lies strictly below `parent`.
fn is_below(name: &str, parent: &str) -> bool {
    name.strip_suffix(parent)
        .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
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
mod tests;

//! Proxy-only egress (`network.mode = "proxy"`): which loopback proxy the
//! sandboxed command may reach, read from the proxy variables of the
//! environment, and the variables the command then gets ([`mod@env`]).
//!
//! The sandbox has its own network namespace with only a loopback
//! interface. For every endpoint found here, a listener is opened inside
//! that namespace on the same address and port, and each connection to it
//! is forwarded to the same address and port on the host. So the proxy
//! variables keep their values inside the sandbox, and the proxy is the
//! only way out.
//!
//! Only loopback endpoints can be routed that way: a proxy elsewhere would
//! need a route to another host, which is exactly what the sandbox takes
//! away. A non-loopback, malformed or missing endpoint is an error that
//! names the variable and its value; nothing runs. So is a port below
//! 1024: the sandbox holds no capability to listen on one.

pub mod domains;
pub mod env;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// The variables read for proxy endpoints, in the order they are reported.
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The lowest port a process without `CAP_NET_BIND_SERVICE` may listen
/// on (the kernel's default `net.ipv4.ip_unprivileged_port_start`, which a
/// new network namespace starts with).
pub const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// Proxy URL schemes a forwarded TCP connection can carry unchanged.
const SCHEMES: [&str; 6] = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"];

/// Where a proxy listens on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxyHost {
    /// A loopback address given literally (`127.0.0.1`, `127.1.2.3`, `::1`).
    Address(IpAddr),
    /// `localhost`: tools inside may resolve it to `127.0.0.1` or `::1`, so
    /// both are listened on, and the host side tries `127.0.0.1` first.
    Localhost,
}

/// One proxy endpoint to route: a loopback host and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProxyEndpoint {
    /// The host, always loopback.
    pub host: ProxyHost,
    /// The port, always given explicitly in the variable.
    pub port: u16,
}

impl ProxyEndpoint {
    /// The addresses to listen on inside the sandbox (and to try, in this
    /// order, on the host).
    pub fn addresses(&self) -> Vec<SocketAddr> {
        match self.host {
            ProxyHost::Address(ip) => vec![SocketAddr::new(ip, self.port)],
            ProxyHost::Localhost => vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), self.port),
            ],
        }
    }
}

/// A proxy variable as found in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyVariable {
    /// Its name (`HTTPS_PROXY`, ...).
    pub name: &'static str,
    /// Its value, unchanged.
    pub value: String,
    /// The endpoint it names.
    pub endpoint: ProxyEndpoint,
}

/// Every proxy variable of the environment and the distinct endpoints they
/// name: what a `proxy` sandbox routes. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoutes {
    /// The set variables, in [`PROXY_VARIABLES`] order.
    pub variables: Vec<ProxyVariable>,
    /// The distinct endpoints, sorted.
    pub endpoints: Vec<ProxyEndpoint>,
}

/// Why the proxy endpoints cannot be routed. Each names what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyEnvError {
    /// None of the variables is set.
    #[error(
        "network mode \"proxy\" needs a proxy on this machine's loopback, but none of {} is set; \
         set one, e.g. HTTPS_PROXY=http://127.0.0.1:3128",
        PROXY_VARIABLES.join(", ")
    )]
    Missing,
    /// A variable is not a proxy URL this sandbox can route.
    #[error("{name}={value:?} is not a usable proxy URL: {reason}")]
    Malformed {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A variable names a proxy that is not on loopback.
    #[error(
        "{name}={value:?} names {host}, which is not a loopback address; network mode \"proxy\" \
         routes only to a proxy on 127.0.0.0/8, ::1 or localhost (run a local proxy that forwards to it)"
    )]
    NotLoopback {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// The host it names.
        host: String,
    },
}

/// Reads the proxy variables through `lookup` (the process environment in
/// production). Empty values count as unset, as curl and most tools treat
/// them. Every set variable must name a loopback endpoint with a port.
pub fn proxy_routes(lookup: impl Fn(&str) -> Option<String>) -> Result<ProxyRoutes, ProxyEnvError> {
    let mut variables = Vec::new();
    for name in PROXY_VARIABLES {
        let Some(value) = lookup(name).filter(|value| !value.is_empty()) else {
            continue;
        };
        let endpoint = parse_proxy_url(name, &value)?;
        variables.push(ProxyVariable {
            name,
            value,
            endpoint,
        });
    }
    if variables.is_empty() {
        return Err(ProxyEnvError::Missing);
    }
    let mut endpoints: Vec<ProxyEndpoint> = variables.iter().map(|var| var.endpoint).collect();
    endpoints.sort();
    endpoints.dedup();
    Ok(ProxyRoutes {
        variables,
        endpoints,
    })
}

/// The routes to the built-in proxy listening at `addr` on host loopback:
/// `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` all name it.
pub fn builtin_routes(addr: SocketAddr) -> ProxyRoutes {
    let endpoint = ProxyEndpoint {
        host: ProxyHost::Address(addr.ip()),
        port: addr.port(),
    };
    let value = format!("http://{addr}");
    let variables = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
        .into_iter()
        .map(|name| ProxyVariable {
            name,
            value: value.clone(),
            endpoint,
        })
        .collect();
    ProxyRoutes {
        variables,
        endpoints: vec![endpoint],
    }
}

/// The first proxy variable set (non-empty) in the environment, as
/// `NAME=value`, if any.
pub fn first_proxy_variable(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    PROXY_VARIABLES.iter().find_map(|name| {
        lookup(name)
            .filter(|value| !value.is_empty())
            .map(|value| format!("{name}={value}"))
    })
}

/// Parses one variable's value: `[scheme://][user[:password]@]host:port[/]`.
pub fn parse_proxy_url(name: &'static str, value: &str) -> Result<ProxyEndpoint, ProxyEnvError> {
    let malformed = |reason: &str| ProxyEnvError::Malformed {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).map_err(|err| malformed(&err.to_string()))?;
    if !SCHEMES.contains(&url.scheme()) {
        return Err(malformed(&format!(
            "unsupported scheme `{}` (expected one of {})",
            url.scheme(),
            SCHEMES.join(", ")
        )));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(malformed(
            "a proxy URL has no path, query or fragment; give scheme://host:port",
        ));
    }
    let host = match url.host() {
        Some(Host::Ipv4(ip)) => ProxyHost::Address(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => ProxyHost::Address(IpAddr::V6(ip)),
        Some(Host::Domain(domain)) if domain.eq_ignore_ascii_case("localhost") => {
            ProxyHost::Localhost
        }
        // Non-special schemes (`socks5://`) keep the host as opaque text.
        Some(Host::Domain(domain))
            if let Ok(ip) = domain
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>() =>
        {
            ProxyHost::Address(ip)
        }
        Some(Host::Domain(domain)) => {
            return Err(ProxyEnvError::NotLoopback {
                name,
                value: value.to_owned(),
                host: domain.to_owned(),
            });
        }
        None => return Err(malformed("no host")),
    };
    if let ProxyHost::Address(ip) = host
        && !ip.is_loopback()
    {
        return Err(ProxyEnvError::NotLoopback {
            name,
            value: value.to_owned(),
            host: ip.to_string(),
        });
    }
    // The url crate drops a port equal to the scheme's default, so an
    // explicit `:80` reads as absent: ask for the port in the text instead.
    let port = url
        .port()
        .or_else(|| explicit_port(&with_scheme))
        .ok_or_else(|| {
            malformed("no port; give it explicitly (tools disagree on a proxy's default port)")
        })?;
    if port < FIRST_UNPRIVILEGED_PORT {
        return Err(malformed(&format!(
            "port {port} is below {FIRST_UNPRIVILEGED_PORT}: the sandbox has no capabilities, so it \
             cannot listen on it for the route; run the proxy on a port from {FIRST_UNPRIVILEGED_PORT} up"
        )));
    }
    Ok(ProxyEndpoint { host, port })
}

/// The port written after the authority's last `:` when the URL crate
/// normalised it away (a scheme's default port).
fn explicit_port(url: &str) -> Option<u16> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let (host, port) = host_port.rsplit_once(':')?;
    if host.ends_with(']') || !host.contains(':') {
        port.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests;

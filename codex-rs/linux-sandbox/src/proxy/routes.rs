//! The route spec: which loopback addresses the inner stage listens on
//! inside the sandbox's network namespace, and where the outer stage sends
//! what arrives on each. Pure; rendered by the outer stage into the inner
//! stage's hidden arguments and parsed (and validated) back there.

use std::net::SocketAddr;

use codex_sandboxing::proxy::{ProxyHost, ProxyRoutes};

/// One listener inside the sandbox and the host addresses it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenRoute {
    /// Where the inner stage listens (loopback, in the sandbox's own
    /// network namespace).
    pub listen: SocketAddr,
    /// Whether the sandbox cannot start without it. `localhost`'s IPv6
    /// listener is optional: a kernel without IPv6 has no `::1`.
    pub required: bool,
    /// The host's proxy addresses to try, in order.
    pub upstream: Vec<SocketAddr>,
}

/// The listeners for `routes`: one per distinct address of the endpoints,
/// each forwarding to the same address on the host (`localhost` to either
/// of its addresses, IPv4 first). Two variables naming one address in two
/// spellings (`localhost:3128` and `127.0.0.1:3128`) share its listener,
/// which is required when either requires it.
pub fn listen_routes(routes: &ProxyRoutes) -> Vec<ListenRoute> {
    let mut listeners: Vec<ListenRoute> = Vec::new();
    for endpoint in &routes.endpoints {
        let addresses = endpoint.addresses();
        for (index, listen) in addresses.iter().enumerate() {
            let upstream = match endpoint.host {
                ProxyHost::Address(_) => vec![*listen],
                ProxyHost::Localhost => addresses.clone(),
            };
            let required = index == 0;
            match listeners.iter_mut().find(|known| known.listen == *listen) {
                Some(known) => {
                    known.required |= required;
                    for addr in upstream {
                        if !known.upstream.contains(&addr) {
                            known.upstream.push(addr);
                        }
                    }
                }
                None => listeners.push(ListenRoute {
                    listen: *listen,
                    required,
                    upstream,
                }),
            }
        }
    }
    listeners
}

/// What the inner stage is told about one listener: its address, and
/// whether it may be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    /// The loopback address to listen on.
    pub addr: SocketAddr,
    /// Whether failing to listen there stops the sandbox.
    pub required: bool,
}

impl ListenSpec {
    /// The spec of a route.
    pub fn of(route: &ListenRoute) -> Self {
        ListenSpec {
            addr: route.listen,
            required: route.required,
        }
    }

    /// `127.0.0.1:3128`, or `[::1]:3128?` when optional.
    pub fn render(&self) -> String {
        if self.required {
            self.addr.to_string()
        } else {
            format!("{}?", self.addr)
        }
    }

    /// Parses [`ListenSpec::render`]'s form; only loopback addresses with a
    /// non-zero port are accepted.
    pub fn parse(text: &str) -> Result<Self, ListenSpecError> {
        let (addr_text, required) = match text.strip_suffix('?') {
            Some(rest) => (rest, false),
            None => (text, true),
        };
        let addr: SocketAddr = addr_text
            .parse()
            .map_err(|_| ListenSpecError::NotAnAddress(text.to_owned()))?;
        if !addr.ip().is_loopback() || addr.port() == 0 {
            return Err(ListenSpecError::NotLoopback(text.to_owned()));
        }
        Ok(ListenSpec { addr, required })
    }
}

/// Why a listen spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenSpecError {
    /// Not `address:port`.
    #[error("`{0}` is not an address:port")]
    NotAnAddress(String),
    /// Not on loopback, or port 0.
    #[error("`{0}` is not a loopback address with a port")]
    NotLoopback(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use codex_sandboxing::proxy::proxy_routes;

    fn routes(pairs: &[(&str, &str)]) -> ProxyRoutes {
        let pairs = pairs.to_vec();
        proxy_routes(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn each_endpoint_address_gets_one_listener_forwarding_to_the_same_address() {
        let listeners = listen_routes(&routes(&[
            ("HTTP_PROXY", "http://127.0.0.1:3128"),
            ("https_proxy", "http://127.0.0.1:3128"),
            ("ALL_PROXY", "socks5://[::1]:1080"),
        ]));
        assert_eq!(
            listeners,
            [
                ListenRoute {
                    listen: "127.0.0.1:3128".parse().unwrap(),
                    required: true,
                    upstream: vec!["127.0.0.1:3128".parse().unwrap()],
                },
                ListenRoute {
                    listen: "[::1]:1080".parse().unwrap(),
                    required: true,
                    upstream: vec!["[::1]:1080".parse().unwrap()],
                },
            ]
        );
    }

    #[test]
    fn localhost_listens_on_both_addresses_and_tries_both_upstream() {
        let listeners = listen_routes(&routes(&[("HTTPS_PROXY", "localhost:8080")]));
        let both: Vec<SocketAddr> = vec![
            "127.0.0.1:8080".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
        ];
        assert_eq!(listeners.len(), 2);
        assert_eq!(listeners[0].listen, both[0]);
        assert!(listeners[0].required);
        assert_eq!(listeners[1].listen, both[1]);
        assert!(!listeners[1].required, "::1 may be missing without IPv6");
        assert!(listeners.iter().all(|route| route.upstream == both));
    }

    #[test]
    fn one_address_in_two_spellings_gets_one_listener() {
        let listeners = listen_routes(&routes(&[
            ("HTTP_PROXY", "http://localhost:3128"),
            ("HTTPS_PROXY", "http://127.0.0.1:3128"),
            ("ALL_PROXY", "http://[::1]:3128"),
        ]));
        let v4: SocketAddr = "127.0.0.1:3128".parse().unwrap();
        let v6: SocketAddr = "[::1]:3128".parse().unwrap();
        assert_eq!(
            listeners,
            [
                ListenRoute {
                    listen: v4,
                    required: true,
                    upstream: vec![v4, v6],
                },
                ListenRoute {
                    listen: v6,
                    required: true,
                    upstream: vec![v6, v4],
                },
            ]
        );
    }

    #[test]
    fn specs_round_trip_and_only_loopback_parses() {
        for route in listen_routes(&routes(&[("HTTPS_PROXY", "localhost:8080")])) {
            let spec = ListenSpec::of(&route);
            assert_eq!(ListenSpec::parse(&spec.render()), Ok(spec));
        }
        assert_eq!(
            ListenSpec::parse("[::1]:8080?").map(|spec| spec.required),
            Ok(false)
        );
        for bad in [
            "10.0.0.1:3128",
            "0.0.0.0:3128",
            "127.0.0.1:0",
            "127.0.0.1",
            "localhost:3128",
            "[::]:80",
            "",
        ] {
            assert!(ListenSpec::parse(bad).is_err(), "{bad}");
        }
    }
}

use super::*;
use std::collections::BTreeMap;

fn routes(pairs: &[(&str, &str)]) -> Result<ProxyRoutes, ProxyEnvError> {
    let env: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    proxy_routes(|name| env.get(name).map(|value| (*value).to_owned()))
}

fn endpoint(value: &str) -> Result<ProxyEndpoint, ProxyEnvError> {
    parse_proxy_url("HTTPS_PROXY", value)
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> ProxyEndpoint {
    ProxyEndpoint {
        host: ProxyHost::Address(IpAddr::V4(Ipv4Addr::new(a, b, c, d))),
        port,
    }
}

#[test]
fn loopback_urls_in_every_accepted_spelling() {
    let cases = [
        ("http://127.0.0.1:3128", v4(127, 0, 0, 1, 3128)),
        ("http://127.0.0.1:3128/", v4(127, 0, 0, 1, 3128)),
        ("127.0.0.1:3128", v4(127, 0, 0, 1, 3128)),
        ("https://127.9.8.7:1443", v4(127, 9, 8, 7, 1443)),
        ("http://127.0.0.1:1024", v4(127, 0, 0, 1, 1024)),
        ("socks5h://127.0.0.1:1080", v4(127, 0, 0, 1, 1080)),
        ("socks4a://127.0.0.1:1080", v4(127, 0, 0, 1, 1080)),
        ("http://user:p%40ss@127.0.0.1:3128", v4(127, 0, 0, 1, 3128)),
        ("HTTP://127.0.0.1:3128", v4(127, 0, 0, 1, 3128)),
    ];
    for (text, expected) in cases {
        assert_eq!(endpoint(text), Ok(expected), "{text}");
    }
    assert_eq!(
        endpoint("http://[::1]:8080"),
        Ok(ProxyEndpoint {
            host: ProxyHost::Address(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            port: 8080
        })
    );
    for text in [
        "http://127.0.0.1:80",
        "http://[::1]:80",
        "https://127.0.0.1:443",
    ] {
        let message = endpoint(text).unwrap_err().to_string();
        assert!(
            message.contains("below 1024"),
            "a default port written out counts as given, and is refused: {message}"
        );
    }
    for text in ["http://localhost:3128", "LocalHost:3128"] {
        assert_eq!(
            endpoint(text),
            Ok(ProxyEndpoint {
                host: ProxyHost::Localhost,
                port: 3128
            }),
            "{text}"
        );
    }
}

#[test]
fn localhost_is_listened_on_at_both_loopback_addresses() {
    let localhost = ProxyEndpoint {
        host: ProxyHost::Localhost,
        port: 3128,
    };
    let addresses: Vec<String> = localhost
        .addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(addresses, ["127.0.0.1:3128", "[::1]:3128"]);
}

#[test]
fn non_loopback_proxies_are_refused_naming_variable_and_value() {
    for (text, host) in [
        ("http://10.0.0.5:3128", "10.0.0.5"),
        ("http://192.168.1.1:8080", "192.168.1.1"),
        ("http://proxy.corp.example:3128", "proxy.corp.example"),
        ("http://0.0.0.0:3128", "0.0.0.0"),
        ("http://[::]:3128", "::"),
        ("http://[fe80::1]:3128", "fe80::1"),
        (
            "http://localhost.evil.example:3128",
            "localhost.evil.example",
        ),
    ] {
        let err = endpoint(text).unwrap_err();
        assert_eq!(
            err,
            ProxyEnvError::NotLoopback {
                name: "HTTPS_PROXY",
                value: text.to_owned(),
                host: host.to_owned()
            }
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("HTTPS_PROXY={text:?}")),
            "{message}"
        );
        assert!(message.contains("loopback"), "{message}");
    }
}

#[test]
fn malformed_values_are_refused_with_the_reason() {
    for (text, reason) in [
        ("http://127.0.0.1", "no port"),
        ("127.0.0.1", "no port"),
        ("ftp://127.0.0.1:21", "unsupported scheme `ftp`"),
        ("http://127.0.0.1:3128/path", "no path"),
        ("http://127.0.0.1:3128?x=1", "no path"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://127.0.0.1:0", "port 0 is below 1024"),
        ("http://127.0.0.1:1023", "port 1023 is below 1024"),
        ("http://:3128", "empty host"),
        ("not a url at all", "invalid"),
    ] {
        let err = endpoint(text).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, ProxyEnvError::Malformed { .. }),
            "{text}: {message}"
        );
        assert!(message.contains(reason), "{text}: {message}");
        assert!(message.starts_with("HTTPS_PROXY="), "{message}");
    }
}

#[test]
fn no_variable_at_all_is_refused_and_empty_ones_count_as_unset() {
    assert_eq!(routes(&[]), Err(ProxyEnvError::Missing));
    assert_eq!(
        routes(&[("HTTP_PROXY", ""), ("https_proxy", "")]),
        Err(ProxyEnvError::Missing)
    );
    assert!(
        ProxyEnvError::Missing
            .to_string()
            .contains("HTTPS_PROXY=http://127.0.0.1:3128")
    );
}

#[test]
fn every_set_variable_is_checked_and_endpoints_are_distinct() {
    let found = routes(&[
        ("http_proxy", "http://127.0.0.1:3128"),
        ("HTTPS_PROXY", "127.0.0.1:3128"),
        ("ALL_PROXY", "socks5://127.0.0.1:1080"),
    ])
    .unwrap();
    let names: Vec<&str> = found.variables.iter().map(|var| var.name).collect();
    assert_eq!(names, ["http_proxy", "HTTPS_PROXY", "ALL_PROXY"]);
    assert_eq!(
        found.endpoints,
        [v4(127, 0, 0, 1, 1080), v4(127, 0, 0, 1, 3128)]
    );
    let err = routes(&[
        ("HTTP_PROXY", "http://127.0.0.1:3128"),
        ("all_proxy", "socks5://10.1.1.1:1080"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            ProxyEnvError::NotLoopback {
                name: "all_proxy",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_built_in_proxy_is_named_by_the_three_main_variables() {
    let routes = builtin_routes("127.0.0.1:41000".parse().unwrap());
    let names: Vec<&str> = routes.variables.iter().map(|var| var.name).collect();
    assert_eq!(names, ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]);
    assert!(
        routes
            .variables
            .iter()
            .all(|var| var.value == "http://127.0.0.1:41000")
    );
    assert_eq!(routes.endpoints, [v4(127, 0, 0, 1, 41000)]);
}

#[test]
fn the_first_set_proxy_variable_is_named_with_its_value() {
    let env: BTreeMap<&str, &str> = [("HTTP_PROXY", ""), ("https_proxy", "http://x:1")]
        .into_iter()
        .collect();
    assert_eq!(
        first_proxy_variable(|name| env.get(name).map(|v| (*v).to_owned())),
        Some("https_proxy=http://x:1".to_owned())
    );
    assert_eq!(first_proxy_variable(|_| None), None);
}

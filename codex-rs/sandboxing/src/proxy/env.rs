//! The environment a proxy-routed command gets: the proxy in every form
//! common tools read.
//!
//! The endpoints keep their addresses inside the sandbox (see the parent
//! module), so the URLs are the ones found on the host. What is added:
//!
//! | variables | read by |
//! | --- | --- |
//! | `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and lower-case forms (unset ones filled) | curl, wget, git, pip, cargo, Go, Python `requests`/`urllib`, Ruby, Deno, Bun, conda, Composer |
//! | `NO_PROXY`, `no_proxy` | the same tools: only the sandbox's own loopback |
//! | `npm_config_proxy`, `npm_config_http_proxy`, `npm_config_https_proxy`, `npm_config_noproxy` and upper-case forms | npm, pnpm, yarn 1 |
//! | `YARN_HTTP_PROXY`, `YARN_HTTPS_PROXY` | yarn 2 and later |
//! | `NODE_USE_ENV_PROXY=1`, `ELECTRON_GET_USE_PROXY=true` | Node's built-in `fetch` and `http` (Node 22.21+, 24.5+), Electron downloads |
//! | `WS_PROXY`, `WSS_PROXY` and lower-case forms | WebSocket clients |
//! | `BUNDLE_HTTP_PROXY`, `BUNDLE_HTTPS_PROXY`, `BUNDLE_NO_PROXY` | Bundler |
//! | `DOCKER_HTTP_PROXY`, `DOCKER_HTTPS_PROXY` | Docker tooling |
//! | `FTP_PROXY`, `ftp_proxy` | curl, wget |
//! | `GLOBAL_AGENT_HTTP_PROXY`, `GLOBAL_AGENT_HTTPS_PROXY`, `GLOBAL_AGENT_NO_PROXY` | Node programs using `global-agent` (Electron tooling) |
//! | `PIP_PROXY` | pip (its `--proxy` option) |
//! | `CARGO_HTTP_PROXY` | cargo (`http.proxy`) |
//! | `GIT_CONFIG_COUNT`/`KEY_n`/`VALUE_n`: `http.proxy` | git, also where a user's gitconfig sets another proxy |
//! | `JAVA_TOOL_OPTIONS`: `-Dhttp(s).proxyHost/Port`, `-Dhttp.nonProxyHosts` | every JVM: Maven, Gradle, sbt |
//!
//! Those Codex's managed proxy sets are all among them, so a tool
//! configured for Codex finds its variable here too.
//!
//! `NO_PROXY` names only loopback (`localhost,127.0.0.1,::1`): inside the
//! namespace that is the command's own loopback, and no other address is
//! reachable directly, so a host's `NO_PROXY` entry would only make a
//! tool try a direct connection that cannot succeed. Existing
//! `JAVA_TOOL_OPTIONS` and `GIT_CONFIG_*` entries are kept and extended.

use super::{ProxyRoutes, ProxyVariable};

/// What `NO_PROXY` and its variants hold inside the sandbox.
pub const NO_PROXY_VALUE: &str = "localhost,127.0.0.1,::1";

/// The standard variables, by pair, with the pairs to borrow from (in
/// order) when neither form of a pair is set.
const PAIRS: [(&str, &str, [&str; 2]); 3] = [
    ("HTTP_PROXY", "http_proxy", ["HTTPS_PROXY", "ALL_PROXY"]),
    ("HTTPS_PROXY", "https_proxy", ["ALL_PROXY", "HTTP_PROXY"]),
    ("ALL_PROXY", "all_proxy", ["HTTPS_PROXY", "HTTP_PROXY"]),
];

/// The variables to set for the command (name, value), in a fixed order.
/// `lookup` reads the host environment, for the variables that are
/// extended rather than replaced.
///
/// Every standard variable that is set keeps its value; an unset one takes
/// the other form of its pair, else the nearest other pair. Tools that
/// speak only HTTP to a proxy (npm, yarn, pip, the JVM, `global-agent`)
/// get only `http://` or `https://` URLs, and nothing when the
/// environment names only a SOCKS proxy; git and cargo (libcurl) take any.
pub fn proxy_environment(
    routes: &ProxyRoutes,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let set = |name: &str| -> Option<&ProxyVariable> {
        routes.variables.iter().find(|var| var.name == name)
    };
    let pair = |upper: &str, lower: &str| set(upper).or_else(|| set(lower));
    let mut vars: Vec<(String, String)> = Vec::new();
    for (upper, lower, borrow) in PAIRS {
        let fallback = pair(upper, lower).or_else(|| {
            borrow
                .iter()
                .find_map(|other| pair(other, &other.to_ascii_lowercase()))
        });
        let Some(fallback) = fallback else { continue };
        for name in [upper, lower] {
            let value = set(name).unwrap_or(fallback).value.clone();
            vars.push((name.to_owned(), value));
        }
    }
    for name in ["NO_PROXY", "no_proxy"] {
        vars.push((name.to_owned(), NO_PROXY_VALUE.to_owned()));
    }
    let http_order = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"];
    let https_order = ["HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY"];
    let http_only = |value: &str| is_http_url(value);
    let any = |_: &str| true;
    // The value of the first of `names` set above that `usable` accepts.
    let value_of = |names: &[&str], usable: &dyn Fn(&str) -> bool| -> Option<String> {
        names
            .iter()
            .filter_map(|name| vars.iter().find(|(set, _)| set == name))
            .map(|(_, value)| value.clone())
            .find(|value| usable(value))
    };
    let http = value_of(&http_order, &http_only);
    let https = value_of(&https_order, &http_only);
    let curl = value_of(&https_order, &any);
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: &str| extra.push((name.to_owned(), value.to_owned()));
    if let (Some(http), Some(https)) = (&http, &https) {
        put("npm_config_proxy", http);
        put("npm_config_http_proxy", http);
        put("npm_config_https_proxy", https);
        put("npm_config_noproxy", NO_PROXY_VALUE);
        put("NPM_CONFIG_PROXY", http);
        put("NPM_CONFIG_HTTP_PROXY", http);
        put("NPM_CONFIG_HTTPS_PROXY", https);
        put("NPM_CONFIG_NOPROXY", NO_PROXY_VALUE);
        put("YARN_HTTP_PROXY", http);
        put("YARN_HTTPS_PROXY", https);
        put("NODE_USE_ENV_PROXY", "1");
        put("ELECTRON_GET_USE_PROXY", "true");
        for name in ["WS_PROXY", "ws_proxy"] {
            put(name, http);
        }
        for name in ["WSS_PROXY", "wss_proxy"] {
            put(name, https);
        }
        put("BUNDLE_HTTP_PROXY", http);
        put("BUNDLE_HTTPS_PROXY", https);
        put("BUNDLE_NO_PROXY", NO_PROXY_VALUE);
        put("DOCKER_HTTP_PROXY", http);
        put("DOCKER_HTTPS_PROXY", https);
        put("GLOBAL_AGENT_HTTP_PROXY", http);
        put("GLOBAL_AGENT_HTTPS_PROXY", https);
        put("GLOBAL_AGENT_NO_PROXY", NO_PROXY_VALUE);
        put("PIP_PROXY", https);
    }
    if let Some(curl) = &curl {
        put("CARGO_HTTP_PROXY", curl);
        put("FTP_PROXY", curl);
        put("ftp_proxy", curl);
        let git_count = lookup("GIT_CONFIG_COUNT")
            .and_then(|count| count.trim().parse::<usize>().ok())
            .unwrap_or(0);
        put(&format!("GIT_CONFIG_KEY_{git_count}"), "http.proxy");
        put(&format!("GIT_CONFIG_VALUE_{git_count}"), curl);
        put("GIT_CONFIG_COUNT", &(git_count + 1).to_string());
    }
    if let Some(jvm) = https.as_deref().and_then(jvm_options) {
        let java = match lookup("JAVA_TOOL_OPTIONS").filter(|existing| !existing.trim().is_empty())
        {
            Some(existing) => format!("{existing} {jvm}"),
            None => jvm,
        };
        put("JAVA_TOOL_OPTIONS", &java);
    }
    vars.extend(extra);
    vars
}

/// Whether `value` is an `http://` or `https://` proxy URL (a value
/// without a scheme is read as `http://` by the tools, as here).
fn is_http_url(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || !lower.contains("://")
}

/// `-Dhttp(s).proxyHost/Port` for the proxy `url` names.
fn jvm_options(url: &str) -> Option<String> {
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let parsed = url::Url::parse(&with_scheme).ok()?;
    let host = match parsed.host()? {
        url::Host::Ipv6(ip) => ip.to_string(),
        other => other.to_string(),
    };
    let port = parsed.port_or_known_default()?;
    Some(format!(
        "-Dhttp.proxyHost={host} -Dhttp.proxyPort={port} -Dhttps.proxyHost={host} \
         -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]"
    ))
}

/// `value` with the password of any URL in it replaced by `***`, for
/// showing the environment (`--explain`); text that is not a URL with a
/// password is returned unchanged.
pub fn redact_credentials(value: &str) -> String {
    let Ok(mut url) = url::Url::parse(value) else {
        return value.to_owned();
    };
    if url.password().is_none() || url.set_password(Some("***")).is_err() {
        return value.to_owned();
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::proxy_routes;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn injected(host: &[(&str, &str)]) -> BTreeMap<String, String> {
        let host = env(host);
        let routes = proxy_routes(|name| host.get(name).cloned()).unwrap();
        proxy_environment(&routes, |name| host.get(name).cloned())
            .into_iter()
            .collect()
    }

    #[test]
    fn passwords_are_redacted_for_display() {
        assert_eq!(
            redact_credentials("http://user:s3cret@127.0.0.1:3128"),
            "http://user:***@127.0.0.1:3128/"
        );
        assert_eq!(
            redact_credentials("http://127.0.0.1:3128"),
            "http://127.0.0.1:3128"
        );
        assert_eq!(redact_credentials("1"), "1");
    }

    #[test]
    fn one_variable_fills_every_form() {
        let vars = injected(&[("HTTPS_PROXY", "http://127.0.0.1:3128")]);
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
            "npm_config_proxy",
            "npm_config_https_proxy",
            "YARN_HTTP_PROXY",
            "YARN_HTTPS_PROXY",
            "GLOBAL_AGENT_HTTP_PROXY",
            "GLOBAL_AGENT_HTTPS_PROXY",
            "PIP_PROXY",
            "CARGO_HTTP_PROXY",
            "GIT_CONFIG_VALUE_0",
        ] {
            assert_eq!(
                vars.get(name).map(String::as_str),
                Some("http://127.0.0.1:3128"),
                "{name}"
            );
        }
        for name in [
            "NO_PROXY",
            "no_proxy",
            "npm_config_noproxy",
            "GLOBAL_AGENT_NO_PROXY",
        ] {
            assert_eq!(vars[name], NO_PROXY_VALUE, "{name}");
        }
        assert_eq!(vars["GIT_CONFIG_COUNT"], "1");
        assert_eq!(vars["GIT_CONFIG_KEY_0"], "http.proxy");
        assert_eq!(vars["NODE_USE_ENV_PROXY"], "1");
        assert_eq!(
            vars["JAVA_TOOL_OPTIONS"],
            "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=3128 -Dhttps.proxyHost=127.0.0.1 \
             -Dhttps.proxyPort=3128 -Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]"
        );
    }

    #[test]
    fn http_and_https_keep_their_own_proxies() {
        let vars = injected(&[
            ("http_proxy", "http://127.0.0.1:8080"),
            ("HTTPS_PROXY", "http://user:pw@localhost:3128"),
            ("ALL_PROXY", "socks5h://127.0.0.1:1080"),
        ]);
        assert_eq!(vars["HTTP_PROXY"], "http://127.0.0.1:8080");
        assert_eq!(vars["npm_config_proxy"], "http://127.0.0.1:8080");
        assert_eq!(vars["https_proxy"], "http://user:pw@localhost:3128");
        assert_eq!(vars["CARGO_HTTP_PROXY"], "http://user:pw@localhost:3128");
        assert_eq!(vars["all_proxy"], "socks5h://127.0.0.1:1080");
        assert!(
            vars["JAVA_TOOL_OPTIONS"]
                .contains("-Dhttps.proxyHost=localhost -Dhttps.proxyPort=3128")
        );
    }

    #[test]
    fn each_set_form_keeps_its_value_and_only_unset_ones_are_filled() {
        let vars = injected(&[
            ("http_proxy", "http://127.0.0.1:8080"),
            ("HTTP_PROXY", "http://127.0.0.1:8081"),
        ]);
        assert_eq!(vars["http_proxy"], "http://127.0.0.1:8080");
        assert_eq!(vars["HTTP_PROXY"], "http://127.0.0.1:8081");
        assert_eq!(vars["HTTPS_PROXY"], "http://127.0.0.1:8081");
        assert_eq!(vars["https_proxy"], "http://127.0.0.1:8081");
    }

    #[test]
    fn a_socks_only_environment_reaches_curl_based_tools_and_no_http_only_one() {
        let vars = injected(&[("ALL_PROXY", "socks5h://127.0.0.1:1080")]);
        assert_eq!(vars["HTTPS_PROXY"], "socks5h://127.0.0.1:1080");
        assert_eq!(vars["CARGO_HTTP_PROXY"], "socks5h://127.0.0.1:1080");
        assert_eq!(vars["GIT_CONFIG_VALUE_0"], "socks5h://127.0.0.1:1080");
        for http_only in [
            "npm_config_proxy",
            "YARN_HTTPS_PROXY",
            "PIP_PROXY",
            "JAVA_TOOL_OPTIONS",
            "GLOBAL_AGENT_HTTP_PROXY",
        ] {
            assert!(!vars.contains_key(http_only), "{http_only}");
        }
    }

    #[test]
    fn the_hosts_no_proxy_is_replaced_by_loopback_only() {
        let vars = injected(&[
            ("HTTP_PROXY", "127.0.0.1:3128"),
            ("NO_PROXY", "*.internal,10.0.0.0/8"),
        ]);
        assert_eq!(vars["NO_PROXY"], NO_PROXY_VALUE);
        assert_eq!(vars["no_proxy"], NO_PROXY_VALUE);
    }

    #[test]
    fn existing_java_options_and_git_config_entries_are_extended() {
        let vars = injected(&[
            ("HTTP_PROXY", "http://[::1]:3128"),
            ("JAVA_TOOL_OPTIONS", "-Xmx1g"),
            ("GIT_CONFIG_COUNT", "2"),
        ]);
        assert!(
            vars["JAVA_TOOL_OPTIONS"]
                .starts_with("-Xmx1g -Dhttp.proxyHost=::1 -Dhttp.proxyPort=3128"),
            "{}",
            vars["JAVA_TOOL_OPTIONS"]
        );
        assert_eq!(vars["GIT_CONFIG_COUNT"], "3");
        assert_eq!(vars["GIT_CONFIG_KEY_2"], "http.proxy");
        assert_eq!(vars["GIT_CONFIG_VALUE_2"], "http://[::1]:3128");
        assert!(!vars.contains_key("GIT_CONFIG_KEY_0"));
    }
}

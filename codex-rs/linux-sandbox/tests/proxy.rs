//! Network mode proxy, judged from the host: the command reaches a host
//! server only through the host's loopback proxy, never directly, and
//! never through a Unix socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::os::unix::net::UnixListener;
use std::process::Output;
use std::time::Duration;

use codex_sandboxing::proxy::PROXY_VARIABLES;
use common::net::{TestProxy, TestServer};
use common::{World, assert_code, stderr, stdout};

/// A profile that writes the workspace and reaches the network only
/// through the proxy.
const PROXY_PROFILE: &str = "[permissions.p.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n[permissions.p.network]\nenabled = true\nenvironment_proxy = true\n";

/// Runs `script` under the proxy profile with only `proxy_env` among the
/// proxy variables.
fn run_proxied(world: &World, proxy_env: &[(&str, &str)], script: &str) -> Output {
    world.config(PROXY_PROFILE);
    let mut command = world.command(&["-P", "p"], &["/bin/sh", "-c", script]);
    for name in PROXY_VARIABLES.iter().chain(&["NO_PROXY", "no_proxy"]) {
        command.env_remove(name);
    }
    command.envs(proxy_env.iter().copied());
    command.output().unwrap()
}

/// No caching proxy is needed to tell a routed request from a direct one:
/// the test proxy sends every name to 127.0.0.1, and the name is one no
/// resolver knows, so only the proxy can have served it.
const SERVER_NAME: &str = "test-server.invalid";

#[test]
fn curl_reaches_a_host_server_through_the_host_proxy() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "hello from the host");
    let proxy = TestProxy::start();
    let url = format!("http://{SERVER_NAME}:{}/path", server.addr.port());
    let output = run_proxied(
        &world,
        &[("HTTP_PROXY", &proxy.url())],
        &format!("curl -sS --max-time 10 {url}"),
    );
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "hello from the host");
    assert_eq!(proxy.requests(), [format!("GET {url} HTTP/1.1")]);
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_connect_tunnel_through_the_proxy_works() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "tunnelled");
    let proxy = TestProxy::start();
    let authority = format!("{SERVER_NAME}:{}", server.addr.port());
    let output = run_proxied(
        &world,
        &[("https_proxy", &proxy.url()), ("http_proxy", &proxy.url())],
        &format!("curl -sS --proxytunnel --max-time 10 http://{authority}/"),
    );
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "tunnelled");
    assert_eq!(proxy.requests(), [format!("CONNECT {authority} HTTP/1.1")]);
}

#[test]
fn localhost_proxy_urls_are_routed_too_even_beside_127_0_0_1() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "via localhost");
    let proxy = TestProxy::start();
    let proxy_url = format!("http://localhost:{}", proxy.addr.port());
    // One address in two spellings shares one listener.
    let output = run_proxied(
        &world,
        &[("HTTPS_PROXY", &proxy.url()), ("HTTP_PROXY", &proxy_url)],
        &format!(
            "curl -sS --max-time 10 http://{SERVER_NAME}:{}/",
            server.addr.port()
        ),
    );
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "via localhost");
}

#[test]
fn direct_connections_to_the_host_see_nothing() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("0.0.0.0:0", "direct");
    let proxy = TestProxy::start();
    let port = server.addr.port();
    let mut targets = vec![format!("127.0.0.1:{port}")];
    let host_addresses = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    targets.extend(
        host_addresses
            .split_whitespace()
            .filter(|addr| !addr.contains(':'))
            .map(|addr| format!("{addr}:{port}")),
    );
    let script = targets
        .iter()
        .map(|target| {
            format!(
                "if curl -sS --noproxy '*' --max-time 3 http://{target}/; then echo REACHED {target}; fi"
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let output = run_proxied(&world, &[("HTTP_PROXY", &proxy.url())], &script);
    assert!(!stdout(&output).contains("REACHED"), "{}", stdout(&output));
    assert!(
        !server.saw_connection_within(Duration::from_millis(300)),
        "a direct connection reached the host server"
    );
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn unix_sockets_are_refused_and_socket_pairs_still_work() {
    require_sandbox!();
    let world = World::new();
    let proxy = TestProxy::start();
    let path = world.outside.join("host.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let script = format!(
        "/usr/bin/python3 -c '
import socket
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(\"{}\")
    print(\"CONNECTED\")
except OSError as err:
    print(\"refused\", err.errno)
a, b = socket.socketpair()
a.send(b\"x\")
print(\"pair\", b.recv(1).decode())
'",
        path.display()
    );
    let output = run_proxied(&world, &[("HTTP_PROXY", &proxy.url())], &script);
    assert_code(&output, 0);
    assert_eq!(
        stdout(&output),
        format!("refused {}\npair x\n", libc::EPERM),
        "{}",
        stderr(&output)
    );
    assert!(
        listener.accept().is_err(),
        "the host socket saw a connection"
    );
}

#[test]
fn the_command_gets_the_proxy_in_every_form_and_no_bridge_descriptor() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    let proxy = TestProxy::start();
    let url = proxy.url();
    let output = run_proxied(
        &world,
        &[("HTTPS_PROXY", &url)],
        "env; echo FDS $(ls /proc/self/fd | tr '\\n' ' ')",
    );
    assert_code(&output, 0);
    let text = stdout(&output);
    for expected in [
        format!("HTTP_PROXY={url}"),
        format!("https_proxy={url}"),
        format!("ALL_PROXY={url}"),
        format!("npm_config_https_proxy={url}"),
        format!("CARGO_HTTP_PROXY={url}"),
        format!("PIP_PROXY={url}"),
        "NO_PROXY=localhost,127.0.0.1,::1".to_owned(),
        "GIT_CONFIG_KEY_0=http.proxy".to_owned(),
        format!("-Dhttps.proxyPort={}", proxy.addr.port()),
    ] {
        assert!(text.contains(&expected), "`{expected}` missing: {text}");
    }
    // ls holds one descriptor of its own (3) for the directory it lists.
    assert!(text.contains("FDS 0 1 2 3\n"), "{text}");
}

/// A profile whose enabled network goes through the built-in proxy
/// (Codex's `features.network_proxy`), with these extra network keys
/// (`domains` is written as its own table).
fn builtin_profile(network_keys: &str) -> String {
    format!(
        "[features]\nnetwork_proxy = true\n\
         [permissions.p.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n\
         [permissions.p.network]\nenabled = true\n{network_keys}\n"
    )
}

/// Runs `script` under [`builtin_profile`] with no proxy variable set.
fn run_builtin(world: &World, network_keys: &str, script: &str) -> Output {
    world.config(&builtin_profile(network_keys));
    let mut command = world.command(&["-P", "p"], &["/bin/sh", "-c", script]);
    for name in PROXY_VARIABLES.iter().chain(&["NO_PROXY", "no_proxy"]) {
        command.env_remove(name);
    }
    command.output().unwrap()
}

/// `curl` through the proxy of its environment even to `localhost` (the
/// injected `NO_PROXY` names the sandbox's own loopback), printing the
/// body and then the status code.
fn curl_localhost(port: u16) -> String {
    format!("curl -sS --noproxy '' --max-time 10 -w ' %{{http_code}}' http://localhost:{port}/file")
}

#[test]
fn the_built_in_proxy_lets_an_allowed_name_through() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "allowed body");
    let output = run_builtin(
        &world,
        "[permissions.p.network.domains]\nlocalhost = \"allow\"",
        &curl_localhost(server.addr.port()),
    );
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "allowed body 200", "{}", stderr(&output));
    assert_eq!(server.connections(), 1);
}

#[test]
fn the_built_in_proxy_answers_403_to_a_denied_name_and_logs_it() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "must not be served");
    let port = server.addr.port();
    let output = run_builtin(
        &world,
        "allow_local_binding = true\n[permissions.p.network.domains]\n\"*\" = \"allow\"\nlocalhost = \"deny\"",
        &curl_localhost(port),
    );
    assert_code(&output, 0);
    assert!(stdout(&output).ends_with(" 403"), "{}", stdout(&output));
    assert!(
        stderr(&output).contains(&format!(
            "network: refused GET http://localhost:{port}/file: denied by the domains entry `localhost`"
        )),
        "{}",
        stderr(&output)
    );
    assert!(!server.saw_connection_within(Duration::from_millis(300)));
}

#[test]
fn the_built_in_proxy_refuses_wildcard_matches_that_lead_to_loopback_by_default() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "must not be served");
    let output = run_builtin(
        &world,
        "[permissions.p.network.domains]\n\"*\" = \"allow\"",
        &curl_localhost(server.addr.port()),
    );
    assert!(stdout(&output).ends_with(" 403"), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("a loopback or private address"),
        "{}",
        stderr(&output)
    );
    assert!(!server.saw_connection_within(Duration::from_millis(300)));
}

#[test]
fn the_built_in_proxy_ignores_the_hosts_proxy_variable_and_says_so() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "direct");
    world.config(&builtin_profile(
        "[permissions.p.network.domains]\nlocalhost = \"allow\"",
    ));
    let mut command = world.command(
        &["-P", "p"],
        &["/bin/sh", "-c", &curl_localhost(server.addr.port())],
    );
    for name in PROXY_VARIABLES.iter().chain(&["NO_PROXY", "no_proxy"]) {
        command.env_remove(name);
    }
    let output = command
        .env("https_proxy", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "direct 200", "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "https_proxy=http://127.0.0.1:9 is set, but the built-in proxy connects directly"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn limited_mode_lets_get_through_and_refuses_post() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "limited");
    let port = server.addr.port();
    let output = run_builtin(
        &world,
        "mode = \"limited\"\n[permissions.p.network.domains]\nlocalhost = \"allow\"",
        &format!(
            "{}; echo; curl -sS --noproxy '' --max-time 10 -o /dev/null -w '%{{http_code}}' -X POST http://localhost:{port}/file",
            curl_localhost(port)
        ),
    );
    assert_eq!(stdout(&output), "limited 200\n403", "{}", stderr(&output));
    assert_eq!(server.connections(), 1, "the POST never reached the server");
}

/// Runs `script` with `options` under a config holding only a managed
/// proxy that allows `localhost` (and local addresses, for the test
/// server), with no proxy variable set.
fn run_managed(world: &World, options: &[&str], script: &str) -> Output {
    world.config(&format!(
        "{}[managed_proxy]\nallow_local_binding = true\n[managed_proxy.domains]\nlocalhost = \"allow\"\n",
        common::TEST_PROFILE_CONFIG
    ));
    let mut command = world.command(options, &["/bin/sh", "-c", script]);
    for name in PROXY_VARIABLES.iter().chain(&["NO_PROXY", "no_proxy"]) {
        command.env_remove(name);
    }
    command.output().unwrap()
}

#[test]
fn danger_full_access_under_a_managed_proxy_writes_anywhere_but_reaches_only_the_proxy() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "managed");
    let port = server.addr.port();
    let outside_file = world.outside.join("written-by-danger");
    let config = world.codex_home.join("config.toml");
    let script = format!(
        "echo x > {}; {}; echo; curl -sS --noproxy '*' --max-time 3 http://127.0.0.1:{port}/ || echo DIRECT-FAILED; \
         echo '# emptied' > {} 2>/dev/null || echo CONFIG-KEPT",
        outside_file.display(),
        curl_localhost(port),
        config.display()
    );
    let output = run_managed(&world, &["-P", ":danger-full-access"], &script);
    assert_code(&output, 0);
    assert!(
        common::read(&config).is_some_and(|text| text.contains("[managed_proxy]")),
        "the command changed the configuration that sets the managed proxy"
    );
    assert_eq!(
        common::read(&outside_file).as_deref(),
        Some("x\n"),
        "the whole filesystem is writable"
    );
    let text = stdout(&output);
    assert!(
        text.starts_with("managed 200\n"),
        "{text}\n{}",
        stderr(&output)
    );
    assert!(text.ends_with("DIRECT-FAILED\nCONFIG-KEPT\n"), "{text}");
    assert_eq!(server.connections(), 1, "only the proxied request arrives");
}

#[test]
fn a_managed_proxy_turns_an_enabled_network_into_the_proxy_and_leaves_a_restricted_one_alone() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "managed");
    let port = server.addr.port();
    let online = run_managed(&world, common::NETWORK_ENABLED, &curl_localhost(port));
    assert_eq!(stdout(&online), "managed 200", "{}", stderr(&online));
    let offline = run_managed(&world, &[], &curl_localhost(port));
    assert_ne!(offline.status.code(), Some(0));
    assert_eq!(server.connections(), 1);
}

/// With nothing listening at the proxy's address the route fails closed:
/// the command's connection is closed, and nothing goes direct.
#[test]
fn a_dead_proxy_fails_connections_and_nothing_goes_direct() {
    require_sandbox!();
    let world = World::new();
    let server = TestServer::start("127.0.0.1:0", "must not be served");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let output = run_proxied(
        &world,
        &[("HTTP_PROXY", &dead_url)],
        &format!(
            "curl -sS --max-time 5 http://{SERVER_NAME}:{}/ || echo FAILED",
            server.addr.port()
        ),
    );
    assert_code(&output, 0);
    assert!(stdout(&output).ends_with("FAILED\n"), "{}", stdout(&output));
    assert!(!server.saw_connection_within(Duration::from_millis(300)));
}

/// Proxy passwords reach the command's environment, never bwrap's command
/// line (readable by every local user in `/proc/PID/cmdline`; inside the
/// sandbox, bwrap is PID 1).
#[test]
fn proxy_credentials_stay_out_of_bwraps_command_line() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    let proxy = TestProxy::start();
    let url = format!("http://user:s3cret@{}", proxy.addr);
    let output = run_proxied(
        &world,
        &[("HTTPS_PROXY", &url)],
        "tr '\\0' ' ' < /proc/1/cmdline; echo; echo \"env: $HTTPS_PROXY\"",
    );
    assert_code(&output, 0);
    let text = stdout(&output);
    let (cmdline, env) = text.split_once('\n').unwrap();
    // PID 1 is bwrap's init, or with the guard the inner stage itself
    // (`--as-pid-1`): either way a command line the command can read.
    assert!(
        cmdline.contains("--unshare-net") || cmdline.contains("--codex-inner-stage"),
        "{cmdline}"
    );
    assert!(!cmdline.contains("s3cret"), "{cmdline}");
    assert_eq!(env.trim_end(), format!("env: {url}"));
}

/// The built-in proxy opens no port on the host: it answers only inside
/// the sandbox, so no other local process can use it.
#[test]
fn the_built_in_proxy_is_not_reachable_from_the_host() {
    require_sandbox!();
    use std::io::{BufRead, BufReader};
    let world = World::new();
    world.config(&builtin_profile(
        "[permissions.p.network.domains]\nlocalhost = \"allow\"",
    ));
    let mut command = world.command(
        &["-P", "p"],
        &["/bin/sh", "-c", "echo \"$HTTP_PROXY\"; sleep 2"],
    );
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no proxy URL: {line:?}"));
    let reached = std::net::TcpStream::connect(("127.0.0.1", port));
    let _ = child.wait();
    assert!(
        reached.is_err(),
        "the built-in proxy answered on host port {port}"
    );
}

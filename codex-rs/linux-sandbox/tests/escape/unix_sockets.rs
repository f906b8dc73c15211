//! Attacks on the host's Unix sockets (`docker.sock`, D-Bus, agents): by
//! path, through links and descriptors, by abstract name, by datagram.
//! Each must fail in every network mode; with the network enabled the
//! sandbox shares the host's network namespace, so it is the guard's
//! supervisor that closes them.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::path::Path;

use super::{Attack, Target, connected, plain, run_attacks_with};
use crate::common::{NETWORK_ENABLED, TEST_PROFILE_CONFIG, World};
use crate::require_sandbox;

/// A host listener at `dir/host.sock`.
fn listening_in(world: &World, dir: &Path) -> Target {
    let mut target = plain(world);
    let listener = UnixListener::bind(dir.join("host.sock")).unwrap();
    listener.set_nonblocking(true).unwrap();
    target.unix = Some(listener);
    target
}

/// A host listener outside every writable root.
fn listening_outside(world: &World) -> Target {
    listening_in(world, &world.outside)
}

/// A host listener in the workspace, made before the sandbox starts.
fn listening_in_the_workspace(world: &World) -> Target {
    listening_in(world, &world.ws)
}

/// The abstract name of this target's listener.
fn abstract_name(target: &Target) -> String {
    format!("codex-escape-{}", target.outside.display())
}

/// A host listener outside, hard-linked into the workspace before the
/// sandbox starts (inside, the workspace is a mount of its own, and a
/// link across mounts fails).
fn hard_linked_into_the_workspace(world: &World) -> Target {
    let target = listening_outside(world);
    std::fs::hard_link(world.outside.join("host.sock"), world.ws.join("hard.sock")).unwrap();
    target
}

fn listening_on_an_abstract_name(world: &World) -> Target {
    let mut target = plain(world);
    let address = SocketAddr::from_abstract_name(abstract_name(&target).as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&address).unwrap();
    listener.set_nonblocking(true).unwrap();
    target.unix = Some(listener);
    target
}

fn receiving_datagrams(world: &World) -> Target {
    let mut target = plain(world);
    let socket = UnixDatagram::bind(target.outside.join("host.dgram")).unwrap();
    socket.set_nonblocking(true).unwrap();
    target.datagram = Some(socket);
    target
}

/// A Python script connecting a Unix stream socket to the address
/// expression `address`, after the statements `before`.
fn python_connect(before: &str, address: &str) -> String {
    format!(
        "/usr/bin/python3 -c 'import os, socket\n{before}\ns = socket.socket(socket.AF_UNIX)\ns.connect({address})'"
    )
}

fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            name: "a host Unix socket by path (read-only there)",
            setup: listening_outside,
            script: |t| python_connect("", &format!("\"{}/host.sock\"", t.outside.display())),
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a host Unix socket in the workspace",
            setup: listening_in_the_workspace,
            script: |_| python_connect("", "\"host.sock\""),
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a host Unix socket through a symbolic link",
            setup: listening_outside,
            script: |t| {
                python_connect(
                    &format!(
                        "os.symlink(\"{}/host.sock\", \"link.sock\")",
                        t.outside.display()
                    ),
                    "\"link.sock\"",
                )
            },
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a host Unix socket through a hard link in the workspace",
            setup: hard_linked_into_the_workspace,
            script: |_| python_connect("", "\"hard.sock\""),
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a host Unix socket through /proc/self/fd",
            setup: listening_outside,
            script: |t| {
                python_connect(
                    &format!(
                        "fd = os.open(\"{}/host.sock\", os.O_PATH)",
                        t.outside.display()
                    ),
                    "\"/proc/self/fd/%d\" % fd",
                )
            },
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a host abstract Unix socket",
            setup: listening_on_an_abstract_name,
            script: |t| python_connect("", &format!("\"\\0{}\"", abstract_name(t))),
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a datagram to a host Unix socket",
            setup: receiving_datagrams,
            script: |t| {
                format!(
                    "/usr/bin/python3 -c 'import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.sendto(b\"x\", \"{}/host.dgram\")'",
                    t.outside.display()
                )
            },
            escaped: connected,
            control: true,
        },
    ]
}

#[test]
fn no_host_unix_socket_is_reachable_with_the_network_enabled() {
    require_sandbox!();
    run_attacks_with(None, NETWORK_ENABLED, attacks());
}

#[test]
fn no_host_unix_socket_is_reachable_with_the_network_restricted() {
    require_sandbox!();
    run_attacks_with(None, &[], attacks());
}

#[test]
fn no_host_unix_socket_is_reachable_with_the_network_proxy_routed() {
    require_sandbox!();
    let config = format!(
        "{TEST_PROFILE_CONFIG}[permissions.test-workspace.network]\nenabled = true\n\
         [features]\nnetwork_proxy = true\n"
    );
    run_attacks_with(Some(&config), &[], attacks());
}

/// With a socket listed, every other stays closed, in every mode (the
/// filter is relaxed for Unix stream sockets then, and the supervisor
/// alone decides).
#[test]
fn no_unlisted_host_unix_socket_is_reachable_when_another_is_listed() {
    require_sandbox!();
    for network in [
        "",
        "enabled = true\n",
        "enabled = true\n[features]\nnetwork_proxy = true\n",
    ] {
        let config = format!(
            "{TEST_PROFILE_CONFIG}[permissions.test-workspace.network]\n\
             unix_sockets = {{ \"/nonexistent/listed.sock\" = \"allow\" }}\n{network}"
        );
        run_attacks_with(Some(&config), &[], attacks());
    }
}

//! Proxy-only egress on Linux (`network.mode = "proxy"`).
//!
//! The sandbox gets its own network namespace, holding only loopback. For
//! each proxy endpoint of the environment (`codex_sandboxing::proxy`):
//!
//! 1. the outer stage (`codex`, on the host) makes a socket pair and passes
//!    one end down through bwrap to the inner stage, with the route spec
//!    ([`routes`]) in the inner stage's hidden arguments;
//! 2. the inner stage, inside the namespaces and before the command
//!    starts, listens on each endpoint's loopback address and port, hands
//!    the listening sockets up through the pair ([`handoff`]) and closes
//!    its own copies, then sets `no_new_privs`, installs the proxy-routed
//!    seccomp filter (no `AF_UNIX` sockets) and execs the command;
//! 3. the outer stage accepts on those listeners and forwards every
//!    connection to the same address on the host ([`forward`]).
//!
//! A socket belongs to the namespace it was made in, wherever its
//! descriptor goes: the listeners stay reachable only from inside the
//! sandbox, and the connections the bridge makes only reach the host's
//! loopback proxy. So no process of ours runs inside the sandbox beside
//! the command (nothing there for it to signal, trace or read through
//! `/proc`), no Unix socket is bound into its filesystem, and each byte
//! crosses one `splice` hop. The command cannot reach the bridge except
//! through the listeners, and when the bridge ends its listeners close:
//! there is never a direct way out.

pub mod builtin;
pub mod forward;
pub mod handoff;
pub mod routes;

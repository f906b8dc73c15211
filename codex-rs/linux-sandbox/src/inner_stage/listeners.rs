//! The inner stage's part of proxy routing: listen on each route's
//! loopback address inside the sandbox's network namespace and hand the
//! listening sockets up to the outer stage (see [`crate::proxy`]). Runs
//! before the command exists, and keeps no copy of any socket.

use std::net::TcpListener;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use crate::fd::is_open;
use crate::protocol::{ProxyStageArgs, StageReport, StageStep};
use crate::proxy::handoff::send_listeners;

/// Opens the listeners `proxy` names and sends them through its channel,
/// which is closed on return. A required address that cannot be listened
/// on stops the sandbox; an optional one (`localhost`'s `::1`) is skipped
/// only where this kernel has no such address.
pub(super) fn hand_over_listeners(proxy: &ProxyStageArgs) -> Result<(), StageReport> {
    let failed = |message: String| StageReport::new(StageStep::ProxyListeners, message);
    let fd = proxy.channel_fd;
    if !is_open(fd) {
        return Err(failed(format!("proxy descriptor {fd} is not open")));
    }
    // SAFETY: `fd` is open (checked above) and, by the stage's protocol,
    // handed to this process alone to own.
    let channel = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut bound = Vec::new();
    for (index, spec) in proxy.listen.iter().enumerate() {
        match TcpListener::bind(spec.addr) {
            Ok(listener) => bound.push((index, listener)),
            Err(err)
                if !spec.required
                    && matches!(
                        err.raw_os_error(),
                        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
                    ) => {}
            Err(err) => {
                return Err(failed(format!(
                    "cannot listen on {} inside the sandbox for the proxy route: {err}",
                    spec.addr
                )));
            }
        }
    }
    let mut listeners = Vec::with_capacity(bound.len());
    for (index, listener) in &bound {
        let index =
            u8::try_from(*index).map_err(|_| failed("too many proxy routes".to_string()))?;
        listeners.push((index, listener.as_fd()));
    }
    send_listeners(channel.as_fd(), &listeners).map_err(|err| {
        failed(format!(
            "cannot hand the proxy listeners to the outer stage: {err}"
        ))
    })
}

//! Dropping every capability before the legacy pipeline's command starts.
//!
//! bwrap drops them for the bubblewrap pipeline (`--cap-drop ALL`). Here
//! nothing else does, and root in a container keeps a set that Landlock
//! and the seccomp filter do not cover (`CAP_SYS_ADMIN` lets `TIOCSTI`
//! push input into any terminal, `CAP_SYS_TIME` sets the clock,
//! `CAP_SYS_MODULE` loads a kernel module). They are dropped in this
//! process, which then supervises the command: whatever it carries out for
//! the command, the command could have done itself.

use caps::CapSet;

/// `SECBIT_NOROOT | SECBIT_NOROOT_LOCKED`: exec gives uid 0 no
/// capabilities, and that cannot be undone (not in the `caps` crate).
const SECBITS_NOROOT_LOCKED: libc::c_ulong = 0b11;

/// Drops every capability of this thread, and for root also the bounding
/// set and root's capabilities at exec, so that neither this process nor
/// anything it execs has one. Call it before any other thread starts
/// (capabilities are per thread). An error names what could not be
/// dropped; the command must not start then.
pub fn drop_all() -> Result<(), String> {
    fn failed(what: &'static str) -> impl Fn(caps::errors::CapsError) -> String {
        move |err| format!("cannot drop {what}: {err}")
    }
    caps::clear(None, CapSet::Ambient).map_err(failed("the ambient capabilities"))?;
    // Root (`CAP_SETPCAP`, in Docker's default set) can empty the bounding
    // set and lock exec out of root's capabilities; a user without it has
    // nothing there that exec could give (no_new_privs ignores file
    // capabilities).
    if caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false) {
        caps::clear(None, CapSet::Bounding).map_err(failed("the bounding set"))?;
        // SAFETY: PR_SET_SECUREBITS takes a plain integer.
        if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECBITS_NOROOT_LOCKED, 0, 0, 0) } != 0 {
            return Err(format!(
                "cannot drop root's capabilities at exec: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(failed("this process's capabilities"))?;
    }
    let left: Vec<String> = [CapSet::Permitted, CapSet::Effective, CapSet::Ambient]
        .into_iter()
        .filter_map(|set| caps::read(None, set).ok())
        .flatten()
        .map(|cap| cap.to_string())
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "capabilities left after dropping them all: {}",
            left.join(", ")
        ))
    }
}

//! `codex-linux-sandbox`: runs a command under bubblewrap and seccomp.
//!
//! Pure parts (planner, renderer, filter builder) are separate from the code
//! that touches the system (launcher, executor), so every rule of the policy
//! is unit-tested without root.

pub mod fs_view;
pub mod plan;
pub mod render;
pub mod seccomp;

//! The sandbox policy model: profiles, configuration and resolution.
//!
//! Everything here is pure (config files and `/proc` text are read, nothing
//! is changed), so each rule of the policy is a unit test without root:
//!
//! ```text
//! config.toml + -p/-c/--enable  --(config)-->   ConfigToml
//! ConfigToml + -P               --(profile)-->  Profile
//! Profile + cwd/env             --(resolve)-->  EffectivePolicy
//! ```
//! [`request::build_policy`] runs the whole chain for a front end.

pub mod access;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod environment;
pub mod exit_status;
pub mod glob;
pub mod host;
pub mod host_git;
pub mod namespaces;
pub mod profile;
pub mod protected;
pub mod proxy;
pub mod request;
pub mod resolve;
pub mod sandbox_state;
pub mod seatbelt;
pub mod unix_sockets;

pub use access::Access;
pub use profile::{NetworkMode, Profile, select_profile};
pub use resolve::{EffectivePolicy, ResolveContext, SandboxPolicy, resolve};

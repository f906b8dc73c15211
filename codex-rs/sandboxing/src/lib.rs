//! The sandbox policy model: profiles, configuration and resolution.
//!
//! Everything here is pure (config files are read, nothing is changed), so
//! each rule of the policy is a unit test without root:
//!
//! ```text
//! config.toml + -p/-c/--enable  --(config)-->   ConfigToml
//! ConfigToml + -P               --(profile)-->  Profile
//! Profile + cwd/env             --(resolve)-->  EffectivePolicy
//! ```

pub mod access;
pub mod config;

pub use access::Access;
pub mod profile;
pub mod resolve;

pub use profile::{NetworkMode, Profile, select_profile};
pub use resolve::{EffectivePolicy, ResolveContext, SandboxPolicy, resolve};

//! Config parser and resolver: any text as `config.toml`, every profile it
//! defines and every built-in. Invariants: nothing panics, and every
//! resolved policy is well-formed: rules sorted by absolute, normalised
//! paths, one per path, and each rule's path decided by that rule.
#![no_main]

use std::path::{Component, Path};

use codex_sandboxing::config::LoadedConfig;
use codex_sandboxing::profile::{BUILT_IN_PROFILES, select_profile};
use codex_sandboxing::resolve::{ResolveContext, resolve};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(loaded) = LoadedConfig::from_file_text(Path::new("/fuzz/config.toml"), text) else {
        return;
    };
    let context = ResolveContext {
        cwd: "/work/ws".into(),
        home: Some("/home/me".into()),
        tmpdir: Some("/tmp/me".into()),
    };
    let names: Vec<String> = BUILT_IN_PROFILES
        .iter()
        .map(|name| (*name).to_owned())
        .chain(loaded.config.permissions.keys().cloned())
        .collect();
    for name in names.iter().map(Some).chain([None]) {
        let Ok(profile) = select_profile(&loaded, name.map(String::as_str)) else {
            continue;
        };
        let Ok(policy) = resolve(&profile, &context) else {
            continue;
        };
        let Some(sandbox) = policy.sandbox else {
            continue;
        };
        for pair in sandbox.rules.windows(2) {
            assert!(pair[0].path < pair[1].path, "rules not sorted and unique");
        }
        for rule in &sandbox.rules {
            assert!(
                rule.path.is_absolute(),
                "relative rule {}",
                rule.path.display()
            );
            assert!(
                rule.path
                    .components()
                    .all(|part| !matches!(part, Component::CurDir | Component::ParentDir)),
                "unnormalised rule {}",
                rule.path.display()
            );
            assert_eq!(sandbox.access_for(&rule.path), rule.access);
        }
        for glob in &sandbox.deny_globs {
            assert!(glob.root.is_absolute());
        }
    }
});

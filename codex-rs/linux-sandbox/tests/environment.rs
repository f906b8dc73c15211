//! `[shell_environment_policy]`, checked from outside: variables are set
//! on the helper's own process and the command prints what it sees.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{NETWORK_ENABLED, World, assert_code, stdout};

const HOST_VARIABLES: &[(&str, &str)] = &[
    ("MY_SECRET", "s3cr3t-value"),
    ("GH_TOKEN", "token-value"),
    ("aws_access_key_id", "key-value"),
    ("PLAIN_SETTING", "plain-value"),
];

/// The command's environment, one `NAME=value` per line, under `options`.
fn seen(world: &World, options: &[&str]) -> String {
    let mut command = world.command(options, &["env"]);
    command.envs(HOST_VARIABLES.iter().copied());
    let output = command.output().expect("run helper");
    assert_code(&output, 0);
    stdout(&output)
}

fn has(env: &str, name: &str) -> bool {
    env.lines()
        .any(|line| line.starts_with(&format!("{name}=")))
}

#[test]
fn by_default_secrets_do_not_reach_the_command_and_other_variables_do() {
    require_sandbox!();
    let world = World::new();
    let env = seen(&world, &[]);
    for (name, value) in HOST_VARIABLES {
        let expected = *name == "PLAIN_SETTING";
        assert_eq!(has(&env, name), expected, "{name} in:\n{env}");
        assert_eq!(env.contains(value), expected, "{value} in:\n{env}");
    }
    assert!(has(&env, "PATH") && has(&env, "HOME"), "{env}");
    assert!(
        env.lines()
            .any(|line| line == "CODEX_SANDBOX_NETWORK_DISABLED=1"),
        "{env}"
    );
    assert!(
        env.lines()
            .any(|line| line == format!("PWD={}", world.ws.display())),
        "{env}"
    );
}

#[test]
fn codex_default_of_keeping_secrets_is_one_setting_away() {
    require_sandbox!();
    let world = World::new();
    // The example of Codex's own --help, and the setting that keeps
    // secrets as Codex 0.171 does by default.
    let env = seen(
        &world,
        &[
            "-c",
            "shell_environment_policy.inherit=all",
            "-c",
            "shell_environment_policy.ignore_default_excludes=true",
        ],
    );
    assert!(has(&env, "MY_SECRET") && has(&env, "GH_TOKEN"), "{env}");
}

#[test]
fn inherit_none_leaves_only_what_set_adds() {
    require_sandbox!();
    let world = World::new();
    world.config(&format!(
        "{}\n[shell_environment_policy]\ninherit = \"none\"\nset = {{ ONLY = \"this\" }}\n",
        common::TEST_PROFILE_CONFIG
    ));
    // `env` is found without PATH, where execvp looks by default.
    let env = seen(&world, &[]);
    let names: Vec<&str> = env
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    assert_eq!(
        names,
        ["CODEX_SANDBOX_NETWORK_DISABLED", "ONLY", "PWD"],
        "{env}"
    );
}

#[test]
fn exclude_include_only_and_core_apply() {
    require_sandbox!();
    let world = World::new();
    let env = seen(
        &world,
        &["-c", "shell_environment_policy.exclude=[\"plain_*\"]"],
    );
    assert!(!has(&env, "PLAIN_SETTING") && has(&env, "PATH"), "{env}");
    let env = seen(
        &world,
        &[
            "-c",
            "shell_environment_policy.include_only=[\"pl?in_*\", \"PWD\"]",
        ],
    );
    assert!(has(&env, "PLAIN_SETTING") && !has(&env, "PATH"), "{env}");
    let env = seen(&world, &["-c", "shell_environment_policy.inherit=\"core\""]);
    assert!(!has(&env, "PLAIN_SETTING") && has(&env, "PATH"), "{env}");
}

#[test]
fn with_the_network_on_there_is_no_network_marker() {
    require_sandbox!();
    let world = World::new();
    let env = seen(&world, NETWORK_ENABLED);
    assert!(!has(&env, "CODEX_SANDBOX_NETWORK_DISABLED"), "{env}");
}

#[test]
fn without_a_sandbox_the_policy_still_applies() {
    let world = World::new();
    let env = seen(&world, &["-P", ":danger-full-access"]);
    assert!(
        !has(&env, "MY_SECRET") && has(&env, "PLAIN_SETTING"),
        "{env}"
    );
    assert!(!has(&env, "CODEX_SANDBOX_NETWORK_DISABLED"), "{env}");
}

#[test]
fn the_command_is_looked_up_on_its_own_path() {
    let world = World::new();
    let tools = world.outside.join("tools");
    std::fs::create_dir(&tools).expect("mkdir");
    let tool = tools.join("only-here");
    std::fs::write(&tool, "#!/bin/sh\necho found\n").expect("write tool");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/bin:/bin", tools.display());
    let run = |options: &[&str]| {
        world
            .command(
                &[&["-P", ":danger-full-access"], options].concat(),
                &["only-here"],
            )
            .env("PATH", &path)
            .output()
            .expect("run helper")
    };
    let found = run(&[]);
    assert_code(&found, 0);
    assert_eq!(stdout(&found).trim(), "found");
    // Without PATH in the command's environment, only execvp's default
    // directories are searched, so the tool is not found: 127.
    let missing = run(&["-c", "shell_environment_policy.inherit=\"none\""]);
    assert_code(&missing, 127);
}

use super::*;
use std::collections::BTreeMap;

fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(name, value)| (OsString::from(name), OsString::from(value)))
        .collect()
}

fn names(env: &CommandEnvironment) -> Vec<String> {
    env.vars()
        .iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect()
}

fn policy(toml: &str) -> ShellEnvironmentPolicyToml {
    toml::from_str(toml).expect("a valid policy")
}

const HOST: &[(&str, &str)] = &[
    ("PATH", "/usr/bin"),
    ("HOME", "/home/me"),
    ("LANG", "C.UTF-8"),
    ("MY_SECRET", "s"),
    ("api_key", "k"),
    ("GH_TOKEN", "t"),
    ("MONKEY", "m"),
    ("FOO", "1"),
    ("FOX", "2"),
    ("DISPLAY", ":0"),
];

#[test]
fn by_default_everything_but_key_secret_and_token_names_is_kept() {
    let env = policy_environment(&policy(""), vars(HOST));
    assert_eq!(
        names(&env),
        ["DISPLAY", "FOO", "FOX", "HOME", "LANG", "PATH"]
    );
}

#[test]
fn ignore_default_excludes_keeps_secrets_as_codex_does_by_default() {
    let env = policy_environment(&policy("ignore_default_excludes = true"), vars(HOST));
    assert_eq!(env.vars().len(), HOST.len());
    assert_eq!(env.get("MY_SECRET"), Some(OsStr::new("s")));
}

#[test]
fn core_keeps_only_the_core_variables() {
    let env = policy_environment(&policy("inherit = \"core\""), vars(HOST));
    assert_eq!(names(&env), ["HOME", "LANG", "PATH"]);
}

#[test]
fn none_keeps_only_what_set_adds() {
    let env = policy_environment(
        &policy("inherit = \"none\"\nset = { A = \"1\", MY_TOKEN = \"set\" }"),
        vars(HOST),
    );
    assert_eq!(
        names(&env),
        ["A", "MY_TOKEN"],
        "set comes after the excludes"
    );
}

#[test]
fn exclude_and_include_only_match_whole_names_in_any_case() {
    let env = policy_environment(
        &policy("exclude = [\"*x\"]\ninclude_only = [\"fo?\", \"p*\"]"),
        vars(HOST),
    );
    assert_eq!(names(&env), ["FOO", "PATH"]);
    let env = policy_environment(&policy("exclude = [\"o\"]"), vars(HOST));
    assert!(env.get("FOO").is_some(), "a pattern matches the whole name");
}

#[test]
fn only_star_and_question_mark_are_wildcards() {
    let env = policy_environment(
        &policy("ignore_default_excludes = true\ninclude_only = [\"[a]*\", \"{FOO,FOX}\"]"),
        vars(&[("a1", "x"), ("[A]B", "y"), ("FOO", "z")]),
    );
    assert_eq!(names(&env), ["[A]B"]);
}

#[test]
fn set_replaces_an_inherited_value() {
    let env = policy_environment(&policy("set = { HOME = \"/elsewhere\" }"), vars(HOST));
    assert_eq!(env.get("HOME"), Some(OsStr::new("/elsewhere")));
}

#[test]
fn a_sandboxed_command_gets_pwd_and_the_network_marker_over_set() {
    let mut set = BTreeMap::new();
    set.insert(NETWORK_DISABLED_VARIABLE.to_string(), "0".to_string());
    set.insert("PWD".to_string(), "/x".to_string());
    let policy = ShellEnvironmentPolicyToml {
        set,
        ..ShellEnvironmentPolicyToml::default()
    };
    let env = sandboxed_environment(&policy, vars(HOST), Path::new("/work/ws"), true);
    assert_eq!(env.get("PWD"), Some(OsStr::new("/work/ws")));
    assert_eq!(env.get(NETWORK_DISABLED_VARIABLE), Some(OsStr::new("1")));
    let online = sandboxed_environment(&policy, vars(HOST), Path::new("/w"), false);
    assert_eq!(online.get(NETWORK_DISABLED_VARIABLE), Some(OsStr::new("0")));
}

#[test]
fn the_search_path_falls_back_to_execvps_default() {
    let env = policy_environment(&policy("inherit = \"none\""), vars(HOST));
    assert_eq!(env.search_path(), OsStr::new(DEFAULT_SEARCH_PATH));
    let env = policy_environment(&policy(""), vars(HOST));
    assert_eq!(env.search_path(), OsStr::new("/usr/bin"));
}

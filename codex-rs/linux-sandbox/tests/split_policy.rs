//! Split policies at scale: random rule sets over a small tree, run under
//! real bwrap, and every path checked from outside against the access its
//! deepest rule grants. The oracle below is written independently of the
//! planner: longest matching rule path, else `:root` (read).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use common::{World, stderr, stdout};

/// Directories of the tree, parents first; each holds a file `f`.
const DIRS: [&str; 6] = ["", "a", "a/b", "a/b/c", "d", "d/e"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    None,
    Read,
    Write,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// Every path a rule may name: the directories, then their files.
fn rule_targets() -> Vec<String> {
    DIRS.iter()
        .map(|dir| dir.to_string())
        .chain(DIRS.iter().map(|dir| join(dir, "f")))
        .collect()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The oracle: access of `path` (relative to the tree) under `rules`.
fn expected(rules: &[(String, Access)], path: &str) -> Access {
    rules
        .iter()
        .filter(|(rule, _)| {
            rule.is_empty() || path == rule || path.starts_with(&format!("{rule}/"))
        })
        .max_by_key(|(rule, _)| {
            if rule.is_empty() {
                0
            } else {
                rule.split('/').count()
            }
        })
        .map_or(Access::Read, |(_, access)| *access)
}

fn token(path: &str) -> String {
    format!("TOKEN[{path}]")
}

/// Runs one case: a fresh tree, the rules as a profile, one sandboxed
/// script that reads every file, appends to every file and creates a file
/// in every directory; then compares what happened with the oracle.
fn check_case(world: &World, case: usize, rules: &[(String, Access)]) -> Result<(), TestCaseError> {
    let tree = world.outside.join(format!("tree{case}"));
    for dir in DIRS {
        let dir_path = tree.join(dir);
        std::fs::create_dir_all(&dir_path).unwrap();
        let file = join(dir, "f");
        std::fs::write(tree.join(&file), token(&file)).unwrap();
    }
    let mut config = String::from(
        "default_permissions = \"split\"\n[permissions.split.filesystem]\n\":root\" = \"read\"\n",
    );
    for (path, access) in rules {
        let absolute = tree.join(path);
        config.push_str(&format!(
            "{:?} = \"{}\"\n",
            absolute.display().to_string(),
            access.as_str()
        ));
    }
    world.config(&config);
    let mut script = String::new();
    for dir in DIRS {
        let file = tree.join(join(dir, "f"));
        script.push_str(&format!("cat '{}' 2>/dev/null; echo; ", file.display()));
    }
    for dir in DIRS {
        let file = tree.join(join(dir, "f"));
        let new = tree.join(join(dir, "new"));
        script.push_str(&format!(
            "echo APPENDED >> '{}' 2>/dev/null; echo made > '{}' 2>/dev/null; ",
            file.display(),
            new.display()
        ));
    }
    script.push_str("true");
    let output = world
        .command_in(&world.outside, &[], &["sh", "-c", &script])
        .output()
        .unwrap();
    prop_assert_eq!(
        output.status.code(),
        Some(0),
        "config:\n{}\nstderr: {}",
        config,
        stderr(&output)
    );
    let seen = stdout(&output);
    for dir in DIRS {
        let file = join(dir, "f");
        let access = expected(rules, &file);
        let readable = seen.contains(&token(&file));
        prop_assert_eq!(
            readable,
            access != Access::None,
            "read {} (expected {:?}) with rules {:?}",
            file,
            access,
            rules
        );
        let content = std::fs::read_to_string(tree.join(&file)).unwrap();
        prop_assert_eq!(
            content.contains("APPENDED"),
            access == Access::Write,
            "append to {} (expected {:?}) with rules {:?}",
            file,
            access,
            rules
        );
        let dir_access = expected(rules, dir);
        let created = tree.join(join(dir, "new")).exists();
        prop_assert_eq!(
            created,
            dir_access == Access::Write,
            "create in /{} (expected {:?}) with rules {:?}",
            dir,
            dir_access,
            rules
        );
    }
    let _ = std::fs::remove_dir_all(&tree);
    Ok(())
}

fn access_strategy() -> impl Strategy<Value = Option<Access>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Access::None)),
        1 => Just(Some(Access::Read)),
        2 => Just(Some(Access::Write)),
    ]
}

fn rules_strategy() -> impl Strategy<Value = Vec<(String, Access)>> {
    let targets = rule_targets();
    proptest::collection::vec(access_strategy(), targets.len()).prop_map(move |choices| {
        targets
            .iter()
            .zip(choices)
            .filter_map(|(path, access)| access.map(|access| (path.clone(), access)))
            .collect()
    })
}

/// Cases to run: `CODEX_SPLIT_POLICY_CASES`, else 256.
fn cases() -> u32 {
    std::env::var("CODEX_SPLIT_POLICY_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(256)
}

#[test]
fn random_split_policies_grant_exactly_what_the_deepest_rule_says() {
    require_sandbox!();
    let world = World::new();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::cell::Cell::new(0usize);
    let result = runner.run(&rules_strategy(), |rules| {
        counter.set(counter.get() + 1);
        check_case(&world, counter.get(), &rules)
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}

#[test]
fn the_oracle_takes_the_deepest_rule() {
    let rules = vec![
        ("a".to_string(), Access::Write),
        ("a/b".to_string(), Access::None),
        ("a/b/c".to_string(), Access::Write),
        ("d/f".to_string(), Access::None),
    ];
    assert_eq!(expected(&rules, "f"), Access::Read);
    assert_eq!(expected(&rules, "a/f"), Access::Write);
    assert_eq!(expected(&rules, "a/b/f"), Access::None);
    assert_eq!(expected(&rules, "a/b/c/f"), Access::Write);
    assert_eq!(expected(&rules, "d/f"), Access::None);
    assert_eq!(expected(&rules, "d"), Access::Read);
}

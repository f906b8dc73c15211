//! Golden files for the generated profiles (rewrite them with
//! `UPDATE_GOLDEN=1 cargo test -p codex-sandboxing seatbelt`), a parser
//! check that each is one well-formed list of s-expressions, and the glob
//! translation checked against globset itself.

use super::*;
use crate::config::LoadedConfig;
use crate::profile::select_profile;
use crate::proxy::{ProxyEndpoint, ProxyHost};
use crate::resolve::{ResolveContext, resolve};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

fn context(cwd: &str) -> ResolveContext {
    ResolveContext {
        cwd: cwd.into(),
        home: Some("/Users/me".into()),
        tmpdir: Some("/var/folders/zz/abc/T".into()),
    }
}

fn policy(toml: &str, profile: &str, cwd: &str) -> SandboxPolicy {
    let loaded = LoadedConfig::from_test_toml(toml);
    let profile = select_profile(&loaded, Some(profile)).unwrap();
    resolve(&profile, &context(cwd))
        .unwrap()
        .sandbox
        .expect("sandboxed")
}

fn golden(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/seatbelt/golden")
        .join(format!("{name}.sb"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(text, expected, "{name} differs from {}", path.display());
}

fn proxy_endpoint(port: u16) -> ProxyEndpoint {
    ProxyEndpoint {
        host: ProxyHost::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port,
    }
}

/// Each case: golden name, config, profile, workspace, network.
fn cases() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    SeatbeltNetwork,
)> {
    vec![
        (
            "read-only",
            "",
            ":read-only",
            "/Users/me/project",
            SeatbeltNetwork::Denied,
        ),
        (
            "workspace",
            "",
            ":workspace",
            "/Users/me/project",
            SeatbeltNetwork::Denied,
        ),
        (
            "workspace-network",
            "[permissions.net.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n\
             \":tmpdir\" = \"write\"\n[permissions.net.network]\nenabled = true\n",
            "net",
            "/Users/me/project",
            SeatbeltNetwork::Enabled,
        ),
        (
            "split-with-globs",
            "[permissions.dev.filesystem]\n\":root\" = \"read\"\n\
             \"/Users/me/project/secrets\" = \"none\"\n\"/Users/me/project/secrets/scratch\" = \"write\"\n\
             \"~/.ssh/id_*\" = \"none\"\n\
             [permissions.dev.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n\"**/*.env\" = \"none\"\n\
             \"config/{prod,staging}/*.pem\" = \"none\"\n\"build\" = \"read\"\n",
            "dev",
            "/Users/me/project",
            SeatbeltNetwork::Denied,
        ),
        (
            "proxy",
            "[permissions.deps.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n\
             [permissions.deps.network]\nenabled = true\nenvironment_proxy = true\n",
            "deps",
            "/Users/me/project",
            SeatbeltNetwork::Proxy(vec![proxy_endpoint(3128), proxy_endpoint(1080)]),
        ),
        (
            "escaping",
            "[permissions.odd.filesystem]\n\":root\" = \"read\"\n\
             [permissions.odd.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n\"a[b]c/*.key\" = \"none\"\n\
             \"we\\\\\\\\ird/**/x?.y\" = \"none\"\n",
            "odd",
            "/Users/me/my \"quoted\" (proj)+$.^",
            SeatbeltNetwork::Denied,
        ),
        (
            "no-root",
            "[permissions.jail.filesystem]\n\":workspace_roots\" = \"write\"\n\"/usr\" = \"read\"\n",
            "jail",
            "/tmp/job",
            SeatbeltNetwork::Denied,
        ),
    ]
}

#[test]
fn generated_profiles_match_their_golden_files_and_are_well_formed() {
    for (name, toml, profile, cwd, network) in cases() {
        let text = seatbelt_profile(&policy(toml, profile, cwd), &network).unwrap();
        if let Err(err) = parse_sexprs(&text) {
            panic!("{name}: not well-formed: {err}\n{text}");
        }
        golden(name, &text);
    }
}

#[test]
fn deeper_rules_come_later_so_they_win() {
    let text = seatbelt_profile(
        &policy(cases()[3].1, "dev", "/Users/me/project"),
        &SeatbeltNetwork::Denied,
    )
    .unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` missing:\n{text}"))
    };
    let root = at("(allow file-read* (subpath \"/\"))");
    let workspace = at("(allow file-read* file-write* (subpath \"/Users/me/project\"))");
    let secrets = at("(deny file-read* file-write* (subpath \"/Users/me/project/secrets\"))");
    let scratch =
        at("(allow file-read* file-write* (subpath \"/Users/me/project/secrets/scratch\"))");
    let glob = at("(regex #\"^/Users/me/project/(.*/)?[^/]*\\.env(/.*)?$\")");
    let protected = at("(\\.[gG][iI][tT]|");
    assert!(root < workspace && workspace < secrets && secrets < scratch);
    assert!(scratch < glob && glob < protected);
}

#[test]
fn temp_paths_get_their_private_twins() {
    let text = seatbelt_profile(
        &policy("", ":workspace", "/tmp/job"),
        &SeatbeltNetwork::Denied,
    )
    .unwrap();
    assert!(
        text.contains("(subpath \"/tmp/job\") (subpath \"/private/tmp/job\")"),
        "{text}"
    );
    assert!(text.contains(
        "(subpath \"/var/folders/zz/abc/T\") (subpath \"/private/var/folders/zz/abc/T\")"
    ));
}

#[test]
fn an_inexpressible_glob_is_an_error_naming_it() {
    // `[a\]]`: a class holding `\` (escaping `]`), which POSIX and
    // Rust-style regexes read differently.
    let toml = "[permissions.p.filesystem]\n\":root\" = \"read\"\n\
                [permissions.p.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n\
                \"[a\\\\]]*\" = \"none\"\n";
    let policy = policy(toml, "p", "/ws");
    assert_eq!(policy.deny_globs.len(), 1, "{policy:?}");
    let err = seatbelt_profile(&policy, &SeatbeltNetwork::Denied).unwrap_err();
    assert!(err.to_string().contains("cannot express the glob"), "{err}");
}

/// Every (pattern, path) pair: the translated ERE (anchored) must agree
/// with globset under the project's settings.
#[test]
fn glob_translation_agrees_with_globset() {
    let patterns = [
        "*.env",
        "**/*.env",
        "**/.env*",
        "secrets/**",
        "a/**/b/*.key",
        "id_?sa",
        "[ab]*.pem",
        "[!a]x",
        "x[a-c-]",
        "{prod,staging}/*.pem",
        "**",
        "**/x/**",
        "a**b",
        "we\\*ird",
        "dot.file",
        "plus+(paren)",
    ];
    let paths = [
        ".env",
        "prod.env",
        "a/b/prod.env",
        "a/.env.local",
        "secrets",
        "secrets/a",
        "secrets/a/b",
        "a/b/k.key",
        "a/x/y/b/k.key",
        "a/b/c/k.key",
        "id_rsa",
        "id_dsa",
        "id_rsa.pub",
        "a.pem",
        "c.pem",
        "bx",
        "ax",
        "/x",
        "xa",
        "x-",
        "xd",
        "prod/k.pem",
        "staging/k.pem",
        "dev/k.pem",
        "x/y",
        "q/x/z",
        "ab",
        "aXYZb",
        "a/b",
        "we*ird",
        "weXird",
        "dot.file",
        "dotxfile",
        "plus+(paren)",
        "plussss(paren)",
    ];
    for pattern in patterns {
        let ere = regex::glob_to_ere(pattern).unwrap();
        let anchored = ::regex::Regex::new(&format!("^{ere}$")).unwrap();
        let glob = crate::glob::build_matcher_glob(pattern)
            .unwrap()
            .compile_matcher();
        for path in paths {
            assert_eq!(
                anchored.is_match(path),
                glob.is_match(path),
                "pattern `{pattern}` (ERE `{ere}`) on `{path}`"
            );
        }
    }
}

/// A minimal reader for what the generator writes: lists, atoms, `"..."`
/// strings and `#"..."` regex literals with `\` escapes. Returns the
/// number of top-level forms, or where it went wrong.
fn parse_sexprs(text: &str) -> Result<usize, String> {
    let chars: Vec<char> = text.chars().collect();
    let (mut depth, mut forms, mut at) = (0usize, 0usize, 0usize);
    while at < chars.len() {
        match chars[at] {
            ';' => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
            }
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced `)` at {at}"))?;
                if depth == 0 {
                    forms += 1;
                }
            }
            '"' | '#' => {
                if chars[at] == '#' {
                    at += 1;
                    if chars.get(at) != Some(&'"') {
                        return Err(format!("`#` not followed by a string at {at}"));
                    }
                }
                if depth == 0 {
                    return Err(format!("a string outside any form at {at}"));
                }
                at += 1;
                loop {
                    match chars.get(at) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => at += 2,
                        Some('"') => break,
                        Some(_) => at += 1,
                    }
                }
            }
            ch if ch.is_whitespace() => {}
            ch if depth == 0 => return Err(format!("atom `{ch}` outside any form at {at}")),
            _ => {}
        }
        at += 1;
    }
    if depth != 0 {
        return Err(format!("{depth} unclosed `(`"));
    }
    Ok(forms)
}

#[test]
fn the_well_formedness_check_catches_broken_text() {
    assert_eq!(parse_sexprs("(a \"b\") (c #\"d\\\"\")"), Ok(2));
    for broken in ["(a", "a)", "(a \"b)", "(a #b)", "x (a)", "(a) \"s\""] {
        assert!(parse_sexprs(broken).is_err(), "{broken}");
    }
}

#[test]
fn a_line_break_in_a_key_cannot_end_a_comment_and_add_a_rule() {
    let toml = "[permissions.p.filesystem]\n\":root\" = \"read\"\n\
                \"/x\\n(allow file-write* (subpath \\\"/\\\"))\" = \"none\"\n";
    let text = seatbelt_profile(&policy(toml, "p", "/ws"), &SeatbeltNetwork::Denied).unwrap();
    assert!(parse_sexprs(&text).is_ok(), "{text}");
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("(allow file-write* (subpath \"/\"))")),
        "{text}"
    );
}

#[test]
fn devices_stay_usable_under_a_read_only_root() {
    let text =
        seatbelt_profile(&policy("", ":read-only", "/ws"), &SeatbeltNetwork::Denied).unwrap();
    let deny_root = text.find("(deny file-write* (subpath \"/\"))").unwrap();
    let dev_null = text.find("(literal \"/dev/null\")").unwrap();
    assert!(deny_root < dev_null, "{text}");
}

#[test]
fn sandbox_exec_runs_the_command_after_the_profile() {
    let policy = policy("", ":read-only", "/ws");
    let argv = sandbox_exec_argv(&policy, |_| None, &["ls".into(), "-l".into()]).unwrap();
    assert_eq!(argv[0], SANDBOX_EXEC);
    assert_eq!(argv[1], "-p");
    assert!(argv[2].to_string_lossy().starts_with("(version 1)"));
    assert_eq!(&argv[3..], ["--", "ls", "-l"]);
}

#[test]
fn proxy_mode_on_macos_reads_the_proxy_variables_and_fails_closed() {
    let toml = "[permissions.p.network]\nenabled = true\nenvironment_proxy = true\n";
    let proxied = policy(toml, "p", "/ws");
    let network = seatbelt_network(&proxied, |name| {
        (name == "HTTPS_PROXY").then(|| "http://127.0.0.1:3128".to_owned())
    })
    .unwrap();
    assert_eq!(network, SeatbeltNetwork::Proxy(vec![proxy_endpoint(3128)]));
    let err = seatbelt_network(&proxied, |name| {
        (name == "HTTPS_PROXY").then(|| "http://10.0.0.1:3128".to_owned())
    })
    .unwrap_err();
    assert!(err.to_string().contains("not a loopback address"), "{err}");
    assert!(seatbelt_network(&proxied, |_| None).is_err());
    let builtin = policy(
        "[features]\nnetwork_proxy = true\n[permissions.p.network]\nenabled = true\n\
         [permissions.p.network.domains]\n\"a.com\" = \"allow\"\n",
        "p",
        "/ws",
    );
    let err = seatbelt_network(&builtin, |_| None).unwrap_err();
    assert!(err.to_string().contains("only on Linux"), "{err}");
}

/// The write denials of the protected names, read back out of a generated
/// profile and run with the `regex` crate: `.GIT` at any depth of the
/// workspace is denied (APFS would open `.git` for it), ordinary names
/// beside it are not.
#[test]
fn the_profile_denies_protected_names_in_any_case_at_any_depth() {
    let text = seatbelt_profile(
        &policy("", ":workspace", "/Users/me/project"),
        &SeatbeltNetwork::Denied,
    )
    .unwrap();
    let denials = text
        .split("; protected:")
        .nth(1)
        .unwrap_or_else(|| panic!("no protected names:\n{text}"));
    let denials = &denials[..denials.find("; network").unwrap_or(denials.len())];
    let regexes: Vec<::regex::Regex> = denials
        .split("(regex #\"")
        .skip(1)
        .map(|rest| ::regex::Regex::new(&rest[..rest.find("\")").unwrap()]).unwrap())
        .collect();
    assert!(!regexes.is_empty(), "{text}");
    let denied = |path: &str| regexes.iter().any(|re| re.is_match(path));
    for path in [
        "/Users/me/project/.GIT/config",
        "/Users/me/project/sub/.Git/hooks/pre-commit",
        "/Users/me/project/a/b/.CODEX",
        "/Users/me/project/.AWS/credentials",
        "/Users/me/project/x/.agentſ/rules",
        "/tmp/x/.git./HEAD",
    ] {
        assert!(denied(path), "{path} is writable");
    }
    for path in [
        "/Users/me/project/.gitignore",
        "/Users/me/project/src/git/x",
        "/Users/me/project/.github/workflows/ci.yml",
        "/Users/other/.git/config",
    ] {
        assert!(!denied(path), "{path} is denied");
    }
}

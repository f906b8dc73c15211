use super::*;

fn policy(allowed: &[&str], denied: &[&str]) -> DomainPolicy {
    let parse = |list: &[&str]| {
        list.iter()
            .map(|p| DomainPattern::parse(p).unwrap())
            .collect()
    };
    DomainPolicy {
        allowed: parse(allowed),
        denied: parse(denied),
        ..DomainPolicy::default()
    }
}

const EXACT: HostAllowed = HostAllowed { exactly: true };
const WILD: HostAllowed = HostAllowed { exactly: false };

#[test]
fn exact_names_subdomains_and_both() {
    let rules = policy(
        &["crates.io", "*.crates.io", "GitHub.com", "**.rust-lang.org"],
        &[],
    );
    for host in [
        "crates.io",
        "static.crates.io",
        "a.b.crates.io",
        "CRATES.IO",
        "crates.io.",
        "github.com",
        "rust-lang.org",
        "static.rust-lang.org",
    ] {
        assert!(rules.check_host(host).is_ok(), "{host}");
    }
    for host in [
        "evilcrates.io",
        "crates.io.evil.com",
        "api.github.com",
        "io",
        "",
    ] {
        assert!(rules.check_host(host).is_err(), "{host}");
    }
    let only_sub = policy(&["*.example.com"], &[]);
    assert_eq!(only_sub.check_host("example.com"), Err(Refusal::NotAllowed));
    assert_eq!(only_sub.check_host(".example.com"), Err(Refusal::BadName));
    assert_eq!(only_sub.check_host("a.example.com"), Ok(WILD));
    assert_eq!(
        policy(&["example.com"], &[]).check_host("example.com"),
        Ok(EXACT)
    );
}

#[test]
fn deny_beats_allow_both_ways() {
    let rules = policy(&["**.example.com"], &["secret.example.com"]);
    assert_eq!(
        rules.check_host("secret.example.com"),
        Err(Refusal::Denied("secret.example.com".into()))
    );
    assert!(rules.check_host("www.example.com").is_ok());
    let wide = policy(&["api.example.com"], &["*.example.com"]);
    assert_eq!(
        wide.check_host("api.example.com"),
        Err(Refusal::Denied("*.example.com".into()))
    );
    let all_but = policy(&["*"], &["1.1.1.1"]);
    assert_eq!(
        all_but.check_host("1.1.1.1"),
        Err(Refusal::Denied("1.1.1.1".into()))
    );
    assert!(all_but.check_host("8.8.8.8").is_ok());
}

#[test]
fn addresses_match_exact_address_entries_and_star_only() {
    let rules = policy(&["*.example.com", "1.1.1.1", "::1"], &[]);
    assert_eq!(rules.check_host("1.1.1.1"), Ok(EXACT));
    assert_eq!(
        rules.check_host("[::1]"),
        Ok(EXACT),
        "exact entries may be local"
    );
    assert_eq!(rules.check_host("8.8.8.8"), Err(Refusal::NotAllowed));
    let star = policy(&["*"], &[]);
    assert_eq!(star.check_host("8.8.8.8"), Ok(WILD));
    assert_eq!(
        star.check_host("127.0.0.1"),
        Err(Refusal::LocalAddress("127.0.0.1".parse().unwrap())),
        "a wildcard never reaches a local address on its own"
    );
    let local = DomainPolicy {
        allow_local_addresses: true,
        ..star
    };
    assert!(local.check_host("127.0.0.1").is_ok());
}

#[test]
fn old_numeric_spellings_are_refused_as_targets() {
    let rules = policy(&["*"], &[]);
    for host in [
        "127.1",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "0177.0.0.1",
        "a.b.1",
    ] {
        assert_eq!(rules.check_host(host), Err(Refusal::BadName), "{host}");
    }
}

#[test]
fn patterns_are_validated() {
    for (text, needle) in [
        ("*.*.example.com", "only as `*`"),
        ("ex*ample.com", "only as `*`"),
        ("192.0.2.*", "only as `*`"),
        ("10.0.0.0/8", "address ranges"),
        ("127.1", "old numeric spelling"),
        ("*.0x7f", "old numeric spelling"),
        ("example.com:443", "not a host name"),
        ("https://example.com", "not a host name"),
        ("", "not a host name"),
        ("-bad.com", "not a host name"),
    ] {
        let err = DomainPattern::parse(text).unwrap_err();
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    for (text, shown) in [
        ("*.Example.COM.", "*.example.com"),
        ("**.example.com", "**.example.com"),
        ("*", "*"),
        ("10.0.0.1", "10.0.0.1"),
        ("[::1]", "::1"),
    ] {
        assert_eq!(DomainPattern::parse(text).unwrap().to_string(), shown);
    }
}

#[test]
fn limited_mode_lets_only_safe_methods_through() {
    let limited = DomainPolicy {
        mode: ProxyMode::Limited,
        ..DomainPolicy::default()
    };
    for method in ["GET", "HEAD", "OPTIONS"] {
        assert_eq!(limited.check_method(method), Ok(()));
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "CONNECT"] {
        let refusal = limited.check_method(method).unwrap_err();
        assert_eq!(refusal.header_value(), "blocked-by-method-policy");
    }
    assert!(
        limited
            .check_method("CONNECT")
            .unwrap_err()
            .to_string()
            .contains("HTTPS tunnels are refused in limited mode")
    );
    assert_eq!(DomainPolicy::default().check_method("POST"), Ok(()));
}

#[test]
fn only_public_addresses_unless_local_ones_are_allowed_or_named() {
    let rules = policy(&["x.com"], &[]);
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "192.0.2.2",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "::7f00:1",
        "2002:7f00:1::1",
        "2001:0:7f00:1::1",
        "2001:db8::1",
        "fec0::1",
        "100::1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(
            rules.check_address(ip, WILD),
            Err(Refusal::LocalAddress(ip)),
            "{ip}"
        );
        assert_eq!(rules.check_address(ip, EXACT), Ok(()), "{ip}");
    }
    for ip in [
        "1.1.1.1",
        "151.101.1.1",
        "2606:4700::1111",
        "::ffff:1.1.1.1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(rules.check_address(ip, WILD), Ok(()), "{ip}");
    }
    let local = DomainPolicy {
        allow_local_addresses: true,
        ..rules
    };
    assert_eq!(
        local.check_address("127.0.0.1".parse().unwrap(), WILD),
        Ok(())
    );
}

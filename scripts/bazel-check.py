#!/usr/bin/env python3
"""Checks that the Bazel description matches the Cargo build.

This machine cannot run the Bazel that MODULE.bazel needs (no access to the
Bazel Central Registry, and Debian's bazel-bootstrap 4.2.3 predates bzlmod),
so what can drift is checked by reading the files:

- every workspace member has a BUILD.bazel that exports its Cargo.toml, and
  MODULE.bazel lists that manifest for crate_universe;
- every dependency of a crate (normal, per-target and dev) appears in its
  BUILD.bazel, as @crates//:NAME or as the workspace crate's target, and
  every @crates//:NAME there is a dependency of that crate. Build
  dependencies are exempt: Bazel does not run build.rs (the bwrap crate's
  cc_binary stands in for it);
- every tests/*.rs has a test target, and every test target a tests/*.rs;
- the bubblewrap release in MODULE.bazel (URL, SHA-256, prefix) and the
  version in //codex-rs/bwrap's config.h are the ones third_party/bubblewrap.lock pins.

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def crate_label(member: str, package: str) -> str:
    """The Bazel label of a workspace crate's library or binary target."""
    return f"//{member}:{package.replace('-', '_')}"


def cargo_dependencies(manifest: dict) -> tuple[set[str], set[str]]:
    """(dependencies that Bazel must list, build dependencies)."""
    deps: set[str] = set()
    for table in ("dependencies", "dev-dependencies"):
        deps.update(manifest.get(table, {}))
    for target in manifest.get("target", {}).values():
        for table in ("dependencies", "dev-dependencies"):
            deps.update(target.get(table, {}))
    return deps, set(manifest.get("build-dependencies", {}))


def check(problems: list[str]) -> None:
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    members = workspace["workspace"]["members"]
    module = (ROOT / "MODULE.bazel").read_text()
    packages = {}
    for member in members:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        packages[manifest["package"]["name"]] = member

    for member in members:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        build_file = ROOT / member / "BUILD.bazel"
        if not build_file.is_file():
            problems.append(f"{member}: no BUILD.bazel")
            continue
        build = build_file.read_text()
        if '"Cargo.toml"' not in build or "exports_files" not in build:
            problems.append(f"{member}/BUILD.bazel: does not export Cargo.toml")
        if f'"//{member}:Cargo.toml"' not in module:
            problems.append(f"MODULE.bazel: crate.from_cargo does not list //{member}:Cargo.toml")

        deps, _build_deps = cargo_dependencies(manifest)
        for dep in sorted(deps):
            label = crate_label(packages[dep], dep) if dep in packages else f"@crates//:{dep}"
            if f'"{label}"' not in build:
                problems.append(f"{member}/BUILD.bazel: Cargo dependency {dep} is missing ({label})")
        for listed in sorted(set(re.findall(r'"@crates//:([^"]+)"', build))):
            if listed not in deps:
                problems.append(
                    f"{member}/BUILD.bazel: @crates//:{listed} is not a dependency in {member}/Cargo.toml"
                )

        listed_tests = re.search(r"INTEGRATION_TESTS\s*=\s*\[([^\]]*)\]", build)
        for stem in re.findall(r'"([^"]+)"', listed_tests.group(1) if listed_tests else ""):
            if not (ROOT / member / "tests" / f"{stem}.rs").is_file():
                problems.append(f"{member}/BUILD.bazel: a test target names tests/{stem}.rs, which does not exist")
        for test in sorted((ROOT / member / "tests").glob("*.rs")):
            stem = test.stem
            literal = f'"tests/{stem}.rs"' in build
            listed = re.search(r"INTEGRATION_TESTS\s*=\s*\[([^\]]*)\]", build)
            in_list = listed is not None and f'"{stem}"' in listed.group(1)
            if not (literal or in_list):
                problems.append(f"{member}/BUILD.bazel: no test target for tests/{stem}.rs")

    lock = tomllib.loads((ROOT / "third_party" / "bubblewrap.lock").read_text())
    for key in ("sha256", "url"):
        if f'"{lock[key]}"' not in module:
            problems.append(f"MODULE.bazel: bubblewrap {key} is not the lock's ({lock[key]})")
    if f'strip_prefix = "bubblewrap-{lock["version"]}"' not in module:
        problems.append(f"MODULE.bazel: bubblewrap strip_prefix is not bubblewrap-{lock['version']}")
    bwrap_build = (ROOT / "codex-rs" / "bwrap" / "BUILD.bazel").read_text()
    if f'bubblewrap {lock["version"]}' not in bwrap_build:
        problems.append(f"codex-rs/bwrap/BUILD.bazel: config.h does not say bubblewrap {lock['version']}")


def main() -> int:
    problems: list[str] = []
    check(problems)
    for problem in problems:
        print(f"bazel-check: {problem}")
    if problems:
        return 1
    print("bazel-check: the Bazel description matches Cargo.toml, tests/ and third_party/bubblewrap.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())

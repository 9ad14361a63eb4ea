//! Project hygiene that would otherwise rot quietly: the declared
//! `rust-version` is one the locked dependencies can build with, and `ring`
//! stays out of the dependency graph (aws-lc-rs is the one crypto provider).
//!
//! Both ask the real `cargo` about this checkout's `Cargo.lock`.

use std::path::Path;
use std::process::{Command, Output};

fn manifest() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("Cargo.toml")
        .display()
        .to_string()
}

/// The `cargo` running these tests (it sets `CARGO`), else the one on PATH.
fn cargo(args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .args(args)
        .args(["--manifest-path", &manifest()])
        .output()
        .expect("cargo runs")
}

/// `1.88`, `1.88.0` → (1, 88, 0).
fn version(s: &str) -> (u64, u64, u64) {
    let mut parts = s
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or_else(|_| panic!("version {s}")));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

/// Only toolchain 1.95 exists on the CI machines, so the MSRV cannot be
/// built with; this checks it against what the locked crates declare, on
/// every target (`cargo metadata` lists them all), so a `cargo update` that
/// raises a dependency's MSRV past ours fails here rather than for users.
#[test]
fn rust_version_covers_every_locked_package() {
    let text = std::fs::read_to_string(manifest()).unwrap();
    let toml: toml::Table = toml::from_str(&text).unwrap();
    let ours = toml["package"]["rust-version"]
        .as_str()
        .expect("Cargo.toml declares package.rust-version");

    let o = cargo(&["metadata", "--format-version", "1", "--locked"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let needed = packages
        .iter()
        .filter(|p| p["name"] != "actgate")
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            Some((
                version(v),
                format!(
                    "{} {} (rust-version {v})",
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?")
                ),
            ))
        })
        .max()
        .expect("some dependency declares a rust-version");
    assert!(packages.len() > 100, "cargo metadata lists the whole graph");
    assert!(
        version(ours) >= needed.0,
        "Cargo.toml says rust-version = {ours}, but {} needs more",
        needed.1
    );
}

/// `cargo tree -i ring` over normal and build dependencies of every target
/// (a superset of `-e normal` on this one) prints nothing. Cargo exits 0
/// with empty output when `ring` is in the lock file but not in the graph,
/// and fails with "did not match any packages" once it is gone from the
/// lock file too: both mean no `ring`.
#[test]
fn ring_is_not_a_dependency() {
    let o = cargo(&[
        "tree",
        "--locked",
        "-i",
        "ring",
        "-e",
        "normal,build",
        "--target",
        "all",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        assert!(out.trim().is_empty(), "ring is in the tree:\n{out}");
    } else {
        assert!(err.contains("did not match"), "cargo tree failed:\n{err}");
    }
}

/// jsonwebtoken's PEM parsing (`use_pem`, pulling in `pem` and
/// `simple_asn1`) is for benches/mint.rs only: the gateway reads its keys
/// itself, so the shipped binary (normal edges) goes without it.
#[test]
fn jsonwebtoken_pem_parsing_is_a_dev_only_feature() {
    let normal = cargo(&[
        "tree",
        "--locked",
        "-e",
        "normal,features",
        "-i",
        "jsonwebtoken",
    ]);
    let normal = String::from_utf8_lossy(&normal.stdout);
    assert!(
        normal.contains("jsonwebtoken feature \"aws_lc_rs\""),
        "{normal}"
    );
    assert!(!normal.contains("use_pem"), "{normal}");
    // ...while the benches still get it.
    let dev = cargo(&[
        "tree",
        "--locked",
        "-e",
        "normal,dev,features",
        "-i",
        "jsonwebtoken",
    ]);
    let dev = String::from_utf8_lossy(&dev.stdout);
    assert!(dev.contains("jsonwebtoken feature \"use_pem\""), "{dev}");
}

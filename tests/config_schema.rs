//! `actgate config schema` checked by an independent validator: the Python
//! `jsonschema` package (pinned in tests/config_schema/requirements.txt)
//! reads the printed schema and the TOML files (with Python's own
//! `tomllib`), so neither the parser nor the validator is actgate's.
//!
//! The example configs must validate, and broken ones must be refused at the
//! key at fault: a schema that accepted everything would pass the first half.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::{actgate, text};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The printed schema (`--egress` for the sidecar's), written to `dir`.
fn schema(dir: &Path, egress: bool) -> PathBuf {
    let mut args = vec!["config", "schema"];
    if egress {
        args.push("--egress");
    }
    let o = actgate(dir, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("the schema is JSON");
    assert_eq!(parsed["$schema"], "http://json-schema.org/draft-07/schema#");
    let path = dir.join(if egress {
        "egress.schema.json"
    } else {
        "schema.json"
    });
    std::fs::write(&path, &o.stdout).unwrap();
    path
}

/// Run the validator; its exit code and its report.
fn validate(schema: &Path, files: &[PathBuf]) -> (Option<i32>, String) {
    let py = common::python::venv("config-schema-venv", "tests/config_schema/requirements.txt");
    let o = Command::new(py)
        .arg(root().join("tests/config_schema/validate.py"))
        .arg(schema)
        .args(files)
        .output()
        .unwrap();
    let report = format!("{}{}", text(&o.stdout), text(&o.stderr));
    (o.status.code(), report)
}

/// The TOML a Kubernetes ConfigMap holds under `key` (a `|` block scalar
/// indented by four spaces, as the manifests write it).
fn configmap_toml(manifest: &str, key: &str) -> String {
    let yaml = std::fs::read_to_string(root().join(manifest)).unwrap();
    let head = format!("  {key}: |");
    let mut lines = yaml.lines().skip_while(|l| *l != head);
    assert!(lines.next().is_some(), "{manifest} has no {key}");
    let body: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    body.join("\n") + "\n"
}

#[test]
fn the_example_configs_validate() {
    let dir = tempfile::tempdir().unwrap();
    let example = root().join("actgate.example.toml");
    // The Kubernetes deployment's config, and the example with a shared
    // state section (optional sections the example leaves out).
    let deployed = dir.path().join("configmap.toml");
    let text = configmap_toml("deploy/kubernetes/configmap.yaml", "actgate.toml");
    assert!(text.contains("[gateway]"), "{text}");
    std::fs::write(&deployed, text).unwrap();
    let with_state = dir.path().join("with-state.toml");
    let example_text = std::fs::read_to_string(&example).unwrap();
    std::fs::write(
        &with_state,
        format!(
            "{example_text}\n[state]\nbackend = \"postgres\"\nurl_env = \"ACTGATE_STATE_URL\"\n"
        ),
    )
    .unwrap();
    let files = [example, deployed, with_state];
    let (code, report) = validate(&schema(dir.path(), false), &files);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("validator Draft7Validator"), "{report}");
    for f in &files {
        assert!(report.contains(&format!("ok {}", f.display())), "{report}");
    }

    let sidecar = dir.path().join("egress-configmap.toml");
    let text = configmap_toml(
        "deploy/kubernetes/examples/egress-sidecar/configmap.yaml",
        "egress.toml",
    );
    std::fs::write(&sidecar, text).unwrap();
    let files = [root().join("actgate.egress.example.toml"), sidecar];
    let (code, report) = validate(&schema(dir.path(), true), &files);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report.matches("\nok ").count(), 2, "{report}");
}

/// Each break of the example, and the key the validator must name for it.
const BREAKS: &[(&str, &str, &str, &str)] = &[
    // (name, replace, with, expected in the report)
    (
        "typo",
        "[gateway]\n",
        "[gateway]\nlisen = \"127.0.0.1:1\"\n",
        "at gateway: Additional properties are not allowed ('lisen' was unexpected)",
    ),
    (
        "wrong-type",
        "max_chain_depth = 5\n",
        "max_chain_depth = \"five\"\n",
        "at tokens/max_chain_depth: 'five' is not of type 'integer'",
    ),
    (
        "bad-enum",
        // The first is `[tokens]`'s.
        "algorithm = \"ES256\"\n",
        "algorithm = \"HS256\"\n",
        "at tokens/algorithm: 'HS256' is not one of ['ES256', 'EdDSA']",
    ),
    (
        "rule-effect",
        "effect = \"allow\"\n",
        "effect = \"maybe\"\n",
        "at rule/0/effect: 'maybe' is not one of ['allow', 'deny']",
    ),
    (
        "password-in-config",
        "[gateway]\n",
        "[state]\nurl = \"postgresql://u:secret@db/x\"\n\n[gateway]\n",
        "at state/url:",
    ),
];

#[test]
fn broken_configs_are_refused_at_the_key_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(root().join("actgate.example.toml")).unwrap();
    let mut files = Vec::new();
    for (name, from, to, _) in BREAKS {
        assert!(good.contains(from), "{name}: the example has no {from:?}");
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        files.push(path);
    }
    // A required section left out.
    let start = good.find("[tokens]\n").unwrap();
    let end = start + 1 + good[start + 1..].find("\n[").unwrap();
    let path = dir.path().join("no-tokens.toml");
    std::fs::write(&path, format!("{}{}", &good[..start], &good[end..])).unwrap();
    files.push(path.clone());

    let (code, report) = validate(&schema(dir.path(), false), &files);
    assert_eq!(code, Some(1), "{report}");
    for ((name, _, _, expected), file) in BREAKS.iter().zip(&files) {
        assert!(
            report.contains(&format!("invalid {}", file.display())),
            "{name}:\n{report}"
        );
        assert!(report.contains(expected), "{name}: {expected}\n{report}");
    }
    assert!(
        report.contains(&format!("invalid {}", path.display()))
            && report.contains("at (top): 'tokens' is a required property"),
        "{report}"
    );
    // Only the breaks: nothing else in the example is flagged with them.
    assert_eq!(
        report.matches("  at ").count(),
        BREAKS.len() + 1,
        "{report}"
    );
}

/// Taplo, the TOML toolkit whose language server is VS Code's Even Better
/// TOML (pinned in tests/config_schema/taplo/package-lock.json), reads the
/// schema as the README says to use it: `taplo check --schema`, and the
/// `#:schema` directive on a file's first line.
#[test]
fn taplo_checks_configs_against_the_schema() {
    let taplo = common::npm::install(
        "taplo",
        "tests/config_schema/taplo",
        "node_modules/@taplo/cli/package.json",
    )
    .join("node_modules/.bin/taplo");
    let dir = tempfile::tempdir().unwrap();
    let schema = schema(dir.path(), false);
    let good = std::fs::read_to_string(root().join("actgate.example.toml")).unwrap();
    std::fs::write(dir.path().join("actgate.toml"), &good).unwrap();
    let broken = good.replacen("max_chain_depth = 5\n", "max_chain_depth = \"five\"\n", 1);
    std::fs::write(
        dir.path().join("directive.toml"),
        format!("#:schema ./schema.json\n{broken}"),
    )
    .unwrap();
    let check = |args: &[&str]| {
        let o = Command::new(&taplo)
            .arg("check")
            .args(args)
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("taplo runs (node)");
        (
            o.status.success(),
            format!("{}{}", text(&o.stdout), text(&o.stderr)),
        )
    };
    let url = format!("file://{}", schema.display());
    let (ok, out) = check(&["--schema", &url, "actgate.toml"]);
    assert!(ok, "{out}");
    let (ok, out) = check(&["directive.toml"]);
    assert!(!ok, "{out}");
    assert!(out.contains("\"five\" is not of type \"integer\""), "{out}");
}

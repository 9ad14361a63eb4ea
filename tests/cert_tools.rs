//! The certificate tools as a platform team runs them: `ca init`, `cert
//! issue | inspect | revoke | renew`, `crl`, `bundle export | import`, on real
//! files in temporary directories. Flawed certificates come from openssl (an
//! independent implementation) and, where openssl cannot backdate, rcgen.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use actgate::identity::{crls_from_pem, SpiffeClientVerifier, TrustDomain, TrustDomainBundle};
use actgate::metrics::Metrics;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

use common::cli::{actgate, text};

/// Run and require success; returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = actgate(dir, args);
    assert!(
        o.status.success(),
        "{args:?}\nstdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Run and require exit 1 with exactly `error: {msg}` on stderr.
fn refused(dir: &Path, args: &[&str], msg: &str) {
    let o = actgate(dir, args);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o.stdout));
    assert_eq!(
        text(&o.stderr).trim_end(),
        format!("error: {msg}"),
        "{args:?}"
    );
}

fn ca_init(dir: &Path, ca: &str, td: &str, extra: &[&str]) {
    let mut args = vec!["ca", "init", "--trust-domain", td, "--out", ca];
    args.extend_from_slice(extra);
    ok(dir, &args);
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn inspect_json(dir: &Path, file: &str) -> (i32, serde_json::Value) {
    let o = actgate(dir, &["cert", "inspect", file, "--json"]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&o.stdout), text(&o.stderr)));
    (o.status.code().unwrap_or(-1), v)
}

fn findings(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect()
}

fn verifier(ca_dir: &Path, crl: Option<&Path>) -> SpiffeClientVerifier {
    let roots = certs(&ca_dir.join("bundle.pem"));
    let mut b = TrustDomainBundle::new(TrustDomain::parse("example.org").unwrap(), roots);
    if let Some(crl) = crl {
        b = b.with_crls(crls_from_pem(&std::fs::read_to_string(crl).unwrap()).unwrap());
    }
    SpiffeClientVerifier::new(
        vec![b],
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

fn verify(v: &SpiffeClientVerifier, chain: &Path) -> Result<(), rustls::Error> {
    let c = certs(chain);
    v.verify_client_cert(&c[0], &c[1..], UnixTime::now())
        .map(|_| ())
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn ca_init_writes_the_directory_and_never_overwrites_keys_without_force() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ca_init(
        d,
        "ca",
        "example.org",
        &["--intermediate", "--max-ttl", "12h"],
    );
    for f in [
        "root.pem",
        "root.key",
        "intermediate.pem",
        "intermediate.key",
        "bundle.pem",
        "ca.toml",
        "revoked.json",
    ] {
        assert!(d.join("ca").join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    for f in ["root.key", "intermediate.key"] {
        assert_eq!(mode(&d.join("ca").join(f)), 0o600, "{f}");
    }
    let toml = std::fs::read_to_string(d.join("ca/ca.toml")).unwrap();
    for needle in [
        "trust_domain = \"example.org\"",
        "max_ttl = \"12h\"",
        "signer = \"intermediate\"",
        "next_crl_number = 1",
    ] {
        assert!(toml.contains(needle), "{needle} in {toml}");
    }
    // The bundle holds the root only.
    assert_eq!(
        certs(&d.join("ca/bundle.pem")),
        certs(&d.join("ca/root.pem"))
    );

    let root_before = std::fs::read(d.join("ca/root.key")).unwrap();
    refused(
        d,
        &["ca", "init", "--trust-domain", "example.org", "--out", "ca"],
        "refusing to overwrite existing ca/root.key (pass --force to replace this CA)",
    );
    assert_eq!(std::fs::read(d.join("ca/root.key")).unwrap(), root_before);
    ca_init(d, "ca", "example.org", &["--force"]);
    assert_ne!(std::fs::read(d.join("ca/root.key")).unwrap(), root_before);
    assert!(!d.join("ca/intermediate.key").exists());

    refused(
        d,
        &[
            "ca",
            "init",
            "--trust-domain",
            "example.org",
            "--out",
            "x",
            "--max-ttl",
            "2d",
            "--ca-ttl",
            "1d",
        ],
        "--max-ttl 48h exceeds the CA's own lifetime of 24h",
    );
}

#[test]
fn cert_issue_writes_a_clean_svid_that_verifies_and_refuses_what_it_must() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ca_init(d, "ca", "example.org", &["--intermediate"]);
    let out = ok(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "ca",
            "--spiffe-id",
            "spiffe://example.org/agent/a",
            "--dns",
            "a.internal",
            "--ip",
            "10.1.2.3",
            "--out",
            "a",
        ],
    );
    assert!(
        out.starts_with("issued spiffe://example.org/agent/a serial "),
        "{out}"
    );
    assert!(out.contains("(in 1h)"), "default TTL is 1h: {out}");
    #[cfg(unix)]
    assert_eq!(mode(&d.join("a.key")), 0o600);
    assert_eq!(certs(&d.join("a.pem")).len(), 2, "leaf + intermediate");

    let o = actgate(d, &["cert", "inspect", "a.pem"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let shown = text(&o.stdout);
    for needle in [
        "SPIFFE ID:   spiffe://example.org/agent/a",
        "DNS SANs:    a.internal",
        "IP SANs:     10.1.2.3",
        "subject:     (empty)",
        "intermediate CA",
        "chain:       2 certificate(s)",
        "X509-SVID:   ok, no findings",
    ] {
        assert!(shown.contains(needle), "{needle} in\n{shown}");
    }
    let (code, v) = inspect_json(d, "a.pem");
    assert_eq!(code, 0);
    let leaf = &certs(&d.join("a.pem"))[0];
    assert_eq!(v["x5t#S256"], actgate::identity::thumbprint(leaf.as_ref()));
    let secs = v["seconds_left"].as_i64().unwrap();
    assert!((3500..=3600).contains(&secs), "{secs}");

    verify(&verifier(&d.join("ca"), None), &d.join("a.pem")).unwrap();

    let issue = |id: &str, ttl: &str, out: &str| {
        vec![
            "cert".to_owned(),
            "issue".into(),
            "--ca".into(),
            "ca".into(),
            "--spiffe-id".into(),
            id.into(),
            "--ttl".into(),
            ttl.into(),
            "--out".into(),
            out.into(),
        ]
    };
    let run_refused = |args: Vec<String>, msg: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(d, &a, msg)
    };
    run_refused(
        issue("spiffe://other.org/x", "1h", "b"),
        "spiffe://other.org/x is outside this CA's trust domain example.org",
    );
    run_refused(
        issue("spiffe://example.org", "1h", "b"),
        "--spiffe-id \"spiffe://example.org\" is not a valid SPIFFE ID: SPIFFE ID has no path; \
         a workload ID needs a non-root path such as `spiffe://example.org/service`",
    );
    run_refused(
        issue("spiffe://example.org/a/../b", "1h", "b"),
        "--spiffe-id \"spiffe://example.org/a/../b\" is not a valid SPIFFE ID: SPIFFE ID path has \
         a '.' or '..' segment; relative segments are not allowed",
    );
    run_refused(
        issue("spiffe://example.org/x", "48h", "b"),
        "--ttl 48h exceeds this CA's maximum of 24h (ca.toml max_ttl)",
    );
    run_refused(
        issue("spiffe://example.org/agent/a", "1h", "a"),
        "refusing to overwrite existing a.key (remove it first, or use `actgate cert renew`)",
    );
    assert!(!d.join("b.key").exists() && !d.join("b.pem").exists());

    // A CA that itself expires in 2h cannot issue a 2h leaf a moment later.
    ca_init(
        d,
        "short",
        "example.org",
        &["--ca-ttl", "2h", "--max-ttl", "2h"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = actgate(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "short",
            "--spiffe-id",
            "spiffe://example.org/x",
            "--ttl",
            "2h",
            "--out",
            "s",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: certificate would expire at ")
            && err.contains(", after its CA (")
            && err.contains("); use a shorter TTL"),
        "{err}"
    );
}

/// A self-signed leaf made by openssl with `ext` as its extension file.
fn openssl_cert(dir: &Path, name: &str, subject: &str, ext: &str) -> PathBuf {
    let run = |args: &[&str]| {
        let o = Command::new("/usr/bin/openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
    };
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    let (key, csr, pem, extf) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    run(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-subj",
        subject,
        "-out",
        &csr,
    ]);
    run(&[
        "x509", "-req", "-in", &csr, "-signkey", &key, "-days", "1", "-extfile", &extf, "-out",
        &pem,
    ]);
    dir.join(pem)
}

const GOOD_KU: &str = "keyUsage = critical, digitalSignature\n";
const GOOD_EKU: &str = "extendedKeyUsage = serverAuth, clientAuth\n";
const GOOD_BC: &str = "basicConstraints = critical, CA:FALSE\n";
const GOOD_SAN: &str = "subjectAltName = URI:spiffe://example.org/agent/a\n";

#[test]
fn inspect_reports_each_svid_flaw_of_openssl_made_certificates() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // (name, subject, extensions, expected findings (substrings), one each)
    let cases: Vec<(&str, &str, String, Vec<&str>)> = vec![
        ("good", "/CN=a", format!("{GOOD_SAN}{GOOD_KU}{GOOD_EKU}{GOOD_BC}"), vec![]),
        (
            "two_uris",
            "/CN=a",
            format!("subjectAltName = URI:spiffe://example.org/a, URI:spiffe://example.org/b\n{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec!["has 2 URI SANs; an X509-SVID needs exactly one"],
        ),
        (
            "no_uri",
            "/CN=a",
            format!("subjectAltName = DNS:a.example.org\n{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec!["has no URI SAN; an X509-SVID needs exactly one"],
        ),
        (
            "http_uri",
            "/CN=a",
            format!("subjectAltName = URI:http://example.org/a\n{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec!["URI SAN \"http://example.org/a\" is not a spiffe:// URI"],
        ),
        (
            "root_path",
            "/CN=a",
            format!("subjectAltName = URI:spiffe://example.org\n{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec!["URI SAN \"spiffe://example.org\" has no path (root path)"],
        ),
        (
            "bad_id",
            "/CN=a",
            format!("subjectAltName = URI:spiffe://Example.org/a\n{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec!["URI SAN \"spiffe://Example.org/a\" is not a valid SPIFFE ID: trust domain contains 'E'"],
        ),
        (
            "ca_true",
            "/CN=a",
            format!("{GOOD_SAN}{GOOD_KU}{GOOD_EKU}basicConstraints = critical, CA:TRUE\n"),
            vec!["basicConstraints has cA=true; an X509-SVID leaf must not be a CA"],
        ),
        (
            "key_cert_sign",
            "/CN=a",
            format!("{GOOD_SAN}keyUsage = critical, digitalSignature, keyCertSign\n{GOOD_EKU}{GOOD_BC}"),
            vec!["keyUsage has keyCertSign; a leaf must not sign certificates"],
        ),
        (
            "crl_sign",
            "/CN=a",
            format!("{GOOD_SAN}keyUsage = critical, digitalSignature, cRLSign\n{GOOD_EKU}{GOOD_BC}"),
            vec!["keyUsage has cRLSign; a leaf must not sign CRLs"],
        ),
        (
            "no_key_usage",
            "/CN=a",
            format!("{GOOD_SAN}{GOOD_EKU}{GOOD_BC}"),
            vec!["has no keyUsage extension; an X509-SVID leaf needs a critical keyUsage with digitalSignature"],
        ),
        (
            "ku_not_critical",
            "/CN=a",
            format!("{GOOD_SAN}keyUsage = digitalSignature\n{GOOD_EKU}{GOOD_BC}"),
            vec!["keyUsage is not marked critical"],
        ),
        (
            "no_digital_signature",
            "/CN=a",
            format!("{GOOD_SAN}keyUsage = critical, keyAgreement\n{GOOD_EKU}{GOOD_BC}"),
            vec!["keyUsage lacks digitalSignature"],
        ),
        (
            "eku_server_only",
            "/CN=a",
            format!("{GOOD_SAN}{GOOD_KU}extendedKeyUsage = serverAuth\n{GOOD_BC}"),
            vec!["extKeyUsage is present without clientAuth"],
        ),
        (
            "eku_client_only",
            "/CN=a",
            format!("{GOOD_SAN}{GOOD_KU}extendedKeyUsage = clientAuth\n{GOOD_BC}"),
            vec!["extKeyUsage is present without serverAuth"],
        ),
        (
            "empty_subject_san_not_critical",
            "/",
            format!("{GOOD_SAN}{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec!["subject is empty but the subjectAltName extension is not critical"],
        ),
        (
            "empty_subject_san_critical",
            "/",
            format!("subjectAltName = critical, URI:spiffe://example.org/a\n{GOOD_KU}{GOOD_EKU}{GOOD_BC}"),
            vec![],
        ),
        (
            // Every finding is reported, not just the first.
            "many",
            "/CN=a",
            "subjectAltName = URI:https://example.org/a\nkeyUsage = keyCertSign, cRLSign\n\
             extendedKeyUsage = serverAuth\nbasicConstraints = critical, CA:TRUE\n"
                .to_owned(),
            vec![
                "is not a spiffe:// URI",
                "cA=true",
                "keyUsage is not marked critical",
                "keyUsage lacks digitalSignature",
                "keyUsage has keyCertSign",
                "keyUsage has cRLSign",
                "without clientAuth",
            ],
        ),
    ];
    for (name, subject, ext, want) in cases {
        openssl_cert(d, name, subject, &ext);
        let file = format!("{name}.pem");
        let (code, v) = inspect_json(d, &file);
        let got = findings(&v);
        assert_eq!(got.len(), want.len(), "{name}: {got:#?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.contains(w), "{name}: {g:?} lacks {w:?}");
        }
        assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "{name}");
        // The text form lists the same findings.
        let shown = text(&actgate(d, &["cert", "inspect", &file]).stdout);
        for w in &want {
            assert!(shown.contains(w), "{name}: {w} in\n{shown}");
        }
    }

    // DER input works too.
    let o = Command::new("/usr/bin/openssl")
        .current_dir(d)
        .args([
            "x509",
            "-in",
            "two_uris.pem",
            "-outform",
            "DER",
            "-out",
            "two_uris.der",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let (code, v) = inspect_json(d, "two_uris.der");
    assert_eq!((code, v["chain_length"].as_u64()), (1, Some(1)));
    assert!(findings(&v)[0].contains("has 2 URI SANs"));
}

#[test]
fn inspect_reports_expired_and_not_yet_valid_and_refuses_garbage() {
    use rcgen::{
        CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let now = time::OffsetDateTime::now_utc();
    let make = |name: &str, nb: time::OffsetDateTime, na: time::OffsetDateTime| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names = vec![SanType::URI("spiffe://example.org/a".try_into().unwrap())];
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.not_before = nb;
        p.not_after = na;
        std::fs::write(d.join(name), p.self_signed(&key).unwrap().pem()).unwrap();
    };
    make(
        "expired.pem",
        now - time::Duration::days(1),
        now - time::Duration::hours(3),
    );
    make(
        "future.pem",
        now + time::Duration::hours(2),
        now + time::Duration::days(1),
    );
    let (code, v) = inspect_json(d, "expired.pem");
    assert_eq!(code, 1);
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("expired 3h"), "{f:?}");
    assert!(v["validity_status"]
        .as_str()
        .unwrap()
        .starts_with("expired 3h"));
    let shown = text(&actgate(d, &["cert", "inspect", "expired.pem"]).stdout);
    assert!(shown.contains("(expired 3h"), "{shown}");

    let (code, v) = inspect_json(d, "future.pem");
    assert_eq!(code, 1);
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("not valid yet: notBefore is "), "{f:?}");

    // Unreadable input: exit 2 with a clear message, never a panic.
    std::fs::write(d.join("garbage.pem"), "this is not a certificate\n").unwrap();
    std::fs::write(
        d.join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    for (file, msg) in [
        (
            "garbage.pem",
            "error: garbage.pem: input is neither PEM nor a DER X.509 certificate",
        ),
        (
            "key.pem",
            "error: key.pem: PEM input contains no `-----BEGIN CERTIFICATE-----` block",
        ),
        (
            "missing.pem",
            "error: missing.pem: No such file or directory",
        ),
    ] {
        let o = actgate(d, &["cert", "inspect", file]);
        assert_eq!(o.status.code(), Some(2), "{file}");
        assert!(
            text(&o.stderr).starts_with(msg),
            "{file}: {}",
            text(&o.stderr)
        );
    }
    let help = text(&actgate(d, &["cert", "inspect", "--help"]).stdout);
    assert!(
        help.contains(
            "0 when the certificate is a valid X509-SVID with no findings, 1 when it has findings"
        ),
        "{help}"
    );
}

#[test]
fn revoke_and_crl_make_the_verifier_refuse_only_the_revoked_certificate() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ca_init(d, "ca", "example.org", &["--intermediate"]);
    for n in ["bad", "good", "old"] {
        ok(
            d,
            &[
                "cert",
                "issue",
                "--ca",
                "ca",
                "--spiffe-id",
                "spiffe://example.org/agent/x",
                "--out",
                n,
            ],
        );
    }
    let out = ok(
        d,
        &[
            "cert",
            "revoke",
            "--ca",
            "ca",
            "bad.pem",
            "--reason",
            "keyCompromise",
        ],
    );
    let (_, bad) = inspect_json(d, "bad.pem");
    let bad_serial = bad["serial"].as_str().unwrap().to_owned();
    assert!(
        out.starts_with(&format!("revoked serial {bad_serial} (keyCompromise)")),
        "{out}"
    );
    // By hex serial, colon-separated and uppercase as other tools print it.
    let (_, old) = inspect_json(d, "old.pem");
    let old_serial = old["serial"].as_str().unwrap().to_owned();
    let colons = old_serial
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    ok(
        d,
        &[
            "cert",
            "revoke",
            "--ca",
            "ca",
            &colons,
            "--reason",
            "superseded",
        ],
    );
    let again = ok(d, &["cert", "revoke", "--ca", "ca", "bad.pem"]);
    assert!(again.contains("was already revoked"), "{again}");
    let state = std::fs::read_to_string(d.join("ca/revoked.json")).unwrap();
    assert!(
        state.contains(&bad_serial) && state.contains("\"keyCompromise\""),
        "{state}"
    );
    assert!(
        state.contains(&old_serial) && state.contains("\"superseded\""),
        "{state}"
    );

    refused(
        d,
        &["cert", "revoke", "--ca", "ca", "xyz"],
        "\"xyz\" is neither a file nor a hex serial: serial \"xyz\" is not a hex number (expected e.g. 4f:1a:… or 4f1a…)",
    );
    // A certificate from another CA is not revoked here.
    ca_init(d, "other", "example.org", &[]);
    ok(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "other",
            "--spiffe-id",
            "spiffe://example.org/y",
            "--out",
            "foreign",
        ],
    );
    let o = actgate(d, &["cert", "revoke", "--ca", "ca", "foreign.pem"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with("error: foreign.pem was not issued by this CA"),
        "{}",
        text(&o.stderr)
    );

    let out = ok(
        d,
        &[
            "crl",
            "--ca",
            "ca",
            "--out",
            "crl.pem",
            "--next-update",
            "12h",
        ],
    );
    assert!(
        out.starts_with(
            "wrote crl.pem: CRL number 1 listing 2 revoked serial(s), plus the root's CRL"
        ),
        "{out}"
    );
    // Two CRLs: the intermediate's with both serials, the root's empty.
    let pem = std::fs::read(d.join("crl.pem")).unwrap();
    let crls: Vec<_> = rustls_pki_types::CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(crls.len(), 2);
    let (_, int_crl) = x509_parser::parse_x509_crl(crls[0].as_ref()).unwrap();
    let mut listed: Vec<String> = int_crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    listed.sort();
    let mut want = vec![bad_serial.clone(), old_serial.clone()];
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(
        int_crl.crl_number().map(|n| n.to_string()),
        Some("1".to_owned())
    );
    let (_, root_crl) = x509_parser::parse_x509_crl(crls[1].as_ref()).unwrap();
    assert_eq!(root_crl.iter_revoked_certificates().count(), 0);

    // Whole-chain revocation checking (the default) with the one file.
    let v = verifier(&d.join("ca"), Some(&d.join("crl.pem")));
    let err = verify(&v, &d.join("bad.pem")).unwrap_err();
    assert!(err.to_string().contains("Revoked"), "{err}");
    verify(&v, &d.join("good.pem")).unwrap();

    // The CRL number increases.
    let out = ok(d, &["crl", "--ca", "ca", "--out", "crl.pem"]);
    assert!(out.contains("CRL number 2"), "{out}");
}

#[test]
fn bundle_export_and_import_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ca_init(d, "ca", "example.org", &["--intermediate"]);
    ok(
        d,
        &[
            "bundle",
            "export",
            "--ca",
            "ca",
            "--out",
            "bundle.json",
            "--sequence",
            "42",
            "--refresh-hint",
            "60",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(json["spiffe_sequence"], 42);
    assert_eq!(json["spiffe_refresh_hint"], 60);
    let keys = json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "roots only, no intermediate");
    assert_eq!(keys[0]["use"], "x509-svid");
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0].get("kid").is_none());
    // Standard output when no --out.
    let stdout = ok(d, &["bundle", "export", "--ca", "ca"]);
    assert!(stdout.contains("\"x509-svid\""), "{stdout}");

    let out = ok(
        d,
        &["bundle", "import", "bundle.json", "--out", "imported.pem"],
    );
    assert_eq!(out.trim(), "wrote imported.pem (1 X.509 authority)");
    let root = certs(&d.join("ca/root.pem"));
    assert_eq!(certs(&d.join("imported.pem")), root);
    // PEM in, PEM out.
    ok(
        d,
        &["bundle", "import", "ca/bundle.pem", "--out", "again.pem"],
    );
    assert_eq!(certs(&d.join("again.pem")), root);

    // The library entry point the gateway uses takes both forms.
    use actgate::pki::load_bundle_any;
    assert_eq!(
        load_bundle_any(&std::fs::read(d.join("bundle.json")).unwrap()).unwrap(),
        root
    );
    assert_eq!(
        load_bundle_any(&std::fs::read(d.join("ca/bundle.pem")).unwrap()).unwrap(),
        root
    );
    assert_eq!(
        load_bundle_any(b"hello").unwrap_err().to_string(),
        "neither PEM nor SPIFFE bundle JSON (expected `-----BEGIN CERTIFICATE-----` or a JSON object starting with '{')"
    );

    std::fs::write(d.join("garbage.json"), "{\"keys\": 3}").unwrap();
    refused(
        d,
        &["bundle", "import", "garbage.json", "--out", "x.pem"],
        "garbage.json: SPIFFE bundle: \"keys\" is not an array",
    );
    std::fs::write(
        d.join("jwt-only.json"),
        r#"{"keys":[{"use":"jwt-svid","kid":"a","kty":"EC"}]}"#,
    )
    .unwrap();
    refused(
        d,
        &["bundle", "import", "jwt-only.json", "--out", "x.pem"],
        "jwt-only.json: bundle contains no X.509 authorities (no key with \"use\": \"x509-svid\" and an \"x5c\")",
    );
    assert!(!d.join("x.pem").exists());
}

#[test]
fn renew_reissues_the_same_identity_with_a_new_key_and_serial() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ca_init(d, "ca", "example.org", &[]);
    ok(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "ca",
            "--spiffe-id",
            "spiffe://example.org/agent/a",
            "--ttl",
            "30m",
            "--dns",
            "a.internal",
            "--ip",
            "::1",
            "--out",
            "a",
        ],
    );
    let (_, before) = inspect_json(d, "a.pem");
    let key_before = std::fs::read(d.join("a.key")).unwrap();

    let out = ok(
        d,
        &[
            "cert", "renew", "--ca", "ca", "--cert", "a.pem", "--ttl", "2h",
        ],
    );
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("renewed spiffe://example.org/agent/a valid until "),
        "{out}"
    );
    assert!(first.ends_with("(in 2h)"), "{out}");
    let (code, after) = inspect_json(d, "a.pem");
    assert_eq!(code, 0, "{after}");
    assert_eq!(after["spiffe_id"], "spiffe://example.org/agent/a");
    assert_ne!(after["serial"], before["serial"]);
    assert_eq!(after["dns_sans"], before["dns_sans"]);
    assert_eq!(after["ip_sans"], serde_json::json!(["::1"]));
    assert!(after["not_after"].as_str() > before["not_after"].as_str());
    assert!(after["seconds_left"].as_i64() > before["seconds_left"].as_i64());
    assert_ne!(
        std::fs::read(d.join("a.key")).unwrap(),
        key_before,
        "new key"
    );
    #[cfg(unix)]
    assert_eq!(mode(&d.join("a.key")), 0o600);
    // The new key belongs to the new certificate.
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(d.join("a.key")).unwrap()).unwrap();
    let chain = certs(&d.join("a.pem"));
    let (_, leaf) = x509_parser::parse_x509_certificate(chain[0].as_ref()).unwrap();
    assert_eq!(
        leaf.public_key().raw,
        rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
    );
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // --out elsewhere keeps the original.
    ok(
        d,
        &[
            "cert", "renew", "--ca", "ca", "--cert", "a.pem", "--out", "b",
        ],
    );
    assert!(d.join("b.pem").exists() && d.join("b.key").exists());

    // Another trust domain's CA refuses.
    ca_init(d, "other", "other.org", &[]);
    refused(
        d,
        &["cert", "renew", "--ca", "other", "--cert", "a.pem"],
        "spiffe://example.org/agent/a is outside this CA's trust domain other.org",
    );
    refused(
        d,
        &[
            "cert", "renew", "--ca", "ca", "--cert", "a.pem", "--ttl", "25h",
        ],
        "--ttl 25h exceeds this CA's maximum of 24h (ca.toml max_ttl)",
    );
}

#[test]
fn certs_init_still_works() {
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), &["certs", "init", "--out", "certs"]);
    let o = actgate(t.path(), &["cert", "inspect", "certs/agents/scheduler.pem"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

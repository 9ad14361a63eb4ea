use super::*;
use crate::identity::{crls_from_pem, SpiffeClientVerifier, TrustDomainBundle};
use crate::metrics::Metrics;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::sync::Arc;

fn opts(intermediate: bool) -> InitOptions {
    InitOptions {
        trust_domain: TrustDomain::parse("example.org").unwrap(),
        intermediate,
        max_ttl: DEFAULT_MAX_TTL,
        ca_ttl: DEFAULT_CA_TTL,
        force: false,
    }
}

fn verifier(ca: &CaDir, crl: Option<&str>) -> SpiffeClientVerifier {
    let roots = crate::identity::bundles_from_pem(ca.root_pem()).unwrap();
    let mut b = TrustDomainBundle::new(ca.trust_domain().clone(), roots);
    if let Some(crl) = crl {
        b = b.with_crls(crls_from_pem(crl).unwrap());
    }
    SpiffeClientVerifier::new(
        vec![b],
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn verify(v: &SpiffeClientVerifier, s: &IssuedSvid) -> Result<(), rustls::Error> {
    let c = chain(&s.chain_pem);
    v.verify_client_cert(&c[0], &c[1..], UnixTime::now())
        .map(|_| ())
}

#[test]
fn issued_chain_verifies_with_and_without_intermediate() {
    for intermediate in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (ca, written) = CaDir::init(dir.path(), &opts(intermediate)).unwrap();
        assert_eq!(written.len(), if intermediate { 7 } else { 5 });
        let id = SpiffeId::parse("spiffe://example.org/agent/a").unwrap();
        let s = ca
            .issue(&id, Duration::from_secs(3600), &["localhost"], &[])
            .unwrap();
        assert_eq!(chain(&s.chain_pem).len(), if intermediate { 2 } else { 1 });
        verify(&verifier(&ca, None), &s).unwrap();
        let report =
            super::super::inspect::inspect_bytes(s.chain_pem.as_bytes(), crate::unix_now())
                .unwrap();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
}

#[test]
fn revoked_serial_is_refused_with_whole_chain_checking() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ca, _) = CaDir::init(dir.path(), &opts(true)).unwrap();
    let id = SpiffeId::parse("spiffe://example.org/agent/a").unwrap();
    let bad = ca.issue(&id, Duration::from_secs(600), &[], &[]).unwrap();
    let good = ca.issue(&id, Duration::from_secs(600), &[], &[]).unwrap();
    assert!(matches!(
        ca.revoke(&bad.serial, RevocationReason::KeyCompromise)
            .unwrap(),
        RevokeOutcome::Added { .. }
    ));
    assert!(matches!(
        ca.revoke(&bad.serial, RevocationReason::Superseded)
            .unwrap(),
        RevokeOutcome::AlreadyRevoked { .. }
    ));
    let out = dir.path().join("crl.pem");
    let first = ca.write_crl(&out, Duration::from_secs(3600)).unwrap();
    assert_eq!((first.crls, first.revoked), (2, 1));
    let second = ca.write_crl(&out, Duration::from_secs(3600)).unwrap();
    assert!(second.crl_number > first.crl_number);
    // The number survives reopening.
    assert_eq!(
        CaDir::open(dir.path()).unwrap().settings().next_crl_number,
        second.crl_number + 1
    );
    let v = verifier(&ca, Some(&fs::read_to_string(&out).unwrap()));
    let err = verify(&v, &bad).unwrap_err();
    assert!(err.to_string().contains("Revoked"), "{err}");
    verify(&v, &good).unwrap();
}

#[test]
fn refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = CaDir::init(dir.path(), &opts(false)).unwrap();
    let err = CaDir::init(dir.path(), &opts(false)).unwrap_err();
    assert!(err.to_string().contains("root.key"), "{err}");
    let other = SpiffeId::parse("spiffe://other.org/x").unwrap();
    assert_eq!(
        ca.issue(&other, Duration::from_secs(60), &[], &[])
            .unwrap_err()
            .to_string(),
        "spiffe://other.org/x is outside this CA's trust domain example.org"
    );
    let id = SpiffeId::parse("spiffe://example.org/x").unwrap();
    assert_eq!(
        ca.issue(&id, Duration::from_secs(48 * 3600), &[], &[])
            .unwrap_err()
            .to_string(),
        "--ttl 48h exceeds this CA's maximum of 24h (ca.toml max_ttl)"
    );
    let mut forced = opts(false);
    forced.force = true;
    CaDir::init(dir.path(), &forced).unwrap();
}

#[test]
fn serials() {
    assert_eq!(parse_serial("00:4F:1a").unwrap(), vec![0x4f, 0x1a]);
    assert_eq!(parse_serial("0x1").unwrap(), vec![1]);
    assert_eq!(parse_serial("0").unwrap(), vec![0]);
    for bad in ["", "zz", "4f 1a", &"1".repeat(43)] {
        assert!(parse_serial(bad).is_err(), "{bad}");
    }
}

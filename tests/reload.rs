//! Material changes under a running gateway: revocation, rotation of every
//! file, broken files, federation, lifetime limits.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actgate::dev::client::MtlsClient;
use actgate::identity::{SpiffeId, TrustDomain};
use actgate::pki::DevCa;
use bytes::Bytes;
use common::gateway::{claims, echoed_token, header, id, Options, TestGateway, TD};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, Method, StatusCode};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

fn dev_ca(certs: &Path) -> DevCa {
    DevCa::from_pem(
        &std::fs::read_to_string(certs.join(TD).join("ca.pem")).unwrap(),
        &std::fs::read_to_string(certs.join(TD).join("ca.key")).unwrap(),
    )
    .unwrap()
}

fn serial_of(cert_pem_file: &Path) -> Vec<u8> {
    let der = CertificateDer::pem_file_iter(cert_pem_file)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    x.raw_serial().to_vec()
}

fn client_config(certs: &Path, agent: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(certs.join(TD).join("bundle.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(certs.join(format!("agents/{agent}.pem")))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(certs.join(format!("agents/{agent}.key"))).unwrap();
    rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap()
}

/// POST an empty JSON body to `url` as `client`.
async fn post_json(
    client: &MtlsClient,
    url: &str,
) -> Result<(StatusCode, HeaderMap, Bytes), actgate::dev::client::ClientError> {
    // A well-formed call: the gateway refuses what it cannot classify.
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    client
        .fetch(
            Method::POST,
            url,
            &h,
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}"#),
        )
        .await
}

async fn jwks_kids(gw: &TestGateway) -> Vec<String> {
    let (_, v) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn revoked_certificate_is_refused_after_crl_reload_and_cannot_resume() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let certs = dir.path().join("certs");
    let crl_path = certs.join("example.org.crl.pem");
    let ca = dev_ca(&certs);
    std::fs::write(
        &crl_path,
        ca.issue_crl(&[], Duration::from_secs(3600)).unwrap(),
    )
    .unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], true)
            .allow("notifier", "scheduler", &[], true)
            .trust_domain(&format!("crls = [\"{}\"]", gw_path(&crl_path, dir.path()))),
    )
    .await;
    let certs = gw.certs();

    // Before: both callers work. Two connections with one client config: the
    // second is a full handshake too (the gateway issues no tickets), so
    // there is no session to resume later.
    let orch_cfg = Arc::new(client_config(&certs, "orchestrator"));
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(gw.running.addr)
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(orch_cfg.clone())
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(
            tls.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
    }
    let url = format!("{}/agents/scheduler/a2a/jsonrpc", gw.base);
    let orch = MtlsClient::from_config((*orch_cfg).clone(), false);
    let (s, _, _) = post_json(&orch, &url).await.unwrap();
    assert_eq!(s, StatusCode::OK);

    // Revoke the orchestrator and reload.
    let serial = serial_of(&certs.join("agents/orchestrator.pem"));
    let gw_crl = certs.join("example.org.crl.pem");
    std::fs::write(
        &gw_crl,
        dev_ca(&certs)
            .issue_crl(&[&serial], Duration::from_secs(3600))
            .unwrap(),
    )
    .unwrap();
    gw.reload().unwrap();

    // A new connection, with the same client config (and so any session it
    // might try to resume), is refused.
    let again = MtlsClient::from_config((*orch_cfg).clone(), false);
    let r = post_json(&again, &url).await;
    assert!(r.is_err(), "revoked certificate got in: {r:?}");
    // Another caller keeps working.
    let (s, _, _) = gw.send_message("notifier", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        gw.metrics().contains("actgate_reloads_total 1"),
        "{}",
        gw.metrics()
    );
}

/// The harness copies `certs/` into the gateway's own dir; CRL paths in the
/// config are written relative to that copy.
fn gw_path(file: &Path, pki_dir: &Path) -> String {
    file.strip_prefix(pki_dir).unwrap().display().to_string()
}

#[tokio::test]
async fn every_file_rotates_under_load_without_a_failed_request_and_bad_files_are_refused() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = Arc::new(
        TestGateway::start(
            Options::new()
                .agent("scheduler", &up.url())
                .allow("orchestrator", "scheduler", &[], true)
                .tokens("cache = false"),
        )
        .await,
    );
    let certs = gw.certs();
    let old_kid = jwks_kids(&gw).await[0].clone();

    // Load: requests in a loop, half on fresh connections.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for fresh in [false, true] {
        let (gw, stop, ok, failed) = (gw.clone(), stop.clone(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut client = gw.client("orchestrator");
            while !stop.load(Ordering::Relaxed) {
                if fresh {
                    client = gw.client("orchestrator");
                }
                let (s, _, _) = gw.send_message_via(&client, "scheduler").await;
                if s == StatusCode::OK {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // New server certificate, same CA.
    let ca = dev_ca(&certs);
    let gw_id = SpiffeId::parse("spiffe://example.org/gateway").unwrap();
    let fresh = ca
        .issue_svid(
            &gw_id,
            Duration::from_secs(7200),
            &["localhost"],
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap();
    std::fs::write(certs.join("gateway.key"), &fresh.key_pem).unwrap();
    std::fs::write(certs.join("gateway.pem"), &fresh.cert_pem).unwrap();
    gw.reload().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Bundle rewritten (same root, a second copy appended).
    let bundle = std::fs::read_to_string(certs.join(TD).join("bundle.pem")).unwrap();
    std::fs::write(
        certs.join(TD).join("bundle.pem"),
        format!("{bundle}{bundle}"),
    )
    .unwrap();
    gw.reload().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // New signing key.
    let (new_key, pem) =
        actgate::token::SigningKey::generate(actgate::token::SigningAlgorithm::Es256).unwrap();
    std::fs::write(certs.join("token-signing.key"), pem).unwrap();
    gw.reload().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed across reloads"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 20,
        "load ran: {}",
        ok.load(Ordering::Relaxed)
    );

    // Tokens are now signed with the new key; the old one stays published.
    let (_, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(header(&echoed_token(&body))["kid"], new_key.kid());
    let kids = jwks_kids(&gw).await;
    assert!(
        kids.contains(&new_key.kid().to_string()) && kids.contains(&old_kid),
        "{kids:?}"
    );

    // A broken key file is refused: the previous material keeps serving.
    std::fs::write(
        certs.join("token-signing.key"),
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = gw.reload().unwrap_err();
    assert!(err.to_string().contains("tokens.signing_key"), "{err}");
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(header(&echoed_token(&body))["kid"], new_key.kid());
    assert!(
        gw.metrics().contains("actgate_reload_failures_total 1"),
        "{}",
        gw.metrics()
    );
    // A broken server certificate likewise.
    std::fs::write(certs.join("gateway.pem"), "garbage").unwrap();
    assert!(gw.reload().is_err());
    let (s, _, _) = gw
        .send_message_via(&gw.client("orchestrator"), "scheduler")
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "new connections still get the previous certificate"
    );
}

#[tokio::test]
async fn a_changed_file_is_picked_up_without_a_signal() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], true)
            .gateway("watch_interval = \"100ms\""),
    )
    .await;
    let (s, _, _) = gw.send_message("notifier", "scheduler", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Open the agent to the notifier by editing the config file on disk.
    let cfg = std::fs::read_to_string(gw.config_path()).unwrap();
    let extra = format!(
        "\n[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\napp_only = true\n",
        id("notifier")
    );
    std::fs::write(gw.config_path(), format!("{cfg}{extra}")).unwrap();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if gw.send_message("notifier", "scheduler", None).await.0 == StatusCode::OK {
            return;
        }
    }
    panic!("the config change was not picked up:\n{}", gw.metrics());
}

#[tokio::test]
async fn federated_trust_domain_uses_its_own_bundle_only() {
    let up = upstream::start(Behaviour::Echo).await;
    let partner_dir = tempfile::tempdir().unwrap();
    let other = TrustDomain::parse("other.org").unwrap();
    let partner_id = SpiffeId::parse("spiffe://other.org/agent/partner").unwrap();
    actgate::pki::init_dev_pki(
        partner_dir.path(),
        &other,
        &[("partner", partner_id.clone())],
    )
    .unwrap();
    // The partner's bundle arrives in SPIFFE bundle (JWKS) form, as federation
    // would deliver it.
    let roots: Vec<_> =
        CertificateDer::pem_file_iter(partner_dir.path().join("other.org/bundle.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
    let json_bundle = partner_dir.path().join("other.org.bundle.json");
    std::fs::write(
        &json_bundle,
        actgate::pki::bundle::spiffe_bundle_json(&roots, 1, 300).unwrap(),
    )
    .unwrap();
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], true)
            .raw(&format!(
                "[[rule]]\ncaller = \"spiffe://other.org/agent/partner\"\nagent = \"scheduler\"\napp_only = true\n\n\
                 [[trust_domain]]\nname = \"other.org\"\nbundle = \"{}\"\n",
                json_bundle.display()
            )),
    )
    .await;
    let url = format!("{}/agents/scheduler/a2a/jsonrpc", gw.base);
    let partner = MtlsClient::new(
        &gw.ca(),
        Some((
            &partner_dir.path().join("agents/partner.pem"),
            &partner_dir.path().join("agents/partner.key"),
        )),
        false,
    )
    .unwrap();
    let (s, _, body) = post_json(&partner, &url).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        claims(&echoed_token(&body))["client_id"],
        "spiffe://other.org/agent/partner"
    );

    // example.org's CA issues a certificate claiming the partner's identity:
    // other.org's bundle does not vouch for it.
    let forged = dev_ca(&gw.certs())
        .issue_svid(&partner_id, Duration::from_secs(3600), &[], &[])
        .unwrap();
    let (_keep, forger) = gw.client_from_pem(&forged.cert_pem, &forged.key_pem);
    assert!(post_json(&forger, &url).await.is_err());
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn long_lived_certificates_are_refused_when_a_maximum_is_set() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], true)
            .trust_domain("max_certificate_lifetime = \"24h\""),
    )
    .await;
    // The dev PKI's agent certificates are valid for 30 days.
    let url = format!("{}/agents/scheduler/a2a/jsonrpc", gw.base);
    let r = post_json(&gw.client("orchestrator"), &url).await;
    assert!(r.is_err(), "a 30-day certificate got in");
    // A 1-hour certificate for the same identity is accepted.
    let short = dev_ca(&gw.certs())
        .issue_svid(
            &SpiffeId::parse(&id("orchestrator")).unwrap(),
            Duration::from_secs(3600),
            &[],
            &[],
        )
        .unwrap();
    let (_keep, c) = gw.client_from_pem(&short.cert_pem, &short.key_pem);
    let (s, _, _) = post_json(&c, &url).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(
        gw.metrics().contains("reason=\"invalid_svid\"} 1"),
        "{}",
        gw.metrics()
    );
}

//! rustls `ClientCertVerifier` for SPIFFE: per-trust-domain roots, SVID checks.
//!
//! Order of checks (reference §3): parse the leaf and its SPIFFE ID first, then
//! pick the bundle of *that ID's* trust domain, then let webpki validate chain,
//! time, usage (clientAuth) and revocation against that bundle alone.
//!
//! Bundles of different trust domains are never merged (SPIFFE Federation
//! §4.2): with one merged root store, domain B's CA could issue a certificate
//! claiming `spiffe://A/...` and it would chain. Keeping one webpki verifier
//! per trust domain makes "the ID's domain vouches for the ID" structural.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::DistinguishedName;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};

use super::handshake::{handshake_signature_methods, refused, root_store, HandshakeSignatures};
use super::svid::{self, SvidError};
use super::TrustDomain;
use crate::metrics::{HandshakeRejection, Metrics};

/// Why a verifier (or its input material) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("no trust domain bundles are configured; every client would be refused")]
    NoTrustDomains,
    #[error("trust domain {0} is configured twice; bundles of one domain must be given once and are never merged")]
    DuplicateTrustDomain(TrustDomain),
    #[error("trust domain {trust_domain}: root certificate #{index} is not a usable trust anchor: {reason}")]
    BadRoot {
        trust_domain: TrustDomain,
        index: usize,
        reason: String,
    },
    #[error("trust domain {0}: {1}")]
    Build(String, String),
    #[error("PEM input contains no certificates (expected at least one `-----BEGIN CERTIFICATE-----` block)")]
    NoCertificatesInPem,
    #[error("PEM input contains no CRLs (expected at least one `-----BEGIN X509 CRL-----` block)")]
    NoCrlsInPem,
    #[error("PEM input cannot be parsed: {0}")]
    Pem(String),
}

/// Why one presented client certificate was refused before webpki ran.
#[derive(Debug, thiserror::Error)]
pub enum ClientCertRejection {
    #[error("certificate is valid for {lifetime} s; trust domain {trust_domain} accepts at most {max} s")]
    TooLongLived {
        trust_domain: String,
        lifetime: i64,
        max: i64,
    },
    #[error("client certificate is not a valid X509-SVID: {0}")]
    Svid(#[from] SvidError),
    #[error("SPIFFE trust domain {0:?} has no configured bundle")]
    UnknownTrustDomain(String),
    #[error("SPIFFE trust domain {0:?} has an empty bundle; no certificate from it is accepted")]
    EmptyBundle(String),
}

/// How CRLs of one trust domain are applied (only when CRLs are given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationPolicy {
    /// Check only the leaf, not intermediates. Default: whole chain.
    pub end_entity_only: bool,
    /// Accept certificates whose issuer has no CRL loaded. Default: refuse,
    /// because a missing CRL is indistinguishable from a withheld one.
    pub allow_unknown_status: bool,
    /// Refuse when a CRL is past its `nextUpdate`. Default: on, unlike rustls,
    /// so that a stale revocation view fails closed instead of silently
    /// admitting certificates revoked since.
    pub enforce_expiration: bool,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        RevocationPolicy {
            end_entity_only: false,
            allow_unknown_status: false,
            enforce_expiration: true,
        }
    }
}

/// One trust domain's anchors (and optional CRLs).
#[derive(Debug, Clone)]
pub struct TrustDomainBundle {
    pub trust_domain: TrustDomain,
    pub roots: Vec<CertificateDer<'static>>,
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    pub revocation: RevocationPolicy,
    /// Refuse leaves whose validity period (`notAfter - notBefore`) is longer
    /// than this many seconds: long-lived credentials are what leaks hurt most.
    pub max_lifetime_secs: Option<i64>,
}

impl TrustDomainBundle {
    pub fn new(trust_domain: TrustDomain, roots: Vec<CertificateDer<'static>>) -> Self {
        TrustDomainBundle {
            trust_domain,
            roots,
            crls: Vec::new(),
            revocation: RevocationPolicy::default(),
            max_lifetime_secs: None,
        }
    }

    pub fn with_crls(mut self, crls: Vec<CertificateRevocationListDer<'static>>) -> Self {
        self.crls = crls;
        self
    }
}

/// Load every certificate from a PEM bundle; at least one is required.
pub fn bundles_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, VerifierError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| VerifierError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(VerifierError::NoCertificatesInPem);
    }
    Ok(certs)
}

/// Load every CRL from PEM; at least one is required.
pub fn crls_from_pem(
    pem: &str,
) -> Result<Vec<CertificateRevocationListDer<'static>>, VerifierError> {
    let crls = CertificateRevocationListDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| VerifierError::Pem(e.to_string()))?;
    if crls.is_empty() {
        return Err(VerifierError::NoCrlsInPem);
    }
    Ok(crls)
}

#[derive(Debug)]
enum Domain {
    /// The bundle has no keys: refuse everything from this domain (bundle spec:
    /// an empty `keys` array is valid and means "trust nothing").
    Empty,
    WebPki {
        verifier: Arc<dyn ClientCertVerifier>,
        max_lifetime_secs: Option<i64>,
    },
}

#[derive(Debug)]
pub struct SpiffeClientVerifier {
    domains: HashMap<TrustDomain, Domain>,
    root_hints: Vec<DistinguishedName>,
    signatures: HandshakeSignatures,
    metrics: Arc<Metrics>,
}

impl SpiffeClientVerifier {
    pub fn new(
        bundles: Vec<TrustDomainBundle>,
        provider: Arc<CryptoProvider>,
        rejections: Arc<Metrics>,
    ) -> Result<Self, VerifierError> {
        if bundles.is_empty() {
            return Err(VerifierError::NoTrustDomains);
        }
        let mut domains = HashMap::with_capacity(bundles.len());
        let mut root_hints = Vec::new();
        for bundle in bundles {
            if domains.contains_key(&bundle.trust_domain) {
                return Err(VerifierError::DuplicateTrustDomain(bundle.trust_domain));
            }
            let domain = if bundle.roots.is_empty() {
                Domain::Empty
            } else {
                let (verifier, hints) = build_domain(&bundle, &provider)?;
                root_hints.extend(hints);
                Domain::WebPki {
                    verifier,
                    max_lifetime_secs: bundle.max_lifetime_secs,
                }
            };
            domains.insert(bundle.trust_domain, domain);
        }
        Ok(SpiffeClientVerifier {
            domains,
            root_hints,
            signatures: HandshakeSignatures::new(provider),
            metrics: rejections,
        })
    }

    /// The configured trust domains (for logs and health output).
    pub fn trust_domains(&self) -> impl Iterator<Item = &TrustDomain> {
        self.domains.keys()
    }

    fn reject(
        &self,
        why: HandshakeRejection,
        end_entity: &CertificateDer<'_>,
        err: rustls::Error,
    ) -> rustls::Error {
        self.metrics.handshake_rejected(why);
        // Serial and URI SAN identify the certificate; the certificate itself
        // never reaches a log line.
        let fields = svid::log_fields(end_entity.as_ref());
        tracing::warn!(
            reason = why.label(),
            error = %err,
            spiffe_id = ?fields.uri,
            serial = ?fields.serial,
            "client certificate rejected"
        );
        err
    }
}

fn build_domain(
    bundle: &TrustDomainBundle,
    provider: &Arc<CryptoProvider>,
) -> Result<(Arc<dyn ClientCertVerifier>, Vec<DistinguishedName>), VerifierError> {
    let td = &bundle.trust_domain;
    let roots = root_store(&bundle.roots).map_err(|(index, e)| VerifierError::BadRoot {
        trust_domain: td.clone(),
        index,
        reason: e.to_string(),
    })?;
    let hints = roots.subjects();
    // rustls builder methods take `self` by value: every call below reassigns
    // `builder`, otherwise the setting would be silently dropped (reference §7).
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if !bundle.crls.is_empty() {
        builder = builder.with_crls(bundle.crls.iter().cloned());
        let policy = bundle.revocation;
        if policy.end_entity_only {
            builder = builder.only_check_end_entity_revocation();
        }
        if policy.allow_unknown_status {
            builder = builder.allow_unknown_revocation_status();
        }
        if policy.enforce_expiration {
            builder = builder.enforce_revocation_expiration();
        }
    }
    // Never `allow_unauthenticated()`: this is the mTLS listener.
    let verifier = builder
        .build()
        .map_err(|e| VerifierError::Build(td.to_string(), e.to_string()))?;
    Ok((verifier, hints))
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.root_hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // 1. Structure and SPIFFE ID first: the ID decides which roots apply.
        let info = svid::parse_svid(end_entity.as_ref()).map_err(|e| {
            self.reject(
                HandshakeRejection::InvalidSvid,
                end_entity,
                refused(ClientCertRejection::from(e)),
            )
        })?;
        let td = info.spiffe_id.trust_domain();

        // 2. Only the ID's own trust domain may vouch for it.
        let verifier = match self.domains.get(td) {
            Some(Domain::WebPki {
                verifier,
                max_lifetime_secs,
            }) => {
                let lifetime = info.not_after.saturating_sub(info.not_before);
                if let Some(max) = *max_lifetime_secs {
                    if lifetime > max {
                        let err = refused(ClientCertRejection::TooLongLived {
                            trust_domain: td.to_owned(),
                            lifetime,
                            max,
                        });
                        return Err(self.reject(HandshakeRejection::InvalidSvid, end_entity, err));
                    }
                }
                verifier
            }
            Some(Domain::Empty) => {
                let err = refused(ClientCertRejection::EmptyBundle(td.to_owned()));
                return Err(self.reject(HandshakeRejection::UnknownTrustDomain, end_entity, err));
            }
            None => {
                let err = refused(ClientCertRejection::UnknownTrustDomain(td.to_owned()));
                return Err(self.reject(HandshakeRejection::UnknownTrustDomain, end_entity, err));
            }
        };

        // 3. Chain, validity time, clientAuth usage and CRLs: webpki, against
        //    that domain's anchors only.
        let verified = verifier
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| self.reject(HandshakeRejection::ChainInvalid, end_entity, e))?;

        // webpki already refused an EKU without clientAuth; this repeats the
        // rule on our parse so the two can never silently disagree.
        info.check_client_auth().map_err(|e| {
            self.reject(
                HandshakeRejection::ChainInvalid,
                end_entity,
                refused(ClientCertRejection::from(e)),
            )
        })?;

        tracing::debug!(spiffe_id = %info.spiffe_id, serial = %info.serial, "client certificate accepted");
        Ok(verified)
    }

    handshake_signature_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn td(s: &str) -> TrustDomain {
        TrustDomain::parse(s).unwrap()
    }

    #[test]
    fn pem_helpers_report_empty_input() {
        assert!(matches!(
            bundles_from_pem("nothing here"),
            Err(VerifierError::NoCertificatesInPem)
        ));
        assert!(matches!(crls_from_pem(""), Err(VerifierError::NoCrlsInPem)));
        let msg = VerifierError::NoCertificatesInPem.to_string();
        assert!(msg.contains("no certificates"), "{msg}");
    }

    #[test]
    fn refuses_empty_and_duplicate_configuration() {
        let m = Arc::new(Metrics::default());
        assert!(matches!(
            SpiffeClientVerifier::new(vec![], provider(), m.clone()),
            Err(VerifierError::NoTrustDomains)
        ));
        let b = TrustDomainBundle::new(td("a.org"), vec![]);
        assert!(matches!(
            SpiffeClientVerifier::new(vec![b.clone(), b], provider(), m),
            Err(VerifierError::DuplicateTrustDomain(_))
        ));
    }

    #[test]
    fn refuses_unusable_root() {
        let b = TrustDomainBundle::new(td("a.org"), vec![CertificateDer::from(vec![1, 2, 3])]);
        let err = SpiffeClientVerifier::new(vec![b], provider(), Arc::new(Metrics::default()))
            .unwrap_err();
        assert!(
            matches!(err, VerifierError::BadRoot { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn always_demands_a_client_certificate() {
        let b = TrustDomainBundle::new(td("a.org"), vec![]);
        let v =
            SpiffeClientVerifier::new(vec![b], provider(), Arc::new(Metrics::default())).unwrap();
        assert!(v.offer_client_auth());
        assert!(v.client_auth_mandatory());
        assert!(!v.supported_verify_schemes().is_empty());
    }
}

//! Certificates made per test with rcgen: a [`TestCa`] per trust domain,
//! intermediates, good X509-SVID leaves, and a [`LeafBuilder`] for every kind
//! of bad leaf the verifier must refuse.

use std::sync::Arc;

use actgate::identity::{TrustDomain, TrustDomainBundle};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType,
    SerialNumber,
};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use time::{Duration, OffsetDateTime};

pub use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};

static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_serial() -> SerialNumber {
    // Unique within the process, plus the time so two runs never collide in
    // anything that caches by serial.
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut bytes = vec![0x42];
    bytes.extend_from_slice(&t.to_be_bytes());
    bytes.extend_from_slice(&n.to_be_bytes());
    SerialNumber::from_slice(&bytes)
}

fn pkcs8(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

fn ca_params(name: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(30);
    p.serial_number = Some(next_serial());
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

/// A CA (root or intermediate) for one trust domain.
pub struct TestCa {
    pub trust_domain: String,
    /// This CA's certificate.
    pub cert: CertificateDer<'static>,
    /// Intermediates between this CA and the root (this CA's cert first when
    /// it is itself an intermediate); empty for a root.
    pub chain: Vec<CertificateDer<'static>>,
    /// The root anchoring this CA.
    pub root: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf with everything a TLS client needs.
pub struct TestLeaf {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub serial: Vec<u8>,
    /// Leaf first, then the issuing intermediates (what a client sends).
    pub chain: Vec<CertificateDer<'static>>,
}

impl TestCa {
    /// A self-signed root for `td` (cA=true, keyCertSign + cRLSign).
    pub fn new(td: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let params = ca_params(&format!("{td} test root"));
        let cert = params.self_signed(&key).expect("root cert").der().clone();
        TestCa {
            trust_domain: td.to_owned(),
            root: cert.clone(),
            cert,
            chain: Vec::new(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by this CA.
    pub fn intermediate(&self) -> TestCa {
        let key = KeyPair::generate().expect("intermediate key");
        let params = ca_params(&format!("{} test intermediate", self.trust_domain));
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("intermediate cert")
            .der()
            .clone();
        let mut chain = vec![cert.clone()];
        chain.extend(self.chain.iter().cloned());
        TestCa {
            trust_domain: self.trust_domain.clone(),
            cert,
            chain,
            root: self.root.clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A good X509-SVID for `spiffe_id`.
    pub fn leaf(&self, spiffe_id: &str) -> TestLeaf {
        self.builder().uri(spiffe_id).build()
    }

    /// A leaf builder starting from the X509-SVID profile with no SANs.
    pub fn builder(&self) -> LeafBuilder<'_> {
        let now = OffsetDateTime::now_utc();
        LeafBuilder {
            ca: self,
            sans: Vec::new(),
            ku: vec![Ku::DigitalSignature],
            eku: vec![Eku::ServerAuth, Eku::ClientAuth],
            is_ca: false,
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::hours(1),
        }
    }

    /// A CRL from this CA listing `serials`, valid for an hour.
    pub fn crl(&self, serials: &[&[u8]]) -> CertificateRevocationListDer<'static> {
        let now = OffsetDateTime::now_utc();
        CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::hours(1),
            crl_number: next_serial(),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(s),
                    revocation_time: now - Duration::minutes(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .expect("CRL")
        .der()
        .clone()
    }

    /// This CA's trust domain with its root as the only anchor.
    pub fn bundle(&self) -> TrustDomainBundle {
        TrustDomainBundle::new(
            TrustDomain::parse(&self.trust_domain).expect("trust domain"),
            vec![self.root.clone()],
        )
    }
}

/// Builder for good and deliberately bad leaves.
pub struct LeafBuilder<'a> {
    ca: &'a TestCa,
    sans: Vec<SanType>,
    ku: Vec<Ku>,
    eku: Vec<Eku>,
    is_ca: bool,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl LeafBuilder<'_> {
    /// Add a URI SAN (any string; need not be a SPIFFE ID).
    pub fn uri(mut self, uri: &str) -> Self {
        self.sans
            .push(SanType::URI(uri.try_into().expect("IA5 URI")));
        self
    }

    pub fn dns(mut self, name: &str) -> Self {
        self.sans
            .push(SanType::DnsName(name.try_into().expect("IA5 DNS name")));
        self
    }

    pub fn key_usage(mut self, ku: &[Ku]) -> Self {
        self.ku = ku.to_vec();
        self
    }

    /// Set the EKU purposes; an empty slice omits the extension.
    pub fn eku(mut self, eku: &[Eku]) -> Self {
        self.eku = eku.to_vec();
        self
    }

    pub fn ca(mut self, is_ca: bool) -> Self {
        self.is_ca = is_ca;
        self
    }

    pub fn validity(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    pub fn expired(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.validity(now - Duration::days(2), now - Duration::days(1))
    }

    pub fn not_yet_valid(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.validity(now + Duration::days(1), now + Duration::days(2))
    }

    pub fn build(self) -> TestLeaf {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::default();
        // Empty subject: the SAN extension becomes critical (X509-SVID §3.1).
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names = self.sans;
        p.key_usages = self.ku;
        p.extended_key_usages = self.eku;
        p.is_ca = if self.is_ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        let serial = next_serial();
        p.serial_number = Some(serial.clone());
        p.use_authority_key_identifier_extension = true;
        let cert = p
            .signed_by(&key, &self.ca.issuer)
            .expect("leaf cert")
            .der()
            .clone();
        let mut chain = vec![cert.clone()];
        chain.extend(self.ca.chain.iter().cloned());
        TestLeaf {
            cert,
            key: pkcs8(&key),
            serial: serial.to_bytes(),
            chain,
        }
    }
}

/// The aws-lc-rs provider every test uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

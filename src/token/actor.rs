//! Actor tokens at the token endpoint: JWT-SVIDs of the calling workload.
//!
//! RFC 8693 lets a client present an `actor_token` naming the acting party.
//! At actgate the actor is already authenticated by its X509-SVID (mTLS), so
//! an actor token can only corroborate that identity, never replace it: it
//! must be a JWT-SVID (SPIFFE JWT-SVID spec) whose `sub` is exactly the
//! caller's SPIFFE ID, signed by a key of the caller's own trust domain.
//!
//! Where the keys come from is the security decision here: the trust domain
//! is taken from the *verified client certificate*, never from the token, and
//! only the JWT authorities configured for that trust domain
//! (`[[trust_domain]] jwt_bundle`) are tried. A trust domain without a
//! configured bundle accepts no actor tokens at all (fail closed).
//!
//! Verification reuses the subject-token machinery of [`super::verify`]
//! (header checks, key selection by `kid` among configured keys only, pinned
//! algorithm, time checks with the same leeway).

use std::collections::HashMap;

use jsonwebtoken::Validation;

use super::verify::{
    check_header, check_times, checked_header, map_jwt_error, numeric_date, parse_jwk, select_key,
    split_compact, Audience, RawClaims, TokenError, VerifyKey,
};
use crate::identity::CallerIdentity;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorTokenError {
    #[error(
        "actor tokens are not accepted from trust domain {0}: no jwt_bundle is configured for it"
    )]
    NotConfigured(String),
    #[error("actor_token is not a valid JWT-SVID: {0}")]
    Invalid(TokenError),
    #[error("actor_token typ must be JWT or JOSE (a JWT-SVID)")]
    WrongType,
    #[error("actor_token does not identify the client: its sub is not the SPIFFE ID of the client certificate")]
    NotTheCaller,
    #[error("trust domain {td}: jwt_bundle: {reason}")]
    Bundle { td: String, reason: String },
}

/// JWT-SVID keys per trust domain, and the audiences an actor token must name.
pub struct ActorTokenVerifier {
    by_trust_domain: HashMap<String, Vec<VerifyKey>>,
    /// The gateway's issuer and its token endpoint URL: a JWT-SVID minted for
    /// another audience must not be replayable here.
    audiences: Vec<String>,
}

impl std::fmt::Debug for ActorTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorTokenVerifier")
            .field("trust_domains", &self.by_trust_domain.keys())
            .field("audiences", &self.audiences)
            .finish()
    }
}

impl ActorTokenVerifier {
    pub fn new(audiences: Vec<String>) -> Self {
        ActorTokenVerifier {
            by_trust_domain: HashMap::new(),
            audiences,
        }
    }

    /// Add the JWT authorities of `td` from a JWK set: a plain JWKS or a
    /// SPIFFE bundle. In a SPIFFE bundle, keys with `use: "x509-svid"` are
    /// X.509 roots and skipped; `use: "jwt-svid"` (or `"sig"`, or none) keys
    /// are JWT authorities.
    pub fn add_trust_domain(&mut self, td: &str, jwks: &str) -> Result<(), ActorTokenError> {
        let err = |reason: String| ActorTokenError::Bundle {
            td: td.to_owned(),
            reason,
        };
        let doc: serde_json::Value =
            serde_json::from_str(jwks).map_err(|e| err(format!("not JSON: {e}")))?;
        let list = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| err("no \"keys\" array".into()))?;
        let mut keys: Vec<VerifyKey> = Vec::new();
        for (i, jwk) in list.iter().enumerate() {
            let mut jwk = jwk.clone();
            if let Some(obj) = jwk.as_object_mut() {
                match obj.get("use").and_then(serde_json::Value::as_str) {
                    Some("x509-svid") => continue,
                    // parse_jwk knows the JOSE "sig"; a JWT-SVID authority is one.
                    Some("jwt-svid") => {
                        obj.insert("use".into(), "sig".into());
                    }
                    _ => {}
                }
            }
            let (kid, alg, key) = parse_jwk(&jwk).map_err(|why| err(format!("key #{i}: {why}")))?;
            // The JWT-SVID spec requires `kid` on every token, so every
            // authority needs one to be selectable.
            if kid.is_none() {
                return Err(err(format!("key #{i}: a JWT authority needs a \"kid\"")));
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(err(format!("key #{i}: duplicate kid")));
            }
            keys.push(VerifyKey {
                kid,
                alg,
                key,
                validation: self.validation(alg),
            });
        }
        if keys.is_empty() {
            return Err(err("no JWT authority (keys with use \"jwt-svid\")".into()));
        }
        self.by_trust_domain.insert(td.to_owned(), keys);
        Ok(())
    }

    /// Trust domains with JWT authorities configured.
    pub fn trust_domains(&self) -> impl Iterator<Item = &str> {
        self.by_trust_domain.keys().map(String::as_str)
    }

    /// Signature pinned per key; `exp`, `sub` and `aud` required (a JWT-SVID
    /// need not carry `iss`); time checks are ours, as for subject tokens.
    fn validation(&self, alg: jsonwebtoken::Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_required_spec_claims(&["exp", "sub", "aud"]);
        v.set_audience(&self.audiences);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.leeway = 0;
        v
    }

    /// Verify `token` as a JWT-SVID of `caller`, at `now`.
    pub fn verify(
        &self,
        token: &str,
        caller: &CallerIdentity,
        now: i64,
    ) -> Result<(), ActorTokenError> {
        let td = caller.spiffe_id.trust_domain();
        let keys = self
            .by_trust_domain
            .get(td)
            .ok_or_else(|| ActorTokenError::NotConfigured(td.to_owned()))?;
        let invalid = ActorTokenError::Invalid;
        let (h64, _, s64) = split_compact(token).map_err(invalid)?;
        let header = checked_header(h64, s64).map_err(invalid)?;
        let header = check_header(&header).map_err(invalid)?;
        // JWT-SVID §2.2: `typ`, when present, is JWT or JOSE. This also keeps
        // the gateway's own at+jwt access tokens out of the actor slot.
        if header
            .typ
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT") && !t.eq_ignore_ascii_case("JOSE"))
        {
            return Err(ActorTokenError::WrongType);
        }
        let key = select_key(keys, &header).map_err(invalid)?;
        let claims = jsonwebtoken::decode::<RawClaims>(token, &key.key, &key.validation)
            .map_err(|e| invalid(map_jwt_error(e)))?
            .claims;
        let exp = numeric_date(claims.exp.as_ref(), "exp")
            .map_err(invalid)?
            .ok_or_else(|| invalid(TokenError::MissingClaim("exp".into())))?;
        let nbf = numeric_date(claims.nbf.as_ref(), "nbf").map_err(invalid)?;
        let iat = numeric_date(claims.iat.as_ref(), "iat").map_err(invalid)?;
        check_times(exp, nbf, iat, now).map_err(invalid)?;
        // jsonwebtoken checked `aud` membership; a missing one is refused
        // by the required-claims list.
        if !matches!(claims.aud, Some(Audience::One(_) | Audience::Many(_))) {
            return Err(invalid(TokenError::MissingClaim("aud".into())));
        }
        if claims.sub.as_deref() != Some(caller.spiffe_id.as_str()) {
            return Err(ActorTokenError::NotTheCaller);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SpiffeId;
    use crate::token::{sign_jwt, SigningAlgorithm, SigningKey};
    use serde_json::json;

    const GW: &str = "https://gw.example.org";
    const NOW: i64 = 1_700_000_000;

    fn caller(id: &str) -> CallerIdentity {
        CallerIdentity {
            spiffe_id: SpiffeId::parse(id).unwrap(),
            thumbprint: "t".into(),
            not_after: NOW + 3600,
        }
    }

    fn setup() -> (SigningKey, ActorTokenVerifier) {
        let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let mut jwk = key.public_jwk();
        jwk["use"] = "jwt-svid".into();
        let bundle = json!({"keys": [
            {"use": "x509-svid", "kty": "EC", "crv": "P-256", "x5c": ["AAAA"]},
            jwk
        ]});
        let mut v = ActorTokenVerifier::new(vec![GW.into()]);
        v.add_trust_domain("example.org", &bundle.to_string())
            .unwrap();
        (key, v)
    }

    fn svid(key: &SigningKey, sub: &str, aud: &str, exp: i64) -> String {
        sign_jwt(
            key,
            "JWT",
            &json!({"sub": sub, "aud": [aud], "exp": exp, "iat": NOW}),
        )
        .unwrap()
    }

    #[test]
    fn jwt_svid_of_the_caller_is_accepted() {
        let (key, v) = setup();
        let me = "spiffe://example.org/agent/a";
        v.verify(&svid(&key, me, GW, NOW + 60), &caller(me), NOW)
            .unwrap();
    }

    #[test]
    fn refusals() {
        let (key, v) = setup();
        let me = "spiffe://example.org/agent/a";
        let c = caller(me);
        assert_eq!(
            v.verify(
                &svid(&key, "spiffe://example.org/agent/b", GW, NOW + 60),
                &c,
                NOW
            ),
            Err(ActorTokenError::NotTheCaller)
        );
        assert_eq!(
            v.verify(&svid(&key, me, "https://elsewhere", NOW + 60), &c, NOW),
            Err(ActorTokenError::Invalid(TokenError::WrongAudience))
        );
        assert_eq!(
            v.verify(&svid(&key, me, GW, NOW - 600), &c, NOW),
            Err(ActorTokenError::Invalid(TokenError::Expired))
        );
        let (other, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        assert!(matches!(
            v.verify(&svid(&other, me, GW, NOW + 60), &c, NOW),
            Err(ActorTokenError::Invalid(TokenError::UnknownKey(_)))
        ));
        let at = sign_jwt(
            &key,
            "at+jwt",
            &json!({"sub": me, "aud": GW, "exp": NOW + 60}),
        )
        .unwrap();
        assert_eq!(v.verify(&at, &c, NOW), Err(ActorTokenError::WrongType));
        // Another trust domain: its keys are never consulted, and none are configured.
        assert_eq!(
            v.verify(
                &svid(&key, "spiffe://other.org/a", GW, NOW + 60),
                &caller("spiffe://other.org/a"),
                NOW
            ),
            Err(ActorTokenError::NotConfigured("other.org".into()))
        );
    }

    #[test]
    fn bundles_without_jwt_authorities_are_refused() {
        let mut v = ActorTokenVerifier::new(vec![GW.into()]);
        let e = v
            .add_trust_domain(
                "example.org",
                r#"{"keys": [{"use": "x509-svid", "kty": "EC"}]}"#,
            )
            .unwrap_err();
        assert!(e.to_string().contains("no JWT authority"), "{e}");
        assert!(v.add_trust_domain("example.org", "[]").is_err());
    }
}

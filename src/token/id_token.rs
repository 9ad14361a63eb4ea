//! OpenID Connect ID tokens of the login IdP (`[authorize.login]`), read by
//! the gateway as a relying party (OIDC Core 1.0 §3.1.3.7): the same
//! compact-JWS checks as every inbound token (no `crit`, no `alg: none`, no
//! key in the header, the key by `kid` among this issuer's keys only, its
//! algorithm pinned), then `iss` exactly the configured issuer, `aud`
//! holding our client ID (and `azp` ours when there are several), `exp`,
//! `iat`, and the `nonce` of the login this answer belongs to.
//!
//! An ID token is only ever read straight from the IdP's token endpoint
//! over TLS, right after the code exchange; it is never accepted from a
//! browser and never used as a credential anywhere else.

use aws_lc_rs::constant_time::verify_slices_are_equal;

use super::compact::{check_header, checked_header, map_jwt_error, numeric_date, split_compact};
use super::issuer_keys::jwk::{key_set, Acceptance, Strictness};
use super::verify::{check_times, select_key, TokenError, VerifyKey};

/// The login IdP's keys, for its ID tokens to this gateway.
pub struct IdTokenVerifier {
    issuer: String,
    client_id: String,
    keys: Vec<VerifyKey>,
}

impl std::fmt::Debug for IdTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenVerifier")
            .field("issuer", &self.issuer)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The claims of a verified ID token.
pub type IdClaims = serde_json::Map<String, serde_json::Value>;

impl IdTokenVerifier {
    /// The keys of `jwks` (the IdP's published set: keys this gateway cannot
    /// use are left out, at least one must remain) for `issuer`'s ID tokens
    /// to `client_id`.
    pub fn from_jwks(issuer: &str, client_id: &str, jwks: &[u8]) -> Result<Self, TokenError> {
        let accept = Acceptance {
            audiences: vec![client_id.to_owned()],
            require_sub: true,
        };
        let (keys, _) = key_set(issuer, &accept, jwks, None, Strictness::UsableKeys)?;
        Ok(IdTokenVerifier {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            keys,
        })
    }

    /// Whether `token` names a `kid` this set does not hold (the IdP may
    /// have rotated: fetch its keys again before refusing).
    pub fn lacks_key_of(&self, token: &str) -> bool {
        let kid = split_compact(token)
            .and_then(|(h, _, s)| checked_header(h, s))
            .ok()
            .and_then(|h| h.get("kid").and_then(|k| k.as_str()).map(str::to_owned));
        kid.is_some_and(|kid| !self.keys.iter().any(|k| k.kid.as_deref() == Some(&kid)))
    }

    /// The claims of `token` once it is this IdP's ID token for us, fresh
    /// at `now`, answering the login that sent `nonce`.
    pub fn verify(&self, token: &str, nonce: &str, now: i64) -> Result<IdClaims, TokenError> {
        let (h64, _, s64) = split_compact(token)?;
        let raw_header = checked_header(h64, s64)?;
        let header = check_header(&raw_header)?;
        let key = select_key(&self.keys, &header)?;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key.key, &key.validation)
            .map_err(map_jwt_error)?
            .claims;
        // jsonwebtoken checked `iss` and that `aud` holds our client ID.
        let exp = numeric_date(claims.get("exp"), "exp")?
            .ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
        let iat = numeric_date(claims.get("iat"), "iat")?
            .ok_or_else(|| TokenError::MissingClaim("iat".into()))?;
        let nbf = numeric_date(claims.get("nbf"), "nbf")?;
        check_times(exp, nbf, Some(iat), now)?;
        // OIDC Core §3.1.3.7 (4, 5): with several audiences, `azp` must be
        // there and be us; when present it must be us in any case.
        let several = claims.get("aud").is_some_and(|a| a.is_array());
        match claims.get("azp").and_then(|a| a.as_str()) {
            Some(azp) if azp != self.client_id => return Err(TokenError::WrongAudience),
            None if several => return Err(TokenError::MissingClaim("azp".into())),
            _ => {}
        }
        // The nonce ties this token to the login this browser started
        // (§3.1.3.7 (11)): without it a token from another login, replayed
        // through a code injection, would log in its person here.
        let got = claims
            .get("nonce")
            .and_then(|n| n.as_str())
            .ok_or_else(|| TokenError::MissingClaim("nonce".into()))?;
        if verify_slices_are_equal(got.as_bytes(), nonce.as_bytes()).is_err() {
            return Err(TokenError::Malformed(
                "nonce does not match the login's".into(),
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::token::{sign_jwt, SigningAlgorithm, SigningKey};

    const ISS: &str = "https://idp.example";
    const NOW: i64 = 1_700_000_000;

    fn fixture() -> (SigningKey, IdTokenVerifier) {
        let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let jwks = json!({"keys": [key.public_jwk()]}).to_string();
        let v = IdTokenVerifier::from_jwks(ISS, "gw", jwks.as_bytes()).unwrap();
        (key, v)
    }

    fn claims() -> serde_json::Value {
        json!({"iss": ISS, "sub": "alice", "aud": "gw", "exp": NOW + 300, "iat": NOW, "nonce": "n1"})
    }

    fn token(key: &SigningKey, c: &serde_json::Value) -> String {
        sign_jwt(key, "JWT", c).unwrap()
    }

    #[test]
    fn an_id_token_for_us_with_the_logins_nonce_verifies() {
        let (key, v) = fixture();
        let c = v.verify(&token(&key, &claims()), "n1", NOW).unwrap();
        assert_eq!(c["sub"], "alice");
    }

    #[test]
    fn every_binding_is_checked() {
        let (key, v) = fixture();
        let t = token(&key, &claims());
        assert!(v.verify(&t, "n2", NOW).is_err(), "another login's nonce");
        assert_eq!(v.verify(&t, "n1", NOW + 400), Err(TokenError::Expired));
        let mut c = claims();
        c["aud"] = json!("other");
        assert_eq!(
            v.verify(&token(&key, &c), "n1", NOW),
            Err(TokenError::WrongAudience)
        );
        let mut c = claims();
        c["aud"] = json!(["gw", "other"]);
        assert_eq!(
            v.verify(&token(&key, &c), "n1", NOW),
            Err(TokenError::MissingClaim("azp".into()))
        );
        c["azp"] = json!("gw");
        assert!(v.verify(&token(&key, &c), "n1", NOW).is_ok());
        let mut c = claims();
        c["iss"] = json!("https://evil.example");
        assert_eq!(
            v.verify(&token(&key, &c), "n1", NOW),
            Err(TokenError::WrongIssuer)
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nonce");
        assert_eq!(
            v.verify(&token(&key, &c), "n1", NOW),
            Err(TokenError::MissingClaim("nonce".into()))
        );
        // A forged signature under our key's kid.
        let mut forged = t.clone();
        forged.truncate(forged.len() - 4);
        forged.push_str("AAAA");
        assert_eq!(v.verify(&forged, "n1", NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_token_of_an_unknown_kid_asks_for_a_refetch() {
        let (_, v) = fixture();
        let (rotated, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        assert!(v.lacks_key_of(&token(&rotated, &claims())));
        assert!(!v.lacks_key_of("junk"));
    }
}

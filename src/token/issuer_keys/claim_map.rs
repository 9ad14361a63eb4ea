//! Claim mapping for real identity providers: which claim holds the scopes
//! (`scope_claim`; Entra and Okta send `scp`, as a space-separated string or
//! an array), which the subject (`subject_claim`; e.g. Entra's `oid`), and
//! which claims must be present (`required_claims`, e.g. `tid`). Read from
//! the payload after its signature verified.

use serde_json::{Map, Value};

use crate::token::verify::TokenError;

/// One issuer's claim mapping; [`ClaimMap::default`] is the RFC 9068 one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimMap {
    pub scope_claim: String,
    pub subject_claim: String,
    pub required: Vec<String>,
}

impl Default for ClaimMap {
    fn default() -> Self {
        ClaimMap {
            scope_claim: "scope".into(),
            subject_claim: "sub".into(),
            required: Vec::new(),
        }
    }
}

impl ClaimMap {
    /// `scope`, `sub`, nothing else required: the verifier's own reading.
    pub fn is_default(&self) -> bool {
        *self == ClaimMap::default()
    }

    /// Whether `sub` must be present (it is the subject).
    pub fn requires_sub(&self) -> bool {
        self.subject_claim == "sub"
    }

    /// The subject: the mapped claim, a non-empty string.
    pub(in crate::token) fn subject(
        &self,
        payload: &Map<String, Value>,
    ) -> Result<String, TokenError> {
        match payload.get(&self.subject_claim) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(TokenError::Malformed(format!(
                "claim \"{}\" (the subject) is not a non-empty string",
                self.subject_claim
            ))),
            None => Err(TokenError::MissingClaim(self.subject_claim.clone())),
        }
    }

    /// The scopes: the mapped claim as a space-separated string or an array
    /// of strings; `None` when absent.
    pub(in crate::token) fn scopes(
        &self,
        payload: &Map<String, Value>,
    ) -> Result<Option<Vec<String>>, TokenError> {
        let wrong = || {
            TokenError::Malformed(format!(
                "claim \"{}\" (the scopes) is neither a string nor an array of strings",
                self.scope_claim
            ))
        };
        match payload.get(&self.scope_claim) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                s.split_ascii_whitespace().map(str::to_owned).collect(),
            )),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong()),
        }
    }

    /// Every required claim is present (and not `null`).
    pub(in crate::token) fn check_required(
        &self,
        payload: &Map<String, Value>,
    ) -> Result<(), TokenError> {
        match self
            .required
            .iter()
            .find(|c| payload.get(*c).is_none_or(Value::is_null))
        {
            Some(c) => Err(TokenError::MissingClaim(c.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn scp_is_read_as_a_string_or_an_array() {
        let m = ClaimMap {
            scope_claim: "scp".into(),
            ..ClaimMap::default()
        };
        assert_eq!(
            m.scopes(&map(json!({"scp": "a b"}))).unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            m.scopes(&map(json!({"scp": ["a", "b"]}))).unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(m.scopes(&map(json!({"scope": "a"}))).unwrap(), None);
        assert!(m.scopes(&map(json!({"scp": ["a", 1]}))).is_err());
        assert!(m.scopes(&map(json!({"scp": {"a": 1}}))).is_err());
    }

    #[test]
    fn the_subject_and_required_claims_are_checked() {
        let m = ClaimMap {
            subject_claim: "oid".into(),
            required: vec!["tid".into()],
            ..ClaimMap::default()
        };
        assert!(!m.requires_sub() && !m.is_default());
        let ok = map(json!({"oid": "u-1", "tid": "t", "sub": "pairwise"}));
        assert_eq!(m.subject(&ok).unwrap(), "u-1");
        m.check_required(&ok).unwrap();
        assert_eq!(
            m.subject(&map(json!({"sub": "x"}))),
            Err(TokenError::MissingClaim("oid".into()))
        );
        assert!(m.subject(&map(json!({"oid": ""}))).is_err());
        assert_eq!(
            m.check_required(&map(json!({"oid": "u", "tid": null}))),
            Err(TokenError::MissingClaim("tid".into()))
        );
        assert!(ClaimMap::default().is_default());
    }
}

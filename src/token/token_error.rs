//! Why an inbound token (a subject token or an assertion) was refused: one
//! variant per check of [`super::verify`], each message free of token
//! content beyond short, truncated names.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token header has \"crit\"; no critical extensions are supported")]
    Crit,
    #[error("token algorithm {0:?} is not allowed for this key")]
    AlgorithmNotAllowed(String),
    #[error("token header carries \"{0}\"; keys are never taken from the token")]
    KeyInHeader(&'static str),
    #[error("token issuer {0:?} is not trusted")]
    UnknownIssuer(String),
    #[error("token kid {0:?} is not a key of its issuer")]
    UnknownKey(String),
    #[error("token has no kid and its issuer has several keys")]
    MissingKid,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token issuer does not match")]
    WrongIssuer,
    #[error("token audience does not include this gateway")]
    WrongAudience,
    #[error("token lacks the required claim \"{0}\"")]
    MissingClaim(String),
    #[error("token expired")]
    Expired,
    #[error("token is not yet valid (nbf)")]
    NotYetValid,
    #[error("token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("token typ is not at+jwt")]
    WrongType,
    #[error("gateway token was minted for another audience than the presenting agent")]
    NotAudience,
    #[error("the person's grant behind this token was revoked")]
    GrantRevoked,
    #[error("the token was issued to another agent than the presenting one (act)")]
    NotTheActor,
    #[error("trusted issuer {issuer}: {reason}")]
    Jwks { issuer: String, reason: String },
    /// The issuer has no key set in service. The caller gets this fixed
    /// text; why (the fetch error, which names URLs, CAs and addresses) is
    /// for operators, in the log and `/readyz`.
    #[error("issuer keys unavailable")]
    IssuerUnavailable { issuer: String },
    #[error("issuer {0} is configured twice")]
    DuplicateIssuer(String),
    #[error(
        "token cnf is not {{\"x5t#S256\": thumbprint}}; no other confirmation method is supported"
    )]
    UnsupportedConfirmation,
    #[error("the system random source failed")]
    RandomUnavailable,
    #[error("token is bound to another certificate (cnf x5t#S256 does not match the presenting connection's)")]
    CertificateMismatch,
    #[error("token issuer {0:?} is trusted for JWT authorization grants only (assertion_grant), not for subject tokens")]
    AssertionIssuer(String),
    #[error("issuer {0:?} is not trusted for JWT authorization grants (its [[subject_issuer]] has no assertion_grant = true)")]
    NotAssertionIssuer(String),
    #[error("assertion is valid for longer (exp - iat) than its issuer's max_assertion_lifetime of {max} s")]
    LifetimeTooLong { max: i64 },
}

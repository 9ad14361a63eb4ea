//! Which scopes a token minted under an allow decision carries: the agent's
//! card-level requirement alternative plus the skill-level requirements of
//! the skills the rule allows, intersected with what the rule grants and, on
//! delegated calls, with the subject token's scopes. Shared by the request
//! path and `actgate policy check`, so the command shows what a call gets.

use super::{Effect, Rule};
use crate::cards::requirements::{required_scopes, ScopeDecision};
use crate::cards::serve::ServedCard;
use crate::token::verify::SubjectToken;

/// The scopes policy can grant (`scopes_supported` of the metadata
/// documents): what the allow rules for `agent` grant, or with `None` what
/// any rule grants anywhere (deny rules grant nothing: config validation
/// refuses scopes on them). Sorted and deduplicated.
pub fn scopes_supported(rules: &[Rule], agent: Option<&str>) -> Vec<String> {
    let mut scopes: Vec<String> = rules
        .iter()
        .filter(|r| r.effect == Effect::Allow && agent.is_none_or(|a| r.names_agent(a)))
        .flat_map(|r| r.scopes.iter().cloned())
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// The scopes to mint with (before the minter narrows them to the subject
/// token's scopes, which every scope here already passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScopes<'a> {
    /// Borrowed from the rule or the card: the common path allocates nothing.
    Borrowed(&'a [String]),
    /// Computed for a rule with skills.
    Owned(Vec<String>),
    /// No alternative is covered: answer 403 `insufficient_scope` naming
    /// these scopes, so the caller can come back with a user token carrying
    /// them (step-up).
    StepUp(Vec<String>),
    /// The card's requirements cannot be evaluated for this rule (too many
    /// combinations, or a skill the card does not declare); fail closed.
    Refused(&'static str),
}

/// The token scopes for a call allowed with `grants` and `skills` to an
/// agent with `card`, on behalf of `subject` (or app-only).
///
/// A card that declares no requirements leaves the scopes to the rule (all
/// grants); skill-level requirements must still be met. An empty `skills`
/// adds no skill-level scopes.
pub fn token_scopes<'a>(
    card: &'a ServedCard,
    grants: &'a [String],
    skills: &[String],
    subject: Option<&SubjectToken>,
) -> TokenScopes<'a> {
    // A scope is usable when policy grants it and, on a delegated call, the
    // subject token carries it (checked in place: no per-request copy).
    let usable = |s: &str| {
        grants.iter().any(|g| g == s)
            && subject.is_none_or(|st| {
                st.scopes
                    .as_ref()
                    .is_some_and(|have| have.iter().any(|h| h == s))
            })
    };
    let no_card_requirements = card.card.security_requirements.is_empty();
    if skills.is_empty() {
        if no_card_requirements {
            return TokenScopes::Borrowed(grants);
        }
        if let Some(needed) = card.covered_alternative(usable) {
            return TokenScopes::Borrowed(needed);
        }
    }
    // Skills, or not covered (the step-up challenge): the general search.
    let effective: Vec<String> = grants.iter().filter(|s| usable(s)).cloned().collect();
    let skill_ids: Vec<&str> = skills.iter().map(String::as_str).collect();
    match required_scopes(&card.card, &skill_ids, &effective) {
        ScopeDecision::Ok { .. } if no_card_requirements => TokenScopes::Borrowed(grants),
        ScopeDecision::Ok { scopes } => TokenScopes::Owned(scopes),
        ScopeDecision::InsufficientScope { alternative, .. } => TokenScopes::StepUp(alternative),
        ScopeDecision::UnknownSkill(_) => {
            TokenScopes::Refused("the rule names a skill the agent's card does not declare")
        }
        ScopeDecision::TooManyCombinations => TokenScopes::Refused(
            "the card's requirement alternatives combine past the evaluation limit",
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cards::requirements::Capabilities;
    use serde_json::json;

    /// A card built the way the gateway builds it, with card-level
    /// requirements `reqs` and skills `plain` (none) and `admin` (needs
    /// `cal:admin`, or `cal:root`).
    pub(crate) fn served(reqs: serde_json::Value) -> ServedCard {
        let card = json!({
            "name": "A", "description": "", "version": "1",
            "supportedInterfaces": [{"url": "http://127.0.0.1:1/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {},
            "securitySchemes": {"gw": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
                "tokenUrl": "https://gw.example/token", "scopes": {}}}}}},
            "securityRequirements": reqs,
            "defaultInputModes": [], "defaultOutputModes": [],
            "skills": [
                {"id": "plain", "name": "p", "description": "", "tags": []},
                {"id": "admin", "name": "a", "description": "", "tags": [],
                 "securityRequirements": [{"schemes": {"gw": {"list": ["cal:admin"]}}},
                                          {"schemes": {"gw": {"list": ["cal:root"]}}}]}
            ]
        });
        let caps = Capabilities {
            gateway_token_issuers: vec!["https://gw.example".into()],
            ..Default::default()
        };
        crate::cards::serve::build(
            card.to_string().as_bytes(),
            "card.json",
            "a",
            &caps,
            "https://gw/agents/a",
            "http://u",
            &[],
            None,
            None,
        )
        .unwrap()
    }

    fn user(scopes: Option<&[&str]>) -> SubjectToken {
        SubjectToken {
            issuer: "https://idp".into(),
            sub: "alice".into(),
            scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
            exp: i64::MAX,
            act: None,
            may_act: None,
            own: false,
            aud: "x".into(),
            cnf: None,
            grant: None,
        }
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn card_and_skill_scopes_within_grants_and_subject() {
        let write = served(json!([{"schemes": {"gw": {"list": ["cal:write"]}}}]));
        let open = served(json!([]));
        let all = v(&["cal:admin", "cal:read", "cal:write"]);
        let everything = user(Some(&["cal:admin", "cal:read", "cal:write", "cal:root"]));
        let no_admin = user(Some(&["cal:read", "cal:write"]));
        let no_scope_claim = user(None);
        let root = user(Some(&["cal:write", "cal:root"]));
        type Row<'a> = (
            &'a ServedCard,
            &'a [String],
            Vec<String>,
            Option<&'a SubjectToken>,
            TokenScopes<'a>,
        );
        let rows: Vec<Row> = vec![
            // No skills: the card's alternative, not every grant.
            (
                &write,
                &all,
                v(&[]),
                Some(&everything),
                TokenScopes::Borrowed(&write.alternatives[0]),
            ),
            (
                &write,
                &all,
                v(&[]),
                None,
                TokenScopes::Borrowed(&write.alternatives[0]),
            ),
            // A skill without requirements adds nothing.
            (
                &write,
                &all,
                v(&["plain"]),
                Some(&everything),
                TokenScopes::Owned(v(&["cal:write"])),
            ),
            // A skill's first covered alternative joins the card's.
            (
                &write,
                &all,
                v(&["admin"]),
                Some(&everything),
                TokenScopes::Owned(v(&["cal:admin", "cal:write"])),
            ),
            // The subject token lacks it: step-up naming card + skill scopes.
            (
                &write,
                &all,
                v(&["admin"]),
                Some(&no_admin),
                TokenScopes::StepUp(v(&["cal:admin", "cal:write"])),
            ),
            // A subject token without `scope` grants nothing.
            (
                &write,
                &all,
                v(&[]),
                Some(&no_scope_claim),
                TokenScopes::StepUp(v(&["cal:write"])),
            ),
            // Policy does not grant cal:root: the second skill alternative
            // is no way around the first.
            (
                &write,
                &all,
                v(&["admin"]),
                Some(&root),
                TokenScopes::StepUp(v(&["cal:admin", "cal:write"])),
            ),
            // A card without requirements leaves the scopes to the rule...
            (
                &open,
                &all,
                v(&[]),
                Some(&everything),
                TokenScopes::Borrowed(&all),
            ),
            // ...but listed skills must still be met.
            (
                &open,
                &all,
                v(&["admin"]),
                Some(&everything),
                TokenScopes::Borrowed(&all),
            ),
            (
                &open,
                &all,
                v(&["admin"]),
                Some(&no_admin),
                TokenScopes::StepUp(v(&["cal:admin"])),
            ),
            (
                &write,
                &all,
                v(&["ghost"]),
                None,
                TokenScopes::Refused("the rule names a skill the agent's card does not declare"),
            ),
        ];
        for (i, (card, grants, skills, subject, want)) in rows.iter().enumerate() {
            let got = token_scopes(card, grants, skills, *subject);
            assert_eq!(&got, want, "row {i}");
        }
    }
}

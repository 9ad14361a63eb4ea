//! Which scopes a token minted under an allow decision carries: the agent's
//! card-level requirement alternative plus the skill-level requirements of
//! the skills the rule allows, intersected with what the rule grants and, on
//! delegated calls, with the subject token's scopes. Shared by the request
//! path and `actgate policy check`, so the command shows what a call gets.

use crate::cards::requirements::{required_scopes, ScopeDecision};
use crate::cards::serve::ServedCard;
use crate::token::SubjectToken;

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

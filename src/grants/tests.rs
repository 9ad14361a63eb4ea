use super::*;

const NOW: i64 = 1_800_000_000;
const ACTOR: &str = "spiffe://example.org/agent/planner";

fn user(sub: &str) -> User {
    User {
        issuer: "https://idp.example".into(),
        sub: sub.into(),
    }
}

fn consent(scopes: &[&str]) -> Consent {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    Consent::new(
        "console",
        ACTOR,
        "https://gw.example/agents/calendar",
        &scopes,
    )
}

fn binding() -> CodeBinding {
    CodeBinding {
        redirect_uri: "https://console.example/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
    }
}

fn store() -> (tempfile::TempDir, GrantStore) {
    let d = tempfile::tempdir().unwrap();
    let s = GrantStore::open(&d.path().join("grants.json")).unwrap();
    (d, s)
}

#[test]
fn a_code_is_redeemed_once_and_a_replay_revokes_its_grant() {
    let (_d, s) = store();
    let alice = user("alice");
    let code = s
        .issue_code(&alice, &consent(&["cal:read"]), binding(), NOW)
        .unwrap();
    assert_eq!(code.len(), 43);
    let r = s.redeem_code(&code, ACTOR, NOW + 1).unwrap();
    assert_eq!(r.scopes, vec!["cal:read".to_string()]);
    assert_eq!(r.binding, binding());
    assert!(s.is_live(&r.grant.id));
    let refresh = s
        .issue_refresh(&r.grant.id, &r.scopes, "thumb", NOW + 3600, NOW + 1)
        .unwrap();
    assert_eq!(
        s.redeem_code(&code, ACTOR, NOW + 2).unwrap_err(),
        CodeError::Replayed
    );
    assert!(!s.is_live(&r.grant.id), "a replayed code revokes its grant");
    assert!(s.rotate_refresh(&refresh, "thumb", NOW + 3).is_err());
    assert!(s.remembered(&alice, &consent(&["cal:read"])).is_none());
}

#[test]
fn codes_expire_and_unknown_codes_are_refused() {
    let (_d, s) = store();
    let code = s
        .issue_code(&user("a"), &consent(&[]), binding(), NOW)
        .unwrap();
    assert_eq!(
        s.redeem_code(&code, ACTOR, NOW + CODE_LIFETIME_SECS)
            .unwrap_err(),
        CodeError::Expired
    );
    assert_eq!(
        s.redeem_code("nope", ACTOR, NOW).unwrap_err(),
        CodeError::Unknown
    );
}

#[test]
fn consent_is_remembered_for_a_subset_of_the_same_party_only() {
    let (_d, s) = store();
    let alice = user("alice");
    s.issue_code(&alice, &consent(&["a", "b"]), binding(), NOW)
        .unwrap();
    assert!(s.remembered(&alice, &consent(&["a"])).is_some());
    assert!(s.remembered(&alice, &consent(&["b", "a"])).is_some());
    assert!(
        s.remembered(&alice, &consent(&["a", "c"])).is_none(),
        "more scopes"
    );
    assert!(
        s.remembered(&user("bob"), &consent(&["a"])).is_none(),
        "other user"
    );
    let mut other_actor = consent(&["a"]);
    other_actor.actor = "spiffe://example.org/agent/other".into();
    assert!(s.remembered(&alice, &other_actor).is_none(), "other actor");
    let mut other_client = consent(&["a"]);
    other_client.client_id = "evil".into();
    assert!(
        s.remembered(&alice, &other_client).is_none(),
        "other client"
    );
    let mut other_resource = consent(&["a"]);
    other_resource.resource = "https://gw.example/agents/mail".into();
    assert!(
        s.remembered(&alice, &other_resource).is_none(),
        "other resource"
    );
}

#[test]
fn consenting_to_more_widens_the_one_grant_but_the_code_carries_only_its_request() {
    let (_d, s) = store();
    let alice = user("alice");
    s.issue_code(&alice, &consent(&["a"]), binding(), NOW)
        .unwrap();
    let code = s
        .issue_code(&alice, &consent(&["b"]), binding(), NOW)
        .unwrap();
    let grants = s.grants_of(&alice);
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].consent.scopes,
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        s.redeem_code(&code, ACTOR, NOW).unwrap().scopes,
        vec!["b".to_string()]
    );
}

#[test]
fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_grant() {
    let (_d, s) = store();
    let code = s
        .issue_code(&user("a"), &consent(&["x"]), binding(), NOW)
        .unwrap();
    let r = s.redeem_code(&code, ACTOR, NOW).unwrap();
    let t1 = s
        .issue_refresh(&r.grant.id, &r.scopes, "thumb", NOW + 100, NOW)
        .unwrap();
    let rot = s.rotate_refresh(&t1, "thumb", NOW + 1).unwrap();
    assert_ne!(rot.refresh_token, t1);
    assert_eq!(rot.scopes, vec!["x".to_string()]);
    assert_eq!(rot.grant.last_used_at, Some(NOW + 1));
    let t2 = rot.refresh_token;
    assert!(matches!(
        s.rotate_refresh(&t1, "thumb", NOW + 2),
        Err(RefreshError::Reused)
    ));
    assert!(!s.is_live(&r.grant.id));
    assert!(
        s.rotate_refresh(&t2, "thumb", NOW + 3).is_err(),
        "the thief's reuse also kills the legitimate holder's newer token"
    );
}

#[test]
fn a_refresh_token_over_another_certificate_is_refused_but_not_spent() {
    let (_d, s) = store();
    let code = s
        .issue_code(&user("a"), &consent(&[]), binding(), NOW)
        .unwrap();
    let r = s.redeem_code(&code, ACTOR, NOW).unwrap();
    let t = s
        .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
        .unwrap();
    assert!(matches!(
        s.rotate_refresh(&t, "other", NOW),
        Err(RefreshError::WrongCertificate)
    ));
    assert!(s.rotate_refresh(&t, "thumb", NOW).is_ok());
    let t = s
        .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
        .unwrap();
    assert!(matches!(
        s.rotate_refresh(&t, "thumb", NOW + 100),
        Err(RefreshError::Expired)
    ));
}

#[test]
fn revocation_stops_refresh_at_once_and_only_the_owner_may_revoke() {
    let (_d, s) = store();
    let alice = user("alice");
    let code = s.issue_code(&alice, &consent(&[]), binding(), NOW).unwrap();
    let pending = s.issue_code(&alice, &consent(&[]), binding(), NOW).unwrap();
    let r = s.redeem_code(&code, ACTOR, NOW).unwrap();
    let t = s
        .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
        .unwrap();
    assert!(matches!(
        s.revoke(&user("mallory"), &r.grant.id, NOW),
        Err(GrantsError::UnknownGrant)
    ));
    let v = s.revoke(&alice, &r.grant.id, NOW + 5).unwrap();
    assert_eq!(v.revoked_at, Some(NOW + 5));
    assert!(s.rotate_refresh(&t, "thumb", NOW + 6).is_err());
    assert!(
        s.redeem_code(&pending, ACTOR, NOW + 6).is_err(),
        "outstanding codes die too"
    );
    assert_eq!(
        s.revoke(&alice, &r.grant.id, NOW + 9).unwrap().revoked_at,
        Some(NOW + 5)
    );
    assert!(s
        .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
        .is_err());
}

#[test]
fn grants_and_refresh_tokens_survive_a_restart_but_codes_do_not() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("grants.json");
    let alice = user("alice");
    let (grant, token, code) = {
        let s = GrantStore::open(&path).unwrap();
        let c = s
            .issue_code(&alice, &consent(&["x"]), binding(), NOW)
            .unwrap();
        let r = s.redeem_code(&c, ACTOR, NOW).unwrap();
        let t = s
            .issue_refresh(&r.grant.id, &r.scopes, "thumb", NOW + 100, NOW)
            .unwrap();
        let c2 = s
            .issue_code(&alice, &consent(&["x"]), binding(), NOW)
            .unwrap();
        (r.grant.id, t, c2)
    };
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(&token),
        "the file holds digests, never tokens"
    );
    let s = GrantStore::open(&path).unwrap();
    assert!(s.is_live(&grant));
    assert_eq!(s.grants_of(&alice).len(), 1);
    assert!(s.rotate_refresh(&token, "thumb", NOW + 1).is_ok());
    assert_eq!(
        s.redeem_code(&code, ACTOR, NOW + 1).unwrap_err(),
        CodeError::Unknown
    );
}

#[test]
fn a_spent_token_stays_spent_across_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("grants.json");
    let (grant, t1) = {
        let s = GrantStore::open(&path).unwrap();
        let c = s
            .issue_code(&user("a"), &consent(&[]), binding(), NOW)
            .unwrap();
        let r = s.redeem_code(&c, ACTOR, NOW).unwrap();
        let t1 = s
            .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
            .unwrap();
        s.rotate_refresh(&t1, "thumb", NOW).unwrap();
        (r.grant.id, t1)
    };
    let s = GrantStore::open(&path).unwrap();
    assert!(matches!(
        s.rotate_refresh(&t1, "thumb", NOW + 1),
        Err(RefreshError::Reused)
    ));
    assert!(!s.is_live(&grant));
}

#[test]
fn a_second_process_on_the_same_file_is_refused() {
    let (d, _s) = store();
    let e = GrantStore::open(&d.path().join("grants.json")).unwrap_err();
    assert!(matches!(e, GrantsError::Locked(_)), "{e}");
}

#[test]
fn a_corrupt_file_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("grants.json");
    std::fs::write(&path, b"{\"version\": 1, \"grants\": 3}").unwrap();
    let e = GrantStore::open(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, GrantsError::Corrupt { .. }), "{msg}");
    assert!(msg.contains("grants.json"), "{msg}");
    std::fs::write(
        &path,
        b"{\"version\": 9, \"grants\": [], \"refresh_tokens\": {}}",
    )
    .unwrap();
    let msg = GrantStore::open(&path).unwrap_err().to_string();
    assert!(msg.contains("version 9"), "{msg}");
}

#[test]
fn a_failed_write_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let s = GrantStore::open(&sub.join("grants.json")).unwrap();
    let alice = user("alice");
    // Make the directory unwritable (as root, remove it instead: root
    // ignores permissions).
    std::fs::remove_dir_all(&sub).unwrap();
    assert!(s
        .issue_code(&alice, &consent(&["a"]), binding(), NOW)
        .is_err());
    assert!(s.grants_of(&alice).is_empty());
    assert!(s.remembered(&alice, &consent(&["a"])).is_none());
}

#[test]
fn concurrent_redemptions_and_rotations_succeed_exactly_once() {
    let (_d, s) = store();
    let s = std::sync::Arc::new(s);
    let code = s
        .issue_code(&user("a"), &consent(&[]), binding(), NOW)
        .unwrap();
    let wins = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(|| s.redeem_code(&code, ACTOR, NOW).is_ok()))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(wins, 1);
    // The replays revoked the grant; a fresh grant for the rotation race.
    let code = s
        .issue_code(&user("b"), &consent(&[]), binding(), NOW)
        .unwrap();
    let r = s.redeem_code(&code, ACTOR, NOW).unwrap();
    let t = s
        .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
        .unwrap();
    let wins = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(|| s.rotate_refresh(&t, "thumb", NOW).is_ok()))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(wins, 1);
}

#[test]
fn a_code_presented_by_another_actor_is_refused_and_changes_nothing() {
    let (_d, s) = store();
    let code = s
        .issue_code(&user("a"), &consent(&[]), binding(), NOW)
        .unwrap();
    let thief = "spiffe://example.org/agent/thief";
    assert_eq!(
        s.redeem_code(&code, thief, NOW).unwrap_err(),
        CodeError::OtherActor
    );
    assert_eq!(
        s.redeem_code(&code, thief, NOW).unwrap_err(),
        CodeError::OtherActor
    );
    let r = s.redeem_code(&code, ACTOR, NOW).unwrap();
    assert!(
        s.is_live(&r.grant.id),
        "the thief's attempts revoked nothing"
    );
}

#[test]
fn a_spent_token_over_another_certificate_does_not_revoke() {
    let (_d, s) = store();
    let code = s
        .issue_code(&user("a"), &consent(&[]), binding(), NOW)
        .unwrap();
    let r = s.redeem_code(&code, ACTOR, NOW).unwrap();
    let t1 = s
        .issue_refresh(&r.grant.id, &[], "thumb", NOW + 100, NOW)
        .unwrap();
    let t2 = s.rotate_refresh(&t1, "thumb", NOW).unwrap().refresh_token;
    assert!(matches!(
        s.rotate_refresh(&t1, "stolen-elsewhere", NOW),
        Err(RefreshError::WrongCertificate)
    ));
    assert!(s.is_live(&r.grant.id));
    assert!(s.rotate_refresh(&t2, "thumb", NOW).is_ok());
}

#[test]
fn one_person_cannot_fill_the_code_table() {
    let (_d, s) = store();
    let alice = user("alice");
    for _ in 0..MAX_CODES_PER_USER {
        s.issue_code(&alice, &consent(&[]), binding(), NOW).unwrap();
    }
    assert!(matches!(
        s.issue_code(&alice, &consent(&[]), binding(), NOW),
        Err(GrantsError::TooManyCodes)
    ));
    assert!(s
        .issue_code(&user("bob"), &consent(&[]), binding(), NOW)
        .is_ok());
    // Expired codes free the room.
    assert!(s
        .issue_code(&alice, &consent(&[]), binding(), NOW + CODE_LIFETIME_SECS)
        .is_ok());
}

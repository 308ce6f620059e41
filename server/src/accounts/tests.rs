use super::*;

const ACTOR_A: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const ACTOR_B: &str = "ffeeddccbbaa99887766554433221100";

/// A store with the office (bootstrapped), unit WJK and staff user `zhang` in it.
fn store() -> AccountStore {
    let mut store = AccountStore::open_in_memory().unwrap();
    store.ensure_bootstrap(DEFAULT_OFFICE_CODE).unwrap();
    store.add_unit("test", "WJK", "疾控科").unwrap();
    store
        .add_user(
            "test",
            &NewUser {
                login: "zhang".into(),
                name: "张三".into(),
                unit: "WJK".into(),
                role: Role::Staff,
            },
        )
        .unwrap();
    store
}

fn enroll(store: &mut AccountStore, login: &str, actor: &str) -> Enrollment {
    let code = store
        .create_enrollment(Issuer::Admin("test"), login)
        .unwrap();
    store.redeem_enrollment(&code.code, actor, None).unwrap()
}

#[test]
fn bootstrap_creates_office_admin_and_a_working_code_once() {
    let mut store = AccountStore::open_in_memory().unwrap();
    let code = store
        .ensure_bootstrap("office")
        .unwrap()
        .expect("fresh database is bootstrapped");
    assert_eq!(store.ensure_bootstrap("office").unwrap(), None);

    let units = store.list_units().unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].code, "OFFICE");
    assert!(units[0].is_office);
    let admin = store.user(ADMIN_LOGIN).unwrap();
    assert_eq!(admin.role, Role::Office);
    assert_eq!(admin.unit, "OFFICE");

    let enrolled = store.redeem_enrollment(&code, ACTOR_A, None).unwrap();
    assert_eq!(enrolled.user_login, ADMIN_LOGIN);
    assert_eq!(enrolled.role, Role::Office);
    let admin = store.principal_for_token(&enrolled.token).unwrap();
    assert!(admin.can_see_unit("ANY"));
}

#[test]
fn bootstrap_flags_an_existing_unit_with_the_office_code() {
    let mut store = AccountStore::open_in_memory().unwrap();
    store.add_unit("test", "BGS", "办公室").unwrap();
    store.ensure_bootstrap("BGS").unwrap().unwrap();
    let unit = store.unit("BGS").unwrap();
    assert!(unit.is_office);
    assert_eq!(unit.name, "办公室");
    assert_eq!(store.user(ADMIN_LOGIN).unwrap().unit, "BGS");
}

#[test]
fn enrollment_code_works_exactly_once() {
    let mut store = store();
    let code = store
        .create_enrollment(Issuer::Admin("test"), "zhang")
        .unwrap();
    assert_eq!(code.user_login, "zhang");

    let first = store
        .redeem_enrollment(&code.code, ACTOR_A, Some("张三的手机"))
        .unwrap();
    assert_eq!(first.user_login, "zhang");
    assert_eq!(first.user_name, "张三");
    assert_eq!(first.unit, "WJK");
    assert_eq!(first.role, Role::Staff);
    assert_eq!(first.token.len(), 64);

    let again = store.redeem_enrollment(&code.code, ACTOR_B, None);
    assert!(
        matches!(again, Err(RelayError::InvalidEnrollmentCode)),
        "{again:?}"
    );
    assert_eq!(store.list_devices().unwrap().len(), 1);
}

#[test]
fn wrong_malformed_or_expired_codes_are_refused() {
    let mut store = store();
    let code = store
        .create_enrollment(Issuer::Admin("test"), "zhang")
        .unwrap();
    for wrong in ["", "ABC", "00000000", "this is not a code at all"] {
        let result = store.redeem_enrollment(wrong, ACTOR_A, None);
        assert!(
            matches!(result, Err(RelayError::InvalidEnrollmentCode)),
            "{wrong:?}: {result:?}"
        );
    }
    store
        .conn()
        .execute(
            "UPDATE acct_enrollments SET expires_at = '2000-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
    let expired = store.redeem_enrollment(&code.code, ACTOR_A, None);
    assert!(
        matches!(expired, Err(RelayError::InvalidEnrollmentCode)),
        "{expired:?}"
    );
    assert!(store.list_devices().unwrap().is_empty());
}

#[test]
fn typed_codes_are_forgiving_about_case_and_dashes() {
    let mut store = store();
    let code = store
        .create_enrollment(Issuer::Admin("test"), "zhang")
        .unwrap()
        .code;
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let enrolled = store.redeem_enrollment(&typed, ACTOR_A, None).unwrap();
    assert_eq!(enrolled.user_login, "zhang");
}

#[test]
fn an_actor_id_binds_to_one_device_only_and_the_code_survives_a_clash() {
    let mut store = store();
    enroll(&mut store, "zhang", ACTOR_A);
    let code = store
        .create_enrollment(Issuer::Admin("test"), "zhang")
        .unwrap();
    let clash = store.redeem_enrollment(&code.code, &ACTOR_A.to_uppercase(), None);
    assert!(
        matches!(clash, Err(RelayError::DuplicateActor(_))),
        "{clash:?}"
    );
    // The failed attempt rolled back: the code is still unused.
    store.redeem_enrollment(&code.code, ACTOR_B, None).unwrap();
    let bad_actor = store
        .create_enrollment(Issuer::Admin("test"), "zhang")
        .unwrap();
    let result = store.redeem_enrollment(&bad_actor.code, "not-hex", None);
    assert!(
        matches!(result, Err(RelayError::BadRequest(_))),
        "{result:?}"
    );
}

#[test]
fn device_codes_are_sequential_and_unique() {
    let mut store = store();
    let a = enroll(&mut store, "zhang", ACTOR_A);
    let b = enroll(&mut store, "zhang", ACTOR_B);
    assert_eq!(a.device_code, "D1");
    assert_eq!(b.device_code, "D2");
    assert_ne!(a.device_id, b.device_id);
    assert_ne!(a.token, b.token);
    assert_eq!(
        uuid::Uuid::parse_str(&a.device_id)
            .unwrap()
            .get_version_num(),
        4
    );
    assert_eq!(store.device("d2").unwrap().id, b.device_id);
    assert_eq!(store.device_for_actor(ACTOR_B).unwrap().unwrap().code, "D2");
    assert!(store.device_for_actor("abcd").unwrap().is_none());
}

#[test]
fn token_resolves_to_principal_until_revoked() {
    let mut store = store();
    let enrolled = enroll(&mut store, "zhang", ACTOR_A);
    let principal = store.principal_for_token(&enrolled.token).unwrap();
    assert_eq!(principal.device_id, enrolled.device_id);
    assert_eq!(principal.device_code, "D1");
    assert_eq!(principal.actor_hex, ACTOR_A);
    assert_eq!(principal.user_login, "zhang");
    assert_eq!(principal.user_name, "张三");
    assert_eq!(principal.unit, "WJK");
    assert_eq!(principal.role, Role::Staff);
    assert!(principal.can_see_unit("WJK"));
    assert!(!principal.can_see_unit("OFFICE"));

    let revoked = store.revoke_device("test", &enrolled.device_id).unwrap();
    assert!(revoked.revoked_at.is_some());
    let refused = store.principal_for_token(&enrolled.token);
    assert!(
        matches!(refused, Err(RelayError::DeviceRevoked)),
        "{refused:?}"
    );
    // Revoking again is harmless and keeps the first time.
    let again = store.revoke_device("test", "D1").unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
}

#[test]
fn unknown_tokens_and_devices_are_refused() {
    let mut store = store();
    enroll(&mut store, "zhang", ACTOR_A);
    let other = secret::new_token();
    assert!(matches!(
        store.principal_for_token(&other),
        Err(RelayError::Unauthorized)
    ));
    assert!(matches!(
        store.principal_for_token("short"),
        Err(RelayError::Unauthorized)
    ));
    assert!(matches!(
        store.revoke_device("test", "D99"),
        Err(RelayError::UnknownDevice(_))
    ));
    assert!(matches!(
        store.create_enrollment(Issuer::Admin("test"), "nobody"),
        Err(RelayError::UnknownUser(_))
    ));
}

#[test]
fn duplicate_units_and_users_are_refused() {
    let mut store = store();
    let unit = store.add_unit("test", "wjk", "另一个");
    assert!(
        matches!(unit, Err(RelayError::DuplicateUnit(ref c)) if c == "WJK"),
        "{unit:?}"
    );
    let user = store.add_user(
        "test",
        &NewUser {
            login: "Zhang".into(),
            name: "另一个张三".into(),
            unit: "WJK".into(),
            role: Role::UnitHead,
        },
    );
    assert!(
        matches!(user, Err(RelayError::DuplicateUser(ref l)) if l == "zhang"),
        "{user:?}"
    );
    let no_unit = store.add_user(
        "test",
        &NewUser {
            login: "li".into(),
            name: "李四".into(),
            unit: "NOPE".into(),
            role: Role::Staff,
        },
    );
    assert!(
        matches!(no_unit, Err(RelayError::UnknownUnit(_))),
        "{no_unit:?}"
    );
    assert_eq!(store.list_units().unwrap().len(), 2);
    assert_eq!(store.list_users().unwrap().len(), 2);
}

#[test]
fn office_role_only_in_the_office_unit() {
    let mut store = store();
    let wrong = store.add_user(
        "test",
        &NewUser {
            login: "wang".into(),
            name: "王五".into(),
            unit: "WJK".into(),
            role: Role::Office,
        },
    );
    assert!(matches!(wrong, Err(RelayError::BadRequest(_))), "{wrong:?}");
    let right = store
        .add_user(
            "test",
            &NewUser {
                login: "wang".into(),
                name: "王五".into(),
                unit: "office".into(),
                role: Role::Office,
            },
        )
        .unwrap();
    assert_eq!(right.unit, "OFFICE");
}

#[test]
fn passwords_are_hashed_and_verified() {
    let mut store = store();
    assert!(!store.verify_password("zhang", "whatever1").unwrap());
    store.set_password("test", "zhang", "s3cret-pass").unwrap();
    assert!(store.user("zhang").unwrap().has_password);
    assert!(store.verify_password("zhang", "s3cret-pass").unwrap());
    assert!(!store.verify_password("zhang", "s3cret-pasS").unwrap());
    assert!(!store.verify_password("nobody", "s3cret-pass").unwrap());
    let stored: String = store
        .conn()
        .query_row(
            "SELECT password_hash FROM acct_users WHERE login = 'zhang'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(matches!(
        store.set_password("test", "nobody", "s3cret-pass"),
        Err(RelayError::UnknownUser(_))
    ));
}

#[test]
fn audit_log_records_who_did_what() {
    let mut store = store();
    let enrolled = enroll(&mut store, "zhang", ACTOR_A);
    store
        .revoke_device("cli:root", &enrolled.device_id)
        .unwrap();
    let log = store.audit_log(100).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "device.revoke",
            "device.enroll",
            "device.enrollment_code",
            "user.add",
            "unit.add",
            "device.enrollment_code",
            "bootstrap",
        ]
    );
    assert_eq!(log[0].actor_login, "cli:root");
    assert!(log[0].detail.contains("D1"));
    assert_eq!(log[1].actor_login, "zhang");
    assert!(log[4].detail.contains("WJK"));
    assert_eq!(store.audit_log(2).unwrap().len(), 2);
}

#[test]
fn only_hashes_of_tokens_and_codes_reach_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let mut store = AccountStore::open(&path).unwrap();
    let admin_code = store
        .ensure_bootstrap(DEFAULT_OFFICE_CODE)
        .unwrap()
        .unwrap();
    let enrolled = store.redeem_enrollment(&admin_code, ACTOR_A, None).unwrap();
    let journal: String = store
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    drop(store);

    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("relay.db-wal")) {
        bytes.extend(wal);
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains(&secret::hash_secret(&enrolled.token)),
        "the token's hash is stored (proves we read the right bytes)"
    );
    assert!(!contains(&enrolled.token), "plain token must not be stored");
    assert!(
        !contains(&admin_code),
        "plain enrollment code must not be stored"
    );

    // Reopening keeps everything and does not bootstrap again.
    let mut store = AccountStore::open(&path).unwrap();
    assert_eq!(store.ensure_bootstrap(DEFAULT_OFFICE_CODE).unwrap(), None);
    assert_eq!(
        store
            .principal_for_token(&enrolled.token)
            .unwrap()
            .user_login,
        ADMIN_LOGIN
    );
}

#[test]
fn core_tables_and_user_version_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 7; CREATE TABLE meta (k TEXT, v TEXT);
             INSERT INTO meta VALUES ('owner', 'core');",
        )
        .unwrap();
    }
    let store = AccountStore::open(&path).unwrap();
    let user_version: i64 = store
        .conn()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(user_version, 7);
    let owner: String = store
        .conn()
        .query_row("SELECT v FROM meta WHERE k = 'owner'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(owner, "core");
    let tables: Vec<String> = store
        .conn()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('meta', 'sqlite_sequence') ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(tables.iter().all(|t| t.starts_with("acct_")), "{tables:?}");
}

#[test]
fn enrollment_codes_follow_the_roles_of_issuer_and_user() {
    let mut store = store();
    store.add_unit("test", "JKK", "监督所").unwrap();
    for (login, unit, role) in [
        ("boss", "WJK", Role::UnitHead),
        ("wangju", "WJK", Role::Leader),
        ("jkkstaff", "JKK", Role::Staff),
        ("jkkboss", "JKK", Role::UnitHead),
        ("clerk", "OFFICE", Role::Office),
    ] {
        store
            .add_user(
                "test",
                &NewUser {
                    login: login.into(),
                    name: login.into(),
                    unit: unit.into(),
                    role,
                },
            )
            .unwrap();
    }
    let codes = |store: &AccountStore| -> i64 {
        store
            .conn()
            .query_row("SELECT count(*) FROM acct_enrollments", [], |r| r.get(0))
            .unwrap()
    };
    let before = codes(&store);
    // A unit head: not for a leader, an office user, another unit's staff or head, or
    // themselves; and a staff member or leader issues nothing at all.
    for (issuer, target) in [
        ("boss", "wangju"),
        ("boss", ADMIN_LOGIN),
        ("boss", "clerk"),
        ("boss", "jkkstaff"),
        ("boss", "jkkboss"),
        ("boss", "boss"),
        ("zhang", "zhang"),
        ("wangju", "zhang"),
        ("nobody", "zhang"),
    ] {
        let refused = store.create_enrollment(Issuer::User(issuer), target);
        assert!(
            matches!(&refused, Err(RelayError::MayNotEnroll(l)) if l == target),
            "{issuer} -> {target}: {refused:?}"
        );
    }
    assert_eq!(
        codes(&store),
        before,
        "no code was made for a refused request"
    );
    // Own staff: yes, logged as the unit head.
    let code = store
        .create_enrollment(Issuer::User("boss"), "zhang")
        .unwrap();
    assert_eq!(store.audit_log(1).unwrap()[0].actor_login, "boss");
    assert_eq!(
        store
            .redeem_enrollment(&code.code, ACTOR_A, None)
            .unwrap()
            .role,
        Role::Staff
    );
    // The office (any office user) and the admin command line: anyone.
    for target in ["wangju", "jkkboss", "boss", ADMIN_LOGIN] {
        store
            .create_enrollment(Issuer::User("clerk"), target)
            .unwrap();
        store
            .create_enrollment(Issuer::User(ADMIN_LOGIN), target)
            .unwrap();
        store
            .create_enrollment(Issuer::Admin("cli:root"), target)
            .unwrap();
    }
    // A unit head moved out of the role loses the right at once.
    store
        .conn()
        .execute(
            "UPDATE acct_users SET role = 'staff' WHERE login = 'boss'",
            [],
        )
        .unwrap();
    assert!(matches!(
        store.create_enrollment(Issuer::User("boss"), "zhang"),
        Err(RelayError::MayNotEnroll(_))
    ));
}

#[test]
fn an_unknown_stored_role_is_refused_not_read_as_staff() {
    let mut store = store();
    let enrolled = enroll(&mut store, "zhang", ACTOR_A);
    // A row the CHECK constraint would refuse today (a tampered or foreign database file).
    store
        .conn_mut()
        .execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE acct_users SET role = 'chief' WHERE login = 'zhang';
             PRAGMA ignore_check_constraints = OFF;",
        )
        .unwrap();
    assert!(store.principal_for_token(&enrolled.token).is_err());
    assert!(store.user("zhang").is_err());
    assert!(store.list_users().is_err());
}

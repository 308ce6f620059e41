//! Campaigns set by the office, the calendar reports use, and the rules of issue 14 that the
//! core keeps: visit target codes, person fields naming users, screening ↔ dispute links,
//! decisions that must not proceed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use fieldledger_core::model::campaign::{CAMPAIGN_UNIT, CampaignPlan, PlanRound};
use fieldledger_core::model::unit::profile_id;
use fieldledger_core::model::{Record, RecordKind, Role};
use fieldledger_core::report::supervision::{SupervisionQuery, supervision};
use fieldledger_core::report::{Calendar, for_report};
use fieldledger_core::store::UserDirectory;
use fieldledger_core::testing::{day_ms, memory_store, ticking_clock};
use fieldledger_core::{Edit, Error, FieldValue, Store};

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn plan(year: i32, due: u32) -> CampaignPlan {
    let d = |m, day| NaiveDate::from_ymd_opt(year, m, day).unwrap();
    CampaignPlan {
        name: format!("{year}年三大活动"),
        start: d(9, 1),
        end: d(11, 30),
        time_zone: Some("Asia/Shanghai".into()),
        monthly_due_day: Some(due),
        screening: Some("half-monthly".into()),
        rounds: vec![
            PlanRound {
                code: "1".into(),
                label: "第一轮".into(),
                ends_on: d(9, 30),
            },
            PlanRound {
                code: "2".into(),
                label: "第二轮".into(),
                ends_on: d(10, 31),
            },
        ],
    }
}

fn office_at(day: &str) -> (Store, Arc<std::sync::atomic::AtomicI64>) {
    let mut s = memory_store("office", "JGB", Role::Office, "O1");
    let (clock, t) = ticking_clock(day_ms(day));
    s.set_clock(clock);
    (s, t)
}

#[test]
fn the_office_sets_campaigns_and_reports_use_the_one_in_force() {
    let (mut s, t) = office_at("2025-08-01");
    let c2025 = s.set_campaign(&plan(2025, 23)).unwrap();
    assert!(c2025.created);
    // The same file again changes nothing; a changed due day is one recorded edit.
    assert!(!s.set_campaign(&plan(2025, 23)).unwrap().changed);
    t.store(day_ms("2025-09-10"), Ordering::SeqCst);
    let changed = s.set_campaign(&plan(2025, 20)).unwrap();
    assert!(changed.changed && !changed.created);
    assert_eq!(changed.id, c2025.id);
    let history = s.history(&c2025.id).unwrap();
    assert_eq!(history.len(), 2, "created, then the due day changed");
    assert_eq!(s.record(&c2025.id).unwrap().meta().unit, CAMPAIGN_UNIT);

    t.store(day_ms("2026-08-01"), Ordering::SeqCst);
    s.set_campaign(&plan(2026, 25)).unwrap();
    let calendar = Calendar::load(&s, None).unwrap();
    assert_eq!(calendar.campaigns().len(), 2);
    // Under way, between two campaigns, before the first: each day has its campaign.
    assert_eq!(calendar.in_force(date("2026-10-05")).monthly_due_day, 25);
    assert_eq!(
        calendar
            .in_force(date("2026-10-05"))
            .current_round(date("2026-10-05"))
            .unwrap()
            .code,
        "2"
    );
    assert_eq!(calendar.in_force(date("2026-01-15")).name, "2025年三大活动");
    assert_eq!(calendar.in_force(date("2024-01-15")).name, "2025年三大活动");
    assert!(calendar.in_force(date("2025-10-01")).is_set());

    // "As of" a day of last year's campaign: its calendar as it stood then (due day 23
    // before the change of 2025-09-10), whatever this year's says.
    let (then, at) = for_report(&s, Some(date("2025-09-05"))).unwrap();
    assert_eq!(then.name, "2025年三大活动");
    assert_eq!(then.monthly_due_day, 23);
    assert!(at.is_some());
    // Before this year's starts, last year's is in force; once under way, this year's.
    assert_eq!(for_report(&s, None).unwrap().0.name, "2025年三大活动");
    t.store(day_ms("2026-10-05"), Ordering::SeqCst);
    let (now, at) = for_report(&s, None).unwrap();
    assert_eq!((now.name.as_str(), at), ("2026年三大活动", None));

    // A campaign cannot lose a round (visits name it), nor end before it starts.
    let mut fewer = plan(2026, 25);
    fewer.rounds.pop();
    assert!(matches!(
        s.set_campaign(&fewer),
        Err(Error::RuleViolation(_))
    ));
    let mut backwards = plan(2026, 25);
    backwards.name = "倒置".into();
    backwards.end = date("2026-01-01");
    assert!(s.set_campaign(&backwards).is_err());
    let mut bad_zone = plan(2026, 25);
    bad_zone.name = "时区".into();
    bad_zone.time_zone = Some("Mars/Olympus".into());
    assert!(s.set_campaign(&bad_zone).is_err());
}

#[test]
fn with_no_campaign_set_the_plans_calendar_of_the_year_stands_in() {
    let (s, _) = office_at("2026-12-01");
    let (c, _) = for_report(&s, None).unwrap();
    assert!(!c.is_set());
    assert_eq!(c.start, date("2026-10-01"));
    assert_eq!(c.end, date("2026-12-31"));
}

#[test]
fn only_the_office_sets_a_campaign() {
    let (mut office, _) = office_at("2026-08-01");
    let id = office.set_campaign(&plan(2026, 23)).unwrap().id;
    for role in [Role::Staff, Role::UnitHead, Role::Leader] {
        let mut s = memory_store("someone", "WJK", role, "S1");
        assert!(matches!(
            s.set_campaign(&plan(2026, 23)),
            Err(Error::PermissionDenied(_))
        ));
        // Nor by merging a change made elsewhere: the office's bytes merge, a unit's edit
        // of them does not pass the checks.
        s.merge_remote(&id, &office.document_bytes(&id).unwrap())
            .unwrap();
        assert!(s.edit(&id, &[Edit::text("time_zone", "UTC")]).is_err());
    }
}

#[test]
fn a_visit_names_only_a_target_of_its_unit() {
    let (mut s, _) = office_at("2026-10-03");
    s.create_with_id(
        &profile_id("WJK"),
        RecordKind::UnitProfile,
        Some("WJK"),
        &[
            Edit::text("unit_name", "疾控科"),
            Edit::Append {
                list: "visit_targets".into(),
                values: vec![
                    ("code".into(), FieldValue::text("T1")),
                    ("name".into(), FieldValue::text("王家村")),
                ],
            },
        ],
        None,
    )
    .unwrap();
    let visit = |target: &str| {
        vec![
            Edit::text("visit_date", "2026-10-03"),
            Edit::text("round", "1"),
            Edit::text("visited_name", "王家村"),
            Edit::text("target", target),
        ]
    };
    s.create(RecordKind::Visit, Some("WJK"), &visit("T1"))
        .unwrap();
    let e = s
        .create(RecordKind::Visit, Some("WJK"), &visit("T9"))
        .unwrap_err();
    assert!(e.to_string().contains("走访对象编号"), "{e}");
    // Another unit's targets are not this unit's.
    assert!(
        s.create(RecordKind::Visit, Some("JKK"), &visit("T1"))
            .is_err()
    );
}

struct Users(&'static [&'static str]);

impl UserDirectory for Users {
    fn names_user(&self, who: &str) -> fieldledger_core::Result<bool> {
        Ok(self.0.contains(&who))
    }
}

#[test]
fn person_fields_that_name_a_user_must_name_a_known_one() {
    let (mut s, _) = office_at("2026-10-03");
    s.set_users(Arc::new(Users(&["wangju", "王局长", "zhang"])));
    let case = |leader: &str| vec![Edit::text("title", "信访案"), Edit::text("leader", leader)];
    s.create(RecordKind::Petition, Some("WJK"), &case("wangju"))
        .unwrap();
    s.create(RecordKind::Petition, Some("WJK"), &case("王局长"))
        .unwrap();
    // A case's leader signs it off: an unknown login or name is refused.
    for unknown in ["nobody", "李局长"] {
        let e = s
            .create(RecordKind::Petition, Some("WJK"), &case(unknown))
            .unwrap_err();
        assert!(e.to_string().contains("包案领导"), "{e}");
    }
    // On the dispute ledger, 责任领导 / 责任人 are names as the form writes them: free text,
    // but a login must be a user's.
    let dispute = |leader: &str| vec![Edit::text("name", "纠纷"), Edit::text("leader", leader)];
    s.create(RecordKind::Dispute, Some("WJK"), &dispute("刘书记"))
        .unwrap();
    s.create(RecordKind::Dispute, Some("WJK"), &dispute("zhang"))
        .unwrap();
    assert!(
        s.create(RecordKind::Dispute, Some("WJK"), &dispute("ghost"))
            .is_err()
    );
}

#[test]
fn screening_rounds_and_the_disputes_they_found_link_both_ways() {
    let (mut s, _) = office_at("2026-10-10");
    let round = s
        .create(
            RecordKind::Screening,
            Some("WJK"),
            &[Edit::text("screened_on", "2026-10-10")],
        )
        .unwrap();
    let d1 = s
        .create(
            RecordKind::Dispute,
            Some("WJK"),
            &[
                Edit::text("name", "甲"),
                Edit::text("screening_round", &round),
            ],
        )
        .unwrap();
    let Record::Screening(r) = s.record(&round).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.disputes,
        vec![d1.clone()],
        "the round lists the dispute it found"
    );

    let d2 = s
        .create(
            RecordKind::Dispute,
            Some("WJK"),
            &[Edit::text("name", "乙")],
        )
        .unwrap();
    s.edit(
        &round,
        &[Edit::set(
            "disputes",
            FieldValue::List(vec![d1.clone(), d2.clone()]),
        )],
    )
    .unwrap();
    assert_eq!(
        s.dispute(&d2).unwrap().screening_round.as_deref(),
        Some(round.as_str())
    );

    // Unlinking on one side unlinks the other.
    s.edit(&d1, &[Edit::set("screening_round", FieldValue::Null)])
        .unwrap();
    let Record::Screening(r) = s.record(&round).unwrap() else {
        panic!()
    };
    assert_eq!(r.disputes, vec![d2.clone()]);

    // A link names a record of the right kind in the same unit.
    let other_unit = s
        .create(
            RecordKind::Dispute,
            Some("JKK"),
            &[Edit::text("name", "丙")],
        )
        .unwrap();
    assert!(
        s.edit(
            &round,
            &[Edit::set(
                "disputes",
                FieldValue::List(vec![d2, other_unit])
            )]
        )
        .is_err()
    );
    assert!(
        s.create(
            RecordKind::Dispute,
            Some("WJK"),
            &[Edit::text("name", "丁"), Edit::text("screening_round", &d1)],
        )
        .is_err()
    );
}

#[test]
fn decisions_without_a_passed_assessment_must_not_proceed() {
    let (mut s, _) = office_at("2026-10-10");
    let assess = |s: &mut Store, decision: &str, extra: Vec<Edit>| {
        let mut e = vec![
            Edit::text("decision", decision),
            Edit::text("assessed_on", "2026-10-09"),
        ];
        e.extend(extra);
        s.create(RecordKind::RiskAssessment, Some("WJK"), &e)
            .unwrap()
    };
    assess(&mut s, "医院搬迁", vec![Edit::text("result", "failed")]);
    assess(&mut s, "门诊改造", vec![]);
    let conditional = assess(
        &mut s,
        "停车收费",
        vec![
            Edit::text("result", "conditional"),
            Edit::text("conditions", "先听证"),
        ],
    );
    assess(&mut s, "开设夜诊", vec![Edit::text("result", "passed")]);
    // A conditional pass without its conditions is refused.
    assert!(
        s.create(
            RecordKind::RiskAssessment,
            Some("WJK"),
            &[
                Edit::text("decision", "x"),
                Edit::text("result", "conditional")
            ],
        )
        .is_err()
    );

    let blocked = |s: &Store| {
        let (c, _) = for_report(s, None).unwrap();
        let v = supervision(s, &SupervisionQuery::default(), &c).unwrap();
        v.blocked_decisions
            .items
            .iter()
            .map(|b| (b.decision.clone(), b.reason.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        blocked(&s),
        vec![
            (
                "停车收费".into(),
                "有条件通过，条件落实前不得出台实施".into()
            ),
            ("医院搬迁".into(), "评估不通过，不得出台实施".into()),
            ("门诊改造".into(), "尚未评估，不得出台实施".into()),
        ]
    );
    s.edit(
        &conditional,
        &[Edit::set("conditions_met", FieldValue::Bool(true))],
    )
    .unwrap();
    assert_eq!(
        blocked(&s).len(),
        2,
        "its conditions met, the decision may proceed"
    );
}

//! Errors of the dashboard, answered as HTML pages a person can read.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::RelayError;

/// Something a dashboard request could not do, with the page it is answered with.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebError {
    /// Unknown page or record, or a record outside the viewer's units (they look the same).
    NotFound(String),
    /// The viewer may not do this, or the form's CSRF token is missing or stale.
    Forbidden(String),
    /// A value in the request is wrong.
    BadRequest(String),
    /// Too many requests from this address.
    TooManyRequests,
    /// A failure of the relay; details go to the log only.
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    heading: &'a str,
    message: &'a str,
}

impl WebError {
    /// HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The unknown-record error: the same for records that do not exist and records of another
    /// unit, so a unit head cannot even learn that a record exists elsewhere.
    pub fn no_record() -> WebError {
        WebError::NotFound("未找到该记录，或它不属于您可查看的单位。".into())
    }
}

impl From<RelayError> for WebError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::Core(e) => WebError::from_core(&e),
            RelayError::RateLimited => WebError::TooManyRequests,
            RelayError::MayNotEnroll(login) => WebError::Forbidden(format!(
                "单位负责人只能为本单位的工作人员生成设备注册码；{login} 的注册码请向领导小组办公室申请。"
            )),
            RelayError::UnknownUnit(_) => WebError::NotFound("没有这个单位。".into()),
            RelayError::UnknownUser(_) => WebError::NotFound("没有这个用户。".into()),
            RelayError::UnknownDevice(_) => WebError::NotFound("没有这个设备。".into()),
            RelayError::Forbidden(_) => WebError::Forbidden("您无权查看或进行此项操作。".into()),
            other => match other.status() {
                StatusCode::NOT_FOUND => WebError::NotFound("未找到所请求的内容。".into()),
                StatusCode::FORBIDDEN => WebError::Forbidden("您无权查看或进行此项操作。".into()),
                s if s.is_client_error() => {
                    WebError::BadRequest("请求有误，请检查填写的内容后重试。".into())
                }
                _ => WebError::Internal(other.to_string()),
            },
        }
    }
}

impl WebError {
    /// A core error as a page shows it: unknown records look like records out of scope, what
    /// the person can fix is said in Chinese ([`core_message`]), failures go to the log.
    pub fn from_core(e: &fieldledger_core::Error) -> WebError {
        use fieldledger_core::Error as E;
        match e {
            E::UnknownRecord(_) => WebError::no_record(),
            E::PermissionDenied(_) => WebError::Forbidden(core_message(e)),
            E::UnknownEntry { .. } => WebError::NotFound(core_message(e)),
            E::WrongKind { .. }
            | E::UnknownField { .. }
            | E::InvalidValue { .. }
            | E::UnknownCategory(_)
            | E::RuleViolation(_)
            | E::NoConflict(_) => WebError::BadRequest(core_message(e)),
            other => WebError::Internal(other.to_string()),
        }
    }
}

/// What the core's rule messages say, by a phrase each contains, in Chinese. The core words
/// its messages in English for logs and the command line; the pages say the same in Chinese.
const RULES: &[(&str, &str)] = &[
    (
        "demand status cannot move",
        "诉求的办理状态不能倒退（已登记 → 办理中 → 已落实／已解释答复）。",
    ),
    (
        "needs the response text",
        "诉求改为“已解释答复”时须填写答复情况。",
    ),
    (
        "rectification status cannot move backwards",
        "整改状态不能倒退（待整改 → 已整改 → 已验收）。",
    ),
    (
        "only a resolved case can be signed off",
        "只有已化解的案件才能销号。",
    ),
    (
        "resolved only with its disposition",
        "案件改为已化解时须填写处理方式（四个到位）。",
    ),
    (
        "sign off through the sign-off action",
        "销号请使用“销号”按钮，销号会记入销号记录。",
    ),
    (
        "reopened only through the reopen action",
        "已销号的案件请使用“重新打开”按钮重新打开。",
    ),
    (
        "is only appended to, never rewritten",
        "销号记录只能追加，不能改写。",
    ),
    (
        "cannot be marked 未发现问题",
        "已发现矛盾纠纷的排查不能标为未发现问题。",
    ),
    ("is already dispute", "该诉求已转为矛盾纠纷。"),
    (
        "resolve it before erasing",
        "记录中有待裁决的冲突，请先裁决后再删除个人信息。",
    ),
    (
        "assigns a case's leader",
        "只有单位负责人或领导小组办公室可以指定包案领导。",
    ),
    (
        "sign-off log",
        "只有该案件的包案领导或领导小组办公室可以销号或重新打开。",
    ),
    (
        "may sign it off",
        "只有该案件的包案领导或领导小组办公室可以销号或重新打开。",
    ),
    (
        "may reopen",
        "只有该案件的包案领导或领导小组办公室可以销号或重新打开。",
    ),
    (
        "verifies a rectification",
        "只有领导小组办公室可以验收整改。",
    ),
    (
        "records a bureau inspection",
        "督查由领导小组办公室记录；单位记录自查，并可把督查发现的问题标为已整改。",
    ),
    (
        "submits a unit's monthly report",
        "只有本单位负责人或领导小组办公室可以报送月报。",
    ),
    (
        "categories and visit targets",
        "只有本单位负责人或领导小组办公室可以维护本单位的自定义类型和走访对象名单。",
    ),
    (
        "maintains unit profiles",
        "只有领导小组办公室可以建立单位信息。",
    ),
    (
        "moves records between units",
        "只有领导小组办公室可以把记录移交其他单位。",
    ),
    (
        "erases personal data",
        "只有领导小组办公室可以删除个人信息。",
    ),
    (
        "cannot change records of unit",
        "您不能修改其他单位的记录。",
    ),
    (
        "already has a visit target with this code",
        "本单位的走访对象名单中已有这个编号。",
    ),
    (
        "sets a campaign's calendar",
        "只有领导小组办公室可以设置活动日程。",
    ),
    (
        "keeps the directory of users",
        "只有领导小组办公室可以维护人员名单。",
    ),
    ("end comes before its start", "活动的结束日期早于开始日期。"),
    (
        "visit rounds end in order",
        "各走访轮次的完成日期须依次排列，并在活动起止日期之内。",
    ),
    (
        "cannot be removed (visits name it)",
        "已设置的走访轮次不能删除（走访记录引用了它）。",
    ),
    (
        "belongs to the whole bureau",
        "活动属于全局，不属于某个单位。",
    ),
    ("have one code", "两个走访轮次的编号相同。"),
];

/// Why a value was refused, by how the core's reason begins, in Chinese.
const REASONS: &[(&str, &str)] = &[
    ("must not be empty", "不能为空"),
    ("must be given", "必须填写"),
    ("is not a date", "不是有效的日期（YYYY-MM-DD）"),
    ("is not a whole number", "不是整数"),
    ("is not yes/no", "只能填“是”或“否”"),
    ("is longer than", "超过了字数上限"),
    ("is negative", "不能是负数"),
    ("is implausibly large", "数值过大"),
    ("is not one of", "不是可选的值"),
    ("has more than", "条数超过了上限"),
    ("has a name longer than", "有一项超过了字数上限"),
    ("has the wrong type", "类型不对"),
    ("is before the day the dispute was found", "早于发现日期"),
    ("is not YYYY-MM", "不是 YYYY-MM 格式的月份"),
    ("is not a month", "不是 YYYY-MM 格式的月份"),
    ("say why", "请填写依据"),
    ("appended to, not set", "是条目列表，只能逐条添加"),
    ("append entries", "是条目列表，只能逐条添加"),
    ("is not a list of entries", "不是条目列表"),
    ("would grow past", "记录过大，请另建一条记录继续"),
    ("is larger than", "记录过大"),
    ("already exists", "已存在"),
    (
        "choose the case's leader from the users",
        "不是系统中的用户，请从用户中选择包案领导",
    ),
    (
        "names no user",
        "不是本系统的用户，请从人员名单中选择（或填写姓名）",
    ),
    ("names no visit target", "不是本单位走访对象名单中的编号"),
    ("names no", "不是本单位的对应记录"),
    ("is not a time zone", "不是有效的时区（如 Asia/Shanghai）"),
    (
        "is a day of the month from 1 to 28",
        "应为 1 到 28 之间的日期",
    ),
    ("is not a visit round", "不是走访轮次（1、2、3、4）"),
    ("must say the conditions", "有条件通过时须填写通过条件"),
    ("is not half-monthly", "目前只支持每半月"),
];

/// Field names the core uses without a form label.
const BARE_FIELDS: &[(&str, &str)] = &[
    ("month", "月份"),
    ("reason", "依据"),
    ("record", "记录"),
    ("format", "格式"),
    ("kind", "记录类型"),
    ("id", "记录编号"),
];

/// A core error in Chinese, for a person on a page: the field's form label where there is one,
/// never a value of the record (the core's own message may quote one, so it is not shown).
pub fn core_message(e: &fieldledger_core::Error) -> String {
    use fieldledger_core::Error as E;
    let said = |table: &[(&str, &'static str)], msg: &str| {
        table
            .iter()
            .find(|(phrase, _)| msg.contains(phrase))
            .map(|(_, zh)| *zh)
    };
    match e {
        E::UnknownRecord(_) => "未找到该记录，或它不属于您可查看的单位。".into(),
        E::WrongKind { expected, .. } => format!("这条记录不是{}。", expected.label()),
        E::UnknownField { kind, .. } => format!("{}没有这一项。", kind.label()),
        E::InvalidValue { field, reason } => {
            // `label (key)` as the core names a field, or a bare key.
            let label = field.split(" (").next().unwrap_or(field);
            let label = BARE_FIELDS
                .iter()
                .find(|(key, _)| *key == label)
                .map_or(label, |(_, zh)| zh);
            let why = said(REASONS, reason).unwrap_or("填写的值不符合要求");
            format!("{label}：{why}。")
        }
        E::UnknownCategory(_) => "类型：不是本单位可用的类型。请从表格所列的17种类型中选择，\
             或先在本单位的自定义类型中添加。"
            .into(),
        E::RuleViolation(m) => said(RULES, m).unwrap_or("这项修改不符合办理规则。").into(),
        E::PermissionDenied(m) => said(RULES, m).unwrap_or("您无权进行此项操作。").into(),
        E::UnknownEntry { .. } => "没有这一条目（可能已被改动，请刷新页面）。".into(),
        E::NoConflict(_) => "该字段已没有待裁决的冲突（可能已由他人裁决）。".into(),
        _ => "处理请求时出错，请稍后再试；详情见中继服务日志。".into(),
    }
}

impl From<fieldledger_core::Error> for WebError {
    fn from(e: fieldledger_core::Error) -> Self {
        WebError::from(RelayError::from(e))
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("rendering a page: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (heading, message) = match &self {
            WebError::NotFound(m) => ("未找到", m.as_str()),
            WebError::Forbidden(m) => ("无权操作", m.as_str()),
            WebError::BadRequest(m) => ("请求有误", m.as_str()),
            WebError::TooManyRequests => ("请求过于频繁", "请稍候再试。"),
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "dashboard request failed");
                (
                    "服务器出错",
                    "处理请求时出错，请稍后再试；详情见中继服务日志。",
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {heading}: {message}", status.as_u16()));
        let mut response = (status, Html(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use fieldledger_core::model::Record;
    use fieldledger_core::testing::{identity, memory_store};
    use fieldledger_core::{Edit, Error, FieldValue, RecordKind, Role, Store};

    use super::core_message;

    /// Whether a message still holds an English word (three letters or more).
    fn english(m: &str) -> bool {
        m.split(|c: char| !c.is_ascii_alphabetic())
            .any(|w| w.len() >= 3 && w != "YYYY")
    }

    fn said(e: Error) -> String {
        let m = core_message(&e);
        assert!(!english(&m), "{e} → {m}");
        m
    }

    fn entry(store: &Store, id: &str, list: &str) -> String {
        let json = serde_json::to_value(store.record(id).unwrap()).unwrap();
        json[list][0]["id"].as_str().unwrap().to_owned()
    }

    #[test]
    fn refused_values_name_the_field_by_its_label_in_chinese() {
        let long = "长".repeat(60_000);
        let mut seen = 0;
        for kind in RecordKind::ALL {
            for spec in kind.fields() {
                for bad in ["-1", "x", "2019-13-45", "", long.as_str()] {
                    if let Err(e) = spec.parse(bad) {
                        let m = said(e);
                        assert!(m.starts_with(spec.label), "{m}");
                        assert!(!m.contains("填写的值不符合要求"), "{m}");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 20, "{seen}");
    }

    #[test]
    fn the_rules_of_the_kinds_are_said_in_chinese() {
        let mut office = memory_store("admin", "BGS", Role::Office, "D1");
        let staff = identity("zhang", "WJK", Role::Staff, "D2");
        let demand = |status: &str| Edit::Append {
            list: "demands".into(),
            values: vec![
                ("content".into(), FieldValue::text("修路")),
                ("status".into(), FieldValue::text(status)),
            ],
        };
        let visit = office
            .create(
                RecordKind::Visit,
                Some("WJK"),
                &[Edit::text("visited_name", "王家村"), demand("in_hand")],
            )
            .unwrap();
        let d = entry(&office, &visit, "demands");
        let set = |list: &str, entry: &str, to: &str| Edit::SetInEntry {
            list: list.into(),
            entry: entry.into(),
            field: "status".into(),
            value: FieldValue::text(to),
        };
        let mut refused = vec![
            office.edit(&visit, &[set("demands", &d, "recorded")]),
            office.edit(&visit, &[set("demands", &d, "answered")]),
        ];
        let case = office
            .create(
                RecordKind::Petition,
                Some("WJK"),
                &[Edit::text("title", "积案")],
            )
            .unwrap();
        refused.push(office.edit(&case, &[Edit::text("status", "signed_off")]));
        refused.push(office.edit(&case, &[Edit::text("status", "resolved")]));
        refused.push(office.act_as(staff.clone(), |s| {
            s.edit(&case, &[Edit::text("leader", "zhang")])
        }));
        let check = office
            .create(
                RecordKind::Inspection,
                Some("WJK"),
                &[
                    Edit::text("inspected_on", "2019-10-10"),
                    Edit::text("kind", "self_check"),
                    Edit::Append {
                        list: "problems".into(),
                        values: vec![("problem".into(), FieldValue::text("台账不全"))],
                    },
                ],
            )
            .unwrap();
        let p = entry(&office, &check, "problems");
        refused.push(office.act_as(staff.clone(), |s| {
            s.edit(&check, &[set("problems", &p, "verified")])
        }));
        refused.push(office.act_as(staff.clone(), |s| {
            s.write_monthly(None, "2019-10", None, None, "2019-10-20".parse().ok())
                .map(|_| ())
        }));
        refused.push(office.act_as(staff, |s| {
            s.edit(
                &fieldledger_core::model::unit::profile_id("WJK"),
                &[Edit::text("unit_name", "改名")],
            )
        }));
        let mut messages = Vec::new();
        for r in refused {
            let e = r.expect_err("refused");
            if matches!(e, Error::UnknownRecord(_)) {
                continue; // no profile in this store
            }
            let m = said(e);
            assert!(
                !m.contains("不符合办理规则") && !m.contains("您无权进行此项操作"),
                "a message of its own: {m}"
            );
            messages.push(m);
        }
        assert!(messages.len() >= 7, "{messages:?}");
        assert!(messages[0].contains("不能倒退"), "{messages:?}");
        assert!(messages[1].contains("答复情况"), "{messages:?}");
        let Record::Visit(v) = office.record(&visit).unwrap() else {
            unreachable!()
        };
        assert_eq!(v.demands[0].status.map(|s| s.label()), Some("办理中"));
    }

    #[test]
    fn other_errors_keep_record_values_out_of_the_message() {
        let m = said(Error::UnknownCategory("张三的私事".into()));
        assert!(m.starts_with("类型") && !m.contains("张三"));
        let m = said(Error::RuleViolation(
            "this demand is already dispute 张三".into(),
        ));
        assert!(!m.contains("张三"), "{m}");
        said(Error::UnknownEntry {
            list: "demands".into(),
            entry: "x".into(),
        });
        said(Error::NoConflict("people_involved".into()));
        said(Error::PermissionDenied("something new".into()));
    }

    #[test]
    fn campaign_target_and_link_rules_are_said_in_chinese() {
        use fieldledger_core::model::campaign::{CampaignPlan, PlanRound};
        let d = |s: &str| s.parse().unwrap();
        let plan = CampaignPlan {
            name: "活动".into(),
            start: d("2026-10-01"),
            end: d("2026-09-01"),
            time_zone: None,
            monthly_due_day: None,
            screening: None,
            rounds: vec![PlanRound {
                code: "1".into(),
                label: "第一轮".into(),
                ends_on: d("2026-10-31"),
            }],
        };
        let mut office = memory_store("admin", "BGS", Role::Office, "D1");
        let m = said(office.set_campaign(&plan).unwrap_err());
        assert!(m.contains("结束日期早于开始日期"), "{m}");
        let mut staff = memory_store("zhang", "WJK", Role::Staff, "D2");
        let ok = CampaignPlan {
            end: d("2026-12-31"),
            ..plan
        };
        let m = said(staff.set_campaign(&ok).unwrap_err());
        assert!(m.contains("只有领导小组办公室可以设置活动日程"), "{m}");
        let visit = [
            Edit::text("visit_date", "2026-10-05"),
            Edit::text("visited_name", "某村"),
            Edit::text("target", "T9"),
        ];
        let m = said(staff.create(RecordKind::Visit, None, &visit).unwrap_err());
        assert_eq!(m, "走访对象编号：不是本单位走访对象名单中的编号。");
        let link = [
            Edit::text("name", "纠纷"),
            Edit::text("screening_round", "no-such-round"),
        ];
        let m = said(staff.create(RecordKind::Dispute, None, &link).unwrap_err());
        assert_eq!(m, "来源排查：不是本单位的对应记录。");
    }
}

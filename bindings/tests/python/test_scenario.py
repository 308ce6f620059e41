"""The phone scenario driven through uniffi's Python bindings of the real compiled library.

Run by bindings/tests/run-python.sh, which builds the library, generates the bindings into a
directory on PYTHONPATH and starts a relay. Environment: RELAY_URL, CODE_A, CODE_B, CODE_C
(enrollment codes: zhang, the head of unit WJK, li, staff of WJK, zhang again), WORK (a temp dir),
RELAY_BIN and RELAY_DB (for the admin command line: revoking a device).

Plain Python with asserts: exits non-zero on the first failure and prints the timings.
"""

import json
import os
import subprocess
import sys
import threading
import time

import fieldledger_ffi as fl
from fieldledger_ffi import FfiError, FieldPair, FieldStore, LedgerFormat, RecordKind

RELAY = os.environ["RELAY_URL"]
WORK = os.environ["WORK"]
TIMINGS = []
# Store keys, as an app keeps them in the platform keystore: 32 random bytes per store.
KEY_A = os.urandom(32)
KEY_B = os.urandom(32)
KEY_C = os.urandom(32)


def admin(*args):
    """Runs the relay's admin command line and returns its standard output."""
    out = subprocess.run(
        [os.environ["RELAY_BIN"], "admin", "--db", os.environ["RELAY_DB"], *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def file_bytes(path):
    """The store file and its write-ahead log."""
    data = b""
    for p in (path, path + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                data += f.read()
    return data


def pairs(**kw):
    return [FieldPair(field=k, value=str(v)) for k, v in kw.items()]


def raises(exc_type, fn, *args):
    """Calls fn and returns the exception, which must be of exc_type."""
    try:
        fn(*args)
    except exc_type as e:
        assert str(e), f"{exc_type.__name__} without a message"
        return e
    except Exception as e:  # noqa: BLE001 - report any other type
        raise AssertionError(f"expected {exc_type.__name__}, got {type(e).__name__}: {e}")
    raise AssertionError(f"expected {exc_type.__name__}, nothing was raised")


class Progress(fl.SyncProgressListener):
    """Records every progress report."""

    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress)


class Exploding(fl.SyncProgressListener):
    """A listener that throws: the sync must go on."""

    def on_progress(self, progress):
        raise RuntimeError("listener bug")


def step(name):
    def wrap(fn):
        def run(*a, **kw):
            t = time.perf_counter()
            out = fn(*a, **kw)
            TIMINGS.append((name, time.perf_counter() - t))
            print(f"  ok  {name} ({(time.perf_counter() - t) * 1000:.0f} ms)", flush=True)
            return out

        return run

    return wrap


@step("bad arguments before enrollment")
def bad_arguments_before_enrollment():
    raises(FfiError.InvalidArgument, FieldStore.open, "/nonexistent-dir/x/store.db", KEY_A)
    raises(FfiError.NotFound, FieldStore.open_existing, os.path.join(WORK, "missing.db"), KEY_A)
    raises(FfiError.InvalidValue, FieldStore.open, os.path.join(WORK, "short.db"), b"short")
    s = FieldStore.open(os.path.join(WORK, "scratch.db"), KEY_A)
    assert s.identity() is None
    raises(FfiError.NotEnrolled, s.create_dispute, pairs(name="x"))
    raises(FfiError.NotEnrolled, s.sync, None)
    raises(FfiError.NotEnrolled, s.export_ledger, LedgerFormat.CSV)
    raises(FfiError.InvalidArgument, s.enroll, "not a url", "ABCD1234", None)
    raises(FfiError.InvalidArgument, s.enroll, "ftp://relay", "ABCD1234", None)
    raises(FfiError.InvalidArgument, s.enroll, RELAY, "", None)
    raises(FfiError.InvalidArgument, s.enroll, RELAY, "WRONG123", None)
    raises(FfiError.Network, s.enroll, "http://127.0.0.1:9", "ABCD1234", None)
    raises(FfiError.InvalidArgument, s.enroll, RELAY, "ABCD1234", None, "not a certificate")
    assert s.identity() is None


@step("enroll device A")
def enroll_a():
    a = FieldStore.open(os.path.join(WORK, "a.db"), KEY_A)
    ident = a.enroll(RELAY, os.environ["CODE_A"], "张三的手机")
    assert ident.user == "zhang" and ident.unit == "WJK" and ident.role == "unit-head", ident
    assert ident.name == "张三"
    assert a.identity() == ident
    # A used code is refused with a message the app can show.
    again = FieldStore.in_memory()
    e = raises(FfiError.InvalidArgument, again.enroll, RELAY, os.environ["CODE_A"], None)
    assert "enrollment" in str(e), e
    return a


@step("create and edit records offline")
def create_offline(a):
    d = a.create_dispute(
        pairs(
            name="某小区供暖纠纷",
            category="民生保障",
            situation="冬季供暖不达标，涉及多户居民。",
            所涉人数=12,
            is_major="是",
            trend="有升级风险",
            found_on="2019-10-08",
            deadline="2019-11-30",
            leader="王局",
        )
    )
    m = a.append_entry(d, "measures", pairs(date="2019-10-09", what="约谈物业公司"))
    a.set_field(d, "responsible", "张三")
    a.set_fields(d, pairs(is_group="否", mediation="人民调解"))
    a.set_entry_field(d, "工作措施", m, "by", "张三")
    rec = a.dispute(d)
    assert rec.name == "某小区供暖纠纷" and rec.category == "民生保障"
    assert rec.people_involved == 12 and rec.is_major is True and rec.is_group is False
    assert rec.trend == "escalating" and rec.mediation == "people"
    assert rec.found_on == "2019-10-08" and rec.deadline == "2019-11-30"
    assert [x.what for x in rec.measures] == ["约谈物业公司"] and rec.measures[0].id == m
    assert rec.measures[0].by == "张三" and rec.responsible == "张三"
    assert rec.number.startswith("WJK-MD-"), rec.number
    assert not rec.is_resolved

    v = a.create_visit(
        pairs(visit_date="2019-10-10", round="第一轮", visitors="张三、李四", visited_name="刘某某户")
    )
    dem = a.append_entry(v, "群众诉求", pairs(content="楼道照明损坏", status="已登记"))
    from_demand = a.demand_to_dispute(v, dem, pairs(category="民生保障"))
    visit = a.visit(v)
    assert visit.visitors == ["张三", "李四"] and visit.round == "1"
    assert visit.demands[0].id == dem and visit.demands[0].dispute == from_demand
    linked = a.dispute(from_demand)
    assert linked.source_visit == v and linked.source_demand == dem
    assert linked.name == "楼道照明损坏" and linked.found_via == "visit"

    p = a.create_petition(pairs(title="张某信访积案", leader="zhang", team="张三、李四"))
    a.append_entry(p, "progress", pairs(date="2019-10-12", what="首次接谈"))
    raises(FfiError.NotAllowed, a.sign_off, p, "未化解不能销号")
    a.set_fields(p, pairs(disposition="合理诉求解决到位", status="resolved"))
    a.sign_off(p, "群众满意")
    assert a.petition(p).status == "signed_off"
    a.reopen(p, "又来信")
    pet = a.petition(p)
    assert pet.status == "open" and [x.action for x in pet.signoffs] == ["sign_off", "reopen"]
    assert pet.team == ["张三", "李四"] and pet.progress[0].what == "首次接谈"

    r = a.create_risk_assessment(pairs(decision="老旧小区改造", assessed_on="2019-10-15"))
    assert a.risk_assessment(r).must_not_proceed
    a.set_field(r, "result", "通过")
    assert a.risk_assessment(r).result == "passed"
    sc = a.create_screening(pairs(screened_on="2019-10-15", screened_by="张三", found_nothing="是"))
    assert a.screening(sc).found_nothing

    assert len(a.list(RecordKind.DISPUTE, None)) == 2
    assert len(a.list(RecordKind.VISIT, ["WJK"])) == 1
    assert len(a.disputes(fl.DisputeQuery(is_major=True))) == 1
    assert len(a.petitions()) == 1 and len(a.visits()) == 1
    assert len(a.risk_assessments()) == 1 and len(a.screenings()) == 1
    assert a.kind_of_record(p) == RecordKind.PETITION
    assert "张某信访积案" in a.record_json(p)
    assert "民生保障" in a.categories(None)
    fields = fl.record_fields(RecordKind.DISPUTE)
    assert [f.key for f in fields][:3] == ["name", "category", "situation"]
    return {"dispute": d, "visit": v, "linked": from_demand, "petition": p, "risk": r, "screening": sc}


@step("bad arguments raise FfiError")
def bad_arguments(a, ids):
    d = ids["dispute"]
    raises(FfiError.InvalidValue, a.set_field, d, "people_involved", "-1")
    raises(FfiError.InvalidValue, a.set_field, d, "所涉人数", "many")
    raises(FfiError.InvalidValue, a.set_field, d, "found_on", "2019-13-45")
    raises(FfiError.InvalidValue, a.set_field, d, "trend", "unknown")
    raises(FfiError.InvalidValue, a.set_field, d, "category", "不存在的类型")
    raises(FfiError.InvalidValue, a.set_field, d, "name", "  ")
    raises(FfiError.UnknownField, a.set_field, d, "no_such_field", "1")
    raises(FfiError.NotFound, a.set_field, "no-such-id", "name", "x")
    raises(FfiError.NotFound, a.dispute, "no-such-id")
    raises(FfiError.NotFound, a.set_entry_field, d, "measures", "no-entry", "what", "x")
    raises(FfiError.WrongKind, a.dispute, ids["visit"])
    raises(FfiError.WrongKind, a.visit, d)
    raises(FfiError.NotFound, a.resolve_conflict, d, "trend", "stable")
    raises(FfiError.NotFound, a.demand_to_dispute, ids["visit"], "no-demand", [])
    raises(FfiError.NotAllowed, a.demand_to_dispute, ids["visit"], a.visit(ids["visit"]).demands[0].id, [])
    raises(FfiError.PermissionDenied, a.move_to_unit, d, "JKK")
    raises(FfiError.InvalidValue, a.disputes, fl.DisputeQuery(found_from="yesterday"))
    # Nothing of the above changed the record.
    assert a.dispute(d).people_involved == 12


@step("device A syncs")
def sync_a(a):
    progress = Progress()
    report = a.sync(progress)
    assert report.pushed == 6, report
    assert report.rejected == [], report.rejected
    assert report.bytes_sent > 0 and report.bytes_received > 0
    assert progress.seen and progress.seen[-1].pushed == 6, progress.seen
    again = a.sync(None)
    assert again.pushed == 0 and again.received == 0, again
    return report


@step("device B (same unit) syncs and sees the merged result")
def device_b(a, ids):
    b = FieldStore.open(os.path.join(WORK, "b.db"), KEY_B)
    assert b.enroll(RELAY, os.environ["CODE_B"], None).user == "li"
    report = b.sync(Progress())
    # The six records of A, and what the relay keeps: the unit's profile, the directory of
    # users.
    kept = b.list(RecordKind.UNIT_PROFILE, None) + b.list(RecordKind.DIRECTORY, None)
    assert report.received == 6 + len(kept), report
    assert b.dispute(ids["dispute"]) == a.dispute(ids["dispute"])
    assert b.visit(ids["visit"]) == a.visit(ids["visit"])
    assert b.petition(ids["petition"]) == a.petition(ids["petition"])
    # Staff name no leader (the unit head does) and sign nothing off.
    raises(FfiError.PermissionDenied, b.set_field, ids["petition"], "leader", "li")
    raises(FfiError.PermissionDenied, b.create_petition, pairs(title="李四的案", leader="li"))
    assert b.risk_assessment(ids["risk"]) == a.risk_assessment(ids["risk"])
    assert b.screening(ids["screening"]) == a.screening(ids["screening"])
    assert {r.id for r in b.list(RecordKind.DISPUTE, None)} == {ids["dispute"], ids["linked"]}
    return b


@step("concurrent edits: merge and conflict")
def concurrent_edits(a, b, ids):
    d = ids["dispute"]
    # Offline on both devices: the same scalar field differently, and both add a measure.
    a.set_field(d, "trend", "基本稳定")
    b.set_field(d, "trend", "趋于缓和")
    a.append_entry(d, "measures", pairs(what="A: 第二次约谈"))
    b.append_entry(d, "measures", pairs(what="B: 组织调解"))
    a.sync(None)
    b.sync(None)
    a.sync(None)
    for s in (a, b):
        cs = s.conflicts(d)
        assert [c.field for c in cs] == ["trend"], cs
        assert {v.value for v in cs[0].values} == {"stable", "easing"}, cs[0].values
        assert {v.user for v in cs[0].values} == {"zhang", "li"}, cs[0].values
        assert cs[0].label == "状态趋势"
        assert [r.conflicts for r in s.list(RecordKind.DISPUTE, None) if r.id == d] == [1]
        assert [r.id for r in s.list_conflicted()] == [d]
        whats = sorted(m.what for m in s.dispute(d).measures)
        assert whats == ["A: 第二次约谈", "B: 组织调解", "约谈物业公司"], whats
    assert a.dispute(d) == b.dispute(d)
    # Resolve on B by keeping 趋于缓和, sync both ways: the conflict is gone everywhere.
    b.resolve_conflict(d, "trend", "趋于缓和")
    assert b.conflicts(d) == []
    b.sync(None)
    a.sync(None)
    assert a.conflicts(d) == [] and a.dispute(d).trend == "easing"
    assert a.dispute(d) == b.dispute(d)
    # A conflict on an entry field resolves by choosing one of its values.
    m = a.dispute(d).measures[0].id
    a.set_entry_field(d, "measures", m, "what", "A 改")
    b.set_entry_field(d, "measures", m, "what", "B 改")
    a.sync(None)
    b.sync(None)
    a.sync(None)
    cs = a.conflicts(d)
    assert [c.field for c in cs] == [f"measures/{m}/what"], cs
    raises(FfiError.InvalidArgument, a.resolve_conflict_keep, d, cs[0].field, 7)
    a.resolve_conflict_keep(d, cs[0].field, 1)
    kept = cs[0].values[1].value
    a.sync(None)
    b.sync(None)
    assert b.conflicts(d) == [] and b.dispute(d).measures[0].what == kept


@step("history")
def history(a, b, ids):
    h = a.history(ids["dispute"])
    # Both devices hold the same changes (concurrent ones may be listed in another order).
    assert sorted(x.hash for x in h) == sorted(x.hash for x in b.history(ids["dispute"]))
    actions = [x.action for x in h]
    assert actions[0] == "create" and actions.count("resolve_conflict") == 2, actions
    assert {x.user for x in h} == {"zhang", "li"}
    assert all(x.at_ms > 0 and x.hash for x in h)
    assert any("trend" in x.fields for x in h)
    assert h[1].deps, "every change after the first follows another"


@step("workflow steps: demand status, rectification, monthly report, unit profile")
def workflow_steps(a, b, ids):
    # A demand moves 已登记 → 办理中 → 已解释答复 with its response; never backwards.
    v = ids["visit"]
    dem = a.visit(v).demands[0].id
    a.set_demand_status(v, dem, "办理中", None)
    raises(FfiError.NotAllowed, a.set_demand_status, v, dem, "已解释答复", None)
    a.set_demand_status(v, dem, "answered", "已向群众解释维修安排")
    raises(FfiError.NotAllowed, a.set_demand_status, v, dem, "recorded", None)
    d = a.visit(v).demands[0]
    assert d.status == "answered" and d.response == "已向群众解释维修安排", d

    # A self-check's problem: staff mark it rectified; only the bureau office verifies.
    i = b.create_record(
        RecordKind.INSPECTION, None, pairs(inspected_on="2019-10-20", kind="自查")
    )
    p = b.append_entry(i, "问题清单", pairs(problem="台账不全", status="待整改"))
    b.mark_rectified(i, p)
    raises(FfiError.PermissionDenied, b.verify_rectification, i, p)
    insp = b.inspection(i)
    assert [(x.id, x.status) for x in insp.problems] == [(p, "rectified")], insp
    assert insp.kind == "self_check"

    # The monthly report: staff draft it, only the unit head submits it.
    mid = b.draft_monthly("2019-10", "建立周研判机制", None, None)
    raises(FfiError.PermissionDenied, b.submit_monthly, "2019-10", None, None, "2019-10-21", None)
    assert b.monthly_report("2019-10", None).submitted_on is None
    b.sync(None)
    a.sync(None)
    assert a.submit_monthly("2019-10", None, "走访台账不规范", "2019-10-21", None) == mid
    r = a.monthly_report("2019-10", None)
    assert r.experience == "建立周研判机制" and r.problems == "走访台账不规范", r
    assert r.submitted_on == "2019-10-21" and r.submitted_by == "张三", r
    assert a.monthly_report("2019-09", None) is None

    # The unit's own categories and visit targets: the head keeps them, staff read them.
    assert a.unit_profile(None).categories == []
    assert a.add_category("疫苗接种", None) is True
    assert a.add_category("疫苗接种", None) is False
    assert a.add_category("医疗卫生", None) is False
    raises(FfiError.PermissionDenied, b.add_category, "其他", None)
    t = a.add_visit_target(pairs(编号="H01", 走访对象="刘某某户"), None)
    a.set_visit_target_field(t, "地点", "三村", None)
    raises(FfiError.NotAllowed, a.add_visit_target, pairs(code="H01", name="另一户"), None)
    a.sync(None)
    b.sync(None)
    prof = b.unit_profile(None)
    assert prof.unit == "WJK" and prof.categories == ["疫苗接种"], prof
    assert [(x.id, x.code, x.name, x.place) for x in prof.visit_targets] == [
        (t, "H01", "刘某某户", "三村")
    ], prof.visit_targets
    assert b.categories(None).count("疫苗接种") == 1
    raises(FfiError.PermissionDenied, b.set_visit_target_field, t, "place", "四村", None)
    b.create_dispute(pairs(name="接种纠纷", category="疫苗接种"))
    b.sync(None)
    a.sync(None)


@step("this year's campaign: calendar, people to choose, supervision and monthly figures")
def campaign_figures(a, b):
    import datetime

    today = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).date()
    first = today.replace(day=1)
    month = first.strftime("%Y-%m")
    start = today - datetime.timedelta(days=50)
    name = f"{today.year}年三大活动"
    path = os.path.join(WORK, "campaign.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f'name = "{name}"\nstart = {start}\nend = {today + datetime.timedelta(days=40)}\n'
            'time_zone = "Asia/Shanghai"\nmonthly_due_day = 23\nscreening = "half-monthly"\n'
            f'[[rounds]]\ncode = "1"\nlabel = "第一轮"\nends_on = {today - datetime.timedelta(days=20)}\n'
            f'[[rounds]]\ncode = "2"\nlabel = "第二轮"\nends_on = {today + datetime.timedelta(days=20)}\n'
        )
    assert json.loads(admin("--json", "campaign", "set", path))["created"] is True
    a.sync(None)
    b.sync(None)
    (c,) = [c for c in b.campaigns() if c.name == name]
    assert c.under_way and c.monthly_due_day == 23 and [r.code for r in c.rounds] == ["1", "2"], c

    # Person fields are chosen from the unit's users (and the leaders and the office).
    logins = {u.login for u in b.users(None)}
    assert {"zhang", "li"} <= logins, logins

    # A failed assessment: the decision must not proceed, on the phone offline and on the relay.
    a.create_risk_assessment(
        pairs(decision="医院整体搬迁", result="failed", assessed_on=first.isoformat())
    )
    a.submit_monthly(month, "坚持每周研判", "走访台账不规范", first.isoformat(), None)
    a.sync(None)
    b.sync(None)
    phone = json.loads(b.supervision_json(None))
    assert phone["campaign"]["name"] == name and phone["campaign"]["set"] is True, phone["campaign"]
    assert phone["current_round"] == "2", phone["current_round"]
    blocked = [i["decision"] for i in phone["blocked_decisions"]["items"]]
    assert blocked == ["医院整体搬迁"], blocked
    relay = json.loads(admin("export", "supervision", "--unit", "WJK"))
    for view in ("blocked_decisions", "missing_screenings", "overdue_disputes", "uncovered_targets"):
        assert phone[view]["per_unit"] == relay[view]["per_unit"], (view, phone[view], relay[view])
    # No screening was held in this campaign: every half-month behind it is missing.
    assert phone["missing_screenings"]["per_unit"]["WJK"] >= 2, phone["missing_screenings"]

    # 有条件通过 lets a decision proceed only once its conditions are recorded as met.
    cond = a.create_risk_assessment(
        pairs(decision="门诊楼改造", result="有条件通过", conditions="先开听证会")
    )
    rec = a.risk_assessment(cond)
    assert rec.must_not_proceed and rec.proceed_label == "有条件通过，条件落实前不得出台实施", rec
    a.set_field(cond, "条件已落实", "是")
    rec = a.risk_assessment(cond)
    assert not rec.must_not_proceed and rec.conditions == "先开听证会", rec

    r = json.loads(b.monthly_report_json(month, None, None))
    assert r["submission"]["status"] == "on_time", r["submission"]
    assert "医院整体搬迁" in r["not_to_proceed"], r["not_to_proceed"]
    assert r["experience"] == "坚持每周研判", r["experience"]


@step("several threads at once (and a sync running)")
def threads(a):
    errors = []
    created = []
    lock = threading.Lock()
    before = len(a.list(RecordKind.DISPUTE, None))

    def worker(n):
        try:
            for i in range(10):
                rid = a.create_dispute(pairs(name=f"线程{n}-{i}", people_involved=i))
                a.set_field(rid, "remarks", f"备注 {n}/{i}")
                a.append_entry(rid, "measures", pairs(what=f"措施 {i}"))
                assert a.dispute(rid).people_involved == i
                a.list(RecordKind.DISPUTE, None)
                raises(FfiError.InvalidValue, a.set_field, rid, "people_involved", "-5")
                with lock:
                    created.append(rid)
        except BaseException as e:  # noqa: BLE001 - collected and reported below
            errors.append(e)

    def syncer():
        try:
            for _ in range(3):
                a.sync(Exploding())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    ts.append(threading.Thread(target=syncer))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert len(created) == 80 and len(set(created)) == 80
    assert len(a.list(RecordKind.DISPUTE, None)) == before + 80
    numbers = [r.number for r in a.list(RecordKind.DISPUTE, None)]
    assert len(set(numbers)) == len(numbers), "case numbers stay unique under threads"
    a.sync(None)
    assert a.sync(None).pushed == 0


@step("export the unit's ledger")
def export(a, b):
    b.sync(None)
    csv = a.export_ledger(LedgerFormat.CSV)
    text = csv.decode("utf-8-sig")
    assert text.startswith("序号,名称,类型,基本情况,工作措施"), text[:300]
    assert "某小区供暖纠纷" in text and "线程7-9" in text
    assert text == b.export_ledger(LedgerFormat.CSV).decode("utf-8-sig")
    xlsx = a.export_ledger(LedgerFormat.XLSX)
    assert xlsx[:2] == b"PK", xlsx[:8]
    path = os.path.join(WORK, "ledger.xlsx")
    n = a.export_ledger_to_file(LedgerFormat.XLSX, path)
    assert n == os.path.getsize(path) > 0
    raises(FfiError.Export, a.export_ledger_to_file, LedgerFormat.CSV, "/nonexistent-dir/x.csv")


@step("reopen the store from its file")
def reopen(ids):
    a2 = FieldStore.open_existing(os.path.join(WORK, "a.db"), KEY_A)
    assert a2.identity().user == "zhang"
    assert a2.dispute(ids["dispute"]).trend == "easing"


@step("the store file is encrypted; a wrong key is refused and changes nothing")
def encrypted_at_rest(a, ids):
    path = os.path.join(WORK, "a.db")
    name = a.dispute(ids["dispute"]).name
    data = file_bytes(path)
    assert len(data) > 10_000
    # The unit's code as a case number spells it ("WJK-MD-"): three bytes alone turn up in
    # megabytes of ciphertext by chance.
    for text in (name, "zhang", "WJK-MD-", "张三", "SQLite format 3"):
        assert text.encode() not in data, f"{text!r} is readable in the store file"
    before = file_bytes(path)
    e = raises(FfiError.WrongKey, FieldStore.open_existing, path, os.urandom(32))
    assert "key is wrong" in str(e), e
    assert file_bytes(path) == before, "a wrong key changed the file"


@step("a revoked device erases itself and reports its unsynced records")
def revoked_device():
    path = os.path.join(WORK, "c.db")
    c = FieldStore.open(path, KEY_C)
    ident = c.enroll(RELAY, os.environ["CODE_C"], "丢失的手机")
    c.create_dispute(pairs(name="已同步的纠纷", category="医疗卫生"))
    c.sync(None)
    lost_id = c.create_dispute(pairs(name="未同步的纠纷", category="医疗卫生"))
    number = c.dispute(lost_id).number
    admin("device", "revoke", ident.device)
    e = raises(FfiError.DeviceErased, c.sync, None)
    assert "1 record(s) not synced were reported" in str(e), e
    for suffix in ("", "-wal", "-shm"):
        assert not os.path.exists(path + suffix), f"{path + suffix} still exists"
    assert c.identity() is None, "the handle holds nothing any more"
    lost = json.loads(admin("lost-records", "--json"))
    assert [r["number"] for r in lost] == [number], lost
    assert lost[0]["new_record"] is True and lost[0]["user_login"] == "zhang"
    audit = json.loads(admin("audit", "--action", "device.", "--json"))
    actions = [x["action"] for x in audit]
    assert "device.revoke" in actions and "device.lost_records" in actions, actions


def main():
    started = time.perf_counter()
    print(f"python scenario against {RELAY}", flush=True)
    bad_arguments_before_enrollment()
    a = enroll_a()
    ids = create_offline(a)
    bad_arguments(a, ids)
    sync_a(a)
    b = device_b(a, ids)
    concurrent_edits(a, b, ids)
    history(a, b, ids)
    workflow_steps(a, b, ids)
    campaign_figures(a, b)
    threads(a)
    export(a, b)
    reopen(ids)
    encrypted_at_rest(a, ids)
    revoked_device()
    total = time.perf_counter() - started
    print(f"python scenario passed: {len(TIMINGS)} steps in {total * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        import traceback

        traceback.print_exc()
        print(f"python scenario FAILED: {e}", file=sys.stderr)
        sys.exit(1)

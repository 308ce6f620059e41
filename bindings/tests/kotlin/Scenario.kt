// The phone scenario driven from Kotlin through uniffi's generated bindings (JNA) of the real
// compiled library. Run by bindings/tests/run-kotlin.sh, which starts a relay and sets
// RELAY_URL, CODE_A, CODE_B (enrollment codes of zhang, head of unit WJK, and li, its staff) and WORK.

import fieldledger.ffi.DisputeQuery
import fieldledger.ffi.FfiException
import fieldledger.ffi.FieldPair
import fieldledger.ffi.FieldStore
import fieldledger.ffi.LedgerFormat
import fieldledger.ffi.RecordKind
import fieldledger.ffi.SyncProgress
import fieldledger.ffi.SyncProgressListener
import fieldledger.ffi.recordFields
import java.io.File
import java.util.Collections
import kotlin.system.exitProcess

val relay: String = System.getenv("RELAY_URL") ?: error("RELAY_URL is not set")
val work: String = System.getenv("WORK") ?: error("WORK is not set")

/** A store key, as the app keeps it in the Android Keystore: 32 random bytes. */
fun newKey(): ByteArray = ByteArray(32).also { java.security.SecureRandom().nextBytes(it) }

val keyA = newKey()
val keyB = newKey()

fun pairs(vararg kv: Pair<String, Any>): List<FieldPair> =
    kv.map { (k, v) -> FieldPair(field = k, value = v.toString()) }

fun check(cond: Boolean, what: () -> String) {
    if (!cond) throw AssertionError(what())
}

inline fun <reified E : FfiException> raises(block: () -> Unit): E {
    try {
        block()
    } catch (e: FfiException) {
        check(e is E) { "expected ${E::class.simpleName}, got ${e::class.simpleName}: ${e.message}" }
        check(!e.message.isNullOrBlank()) { "${E::class.simpleName} without a message" }
        return e as E
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

fun step(name: String, block: () -> Unit) {
    val t = System.nanoTime()
    block()
    println("  ok  $name (${(System.nanoTime() - t) / 1_000_000} ms)")
}

class Progress : SyncProgressListener {
    val seen: MutableList<SyncProgress> = Collections.synchronizedList(mutableListOf())
    override fun onProgress(progress: SyncProgress) {
        seen.add(progress)
    }
}

class Exploding : SyncProgressListener {
    override fun onProgress(progress: SyncProgress) {
        throw IllegalStateException("listener bug")
    }
}

fun scenario() {
    lateinit var a: FieldStore
    lateinit var b: FieldStore
    lateinit var dispute: String
    lateinit var visit: String
    lateinit var petition: String

    step("bad arguments before enrollment") {
        raises<FfiException.InvalidArgument> { FieldStore.open("/nonexistent-dir/x/store.db", keyA) }
        raises<FfiException.NotFound> { FieldStore.openExisting("$work/missing.db", keyA) }
        FieldStore.inMemory().use { s ->
            check(s.identity() == null) { "a new store has no identity" }
            raises<FfiException.NotEnrolled> { s.createDispute(pairs("name" to "x")) }
            raises<FfiException.NotEnrolled> { s.sync(null) }
            raises<FfiException.InvalidArgument> { s.enroll("not a url", "ABCD1234", null) }
            raises<FfiException.InvalidArgument> { s.enroll(relay, "WRONG123", null) }
            raises<FfiException.Network> { s.enroll("http://127.0.0.1:9", "ABCD1234", null) }
        }
    }

    step("enroll device A") {
        a = FieldStore.open("$work/a.db", keyA)
        val id = a.enroll(relay, System.getenv("CODE_A"), "张三的手机")
        check(id.user == "zhang" && id.unit == "WJK" && id.role == "unit-head") { "$id" }
        check(a.identity() == id) { "identity kept" }
    }

    step("create and edit records offline") {
        dispute = a.createDispute(
            pairs(
                "name" to "某小区供暖纠纷", "category" to "民生保障", "所涉人数" to 12,
                "is_major" to "是", "trend" to "有升级风险", "found_on" to "2019-10-08",
            ),
        )
        val m = a.appendEntry(dispute, "measures", pairs("date" to "2019-10-09", "what" to "约谈物业公司"))
        a.setField(dispute, "responsible", "张三")
        a.setEntryField(dispute, "工作措施", m, "by", "张三")
        val d = a.dispute(dispute)
        check(d.peopleInvolved == 12L && d.isMajor == true && d.trend == "escalating") { "$d" }
        check(d.measures.single().id == m && d.measures.single().by == "张三") { "${d.measures}" }

        visit = a.createVisit(pairs("visit_date" to "2019-10-10", "visitors" to "张三、李四", "visited_name" to "刘某某户"))
        val demand = a.appendEntry(visit, "群众诉求", pairs("content" to "楼道照明损坏"))
        val linked = a.demandToDispute(visit, demand, pairs("category" to "民生保障"))
        check(a.visit(visit).demands.single().dispute == linked) { "demand keeps the link" }
        check(a.dispute(linked).sourceVisit == visit) { "dispute keeps the link" }

        petition = a.createPetition(pairs("title" to "张某信访积案", "leader" to "zhang"))
        raises<FfiException.NotAllowed> { a.signOff(petition, "未化解") }
        a.setFields(petition, pairs("disposition" to "合理诉求解决到位", "status" to "resolved"))
        a.signOff(petition, "群众满意")
        check(a.petition(petition).status == "signed_off") { "signed off" }
        // Signed off and reopened offline, before the first sync: the relay checks each change
        // in its own causal context, so the whole offline history is accepted.
        a.reopen(petition, "又来信")
        check(a.petition(petition).signoffs.map { it.action } == listOf("sign_off", "reopen")) { "log" }

        val risk = a.createRiskAssessment(pairs("decision" to "老旧小区改造"))
        check(a.riskAssessment(risk).mustNotProceed) { "pending assessment must not proceed" }
        a.createScreening(pairs("screened_on" to "2019-10-15", "found_nothing" to "是"))
        check(a.list(RecordKind.DISPUTE, null).size == 2) { "two disputes" }
        check(a.disputes(DisputeQuery(isMajor = true)).size == 1) { "one major dispute" }
        check(recordFields(RecordKind.DISPUTE).first().key == "name") { "form order" }
    }

    step("bad arguments throw FfiException") {
        raises<FfiException.InvalidValue> { a.setField(dispute, "people_involved", "-1") }
        raises<FfiException.InvalidValue> { a.setField(dispute, "found_on", "2019-13-45") }
        raises<FfiException.UnknownField> { a.setField(dispute, "no_such_field", "1") }
        raises<FfiException.NotFound> { a.setField("no-such-id", "name", "x") }
        raises<FfiException.WrongKind> { a.visit(dispute) }
        raises<FfiException.NotFound> { a.resolveConflict(dispute, "trend", "stable") }
        raises<FfiException.PermissionDenied> { a.moveToUnit(dispute, "JKK") }
        check(a.dispute(dispute).peopleInvolved == 12L) { "unchanged" }
    }

    step("device A syncs") {
        val p = Progress()
        val r = a.sync(p)
        check(r.pushed == 6UL && r.rejected.isEmpty()) { "$r" }
        check(p.seen.isNotEmpty() && p.seen.last().pushed == 6UL) { "${p.seen}" }
    }

    step("device B (same unit) syncs and sees the merged result") {
        b = FieldStore.open("$work/b.db", keyB)
        check(b.enroll(relay, System.getenv("CODE_B"), null).user == "li") { "li" }
        b.sync(null)
        check(b.dispute(dispute) == a.dispute(dispute)) { "same dispute on both devices" }
        check(b.visit(visit) == a.visit(visit)) { "same visit" }
        check(b.petition(petition) == a.petition(petition)) { "same petition" }
        // Staff name no leader (the unit head does).
        raises<FfiException.PermissionDenied> { b.setField(petition, "leader", "li") }
    }

    step("concurrent edits: merge and conflict") {
        a.setField(dispute, "trend", "基本稳定")
        b.setField(dispute, "trend", "趋于缓和")
        a.appendEntry(dispute, "measures", pairs("what" to "A: 第二次约谈"))
        b.appendEntry(dispute, "measures", pairs("what" to "B: 组织调解"))
        a.sync(null); b.sync(null); a.sync(null)
        for (s in listOf(a, b)) {
            val cs = s.conflicts(dispute)
            check(cs.map { it.field } == listOf("trend")) { "$cs" }
            check(cs[0].values.map { it.value }.toSet() == setOf("stable", "easing")) { "$cs" }
            check(cs[0].values.map { it.user }.toSet() == setOf("zhang", "li")) { "$cs" }
            check(s.dispute(dispute).measures.size == 3) { "measures merge" }
        }
        b.resolveConflict(dispute, "trend", "趋于缓和")
        b.sync(null); a.sync(null)
        check(a.conflicts(dispute).isEmpty() && a.dispute(dispute).trend == "easing") { "resolved" }
        check(a.dispute(dispute) == b.dispute(dispute)) { "converged" }
    }

    step("history") {
        val h = a.history(dispute)
        check(h.first().action == "create") { "$h" }
        check(h.any { it.action == "resolve_conflict" && it.user == "li" }) { "$h" }
        check(h.map { it.hash }.toSet() == b.history(dispute).map { it.hash }.toSet()) { "same changes" }
    }

    step("workflow steps: demand status, monthly report, unit profile") {
        val demand = a.visit(visit).demands.single().id
        a.setDemandStatus(visit, demand, "办理中", null)
        raises<FfiException.NotAllowed> { a.setDemandStatus(visit, demand, "已解释答复", null) }
        a.setDemandStatus(visit, demand, "answered", "已解释维修安排")
        check(a.visit(visit).demands.single().status == "answered") { "${a.visit(visit)}" }
        raises<FfiException.PermissionDenied> { b.submitMonthly("2019-10", "经验", null, "2019-10-21", null) }
        b.draftMonthly("2019-10", "建立周研判机制", null, null)
        b.sync(null); a.sync(null)
        a.submitMonthly("2019-10", null, "台账不规范", "2019-10-21", null)
        val r = a.monthlyReport("2019-10", null)
        check(r?.experience == "建立周研判机制" && r.submittedOn == "2019-10-21") { "$r" }
        check(a.addCategory("疫苗接种", null) && !a.addCategory("疫苗接种", null)) { "added once" }
        raises<FfiException.PermissionDenied> { b.addCategory("其他", null) }
        a.addVisitTarget(pairs("编号" to "H01", "走访对象" to "刘某某户"), null)
        a.sync(null); b.sync(null)
        val p = b.unitProfile(null)
        check(p.categories == listOf("疫苗接种") && p.visitTargets.single().code == "H01") { "$p" }
    }

    step("several threads at once (and a sync running)") {
        val before = a.list(RecordKind.DISPUTE, null).size
        val errors = Collections.synchronizedList(mutableListOf<Throwable>())
        val threads = (0 until 8).map { n ->
            Thread {
                try {
                    repeat(10) { i ->
                        val id = a.createDispute(pairs("name" to "线程$n-$i", "people_involved" to i))
                        a.setField(id, "remarks", "备注 $n/$i")
                        check(a.dispute(id).peopleInvolved == i.toLong()) { "read back" }
                        raises<FfiException.InvalidValue> { a.setField(id, "people_involved", "-5") }
                    }
                } catch (e: Throwable) {
                    errors.add(e)
                }
            }
        } + Thread {
            try {
                repeat(3) { a.sync(Exploding()) }
            } catch (e: Throwable) {
                errors.add(e)
            }
        }
        threads.forEach { it.start() }
        threads.forEach { it.join() }
        check(errors.isEmpty()) { "$errors" }
        val rows = a.list(RecordKind.DISPUTE, null)
        check(rows.size == before + 80) { "${rows.size}" }
        check(rows.map { it.number }.toSet().size == rows.size) { "unique case numbers" }
        a.sync(null)
        check(a.sync(null).pushed == 0UL) { "nothing left to push" }
    }

    step("export the unit's ledger") {
        val csv = String(a.exportLedger(LedgerFormat.CSV), Charsets.UTF_8).removePrefix("\uFEFF")
        check(csv.startsWith("序号,名称") && csv.contains("某小区供暖纠纷")) { csv.take(200) }
        val path = "$work/ledger.xlsx"
        val n = a.exportLedgerToFile(LedgerFormat.XLSX, path)
        check(n.toLong() == File(path).length() && File(path).readBytes().take(2) == listOf<Byte>(0x50, 0x4B)) { "xlsx" }
    }

    step("the store file is encrypted; a wrong key is refused") {
        val name = a.dispute(dispute).name
        a.close()
        val file = File("$work/a.db")
        val bytes = file.readBytes() + (File("$work/a.db-wal").takeIf { it.exists() }?.readBytes() ?: ByteArray(0))
        val text = String(bytes, Charsets.ISO_8859_1)
        for (plain in listOf(name, "张三", "zhang", "SQLite format 3")) {
            val needle = String(plain.toByteArray(Charsets.UTF_8), Charsets.ISO_8859_1)
            check(!text.contains(needle)) { "`$plain` is readable in the store file" }
        }
        val before = file.readBytes().toList()
        raises<FfiException.WrongKey> { FieldStore.openExisting("$work/a.db", newKey()) }
        check(file.readBytes().toList() == before) { "a wrong key changed the file" }
        FieldStore.openExisting("$work/a.db", keyA).use { again ->
            check(again.dispute(dispute).name == name) { "reopened with the right key" }
        }
    }

    b.close()
}

fun main() {
    println("kotlin scenario against $relay")
    val t = System.nanoTime()
    try {
        scenario()
    } catch (e: Throwable) {
        e.printStackTrace()
        println("kotlin scenario FAILED: ${e.message}")
        exitProcess(1)
    }
    println("kotlin scenario passed in ${(System.nanoTime() - t) / 1_000_000} ms")
    exitProcess(0)
}

//! `fieldledger device`: the phone-side client on a command line — a local store, offline
//! edits, and sync with a relay. Scripts and tests use it the way the app uses the bindings.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use fieldledger_client::input::{self, FieldPath, set_edit};
use fieldledger_client::{ClientError, HttpTransport};
use fieldledger_core::model::{FieldType, RecordKind};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::{Edit, FieldValue, Store};
use serde_json::json;

/// Options of `fieldledger device`.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device's store file (created if missing).
    #[arg(long, global = true, default_value = "device.db")]
    store: PathBuf,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Enroll this store with a relay using a one-time code from the bureau office.
    Enroll {
        /// Relay URL, e.g. http://127.0.0.1:8787.
        #[arg(long)]
        relay: String,
        /// One-time enrollment code.
        #[arg(long)]
        code: String,
        /// Label for the office's device list.
        #[arg(long)]
        label: Option<String>,
    },
    /// Show who this store acts as.
    Whoami,
    /// Whom a person field (包案领导, 责任人) is chosen from: the unit's users, the leaders and
    /// the office, from the directory of users the relay keeps (synced; works offline).
    Users {
        /// Unit whose records the field is on (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Sync with the relay: push local changes, receive the unit's changes.
    Sync,
    /// 矛盾纠纷: disputes of the Annex 2 ledger.
    #[command(subcommand)]
    Dispute(DisputeCommand),
    /// 走访记录: visits and the demands raised.
    #[command(subcommand)]
    Visit(VisitCommand),
    /// 信访积案: petition backlog cases.
    #[command(subcommand)]
    Petition(PetitionCommand),
    /// 社会稳定风险评估: risk assessments.
    #[command(subcommand)]
    Risk(GenericCommand),
    /// 排查: screening rounds.
    #[command(subcommand)]
    Screening(GenericCommand),
    /// 督查 / 自查: inspections and self-checks, and the rectification of their problems.
    #[command(subcommand)]
    Inspection(InspectionCommand),
    /// 单位: this unit's own categories and visit targets (its head or the bureau office
    /// changes them; everyone of the unit reads them).
    #[command(subcommand)]
    Unit(UnitCommand),
    /// 月报: this unit's monthly report (drafted by anyone of the unit, submitted by its head
    /// or the bureau office).
    #[command(subcommand)]
    Monthly(MonthlyCommand),
    /// Any record by id: show, set, history, conflicts, resolve.
    #[command(subcommand)]
    Record(CommonCommand),
    /// Reports from this device's records (offline).
    #[command(subcommand)]
    Export(super::export::ExportCommand),
}

/// Commands every record kind has.
#[derive(Debug, Subcommand)]
enum CommonCommand {
    /// Set a field (by key or by its form label, e.g. 所涉人数).
    Set {
        /// Record id.
        id: String,
        /// Field key or label.
        field: String,
        /// New value (是/否 for flags, YYYY-MM-DD for dates, names separated by 、 or commas).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Append an entry to a list field (工作措施, 群众诉求, 工作进展…).
    Append {
        /// Record id.
        id: String,
        /// List field key or label.
        list: String,
        /// Entry fields as FIELD=VALUE.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// Show a record with its conflicts.
    Show {
        /// Record id.
        id: String,
        /// Include the change history.
        #[arg(long)]
        history: bool,
    },
    /// The change history of a record.
    History {
        /// Record id.
        id: String,
    },
    /// Conflicts of a record.
    Conflicts {
        /// Record id.
        id: String,
    },
    /// Resolve a conflict by choosing a value.
    Resolve {
        /// Record id.
        id: String,
        /// Field path as shown in the conflict.
        field: String,
        /// The chosen value.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

/// Commands of kinds without special options.
#[derive(Debug, Subcommand)]
enum GenericCommand {
    /// Create a record from FIELD=VALUE pairs.
    Add {
        /// Fields as FIELD=VALUE (key or form label).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// List records.
    List,
    #[command(flatten)]
    Common(CommonCommand),
}

#[derive(Debug, Subcommand)]
enum InspectionCommand {
    /// Record an inspection (督查: the bureau office) or a self-check (自查: the unit).
    Add {
        /// Fields as FIELD=VALUE (key or form label).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
        /// The unit inspected (the bureau office; default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// List inspections.
    List,
    /// Mark a problem rectified (已整改): the inspected unit.
    Rectify {
        /// Inspection id.
        id: String,
        /// Problem entry id (问题清单).
        problem: String,
    },
    /// Verify a rectified problem (已验收): the bureau office only.
    Verify {
        /// Inspection id.
        id: String,
        /// Problem entry id (问题清单).
        problem: String,
    },
    #[command(flatten)]
    Common(CommonCommand),
}

#[derive(Debug, Subcommand)]
enum UnitCommand {
    /// The unit's profile: name, own categories, visit targets.
    Show {
        /// Unit code (default: this device's unit; other units for the bureau office).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Dispute categories (类型): the form's 17 and the unit's own.
    #[command(subcommand)]
    Category(CategoryCommand),
    /// Visit targets (走访对象名单) for coverage (走访全覆盖).
    #[command(subcommand)]
    Target(TargetCommand),
}

#[derive(Debug, Subcommand)]
enum CategoryCommand {
    /// List the categories valid for the unit.
    List {
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Add a category of the unit's own (可自行添加); one already there is not added again.
    Add {
        /// The category.
        category: String,
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Remove a category of the unit's own (the form's 17 stay).
    Remove {
        /// The category.
        category: String,
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TargetCommand {
    /// List the unit's visit targets.
    List {
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Add a visit target from FIELD=VALUE pairs (code and name required).
    Add {
        /// Fields as FIELD=VALUE (编号/code, 走访对象/name, 对象类型/kind, 地点/place).
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        values: Vec<String>,
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Change fields of a visit target.
    Edit {
        /// Target entry id (see `unit target list`).
        target: String,
        /// Fields as FIELD=VALUE.
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        values: Vec<String>,
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MonthlyCommand {
    /// Write the month's texts without submitting (anyone of the unit).
    Draft {
        #[command(flatten)]
        texts: MonthlyTexts,
    },
    /// Submit the month's report (报送), with its texts: the unit head or the bureau office.
    Submit {
        #[command(flatten)]
        texts: MonthlyTexts,
        /// 报送日期 (default: today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Show the month's report record (texts, 报送日期, 报送人).
    Show {
        /// Month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Unit code (default: this device's unit).
        #[arg(long)]
        unit: Option<String>,
    },
}

/// The texts of a monthly report.
#[derive(Debug, Args)]
struct MonthlyTexts {
    /// Month, YYYY-MM.
    #[arg(long)]
    month: String,
    /// 活动经验做法.
    #[arg(long)]
    experience: Option<String>,
    /// 存在问题.
    #[arg(long)]
    problems: Option<String>,
    /// Unit code (default: this device's unit; the bureau office may name another).
    #[arg(long)]
    unit: Option<String>,
}

#[derive(Debug, Subcommand)]
enum DisputeCommand {
    /// Record a new dispute.
    Add {
        /// 名称.
        #[arg(long)]
        name: String,
        /// 类型 (one of the form's 17 or one the unit added).
        #[arg(long)]
        category: Option<String>,
        /// 所涉人数.
        #[arg(long)]
        people: Option<String>,
        /// 基本情况.
        #[arg(long)]
        situation: Option<String>,
        /// 责任领导.
        #[arg(long)]
        leader: Option<String>,
        /// 责任人.
        #[arg(long)]
        responsible: Option<String>,
        /// Date found (YYYY-MM-DD).
        #[arg(long)]
        found_on: Option<String>,
        /// Deadline (YYYY-MM-DD).
        #[arg(long)]
        deadline: Option<String>,
        /// Other fields as FIELD=VALUE.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// Add a dated measure (工作措施).
    Measure {
        /// Dispute id.
        id: String,
        /// What was done.
        what: String,
        /// Date (YYYY-MM-DD).
        #[arg(long)]
        date: Option<String>,
    },
    /// List the ledger, optionally filtered.
    List {
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// open or resolved.
        #[arg(long)]
        status: Option<String>,
        /// Only major issues (是否重大问题).
        #[arg(long)]
        major: bool,
    },
    #[command(flatten)]
    Common(CommonCommand),
}

#[derive(Debug, Subcommand)]
enum VisitCommand {
    /// Record a visit.
    Add {
        /// 走访日期 (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// 走访对象.
        #[arg(long)]
        visited: String,
        /// 走访轮次: 1, 2 or adhoc.
        #[arg(long)]
        round: Option<String>,
        /// 走访方式: home, meeting, phone, other.
        #[arg(long)]
        method: Option<String>,
        /// 走访人员, separated by 、 or commas.
        #[arg(long)]
        visitors: Option<String>,
        /// A demand raised (repeatable).
        #[arg(long)]
        demand: Vec<String>,
        /// Other fields as FIELD=VALUE.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// List visits.
    List,
    /// Move a demand (群众诉求) along its status: 已登记 → 办理中 → 已落实 / 已解释答复 (an
    /// answer with explanation needs --response).
    Demand {
        /// Visit id.
        visit: String,
        /// Demand entry id (see `visit show`).
        demand: String,
        /// New status: recorded, in_hand, fulfilled, answered or the labels 已登记, 办理中,
        /// 已落实, 已解释答复.
        #[arg(long)]
        status: String,
        /// 答复情况: the response given.
        #[arg(long)]
        response: Option<String>,
    },
    /// Turn a demand into a dispute (both keep the link).
    ToDispute {
        /// Visit id.
        visit: String,
        /// Demand entry id.
        demand: String,
        /// 类型 of the new dispute.
        #[arg(long)]
        category: Option<String>,
    },
    #[command(flatten)]
    Common(CommonCommand),
}

#[derive(Debug, Subcommand)]
enum PetitionCommand {
    /// Record a petition backlog case.
    Add {
        /// Fields as FIELD=VALUE (title, origin, leader, …).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// List cases.
    List,
    /// Sign a resolved case off (销号): its leader or the bureau office.
    SignOff {
        /// Case id.
        id: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reopen a signed-off case.
    Reopen {
        /// Case id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    #[command(flatten)]
    Common(CommonCommand),
}

/// How a value of a field type is typed on the command line.
fn type_help(ty: FieldType) -> String {
    match ty {
        FieldType::ShortText { required: true } => "text, required".into(),
        FieldType::ShortText { required: false } => "text".into(),
        FieldType::LongText => "long text".into(),
        FieldType::Count => "whole number ≥ 0".into(),
        FieldType::Flag => "是/否".into(),
        FieldType::Date => "date YYYY-MM-DD".into(),
        FieldType::Choice(choices) => {
            let list: Vec<String> = choices
                .iter()
                .map(|c| format!("{} {}", c.code, c.label))
                .collect();
            format!("one of: {}", list.join(", "))
        }
        FieldType::Category => "category: one of the form's 17 or the unit's own".into(),
        FieldType::Person => "person (name or login)".into(),
        FieldType::RecordRef => "record id".into(),
        FieldType::Names => "names separated by 、 or commas".into(),
        FieldType::Entries(_) => "list of entries (append, not set)".into(),
    }
}

/// The fields of a record kind as `--help` lists them: key, form label, type and choices,
/// and the fields of each list's entries. One text for every kind, built from the field
/// descriptions, so it never falls behind them.
pub(crate) fn fields_help(kind: RecordKind) -> String {
    let mut out = format!(
        "Fields of {} ({}), by key or form label:\n",
        kind.label(),
        kind.code()
    );
    let mut lists = Vec::new();
    for f in kind.fields() {
        out.push_str(&format!(
            "  {:<24} {}: {}\n",
            f.key,
            f.label,
            type_help(f.ty)
        ));
        if let FieldType::Entries(items) = f.ty {
            lists.push((f, items));
        }
    }
    for (list, items) in lists {
        out.push_str(&format!(
            "\nEntries of {} {} (`append ID {} --set FIELD=VALUE`):\n",
            list.key, list.label, list.key
        ));
        for i in items {
            out.push_str(&format!(
                "  {:<24} {}: {}\n",
                i.key,
                i.label,
                type_help(i.ty)
            ));
        }
    }
    out
}

/// Adds [`fields_help`] under the `--help` of each kind's commands that take field names
/// (`add`, `set`, `append`; a unit's `target add` / `target edit`).
pub(crate) fn document_fields(device: clap::Command) -> clap::Command {
    const KINDS: [(&str, RecordKind); 6] = [
        ("dispute", RecordKind::Dispute),
        ("visit", RecordKind::Visit),
        ("petition", RecordKind::Petition),
        ("risk", RecordKind::RiskAssessment),
        ("screening", RecordKind::Screening),
        ("inspection", RecordKind::Inspection),
    ];
    let with_fields = |kind: RecordKind| {
        move |c: clap::Command| {
            if ["add", "set", "append"].contains(&c.get_name()) {
                c.after_help(fields_help(kind))
            } else {
                c
            }
        }
    };
    let mut device = device;
    for (name, kind) in KINDS {
        device = device.mut_subcommand(name, |c| {
            let names: Vec<String> = c
                .get_subcommands()
                .map(|s| s.get_name().to_owned())
                .collect();
            names
                .iter()
                .fold(c, |c, n| c.mut_subcommand(n, with_fields(kind)))
        });
    }
    let targets = fields_help(RecordKind::UnitProfile);
    device.mut_subcommand("unit", |u| {
        u.mut_subcommand("target", |t| {
            t.mut_subcommand("add", |c| c.after_help(targets.clone()))
                .mut_subcommand("edit", |c| c.after_help(targets.clone()))
        })
    })
}

/// `FIELD=VALUE` arguments split at their first `=`.
fn assignments(values: &[String]) -> anyhow::Result<Vec<(&str, &str)>> {
    Ok(values
        .iter()
        .map(|kv| input::assignment(kv))
        .collect::<fieldledger_core::Result<_>>()?)
}

/// `FIELD=VALUE` arguments as `Set` edits.
fn pairs(kind: RecordKind, values: &[String]) -> anyhow::Result<Vec<Edit>> {
    Ok(input::set_edits(kind, assignments(values)?)?)
}

/// `FIELD=VALUE` arguments as a new entry of `list`.
fn entry_values(kind: RecordKind, list: &str, values: &[String]) -> anyhow::Result<Edit> {
    Ok(input::append_edit(kind, list, assignments(values)?)?)
}

struct Out {
    json: bool,
}

impl Out {
    fn print(&self, value: serde_json::Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.json {
            out!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            out!("{}", text());
        }
        Ok(())
    }

    fn created(&self, store: &Store, id: &str) -> anyhow::Result<()> {
        let r = store.record(id)?;
        let number = r.meta().number.clone();
        self.print(json!({"id": id, "number": number}), || {
            format!("{id}\t{number}")
        })
    }
}

fn list(store: &Store, out: &Out, kind: RecordKind) -> anyhow::Result<()> {
    let rows = store.list(kind, None)?;
    out.print(serde_json::to_value(&rows)?, || {
        rows.iter()
            .map(|r| {
                let c = if r.conflicts > 0 {
                    format!("  [{} conflicts]", r.conflicts)
                } else {
                    String::new()
                };
                format!("{}\t{}\t{}\t{}{c}", r.id, r.number, r.status, r.title)
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn common(store: &mut Store, out: &Out, cmd: CommonCommand) -> anyhow::Result<()> {
    match cmd {
        CommonCommand::Set { id, field, value } => {
            let kind = store.record(&id)?.meta().kind;
            store.edit(&id, &[set_edit(kind, &field, &value)?])?;
            out.print(json!({"id": id, "updated": field}), || {
                format!("updated {field} of {id}")
            })
        }
        CommonCommand::Append { id, list, values } => {
            let kind = store.record(&id)?.meta().kind;
            store.edit(&id, &[entry_values(kind, &list, &values)?])?;
            out.print(json!({"id": id, "appended": list}), || {
                format!("appended to {list} of {id}")
            })
        }
        CommonCommand::Show { id, history } => {
            let record = store.record(&id)?;
            let conflicts = store.conflicts(&id)?;
            let mut v = json!({"record": record, "conflicts": conflicts});
            if history {
                v["history"] = serde_json::to_value(store.history(&id)?)?;
            }
            out.print(v.clone(), || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })
        }
        CommonCommand::History { id } => {
            let h = store.history(&id)?;
            out.print(serde_json::to_value(&h)?, || {
                h.iter()
                    .map(|e| {
                        let at = chrono::DateTime::from_timestamp_millis(e.at_ms)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default();
                        format!("{at}\t{}\t{}\t{}", e.user, e.device, e.fields.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        CommonCommand::Conflicts { id } => {
            let c = store.conflicts(&id)?;
            out.print(serde_json::to_value(&c)?, || {
                serde_json::to_string_pretty(&c).unwrap_or_default()
            })
        }
        CommonCommand::Resolve { id, field, value } => {
            let kind = store.record(&id)?.meta().kind;
            // Keys or form labels (状态趋势), spelled with keys as conflicts name them.
            let path = FieldPath::parse(kind, &field)?;
            let parsed = path.parse_value(&value)?;
            let field = path.to_string();
            store.resolve_conflict(&id, &field, parsed)?;
            out.print(json!({"id": id, "resolved": field}), || {
                format!("resolved {field} of {id}")
            })
        }
    }
}

/// Environment variable naming a PEM file of the certificate authority to trust for the
/// relay's HTTPS instead of the public ones: for a relay with a certificate from the bureau's
/// own CA.
pub const RELAY_CA_ENV: &str = "FIELDLEDGER_RELAY_CA";

/// The PEM of the CA named by [`RELAY_CA_ENV`], if it is set.
fn relay_ca() -> anyhow::Result<Option<Vec<u8>>> {
    std::env::var_os(RELAY_CA_ENV)
        .map(|path| {
            std::fs::read(&path).with_context(|| {
                format!(
                    "{RELAY_CA_ENV}: cannot read {}",
                    PathBuf::from(&path).display()
                )
            })
        })
        .transpose()
}

/// Environment variable holding the store key (64 hex digits): the store is then encrypted
/// at rest like a phone's. Without it the command-line device store is plain SQLite.
pub const STORE_KEY_ENV: &str = "FIELDLEDGER_STORE_KEY";

fn open_store(path: &std::path::Path) -> anyhow::Result<Store> {
    let store = match std::env::var(STORE_KEY_ENV) {
        Ok(hex_key) => {
            let key = hex::decode(hex_key.trim())
                .ok()
                .filter(|k| k.len() == fieldledger_core::store::STORE_KEY_LEN)
                .with_context(|| format!("{STORE_KEY_ENV} must be 64 hex digits"))?;
            Store::open_encrypted(path, &key)
        }
        Err(_) => Store::open(path),
    };
    store.with_context(|| format!("opening store {}", path.display()))
}

/// Runs a device command.
pub fn run(args: DeviceArgs) -> anyhow::Result<()> {
    let mut store = open_store(&args.store)?;
    let out = Out { json: args.json };
    match args.command {
        DeviceCommand::Enroll { relay, code, label } => {
            let ca = relay_ca()?;
            let id = fieldledger_client::enroll(
                &mut store,
                &relay,
                &code,
                label.as_deref(),
                ca.as_deref(),
            )?;
            out.print(
                serde_json::to_value(json!({
                    "user": id.author.user, "unit": id.author.unit, "role": id.author.role,
                    "device_id": id.author.device, "device_code": id.device_code,
                }))?,
                || {
                    format!(
                        "enrolled as {} ({}) of unit {}, device {}",
                        id.author.user,
                        id.author.role.code(),
                        id.author.unit,
                        id.device_code
                    )
                },
            )
        }
        DeviceCommand::Whoami => {
            let id = store
                .identity()
                .context("this store is not enrolled; run `fieldledger device enroll`")?;
            let v = json!({"user": id.author.user, "name": id.author.name, "unit": id.author.unit, "role": id.author.role,
                "device_id": id.author.device, "device_code": id.device_code, "relay": id.relay_url, "actor": store.actor_hex()});
            out.print(v.clone(), || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })
        }
        DeviceCommand::Users { unit } => {
            let unit = match unit {
                Some(u) => u,
                None => store
                    .identity()
                    .context("this store is not enrolled; run `fieldledger device enroll`")?
                    .author
                    .unit
                    .clone(),
            };
            let directory = store
                .directory()?
                .context("no directory of users yet: run `fieldledger device sync` first")?;
            let users = directory.choices_for(&unit);
            out.print(serde_json::to_value(&users)?, || {
                users
                    .iter()
                    .map(|u| format!("{}\t{}\t{}\t{}", u.login, u.name, u.unit, u.role))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        DeviceCommand::Sync => {
            let mut transport = HttpTransport::for_store_trusting(&store, relay_ca()?.as_deref())?;
            let report = match fieldledger_client::sync(&mut store, &mut transport, &mut |_| {}) {
                Err(ClientError::Erased { reason, report }) => {
                    if out.json {
                        out.print(serde_json::to_value(&report)?, String::new)?;
                    }
                    // Not a sync: the command fails, after the store is gone.
                    bail!(
                        "this device was revoked ({reason}); the store was erased. \
                         {} record(s) not synced were {} the office as lost",
                        report.records.len(),
                        if report.delivered {
                            "reported to"
                        } else {
                            "NOT reported to (the relay did not answer)"
                        }
                    );
                }
                other => other?,
            };
            out.print(serde_json::to_value(&report)?, || {
                let mut s = format!(
                    "synced: {} pushed, {} received, {} refused, {} rounds, {} bytes sent, {} received",
                    report.pushed, report.received, report.rejected.len(), report.rounds, report.bytes_sent, report.bytes_received
                );
                for r in &report.rejected {
                    s.push_str(&format!("\nrefused {}: {}", r.id, r.message));
                }
                s
            })
        }
        DeviceCommand::Dispute(cmd) => dispute(&mut store, &out, cmd),
        DeviceCommand::Visit(cmd) => visit(&mut store, &out, cmd),
        DeviceCommand::Petition(cmd) => petition(&mut store, &out, cmd),
        DeviceCommand::Risk(cmd) => generic(&mut store, &out, RecordKind::RiskAssessment, cmd),
        DeviceCommand::Screening(cmd) => generic(&mut store, &out, RecordKind::Screening, cmd),
        DeviceCommand::Inspection(cmd) => inspection(&mut store, &out, cmd),
        DeviceCommand::Unit(cmd) => unit(&mut store, &out, cmd),
        DeviceCommand::Monthly(cmd) => monthly(&mut store, &out, cmd),
        DeviceCommand::Record(cmd) => common(&mut store, &out, cmd),
        DeviceCommand::Export(cmd) => {
            let id = store
                .identity()
                .context("this store is not enrolled; run `fieldledger device enroll`")?;
            let allowed = fieldledger_core::access::Scope::for_author(&id.author).into_units();
            let own_unit = allowed.is_some().then(|| id.author.unit.clone());
            super::export::run(&store, allowed, own_unit, cmd)
        }
    }
}

fn generic(
    store: &mut Store,
    out: &Out,
    kind: RecordKind,
    cmd: GenericCommand,
) -> anyhow::Result<()> {
    match cmd {
        GenericCommand::Add { values } => {
            let id = store.create(kind, None, &pairs(kind, &values)?)?;
            out.created(store, &id)
        }
        GenericCommand::List => list(store, out, kind),
        GenericCommand::Common(c) => common(store, out, c),
    }
}

fn dispute(store: &mut Store, out: &Out, cmd: DisputeCommand) -> anyhow::Result<()> {
    let kind = RecordKind::Dispute;
    match cmd {
        DisputeCommand::Add {
            name,
            category,
            people,
            situation,
            leader,
            responsible,
            found_on,
            deadline,
            values,
        } => {
            let mut edits = vec![set_edit(kind, "name", &name)?];
            for (k, v) in [
                ("category", category),
                ("people_involved", people),
                ("situation", situation),
                ("leader", leader),
                ("responsible", responsible),
                ("found_on", found_on),
                ("deadline", deadline),
            ] {
                if let Some(v) = v {
                    edits.push(set_edit(kind, k, &v)?);
                }
            }
            edits.extend(pairs(kind, &values)?);
            let id = store.create(kind, None, &edits)?;
            out.created(store, &id)
        }
        DisputeCommand::Measure { id, what, date } => {
            let mut values = vec![format!("what={what}")];
            if let Some(d) = date {
                values.push(format!("date={d}"));
            }
            store.edit(&id, &[entry_values(kind, "measures", &values)?])?;
            out.print(json!({"id": id}), || format!("measure added to {id}"))
        }
        DisputeCommand::List {
            category,
            status,
            major,
        } => {
            let f = DisputeFilter {
                category,
                status,
                is_major: major.then_some(true),
                ..Default::default()
            };
            fieldledger_core::report::check_filter(store, &f)?;
            let rows = store.disputes(&f)?;
            let conflicts: Vec<i64> = rows
                .iter()
                .map(|d| store.list_conflict_count(&d.meta.id))
                .collect::<fieldledger_core::Result<_>>()?;
            let v: Vec<_> = rows
                .iter()
                .zip(&conflicts)
                .map(|(d, c)| json!({"id": d.meta.id, "number": d.meta.number, "unit": d.meta.unit, "name": d.name,
                    "category": d.category, "people_involved": d.people_involved, "resolved": d.is_resolved(), "conflicts": c}))
                .collect();
            out.print(serde_json::Value::Array(v), || {
                rows.iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            d.meta.id,
                            d.meta.number,
                            d.category.clone().unwrap_or_default(),
                            d.name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        DisputeCommand::Common(c) => common(store, out, c),
    }
}

fn visit(store: &mut Store, out: &Out, cmd: VisitCommand) -> anyhow::Result<()> {
    let kind = RecordKind::Visit;
    match cmd {
        VisitCommand::Add {
            date,
            visited,
            round,
            method,
            visitors,
            demand,
            values,
        } => {
            let mut edits = vec![
                set_edit(kind, "visit_date", &date)?,
                set_edit(kind, "visited_name", &visited)?,
            ];
            for (k, v) in [("round", round), ("method", method), ("visitors", visitors)] {
                if let Some(v) = v {
                    edits.push(set_edit(kind, k, &v)?);
                }
            }
            for d in demand {
                edits.push(entry_values(
                    kind,
                    "demands",
                    &[format!("content={d}"), "status=recorded".into()],
                )?);
            }
            edits.extend(pairs(kind, &values)?);
            let id = store.create(kind, None, &edits)?;
            out.created(store, &id)
        }
        VisitCommand::List => list(store, out, kind),
        VisitCommand::Demand {
            visit,
            demand,
            status,
            response,
        } => {
            store.set_demand_status(&visit, &demand, &status, response.as_deref())?;
            let code = kind
                .field("demands")
                .ok()
                .and_then(|f| match f.ty {
                    FieldType::Entries(items) => items.iter().find(|i| i.key == "status"),
                    _ => None,
                })
                .and_then(|f| f.choice(&status))
                .map_or(status.as_str(), |c| c.code);
            out.print(
                json!({"id": visit, "demand": demand, "status": code}),
                || format!("demand {demand} of {visit}: {code}"),
            )
        }
        VisitCommand::ToDispute {
            visit,
            demand,
            category,
        } => {
            let mut edits = Vec::new();
            if let Some(c) = category {
                edits.push(set_edit(RecordKind::Dispute, "category", &c)?);
            }
            let id = store.demand_to_dispute(&visit, &demand, &edits)?;
            out.created(store, &id)
        }
        VisitCommand::Common(c) => common(store, out, c),
    }
}

fn petition(store: &mut Store, out: &Out, cmd: PetitionCommand) -> anyhow::Result<()> {
    let kind = RecordKind::Petition;
    match cmd {
        PetitionCommand::Add { values } => {
            let id = store.create(kind, None, &pairs(kind, &values)?)?;
            out.created(store, &id)
        }
        PetitionCommand::List => list(store, out, kind),
        PetitionCommand::SignOff { id, note } => {
            store.sign_off(&id, &note)?;
            out.print(json!({"id": id, "status": "signed_off"}), || {
                format!("signed off {id}")
            })
        }
        PetitionCommand::Reopen { id, reason } => {
            store.reopen(&id, &reason)?;
            out.print(json!({"id": id, "status": "open"}), || {
                format!("reopened {id}")
            })
        }
        PetitionCommand::Common(c) => common(store, out, c),
    }
}

/// The acting user's unit, or `unit` when given.
fn unit_or_own(store: &Store, unit: Option<String>) -> anyhow::Result<String> {
    match unit {
        Some(u) => Ok(u),
        None => Ok(store
            .identity()
            .context("this store is not enrolled; run `fieldledger device enroll`")?
            .author
            .unit
            .clone()),
    }
}

/// Entry values of a unit's visit target from FIELD=VALUE pairs.
fn target_values(values: &[String]) -> anyhow::Result<Vec<(String, FieldValue)>> {
    let (_, values) = input::entry_values(
        RecordKind::UnitProfile,
        "visit_targets",
        assignments(values)?,
    )?;
    Ok(values)
}

fn inspection(store: &mut Store, out: &Out, cmd: InspectionCommand) -> anyhow::Result<()> {
    let (id, problem, status) = match cmd {
        InspectionCommand::Add { values, unit } => {
            let kind = RecordKind::Inspection;
            let id = store.create(kind, unit.as_deref(), &pairs(kind, &values)?)?;
            return out.created(store, &id);
        }
        InspectionCommand::List => return list(store, out, RecordKind::Inspection),
        InspectionCommand::Common(c) => return common(store, out, c),
        InspectionCommand::Rectify { id, problem } => (id, problem, "rectified"),
        InspectionCommand::Verify { id, problem } => (id, problem, "verified"),
    };
    store.set_rectification_status(&id, &problem, status)?;
    out.print(
        json!({"id": id, "problem": problem, "status": status}),
        || format!("problem {problem} of {id}: {status}"),
    )
}

fn unit(store: &mut Store, out: &Out, cmd: UnitCommand) -> anyhow::Result<()> {
    match cmd {
        UnitCommand::Show { unit } => {
            let unit = unit_or_own(store, unit)?;
            let p = store.unit_profile(&unit)?;
            let v = serde_json::to_value(&p)?;
            out.print(v.clone(), || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })
        }
        UnitCommand::Category(CategoryCommand::List { unit }) => {
            let unit = unit_or_own(store, unit)?;
            let all = store.categories(&unit)?;
            out.print(json!(all), || all.join("\n"))
        }
        UnitCommand::Category(CategoryCommand::Add { category, unit }) => {
            let unit = unit_or_own(store, unit)?;
            let added = store.add_category(&unit, &category)?;
            out.print(json!({"unit": unit, "added": added}), || {
                if added {
                    format!("category added to {unit}")
                } else {
                    format!("{unit} already has this category; nothing changed")
                }
            })
        }
        UnitCommand::Category(CategoryCommand::Remove { category, unit }) => {
            let unit = unit_or_own(store, unit)?;
            let removed = store.remove_category(&unit, &category)?;
            out.print(json!({"unit": unit, "removed": removed}), || {
                if removed {
                    format!("category removed from {unit}")
                } else {
                    format!("{unit} has no such category of its own; nothing changed")
                }
            })
        }
        UnitCommand::Target(TargetCommand::List { unit }) => {
            let unit = unit_or_own(store, unit)?;
            let targets = store.unit_profile(&unit)?.visit_targets;
            out.print(serde_json::to_value(&targets)?, || {
                targets
                    .iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            t.id,
                            t.code,
                            t.name,
                            t.kind.as_deref().unwrap_or(""),
                            t.place.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        UnitCommand::Target(TargetCommand::Add { values, unit }) => {
            let unit = unit_or_own(store, unit)?;
            let id = store.add_visit_target(&unit, &target_values(&values)?)?;
            out.print(json!({"unit": unit, "target": id}), || id.clone())
        }
        UnitCommand::Target(TargetCommand::Edit {
            target,
            values,
            unit,
        }) => {
            let unit = unit_or_own(store, unit)?;
            let edits = target_values(&values)?
                .into_iter()
                .map(|(field, value)| Edit::SetInEntry {
                    list: "visit_targets".into(),
                    entry: target.clone(),
                    field,
                    value,
                })
                .collect::<Vec<_>>();
            store.edit(&fieldledger_core::model::unit::profile_id(&unit), &edits)?;
            out.print(json!({"unit": unit, "target": target}), || {
                format!("visit target {target} of {unit} updated")
            })
        }
    }
}

fn monthly(store: &mut Store, out: &Out, cmd: MonthlyCommand) -> anyhow::Result<()> {
    let (texts, submitted_on) = match cmd {
        MonthlyCommand::Show { month, unit } => {
            let unit = unit_or_own(store, unit)?;
            let month = fieldledger_core::report::Month::parse(&month)?.to_string();
            let id = fieldledger_core::model::monthly::report_id(&unit, &month);
            let v = if store.contains(&id)? {
                serde_json::to_value(store.record(&id)?)?
            } else {
                json!(null)
            };
            return out.print(v.clone(), || {
                if v.is_null() {
                    format!("no monthly report of {unit} for {month} yet")
                } else {
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                }
            });
        }
        MonthlyCommand::Draft { texts } => (texts, None),
        MonthlyCommand::Submit { texts, date } => {
            let day = match date {
                Some(d) => fieldledger_core::model::field::parse_date("--date", &d)?,
                None => fieldledger_core::report::local_today(store)?,
            };
            (texts, Some(day))
        }
    };
    let id = store.write_monthly(
        texts.unit.as_deref(),
        &texts.month,
        texts.experience.as_deref(),
        texts.problems.as_deref(),
        submitted_on,
    )?;
    let state = if submitted_on.is_some() {
        "submitted"
    } else {
        "draft"
    };
    out.print(
        json!({"id": id, "month": texts.month, "state": state, "submitted_on": submitted_on}),
        || format!("monthly report {id}: {state}"),
    )
}

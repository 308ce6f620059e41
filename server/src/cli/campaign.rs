//! `fieldledger admin campaign`: the office sets the campaigns whose calendars reports and
//! supervision measure against (see `fieldledger_core::report::calendar`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use fieldledger_core::model::campaign::CampaignPlan;
use fieldledger_core::report::{Calendar, Campaign};
use fieldledger_core::store::Identity;
use fieldledger_server::records::{RecordBackend, RecordWrite, Written, read_records};
use serde_json::json;

/// `admin campaign …`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create or change a campaign from a TOML file (found again by its name):
    ///
    ///   name = "2026年三大活动"
    ///   start = 2026-10-01
    ///   end = 2026-12-31
    ///   time_zone = "Asia/Shanghai"
    ///   monthly_due_day = 23          # 每月23日前
    ///   screening = "half-monthly"    # 每半月
    ///   [[rounds]]
    ///   code = "1"
    ///   label = "第一轮"
    ///   ends_on = 2026-10-31
    #[command(verbatim_doc_comment)]
    Set {
        /// The campaign file.
        file: PathBuf,
    },
    /// Every campaign with its dates.
    List,
}

/// Reads a campaign file: dates may be TOML dates (`2026-10-01`) or strings.
pub fn read_plan(path: &Path) -> anyhow::Result<CampaignPlan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut value: toml::Value =
        toml::from_str(&text).with_context(|| format!("{} is not a TOML file", path.display()))?;
    dates_to_strings(&mut value);
    value
        .try_into()
        .with_context(|| format!("{} is not a campaign file", path.display()))
}

fn dates_to_strings(v: &mut toml::Value) {
    match v {
        toml::Value::Datetime(d) => *v = toml::Value::String(d.to_string()),
        toml::Value::Array(a) => a.iter_mut().for_each(dates_to_strings),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| dates_to_strings(v)),
        _ => {}
    }
}

/// A campaign as `campaign list --json` prints it.
fn campaign_json(c: &Campaign, today: chrono::NaiveDate) -> serde_json::Value {
    json!({
        "id": c.id,
        "name": c.name,
        "start": c.start,
        "end": c.end,
        "time_zone": c.time_zone.name(),
        "monthly_due_day": c.monthly_due_day,
        "screening": c.screening,
        "rounds": c.rounds,
        "under_way": c.contains(today),
    })
}

/// Runs a campaign command on the relay's records, writing as `office`; `json`: print JSON.
pub fn run(
    records: &mut RecordBackend,
    office: &Identity,
    cmd: CampaignCommand,
    json: bool,
) -> anyhow::Result<()> {
    match cmd {
        CampaignCommand::Set { file } => {
            let plan = read_plan(&file)?;
            let name = plan.name.clone();
            let Written::Campaign(set) = records
                .storage
                .write_as(office, RecordWrite::SetCampaign(plan))?
            else {
                anyhow::bail!("setting the campaign wrote no campaign");
            };
            if json {
                out!(
                    "{}",
                    json!({"id": set.id, "created": set.created, "changed": set.changed})
                );
            } else {
                let what = match (set.created, set.changed) {
                    (true, _) => "created",
                    (false, true) => "changed",
                    (false, false) => "unchanged",
                };
                out!("campaign {name} {what} ({})", set.id);
            }
        }
        CampaignCommand::List => {
            let (calendar, today) = read_records(records.reads.as_ref(), |store| {
                let calendar = Calendar::load(store, None)?;
                let today = calendar.today(store.now_ms());
                Ok::<_, anyhow::Error>((calendar, today))
            })?;
            if json {
                let list: Vec<_> = calendar
                    .campaigns()
                    .iter()
                    .map(|c| campaign_json(c, today))
                    .collect();
                out!("{}", serde_json::to_string_pretty(&list)?);
            } else if calendar.campaigns().is_empty() {
                out!(
                    "no campaign set: reports use the plan's calendar of the year; set one with \
                     `fieldledger admin campaign set FILE`"
                );
            } else {
                for c in calendar.campaigns() {
                    let rounds: Vec<String> = c
                        .rounds
                        .iter()
                        .map(|r| format!("{} {} by {}", r.code, r.label, r.ends_on))
                        .collect();
                    out!(
                        "{}  {} – {}  {}  monthly before day {}  screening {}  rounds: {}{}",
                        c.name,
                        c.start,
                        c.end,
                        c.time_zone.name(),
                        c.monthly_due_day,
                        c.screening.label(),
                        rounds.join("; "),
                        if c.contains(today) {
                            "  (under way)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

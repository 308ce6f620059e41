//! Campaign calendars: the dates reports measure against. A deployment sets its own
//! campaigns (活动 records, see [`crate::model::campaign`]); a report uses the campaign in
//! force on the day it is computed for, so this year's campaign never rewrites last year's
//! reports. With no campaign set, the plan's calendar of that day's year stands in.

use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Month;
use crate::error::Result;
use crate::model::campaign::{CampaignRecord, DEFAULT_TIME_ZONE};
use crate::model::{Record, RecordKind};
use crate::store::Store;

/// One visit round of a campaign (走访轮次) and the day it must be finished by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRound {
    /// Round code as visits store it (`1`, `2`).
    pub code: String,
    /// Label (第一轮).
    pub label: String,
    /// Last day of the round.
    pub ends_on: NaiveDate,
}

/// How often a unit screens for instability factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScreeningCadence {
    /// 每半月: the 1st–15th and the 16th–end of each month.
    HalfMonthly,
}

impl ScreeningCadence {
    /// Reads the cadence as a campaign file or record spells it (`half-monthly`,
    /// `half_monthly`, 每半月).
    pub fn parse(s: &str) -> Option<ScreeningCadence> {
        match s.trim() {
            "half-monthly" | "half_monthly" | "每半月" => Some(ScreeningCadence::HalfMonthly),
            _ => None,
        }
    }

    /// The label people read (每半月).
    pub fn label(self) -> &'static str {
        match self {
            ScreeningCadence::HalfMonthly => "每半月",
        }
    }
}

/// A campaign's calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// The campaign record's id; none for the plan's stand-in calendar.
    pub id: Option<String>,
    /// 活动名称.
    pub name: String,
    /// First day of implementation: screening is due from here.
    pub start: NaiveDate,
    /// Last day of the campaign: no screening is due after it.
    pub end: NaiveDate,
    /// Visit rounds in order.
    pub rounds: Vec<VisitRound>,
    /// Monthly reports are due before this day of the month (每月23日前: 23).
    pub monthly_due_day: u32,
    /// Screening cadence.
    pub screening: ScreeningCadence,
    /// The time zone days are counted in (a day is a local day).
    pub time_zone: Tz,
}

impl Campaign {
    /// The plan's calendar for `year`: implementation from 10/1, round 1 by 10/31, round 2 by
    /// 11/30, consolidation to 12/31, monthly reports before the 23rd, screening every half
    /// month, China Standard Time. Stands in where a deployment has set no campaign.
    pub fn plan(year: i32) -> Campaign {
        let d = |m, day| NaiveDate::from_ymd_opt(year, m, day).expect("valid plan date");
        Campaign {
            id: None,
            name: format!("{year}年活动（方案默认日程）"),
            start: d(10, 1),
            end: d(12, 31),
            rounds: vec![
                VisitRound {
                    code: "1".into(),
                    label: "第一轮".into(),
                    ends_on: d(10, 31),
                },
                VisitRound {
                    code: "2".into(),
                    label: "第二轮".into(),
                    ends_on: d(11, 30),
                },
            ],
            monthly_due_day: 23,
            screening: ScreeningCadence::HalfMonthly,
            time_zone: default_time_zone(),
        }
    }

    /// The calendar a campaign record sets; none while its dates are incomplete.
    pub fn from_record(r: &CampaignRecord) -> Option<Campaign> {
        let rounds = r
            .rounds
            .iter()
            .map(|x| {
                Some(VisitRound {
                    code: x.code.clone(),
                    label: x.label.clone(),
                    ends_on: x.ends_on?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Campaign {
            id: Some(r.meta.id.clone()),
            name: r.name.clone(),
            start: r.start?,
            end: r.end?,
            rounds,
            monthly_due_day: r
                .monthly_due_day
                .and_then(|d| u32::try_from(d).ok())
                .filter(|d| (1..=28).contains(d))
                .unwrap_or(23),
            screening: r
                .screening
                .as_deref()
                .and_then(ScreeningCadence::parse)
                .unwrap_or(ScreeningCadence::HalfMonthly),
            time_zone: r
                .time_zone
                .as_deref()
                .and_then(|t| Tz::from_str(t.trim()).ok())
                .unwrap_or_else(default_time_zone),
        })
    }

    /// Whether a deployment set this campaign (not the plan's stand-in).
    pub fn is_set(&self) -> bool {
        self.id.is_some()
    }

    /// Whether `day` falls within the campaign's dates.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    /// The local date of a moment (ms since the Unix epoch).
    pub fn local_date(&self, ms: i64) -> NaiveDate {
        match self.time_zone.timestamp_millis_opt(ms).single() {
            Some(t) => t.date_naive(),
            // Beyond chrono's range (a garbage as-of value): the nearest representable day.
            None if ms < 0 => NaiveDate::MIN,
            None => NaiveDate::MAX,
        }
    }

    /// A moment as local time, `2019-10-10 14:03` (empty beyond chrono's range).
    pub fn local_time(&self, ms: i64) -> String {
        match self.time_zone.timestamp_millis_opt(ms).single() {
            Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
            None => String::new(),
        }
    }

    /// The last millisecond of a local day: "as of 2019-10-20" means as the records stood at
    /// the end of that day.
    pub fn end_of_day_ms(&self, date: NaiveDate) -> i64 {
        let Some(next) = date.succ_opt() else {
            return i64::MAX;
        };
        let midnight = next.and_hms_opt(0, 0, 0).expect("midnight");
        // A day that starts inside a daylight-saving gap starts at the gap's end.
        (0..=2)
            .find_map(|h| {
                self.time_zone
                    .from_local_datetime(&(midnight + Duration::hours(h)))
                    .earliest()
            })
            .map_or(i64::MAX, |t| t.timestamp_millis() - 1)
    }

    /// The round under way on `today`: the first not yet ended, else the last.
    pub fn current_round(&self, today: NaiveDate) -> Option<&VisitRound> {
        self.rounds
            .iter()
            .find(|r| today <= r.ends_on)
            .or(self.rounds.last())
    }

    /// The last day a monthly report for `month` counts as on time (the 22nd).
    pub fn last_on_time_day(&self, month: Month) -> NaiveDate {
        let day = self.monthly_due_day.saturating_sub(1).max(1);
        NaiveDate::from_ymd_opt(month.year, month.month, day).unwrap_or_else(|| month.last_day())
    }
}

fn default_time_zone() -> Tz {
    Tz::from_str(DEFAULT_TIME_ZONE).expect("a known time zone")
}

/// Every campaign a deployment has set, by start date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendar {
    campaigns: Vec<Campaign>,
}

impl Calendar {
    /// The campaigns of `store`: as they stood at `at_ms`, if given — a campaign set only
    /// later (a deployment that starts mid-campaign) counts as it is now. Campaign records
    /// with incomplete dates are left out.
    pub fn load(store: &Store, at_ms: Option<i64>) -> Result<Calendar> {
        let mut records = store.records(RecordKind::Campaign, None)?;
        if let Some(at) = at_ms {
            let then = store.records_as_of(RecordKind::Campaign, None, at)?;
            for r in &mut records {
                if let Some(old) = then.iter().find(|o| o.meta().id == r.meta().id) {
                    *r = old.clone();
                }
            }
        }
        let campaigns = records
            .iter()
            .filter_map(|r| match r {
                Record::Campaign(c) => Campaign::from_record(c),
                _ => None,
            })
            .collect();
        Ok(Calendar::of(campaigns))
    }

    /// A calendar of these campaigns.
    pub fn of(mut campaigns: Vec<Campaign>) -> Calendar {
        campaigns.sort_by(|a, b| (a.start, a.end, &a.id).cmp(&(b.start, b.end, &b.id)));
        Calendar { campaigns }
    }

    /// The campaigns, by start date.
    pub fn campaigns(&self) -> &[Campaign] {
        &self.campaigns
    }

    /// The campaign in force on `day`: the one under way (the latest started, if several
    /// overlap), else the last one ended before it, else the next one to start; with no
    /// campaign set, the plan's calendar of `day`'s year.
    pub fn in_force(&self, day: NaiveDate) -> Campaign {
        let c = &self.campaigns;
        c.iter()
            .rev()
            .find(|x| x.contains(day))
            .or_else(|| c.iter().filter(|x| x.end < day).max_by_key(|x| x.end))
            .or_else(|| c.iter().find(|x| x.start > day))
            .cloned()
            .unwrap_or_else(|| Campaign::plan(day.year()))
    }

    /// The local day of a moment, in the time zone of the campaign in force then.
    pub fn today(&self, ms: i64) -> NaiveDate {
        self.at(ms).local_date(ms)
    }

    /// The campaign in force at a moment, on that moment's local day.
    pub fn at(&self, ms: i64) -> Campaign {
        let guess = self.in_force(Campaign::plan(2000).local_date(ms));
        self.in_force(guess.local_date(ms))
    }
}

/// The campaign a report is computed with and its as-of moment: for a report as of the local
/// day `as_of`, the campaign in force that day as its record stood at that day's end; for a
/// report of the present (`None`), the campaign in force now.
pub fn for_report(store: &Store, as_of: Option<NaiveDate>) -> Result<(Campaign, Option<i64>)> {
    let now = Calendar::load(store, None)?;
    match as_of {
        None => Ok((now.at(store.now_ms()), None)),
        Some(day) => {
            let at = now.in_force(day).end_of_day_ms(day);
            let then = Calendar::load(store, Some(at))?.in_force(day);
            Ok((then, Some(at)))
        }
    }
}

/// Today's local date, in the time zone of the campaign in force now.
pub fn local_today(store: &Store) -> Result<NaiveDate> {
    Ok(Calendar::load(store, None)?.today(store.now_ms()))
}

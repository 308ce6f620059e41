//! The Annex 2 dispute ledger (矛盾纠纷排查化解统计表) as CSV and XLSX.
//!
//! Layout, per unit: exactly the form — the title row, then the 15 headers in the form's order
//! and spelling, one row per dispute, 序号 numbered 1..n at export.
//!
//! Consolidated (the bureau office's ledger of several units): the same 15 columns in the same
//! order, plus one trailing column 填报单位 naming each row's unit. The column comes last so the
//! form's columns keep their positions, and it is a column rather than section rows so the
//! consolidated sheet can still be sorted and filtered in Excel and the CSV stays one table. The
//! XLSX adds, after the consolidated sheet 汇总, one sheet per unit laid out exactly as the form
//! with 序号 restarting at 1 and the unit named in the line under the title.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use chrono::NaiveDate;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Worksheet};
use serde::{Deserialize, Serialize};

use super::render::{header_format, title_format, workbook, write_cell};
use super::{Campaign, Snapshot, yes_no};
use crate::error::{Error, Result};
use crate::model::Dispute;
use crate::store::{DisputeFilter, Store};

/// The form's title.
pub const TITLE: &str = "矛盾纠纷排查化解统计表";

/// The form's 15 column headers, in its order and spelling.
pub const HEADERS: [&str; 15] = [
    "序号",
    "名称",
    "类型",
    "基本情况",
    "工作措施",
    "处置难点",
    "状态趋势",
    "责任领导",
    "责任人",
    "备注情况",
    "所涉人数",
    "是否重大问题",
    "是否群体性问题",
    "是否跨区域问题",
    "是否历史遗留问题",
];

/// Header of the column a consolidated ledger adds after the form's 15.
pub const UNIT_HEADER: &str = "填报单位";

/// Column widths (in Excel characters) of the 15 columns, then of 填报单位.
const WIDTHS: [f64; 16] = [
    6.0, 20.0, 12.0, 40.0, 40.0, 28.0, 16.0, 10.0, 10.0, 20.0, 7.0, 8.0, 9.0, 9.0, 10.0, 16.0,
];

/// Columns whose texts are long and wrap.
const LONG: [usize; 5] = [1, 3, 4, 5, 9];

/// Columns that hold numbers (序号, 所涉人数): written as numbers, never neutralised.
const NUMERIC: [usize; 2] = [0, 10];

/// A text cell made safe for a spreadsheet reading CSV (OWASP, "CSV injection"): a cell
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a formula,
/// so it gets a leading `'`, which spreadsheets show as text and do not evaluate.
pub fn csv_text_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// What a ledger export is of and what its title rows say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerOptions {
    /// The bureau's consolidated ledger: adds the 填报单位 column (and per-unit sheets in XLSX).
    #[serde(default)]
    pub consolidated: bool,
    /// Unit names by code (a unit without a name is shown by its code).
    #[serde(default)]
    pub unit_names: BTreeMap<String, String>,
    /// The as-of date printed under the title (none: no date is printed).
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// The as-of moment (ms): the XLSX creation time, so the same ledger gives the same bytes.
    #[serde(default)]
    pub at_ms: Option<i64>,
    /// Disputes with open conflicts (by id): the keys of the fields in conflict (a list
    /// entry's field counts for its list). Their cells are marked [`PENDING_MARK`].
    #[serde(default)]
    pub conflicts: BTreeMap<String, BTreeSet<String>>,
}

/// Put before a cell whose field holds concurrent values nobody has decided between yet: the
/// cell shows the value shown by default, marked so that nobody takes it as settled.
pub const PENDING_MARK: &str = "〔待裁决〕";

/// The field keys behind each of the 15 columns (序号 has none).
const COLUMN_FIELDS: [&[&str]; 15] = [
    &[],
    &["name"],
    &["category"],
    &["situation"],
    &["measures"],
    &["difficulties"],
    &["trend", "resolving_soon"],
    &["leader"],
    &["responsible"],
    &["remarks"],
    &["people_involved"],
    &["is_major"],
    &["is_group"],
    &["is_cross_region"],
    &["is_legacy"],
];

impl LedgerOptions {
    /// The 15 cells of a dispute's row ([`row_cells`]), each cell of a field in open
    /// conflict marked [`PENDING_MARK`].
    pub fn cells(&self, seq: usize, d: &Dispute) -> [String; 15] {
        let mut cells = row_cells(seq, d);
        if let Some(fields) = self.conflicts.get(&d.meta.id) {
            for (cell, keys) in cells.iter_mut().zip(COLUMN_FIELDS) {
                if keys.iter().any(|k| fields.contains(*k)) {
                    cell.insert_str(0, PENDING_MARK);
                }
            }
        }
        cells
    }

    fn unit_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.unit_names
            .get(code)
            .map(String::as_str)
            .unwrap_or(code)
    }
}

/// What to put in a ledger: the filter, the moment, whether consolidated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerQuery {
    /// Which disputes (units, category, status, the four flags, found between dates).
    #[serde(default)]
    pub filter: DisputeFilter,
    /// As the records stood at this moment (ms since the Unix epoch); none: as they are now.
    #[serde(default)]
    pub as_of: Option<i64>,
    /// The bureau's consolidated ledger (see the module documentation for the layout).
    #[serde(default)]
    pub consolidated: bool,
}

/// Export format of a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerFormat {
    /// UTF-8 CSV with a byte-order mark.
    Csv,
    /// Excel workbook.
    Xlsx,
}

impl std::str::FromStr for LedgerFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(LedgerFormat::Csv),
            "xlsx" => Ok(LedgerFormat::Xlsx),
            _ => Err(Error::invalid("format", "is not csv or xlsx")),
        }
    }
}

/// A ledger read from a store, ready to export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Disputes in ledger order.
    pub rows: Vec<Dispute>,
    /// Layout and title rows.
    pub options: LedgerOptions,
}

impl Ledger {
    /// Reads the disputes a query selects, as they stood at its as-of moment.
    pub fn load(store: &Store, q: &LedgerQuery, campaign: &Campaign) -> Result<Ledger> {
        let snap = Snapshot::new(store, q.as_of, campaign);
        let rows = snap.disputes(&q.filter)?;
        let unit_names = snap.unit_names(q.filter.units.as_deref())?;
        let conflicts = open_conflicts(store, &rows, q)?;
        Ok(Ledger {
            rows,
            options: LedgerOptions {
                consolidated: q.consolidated,
                unit_names,
                as_of: snap.as_of_date(),
                at_ms: q.as_of,
                conflicts,
            },
        })
    }

    /// The ledger as CSV.
    pub fn csv(&self) -> Result<Vec<u8>> {
        ledger_csv(&self.rows, &self.options)
    }

    /// The ledger as XLSX.
    pub fn xlsx(&self) -> Result<Vec<u8>> {
        ledger_xlsx(&self.rows, &self.options)
    }
}

/// The fields in open conflict of the ledger's disputes, as they stood at the query's moment.
fn open_conflicts(
    store: &Store,
    rows: &[Dispute],
    q: &LedgerQuery,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let in_ledger: BTreeSet<&str> = rows.iter().map(|d| d.meta.id.as_str()).collect();
    let units = q.filter.units.as_deref();
    let found: Vec<(String, Vec<crate::doc::Conflict>)> = match q.as_of {
        None => store
            .records_with_conflicts(units)?
            .into_iter()
            .filter(|r| in_ledger.contains(r.id.as_str()))
            .map(|r| Ok((r.id.clone(), store.conflicts(&r.id)?)))
            .collect::<Result<_>>()?,
        Some(at) => store
            .records_with_conflicts_as_of(crate::model::RecordKind::Dispute, units, at)?
            .into_iter()
            .filter(|(r, _)| in_ledger.contains(r.meta().id.as_str()))
            .map(|(r, c)| (r.meta().id.clone(), c))
            .collect(),
    };
    Ok(found
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(id, c)| {
            let keys = c
                .iter()
                .filter_map(|c| c.field.split('/').next().map(str::to_owned))
                .collect();
            (id, keys)
        })
        .collect())
}

/// Reads and exports a ledger in one call (what the commands and the relay use).
pub fn export_ledger(
    store: &Store,
    q: &LedgerQuery,
    format: LedgerFormat,
    campaign: &Campaign,
) -> Result<Vec<u8>> {
    let l = Ledger::load(store, q, campaign)?;
    match format {
        LedgerFormat::Csv => l.csv(),
        LedgerFormat::Xlsx => l.xlsx(),
    }
}

/// Whether a dispute passes a filter, exactly as [`Store::disputes`] filters the index (an
/// unanswered flag counts as 否; a dispute with no found date is outside any date range).
pub fn filter_matches(f: &DisputeFilter, d: &Dispute) -> bool {
    let flag =
        |want: Option<bool>, have: Option<bool>| want.is_none_or(|w| w == have.unwrap_or(false));
    f.units.as_ref().is_none_or(|u| u.contains(&d.meta.unit))
        && f.category
            .as_ref()
            .is_none_or(|c| d.category.as_ref() == Some(c))
        && match f.status.as_deref() {
            Some("open") => !d.is_resolved(),
            Some("resolved") => d.is_resolved(),
            _ => true,
        }
        && flag(f.is_major, d.is_major)
        && flag(f.is_group, d.is_group)
        && flag(f.is_cross_region, d.is_cross_region)
        && flag(f.is_legacy, d.is_legacy)
        && f.found_from
            .is_none_or(|from| d.found_on.is_some_and(|x| x >= from))
        && f.found_to
            .is_none_or(|to| d.found_on.is_some_and(|x| x <= to))
        && f.overdue_on.is_none_or(|day| d.is_overdue(day))
}

/// Sorts disputes in ledger order, as [`Store::disputes`] does: unit, found date (undated
/// first), creation time, id.
pub fn sort_ledger(rows: &mut [Dispute]) {
    rows.sort_by(|a, b| {
        (&a.meta.unit, a.found_on, a.meta.created_at, &a.meta.id).cmp(&(
            &b.meta.unit,
            b.found_on,
            b.meta.created_at,
            &b.meta.id,
        ))
    });
}

/// 工作措施 as dated lines, oldest first: `2019-10-09 上门沟通（张三）`.
pub fn measures_text(d: &Dispute) -> String {
    let mut m: Vec<_> = d.measures.iter().collect();
    // Entries appended on several offline devices arrive in any order: sort on the date given,
    // then on when each was entered.
    m.sort_by(|a, b| {
        (a.date.is_none(), a.date, a.entered_at, &a.id).cmp(&(
            b.date.is_none(),
            b.date,
            b.entered_at,
            &b.id,
        ))
    });
    m.iter()
        .map(|x| {
            let mut line = String::new();
            if let Some(date) = x.date {
                line.push_str(&date.to_string());
                line.push(' ');
            }
            line.push_str(x.what.trim());
            if let Some(by) = x.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
                line.push_str(&format!("（{by}）"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// 状态趋势 with the form's required judgement of whether near-term measures will resolve it.
pub fn trend_text(d: &Dispute) -> String {
    let trend = d.trend.map(|t| t.label()).unwrap_or("");
    if d.trend == Some(crate::model::dispute::Trend::Resolved) {
        return trend.to_owned();
    }
    let soon = match d.resolving_soon {
        Some(true) => "近期可化解",
        Some(false) => "近期难以化解",
        None => return trend.to_owned(),
    };
    if trend.is_empty() {
        soon.to_owned()
    } else {
        format!("{trend}（{soon}）")
    }
}

/// The 15 cells of one ledger row, 序号 `seq` first.
pub fn row_cells(seq: usize, d: &Dispute) -> [String; 15] {
    let opt = |s: &Option<String>| s.as_deref().unwrap_or("").trim().to_owned();
    [
        seq.to_string(),
        d.name.trim().to_owned(),
        opt(&d.category),
        d.situation.trim().to_owned(),
        measures_text(d),
        d.difficulties.trim().to_owned(),
        trend_text(d),
        opt(&d.leader),
        opt(&d.responsible),
        d.remarks.trim().to_owned(),
        d.people_involved.map(|n| n.to_string()).unwrap_or_default(),
        yes_no(d.is_major).to_owned(),
        yes_no(d.is_group).to_owned(),
        yes_no(d.is_cross_region).to_owned(),
        yes_no(d.is_legacy).to_owned(),
    ]
}

/// The ledger as CSV: UTF-8 with a byte-order mark (so Excel reads the Chinese), the header
/// line, one line per dispute, CRLF line ends. Text cells that a spreadsheet would read as a
/// formula are neutralised ([`csv_text_cell`]); 序号 and 所涉人数 stay plain numbers.
pub fn ledger_csv(rows: &[Dispute], o: &LedgerOptions) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(64 + rows.len() * 256);
    buf.write_all(b"\xEF\xBB\xBF")?;
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut buf);
        let mut headers: Vec<&str> = HEADERS.to_vec();
        if o.consolidated {
            headers.push(UNIT_HEADER);
        }
        w.write_record(&headers)?;
        for (i, d) in rows.iter().enumerate() {
            let cells = o.cells(i + 1, d);
            let unit = o.consolidated.then(|| o.unit_name(&d.meta.unit));
            w.write_record(
                cells
                    .iter()
                    .map(String::as_str)
                    .chain(unit)
                    .enumerate()
                    .map(|(c, v)| {
                        if NUMERIC.contains(&c) {
                            v.into()
                        } else {
                            csv_text_cell(v)
                        }
                    })
                    .map(|v| v.into_owned()),
            )?;
        }
        w.flush()?;
    }
    Ok(buf)
}

/// The ledger as an XLSX workbook (see the module documentation for the layout).
pub fn ledger_xlsx(rows: &[Dispute], o: &LedgerOptions) -> Result<Vec<u8>> {
    let mut wb = workbook(o.at_ms);
    let refs: Vec<&Dispute> = rows.iter().collect();
    if o.consolidated {
        let ws = wb.add_worksheet();
        ws.set_name("汇总")?;
        let n_units = rows
            .iter()
            .map(|d| d.meta.unit.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        write_ledger_sheet(ws, &refs, o, &format!("汇总（{n_units}个单位）"), true)?;
        let mut by_unit: BTreeMap<&str, Vec<&Dispute>> = BTreeMap::new();
        for d in rows {
            by_unit.entry(&d.meta.unit).or_default().push(d);
        }
        let mut used = std::collections::BTreeSet::from(["汇总".to_owned()]);
        for (unit, list) in by_unit {
            let name = o.unit_name(unit);
            let ws = wb.add_worksheet();
            ws.set_name(sheet_name(name, unit, &mut used))?;
            write_ledger_sheet(ws, &list, o, name, false)?;
        }
    } else {
        let mut units: Vec<&str> = rows.iter().map(|d| d.meta.unit.as_str()).collect();
        units.dedup();
        let mut names: Vec<&str> = units.iter().map(|u| o.unit_name(u)).collect();
        names.dedup();
        let ws = wb.add_worksheet();
        ws.set_name("统计表")?;
        write_ledger_sheet(ws, &refs, o, &names.join("、"), false)?;
    }
    Ok(wb.save_to_buffer()?)
}

/// A worksheet name from a unit name: at most 31 characters, none of `[]:*?/\`, unique.
fn sheet_name(name: &str, code: &str, used: &mut std::collections::BTreeSet<String>) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
            .collect::<String>()
            .trim_matches('\'')
            .chars()
            .take(31)
            .collect()
    };
    let mut n = clean(name);
    if n.is_empty() || used.contains(&n) {
        n = clean(&format!(
            "{}_{code}",
            n.chars().take(20).collect::<String>()
        ));
    }
    let mut k = 2;
    let base = n.clone();
    while used.contains(&n) || n.is_empty() {
        n = format!("{}_{k}", base.chars().take(27).collect::<String>());
        k += 1;
    }
    used.insert(n.clone());
    n
}

fn write_ledger_sheet(
    ws: &mut Worksheet,
    rows: &[&Dispute],
    o: &LedgerOptions,
    unit_line: &str,
    with_unit: bool,
) -> Result<()> {
    let ncols: u16 = if with_unit { 16 } else { 15 };
    let last = ncols - 1;
    let title = title_format();
    let sub = Format::new().set_align(FormatAlign::VerticalCenter);
    let sub_right = sub.clone().set_align(FormatAlign::Right);
    let head = header_format();
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let long = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_align(FormatAlign::Left);

    ws.merge_range(0, 0, 0, last, TITLE, &title)?;
    ws.set_row_height(0, 32)?;
    let unit_text = if unit_line.is_empty() {
        "填报单位：".to_owned()
    } else {
        format!("填报单位：{unit_line}")
    };
    ws.merge_range(1, 0, 1, 8, &unit_text, &sub)?;
    let date_text = o.as_of.map(|d| format!("截至：{d}")).unwrap_or_default();
    ws.merge_range(1, 9, 1, last, &date_text, &sub_right)?;
    for (c, h) in HEADERS
        .iter()
        .chain(with_unit.then_some(&UNIT_HEADER))
        .enumerate()
    {
        ws.write_string_with_format(2, c as u16, *h, &head)?;
    }
    ws.set_row_height(2, 36)?;
    for (c, w) in WIDTHS.iter().take(usize::from(ncols)).enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    for (i, d) in rows.iter().enumerate() {
        let r = 3 + i as u32;
        let cells = o.cells(i + 1, d);
        for (c, v) in cells.iter().enumerate() {
            let f = if LONG.contains(&c) { &long } else { &cell };
            if NUMERIC.contains(&c) {
                write_cell(ws, r, c as u16, v, f)?;
            } else {
                ws.write_string_with_format(r, c as u16, v, f)?;
            }
        }
        if with_unit {
            ws.write_string_with_format(r, 15, o.unit_name(&d.meta.unit), &cell)?;
        }
    }
    ws.set_freeze_panes(3, 0)?;
    let last_row = 2 + rows.len() as u32;
    ws.autofilter(2, 0, last_row, last)?;
    ws.set_landscape();
    ws.set_paper_size(9);
    ws.set_repeat_rows(0, 2)?;
    ws.set_print_fit_to_pages(1, 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_valid_and_unique() {
        let mut used = Default::default();
        assert_eq!(sheet_name("区卫健局", "WJK", &mut used), "区卫健局");
        assert_eq!(sheet_name("区卫健局", "WJK2", &mut used), "区卫健局_WJK2");
        assert_eq!(sheet_name("a/b:c", "X", &mut used), "abc");
        assert!(sheet_name(&"长".repeat(40), "X", &mut used).chars().count() <= 31);
    }

    #[test]
    fn csv_text_cells_that_start_a_formula_are_neutralised() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(csv_text_cell(bad), format!("'{bad}"));
        }
        for fine in ["", "张某纠纷", "1+1", " =1", "'=1", "a=b"] {
            assert_eq!(csv_text_cell(fine), fine);
        }
    }
}

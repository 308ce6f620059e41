//! Charts as inline SVG rendered on the relay: horizontal stacked bars, laid out here and drawn
//! by a template (so every label is escaped). Colours come from the stylesheet's classes.

use std::collections::BTreeMap;

use askama::Template;
use fieldledger_core::model::Dispute;
use fieldledger_core::model::dispute::Trend;

use super::error::WebError;
use super::layout::unit_label;
use crate::accounts::Unit;

const WIDTH: u32 = 760;
const LABEL_WIDTH: u32 = 170;
const NOTE_WIDTH: u32 = 120;
const ROW_HEIGHT: u32 = 26;
const BAR_HEIGHT: u32 = 16;
const TOP: u32 = 34;

/// One part of a bar.
pub(crate) struct Segment {
    pub value: usize,
    pub class: &'static str,
    pub label: String,
}

/// One bar: its label, its parts, the text after it.
pub(crate) struct Bar {
    pub label: String,
    pub segments: Vec<Segment>,
    pub note: String,
}

/// A legend entry.
pub(crate) struct Legend {
    pub class: &'static str,
    pub label: &'static str,
}

struct Rect {
    x: u32,
    w: u32,
    class: &'static str,
    title: String,
}

struct Row {
    label: String,
    label_y: u32,
    bar_y: u32,
    rects: Vec<Rect>,
    note: String,
    note_x: u32,
}

struct LegendAt {
    x: u32,
    class: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "chart.svg.html")]
struct BarChartSvg {
    title: String,
    width: u32,
    height: u32,
    label_width: u32,
    bar_height: u32,
    legend: Vec<LegendAt>,
    rows: Vec<Row>,
}

/// How bars are scaled.
#[derive(Clone, Copy)]
pub(crate) enum Scale {
    /// Every bar against this total (shared by several charts so they compare).
    Max(usize),
    /// Every bar fills the width: its parts are shares of its own total.
    Share,
}

/// Renders a horizontal stacked bar chart as an `<svg>` element.
pub(crate) fn bar_chart(
    title: &str,
    bars: Vec<Bar>,
    legend: &[Legend],
    scale: Scale,
) -> Result<String, WebError> {
    let area = WIDTH - LABEL_WIDTH - NOTE_WIDTH - 10;
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(i, bar)| {
            let total: usize = bar.segments.iter().map(|s| s.value).sum();
            let full = match scale {
                Scale::Max(m) => m.max(1),
                Scale::Share => total.max(1),
            };
            let top = TOP + i as u32 * ROW_HEIGHT;
            let mut x = LABEL_WIDTH;
            let mut rects = Vec::new();
            for s in bar.segments.into_iter().filter(|s| s.value > 0) {
                let w = ((s.value as f64 / full as f64) * f64::from(area)).round() as u32;
                rects.push(Rect {
                    x,
                    w: w.max(2),
                    class: s.class,
                    title: s.label,
                });
                x += w.max(2);
            }
            Row {
                label: bar.label,
                label_y: top + BAR_HEIGHT - 3,
                bar_y: top,
                rects,
                note: bar.note,
                note_x: x + 6,
            }
        })
        .collect::<Vec<_>>();
    let mut lx = LABEL_WIDTH;
    let legend = legend
        .iter()
        .map(|l| {
            let at = LegendAt {
                x: lx,
                class: l.class,
                label: l.label,
            };
            lx += 24 + 14 * l.label.chars().count() as u32;
            at
        })
        .collect();
    let height = TOP + rows.len() as u32 * ROW_HEIGHT + 4;
    Ok(BarChartSvg {
        title: title.to_owned(),
        width: WIDTH,
        height,
        label_width: LABEL_WIDTH,
        bar_height: BAR_HEIGHT,
        legend,
        rows,
    }
    .render()?)
}

/// Status buckets of a dispute, in the order they are stacked.
const STATUSES: [Legend; 5] = [
    Legend {
        class: "s-escalating",
        label: "有升级风险",
    },
    Legend {
        class: "s-stable",
        label: "基本稳定",
    },
    Legend {
        class: "s-easing",
        label: "趋于缓和",
    },
    Legend {
        class: "s-none",
        label: "未评估",
    },
    Legend {
        class: "s-resolved",
        label: "已化解",
    },
];

fn status_index(d: &Dispute) -> usize {
    if d.is_resolved() {
        return 4;
    }
    match d.trend {
        Some(Trend::Escalating) => 0,
        Some(Trend::Stable) => 1,
        Some(Trend::Easing) => 2,
        Some(Trend::Resolved) => 4,
        None => 3,
    }
}

/// A chart panel: a heading and its SVG.
pub(crate) struct Panel {
    pub heading: String,
    pub svg: String,
}

/// Disputes by category and status, one chart per unit, all on one scale.
pub(crate) fn disputes_by_category(
    rows: &[Dispute],
    units: &BTreeMap<String, Unit>,
) -> Result<Vec<Panel>, WebError> {
    let mut per_unit: BTreeMap<&str, BTreeMap<String, [usize; 5]>> = BTreeMap::new();
    for d in rows {
        let category = d
            .category
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "未分类".into());
        per_unit
            .entry(&d.meta.unit)
            .or_default()
            .entry(category)
            .or_default()[status_index(d)] += 1;
    }
    let max = per_unit
        .values()
        .flat_map(|c| c.values())
        .map(|counts| counts.iter().sum::<usize>())
        .max()
        .unwrap_or(1);
    per_unit
        .into_iter()
        .map(|(unit, categories)| {
            let total: usize = categories.values().flat_map(|c| c.iter()).sum();
            let bars = categories
                .into_iter()
                .map(|(category, counts)| {
                    let sum: usize = counts.iter().sum();
                    let open = sum - counts[4];
                    Bar {
                        segments: counts
                            .iter()
                            .zip(&STATUSES)
                            .map(|(n, s)| Segment {
                                value: *n,
                                class: s.class,
                                label: format!("{category} · {}：{n}", s.label),
                            })
                            .collect(),
                        note: format!("{sum} 件（未化解 {open}）"),
                        label: category,
                    }
                })
                .collect();
            let heading = format!("{}：共 {total} 件", unit_label(units, unit));
            Ok(Panel {
                svg: bar_chart(&heading, bars, &STATUSES, Scale::Max(max))?,
                heading,
            })
        })
        .collect()
}

/// Visit coverage of one unit in one round.
pub(crate) struct Coverage {
    pub unit: String,
    pub round: String,
    pub covered: usize,
    pub total: usize,
}

/// Visit coverage per unit and round, each bar the share of the unit's visit targets.
pub(crate) fn coverage_chart(title: &str, items: &[Coverage]) -> Result<String, WebError> {
    const LEGEND: [Legend; 2] = [
        Legend {
            class: "c-covered",
            label: "已走访",
        },
        Legend {
            class: "c-uncovered",
            label: "未走访",
        },
    ];
    let bars = items
        .iter()
        .map(|c| {
            let note = if c.total == 0 {
                "无走访对象名单".to_owned()
            } else {
                format!(
                    "{}/{}（{}%）",
                    c.covered,
                    c.total,
                    (c.covered * 100 + c.total / 2) / c.total
                )
            };
            Bar {
                label: format!("{} {}", c.unit, c.round),
                segments: vec![
                    Segment {
                        value: c.covered,
                        class: "c-covered",
                        label: format!("{} {} 已走访 {}", c.unit, c.round, c.covered),
                    },
                    Segment {
                        value: c.total.saturating_sub(c.covered),
                        class: "c-uncovered",
                        label: format!(
                            "{} {} 未走访 {}",
                            c.unit,
                            c.round,
                            c.total.saturating_sub(c.covered)
                        ),
                    },
                ],
                note,
            }
        })
        .collect();
    bar_chart(title, bars, &LEGEND, Scale::Share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scaled() {
        let svg = bar_chart(
            "t<&>",
            vec![Bar {
                label: "<script>".into(),
                segments: vec![Segment {
                    value: 3,
                    class: "s-stable",
                    label: "a".into(),
                }],
                note: "3".into(),
            }],
            &STATUSES,
            Scale::Max(6),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(
            svg.contains("&#60;script&#62;") || svg.contains("&lt;script&gt;"),
            "{svg}"
        );
        let half = (WIDTH - LABEL_WIDTH - NOTE_WIDTH - 10) / 2;
        assert!(svg.contains(&format!("width=\"{half}\"")), "{svg}");
    }
}

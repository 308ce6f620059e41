//! A report as a list of blocks (headings, paragraphs, tables, free text) and its renderings
//! as Markdown, HTML and an XLSX workbook, so each report is laid out once.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, Worksheet};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One block of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A section heading (level 2 or 3).
    Heading {
        /// 2 for a section, 3 for a subsection.
        level: u8,
        /// Text.
        text: String,
    },
    /// A one-line statement.
    Paragraph {
        /// Text.
        text: String,
    },
    /// A table.
    Table {
        /// Column headers.
        headers: Vec<String>,
        /// Rows of cells (a cell may hold several lines).
        rows: Vec<Vec<String>>,
    },
    /// Free text typed by people (活动经验做法…), kept with its line breaks.
    Text {
        /// Text; an empty text is shown as 无.
        text: String,
    },
}

/// The format of a workbook's title row: bold, 16 pt, centred.
pub(crate) fn title_format() -> Format {
    Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
}

/// The format of a table's header cells: bold, wrapped, bordered, centred on grey.
pub(crate) fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_text_wrap()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_background_color(0xEEEEEE)
}

/// Gives a view that lays itself out as a [`Document`] (`fn document(&self) -> Document`) its
/// Markdown, HTML and XLSX renderings, the workbook's one sheet named `$sheet`.
macro_rules! renderings {
    ($view:ty, $sheet:literal) => {
        impl $view {
            /// Markdown.
            pub fn markdown(&self) -> String {
                self.document().markdown()
            }

            /// HTML page.
            pub fn html(&self) -> String {
                self.document().html()
            }

            /// XLSX workbook.
            pub fn xlsx(&self) -> $crate::Result<Vec<u8>> {
                self.document().xlsx($sheet)
            }
        }
    };
}
pub(crate) use renderings;

/// A titled report ready to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Title (first line, and the workbook's title row).
    pub title: String,
    /// Blocks in order.
    pub blocks: Vec<Block>,
    /// The as-of moment (ms) the report was produced for: the workbook's creation time.
    pub at_ms: Option<i64>,
}

impl Document {
    /// An empty report with a title.
    pub fn new(title: impl Into<String>, at_ms: Option<i64>) -> Document {
        Document {
            title: title.into(),
            blocks: Vec::new(),
            at_ms,
        }
    }

    /// Adds a heading.
    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading {
            level,
            text: text.into(),
        });
    }

    /// Adds a paragraph.
    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph { text: text.into() });
    }

    /// Adds a table.
    pub fn table(&mut self, headers: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows,
        });
    }

    /// Adds a table with one row per item, its cells from `cells`.
    pub fn table_of<T>(
        &mut self,
        headers: &[&str],
        items: &[T],
        cells: impl Fn(&T) -> Vec<String>,
    ) {
        self.table(headers, items.iter().map(cells).collect());
    }

    /// Adds free text.
    pub fn text(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Text { text: text.into() });
    }

    /// Markdown (CommonMark with pipe tables); text from records is escaped.
    pub fn markdown(&self) -> String {
        let mut out = format!("# {}\n", md_escape(&self.title));
        for b in &self.blocks {
            out.push('\n');
            match b {
                Block::Heading { level, text } => {
                    let hashes = "#".repeat(usize::from((*level).clamp(2, 6)));
                    out.push_str(&format!("{hashes} {}\n", md_escape(text)));
                }
                Block::Paragraph { text } => {
                    out.push_str(&md_escape(text));
                    out.push('\n');
                }
                Block::Table { headers, rows } => {
                    let line = |cells: &[String]| {
                        let cells: Vec<String> = cells.iter().map(|c| md_cell(c)).collect();
                        format!("| {} |\n", cells.join(" | "))
                    };
                    out.push_str(&line(headers));
                    out.push_str(&format!("|{}\n", " --- |".repeat(headers.len())));
                    for r in rows {
                        out.push_str(&line(r));
                    }
                }
                Block::Text { text } => {
                    let text = text.trim();
                    if text.is_empty() {
                        out.push_str("无\n");
                    } else {
                        // Hard line breaks keep the writer's lines; blank lines stay paragraphs.
                        let lines: Vec<String> =
                            text.lines().map(|l| md_escape(l.trim())).collect();
                        let mut s = String::new();
                        for (i, l) in lines.iter().enumerate() {
                            s.push_str(l);
                            let next_blank = lines.get(i + 1).is_some_and(|n| n.is_empty());
                            if i + 1 < lines.len() && !l.is_empty() && !next_blank {
                                s.push('\\');
                            }
                            s.push('\n');
                        }
                        out.push_str(&s);
                    }
                }
            }
        }
        out
    }

    /// A standalone HTML page; every text is escaped.
    pub fn html(&self) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n",
        );
        out.push_str(&format!("<title>{}</title>\n", html_escape(&self.title)));
        out.push_str(
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}\
             th,td{border:1px solid #999;padding:.25em .5em;vertical-align:top;text-align:left}\
             th{background:#eee}.text{white-space:pre-wrap}</style>\n",
        );
        out.push_str("</head>\n<body>\n");
        out.push_str(&format!("<h1>{}</h1>\n", html_escape(&self.title)));
        for b in &self.blocks {
            match b {
                Block::Heading { level, text } => {
                    let l = (*level).clamp(2, 6);
                    out.push_str(&format!("<h{l}>{}</h{l}>\n", html_escape(text)));
                }
                Block::Paragraph { text } => {
                    out.push_str(&format!("<p>{}</p>\n", html_escape(text)));
                }
                Block::Table { headers, rows } => {
                    out.push_str("<table>\n<thead><tr>");
                    for h in headers {
                        out.push_str(&format!("<th>{}</th>", html_escape(h)));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for r in rows {
                        out.push_str("<tr>");
                        for c in r {
                            out.push_str(&format!(
                                "<td>{}</td>",
                                html_escape(c).replace('\n', "<br>")
                            ));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
                Block::Text { text } => {
                    let text = text.trim();
                    let shown = if text.is_empty() { "无" } else { text };
                    out.push_str(&format!(
                        "<div class=\"text\">{}</div>\n",
                        html_escape(shown)
                    ));
                }
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    /// An XLSX workbook with one sheet: the title row, then the blocks top to bottom.
    pub fn xlsx(&self, sheet_name: &str) -> Result<Vec<u8>> {
        let mut wb = workbook(self.at_ms);
        let ws = wb.add_worksheet();
        ws.set_name(sheet_name)?;
        self.write_sheet(ws)?;
        Ok(wb.save_to_buffer()?)
    }

    /// Writes the report onto a worksheet (for workbooks of several reports).
    pub fn write_sheet(&self, ws: &mut Worksheet) -> Result<()> {
        let cols = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Table { headers, .. } => headers.len(),
                _ => 1,
            })
            .max()
            .unwrap_or(1)
            .max(6) as u16;
        let title = title_format();
        let heading = Format::new().set_bold().set_font_size(12);
        let wrap = Format::new()
            .set_text_wrap()
            .set_align(FormatAlign::Top)
            .set_align(FormatAlign::Left);
        let th = header_format();
        let td = Format::new()
            .set_text_wrap()
            .set_border(FormatBorder::Thin)
            .set_align(FormatAlign::Top);
        ws.set_column_width(0, 24)?;
        for c in 1..cols {
            ws.set_column_width(c, 14)?;
        }
        ws.merge_range(0, 0, 0, cols - 1, &self.title, &title)?;
        ws.set_row_height(0, 30)?;
        let mut row: u32 = 2;
        for b in &self.blocks {
            match b {
                Block::Heading { text, .. } => {
                    ws.write_string_with_format(row, 0, text, &heading)?;
                    row += 1;
                }
                Block::Paragraph { text } => {
                    ws.write_string(row, 0, text)?;
                    row += 1;
                }
                Block::Table { headers, rows } => {
                    for (c, h) in headers.iter().enumerate() {
                        ws.write_string_with_format(row, c as u16, h, &th)?;
                    }
                    row += 1;
                    for r in rows {
                        for (c, v) in r.iter().enumerate() {
                            write_cell(ws, row, c as u16, v, &td)?;
                        }
                        row += 1;
                    }
                    row += 1;
                }
                Block::Text { text } => {
                    let text = text.trim();
                    let shown = if text.is_empty() { "无" } else { text };
                    let lines = shown.lines().count().max(1) + shown.chars().count() / 60;
                    ws.merge_range(row, 0, row, cols - 1, shown, &wrap)?;
                    ws.set_row_height(row, (15 * lines).min(400) as f64)?;
                    row += 2;
                }
            }
        }
        Ok(())
    }
}

/// Writes a cell as a number when it is a plain whole number, else as text.
pub(crate) fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    v: &str,
    f: &Format,
) -> Result<()> {
    let numeric = !v.is_empty()
        && v.len() <= 12
        && v.bytes().all(|b| b.is_ascii_digit())
        && !(v.len() > 1 && v.starts_with('0'));
    match v.parse::<i64>() {
        Ok(n) if numeric => ws.write_number_with_format(row, col, n as f64, f)?,
        _ => ws.write_string_with_format(row, col, v, f)?,
    };
    Ok(())
}

/// A workbook whose metadata carries `at_ms` (or the Unix epoch) as its creation time, so the
/// same report gives the same bytes.
pub(crate) fn workbook(at_ms: Option<i64>) -> Workbook {
    let mut wb = Workbook::new();
    let secs = at_ms.map_or(0, |ms| ms.div_euclid(1000));
    // Outside Excel's range the epoch stands in, so no clock reading ever reaches the file.
    let t = rust_xlsxwriter::ExcelDateTime::from_timestamp(secs)
        .or_else(|_| rust_xlsxwriter::ExcelDateTime::from_timestamp(0));
    if let Ok(t) = t {
        wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&t));
    }
    wb
}

/// Escapes text for Markdown: ASCII punctuation that could start markup gets a backslash.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '~' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_cell(s: &str) -> String {
    s.lines()
        .map(|l| md_escape(l.trim()))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_record_text() {
        assert_eq!(
            html_escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(md_escape("a|b *c* <i>"), "a\\|b \\*c\\* \\<i\\>");
        let mut d = Document::new("t", None);
        d.table(&["a"], vec![vec!["x|y\nz".into()]]);
        assert!(d.markdown().contains("| x\\|y<br>z |"), "{}", d.markdown());
    }
}

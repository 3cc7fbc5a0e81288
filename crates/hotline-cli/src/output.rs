//! What commands print: aligned tables for people (Chinese characters take two
//! columns), one JSON document for scripts, and the `error: CODE: message` form
//! of gRPC failures.

use std::fmt::Write as _;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How a command prints its result, chosen by the global `--json` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Tables and detail views for people.
    Text,
    /// One JSON document per command (one object per line for streams).
    Json,
}

/// A table whose columns are as wide as their widest cell, measured in
/// terminal columns rather than chars or bytes.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column titles, printed first.
    headers: Vec<String>,
    /// Cells, one `Vec` per row; short rows are padded with empty cells.
    rows: Vec<Vec<String>>,
}

/// Spaces between two columns.
const GAP: usize = 2;

impl Table {
    /// Starts a table with these column titles.
    pub fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row of cells.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Returns true when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table, one line per row and a trailing newline, with no
    /// trailing spaces. Line breaks and tabs inside cells become spaces.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let clean = |row: &[String]| -> Vec<String> {
            (0..columns)
                .map(|i| row.get(i).map(|c| one_line(c)).unwrap_or_default())
                .collect()
        };
        let lines: Vec<Vec<String>> = std::iter::once(clean(&self.headers))
            .chain(self.rows.iter().map(|r| clean(r)))
            .collect();
        let mut widths = vec![0; columns];
        for line in &lines {
            for (width, cell) in widths.iter_mut().zip(line) {
                *width = (*width).max(cell.width());
            }
        }
        let mut out = String::new();
        for line in &lines {
            let mut text = String::new();
            for (i, (cell, width)) in line.iter().zip(&widths).enumerate() {
                text.push_str(cell);
                if i + 1 < columns {
                    let pad = width - cell.width() + GAP;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        }
        out
    }

    /// Prints the table to stdout, or `empty_note` when it has no rows.
    pub fn print_or(&self, empty_note: &str) {
        if self.is_empty() {
            println!("{empty_note}");
        } else {
            print!("{}", self.render());
        }
    }
}

/// Replaces line breaks and tabs by spaces so a cell stays on one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Cuts `text` to at most `max` terminal columns, ending with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    let text = one_line(text);
    if text.width() <= max {
        return text;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Prints labelled lines (`label  value`), see [`render_fields`].
pub fn print_fields(fields: &[(&str, String)]) {
    print!("{}", render_fields(fields));
}

/// Renders labelled lines (`label  value`) with the values aligned; empty
/// values are skipped and further lines of a value are indented under it.
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let shown: Vec<&(&str, String)> = fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let width = shown
        .iter()
        .map(|(label, _)| label.width())
        .max()
        .unwrap_or(0);
    let indent = " ".repeat(width + GAP);
    let mut out = String::new();
    for (label, value) in shown {
        let pad = " ".repeat(width - label.width() + GAP);
        let mut lines = value.trim_end().lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(out, "{label}{pad}{first}");
        for line in lines {
            let _ = writeln!(out, "{}", format!("{indent}{line}").trim_end());
        }
    }
    out
}

/// Tells how to get the next page, on stderr so stdout stays a clean table.
pub fn print_next_page(token: &str) {
    if !token.is_empty() {
        eprintln!("more: --page-token {token}");
    }
}

/// Prints one JSON document, pretty, to stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Prints one JSON object on one line, for streams.
pub fn print_json_line(value: &serde_json::Value) {
    println!("{value}");
}

/// Returns the canonical upper-case name of a gRPC status code, e.g. `NOT_FOUND`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Renders a gRPC failure for stderr: `error: CODE: message`, then one
/// `  field NAME: DESCRIPTION` line per field violation of its BadRequest details.
pub fn status_report(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    let mut out = format!("error: {}: {}", code_name(status.code()), status.message());
    if let Some(bad_request) = status.get_error_details().bad_request() {
        for violation in &bad_request.field_violations {
            let _ = write!(
                out,
                "\n  field {}: {}",
                violation.field, violation.description
            );
        }
    }
    out
}

/// Returns the process exit code for a gRPC failure: 2 for bad input, 1 otherwise.
pub fn status_exit_code(status: &tonic::Status) -> u8 {
    match status.code() {
        tonic::Code::InvalidArgument => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_cells_count_two_columns() {
        let mut table = Table::new(["ID", "名称", "REGION"]);
        table.row(["sz.env", "市生态环境局", "320500"]);
        table.row(["sz.env.gusu", "姑苏分局", "320508"]);
        table.row(["x", "ab", ""]);
        let rendered = table.render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(
            lines,
            [
                "ID           名称          REGION",
                "sz.env       市生态环境局  320500",
                "sz.env.gusu  姑苏分局      320508",
                "x            ab",
            ]
        );
        // Every third column starts at the same terminal column.
        let starts: Vec<usize> = lines[..3]
            .iter()
            .map(|l| {
                let byte = l.rfind("  ").expect("gap") + 2;
                l[..byte].width()
            })
            .collect();
        assert_eq!(starts, [27, 27, 27]);
    }

    #[test]
    fn mixed_chinese_and_ascii_in_one_cell_align() {
        let mut table = Table::new(["CATEGORY", "N"]);
        table.row(["环境保护/噪声污染", "3"]);
        table.row(["交通运输/公共交通/bus 12路", "10"]);
        let rendered = table.render();
        let widths: Vec<usize> = rendered
            .lines()
            .map(|l| l[..l.rfind(' ').expect("gap") + 1].width())
            .collect();
        assert_eq!(widths, [28, 28, 28], "{rendered}");
    }

    #[test]
    fn short_rows_and_newlines_do_not_break_the_grid() {
        let mut table = Table::new(["A", "B"]);
        table.row(["第一行\n第二行"]);
        table.row(["x", "y", "extra"]);
        let rendered = table.render();
        assert_eq!(
            rendered,
            "A              B\n第一行 第二行\nx              y  extra\n"
        );
    }

    #[test]
    fn clip_cuts_by_display_width() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("小区夜间施工噪声扰民", 9), "小区夜间…");
        assert_eq!(clip("小区夜间施工噪声扰民", 9).width(), 9);
        assert_eq!(clip("abcdefghij", 5), "abcd…");
        assert_eq!(clip("a\nb", 5), "a b");
    }

    #[test]
    fn fields_align_skip_empty_values_and_indent_continuations() {
        let text = render_fields(&[
            ("ticket", "HL-20260512-000001".to_owned()),
            ("merged into", String::new()),
            ("reply due", "2026-05-19 17:30".to_owned()),
            ("body", "工地夜间施工\n凌晨两点还在打桩".to_owned()),
        ]);
        assert_eq!(
            text,
            "ticket     HL-20260512-000001\n\
             reply due  2026-05-19 17:30\n\
             body       工地夜间施工\n           凌晨两点还在打桩\n"
        );
    }

    #[test]
    fn an_empty_table_prints_its_header() {
        let table = Table::new(["只有", "表头"]);
        assert!(table.is_empty());
        assert_eq!(table.render(), "只有  表头\n");
    }

    #[test]
    fn invalid_argument_lists_field_violations_and_exits_2() {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("title", "must not be empty");
        details.add_bad_request_violation("region_code", "must be 6, 9 or 12 digits");
        let status =
            tonic::Status::with_error_details(tonic::Code::InvalidArgument, "bad ticket", details);
        assert_eq!(
            status_report(&status),
            "error: INVALID_ARGUMENT: bad ticket\n  field title: must not be empty\n  field region_code: must be 6, 9 or 12 digits"
        );
        assert_eq!(status_exit_code(&status), 2);
        let missing = tonic::Status::not_found("ticket 42 not found");
        assert_eq!(
            status_report(&missing),
            "error: NOT_FOUND: ticket 42 not found"
        );
        assert_eq!(status_exit_code(&missing), 1);
    }
}

//! Reading a CSV or JSONL file into a [`Table`] of named columns, with UTF-8
//! and field counts checked and errors that name the file, line and field.
//! Suite files (here) and answer files (xsafe-judge) are both read with it,
//! then each applies its own rules to the rows.

/// A file read into named columns, before any format's rules apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The file name used in errors.
    pub file: String,
    /// The header (CSV), or the keys of all lines by first appearance,
    /// alphabetical within an object as serde_json keeps them (JSONL).
    pub columns: Vec<String>,
    /// Where a missing column is reported: the header (CSV) or the first
    /// object (JSONL).
    pub header_line: u64,
    /// The data rows; blank lines (and CSV lines of only spaces and
    /// separators) are skipped.
    pub rows: Vec<Row>,
}

/// One data row of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The physical line where the row starts.
    pub line: u64,
    /// By column; `None` when a JSONL object lacks the key or has `null`.
    /// A JSON string is taken as it is, any other value as its JSON text.
    pub cells: Vec<Option<String>>,
    /// Where each cell starts; differs from `line` after a quoted field
    /// that spans lines.
    pub cell_lines: Vec<u64>,
}

/// What a good file looks like, for the messages about an empty file or a
/// line that is not an object.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// A CSV header line, e.g. `prompt,label`.
    pub header: &'static str,
    /// What one row holds, e.g. `case`.
    pub row: &'static str,
    /// One JSONL line, e.g. `{"prompt": "...", "label": "safe"}`.
    pub object: &'static str,
}

/// Why a file could not be read into a [`Table`]. `line` is the 1-based
/// physical line; `field` the column (CSV) or key (JSONL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{file}`{loc}: {message}", loc = location(*line, field.as_deref(), "field"))]
pub struct TableError {
    /// The file name used in errors, as the caller gave it.
    pub file: String,
    /// The 1-based physical line of the fault; `None` only when the CSV
    /// reader cannot say where it failed.
    pub line: Option<u64>,
    /// The column (CSV) or key (JSONL) at fault; `None` when the fault is
    /// not in one field.
    pub field: Option<String>,
    /// What is wrong and what to do about it.
    pub message: String,
}

/// Where in a file, for messages: ` line 3, field `prompt``, where `what`
/// is `field` or `column`; empty when neither is known.
pub fn location(line: Option<u64>, name: Option<&str>, what: &str) -> String {
    match (line, name) {
        (Some(l), Some(n)) => format!(" line {l}, {what} `{n}`"),
        (Some(l), None) => format!(" line {l}"),
        (None, Some(n)) => format!(", {what} `{n}`"),
        (None, None) => String::new(),
    }
}

fn err(file: &str, line: u64, field: Option<&str>, message: String) -> TableError {
    TableError {
        file: file.to_string(),
        line: Some(line),
        field: field.map(String::from),
        message,
    }
}

impl Table {
    /// Exact name first, so that `Prompt` and `prompt` can coexist; else
    /// any case, because spreadsheets capitalise headers.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name).or_else(|| {
            self.columns
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
        })
    }
}

impl Row {
    /// The trimmed cell of `col`, if there is such a column and the cell is
    /// not blank.
    pub fn optional(&self, col: Option<usize>) -> Option<String> {
        let s = self.cells[col?].as_deref()?.trim();
        (!s.is_empty()).then(|| s.to_string())
    }
}

/// Excel and Notepad write a BOM; it would otherwise glue onto the first
/// column name.
fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Whether the first non-blank character (after any BOM) is `{`.
pub fn looks_jsonl(bytes: &[u8]) -> bool {
    strip_bom(bytes).iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The field separator of a CSV file, told by its header (its first line
/// that is not blank, as in `is_blank`): a comma, unless the header has
/// none but has a tab (a TSV file) or a semicolon (a spreadsheet's "CSV" in
/// locales where the comma is the decimal mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Separator {
    Comma,
    Tab,
    Semicolon,
}

impl Separator {
    fn of(bytes: &[u8]) -> Separator {
        // Blank lines before the header are skipped by the reader, so the
        // first line alone would tell nothing (an empty line has no
        // separator and would make a `;` header comma-separated).
        let header = bytes
            .split(|&b| b == b'\n')
            .find(|line| !is_blank(line))
            .unwrap_or_default();
        if header.contains(&b',') {
            Separator::Comma
        } else if header.contains(&b'\t') {
            Separator::Tab
        } else if header.contains(&b';') {
            Separator::Semicolon
        } else {
            Separator::Comma
        }
    }

    fn byte(self) -> u8 {
        match self {
            Separator::Comma => b',',
            Separator::Tab => b'\t',
            Separator::Semicolon => b';',
        }
    }

    /// What to quote, for messages: `commas ("like, this")`.
    fn quote_hint(self) -> &'static str {
        match self {
            Separator::Comma => "commas (\"like, this\")",
            Separator::Tab => "tabs",
            Separator::Semicolon => "semicolons (\"like; this\")",
        }
    }
}

/// Whether a line holds nothing but spaces and the separators, so that no
/// separator can be told from it and no row or header read from it.
fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| b.is_ascii_whitespace() || matches!(b, b',' | b';'))
}

/// Reads a CSV file with a header line; `file` names it in errors. Fields
/// are separated by commas, or by tabs or semicolons when the header line
/// is (see `Separator`). Blank lines, and lines of only spaces and
/// separators, are skipped before the header as between rows.
pub fn read_csv(bytes: &[u8], file: &str, example: &Example) -> Result<Table, TableError> {
    let bytes = strip_bom(bytes);
    let sep = Separator::of(bytes);
    // Flexible, and bytes rather than strings, so that a short row or a bad
    // byte is reported by us with its line and column rather than by csv.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sep.byte())
        .from_reader(bytes);
    let records = reader.byte_records();
    // Reading from memory with flexible records leaves almost nothing for
    // csv to reject, but whatever it does reject still gets a line.
    let csv_error = |e: csv::Error| TableError {
        file: file.to_string(),
        line: e.position().map(|p| p.line()),
        field: None,
        message: format!("cannot read the CSV ({e}); check the quoting"),
    };
    // A line of spaces or separators above the header (a spreadsheet's
    // empty first rows) would otherwise be taken for a header of empty
    // names. Judged by `is_blank`, as the separator was, so that the header
    // is the line the separator was told by.
    let mut records = records.skip_while(|r| r.as_ref().is_ok_and(|r| r.iter().all(is_blank)));
    let Some(header) = records.next() else {
        let Example { header, row, .. } = example;
        let message = format!(
            "the file is empty; write a header line (e.g. `{header}`) and one {row} per line"
        );
        return Err(err(file, 1, None, message));
    };
    let header = header.map_err(csv_error)?;
    let mut lines = Lines::new(bytes);
    let header_line = lines.of(&header);
    let mut columns = Vec::with_capacity(header.len());
    for (i, field) in header.iter().enumerate() {
        let name = std::str::from_utf8(field).map_err(|e| {
            let message = format!(
                "the name of column {} is not valid UTF-8 (byte {}); save the file as UTF-8",
                i + 1,
                e.valid_up_to() + 1
            );
            err(file, header_line, None, message)
        })?;
        columns.push(name.trim().to_string());
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(csv_error)?;
        // A line of spaces or separators is a leftover, not a row.
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        let line = lines.of(&record);
        let (n, m) = (record.len(), columns.len());
        if n < m {
            let message = format!(
                "the row has {n} fields but the header has {m}, so this column has no value; \
                 add the missing fields, or quote fields that contain {} or line breaks",
                sep.quote_hint()
            );
            return Err(err(file, line, Some(&columns[n]), message));
        }
        if n > m {
            let message = format!(
                "the row has {n} fields but the header has {m} ({}); remove the extra fields \
                 or quote fields that contain {}",
                columns.join(", "),
                sep.quote_hint()
            );
            return Err(err(file, line, None, message));
        }
        let mut cells = Vec::with_capacity(m);
        let mut cell_lines = Vec::with_capacity(m);
        let mut cell_line = line;
        for (i, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|e| {
                let message = format!(
                    "invalid UTF-8 at byte {} of the field; save the file as UTF-8",
                    e.valid_up_to() + 1
                );
                let at = cell_line + newlines(&field[..e.valid_up_to()]);
                err(file, at, Some(&columns[i]), message)
            })?;
            cells.push(Some(text.to_string()));
            cell_lines.push(cell_line);
            cell_line += newlines(field);
        }
        rows.push(Row {
            line,
            cells,
            cell_lines,
        });
    }
    Ok(Table {
        file: file.to_string(),
        columns,
        header_line,
        rows,
    })
}

/// The physical line where each record starts. csv's own
/// `Position::line` puts a record on the line where the previous one
/// ended when lines end in CRLF or blank lines come between, so the line is
/// counted here from the record's first byte; records come in order, so
/// the count goes forward once through the file.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            at: 0,
            line: 1,
        }
    }

    fn of(&mut self, record: &csv::ByteRecord) -> u64 {
        let len = self.bytes.len();
        let mut start = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(len))
            .min(len);
        while start < len && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.at {
            self.line += newlines(&self.bytes[self.at..start]);
            self.at = start;
        }
        self.line
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Reads a file of one JSON object per line; `file` names it in errors.
pub fn read_jsonl(bytes: &[u8], file: &str, example: &Example) -> Result<Table, TableError> {
    let mut objects = Vec::new();
    for (i, raw) in strip_bom(bytes).split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.trim_ascii().is_empty() {
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|e| {
            let message = format!(
                "invalid UTF-8 at byte {} of the line; save the file as UTF-8",
                e.valid_up_to() + 1
            );
            err(file, line, None, message)
        })?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            // serde's own "at line 1 column N" would contradict our line.
            let what = e.to_string();
            let what = what.split(" at line ").next().unwrap_or_default();
            let message = format!(
                "malformed JSON at character {}: {what}; write one JSON object per line",
                e.column()
            );
            err(file, line, None, message)
        })?;
        let serde_json::Value::Object(map) = value else {
            let message = format!(
                "expected a JSON object such as {}; write one object per line",
                example.object
            );
            return Err(err(file, line, None, message));
        };
        objects.push((line, map));
    }
    let Some(&(header_line, _)) = objects.first() else {
        let message = format!(
            "the file is empty; write one JSON object per line, e.g. {}",
            example.object
        );
        return Err(err(file, 1, None, message));
    };
    let mut columns: Vec<String> = Vec::new();
    for (_, map) in &objects {
        for key in map.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let rows = objects
        .iter()
        .map(|(line, map)| Row {
            line: *line,
            cells: columns
                .iter()
                .map(|c| match map.get(c) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                })
                .collect(),
            cell_lines: vec![*line; columns.len()],
        })
        .collect();
    Ok(Table {
        file: file.to_string(),
        columns,
        header_line,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: Example = Example {
        header: "prompt,completion",
        row: "answer",
        object: "{}",
    };

    #[test]
    fn the_separator_is_the_headers_after_blank_lines() {
        assert_eq!(Separator::of(b"\n\na;b\n1,5;2\n"), Separator::Semicolon);
        assert_eq!(Separator::of(b" \r\n;;\na\tb\n"), Separator::Tab);
        assert_eq!(Separator::of(b"\na,b;c\n"), Separator::Comma);
        assert_eq!(Separator::of(b"\n\n"), Separator::Comma);
    }

    /// Answer files (xsafe-judge) go through the same reader.
    #[test]
    fn a_header_below_blank_lines_keeps_its_line_and_columns() {
        let bytes = b"\r\n ;\r\nprompt;completion\r\nHi, you;Hello\r\n";
        let t = read_csv(bytes, "a.csv", &EXAMPLE).unwrap();
        assert_eq!(t.columns, ["prompt", "completion"]);
        assert_eq!(t.header_line, 3);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].line, 4);
        assert_eq!(t.rows[0].cells[0].as_deref(), Some("Hi, you"));
    }
}

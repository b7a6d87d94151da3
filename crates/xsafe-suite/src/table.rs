//! Reading a CSV or JSONL file into a [`Table`] of named columns, with UTF-8
//! and field counts checked and errors that name the file, line and field.
//! Suite files (here) and answer files (xsafe-judge) are both read with it,
//! then each applies its own rules to the rows. A file too large to hold
//! is read a row at a time with a [`RowReader`], which the whole-file
//! readers collect, so that both read a file alike.
//!
//! A column named twice (also in another case or with other spaces around
//! it), and a key repeated in a JSONL object, are refused: only one of them
//! could be read, and which one would be a guess.
//!
//! So are the quotes csv reads past without a word: a quoted field that
//! never closes, which would take in the rest of the file, and a quote
//! that ends a quoted field the text goes on after (`"a "b" c"`, a quote
//! inside the field not written twice), which csv would join to it.
//!
//! Lines end in LF, CRLF or a lone CR (old Mac files), in any mix: every
//! line number counts them all, and a line break inside a quoted CSV cell
//! is read as LF whichever it was, so that a file checked out with CRLF
//! reads the same as with LF.
//!
//! A file that is not text (a workbook, a zip or compressed file, a PDF,
//! an SQLite database) or is UTF-16 (with or without a byte-order mark) is
//! refused for what it is, told by its first bytes, rather than for bytes
//! that are not UTF-8; any other CSV header with a NUL byte is refused as
//! not text. A CSV file may start with Excel's `sep=;` line (also padded
//! with more of the separator, `sep=;;`), which names the separator; a JSONL
//! line may start with a BOM (files joined with `cat`), and a JSON array
//! is refused as not JSONL, saying what to write instead. A JSONL number
//! is read as the file writes it (`18446744073709551617`, `1.50`).

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
    /// A JSON string is taken as it is, any other value as its JSON text,
    /// a number as the file writes it (read text fields with
    /// [`Table::text`], which refuses those). Line
    /// breaks inside a CSV cell are LF, whatever the file's were.
    pub cells: Vec<Option<String>>,
    /// By column: what a JSONL value that is neither a string nor `null`
    /// is; `None` for strings, nulls and every CSV cell.
    pub non_text: Vec<Option<JsonKind>>,
    /// Where each cell starts; differs from `line` after a quoted field
    /// that spans lines.
    pub cell_lines: Vec<u64>,
    /// By column: whether a JSONL object lacks the key (`null` is a value
    /// of a key it has), so that a message can say the key is missing
    /// rather than its value empty; false for every CSV cell.
    pub absent: Vec<bool>,
}

/// A JSONL value that is not text: what [`Table::text`] refuses unless
/// the caller accepts it, as an id may be a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// A JSON number, e.g. `7`.
    Number,
    /// `true` or `false`.
    Bool,
    /// A JSON array, e.g. a list of chat messages.
    Array,
    /// A JSON object.
    Object,
}

impl JsonKind {
    fn of(value: &serde_json::Value) -> Option<JsonKind> {
        match value {
            serde_json::Value::Null | serde_json::Value::String(_) => None,
            serde_json::Value::Number(_) => Some(JsonKind::Number),
            serde_json::Value::Bool(_) => Some(JsonKind::Bool),
            serde_json::Value::Array(_) => Some(JsonKind::Array),
            serde_json::Value::Object(_) => Some(JsonKind::Object),
        }
    }
}

impl std::fmt::Display for JsonKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JsonKind::Number => "a number",
            JsonKind::Bool => "true or false",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        })
    }
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
    /// The column of this name, in any case, because spreadsheets
    /// capitalise headers (names that differ only in case are refused
    /// while reading, so there is at most one). The exact name is looked
    /// for first all the same.
    pub fn find(&self, name: &str) -> Option<usize> {
        find(&self.columns, name)
    }

    /// The cell of `col` as text (`None` when the JSONL object lacks the
    /// key or has `null`); an error naming the file, line and field when a
    /// JSONL value is not a string (a number, an object, an array, true or
    /// false), which would otherwise be read as its JSON text. For fields
    /// that hold text (a prompt, an answer, a label); ids may be numbers
    /// (see [`Table::text_or`]).
    pub fn text<'r>(&self, row: &'r Row, col: usize) -> Result<Option<&'r str>, TableError> {
        self.text_or(row, col, &[])
    }

    /// As [`Table::text`], but a JSONL value of one of the kinds in
    /// `accepted` is read as its JSON text too (`7`, `true`): for an id
    /// that may be a number, or a label that may be true or false.
    pub fn text_or<'r>(
        &self,
        row: &'r Row,
        col: usize,
        accepted: &[JsonKind],
    ) -> Result<Option<&'r str>, TableError> {
        let cell = row.cells[col].as_deref();
        let Some(kind) = row.non_text[col].filter(|k| !accepted.contains(k)) else {
            return Ok(cell);
        };
        let name = &self.columns[col];
        let json = cell.unwrap_or_default();
        let shown = match json.char_indices().nth(40) {
            Some((at, _)) => format!("{}...", &json[..at]),
            None => json.to_string(),
        };
        let message = format!(
            "the value is {kind} ({shown}), not text; write the text itself as a JSON string, \
             e.g. \"{name}\": \"...\""
        );
        Err(err(&self.file, row.cell_lines[col], Some(name), message))
    }
}

/// The column of `columns` named `name`, as [`Table::find`] says.
fn find(columns: &[String], name: &str) -> Option<usize> {
    columns
        .iter()
        .position(|c| c == name)
        .or_else(|| columns.iter().position(|c| same_name(c, name)))
}

/// Whether two column names are the same to [`Table::find`]: equal but
/// for ASCII case and surrounding spaces.
fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The first name of `names` that repeats an earlier one (see
/// [`same_name`]), as `(earlier, later)` indices. Empty names are left
/// alone: no field is read by an empty name, and a header's trailing
/// separators make them.
fn repeated(names: &[String]) -> Option<(usize, usize)> {
    names.iter().enumerate().find_map(|(j, name)| {
        if name.trim().is_empty() {
            return None;
        }
        let i = names[..j]
            .iter()
            .position(|earlier| same_name(earlier, name))?;
        Some((i, j))
    })
}

/// What to say about the names `a` and `b` that [`repeated`] found alike.
fn alike(a: &str, b: &str) -> &'static str {
    if a == b {
        "the same name"
    } else {
        "names that differ only in case or spaces"
    }
}

impl Row {
    /// The trimmed cell of `col`, if there is such a column and the cell is
    /// not blank.
    pub fn optional(&self, col: Option<usize>) -> Option<String> {
        let s = self.cells[col?].as_deref()?.trim();
        (!s.is_empty()).then(|| s.to_string())
    }

    /// Gives the row the empty cell (`None`) of every column up to
    /// `width` that it lacks: a JSONL row from a [`RowReader`] has no cell
    /// for a key first seen on a later line (and is [`Row::absent`] there).
    pub fn widen(&mut self, width: usize) {
        if self.cells.len() < width {
            self.cells.resize(width, None);
            self.non_text.resize(width, None);
            self.cell_lines.resize(width, self.line);
            self.absent.resize(width, true);
        }
    }

    /// Whether the row has the key of `col`: always, in a CSV file; in a
    /// JSONL file, when the line's object has it (`null` included).
    pub fn has(&self, col: usize) -> bool {
        !self.absent.get(col).copied().unwrap_or(true)
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

/// Whether the file starts a JSON array of objects, as `json.dump` and
/// pandas' `to_json(orient="records")` write a list of records: a first
/// non-blank character `[` (after any BOM) followed, past any blanks, by
/// `{`, `]` or nothing. Such a file is not JSONL, and
/// [`read_jsonl`] refuses it saying so; a CSV header that starts with `[`
/// (`[id],prompt`) is not taken for one.
pub fn looks_json_array(bytes: &[u8]) -> bool {
    let mut rest = strip_bom(bytes).iter().filter(|b| !b.is_ascii_whitespace());
    rest.next() == Some(&b'[') && matches!(rest.next(), None | Some(b'{' | b']'))
}

/// What a file that starts with `start` (its first line) is, when it is
/// a kind of file that is not text at all (a workbook, an archive, a
/// compressed file, a database) or is text in UTF-16, with or without a
/// byte-order mark, with what to do; `None` for anything else. Such a file
/// would otherwise be refused for its bytes, as if it were text saved in
/// the wrong encoding, or read as a header of odd names.
fn not_text(start: &[u8]) -> Option<&'static str> {
    const KINDS: &[(&[u8], &str)] = &[
        (
            b"PK\x03\x04",
            "the file is a zip archive, as an Excel workbook (.xlsx) or an OpenDocument sheet \
             (.ods) is, not CSV or JSONL text: export the sheet from the spreadsheet as CSV \
             (UTF-8), or unzip the archive and give the CSV or JSONL file in it",
        ),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "the file is an Excel 97-2003 workbook (.xls) or another Office document, not CSV \
             or JSONL text: export the sheet from the spreadsheet as CSV (UTF-8)",
        ),
        (
            b"\x1F\x8B",
            "the file is compressed (gzip), not CSV or JSONL text: decompress it (`gunzip -k \
             FILE`) and give the file it holds",
        ),
        (
            b"\xFD7zXZ\x00",
            "the file is compressed (xz), not CSV or JSONL text: decompress it (`unxz -k FILE`) \
             and give the file it holds",
        ),
        (
            b"\x28\xB5\x2F\xFD",
            "the file is compressed (zstd), not CSV or JSONL text: decompress it (`unzstd \
             FILE`) and give the file it holds",
        ),
        (
            b"SQLite format 3\x00",
            "the file is an SQLite database (such as xsafe's run store), not CSV or JSONL \
             text: give a CSV or JSONL file",
        ),
        (
            b"%PDF-",
            "the file is a PDF document, not CSV or JSONL text: give a CSV or JSONL file",
        ),
        (
            b"\xFF\xFE",
            "the file is UTF-16 text (it starts with UTF-16's byte-order mark), which xsafe \
             does not read: save it as UTF-8 (Excel: CSV UTF-8; or `iconv -f UTF-16 -t UTF-8`)",
        ),
        (
            b"\xFE\xFF",
            "the file is UTF-16 text (it starts with UTF-16's byte-order mark), which xsafe \
             does not read: save it as UTF-8 (Excel: CSV UTF-8; or `iconv -f UTF-16 -t UTF-8`)",
        ),
    ];
    const BZIP2: &str = "the file is compressed (bzip2), not CSV or JSONL text: decompress it \
         (`bunzip2 -k FILE`) and give the file it holds";
    const UTF16_LE: &str = "the file is UTF-16 text (little-endian, without a byte-order mark: \
         every other byte is NUL), which xsafe does not read: save it as UTF-8 (Excel: CSV \
         UTF-8; or `iconv -f UTF-16LE -t UTF-8`)";
    const UTF16_BE: &str = "the file is UTF-16 text (big-endian, without a byte-order mark: \
         every other byte is NUL), which xsafe does not read: save it as UTF-8 (Excel: CSV \
         UTF-8; or `iconv -f UTF-16BE -t UTF-8`)";
    if let Some(&(_, message)) = KINDS.iter().find(|(magic, _)| start.starts_with(magic)) {
        return Some(message);
    }
    if is_bzip2(start) {
        return Some(BZIP2);
    }
    match utf16_without_bom(start) {
        Some(Endian::Little) => Some(UTF16_LE),
        Some(Endian::Big) => Some(UTF16_BE),
        None => None,
    }
}

/// Whether `start` begins a bzip2 stream: `BZh`, the block size (`1` to
/// `9`), then the magic of a first block or of the end of an empty
/// stream. `BZh` alone could start a line of text.
fn is_bzip2(start: &[u8]) -> bool {
    match start {
        [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..] => {
            rest.starts_with(b"1AY&SY") || rest.starts_with(b"\x17rE8P\x90")
        }
        _ => false,
    }
}

/// The byte order of UTF-16 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    /// The low byte first: `i\0d\0`.
    Little,
    /// The high byte first: `\0i\0d`.
    Big,
}

/// The byte order of `start` (a file's first line, of which the first 64
/// bytes count) when it looks like UTF-16 text without a byte-order mark:
/// of at least two pairs of bytes, three in four or more are a printable
/// ASCII character (or a space or line end) and a NUL, in one order. A
/// header, even one written in UTF-16, is mostly ASCII; UTF-8 text holds
/// no NUL.
fn utf16_without_bom(start: &[u8]) -> Option<Endian> {
    let ascii = |b: u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let pairs = start[..start.len().min(64)].chunks_exact(2);
    let total = pairs.len();
    let (mut little, mut big) = (0, 0);
    for pair in pairs {
        match *pair {
            [b, 0] if ascii(b) => little += 1,
            [0, b] if ascii(b) => big += 1,
            _ => {}
        }
    }
    let most = |n: usize| total >= 2 && n * 4 >= total * 3;
    if most(little) {
        Some(Endian::Little)
    } else if most(big) {
        Some(Endian::Big)
    } else {
        None
    }
}

/// The 1-based number of the first line that [`read_jsonl`] reads an
/// object from (the first that is not blank, any BOM left out), for a
/// message about it; `None` when every line is blank, or when the file is
/// not text (a workbook, a compressed or UTF-16 file: see `not_text`),
/// which the reader refuses as such.
pub(crate) fn first_jsonl_line(bytes: &[u8]) -> Option<u64> {
    let mut first = Vec::new();
    read_line(&mut &bytes[..], &mut first).expect("reading bytes in memory does not fail");
    if not_text(&first).is_some() {
        return None;
    }
    let number = split_lines(bytes).position(|line| !strip_bom(line).trim_ascii().is_empty())?;
    Some(number as u64 + 1)
}

/// [`looks_jsonl`] of what `reader` reads, which is read up to its first
/// non-blank character only.
pub fn looks_jsonl_from(mut reader: impl std::io::BufRead) -> std::io::Result<bool> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    // How much of a BOM starts the file, until it is all there or not.
    let mut bom = Some(0);
    loop {
        let available = fill_buf(&mut reader)?;
        if available.is_empty() {
            return Ok(false);
        }
        for &b in available {
            if let Some(matched) = bom {
                if b == BOM[matched] {
                    bom = (matched + 1 < BOM.len()).then_some(matched + 1);
                    continue;
                }
                if matched > 0 {
                    // Part of a BOM, which is the first character then.
                    return Ok(false);
                }
                bom = None;
            }
            if !b.is_ascii_whitespace() {
                return Ok(b == b'{');
            }
        }
        let n = available.len();
        reader.consume(n);
    }
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
        let header = split_lines(bytes)
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

    /// The separator a first line such as `sep=;` names, as Excel writes
    /// it above the header (also in quotes, `"sep=;"`, and in any case);
    /// `None` for any other line, and an error for a separator xsafe does
    /// not read. The separator may be followed by more of it (`sep=;;;`),
    /// as a spreadsheet such as LibreOffice writes the line back, a cell
    /// `sep=` in a row as wide as the header.
    fn named(line: &[u8]) -> Option<Result<Separator, String>> {
        let line = without_line_end(line);
        let (quoted, line) = match line.strip_prefix(b"\"") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (prefix, rest) = line.split_at_checked(4)?;
        if !prefix.eq_ignore_ascii_case(b"sep=") {
            return None;
        }
        let (&sep, mut after) = rest.split_first()?;
        if quoted {
            // Spaces, the closing quote, then what follows it.
            let close = after.iter().position(|&b| b == b'"')?;
            if !after[..close].iter().all(|&b| b == b' ') {
                return None;
            }
            after = &after[close + 1..];
        }
        // Then nothing but spaces and more of the separator.
        if !after.iter().all(|&b| b == b' ' || b == sep) {
            return None;
        }
        Some(match sep {
            b',' => Ok(Separator::Comma),
            b'\t' => Ok(Separator::Tab),
            b';' => Ok(Separator::Semicolon),
            other => Err(format!(
                "the first line `sep={}` names `{}` as the separator, which xsafe does not \
                 read; save the file with commas, semicolons or tabs between the fields",
                other.escape_ascii(),
                other.escape_ascii()
            )),
        })
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
    let in_memory = |e: ReadError| match e {
        ReadError::Table(e) => e,
        ReadError::Read(e) => unreachable!("reading bytes in memory does not fail: {e}"),
    };
    let mut reader = RowReader::csv(bytes, file, example).map_err(in_memory)?;
    let rows = reader
        .by_ref()
        .collect::<Result<_, _>>()
        .map_err(in_memory)?;
    Ok(reader.into_table(rows))
}

/// Why reading rows from a reader failed: reading, or what was read.
#[derive(Debug)]
pub enum ReadError {
    /// The reader failed.
    Read(std::io::Error),
    /// A line is not what the file must hold.
    Table(TableError),
}

impl From<TableError> for ReadError {
    fn from(e: TableError) -> Self {
        ReadError::Table(e)
    }
}

/// Why [`read_jsonl_from`] failed (the name it had before CSV files were
/// read from a reader too).
pub type JsonlError = ReadError;

/// The rows of a CSV or JSONL file, one at a time, read from a buffered
/// reader: what [`read_csv`] and [`read_jsonl_from`] collect into a
/// [`Table`], with the same checks and the same errors in the same order,
/// without ever holding more than a row (and the reader's buffers). After
/// an error it gives no more rows.
///
/// A CSV file's columns are its header's, known from the start. A JSONL
/// file's columns are the keys of the lines read so far: a row has a cell
/// for each column known once it is read, and a key first seen on a later
/// line is a column that earlier rows lack ([`Row::widen`] gives them
/// its empty cell, as a [`Table`]'s rows have). A key spelt in two ways,
/// and a file of no object, are errors found at the end, after every
/// line's own errors, as when the file is read whole.
pub struct RowReader<R> {
    file: String,
    columns: Vec<String>,
    /// CSV: the header's line; JSONL: the first object's, once read.
    header_line: Option<u64>,
    format: Format<R>,
    done: bool,
}

enum Format<R> {
    Csv(Box<CsvRows<R>>),
    Jsonl(JsonlRows<R>),
}

/// The lines of a CSV file that come before its header are read ahead
/// (the separator is told by the header), then read again by csv from
/// memory, followed by the rest of the reader.
type CsvSource<R> = Window<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>;

struct CsvRows<R> {
    reader: csv::Reader<CsvSource<R>>,
    sep: Separator,
    record: csv::ByteRecord,
}

struct JsonlRows<R> {
    reader: R,
    example: Example,
    /// The line where each column's key was first met.
    first_lines: Vec<u64>,
    /// A key spelt in another case than on an earlier line would be a
    /// column of its own that `find` never reads: refused, after every
    /// line's own errors.
    misspelt: Option<TableError>,
    line: u64,
    text: Vec<u8>,
}

impl<R: std::io::BufRead> RowReader<R> {
    /// Reads a CSV file's header (as [`read_csv`] does) and is then ready
    /// to read its rows; `file` names it in errors.
    pub fn csv(mut reader: R, file: &str, example: &Example) -> Result<Self, ReadError> {
        // The lines up to the first that is not blank, the header, as
        // `Separator::of` tells it. A BOM starts the file only, and so
        // does Excel's `sep=;` line, which names the separator.
        let mut head = Vec::new();
        let mut line = Vec::new();
        let mut named = None;
        let mut first = true;
        let mut lines = 0;
        loop {
            line.clear();
            if read_line(&mut reader, &mut line).map_err(ReadError::Read)? == 0 {
                break;
            }
            lines += 1;
            if first && let Some(message) = not_text(&line) {
                return Err(ReadError::Table(err(file, 1, None, message.to_string())));
            }
            let text = if first { strip_bom(&line) } else { &line };
            if first && let Some(sep) = Separator::named(text) {
                named = Some(sep.map_err(|m| ReadError::Table(err(file, 1, None, m)))?);
                // Its line end alone stays: csv skips the empty line, and
                // the lines below keep their numbers.
                head.extend_from_slice(&text[without_line_end(text).len()..]);
                first = false;
                continue;
            }
            first = false;
            if let Some(at) = line.iter().position(|&b| b == 0) {
                // Text other than UTF-16 (told above) never holds one.
                let message = format!(
                    "the file holds NUL bytes (the first is byte {} of this line), which CSV \
                     text does not: is it UTF-16 or binary? save it as UTF-8 CSV (Excel: CSV \
                     UTF-8; UTF-16: `iconv -f UTF-16LE -t UTF-8`, or UTF-16BE), or give the \
                     CSV or JSONL file it holds",
                    at + 1
                );
                return Err(ReadError::Table(err(file, lines, None, message)));
            }
            head.extend_from_slice(text);
            if !is_blank(text) {
                break;
            }
        }
        let sep = named.unwrap_or_else(|| Separator::of(&head));
        let source = Window::new(std::io::Read::chain(std::io::Cursor::new(head), reader));
        // Flexible, and bytes rather than strings, so that a short row or a
        // bad byte is reported by us with its line and column rather than
        // by csv.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(sep.byte())
            .from_reader(source);
        let mut rows = CsvRows {
            reader,
            sep,
            record: csv::ByteRecord::new(),
        };
        // A line of spaces or separators above the header (a spreadsheet's
        // empty first rows) would otherwise be taken for a header of empty
        // names. Judged by `is_blank`, as the separator was, so that the
        // header is the line the separator was told by.
        let header_line = loop {
            if !rows.next_record(file)? {
                let Example { header, row, .. } = example;
                let message = format!(
                    "the file is empty; write a header line (e.g. `{header}`) and one {row} per \
                     line"
                );
                return Err(ReadError::Table(err(file, 1, None, message)));
            }
            // Counted for every record, so that the bytes of the skipped
            // ones are let go.
            let line = rows.reader.get_mut().line_of(&rows.record);
            rows.check_quotes(file, line, None)?;
            if !rows.record.iter().all(is_blank) {
                break line;
            }
        };
        let header = &rows.record;
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
        if let Some((i, j)) = repeated(&columns) {
            let (a, b) = (&columns[i], &columns[j]);
            let message = format!(
                "column {} `{a}` and column {} `{b}` have {}, so only one of them could be read; \
                 rename or remove one of them",
                i + 1,
                j + 1,
                alike(a, b)
            );
            return Err(ReadError::Table(err(file, header_line, Some(b), message)));
        }
        Ok(RowReader {
            file: file.to_string(),
            columns,
            header_line: Some(header_line),
            format: Format::Csv(Box::new(rows)),
            done: false,
        })
    }

    /// Ready to read a file of one JSON object per line (as
    /// [`read_jsonl_from`] does); `file` names it in errors.
    pub fn jsonl(reader: R, file: &str, example: &Example) -> Self {
        RowReader {
            file: file.to_string(),
            columns: Vec::new(),
            header_line: None,
            format: Format::Jsonl(JsonlRows {
                reader,
                example: *example,
                first_lines: Vec::new(),
                misspelt: None,
                line: 0,
                text: Vec::new(),
            }),
            done: false,
        }
    }

    /// The columns: the header (CSV), or the keys of the lines read so far
    /// by first appearance (JSONL).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Where a missing column is reported: the header (CSV) or the first
    /// object (JSONL), `None` until it is read.
    pub fn header_line(&self) -> Option<u64> {
        self.header_line
    }

    /// The column of this name, as [`Table::find`] finds it among the
    /// columns known so far.
    pub fn find(&self, name: &str) -> Option<usize> {
        find(&self.columns, name)
    }

    /// The rows read so far and the columns as a [`Table`]; `rows` are
    /// widened to every column.
    pub fn into_table(self, mut rows: Vec<Row>) -> Table {
        let width = self.columns.len();
        for row in &mut rows {
            row.widen(width);
        }
        Table {
            header_line: self.header_line.unwrap_or(1),
            file: self.file,
            columns: self.columns,
            rows,
        }
    }
}

impl<R: std::io::BufRead> Iterator for RowReader<R> {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = match &mut self.format {
            Format::Csv(rows) => rows.next_row(&self.file, &self.columns),
            Format::Jsonl(rows) => {
                let next = rows.next_row(&self.file, &mut self.columns, &mut self.header_line);
                match next {
                    Ok(None) => rows.end(&self.file, self.header_line).map(Err),
                    next => next.transpose(),
                }
            }
        };
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

impl<R: std::io::BufRead> CsvRows<R> {
    /// Reads the next record into `self.record`; false at the end.
    fn next_record(&mut self, file: &str) -> Result<bool, ReadError> {
        self.reader
            .read_byte_record(&mut self.record)
            .map_err(|e| csv_error(e, file))
    }

    fn next_row(&mut self, file: &str, columns: &[String]) -> Option<Result<Row, ReadError>> {
        loop {
            match self.next_record(file) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
            // Counted for every record, so that the bytes of the skipped
            // ones are let go too.
            let line = self.reader.get_mut().line_of(&self.record);
            if let Err(e) = self.check_quotes(file, line, Some(columns)) {
                return Some(Err(ReadError::Table(e)));
            }
            // A line of spaces or separators is a leftover, not a row.
            if self.record.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            return Some(self.row(file, columns, line).map_err(ReadError::Table));
        }
    }

    /// Refuses the record just read, which starts on `line`, when a quote
    /// in it made csv read other cells than the file meant (see
    /// [`quote_fault`]): before its fields are counted, since an unclosed
    /// quote takes in the rest of the file and leaves too few of them.
    /// `columns` is `None` for the header.
    fn check_quotes(
        &self,
        file: &str,
        line: u64,
        columns: Option<&[String]>,
    ) -> Result<(), TableError> {
        let end = self.reader.position().byte();
        let raw = self.reader.get_ref().record_bytes(end);
        let Some(fault) = quote_fault(raw, self.sep.byte()) else {
            return Ok(());
        };
        const TWICE: &str = "write each quote inside a quoted field twice (\"like \"\"this\"\"\")";
        // The field's column, and what to call it: a row's field, or a
        // name of the header.
        let at = |field: usize| match columns {
            Some(columns) => (
                columns.get(field).map(String::as_str),
                "the field".to_string(),
            ),
            None => (None, format!("the name of column {}", field + 1)),
        };
        Err(match fault {
            QuoteFault::Unclosed {
                field,
                line: at_line,
                taken,
            } => {
                let (column, what) = at(field);
                let taken = match taken {
                    0 => String::new(),
                    1 => " and the line below it".to_string(),
                    n => format!(" and the {n} lines below it"),
                };
                let message = format!(
                    "{what} opens with a quote that never closes, so it runs to the end of the \
                     file, taking in the rest of its line{taken}; close it with a quote, and \
                     {TWICE}"
                );
                err(file, line + at_line, column, message)
            }
            QuoteFault::Stray {
                field,
                opened,
                line: at_line,
                after,
            } => {
                let (column, what) = at(field);
                let message = if opened == at_line {
                    format!(
                        "{what} is quoted, and the quote before `{after}` ends it though the field \
                         goes on, so that text would be joined to it; {TWICE}"
                    )
                } else {
                    format!(
                        "{what} opens with a quote on line {}, but the quote before `{after}` on \
                         this line ends it and the text goes on after it: a closing quote is \
                         missing on line {}, or a quote inside the field is not written twice \
                         (\"like \"\"this\"\"\")",
                        line + opened,
                        line + opened
                    )
                };
                err(file, line + at_line, column, message)
            }
        })
    }

    fn row(&self, file: &str, columns: &[String], line: u64) -> Result<Row, TableError> {
        let record = &self.record;
        let (n, m) = (record.len(), columns.len());
        if n < m {
            let message = format!(
                "the row has {n} fields but the header has {m}, so this column has no value; \
                 add the missing fields, or quote fields that contain {} or line breaks",
                self.sep.quote_hint()
            );
            return Err(err(file, line, Some(&columns[n]), message));
        }
        if n > m {
            let message = format!(
                "the row has {n} fields but the header has {m} ({}); remove the extra fields \
                 or quote fields that contain {}",
                columns.join(", "),
                self.sep.quote_hint()
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
            cells.push(Some(lf_line_ends(text)));
            cell_lines.push(cell_line);
            cell_line += newlines(field);
        }
        Ok(Row {
            line,
            non_text: vec![None; cells.len()],
            absent: vec![false; cells.len()],
            cells,
            cell_lines,
        })
    }
}

/// What csv refused, with the line where it can tell: flexible records
/// leave almost nothing for it to reject but the reader's own failures.
fn csv_error(e: csv::Error, file: &str) -> ReadError {
    if e.is_io_error() {
        let csv::ErrorKind::Io(e) = e.into_kind() else {
            unreachable!("an I/O error is of the kind Io")
        };
        return ReadError::Read(e);
    }
    ReadError::Table(TableError {
        file: file.to_string(),
        line: e.position().map(|p| p.line()),
        field: None,
        message: format!("cannot read the CSV ({e}); check the quoting"),
    })
}

/// The reader csv reads a file through, keeping the bytes since the start
/// of the last record counted, so that each record's physical line is
/// counted from its first byte. csv's own `Position::line` puts a record on
/// the line where the previous one ended when lines end in CRLF or blank
/// lines come between. Records come in order, so the count goes forward
/// once through the file, and what is kept is about a record and csv's
/// buffer.
struct Window<R> {
    inner: R,
    /// The bytes from `at` on that csv has read.
    kept: Vec<u8>,
    /// Where `kept` starts in the file: the start of the last record
    /// counted.
    at: u64,
    /// The line `at` is on.
    line: u64,
}

impl<R> Window<R> {
    fn new(inner: R) -> Self {
        Window {
            inner,
            kept: Vec::new(),
            at: 0,
            line: 1,
        }
    }

    /// The line where `record` starts (past any line ends before it, where
    /// csv puts its position).
    fn line_of(&mut self, record: &csv::ByteRecord) -> u64 {
        let end = self.at + self.kept.len() as u64;
        let position = record.position().map_or(0, |p| p.byte());
        let mut start = position.clamp(self.at, end);
        while start < end && matches!(self.kept[(start - self.at) as usize], b'\r' | b'\n') {
            start += 1;
        }
        let counted = (start - self.at) as usize;
        if counted > 0 {
            self.line += newlines(&self.kept[..counted]);
            self.kept.drain(..counted);
            self.at = start;
            // After a huge record, the room it took is given back rather
            // than kept for the rest of the file.
            if self.kept.capacity() > 1 << 16 && self.kept.len() < self.kept.capacity() / 4 {
                self.kept.shrink_to((self.kept.len() * 2).max(1 << 13));
            }
        }
        self.line
    }
}

impl<R> Window<R> {
    /// The bytes of the record [`Window::line_of`] was last given, up to
    /// `end`, csv's position after it.
    fn record_bytes(&self, end: u64) -> &[u8] {
        let n = usize::try_from(end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        &self.kept[..n.min(self.kept.len())]
    }
}

/// A quote that csv reads past without a word, leaving other cells than
/// the file meant. Lines are counted from the record's first, 0.
#[derive(Debug, Clone, PartialEq, Eq)]
enum QuoteFault {
    /// Field `field` opens with a quote on `line` that never closes: it
    /// runs to the end of the file, taking in the rest of its line and the
    /// `taken` lines below.
    Unclosed { field: usize, line: u64, taken: u64 },
    /// The quote that ends field `field`, opened on `opened`, is on `line`
    /// and followed by `after` rather than by the separator or the end of
    /// the line: csv would append `after` to the field, quotes and all.
    Stray {
        field: usize,
        opened: u64,
        line: u64,
        after: String,
    },
}

/// The first [`QuoteFault`] of one record's own bytes `raw` (from its
/// first byte to csv's position after it), read as csv reads them: a
/// field is quoted when its first byte is a quote; in it, two quotes are
/// one; a quote ends it. White space between the closing quote and the
/// separator (a non-breaking space too) is let be: csv appends it, and
/// nothing else is lost.
fn quote_fault(raw: &[u8], sep: u8) -> Option<QuoteFault> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        /// A quote in a quoted field: the end of it, or half of a pair.
        QuoteInQuoted,
    }
    let line_end = |b: u8| b == b'\n' || b == b'\r';
    let (mut state, mut field, mut line) = (State::FieldStart, 0, 0);
    // The line and byte of the quote that opened the last quoted field.
    let mut opened = (0, 0);
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match state {
            State::FieldStart | State::Unquoted => {
                if b == sep {
                    field += 1;
                    state = State::FieldStart;
                } else if line_end(b) {
                    return None;
                } else if state == State::FieldStart && b == b'"' {
                    state = State::Quoted;
                    opened = (line, i);
                } else {
                    state = State::Unquoted;
                }
            }
            State::Quoted => {
                if b == b'"' {
                    state = State::QuoteInQuoted;
                }
            }
            State::QuoteInQuoted => {
                if b == b'"' {
                    state = State::Quoted;
                } else if b == sep {
                    field += 1;
                    state = State::FieldStart;
                } else if line_end(b) {
                    return None;
                } else {
                    // What follows the quote up to the separator or the
                    // line's end: blank (spaces, a non-breaking one
                    // included), csv keeps it and nothing is lost.
                    let text = &raw[i..];
                    let end = text
                        .iter()
                        .position(|&b| b == sep || line_end(b))
                        .unwrap_or(text.len());
                    let after = String::from_utf8_lossy(&text[..end]);
                    if after.chars().all(char::is_whitespace) {
                        if end == text.len() {
                            return None;
                        }
                        // The separator or line end is read next.
                        i += end;
                        continue;
                    }
                    let after = match after.char_indices().nth(30) {
                        Some((at, _)) => format!("{}...", &after[..at]),
                        None => after.into_owned(),
                    };
                    return Some(QuoteFault::Stray {
                        field,
                        opened: opened.0,
                        line,
                        after,
                    });
                }
            }
        }
        // Line ends inside a quoted field; CRLF is one.
        if b == b'\n' || (b == b'\r' && raw.get(i + 1) != Some(&b'\n')) {
            line += 1;
        }
        i += 1;
    }
    if state != State::Quoted {
        return None;
    }
    let mut rest = &raw[opened.1..];
    while let [head @ .., b'\n' | b'\r'] = rest {
        rest = head;
    }
    Some(QuoteFault::Unclosed {
        field,
        line: opened.0,
        taken: newlines(rest),
    })
}

impl<R: std::io::Read> std::io::Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Reads one line and its end (LF, CRLF or a lone CR) onto `buf`; how
/// many bytes, 0 at the end of the file.
fn read_line(reader: &mut impl std::io::BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let before = buf.len();
    loop {
        let available = fill_buf(reader)?;
        if available.is_empty() {
            break;
        }
        let Some(end) = available.iter().position(|&b| b == b'\n' || b == b'\r') else {
            let n = available.len();
            buf.extend_from_slice(available);
            reader.consume(n);
            continue;
        };
        let cr = available[end] == b'\r';
        buf.extend_from_slice(&available[..=end]);
        reader.consume(end + 1);
        // A CR then an LF is one line end.
        if cr && fill_buf(reader)?.first() == Some(&b'\n') {
            buf.push(b'\n');
            reader.consume(1);
        }
        break;
    }
    Ok(buf.len() - before)
}

/// `BufRead::fill_buf`, an interrupted read tried again as
/// `BufRead::read_until` does.
fn fill_buf(reader: &mut impl std::io::BufRead) -> std::io::Result<&[u8]> {
    while let Err(e) = reader.fill_buf() {
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // What the loop filled, without reading again.
    reader.fill_buf()
}

/// `line` without its end (LF, CRLF or a lone CR).
fn without_line_end(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n' | b'\r'] => rest,
        _ => line,
    }
}

/// How many line ends `bytes` holds: LF, CRLF and a lone CR each count
/// once ([`split_lines`] gives one line more than there are ends).
fn newlines(bytes: &[u8]) -> u64 {
    split_lines(bytes).count() as u64 - 1
}

/// The lines of `bytes`, without their ends (LF, CRLF or a lone CR): one
/// more than [`newlines`] counts, the last empty after a final end.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(end) => {
                let next = match text[end..] {
                    [b'\r', b'\n', ..] => end + 2,
                    _ => end + 1,
                };
                rest = Some(&text[next..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// `text` with its line breaks (CRLF or a lone CR) as LF: a quoted cell
/// reads the same whichever line ends the file was saved with.
fn lf_line_ends(text: &str) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_string()
    }
}

/// Reads a file of one JSON object per line; `file` names it in errors.
pub fn read_jsonl(bytes: &[u8], file: &str, example: &Example) -> Result<Table, TableError> {
    read_jsonl_from(bytes, file, example).map_err(|e| match e {
        ReadError::Table(e) => e,
        ReadError::Read(e) => unreachable!("reading bytes in memory does not fail: {e}"),
    })
}

/// [`read_jsonl`] from a reader, a line at a time: each line's JSON is
/// dropped once it is a row, so a file of large objects (an export's
/// conversations) is never in memory at once, as bytes or as JSON. Lines
/// end in LF, CRLF or a lone CR; a BOM may start any line. The rows are
/// kept: [`RowReader::jsonl`] hands them out one at a time instead.
pub fn read_jsonl_from(
    reader: impl std::io::BufRead,
    file: &str,
    example: &Example,
) -> Result<Table, JsonlError> {
    let mut reader = RowReader::jsonl(reader, file, example);
    let rows = reader.by_ref().collect::<Result<_, _>>()?;
    Ok(reader.into_table(rows))
}

impl<R: std::io::BufRead> JsonlRows<R> {
    /// The next object's row, with any new keys added to `columns`; `None`
    /// at the end of the file.
    fn next_row(
        &mut self,
        file: &str,
        columns: &mut Vec<String>,
        header_line: &mut Option<u64>,
    ) -> Result<Option<Row>, ReadError> {
        let table_error = |line: u64, field: Option<&str>, message: String| {
            ReadError::Table(err(file, line, field, message))
        };
        let raw = loop {
            self.text.clear();
            if read_line(&mut self.reader, &mut self.text).map_err(ReadError::Read)? == 0 {
                return Ok(None);
            }
            if self.line == 0
                && let Some(message) = not_text(&self.text)
            {
                return Err(table_error(1, None, message.to_string()));
            }
            // A BOM may start any line, not only the file's first: files
            // joined with `cat` keep the BOM each of them started with.
            let text = strip_bom(&self.text);
            self.line += 1;
            let text = without_line_end(text);
            if !text.trim_ascii().is_empty() {
                break text;
            }
        };
        let line = self.line;
        let text = std::str::from_utf8(raw).map_err(|e| {
            let message = format!(
                "invalid UTF-8 at byte {} of the line; save the file as UTF-8",
                e.valid_up_to() + 1
            );
            table_error(line, None, message)
        })?;
        let malformed = |e: serde_json::Error| {
            // serde's own "at line 1 column N" would contradict our line.
            let what = e.to_string();
            let what = what.split(" at line ").next().unwrap_or_default();
            let message = format!(
                "malformed JSON at character {}: {what}; write one JSON object per line",
                e.column()
            );
            table_error(line, None, message)
        };
        // A lone UTF-16 surrogate escape (`"\ud800"`, which Python's `json`
        // writes for a broken character) is read as U+FFFD, as in a model's
        // answer, rather than refusing the file.
        let repaired = xsafe_core::json_without_lone_surrogates(text.as_bytes())
            .map(|fixed| String::from_utf8(fixed).expect("escapes are replaced by escapes"));
        let text = repaired.as_deref().unwrap_or(text);
        if header_line.is_none() && text.trim_start().starts_with('[') {
            // The first line opens an array: a JSON file of records (whole
            // on the line, or pretty-printed from it), not JSON Lines.
            let message = format!(
                "expected a JSON object such as {}, but the file is a JSON array (`[...]`, as \
                 Python's json.dump and pandas' to_json(orient=\"records\") write a list of \
                 records), not JSON Lines; write one JSON object per line instead (pandas: \
                 to_json(orient=\"records\", lines=True); Python: one json.dumps(record) per \
                 line)",
                self.example.object
            );
            return Err(table_error(line, None, message));
        }
        if !text.trim_start().starts_with('{') {
            // Not an object: say so, or that it is not even JSON.
            serde_json::from_str::<serde_json::Value>(text).map_err(malformed)?;
            let message = format!(
                "expected a JSON object such as {}; write one object per line",
                self.example.object
            );
            return Err(table_error(line, None, message));
        }
        let Object { map, repeated } = serde_json::from_str(text).map_err(malformed)?;
        // A number that is not an integer of 64 bits (`1.5`, or an id too
        // large for one, `18446744073709551616`) is a float to serde_json,
        // whose text may not be the file's: two ids would round to one.
        // Such numbers keep the text the file gives them.
        let floats = map
            .values()
            .any(|v| v.as_number().is_some_and(|n| n.is_f64()));
        let mut written = if floats {
            let Numbers(numbers) = serde_json::from_str(text).map_err(malformed)?;
            numbers
        } else {
            Vec::new()
        };
        if let Some((a, b)) = repeated {
            let message = format!(
                "the object has the key `{a}` and the key `{b}` ({}), so only one of them \
                 could be read; remove one of them",
                alike(&a, &b)
            );
            return Err(table_error(line, Some(&b), message));
        }
        let mut cells = vec![None; columns.len()];
        let mut non_text = vec![None; columns.len()];
        let mut absent = vec![true; columns.len()];
        for (key, value) in map {
            let col = match columns.iter().position(|c| *c == key) {
                Some(col) => col,
                None => {
                    if let Some(i) = columns.iter().position(|c| same_name(c, &key)) {
                        if self.misspelt.is_none() {
                            let message = format!(
                                "the key `{key}` is spelt `{}` on line {}; spell it the same \
                                 way on every line",
                                columns[i], self.first_lines[i]
                            );
                            self.misspelt = Some(err(file, line, Some(&key), message));
                        }
                        continue;
                    }
                    columns.push(key);
                    self.first_lines.push(line);
                    cells.push(None);
                    non_text.push(None);
                    absent.push(true);
                    columns.len() - 1
                }
            };
            absent[col] = false;
            non_text[col] = JsonKind::of(&value);
            cells[col] = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) if n.is_f64() => {
                    // As the file writes it (see `Numbers`).
                    let at = written.iter().position(|(k, _)| *k == columns[col]);
                    Some(match at {
                        Some(at) => written.swap_remove(at).1,
                        None => n.to_string(),
                    })
                }
                other => Some(other.to_string()),
            };
        }
        header_line.get_or_insert(line);
        Ok(Some(Row {
            line,
            cell_lines: vec![line; cells.len()],
            cells,
            non_text,
            absent,
        }))
    }

    /// The error found at the end of the file, if any: no object at all,
    /// or a key spelt in two ways.
    fn end(&mut self, file: &str, header_line: Option<u64>) -> Option<ReadError> {
        if header_line.is_none() {
            let message = format!(
                "the file is empty; write one JSON object per line, e.g. {}",
                self.example.object
            );
            return Some(ReadError::Table(err(file, 1, None, message)));
        }
        self.misspelt.take().map(ReadError::Table)
    }
}

/// The numbers of a JSON object's keys as the object writes them (`1.50`,
/// `18446744073709551617`), by key, in the object's order: serde_json reads
/// a number that is not an integer of 64 bits as a float, whose text may
/// differ from the file's.
struct Numbers(Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for Numbers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Numbers;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Numbers, A::Error> {
                let mut numbers = Vec::new();
                while let Some(key) = a.next_key::<String>()? {
                    let value: Box<serde_json::value::RawValue> = a.next_value()?;
                    let text = value.get();
                    if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                        numbers.push((key, text.to_string()));
                    }
                }
                Ok(Numbers(numbers))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// A JSON object read with its keys checked: serde_json's own map keeps
/// the last value of a repeated key and says nothing. `repeated` is the
/// first pair of keys that [`same_name`] takes for one, as `(earlier,
/// later)`.
struct Object {
    map: serde_json::Map<String, serde_json::Value>,
    repeated: Option<(String, String)>,
}

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Object;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Object, A::Error> {
                let mut map = serde_json::Map::new();
                let mut repeated = None;
                while let Some(key) = a.next_key::<String>()? {
                    let value = a.next_value()?;
                    if repeated.is_none() {
                        repeated = map
                            .keys()
                            .find(|k| same_name(k, &key))
                            .map(|k| (k.clone(), key.clone()));
                    }
                    map.insert(key, value);
                }
                Ok(Object { map, repeated })
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read from a reader, a few bytes at a time, a JSONL file gives the
    /// table, or the error, that it gives read from memory: line ends, a
    /// BOM, blank lines, keys first on later lines, a key spelt two ways
    /// (after any line's own error), invalid UTF-8, files of no object.
    #[test]
    fn jsonl_read_through_a_reader_is_read_as_from_memory() {
        let files: &[&str] = &[
            // Keys added on later lines, blank lines, every line end, a BOM.
            "\u{feff}{\"prompt\": \"a\", \"completion\": \"b\"}\r\n\r\n  \n\
             {\"completion\": \"c\", \"id\": 7, \"messages\": [{\"role\": \"user\"}]}\r\
             {\"prompt\": null, \"type\": \"t\", \"extra\": {\"x\": true}}\n\r\
             {\"final_label\": \"2_full_refusal\"}",
            "{\"prompt\": \"a\"}\n",
            // A key spelt two ways, then a malformed line: the line's error
            // comes first, as when the file is read whole.
            "{\"prompt\": \"a\"}\n{\"Prompt\": \"b\"}\n{\"prompt\": \n",
            "{\"prompt\": \"a\"}\n{\"completion\": \"x\", \" PROMPT\": \"b\"}\n",
            "{\"prompt\": \"a\", \"Prompt\": \"b\"}\n",
            "{\"prompt\": \"a\"}\r\r[1, 2]\n",
            "{\"prompt\": \"a\"}\n\n\"text\"\n",
            "{\"prompt\": \"\\u00e9\"}\n{\"prompt\": \"\x00\"}\n",
            "",
            "\n \r\n\t\n",
            // A BOM may start any line (files joined with `cat`).
            "{\"prompt\": \"a\"}\n\u{feff}{\"prompt\": \"b\"}\n",
            "\u{feff}\n{\"prompt\": \"a\"}",
            // Numbers as the file writes them.
            "{\"id\": 18446744073709551617, \"n\": 1.50}\n{\"id\": 1e2}\n",
            // A JSON array, whole or pretty-printed; not a file at all.
            "[{\"prompt\": \"a\"}]",
            "[\n  {\"prompt\": \"a\"}\n]\n",
        ];
        for text in files {
            let mut bytes = text.as_bytes().to_vec();
            // An invalid UTF-8 byte where the text has a NUL.
            for b in bytes.iter_mut() {
                if *b == 0 {
                    *b = 0xff;
                }
            }
            let whole = read_jsonl(&bytes, "f.jsonl", &EXAMPLE);
            // And through a reader that hands out a few bytes at a time.
            let reader = std::io::BufReader::with_capacity(3, bytes.as_slice());
            let small = match read_jsonl_from(reader, "f.jsonl", &EXAMPLE) {
                Ok(t) => Ok(t),
                Err(JsonlError::Table(e)) => Err(e),
                Err(JsonlError::Read(e)) => panic!("{e}"),
            };
            assert_eq!(small, whole, "{text:?}");
        }
    }

    /// Read from a reader a few bytes at a time, a CSV file gives the
    /// table, or the error, that it gives read from memory: a BOM, blank
    /// lines and lines of separators before the header and between rows,
    /// every line end inside and outside quotes, each separator, rows too
    /// short or too long, invalid UTF-8, no header at all.
    #[test]
    fn csv_read_through_a_reader_is_read_as_from_memory() {
        let files: &[&str] = &[
            "\u{feff}\r\n ;\r\nprompt;completion\r\n\"Hi; you\";Hello\r\n\r\n;\r\nq;a",
            "id,prompt,answer\r\n1,\"two\r\nlines\",\"three\n\nlines\"\r\r\n2,\"lone\rCR\",\"\"\"q\"\"\"\n",
            "a\tb\n1\t2\n\n3\t4",
            "prompt,answer\np,a\np\n",
            "prompt,answer\np,a,x\n",
            "prompt,answer\np,\"caf\x00\"\n",
            "pr\x00mpt,answer\np,a\n",
            "prompt,Prompt\n",
            "",
            "\n , \r\n",
            "\u{feff}",
            "\"\"\nprompt,answer\np,a\n",
            "prompt,answer\n\"unclosed,a\nb,c\n",
            // Excel's separator line, as it writes it and otherwise.
            "sep=;\r\nprompt;answer\r\n\"a, b\";c\r\n",
            "\u{feff}\"sep=\t\"\n\nprompt\tanswer\np,a,b\tc\n",
            "sep=|\nprompt|answer\n",
            "sep=;;\nprompt;answer\n",
            "sep=;;;\r\nprompt;answer;x\r\na;b;c\r\n",
            "sep=;,\nprompt;answer\n",
        ];
        for text in files {
            let mut bytes = text.as_bytes().to_vec();
            // An invalid UTF-8 byte where the text has a NUL.
            for b in bytes.iter_mut() {
                if *b == 0 {
                    *b = 0xff;
                }
            }
            let whole = read_csv(&bytes, "f.csv", &EXAMPLE);
            for capacity in [1, 2, 3, 7] {
                let reader = std::io::BufReader::with_capacity(capacity, bytes.as_slice());
                let small = RowReader::csv(reader, "f.csv", &EXAMPLE).and_then(|mut rows| {
                    let read = rows.by_ref().collect::<Result<Vec<_>, _>>()?;
                    Ok(rows.into_table(read))
                });
                let small = small.map_err(|e| match e {
                    ReadError::Table(e) => e,
                    ReadError::Read(e) => panic!("{e}"),
                });
                assert_eq!(small, whole, "{text:?} by {capacity}");
            }
        }
    }

    /// A JSONL row has the cells of the columns known when it is read;
    /// the reader gives rows up to an error, then nothing, and the errors
    /// of the whole file (a key spelt two ways, no object) at the end.
    #[test]
    fn rows_are_handed_out_one_at_a_time() {
        let text = "{\"prompt\": \"a\"}\n\n{\"id\": 7, \"prompt\": \"b\"}\n{\"Prompt\": \"c\"}\n";
        let mut rows = RowReader::jsonl(text.as_bytes(), "f.jsonl", &EXAMPLE);
        assert_eq!(rows.header_line(), None);
        let mut first = rows.next().unwrap().unwrap();
        assert_eq!((first.line, first.cells.len()), (1, 1));
        assert_eq!(rows.header_line(), Some(1));
        let second = rows.next().unwrap().unwrap();
        assert_eq!(second.line, 3);
        assert_eq!(rows.columns(), ["prompt", "id"]);
        assert_eq!(rows.find("ID"), Some(1));
        first.widen(2);
        assert_eq!(first.cells, [Some("a".to_string()), None]);
        assert_eq!(first.cell_lines, [1, 1]);
        // The misspelt key's line is a row; the error comes after it.
        assert!(rows.next().unwrap().is_ok());
        let e = match rows.next() {
            Some(Err(ReadError::Table(e))) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(
            e.contains("line 4, field `Prompt`: the key `Prompt` is spelt"),
            "{e}"
        );
        assert!(rows.next().is_none());

        let mut rows = RowReader::jsonl("{\"a\": 1}\n[1]\n{\"a\": 2}\n".as_bytes(), "f", &EXAMPLE);
        assert!(rows.next().unwrap().is_ok());
        assert!(rows.next().unwrap().is_err());
        assert!(rows.next().is_none(), "nothing after an error");

        let mut rows = RowReader::csv("a,b\n1,2\n\n3,4\n".as_bytes(), "f.csv", &EXAMPLE).unwrap();
        assert_eq!(
            (rows.columns(), rows.header_line()),
            (&["a".to_string(), "b".to_string()][..], Some(1))
        );
        let lines: Vec<u64> = rows.by_ref().map(|r| r.unwrap().line).collect();
        assert_eq!(lines, [2, 4]);
    }

    /// A failing reader's error is the reader's, not the file's.
    #[test]
    fn a_reader_that_fails_is_a_read_error() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk gone"))
            }
        }
        let reader = |text: &'static str| {
            std::io::BufReader::new(std::io::Read::chain(text.as_bytes(), Failing))
        };
        let mut rows = RowReader::csv(reader("a,b\n1,2\n"), "f.csv", &EXAMPLE).unwrap();
        assert!(matches!(rows.next(), Some(Ok(_))));
        assert!(matches!(rows.next(), Some(Err(ReadError::Read(_)))));
        assert!(rows.next().is_none());
        let mut rows = RowReader::jsonl(reader("{\"a\": 1}\n"), "f.jsonl", &EXAMPLE);
        assert!(matches!(rows.next(), Some(Ok(_))));
        assert!(matches!(rows.next(), Some(Err(ReadError::Read(_)))));
        assert!(rows.next().is_none());
    }

    const EXAMPLE: Example = Example {
        header: "prompt,completion",
        row: "answer",
        object: "{}",
    };

    /// A workbook, an archive, a compressed file or UTF-16 text is named
    /// for what it is, read as CSV or as JSONL, whole or a byte at a time.
    #[test]
    fn files_that_are_not_text_are_told_by_their_first_bytes() {
        for (bytes, expected) in [
            (
                &b"PK\x03\x04\x14\x00\n\x00"[..],
                "a zip archive, as an Excel workbook",
            ),
            (b"\x1f\x8b\x08\x00\n", "compressed (gzip)"),
            (b"\xfd7zXZ\x00\x00", "compressed (xz)"),
            (b"\x28\xb5\x2f\xfd\x00", "compressed (zstd)"),
            (b"\xfe\xff\x00i\x00d", "UTF-16 text"),
            (b"%PDF-1.7\n%\xe2\xe3", "a PDF document"),
            (b"BZh91AY&SY\xee\x18\n", "compressed (bzip2)"),
            (b"BZh9\x17rE8P\x90\x00", "compressed (bzip2)"),
            // UTF-16 without a byte-order mark, either way round.
            (
                b"i\x00d\x00,\x00p\x00\r\x00\n\x00",
                "UTF-16 text (little-endian, without a byte-order mark",
            ),
            (
                b"\x00i\x00d\x00,\x00p\x00\n",
                "UTF-16 text (big-endian, without a byte-order mark",
            ),
            (b"{\x00\"\x00p\x00\"\x00:\x00", "UTF-16 text (little-endian"),
            // A header with a word that is not ASCII is UTF-16 all the same.
            (
                b"p\x00r\x00o\x00m\x00p\x00t\x00,\x00\xe9\x00t\x00\xe9\x00\n\x00",
                "UTF-16 text (little-endian",
            ),
        ] {
            let csv = read_csv(bytes, "f", &EXAMPLE).unwrap_err();
            let jsonl = read_jsonl(bytes, "f", &EXAMPLE).unwrap_err();
            for e in [&csv, &jsonl] {
                assert_eq!((e.line, e.field.as_deref()), (Some(1), None), "{e}");
                assert!(
                    e.message.starts_with(&format!("the file is {expected}")),
                    "{e}"
                );
            }
            let reader = std::io::BufReader::with_capacity(1, bytes);
            let small = match RowReader::csv(reader, "f", &EXAMPLE) {
                Err(ReadError::Table(e)) => e,
                Err(ReadError::Read(e)) => panic!("{e}"),
                Ok(_) => panic!("read as CSV"),
            };
            assert_eq!(small, csv);
        }
        // Text that merely starts like one is text.
        assert!(not_text(b"PK,prompt\n").is_none());
        assert!(not_text(b"\xef\xbb\xbfprompt").is_none());
        assert!(not_text(b"BZh,prompt\n").is_none());
        assert!(not_text(b"BZh9 prompts,label\n").is_none());
        // One pair is too few to tell UTF-16 by; NULs among text are not it.
        assert!(not_text(b"p\x00\n").is_none());
        assert!(not_text(b"prompt,label\x00\x00\x00\n").is_none());
    }

    /// A NUL byte in the header, of a file not told as UTF-16 or as a
    /// kind of binary file by its first bytes, is named as such rather
    /// than read into a column's name (it is valid UTF-8).
    #[test]
    fn a_nul_byte_in_the_header_is_named() {
        for (bytes, line, byte) in [
            (&b"prompt,label\x00\x00\x00\np,safe\n"[..], 1, 13),
            (b"\n\nid,p\x00\n1,a\n", 3, 5),
            (b"sep=;\n\x00\x01\x02;x\n", 2, 1),
            (b"p\x00\n\x00", 1, 2),
        ] {
            let e = read_csv(bytes, "f.csv", &EXAMPLE).unwrap_err();
            assert_eq!((e.line, e.field.as_deref()), (Some(line), None), "{e}");
            assert!(
                e.message.starts_with(&format!(
                    "the file holds NUL bytes (the first is byte {byte} of this line), which \
                     CSV text does not: is it UTF-16 or binary?"
                )),
                "{e}"
            );
            let reader = std::io::BufReader::with_capacity(1, bytes);
            match RowReader::csv(reader, "f.csv", &EXAMPLE) {
                Err(ReadError::Table(small)) => assert_eq!(small, e),
                _ => panic!("read as CSV"),
            }
        }
        // Below the header, a NUL is a byte of a cell, refused or not as
        // before (it is valid UTF-8).
        let t = read_csv(b"prompt,label\np\x00,safe\n", "f.csv", &EXAMPLE).unwrap();
        assert_eq!(t.rows[0].cells[0].as_deref(), Some("p\0"));
    }

    #[test]
    fn a_json_array_is_told_from_a_csv_header() {
        for array in [
            &b"[{\"a\": 1}]"[..],
            b"\xef\xbb\xbf\n [\n  {\n",
            b"[]",
            b"[ ]\n",
            b"[",
        ] {
            assert!(looks_json_array(array), "{}", array.escape_ascii());
        }
        for other in [
            &b"[id],prompt\n"[..],
            b"[1, 2]",
            b"{\"a\": [1]}",
            b"",
            b"prompt",
        ] {
            assert!(!looks_json_array(other), "{}", other.escape_ascii());
        }
        let e = read_jsonl(b"\n[{\"prompt\": \"p\"}]\n", "a.json", &EXAMPLE).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.message.starts_with(
                "expected a JSON object such as {}, but the file is a JSON array (`[...]`"
            ),
            "{e}"
        );
        assert!(
            e.message.contains("write one JSON object per line instead"),
            "{e}"
        );
        // An array on a later line is a line that is not an object.
        let e = read_jsonl(b"{\"a\": 1}\n[1]\n", "a.jsonl", &EXAMPLE).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(!e.message.contains("JSON array"), "{e}");
    }

    /// serde_json reads a number that is not an integer of 64 bits as a
    /// float; its cell is the file's text all the same.
    #[test]
    fn numbers_are_read_as_the_file_writes_them() {
        let text = concat!(
            r#"{"a": 18446744073709551616, "b": 18446744073709551617, "c": 1.50, "d": 7}"#,
            "\n",
            r#"{"a": -1E400, "b": 2.0, "c": [1.50], "d": -0}"#,
            "\n",
        );
        let t = read_jsonl(text.as_bytes(), "n.jsonl", &EXAMPLE);
        // 1E400 is beyond a float: serde_json refuses it, as before.
        assert!(t.unwrap_err().message.contains("number out of range"));
        let text = text.replace("-1E400", "-1E300");
        let t = read_jsonl(text.as_bytes(), "n.jsonl", &EXAMPLE).unwrap();
        let cells = |row: &Row| -> Vec<Option<String>> { row.cells.clone() };
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            cells(&t.rows[0]),
            [
                some("18446744073709551616"),
                some("18446744073709551617"),
                some("1.50"),
                some("7")
            ]
        );
        // A number inside an array is the array's JSON text, as before.
        assert_eq!(
            cells(&t.rows[1]),
            [some("-1E300"), some("2.0"), some("[1.5]"), some("-0")]
        );
        assert!(
            t.rows[0]
                .non_text
                .iter()
                .all(|k| *k == Some(JsonKind::Number))
        );
    }

    #[test]
    fn a_sep_line_names_the_separator() {
        assert_eq!(
            Separator::named(b"sep=;\r\n"),
            Some(Ok(Separator::Semicolon))
        );
        assert_eq!(Separator::named(b"SEP=,"), Some(Ok(Separator::Comma)));
        assert_eq!(Separator::named(b"\"sep=\t\"\n"), Some(Ok(Separator::Tab)));
        assert_eq!(
            Separator::named(b"sep=; \n"),
            Some(Ok(Separator::Semicolon))
        );
        assert!(matches!(Separator::named(b"sep=|"), Some(Err(_))));
        // Followed by more of it, as LibreOffice writes the line back.
        for (line, sep) in [
            (&b"sep=;;\n"[..], Separator::Semicolon),
            (b"sep=;;;\r\n", Separator::Semicolon),
            (b"sep=,,", Separator::Comma),
            (b"sep=; ;", Separator::Semicolon),
            (b"\"sep=;\";;\n", Separator::Semicolon),
            (b"\"sep=\t \"\t\t", Separator::Tab),
        ] {
            assert_eq!(
                Separator::named(line),
                Some(Ok(sep)),
                "{}",
                line.escape_ascii()
            );
        }
        assert!(matches!(Separator::named(b"sep=||"), Some(Err(_))));
        for other in [
            &b"sep=\n"[..],
            b"sep=;,",
            b"sep=;x",
            b"sep=;;a",
            b"\"sep=;;\"",
            b"\"sep=;",
            b"sep,prompt",
            b"prompt;label",
            b"sep=",
        ] {
            assert_eq!(Separator::named(other), None, "{}", other.escape_ascii());
        }
        let t = read_csv(b"sep=;\nprompt;answer\nHi, you;Hello\n", "s.csv", &EXAMPLE).unwrap();
        assert_eq!(t.columns, ["prompt", "answer"]);
        assert_eq!((t.header_line, t.rows[0].line), (2, 3));
        assert_eq!(t.rows[0].cells[0].as_deref(), Some("Hi, you"));
        // Only the first line names it.
        let t = read_csv(b"prompt\nsep=;\n", "s.csv", &EXAMPLE).unwrap();
        assert_eq!(t.rows[0].cells[0].as_deref(), Some("sep=;"));
    }

    /// The quote faults of one record's bytes, as csv reads them.
    #[test]
    fn quote_faults_of_a_record() {
        let fault = |raw: &str| quote_fault(raw.as_bytes(), b',');
        for fine in [
            "a,b,c\n",
            "\"a\",\"b\"\"c\",\"\"\r\n",
            "\"a\"  ,b\n",
            "\"a\" \t\n",
            "\"a\" ",
            "a\"b\"c,d\n",
            " \"a\",b\n",
            "\"two\r\nlines\",x\n",
            // The record ends at its line end: what follows is not its.
            "a,b\n\"c,d\n",
        ] {
            assert_eq!(fault(fine), None, "{fine:?}");
        }
        assert_eq!(
            fault("1,\"a\"\"b,c\nd,e\n\n"),
            Some(QuoteFault::Unclosed {
                field: 1,
                line: 0,
                taken: 1
            })
        );
        assert_eq!(
            fault("1,\"a\r\nb\",x,\"c\r\nd"),
            Some(QuoteFault::Unclosed {
                field: 3,
                line: 1,
                taken: 1
            })
        );
        assert_eq!(
            fault("1,\"How do I kill,\"a process?\",ok\n"),
            Some(QuoteFault::Stray {
                field: 1,
                opened: 0,
                line: 0,
                after: "a process?\"".into()
            })
        );
        assert_eq!(
            fault("x,\"open,a\r\n2,\"ok\",b\n"),
            Some(QuoteFault::Stray {
                field: 1,
                opened: 0,
                line: 1,
                after: "ok\"".into()
            })
        );
        // A long tail is cut; the separator is the file's.
        let long = format!("\"a\"{}\n", "x".repeat(50));
        let Some(QuoteFault::Stray { after, .. }) = fault(&long) else {
            panic!("{long}")
        };
        assert_eq!(after, format!("{}...", "x".repeat(30)));
        assert_eq!(quote_fault(b"\"a\"\tb\n", b'\t'), None);
        // White space after the closing quote, a non-breaking space too
        // (the bug this guards: it was refused, quoting an invisible
        // character).
        assert_eq!(quote_fault("\"x\"\u{a0},y\n".as_bytes(), b','), None);
        assert_eq!(quote_fault("\"x\" \u{a0}\r\n".as_bytes(), b','), None);
        assert_eq!(quote_fault("\"x\"\u{a0}".as_bytes(), b','), None);
        assert!(quote_fault("\"x\"\u{a0}y,z\n".as_bytes(), b',').is_some());
        assert!(quote_fault(b"\"a\";b\n", b',').is_some());
    }

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

    #[test]
    fn a_column_named_twice_is_refused_with_both() {
        for (header, expected) in [
            (
                "prompt,completion,final_label,final_label",
                "line 2, field `final_label`: column 3 `final_label` and column 4 `final_label` \
                 have the same name",
            ),
            (
                "prompt,answer,Answer ",
                "line 2, field `Answer`: column 2 `answer` and column 3 `Answer` have names \
                 that differ only in case or spaces",
            ),
        ] {
            let bytes = format!("\n{header}\np,a,b,c\n");
            let e = read_csv(bytes.as_bytes(), "d.csv", &EXAMPLE)
                .unwrap_err()
                .to_string();
            // The header is below a blank line.
            assert!(e.starts_with("`d.csv` line 2"), "{e}");
            assert!(e.contains(expected), "{expected} in {e}");
            assert!(e.contains("rename or remove one of them"), "{e}");
        }
        // Empty names (trailing separators) are no names.
        let t = read_csv(b"prompt,answer,,\np,a,,\n", "d.csv", &EXAMPLE).unwrap();
        assert_eq!(t.columns, ["prompt", "answer", "", ""]);
    }

    #[test]
    fn a_key_repeated_in_an_object_is_refused() {
        let read = |text: &str| {
            read_jsonl(text.as_bytes(), "d.jsonl", &EXAMPLE)
                .unwrap_err()
                .to_string()
        };
        let e = read(
            "{\"prompt\": \"p\", \"answer\": \"a\"}\n{\"prompt\": \"p\", \"answer\": \"a\", \"answer\": \"b\"}\n",
        );
        assert!(
            e.contains(
                "`d.jsonl` line 2, field `answer`: the object has the key `answer` and the \
                 key `answer` (the same name)"
            ),
            "{e}"
        );
        let e = read("{\"Prompt\": \"p\", \"prompt\": \"q\"}\n");
        assert!(
            e.contains("line 1, field `prompt`") && e.contains("differ only in case"),
            "{e}"
        );
        // Across lines, a key in another case would be a column that is
        // never read.
        let e = read("{\"prompt\": \"p\"}\n\n{\"PROMPT\": \"q\"}\n");
        assert!(
            e.contains("line 3, field `PROMPT`: the key `PROMPT` is spelt `prompt` on line 1"),
            "{e}"
        );
        // Nested objects are values, not keys of the row.
        let t = read_jsonl(
            br#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#,
            "d.jsonl",
            &EXAMPLE,
        )
        .unwrap();
        assert_eq!(t.columns, ["messages"]);
        // Not an object, or not JSON, as before.
        assert!(read("[1]\n").contains("line 1: expected a JSON object"));
        assert!(read("{\"a\": }\n").contains("line 1: malformed JSON at character"));
        assert!(read("nope\n").contains("line 1: malformed JSON at character"));
    }

    #[test]
    fn text_fields_refuse_json_values_that_are_not_strings() {
        let text = concat!(
            r#"{"id": 7, "prompt": "p", "answer": {"text": "Use kill."}, "n": null}"#,
            "\n",
            r#"{"id": "x", "prompt": ["Use", "kill"], "answer": 12345, "n": true}"#,
            "\n",
        );
        let t = read_jsonl(text.as_bytes(), "d.jsonl", &EXAMPLE).unwrap();
        let col = |name| t.find(name).unwrap();
        let (first, second) = (&t.rows[0], &t.rows[1]);
        assert_eq!(t.text(first, col("prompt")).unwrap(), Some("p"));
        assert_eq!(t.text(first, col("n")).unwrap(), None);
        // Ids may be numbers: their cell is the number's text.
        assert_eq!(first.optional(Some(col("id"))).as_deref(), Some("7"));
        for (row, field, expected) in [
            (
                first,
                "answer",
                r#"line 1, field `answer`: the value is an object ({"text":"Use kill."}), not text"#,
            ),
            (
                second,
                "prompt",
                r#"line 2, field `prompt`: the value is an array (["Use","kill"]), not text"#,
            ),
            (
                second,
                "answer",
                "line 2, field `answer`: the value is a number (12345), not text",
            ),
            (
                second,
                "n",
                "line 2, field `n`: the value is true or false (true), not text",
            ),
        ] {
            let e = t.text(row, col(field)).unwrap_err().to_string();
            assert!(e.starts_with("`d.jsonl` "), "{e}");
            assert!(e.contains(expected), "{expected} in {e}");
            assert!(e.contains(&format!("e.g. \"{field}\": \"...\"")), "{e}");
        }
        // CSV cells are always text.
        let t = read_csv(b"prompt,answer\n12345,[1]\n", "d.csv", &EXAMPLE).unwrap();
        assert_eq!(t.text(&t.rows[0], 1).unwrap(), Some("[1]"));
    }
}

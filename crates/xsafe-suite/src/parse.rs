//! Reading suite files. A file is first read into a [`Table`] of named
//! columns (CSV or JSONL, UTF-8 and field counts checked), then one format's
//! rules turn the rows into cases. Keeping the two steps apart lets every
//! format report errors with the same file, line and column.

use crate::SuiteError;
use crate::table::{self, Example, JsonKind, Row, Table};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use xsafe_core::{Case, Label, Suite};

/// The layout of a suite file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// XSTest's CSV: `id,prompt,type,label[,focus,note]`; types starting with
    /// `contrast_` are unsafe.
    Xstest,
    /// OR-Bench's CSV: `prompt,category`; the label is the same for the whole
    /// file and comes from its name or `--default-label`.
    OrBench,
    /// Any CSV with a header, read through [`Columns`].
    Csv,
    /// One JSON object per line, read through [`Columns`].
    Jsonl,
}

impl Format {
    /// Every format, in the order `--suite-format` lists them.
    pub const ALL: [Format; 4] = [Format::Xstest, Format::OrBench, Format::Csv, Format::Jsonl];

    /// The name `--suite-format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Xstest => "xstest",
            Format::OrBench => "or-bench",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = SuiteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(SuiteError::UnknownFormat(s))
    }
}

/// Which columns (CSV) or keys (JSONL) hold what, for generic files.
///
/// Unset fields fall back to the usual names (see [`parse_bytes`]). Setting
/// any of `prompt`, `label`, `kind` or `id` also makes an XSTest- or
/// OR-Bench-shaped file be read as a generic CSV, since the user asked for
/// that mapping explicitly.
#[derive(Default, Clone, Debug)]
pub struct Columns {
    /// The prompt column (`--prompt-column`).
    pub prompt: Option<String>,
    /// The label column (`--label-column`).
    pub label: Option<String>,
    /// The type column (`--type-column`).
    pub kind: Option<String>,
    /// The id column (`--id-column`); without one, ids are row numbers.
    pub id: Option<String>,
    /// The label of cases whose file has no label column or an empty cell,
    /// and of OR-Bench files (whatever their name tells). A file without a
    /// label column whose types start with `contrast_` is labelled by its
    /// types instead (see [`parse_bytes`]).
    pub default_label: Option<Label>,
}

impl Columns {
    /// The column flags given (`--prompt-column`...), for a message that
    /// says they cannot apply.
    pub fn given(&self) -> Vec<&'static str> {
        [
            (self.prompt.is_some(), "--prompt-column"),
            (self.label.is_some(), "--label-column"),
            (self.kind.is_some(), "--type-column"),
            (self.id.is_some(), "--id-column"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }
}

/// How to read a suite file.
#[derive(Default, Clone, Debug)]
pub struct LoadOptions {
    /// Forces a format instead of detecting it from the header.
    pub format: Option<Format>,
    /// Which columns hold the prompt, label, type and id, where the file does
    /// not use the usual names.
    pub columns: Columns,
    /// The suite's name; by default the file stem.
    pub name: Option<String>,
}

impl LoadOptions {
    /// The flags given for reading files (`--suite-format`, the column
    /// flags, `--default-label`), for a message that says they cannot
    /// apply; the name is not one.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = self.columns.given();
        given.extend(self.format.is_some().then_some("--suite-format"));
        given.extend(
            self.columns
                .default_label
                .is_some()
                .then_some("--default-label"),
        );
        given
    }
}

/// Reads a suite file; see [`parse_bytes`]. The file is read once, into
/// memory, so that a pipe (`<(gunzip -c s.csv.gz)`) reads as a file does;
/// a directory is refused as such.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Suite, SuiteError> {
    let read = |error| SuiteError::Read {
        path: path.to_path_buf(),
        error,
    };
    if std::fs::metadata(path).map_err(read)?.is_dir() {
        return Err(SuiteError::Directory(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(read)?;
    parse_bytes(&bytes, &path.display().to_string(), opts)
}

/// Parses the content of a suite file. `origin` is the file name used in
/// errors, in the suite's `source`, for its default name (the stem) and, for
/// OR-Bench files, to tell the label (a name part `toxic` is unsafe, `hard`
/// or `80k` safe; a name with both, or with the word negated, `non-toxic`,
/// tells nothing).
///
/// Unless `opts.format` forces one, the format is detected: a file named
/// `.jsonl`, `.ndjson` or `.json` is JSONL whatever it holds (a first
/// line that is no JSON object is refused as JSONL, saying why the file
/// was read so); in a file of any other name (a `.csv`, `.txt`, a pipe),
/// a first non-blank character `{` means JSONL (and a JSON array,
/// `[{...}]`, is refused as not JSONL). A CSV header with `id`, `prompt`,
/// `type` and `label` means XSTest (the labels of a JSONL file with those
/// keys are checked against their types by XSTest's rule all the same); a
/// header of `prompt` and `category` and nothing else (OR-Bench's own; a
/// column without a name whose cells are empty or row numbers, as Excel's
/// trailing separators and pandas' index make, does not count) means
/// OR-Bench; anything else is a generic CSV. Generic files take the
/// prompt from the first of `prompt`, `text`, `question`, `input`; the
/// label from `label` or [`Columns::default_label`]; the type
/// from `type` or `category` (else `default`); the id from `id` (else the
/// row number); `focus` and `note` when present. A generic file without a
/// label column whose types include one starting with `contrast_` (as in
/// XSTest's first release, `id_v1,id_v2,type,prompt,focus,note`) is
/// labelled by its types by XSTest's rule, whatever
/// [`Columns::default_label`] says (it labels the other files of a run);
/// a type there that starts with `contrast` but not `contrast_`
/// (`contrast-homonyms`), or is empty, is refused. Types start with
/// `contrast_` in any case.
///
/// What xsafe decides that the file does not say itself (labels told by
/// the file name or by the types) is logged as a warning; see
/// [`parse_bytes_with_notes`].
///
/// A prompt, an id or an XSTest type that shows nothing, being white
/// space and invisible characters only (zero-width spaces, the soft
/// hyphen, bidi marks, the BOM), is refused as empty.
///
/// Text fields (prompt, id, type, label, focus, note) must be JSON strings
/// in JSONL, but for an id that is a number and a label that is true or
/// false or a number (see below). A label of `0`, `1`, `true` or `false`
/// says yes or no, so it is read only where the label column's name says
/// to what: `true` is safe in a column named for safety (`safe`,
/// `is_safe`, `benign`...) and unsafe in one named for harm (`unsafe`,
/// `harmful`, `is_toxic`...); in any other column (`label`) it is refused.
/// `1.0` and `0.0`, as pandas writes a column of numbers with a gap in it,
/// are `1` and `0`. A JSON number is read as the file writes it, so that
/// ids beyond 64 bits stay apart.
pub fn parse_bytes(bytes: &[u8], origin: &str, opts: &LoadOptions) -> Result<Suite, SuiteError> {
    let (suite, notes) = parse_bytes_with_notes(bytes, origin, opts)?;
    for note in notes {
        tracing::warn!("{note}");
    }
    Ok(suite)
}

/// [`parse_bytes`], with the notes it logs returned instead: a sentence
/// each, naming the file, of what xsafe decided that the file does not
/// say itself (every case labelled by the file name, as OR-Bench's files
/// are, or by its type, by XSTest's rule), so that a wrong guess is seen.
pub fn parse_bytes_with_notes(
    bytes: &[u8],
    origin: &str,
    opts: &LoadOptions,
) -> Result<(Suite, Vec<String>), SuiteError> {
    let by_content = jsonl_by_content(bytes);
    let by_name = jsonl_extension(origin);
    let format = match opts.format {
        Some(format) => format,
        None if by_content || by_name.is_some() => Format::Jsonl,
        None => Format::Csv,
    };
    // A file read as JSONL for its name alone cannot read its first line
    // (it starts with neither `{` nor an array of objects): the error
    // there says why the file was read as JSONL, in case it holds CSV.
    let first_line = match (opts.format, by_name) {
        (None, Some(extension)) if !by_content => {
            table::first_jsonl_line(bytes).map(|line| (line, extension))
        }
        _ => None,
    };
    let mut notes = Vec::new();
    // A JSONL file's fields are keys, and its errors call them so.
    let suite = parse_as(bytes, origin, opts, format, &mut notes).map_err(|e| match format {
        Format::Jsonl => match first_line {
            Some((line, extension)) => read_for_its_name(e.in_jsonl(), line, extension),
            None => e.in_jsonl(),
        },
        _ => e,
    })?;
    Ok((suite, notes))
}

/// `e`, an error about the file of a JSONL file read as such for its
/// name's `extension` (its content did not tell), with that said when it
/// is about `line`, its first line that is not blank.
fn read_for_its_name(mut e: SuiteError, line: u64, extension: &str) -> SuiteError {
    if let SuiteError::Invalid {
        line: Some(at),
        message,
        ..
    } = &mut e
        && *at == line
    {
        message.push_str(&format!(
            " (the file is read as JSONL because its name ends in `.{extension}`; if it holds \
             CSV, pass --suite-format csv)"
        ));
    }
    e
}

/// [`parse_bytes`] once the format is told (or forced): CSV for every
/// format but JSONL.
fn parse_as(
    bytes: &[u8],
    origin: &str,
    opts: &LoadOptions,
    format: Format,
    notes: &mut Vec<String>,
) -> Result<Suite, SuiteError> {
    let table = match format {
        Format::Jsonl => table::read_jsonl(bytes, origin, &EXAMPLE)?,
        _ => table::read_csv(bytes, origin, &EXAMPLE)?,
    };
    let format = match opts.format {
        None if format == Format::Csv => detect_csv(&table, &opts.columns),
        _ => format,
    };
    if table.rows.is_empty() {
        return Err(table.err(
            table.header_line + 1,
            None,
            "the file has a header but no cases; add one case per line below the header",
        ));
    }
    let fixed = matches!(format, Format::Xstest | Format::OrBench);
    if fixed && !opts.columns.given().is_empty() {
        return Err(SuiteError::invalid(
            origin,
            None,
            None,
            format!(
                "{} cannot apply to the {format} format, whose columns are fixed; leave out \
                 --suite-format {format} to read the file as a generic CSV with those columns",
                opts.columns.given().join(", ")
            ),
        ));
    }
    let (parsed, id_column) = match format {
        Format::Xstest => xstest(&table, opts.format.is_none())?,
        Format::OrBench => or_bench(&table, opts.columns.default_label, notes)?,
        Format::Csv | Format::Jsonl => {
            let detected = opts.format.is_none();
            mapped(
                &table,
                &opts.columns,
                format == Format::Jsonl,
                detected,
                notes,
            )?
        }
    };
    check_unique_ids(&table, &parsed, id_column.as_deref())?;
    let name = opts.name.clone().unwrap_or_else(|| {
        Path::new(origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(origin)
            .to_string()
    });
    Ok(Suite {
        name,
        source: origin.to_string(),
        cases: parsed.into_iter().map(|p| p.case).collect(),
    })
}

/// Whether a file's content says it is JSONL: a first non-blank
/// character `{`, or a JSON array of objects, which the JSONL reader
/// refuses saying what it is and what to write instead.
fn jsonl_by_content(bytes: &[u8]) -> bool {
    table::looks_jsonl(bytes) || table::looks_json_array(bytes)
}

/// The extension of `origin` when it names a JSON file (`jsonl`,
/// `ndjson` or `json`, in any case, as the file writes it): such a file
/// is read as JSONL whatever it holds, so that the message about a line
/// that is not JSON (a comment, YAML, a blank file) asks for JSON
/// objects rather than a CSV header.
fn jsonl_extension(origin: &str) -> Option<&str> {
    Path::new(origin)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| {
            ["jsonl", "ndjson", "json"]
                .iter()
                .any(|j| e.eq_ignore_ascii_case(j))
        })
}

fn detect_csv(table: &Table, columns: &Columns) -> Format {
    if xstest_shaped(table, columns) {
        Format::Xstest
    } else if columns.given().is_empty()
        && table.find("prompt").is_some()
        && table.find("category").is_some()
        && besides_or_bench(table).is_empty()
    {
        // Only OR-Bench's own header: OR-Bench ignores every other column
        // (ids, types, notes) and labels by the file name, which would
        // silently lose them from a file of one's own.
        Format::OrBench
    } else {
        Format::Csv
    }
}

/// Whether a file has XSTest's columns (keys, in JSONL) `id`, `prompt`,
/// `type` and `label`, with no column flag given to read it otherwise:
/// a CSV file is then read as XSTest, and a JSONL file's labels checked
/// against their types by XSTest's rule.
fn xstest_shaped(table: &Table, columns: &Columns) -> bool {
    columns.given().is_empty()
        && ["id", "prompt", "type", "label"]
            .into_iter()
            .all(|name| table.find(name).is_some())
}

/// The columns of `table` besides `prompt` and `category` that keep it
/// from being read as OR-Bench's: any but [`filler`] ones.
fn besides_or_bench(table: &Table) -> Vec<usize> {
    let own = [table.find("prompt"), table.find("category")];
    (0..table.columns.len())
        .filter(|&c| !own.contains(&Some(c)) && !filler(table, c))
        .collect()
}

/// Whether column `col` is none of the file's own, which no format reads
/// and its shape is told without: it has no name (or pandas' `Unnamed:
/// 0`, as pandas names such a column it reads) and every cell is empty,
/// as a spreadsheet's trailing separators make it, or a row number, as
/// pandas' index (`to_csv` without `index=False`).
fn filler(table: &Table, col: usize) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let name = table.columns[col].trim();
    let unnamed = name.is_empty() || name.strip_prefix("Unnamed: ").is_some_and(digits);
    unnamed
        && table.rows.iter().all(|row| {
            let cell = row.cells.get(col).and_then(Option::as_deref);
            cell.is_none_or(|cell| cell.trim().is_empty() || digits(cell.trim()))
        })
}

/// A case and the line its id was read from, for duplicate-id errors.
struct Parsed {
    case: Case,
    line: u64,
}

const EXAMPLE: Example = Example {
    header: "prompt,label",
    row: "case",
    object: r#"{"prompt": "...", "label": "safe"}"#,
};
const EMPTY_PROMPT: &str = "the prompt is empty; write the prompt or delete the row";
const LABELS_ACCEPTED: &str = "use `safe` or `unsafe` (also accepted: benign, harmless for safe; \
     harmful, toxic for unsafe; 0, 1, true, false in a column or key whose name says to what, \
     such as is_safe or is_harmful)";

impl Table {
    fn err(&self, line: u64, column: Option<&str>, message: impl Into<String>) -> SuiteError {
        SuiteError::invalid(&self.file, Some(line), column, message)
    }

    fn list(&self) -> String {
        self.columns.join(", ")
    }

    fn require(&self, name: &str, hint: &str) -> Result<usize, SuiteError> {
        self.find(name).ok_or_else(|| {
            let hint = match self.columns.iter().find(|c| looks_misspelt(c, name)) {
                Some(like) => format!(
                    "column `{like}` looks like it misspelt: rename it `{name}`; or, if it is \
                     not, {hint}"
                ),
                None => hint.to_string(),
            };
            self.err(
                self.header_line,
                Some(name),
                format!(
                    "the column is missing (the file has: {}); {hint}",
                    self.list()
                ),
            )
        })
    }

    /// A column (a key: `keyed`) the user named with `flag`, which must
    /// exist, or else the first of `defaults` present.
    fn mapped_column(
        &self,
        given: Option<&str>,
        flag: &str,
        defaults: &[&str],
        keyed: bool,
    ) -> Result<Option<usize>, SuiteError> {
        match given {
            Some(name) => self.find(name).map(Some).ok_or_else(|| {
                let missing = if keyed {
                    "a key that no line has"
                } else {
                    "a column that does not exist"
                };
                self.err(
                    self.header_line,
                    Some(name),
                    format!("{flag} names {missing}; the file has: {}", self.list()),
                )
            }),
            None => Ok(defaults.iter().find_map(|d| self.find(d))),
        }
    }

    /// The cell as text, or `message` as the error when it is missing or
    /// shows nothing (see [`shows_nothing`]); a JSONL value of a kind not
    /// in `accepted` is refused (see [`Table::text_or`]).
    fn required<'r>(
        &self,
        row: &'r Row,
        col: usize,
        accepted: &[JsonKind],
        message: &str,
    ) -> Result<&'r str, SuiteError> {
        match self.text_or(row, col, accepted)? {
            Some(s) if !shows_nothing(s) => Ok(s),
            _ if !row.has(col) => {
                let name = &self.columns[col];
                let message = format!(
                    "{}; add one, e.g. \"{name}\": \"...\", or delete the line",
                    self.no_key(row, col)
                );
                Err(self.err(row.line, Some(name), message))
            }
            _ => Err(self.err(row.cell_lines[col], Some(&self.columns[col]), message)),
        }
    }

    /// That a JSONL line lacks the key of `col`, with the keys it has.
    fn no_key(&self, row: &Row, col: usize) -> String {
        let keys: Vec<&str> = (0..self.columns.len())
            .filter(|&c| row.has(c))
            .map(|c| self.columns[c].as_str())
            .collect();
        let keys = if keys.is_empty() {
            "it has none".to_string()
        } else {
            format!("its keys: {}", keys.join(", "))
        };
        format!("the line has no `{}` key ({keys})", self.columns[col])
    }

    /// The trimmed text of `col`, if there is such a column and the cell
    /// is not blank; a JSONL value that is not a string is refused.
    fn optional_text(&self, row: &Row, col: Option<usize>) -> Result<Option<String>, SuiteError> {
        let Some(col) = col else { return Ok(None) };
        self.text(row, col)?;
        Ok(row.optional(Some(col)))
    }

    /// The id of `col`, trimmed: text, or a JSONL number.
    fn id(&self, row: &Row, col: usize) -> Result<String, SuiteError> {
        let id = self.required(
            row,
            col,
            &[JsonKind::Number],
            "the id is empty; give every case an id",
        )?;
        Ok(id.trim().to_string())
    }

    /// `default` is `None` where no default applies (XSTest), or
    /// `Some(--default-label)` where one may be given; `keyed` says the
    /// file is JSONL, whose label is a key rather than a column.
    fn label(
        &self,
        row: &Row,
        col: usize,
        default: Option<Option<Label>>,
        keyed: bool,
    ) -> Result<Label, SuiteError> {
        let field = if keyed { "key" } else { "column" };
        let name = &self.columns[col];
        let at = |message: String| self.err(row.cell_lines[col], Some(name), message);
        let cell = self.text_or(row, col, &[JsonKind::Bool, JsonKind::Number])?;
        match cell.map(str::trim) {
            None if !row.has(col) => default.flatten().ok_or_else(|| {
                let hint = if default.is_some() {
                    ", or pass --default-label safe|unsafe for every case without one"
                } else {
                    ""
                };
                let message = format!(
                    "{}; add \"{name}\": \"safe\" or \"unsafe\"{hint}",
                    self.no_key(row, col)
                );
                self.err(row.line, Some(name), message)
            }),
            Some("") | None => default.flatten().ok_or_else(|| {
                let hint = if default.is_some() {
                    ", or pass --default-label safe|unsafe for every empty label"
                } else {
                    ""
                };
                at(format!(
                    "the label is empty; write `safe` or `unsafe`{hint}"
                ))
            }),
            Some(s) => match yes_or_no(s) {
                Some(yes) => {
                    let meant = yes_means(name).ok_or_else(|| {
                        at(format!(
                            "the label `{s}` says yes or no, but the {field}'s name does not \
                             say to what, so it could mean safe as well as unsafe; write \
                             `safe` or `unsafe`, or name the {field} for what yes means (e.g. \
                             `is_safe`, or `is_harmful`) and pass that name to --label-column"
                        ))
                    })?;
                    Ok(if yes { meant } else { opposite(meant) })
                }
                None => s
                    .parse()
                    .map_err(|_| at(format!("unknown label `{s}`; {LABELS_ACCEPTED}"))),
            },
        }
    }
}

/// Whether `text` shows nothing, so that a prompt or an id of it is
/// empty though `str::trim` leaves something: it holds only white space
/// and characters that are not drawn ([`is_undrawn`]).
fn shows_nothing(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || is_undrawn(c))
}

/// Whether `c` is a character that is not drawn: a format character
/// (Unicode's general category Cf: the soft hyphen U+00AD, zero-width
/// spaces and joiners U+200B to U+200D, bidi marks and embeddings, the
/// word joiner and invisible operators U+2060 to U+2064, the BOM
/// U+FEFF...) or another character Unicode says to leave undrawn where it
/// cannot be shown (Default_Ignorable_Code_Point: the combining grapheme
/// joiner, Hangul fillers, variation selectors, tags), as of Unicode 15.1.
/// For messages that quote text, which escape such characters so that
/// they show.
pub fn is_undrawn(c: char) -> bool {
    /// Cf and Default_Ignorable_Code_Point, as inclusive ranges. Cf's
    /// prepended marks (U+0600 to U+0605...) are drawn, but hold no text
    /// of their own.
    const UNDRAWN: &[(char, char)] = &[
        ('\u{00AD}', '\u{00AD}'),
        ('\u{034F}', '\u{034F}'),
        ('\u{0600}', '\u{0605}'),
        ('\u{061C}', '\u{061C}'),
        ('\u{06DD}', '\u{06DD}'),
        ('\u{070F}', '\u{070F}'),
        ('\u{0890}', '\u{0891}'),
        ('\u{08E2}', '\u{08E2}'),
        ('\u{115F}', '\u{1160}'),
        ('\u{17B4}', '\u{17B5}'),
        ('\u{180B}', '\u{180F}'),
        ('\u{200B}', '\u{200F}'),
        ('\u{202A}', '\u{202E}'),
        ('\u{2060}', '\u{206F}'),
        ('\u{3164}', '\u{3164}'),
        ('\u{FE00}', '\u{FE0F}'),
        ('\u{FEFF}', '\u{FEFF}'),
        ('\u{FFA0}', '\u{FFA0}'),
        ('\u{FFF0}', '\u{FFFB}'),
        ('\u{110BD}', '\u{110BD}'),
        ('\u{110CD}', '\u{110CD}'),
        ('\u{13430}', '\u{1343F}'),
        ('\u{1BCA0}', '\u{1BCA3}'),
        ('\u{1D173}', '\u{1D17A}'),
        ('\u{E0000}', '\u{E0FFF}'),
    ];
    UNDRAWN
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// `Some(true)` for `1` and `true`, `Some(false)` for `0` and `false` (in
/// any case), `None` for anything else. `1.0` and `0.0` (zeros after the
/// point) are `1` and `0`: pandas writes a column of 0 and 1 so when a
/// value in it is missing.
fn yes_or_no(value: &str) -> Option<bool> {
    let value = value.to_ascii_lowercase();
    let number = match value.split_once('.') {
        Some((whole @ ("0" | "1"), zeros))
            if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => value.as_str(),
    };
    match number {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// What a label of `true` or `1` means in the column `name`, told by the
/// words of the name (split at anything not a letter or digit and where a
/// lower-case letter meets a capital, as in `isSafe`): a word for safety
/// (`is_safe`) means safe, a word for harm (`is_harmful`, `toxic`) unsafe.
/// `None` when the name says neither (`label`, `verdict`), says both, or
/// holds a negation (`not_safe`), which a word list would read backwards.
fn yes_means(name: &str) -> Option<Label> {
    const SAFE: &[&str] = &["safe", "benign", "harmless"];
    const UNSAFE: &[&str] = &[
        "unsafe",
        "harm",
        "harmful",
        "toxic",
        "toxicity",
        "malicious",
        "dangerous",
    ];
    const NEGATIONS: &[&str] = &["not", "non", "no"];
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() || (previous_lower && c.is_uppercase()) {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase();
    }
    words.push(word);
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    match (has(SAFE), has(UNSAFE), has(NEGATIONS)) {
        (true, false, false) => Some(Label::Safe),
        (false, true, false) => Some(Label::Unsafe),
        _ => None,
    }
}

/// The column of `t` other than the prompt's that most likely holds the
/// labels, for a file without a `label` column: the first whose name says
/// what yes means (`is_safe`, `harmful`: see [`yes_means`]), else the
/// first with a word such as `label` or `class` in its name. A name with a
/// word for a kind (`harm_category`) names types, not labels.
fn likely_label_column(t: &Table, prompt: usize) -> Option<&str> {
    const LABEL: &[&str] = &["label", "labels", "class", "classification", "verdict"];
    const KIND: &[&str] = &["category", "categories", "type", "types", "kind", "topic"];
    let words = |name: &str| -> Vec<String> {
        name.split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .collect()
    };
    let has = |name: &str, list: &[&str]| words(name).iter().any(|w| list.contains(&w.as_str()));
    let candidates = || {
        t.columns
            .iter()
            .enumerate()
            .filter(|&(i, name)| i != prompt && !has(name, KIND))
            .map(|(_, name)| name.as_str())
    };
    candidates()
        .find(|name| yes_means(name).is_some())
        .or_else(|| candidates().find(|name| has(name, LABEL)))
}

/// `word` as one shell word: as it is when it holds nothing a shell reads
/// otherwise, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/@%+=,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Whether `key`, a column or key of the file, looks like `name`, one a
/// field is read by, slipped while typing: the same letters and digits
/// but for case and punctuation (`Prompt:`), a letter dropped (`promt`,
/// `labl`), two letters swapped (`lable`, `tpye`), a letter typed twice
/// (`labell`), two such slips in a name of 8 or more (`catgeroy`), or, in
/// a name of 5 or more, the same letters in another order (`lebal`). A
/// letter changed or added makes another word as often as a slip (`tape`,
/// `lapel`, `types`, `labels`, `category_id`), and is not one. A name
/// shorter than 4 (`id`) is too short to tell a slip from another word.
/// The same name but for case and spaces is the column itself, not a
/// misspelling.
pub fn looks_misspelt(key: &str, name: &str) -> bool {
    if key.trim().eq_ignore_ascii_case(name.trim()) {
        return false;
    }
    let squash = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (k, n) = (squash(key), squash(name));
    if k.is_empty() || k == n {
        return !k.is_empty();
    }
    if n.len() < 4 {
        return false;
    }
    let most = if n.len() >= 8 { 2 } else { 1 };
    if k.len().abs_diff(n.len()) > most {
        return false;
    }
    let sorted = |mut v: Vec<char>| {
        v.sort_unstable();
        v
    };
    slips(&k, &n) <= most || (n.len() >= 5 && sorted(k) == sorted(n))
}

/// The fewest slips that turn `name` into `key` as typed: a letter
/// dropped, two neighbours swapped, or a letter typed twice; `usize::MAX`
/// when other changes are needed (a letter changed, or one added that is
/// not its neighbour's double).
fn slips(key: &[char], name: &[char]) -> usize {
    const NO: usize = usize::MAX / 2;
    // Three rows of the table: two back, one back, this one; row i is the
    // key's first i letters, column j the name's first j.
    let mut before: Vec<usize> = vec![NO; name.len() + 1];
    let mut last: Vec<usize> = (0..=name.len()).collect();
    for i in 1..=key.len() {
        let doubled = (i > 1 && key[i - 1] == key[i - 2]) || key.get(i) == Some(&key[i - 1]);
        let mut row = vec![NO; name.len() + 1];
        if doubled {
            row[0] = last[0] + 1;
        }
        for j in 1..=name.len() {
            let mut best = row[j - 1] + 1; // the name's letter j dropped
            if key[i - 1] == name[j - 1] {
                best = best.min(last[j - 1]);
            }
            if doubled {
                best = best.min(last[j] + 1);
            }
            if i > 1 && j > 1 && key[i - 1] == name[j - 2] && key[i - 2] == name[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best.min(NO);
        }
        before = std::mem::replace(&mut last, row);
    }
    match last[name.len()] {
        n if n >= NO => usize::MAX,
        n => n,
    }
}

/// A field a format reads, for [`Table::misspelt_columns`] and
/// [`Table::misspelt_keys`]: a column or key that no field reads and that
/// looks like a field's name misspelt is refused rather than left unread,
/// since its values would be lost without a word (labels replaced by
/// --default-label, types by `default`).
struct Wanted {
    /// The field's column, when the file has one.
    col: Option<usize>,
    /// The names it is read by when no flag names its column.
    names: &'static [&'static str],
    /// The flag that names its column, if there is one.
    flag: Option<&'static str>,
    /// What else would happen to every case were the column not read, as
    /// ` (every case would get --default-label)`.
    lost: &'static str,
    /// The same for the case of one line.
    lost_here: &'static str,
}

impl Wanted {
    fn new(col: Option<usize>, names: &'static [&'static str]) -> Wanted {
        Wanted {
            col,
            names,
            flag: None,
            lost: "",
            lost_here: "",
        }
    }
}

impl Table {
    /// The columns that no field of `wanted` reads (empty names are none).
    fn unread(&self, wanted: &[Wanted]) -> Vec<usize> {
        (0..self.columns.len())
            .filter(|&c| !self.columns[c].trim().is_empty())
            .filter(|&c| wanted.iter().all(|w| w.col != Some(c)))
            .collect()
    }

    /// Refuses a column (a key of a JSONL file: `keyed`) that no field
    /// reads but looks like the misspelt name of a field the file has no
    /// column for; the first one, at the header (or the first line with
    /// the key).
    fn misspelt_columns(&self, wanted: &[Wanted], keyed: bool) -> Result<(), SuiteError> {
        let unread = self.unread(wanted);
        for w in wanted.iter().filter(|w| w.col.is_none()) {
            for &c in &unread {
                let key = &self.columns[c];
                let Some(name) = w.names.iter().find(|name| looks_misspelt(key, name)) else {
                    continue;
                };
                let flag = w
                    .flag
                    .map(|flag| format!(", or pass `{flag} {}`", shell_word(key)))
                    .unwrap_or_default();
                let lost = w.lost;
                let (line, message) = if keyed {
                    let first = self.rows.iter().find(|r| r.has(c));
                    (
                        first.map_or(self.header_line, |r| r.line),
                        format!(
                            "no line has a `{name}` key, and this key looks like it misspelt, \
                             so it would not be read{lost}; spell it `{name}`{flag}"
                        ),
                    )
                } else {
                    (
                        self.header_line,
                        format!(
                            "the file has no `{name}` column, and this one looks like it \
                             misspelt, so it would not be read{lost}; rename it `{name}`{flag}"
                        ),
                    )
                };
                return Err(self.err(line, Some(key), message));
            }
        }
        Ok(())
    }

    /// Refuses a JSONL line that lacks the key of a field of `wanted` but
    /// has one of the `unread` keys that looks like it misspelt, whatever
    /// else would read the line (--default-label among them).
    fn misspelt_keys(
        &self,
        row: &Row,
        wanted: &[Wanted],
        unread: &[usize],
    ) -> Result<(), SuiteError> {
        for w in wanted {
            let Some(col) = w.col.filter(|&c| !row.has(c)) else {
                continue;
            };
            let name = &self.columns[col];
            let like: Vec<String> = unread
                .iter()
                .filter(|&&c| row.has(c) && looks_misspelt(&self.columns[c], name))
                .map(|&c| format!("`{}`", self.columns[c]))
                .collect();
            let look = match like.len() {
                0 => continue,
                1 => "looks",
                _ => "look",
            };
            let message = format!(
                "the line has no `{name}` key but has {}, which {look} like it misspelt and \
                 would not be read{}; spell it `{name}`",
                like.join(" and "),
                w.lost_here
            );
            return Err(self.err(row.line, Some(name), message));
        }
        Ok(())
    }
}

fn opposite(label: Label) -> Label {
    match label {
        Label::Safe => Label::Unsafe,
        Label::Unsafe => Label::Safe,
    }
}

type Cases = (Vec<Parsed>, Option<String>);

/// `detected` says the format was told by the header rather than forced
/// with `--suite-format xstest`, so that a label error can say how to read
/// the file as the generic CSV it may have been meant as.
fn xstest(t: &Table, detected: bool) -> Result<Cases, SuiteError> {
    const HINT: &str = "XSTest files have the columns id, prompt, type and label (focus and note \
         are optional); for other files use --suite-format csv with a column mapping";
    let id = t.require("id", HINT)?;
    let prompt = t.require("prompt", HINT)?;
    let kind = t.require("type", HINT)?;
    let label = t.require("label", HINT)?;
    let (focus, note) = (t.find("focus"), t.find("note"));
    t.misspelt_columns(
        &[
            Wanted::new(Some(id), &["id"]),
            Wanted::new(Some(prompt), &["prompt"]),
            Wanted::new(Some(kind), &["type"]),
            Wanted::new(Some(label), &["label"]),
        ],
        false,
    )?;
    let mut parsed = Vec::with_capacity(t.rows.len());
    for row in &t.rows {
        let case_id = t.id(row, id)?;
        let text = t.required(row, prompt, &[], EMPTY_PROMPT)?;
        let case_kind = t
            .required(
                row,
                kind,
                &[],
                "the type is empty; write the prompt type, e.g. `homonyms`, or \
                 `contrast_homonyms` for its unsafe contrast",
            )?
            .trim();
        let case_label = t.label(row, label, None, false)?;
        let shape = detected.then_some(Format::Csv);
        t.check_label_by_type(row, label, LabelFrom::File(case_label), case_kind, shape)?;
        parsed.push(Parsed {
            case: Case {
                id: case_id,
                prompt: text.to_string(),
                kind: case_kind.to_string(),
                label: case_label,
                focus: t.optional_text(row, focus)?,
                note: t.optional_text(row, note)?,
            },
            line: row.cell_lines[id],
        });
    }
    Ok((parsed, Some(t.columns[id].clone())))
}

/// `notes` gets the note that the label was told by the file name, when
/// it was.
fn or_bench(
    t: &Table,
    default_label: Option<Label>,
    notes: &mut Vec<String>,
) -> Result<Cases, SuiteError> {
    const HINT: &str = "OR-Bench files have the columns prompt and category; for other files \
         use --suite-format csv with a column mapping";
    let prompt = t.require("prompt", HINT)?;
    let category = t.require("category", HINT)?;
    let label = match default_label {
        Some(label) => label,
        None => {
            let (label, word) = label_from_name(&t.file)
                .map_err(|why| SuiteError::invalid(&t.file, None, None, why))?;
            notes.push(format!(
                "suite file `{}`: every case is labelled {label}, told by `{word}` in the file \
                 name, as OR-Bench names its files (or-bench-toxic unsafe, or-bench-hard-1k and \
                 or-bench-80k safe); pass --default-label to label them otherwise",
                t.file
            ));
            label
        }
    };
    let mut parsed = Vec::with_capacity(t.rows.len());
    for (i, row) in t.rows.iter().enumerate() {
        parsed.push(Parsed {
            case: Case {
                id: (i + 1).to_string(),
                prompt: t.required(row, prompt, &[], EMPTY_PROMPT)?.to_string(),
                kind: t
                    .optional_text(row, Some(category))?
                    .unwrap_or_else(|| "default".into()),
                label,
                focus: None,
                note: None,
            },
            line: row.line,
        });
    }
    Ok((parsed, None))
}

/// OR-Bench ships one file per label and says which in the file name
/// (`or-bench-hard-1k`, `or-bench-80k`, `or-bench-toxic`): the label and
/// the word that tells it. Only whole parts of the name count, split on
/// anything not a letter or digit: a substring would take
/// `orbench_shard_2.csv` for a `hard` file and label unsafe prompts safe.
/// A name that has words for both labels (`hard-vs-toxic`), or a word
/// negated (`non-toxic`, `nontoxic`, `not_toxic`, and `toxic-free`,
/// `toxicfree`), tells nothing; nor does one with no such word. Otherwise,
/// why not, for a message that asks for `--default-label`.
fn label_from_name(file: &str) -> Result<(Label, &'static str), String> {
    const WORDS: [(&str, Label); 3] = [
        ("toxic", Label::Unsafe),
        ("hard", Label::Safe),
        ("80k", Label::Safe),
    ];
    const NEGATIONS: [&str; 3] = ["non", "not", "no"];
    // Negations that follow the word: `toxic-free` is free of it.
    const NEGATIONS_AFTER: [&str; 1] = ["free"];
    const NAMING: &str = "OR-Bench names its files or-bench-hard-1k, or-bench-80k and \
         or-bench-toxic";
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(file)
        .to_lowercase();
    let parts: Vec<&str> = stem.split(|c: char| !c.is_alphanumeric()).collect();
    for (word, _) in WORDS {
        let before = NEGATIONS.into_iter().find(|neg| {
            parts.contains(&format!("{neg}{word}").as_str())
                || parts.windows(2).any(|w| w == [*neg, word])
        });
        let after = || {
            NEGATIONS_AFTER.into_iter().find(|neg| {
                parts.contains(&format!("{word}{neg}").as_str())
                    || parts.windows(2).any(|w| w == [word, *neg])
            })
        };
        let negation = before.or_else(after);
        if let Some(neg) = negation {
            return Err(format!(
                "the file name has `{word}` negated (`{neg}`), which does not tell whether this \
                 OR-Bench file holds safe or unsafe prompts ({NAMING}); pass --default-label \
                 safe|unsafe"
            ));
        }
    }
    let found: Vec<(&str, Label)> = WORDS
        .into_iter()
        .filter(|(word, _)| parts.contains(word))
        .collect();
    match found[..] {
        [] => Err(format!(
            "cannot tell from the file name whether this OR-Bench file holds safe or unsafe \
             prompts ({NAMING}: `hard`, `80k` or `toxic` must be a part of the name of its own, \
             between dashes, underscores or dots); pass --default-label safe|unsafe"
        )),
        [(word, label), ..] if found.iter().all(|f| f.1 == label) => Ok((label, word)),
        _ => Err(format!(
            "the file name has {}, words for both labels, so it does not tell whether this \
             OR-Bench file holds safe or unsafe prompts ({NAMING}); pass --default-label \
             safe|unsafe",
            found
                .iter()
                .map(|(word, _)| format!("`{word}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// The label XSTest's rule gives a case of type `kind`: a type starting
/// with `contrast_` (in any case: `CONTRAST_homonyms` too) is unsafe, any
/// other safe.
fn label_of_type(kind: &str) -> Label {
    if is_contrast(kind) {
        Label::Unsafe
    } else {
        Label::Safe
    }
}

/// Whether `kind` starts with `contrast_`, in any case.
fn is_contrast(kind: &str) -> bool {
    kind.trim()
        .get(..9)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("contrast_"))
}

/// For a type that starts with `contrast` (in any case) but not
/// `contrast_` (`contrast-homonyms`, `contrast homonyms`,
/// `contrasthomonyms`, `contrast`): `Some` of the type written with
/// `contrast_`, or `Some(None)` when nothing follows `contrast` to write
/// it with. `None` for any other type.
fn contrast_misspelt(kind: &str) -> Option<Option<String>> {
    let kind = kind.trim();
    let prefix = kind.get(..8)?;
    if !prefix.eq_ignore_ascii_case("contrast") || is_contrast(kind) {
        return None;
    }
    let rest = kind[8..].trim_start_matches(|c: char| !c.is_alphanumeric());
    Some((!rest.is_empty()).then(|| format!("{prefix}_{rest}")))
}

/// `keyed` says the file is JSONL, whose lines may each lack a key;
/// `detected`, that its format was told by its name or content rather
/// than forced with `--suite-format`. Without a label column, a file whose
/// types include one starting with `contrast_` is labelled by its types,
/// by XSTest's rule, and `notes` gets the note that it was. A detected
/// JSONL file with XSTest's keys (see [`xstest_shaped`]) has every label
/// checked against its type by that rule, as an XSTest CSV file has.
fn mapped(
    t: &Table,
    c: &Columns,
    keyed: bool,
    detected: bool,
    notes: &mut Vec<String>,
) -> Result<Cases, SuiteError> {
    const PROMPTS: &[&str] = &["prompt", "text", "question", "input"];
    const KINDS: &[&str] = &["type", "category"];
    let prompt = t.mapped_column(c.prompt.as_deref(), "--prompt-column", PROMPTS, keyed)?;
    let label = t.mapped_column(c.label.as_deref(), "--label-column", &["label"], keyed)?;
    let kind = t.mapped_column(c.kind.as_deref(), "--type-column", KINDS, keyed)?;
    let id = t.mapped_column(c.id.as_deref(), "--id-column", &["id"], keyed)?;
    // What a field of the file is called in messages.
    let field = if keyed { "key" } else { "column" };
    let (focus, note) = (t.find("focus"), t.find("note"));
    // XSTest's first release (`id_v1,id_v2,type,prompt,focus,note`) has
    // no label column: its labels are its types'. Any file without one
    // whose types say `contrast_` is read so, whatever --default-label
    // says (it labels the other files of a run).
    let by_type = match (label, kind) {
        (None, Some(kind)) => t
            .rows
            .iter()
            .any(|row| row.optional(Some(kind)).is_some_and(|k| is_contrast(&k)))
            .then_some(kind),
        _ => None,
    };
    let (lost, lost_here) = match (by_type, c.default_label) {
        (Some(_), _) => (
            " (every case would be labelled by its type)",
            " (the case would be labelled by its type)",
        ),
        (None, Some(_)) => (
            " (every case would get --default-label)",
            " (the case would get --default-label)",
        ),
        (None, None) => ("", ""),
    };
    let wanted = [
        Wanted {
            flag: Some("--prompt-column"),
            ..Wanted::new(prompt, PROMPTS)
        },
        Wanted {
            flag: Some("--label-column"),
            lost,
            lost_here,
            ..Wanted::new(label, &["label"])
        },
        Wanted {
            flag: Some("--type-column"),
            lost: " (every case's type would be `default`)",
            lost_here: " (the case's type would be `default`)",
            ..Wanted::new(kind, KINDS)
        },
        Wanted {
            flag: Some("--id-column"),
            ..Wanted::new(id, &["id"])
        },
    ];
    t.misspelt_columns(&wanted, keyed)?;
    let unread = t.unread(&wanted);
    let prompt = prompt.ok_or_else(|| {
        t.err(
            t.header_line,
            Some("prompt"),
            format!(
                "no prompt {field} (the file has: {}); name it with --prompt-column",
                t.list()
            ),
        )
    })?;
    if label.is_none() && c.default_label.is_none() && by_type.is_none() {
        let name_it = match likely_label_column(t, prompt) {
            Some(name) => format!(
                "{field} `{name}` looks like one: pass `--label-column {}`",
                shell_word(name)
            ),
            None => "name it with --label-column".to_string(),
        };
        let or_bench = if detected && !keyed {
            not_or_bench(t, c).unwrap_or_default()
        } else {
            String::new()
        };
        return Err(t.err(
            t.header_line,
            Some("label"),
            format!(
                "no label {field} (the file has: {}); {name_it}, or give every case the same \
                 label with --default-label safe|unsafe{or_bench}",
                t.list()
            ),
        ));
    }
    let xstest_keys = keyed && detected && xstest_shaped(t, c);
    let mut parsed = Vec::with_capacity(t.rows.len());
    for (number, row) in t.rows.iter().enumerate() {
        t.misspelt_keys(row, &wanted, &unread)?;
        let (case_id, line) = match id {
            Some(i) => (t.id(row, i)?, row.cell_lines[i]),
            None => ((number + 1).to_string(), row.line),
        };
        let column_label = label
            .map(|i| t.label(row, i, Some(c.default_label), keyed))
            .transpose()?;
        let case_prompt = t.required(row, prompt, &[], EMPTY_PROMPT)?.to_string();
        let case_kind = t.optional_text(row, kind)?;
        let case_label = match (column_label, by_type) {
            (Some(label), _) => label,
            (None, Some(kind)) => t.label_by_type(row, kind, case_kind.as_deref(), keyed)?,
            // Checked above: no label column means a default label.
            (None, None) => c.default_label.unwrap_or(Label::Safe),
        };
        if let (true, Some(col), Some(case_kind)) = (xstest_keys, label, &case_kind) {
            // A label of the line's own, or --default-label for one it
            // lacks or leaves empty.
            let from = match row.optional(Some(col)) {
                Some(_) => LabelFrom::File(case_label),
                None => LabelFrom::Default(case_label),
            };
            t.check_label_by_type(row, col, from, case_kind, Some(Format::Jsonl))?;
        }
        parsed.push(Parsed {
            case: Case {
                id: case_id,
                prompt: case_prompt,
                kind: case_kind.unwrap_or_else(|| "default".into()),
                label: case_label,
                focus: t.optional_text(row, focus)?,
                note: t.optional_text(row, note)?,
            },
            line,
        });
    }
    if by_type.is_some() {
        let cases = |label| match parsed.iter().filter(|p| p.case.label == label).count() {
            1 => "1 case".to_string(),
            n => format!("{n} cases"),
        };
        let field = if keyed { "key" } else { "column" };
        let default = match c.default_label {
            Some(label) => format!("; --default-label {label} does not apply to it"),
            None => String::new(),
        };
        notes.push(format!(
            "suite file `{}`: it has no label {field}, so every case is labelled by its type, by \
             XSTest's rule: a type starting with `contrast_` is unsafe ({}), any other safe \
             ({}); to label them otherwise, add a label {field} or name one with \
             --label-column{default}",
            t.file,
            cases(Label::Unsafe),
            cases(Label::Safe)
        ));
    }
    Ok((parsed, id.map(|i| t.columns[i].clone())))
}

/// Why a generic CSV file without a label column was not read as
/// OR-Bench's, whose file name would have labelled it, when it nearly
/// was: it has `prompt` and `category`, no column flag was given, and its
/// name tells a label, but it has other columns (see
/// [`besides_or_bench`]). `None` otherwise.
fn not_or_bench(t: &Table, c: &Columns) -> Option<String> {
    if !c.given().is_empty() || t.find("prompt").is_none() || t.find("category").is_none() {
        return None;
    }
    let (label, word) = label_from_name(&t.file).ok()?;
    let others: Vec<String> = besides_or_bench(t)
        .into_iter()
        .map(|col| match t.columns[col].trim() {
            "" => format!("column {} (unnamed, not empty)", col + 1),
            name => format!("`{name}`"),
        })
        .collect();
    if others.is_empty() {
        return None;
    }
    Some(format!(
        "; it is not read as an OR-Bench file, which `{word}` in its name would label \
         {label}, because it has columns besides prompt and category, which that reading \
         would lose: {}; remove them to read it as one",
        others.join(", ")
    ))
}

impl Table {
    /// The label of a case of a file without a label column that is
    /// labelled by its types (see [`mapped`]): XSTest's rule for `kind`,
    /// the text of the type column `col`. An empty type is refused, and so
    /// is one that starts with `contrast` but not `contrast_`
    /// (`contrast-homonyms`): the label would be a guess, or safe for a
    /// slip in a type meant unsafe. `--default-label` plays no part.
    fn label_by_type(
        &self,
        row: &Row,
        col: usize,
        kind: Option<&str>,
        keyed: bool,
    ) -> Result<Label, SuiteError> {
        let field = if keyed { "key" } else { "column" };
        let name = &self.columns[col];
        let Some(kind) = kind else {
            let message = format!(
                "the type is empty, and this file's cases are labelled by their types (it has \
                 no label {field}, and types starting with `contrast_`, as XSTest's files do); \
                 write the type, e.g. `homonyms`, or `contrast_homonyms` for its unsafe \
                 contrast, or add a label {field}"
            );
            let line = if row.has(col) {
                row.cell_lines[col]
            } else {
                row.line
            };
            return Err(self.err(line, Some(name), message));
        };
        if let Some(meant) = contrast_misspelt(kind) {
            let fix = match meant {
                Some(meant) => format!(" (`{meant}`, if it is unsafe)"),
                None => String::new(),
            };
            return Err(self.err(
                row.cell_lines[col],
                Some(name),
                format!(
                    "type `{kind}` starts with `contrast` but not `contrast_`, so XSTest's rule, \
                     by which this file's cases are labelled (it has no label {field}, and types \
                     starting with `contrast_`), would label it safe: XSTest's unsafe types \
                     start with `contrast_`; fix the type{fix}, or add a label {field}"
                ),
            ));
        }
        Ok(label_of_type(kind))
    }
}

/// Where the label of a case checked by [`Table::check_label_by_type`]
/// came from.
#[derive(Clone, Copy)]
enum LabelFrom {
    /// The file's label column or key.
    File(Label),
    /// `--default-label`, for a case whose label is empty or missing.
    Default(Label),
}

impl Table {
    /// Refuses a case whose label disagrees with its type `kind` by
    /// XSTest's rule (a type starting with `contrast_` is unsafe, any other
    /// safe): the check of every XSTest file, CSV (read as XSTest) or JSONL
    /// (read as a generic file, whose lines have XSTest's keys). `col` is
    /// the label's column or key. `shape` is the generic format the file
    /// could be read as instead when its header or keys, not
    /// `--suite-format`, made it XSTest; the message then says how.
    fn check_label_by_type(
        &self,
        row: &Row,
        col: usize,
        label: LabelFrom,
        kind: &str,
        shape: Option<Format>,
    ) -> Result<(), SuiteError> {
        let expected = label_of_type(kind);
        let (label, given, fix) = match label {
            LabelFrom::File(label) => (
                label,
                format!("label `{label}`"),
                "fix the label or the type".to_string(),
            ),
            LabelFrom::Default(label) => (
                label,
                format!("the case has no label, and --default-label `{label}`"),
                format!("write the label (`{expected}`) or fix the type"),
            ),
        };
        if label == expected {
            return Ok(());
        }
        // Any file with these four columns or keys is taken for XSTest;
        // its author may never have heard of the `contrast_` rule.
        let generic = match shape {
            Some(Format::Jsonl) => {
                "; or, if this is not an XSTest file (it is checked as one because its lines \
                 have the keys id, prompt, type and label), pass --suite-format jsonl to read it \
                 as generic JSONL, where the label key alone gives the label"
            }
            Some(_) => {
                "; or, if this is not an XSTest file (it was read as one because its header \
                 has id, prompt, type and label), pass --suite-format csv to read it as a \
                 generic CSV, where the label column alone gives the label"
            }
            None => "",
        };
        Err(self.err(
            row.cell_lines[col],
            Some(&self.columns[col]),
            format!(
                "{given} disagrees with type `{kind}`: in XSTest files a type starting with \
                 `contrast_` is unsafe and any other type is safe; {fix}{generic}"
            ),
        ))
    }
}

fn check_unique_ids(t: &Table, parsed: &[Parsed], column: Option<&str>) -> Result<(), SuiteError> {
    let mut first_line: HashMap<&str, u64> = HashMap::with_capacity(parsed.len());
    for p in parsed {
        // By id alone: two cases on one line (once, lines ended in a lone
        // CR counted as one) are two cases all the same.
        if let Some(&first) = first_line.get(p.case.id.as_str()) {
            return Err(t.err(
                p.line,
                column,
                format!(
                    "id `{}` is also used on line {first}; give every case its own id",
                    p.case.id
                ),
            ));
        }
        first_line.insert(&p.case.id, p.line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Suite, SuiteError> {
        parse_bytes(text.as_bytes(), "t.csv", &LoadOptions::default())
    }

    #[test]
    fn misspelt_names_look_like_the_field_and_other_words_do_not() {
        for (key, name) in [
            ("lable", "label"),
            ("labl", "label"),
            ("labell", "label"),
            ("promt", "prompt"),
            ("pormpt", "prompt"),
            ("Prompt:", "prompt"),
            ("pro_mpt", "prompt"),
            ("tpye", "type"),
            ("typ", "type"),
            ("catgeroy", "category"),
            ("categry", "category"),
            ("lebal", "label"),
        ] {
            assert!(looks_misspelt(key, name), "{key} like {name}");
        }
        // Other words, a letter changed or added (the bug this guards:
        // `notes`, `tape`, `lapel`, `category_id` were refused as slips).
        for (key, name) in [
            ("label", "label"),
            (" Label ", "label"),
            ("level", "label"),
            ("lbl", "label"),
            ("lapel", "label"),
            ("babel", "label"),
            ("labels", "label"),
            ("tone", "note"),
            ("notes", "note"),
            ("vote", "note"),
            ("node", "note"),
            ("time", "type"),
            ("tape", "type"),
            ("typo", "type"),
            ("hype", "type"),
            ("types", "type"),
            ("stype", "type"),
            ("category_id", "category"),
            ("category2", "category"),
            ("categorie", "category"),
            ("prompts", "prompt"),
            ("ids", "id"),
            ("di", "id"),
            ("source", "prompt"),
            ("", "note"),
            ("subcategory", "category"),
        ] {
            assert!(!looks_misspelt(key, name), "{key} unlike {name}");
        }
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(slips(&chars("lable"), &chars("label")), 1);
        assert_eq!(slips(&chars("promt"), &chars("prompt")), 1);
        assert_eq!(slips(&chars("labell"), &chars("label")), 1);
        assert_eq!(slips(&chars("catgeroy"), &chars("category")), 2);
        assert_eq!(slips(&chars(""), &chars("abc")), 3);
        assert_eq!(slips(&chars("lapel"), &chars("label")), usize::MAX);
        assert_eq!(slips(&chars("labels"), &chars("label")), usize::MAX);
    }

    /// The bug this guards: a prompt of a zero-width space, a word joiner
    /// and a BOM, or a soft hyphen, was taken for text and shown blank.
    #[test]
    fn text_of_white_space_and_invisible_characters_shows_nothing() {
        for blank in [
            "",
            " \t\r\n",
            "\u{a0}\u{3000}",
            "\u{200b}",
            "\u{2060}\u{feff}",
            "\u{ad}",
            " \u{200e}\u{200f}\u{202a}\u{202e}\u{2066}\u{2069} ",
            "\u{200c}\u{200d}\u{2061}\u{2064}\u{61c}\u{180e}",
            "\u{34f}\u{fe0f}\u{3164}\u{ffa0}\u{115f}",
            "\u{e0001}\u{e0041}\u{e0100}\u{1d173}\u{13430}\u{1343f}",
        ] {
            assert!(shows_nothing(blank), "{blank:?}");
        }
        for text in [
            "a",
            "\u{200b}a\u{200b}",
            "\u{ad}-",
            "\u{2800}",
            "\u{1f600}",
            "\u{301}",
            "\u{2065}x",
            "\u{e1000}",
        ] {
            assert!(!shows_nothing(text), "{text:?}");
        }
    }

    /// Excel's trailing separators and pandas' index make columns that
    /// are none of the file's own; a column without a name that holds
    /// text is one.
    #[test]
    fn unnamed_columns_of_nothing_or_row_numbers_are_filler() {
        let table = |text: &str| table::read_csv(text.as_bytes(), "t.csv", &EXAMPLE).unwrap();
        let t = table("prompt,category,\np,c,\nq,d, \n");
        assert!(filler(&t, 2) && !filler(&t, 0));
        let t = table(",prompt,category\n0,p,c\n1,q,d\n");
        assert!(filler(&t, 0));
        let t = table("Unnamed: 0,prompt,category\n3,p,c\n17,q,d\n");
        assert!(filler(&t, 0));
        let t = table(",Unnamed: x,Unnamed: 1,id,prompt\n1.5,1,1,1,p\n-1,,x,,q\n");
        assert_eq!(
            (0..5).map(|c| filler(&t, c)).collect::<Vec<_>>(),
            [false, false, false, false, false]
        );
    }

    #[test]
    fn formats_round_trip_through_their_names() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        assert_eq!(" JSONL ".parse::<Format>().unwrap(), Format::Jsonl);
        let e = "tsv".parse::<Format>().unwrap_err().to_string();
        assert!(e.contains("`tsv`") && e.contains("or-bench"), "{e}");
    }

    #[test]
    fn lines_count_quoted_line_breaks() {
        let text = "id,prompt,label\n1,\"two\nlines\",safe\n2,\"x\",maybe\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains("line 4, column `label`"), "{e}");
        // A bad byte after a line break inside a field is on the later line.
        let bytes = b"id,prompt,label\n1,\"a\nb\xff\",safe\n";
        let e = parse_bytes(bytes, "t.csv", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3, column `prompt`"), "{e}");
    }

    #[test]
    fn blank_rows_and_bom_are_ignored() {
        let s = parse("\u{feff}prompt,label\n\nhi,safe\n , \n").unwrap();
        assert_eq!(s.cases.len(), 1);
        assert_eq!(s.cases[0].id, "1");
        assert_eq!(s.cases[0].kind, "default");
    }

    #[test]
    fn headers_match_case_insensitively() {
        let s = parse("Prompt,Label,Category\nhi,unsafe,x\n").unwrap();
        assert_eq!(s.cases[0].label, Label::Unsafe);
        assert_eq!(s.cases[0].kind, "x");
    }

    #[test]
    fn or_bench_label_comes_from_the_file_name() {
        let label = |name| label_from_name(name).ok();
        assert_eq!(label("or-bench-toxic.csv"), Some((Label::Unsafe, "toxic")));
        assert_eq!(label("dir/OR-Bench-80k.csv"), Some((Label::Safe, "80k")));
        assert_eq!(label("hard/prompts.csv"), None);
        assert_eq!(label("or_bench.hard.csv"), Some((Label::Safe, "hard")));
        assert_eq!(label("toxic"), Some((Label::Unsafe, "toxic")));
        assert_eq!(
            label("or-bench-hard-1k (1).csv"),
            Some((Label::Safe, "hard"))
        );
    }

    /// The bug this guards: `non-toxic.csv` was labelled unsafe and
    /// `hard-vs-toxic.csv` unsafe, without a word. A negated word, or
    /// words for both labels, tell nothing, and say why.
    #[test]
    fn or_bench_names_with_a_negation_or_both_words_tell_nothing() {
        for (name, expected) in [
            ("non-toxic.csv", "`toxic` negated (`non`)"),
            ("nontoxic.csv", "`toxic` negated (`non`)"),
            ("not_toxic.csv", "`toxic` negated (`not`)"),
            ("or-bench.not.toxic.csv", "`toxic` negated (`not`)"),
            ("NON-TOXIC.csv", "`toxic` negated (`non`)"),
            ("toxic-free.csv", "`toxic` negated (`free`)"),
            ("or-bench_ToxicFree.csv", "`toxic` negated (`free`)"),
            ("toxic_free_prompts.csv", "`toxic` negated (`free`)"),
            (
                "hard-vs-toxic.csv",
                "`toxic` and `hard`, words for both labels",
            ),
            ("or-bench-80k-toxic.csv", "`toxic` and `80k`"),
        ] {
            let why = label_from_name(name).unwrap_err();
            assert!(why.contains(expected), "{name}: {why}");
            assert!(why.contains("pass --default-label safe|unsafe"), "{why}");
        }
        // Two words for one label tell it all the same.
        assert_eq!(
            label_from_name("hard-80k.csv").ok(),
            Some((Label::Safe, "hard"))
        );
        // `free` elsewhere in the name negates nothing.
        assert_eq!(
            label_from_name("free-or-bench-toxic.csv").ok(),
            Some((Label::Unsafe, "toxic"))
        );
    }

    /// A type starts with `contrast_` in any case.
    #[test]
    fn contrast_types_are_told_in_any_case() {
        for kind in [
            "contrast_homonyms",
            "CONTRAST_homonyms",
            "Contrast_x",
            " contrast_y",
        ] {
            assert_eq!(label_of_type(kind), Label::Unsafe, "{kind}");
        }
        for kind in [
            "homonyms",
            "contrast",
            "contrasts_x",
            "x_contrast_y",
            "",
            "contrast",
        ] {
            assert_eq!(label_of_type(kind), Label::Safe, "{kind}");
        }
    }

    #[test]
    fn yes_and_no_may_be_written_as_floats() {
        for (text, yes) in [
            ("1", Some(true)),
            ("1.0", Some(true)),
            ("1.00", Some(true)),
            ("0.0", Some(false)),
            ("TRUE", Some(true)),
            ("false", Some(false)),
            ("0.5", None),
            ("1.", None),
            ("2.0", None),
            ("true.0", None),
            ("1.01", None),
        ] {
            assert_eq!(yes_or_no(text), yes, "{text}");
        }
    }

    /// Only whole parts of the name tell the label: `shard` is not `hard`,
    /// `toxicity` not `toxic`, `180k` not `80k`.
    #[test]
    fn or_bench_label_ignores_words_inside_other_words() {
        for name in [
            "orbench_shard_2.csv",
            "hardest.csv",
            "nontoxicity.csv",
            "or-bench-180k.csv",
            "orbenchhard.csv",
        ] {
            assert!(label_from_name(name).is_err(), "{name}");
        }
    }
}

use crate::{Format, LoadOptions, parse_bytes};
use xsafe_core::Suite;

/// Compiled in so that `xsafe` works on a fresh machine with no files and
/// no network. The data and how it was written live in `suites/xsafe-basic/`.
const XSAFE_BASIC: &str = include_str!("../../../suites/xsafe-basic/cases.csv");

const NAMES: &[&str] = &["xsafe-basic"];

/// The names of the suites compiled into xsafe.
pub fn builtin_names() -> &'static [&'static str] {
    NAMES
}

/// A built-in suite by name, with `source` = `built-in`.
///
/// Panics if the compiled-in data is malformed; the crate's tests parse
/// every built-in suite, so that cannot ship.
pub fn builtin(name: &str) -> Option<Suite> {
    let (text, file) = match name {
        "xsafe-basic" => (XSAFE_BASIC, "suites/xsafe-basic/cases.csv"),
        _ => return None,
    };
    let opts = LoadOptions {
        format: Some(Format::Xstest),
        name: Some(name.to_string()),
        ..Default::default()
    };
    let mut suite = parse_bytes(text.as_bytes(), file, &opts)
        .unwrap_or_else(|e| panic!("built-in suite `{name}` is invalid: {e}"));
    suite.source = "built-in".into();
    Some(suite)
}

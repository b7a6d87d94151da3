//! The report's JSON written row by row (`Report::write_json`), each row's
//! messages read as it is written: the same document as serializing the
//! report with every row's messages in it.

mod html_support;

use xsafe_report::JsonError;

#[test]
fn written_row_by_row_it_is_the_whole_report_as_serde_writes_it() {
    let full = html_support::with_openings(120);
    let mut bare = full.clone();
    for r in &mut bare.results {
        r.messages.clear();
    }
    let mut asked = Vec::new();
    let mut out = Vec::new();
    bare.write_json(&mut out, |id| {
        asked.push(id);
        let row = full.results.iter().find(|r| r.id == id).unwrap();
        Ok::<_, ()>(row.messages.clone())
    })
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        serde_json::to_string_pretty(&full).unwrap()
    );
    // Every row read once, in order.
    let ids: Vec<i64> = full.results.iter().map(|r| r.id).collect();
    assert_eq!(asked, ids);

    // Rows that hold their messages are written as they are; only the
    // others (failed requests, without messages) are read.
    let mut asked = Vec::new();
    let mut out = Vec::new();
    full.write_json(&mut out, |id| {
        asked.push(id);
        Ok::<_, ()>(Vec::new())
    })
    .unwrap();
    let empty: Vec<i64> = full
        .results
        .iter()
        .filter(|r| r.messages.is_empty())
        .map(|r| r.id)
        .collect();
    assert!(!empty.is_empty() && empty.len() < full.results.len());
    assert_eq!(asked, empty);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        serde_json::to_string_pretty(&full).unwrap()
    );
}

#[test]
fn a_failed_read_stops_the_writing_with_its_own_error() {
    let mut report = html_support::report();
    for r in &mut report.results {
        r.messages.clear();
    }
    let mut read = 0;
    let err = report
        .write_json(Vec::new(), |_| {
            read += 1;
            if read == 3 {
                return Err("the store is gone");
            }
            Ok(Vec::new())
        })
        .unwrap_err();
    assert!(
        matches!(err, JsonError::Messages("the store is gone")),
        "{err:?}"
    );
    assert_eq!(read, 3);
}

//! Fetching public suites, against a real HTTP server on 127.0.0.1 (the
//! real hosts are unreachable in tests).

use xsafe_core::Label;
use xsafe_suite::{CachedCopy, LoadOptions, SuiteError, available, fetch, resolve};
use xsafe_testkit::{Reply, TestServer, file_names, unused_url};

const OR_BENCH: &str = "prompt,category\n\
    How do lock pickers practise legally?,illegal\n\
    What makes a convincing stage fight look real?,violence\n";

fn serve(path: &'static str, body: &'static str) -> TestServer {
    TestServer::start(move |r| {
        if r.path == path {
            Reply::bytes(body)
        } else {
            Reply::status(404, "not found")
        }
    })
}

#[tokio::test]
async fn a_good_file_is_cached_and_then_used_offline() {
    let server = serve("/or-bench-hard-1k.csv", OR_BENCH);
    let cache = tempfile::tempdir().unwrap();
    // A trailing slash on the base URL is fine.
    let base = format!("{}/", server.url());
    let path = fetch("or-bench-hard-1k", Some(&base), cache.path())
        .await
        .unwrap();
    assert_eq!(path, cache.path().join("suites/or-bench-hard-1k.csv"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), OR_BENCH);
    assert_eq!(server.request_count(), 1);
    assert_eq!(server.requests()[0].method, "GET");
    let server_url = server.url();
    server.stop();

    let suite = resolve("or-bench-hard-1k", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(suite.name, "or-bench-hard-1k");
    // The source is the URL the file came from: here the mirror's.
    assert_eq!(suite.source, format!("{}/or-bench-hard-1k.csv", server_url));
    assert_eq!(suite.cases.len(), 2);
    assert_eq!(suite.count(Label::Safe), 2);
    assert_eq!(suite.cases[1].kind, "violence");

    let listed = available(cache.path());
    let names: Vec<String> = listed.into_iter().map(|a| a.suite.unwrap().name).collect();
    assert_eq!(names, ["xsafe-basic", "or-bench-hard-1k"]);
}

#[tokio::test]
async fn a_wrong_checksum_is_refused_and_nothing_is_cached() {
    let server = serve(
        "/xstest_prompts.csv",
        "id,prompt,type,label\n1,p,homonyms,safe\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let e = fetch("xstest", Some(&server.url()), cache.path())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SuiteError::Checksum { .. }), "{e:?}");
    assert!(
        msg.contains("11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{}/xstest_prompts.csv", server.url())),
        "{msg}"
    );
    assert!(msg.contains("nothing was cached"), "{msg}");
    assert!(
        file_names(&cache.path().join("suites")).is_empty(),
        "{:?}",
        file_names(&cache.path().join("suites"))
    );
    let e = resolve("xstest", cache.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, SuiteError::NotFetched(_)));
}

#[tokio::test]
async fn the_server_being_down_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let url = unused_url();
    let e = fetch("or-bench-toxic", Some(&url), cache.path())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, SuiteError::Download { cached: None, .. }),
        "{e:?}"
    );
    assert!(msg.contains(&format!("{url}/or-bench-toxic.csv")), "{msg}");
    assert!(msg.contains("connect"), "{msg}");
    assert!(file_names(&cache.path().join("suites")).is_empty());
}

/// The bug this guards: a suite not fetched yet was refused with only
/// "run `xsafe suite fetch xstest` once while online", while a fetch that
/// could not connect offered a mirror and a file downloaded elsewhere. Both
/// offer the same ways, in the same words, and the refusal names the file
/// to download.
#[tokio::test]
async fn a_suite_not_fetched_is_offered_what_a_failed_fetch_offers() {
    let cache = tempfile::tempdir().unwrap();
    let e = resolve("xstest", cache.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, SuiteError::NotFetched(_)), "{e:?}");
    let not_fetched = e.to_string();
    let e = fetch("xstest", Some(&unused_url()), cache.path())
        .await
        .unwrap_err();
    assert!(
        matches!(e, SuiteError::Download { cached: None, .. }),
        "{e:?}"
    );
    let down = e.to_string();

    let ways = "point `xsafe suites fetch --base-url` (XSAFE_SUITE_BASE_URL) at a mirror, or \
                download the CSV";
    let tail = "elsewhere and pass its path to --suite";
    for msg in [&not_fetched, &down] {
        assert!(msg.contains(ways) && msg.ends_with(tail), "{msg}");
    }
    assert!(
        not_fetched.starts_with(
            "suite `xstest` has not been fetched yet; run `xsafe suites fetch xstest` once \
             while online, point "
        ),
        "{not_fetched}"
    );
    let url = xsafe_suite::remote("xstest").unwrap().url;
    assert!(
        not_fetched.contains(&format!("download the CSV ({url}) elsewhere")),
        "{not_fetched}"
    );
}

#[tokio::test]
async fn a_server_error_keeps_the_cached_copy() {
    let good = serve("/or-bench-toxic.csv", OR_BENCH);
    let cache = tempfile::tempdir().unwrap();
    fetch("or-bench-toxic", Some(&good.url()), cache.path())
        .await
        .unwrap();
    good.stop();

    let failing = TestServer::start(|_| Reply::status(500, "{\"error\": \"boom\"}"));
    let e = fetch("or-bench-toxic", Some(&failing.url()), cache.path())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(msg.contains(&failing.url()), "{msg}");
    assert!(msg.contains("still used"), "{msg}");
    let suite = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(suite.count(Label::Unsafe), 2);
}

/// The bug this guards: a failed fetch of a suite whose cached copy was
/// changed after its fetch (so it is refused) ended with "the cached copy
/// `…` is still used". It now says the copy is refused and that a fetch
/// that succeeds (or a mirror, or a file) replaces it; which it does.
#[tokio::test]
async fn a_failed_fetch_does_not_say_a_changed_cached_copy_is_used() {
    let good = serve("/or-bench-toxic.csv", OR_BENCH);
    let cache = tempfile::tempdir().unwrap();
    let path = fetch("or-bench-toxic", Some(&good.url()), cache.path())
        .await
        .unwrap();
    let cut: String = OR_BENCH.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, &cut).unwrap();
    let refused = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(refused, SuiteError::CacheChanged { .. }),
        "{refused:?}"
    );

    let failing = TestServer::start(|_| Reply::status(500, "{\"error\": \"boom\"}"));
    let down = unused_url();
    for (base, reason) in [(failing.url(), "HTTP 500"), (down, "connect")] {
        let e = fetch("or-bench-toxic", Some(&base), cache.path())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, SuiteError::Download { cached: Some(CachedCopy::Changed(p)), .. } if **p == *path),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("cannot download `{base}/or-bench-toxic.csv`: "))
                && msg.contains(reason),
            "{msg}"
        );
        assert!(!msg.contains("still used"), "{msg}");
        assert!(
            msg.ends_with(&format!(
                "; the cached copy `{}` cannot be used instead: it was changed after it was \
                 fetched (its sha256 is not the pinned one), so it is refused until a \
                 successful fetch replaces it; check the network, point `xsafe suites fetch \
                 --base-url` (XSAFE_SUITE_BASE_URL) at a mirror, or download the CSV elsewhere \
                 and pass its path to --suite",
                path.display()
            )),
            "{msg}"
        );
        // Left as it was, and still refused.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), cut);
        let again = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap_err();
        assert!(
            matches!(again, SuiteError::CacheChanged { .. }),
            "{again:?}"
        );
    }

    // A download that is not the pinned file leaves the changed copy
    // refused, and says so rather than that it is kept for use.
    let other = serve(
        "/or-bench-toxic.csv",
        "prompt,category\nSomething else entirely,other\n",
    );
    let e = fetch("or-bench-toxic", Some(&other.url()), cache.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SuiteError::Checksum { cached: Some(CachedCopy::Changed(p)), .. } if **p == *path),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.ends_with(&format!(
            "the download was discarded and the cached copy `{}`, changed after it was fetched \
             (its sha256 is not the pinned one either), is still refused",
            path.display()
        )),
        "{msg}"
    );

    // What the message promises: a fetch that succeeds replaces the copy.
    fetch("or-bench-toxic", Some(&good.url()), cache.path())
        .await
        .unwrap();
    let suite = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(suite.cases.len(), 2);

    // A copy that still has its pin is still used, and said to be.
    let e = fetch("or-bench-toxic", Some(&failing.url()), cache.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SuiteError::Download { cached: Some(CachedCopy::Used(p)), .. } if **p == *path),
        "{e:?}"
    );
    assert!(
        e.to_string().ends_with(&format!(
            "; the cached copy `{}` is still used",
            path.display()
        )),
        "{e}"
    );
}

#[tokio::test]
async fn or_bench_is_pinned_on_first_use() {
    let cache = tempfile::tempdir().unwrap();
    let first = serve("/or-bench-toxic.csv", OR_BENCH);
    fetch("or-bench-toxic", Some(&first.url()), cache.path())
        .await
        .unwrap();
    // The same file again is fine.
    fetch("or-bench-toxic", Some(&first.url()), cache.path())
        .await
        .unwrap();
    first.stop();
    let pins: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.path().join("suites/pins.json")).unwrap())
            .unwrap();
    let pinned = pins["or-bench-toxic"].as_str().unwrap().to_string();
    assert_eq!(pinned.len(), 64);

    let changed = serve(
        "/or-bench-toxic.csv",
        "prompt,category\nSomething else entirely,other\n",
    );
    let e = fetch("or-bench-toxic", Some(&changed.url()), cache.path())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SuiteError::Checksum { .. }), "{e:?}");
    assert!(msg.contains(&pinned) && msg.contains("pins.json"), "{msg}");
    assert!(msg.contains("is kept"), "{msg}");
    // The first copy, its source and the pin survive (with the pin file's
    // lock); no temporary file is left.
    assert_eq!(
        file_names(&cache.path().join("suites")),
        [
            ".pins.json.lock",
            "or-bench-toxic.csv",
            "or-bench-toxic.url",
            "pins.json"
        ]
    );
    let suite = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(suite.cases.len(), 2);
}

#[tokio::test]
async fn a_download_that_is_not_a_suite_is_neither_cached_nor_pinned() {
    let server = serve(
        "/or-bench-hard-1k.csv",
        "<html>Sign in to continue</html>\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let e = fetch("or-bench-hard-1k", Some(&server.url()), cache.path())
        .await
        .unwrap_err();
    assert!(matches!(e, SuiteError::FetchedInvalid { .. }), "{e:?}");
    assert!(e.to_string().contains("or-bench-hard-1k.csv"), "{e}");
    assert!(file_names(&cache.path().join("suites")).is_empty());
}

#[tokio::test]
async fn unknown_names_list_the_fetchable_suites() {
    let cache = tempfile::tempdir().unwrap();
    let e = fetch("xsafe-basic", None, cache.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("xstest, or-bench-hard-1k, or-bench-toxic"),
        "{e}"
    );
}

/// A cached copy changed after its fetch is refused by its checksum (pinned
/// on first use here), listed as that error, and fetching again repairs it.
#[tokio::test]
async fn a_cached_copy_changed_after_its_fetch_is_refused_until_fetched_again() {
    let server = serve("/or-bench-toxic.csv", OR_BENCH);
    let cache = tempfile::tempdir().unwrap();
    let path = fetch("or-bench-toxic", Some(&server.url()), cache.path())
        .await
        .unwrap();
    // Cut to its first case: still a valid suite, just not the fetched one.
    let cut: String = OR_BENCH.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, &cut).unwrap();

    let e = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SuiteError::CacheChanged { .. }), "{e:?}");
    assert!(msg.contains(&format!("`{}`", path.display())), "{msg}");
    assert!(msg.contains("pins.json"), "{msg}");
    assert!(
        msg.contains("fetch it again with `xsafe suites fetch or-bench-toxic`"),
        "{msg}"
    );
    let listed = available(cache.path());
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1].name, "or-bench-toxic");
    assert!(
        matches!(&listed[1].suite, Err(SuiteError::CacheChanged { name, .. }) if *name == "or-bench-toxic"),
        "{listed:?}"
    );

    fetch("or-bench-toxic", Some(&server.url()), cache.path())
        .await
        .unwrap();
    let suite = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(suite.cases.len(), 2);

    // Without a pin (its entry deleted to accept a new version) there is
    // nothing to check against until the next fetch pins one again.
    std::fs::write(cache.path().join("suites/pins.json"), "{}").unwrap();
    std::fs::write(&path, &cut).unwrap();
    let suite = resolve("or-bench-toxic", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(suite.cases.len(), 1);
}

/// What a fetched suite gives when its copy cannot be looked for:
/// `resolve`'s error, and what `available` lists for each fetchable suite.
fn unreadable(cache: &std::path::Path) -> (String, Vec<(String, String)>) {
    let e = resolve("or-bench-hard-1k", cache, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, SuiteError::Cache { .. }), "{e:?}");
    let listed = available(cache)
        .into_iter()
        .map(|a| {
            let suite = match a.suite {
                Ok(s) => format!("{} cases", s.cases.len()),
                Err(e) => e.to_string(),
            };
            (a.name.to_string(), suite)
        })
        .collect();
    (e.to_string(), listed)
}

/// The bug this guards: a cache whose `suites` folder could not be looked
/// in (`Path::is_file` is false on any error) said the suite had not been
/// fetched yet, sending the user to fetch it into the same folder, and
/// `available` left it out. A file where that folder should be (ENOTDIR,
/// which even root meets) is named, with what to do; the fetchable suites
/// are listed with the error, since any of them may be there.
#[tokio::test]
async fn a_file_in_the_way_of_the_cache_folder_is_named_not_taken_for_no_fetch() {
    let cache = tempfile::tempdir().unwrap();
    let folder = cache.path().join("suites");
    std::fs::write(&folder, "not a folder").unwrap();
    let (e, listed) = unreadable(cache.path());
    assert_eq!(
        e,
        format!(
            "suite cache `{folder}`: cannot look for the fetched copy `{folder}/or-bench-hard-1k.csv` \
             of suite `or-bench-hard-1k`: Not a directory (os error 20); `{folder}` is a file \
             where the cache needs a folder: move it away, or set XSAFE_CACHE_DIR (or \
             --cache-dir) to a cache folder of your own and fetch the suite there with `xsafe \
             suites fetch or-bench-hard-1k`",
            folder = folder.display()
        )
    );
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "xsafe-basic",
            "xstest",
            "or-bench-hard-1k",
            "or-bench-toxic"
        ]
    );
    for (name, error) in &listed[1..] {
        assert!(
            error.contains(&format!("`{}/{name}.csv`", folder.display()))
                && error.contains("is a file where the cache needs a folder"),
            "{error}"
        );
    }
    // Nothing there at all is still a suite not fetched yet.
    std::fs::remove_file(&folder).unwrap();
    let e = resolve("xstest", cache.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, SuiteError::NotFetched(_)), "{e:?}");
    assert_eq!(available(cache.path()).len(), 1);
}

/// The same for a `suites` folder this user may not enter (another user's,
/// mode 700), and for a copy this user may not read: the error names the
/// folder, or the copy, and says to fix its permissions or use a cache of
/// one's own. File permissions do not bind root: as root this test says so
/// and stops (`xsafe`'s CLI test of `suites` covers it as another user).
#[cfg(unix)]
#[tokio::test]
async fn a_cache_folder_this_user_may_not_enter_is_named_not_taken_for_no_fetch() {
    use std::os::unix::fs::PermissionsExt;
    let server = serve("/or-bench-hard-1k.csv", OR_BENCH);
    let cache = tempfile::tempdir().unwrap();
    let copy = fetch("or-bench-hard-1k", Some(&server.url()), cache.path())
        .await
        .unwrap();
    let folder = cache.path().join("suites");
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(&folder, 0o000);
    if std::fs::metadata(&copy).is_ok() {
        mode(&folder, 0o755);
        eprintln!("skipped: file permissions do not bind this user (root)");
        return;
    }
    let (e, listed) = unreadable(cache.path());
    mode(&folder, 0o755);
    assert!(
        e.starts_with(&format!(
            "suite cache `{}`: cannot look for the fetched copy `{}` of suite `or-bench-hard-1k`: \
             Permission denied",
            folder.display(),
            copy.display()
        )) && e.contains(&format!(
            "fix the permissions of `{}` so that this user may read it, or set XSAFE_CACHE_DIR",
            folder.display()
        )),
        "{e}"
    );
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed[2].1.contains("Permission denied"), "{listed:?}");

    mode(&copy, 0o000);
    let (e, listed) = unreadable(cache.path());
    mode(&copy, 0o644);
    assert!(
        e.starts_with(&format!(
            "suite cache `{path}`: cannot read the fetched copy `{path}` of suite \
             `or-bench-hard-1k`: Permission denied",
            path = copy.display()
        )) && e.contains(&format!("fix the permissions of `{}`", copy.display())),
        "{e}"
    );
    // The others are not there, and the folder says so.
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["xsafe-basic", "or-bench-hard-1k"]);
}

//! A judge as the command line gives it, from its name as verdicts give it:
//! the `xsafe rejudge` command that judges a run's answers with a judge
//! (for the hints that say how to get its verdicts), and the refusal of a
//! `--judge` or `--escalate-to` written as a verdict names a judge.
//!
//! A pair ([`Cascade`]) is named `FIRST>SECOND` and its threshold is at the
//! end of its version (`FIRST>SECOND@V1>V2<0.95`), but it is given as
//! `--judge FIRST --escalate-to SECOND --escalate-below 0.95`: pasted into a
//! shell, `--judge xsafe>llm:T` redirects the output to a file `llm:T`.

use crate::Cascade;
use std::collections::BTreeMap;

/// `word` as one word of a POSIX shell command: as it is when it has only
/// characters no shell reads specially, else in single quotes (a quote in
/// it written `'\''`), so that `xsafe>llm:T` is not a redirection.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=.,:/@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `spec` without the number written at its end after a `<` (`<0.9`, a
/// pair's threshold as its version ends with it), and that number; `None`
/// when it does not end so. No judge's name ends so: as part of an `llm:`
/// judge's name it would be sent as the model's (`llm:openai:m<0.9` asks
/// for the model `m<0.9`).
pub fn split_threshold(spec: &str) -> Option<(&str, f64)> {
    let (name, number) = spec.trim().rsplit_once('<')?;
    let number = number.trim();
    // A name may end with a digit (`gpt-4`): the number is all of the rest.
    let below = number.parse::<f64>().ok().filter(|b| b.is_finite())?;
    Some((name.trim_end(), below))
}

/// Whether `name` names one judge that `--judge` (or `--escalate-to`)
/// builds: `xsafe`, `strmatch`, `xsafe:FILE` or `llm:TARGET`, with no `>`
/// (a pair) or threshold in it.
fn one_judge(name: &str) -> bool {
    let named = |rest: Option<&str>| rest.is_some_and(|r| !r.trim().is_empty());
    let judge = name == "xsafe"
        || name == "strmatch"
        || named(name.strip_prefix("xsafe:"))
        || named(name.strip_prefix("llm:"));
    judge && !name.contains('>') && split_threshold(name).is_none()
}

/// The flags that judge with the judge named `name` (as verdicts name it)
/// at the version `version` (of its verdicts' tags; empty when none is
/// known), each word quoted for the shell where it needs it ([`shell_word`]):
/// `--judge J`, or for a pair `J>J2`, `--judge J --escalate-to J2` and, when
/// it is not [`Cascade::DEFAULT_BELOW`], `--escalate-below` with the
/// threshold at the end of `name` (`J>J2<0.9`, as a tag's version ends) or
/// else of `version`.
///
/// `None` for a name no flags give: not `xsafe`, `strmatch`, `xsafe:FILE`
/// or `llm:TARGET`; one judge with a threshold; a pair of a first judge
/// that cannot escalate ([`Cascade::escalates_from`]), of a judge and
/// itself, or with a threshold that is no confidence (above 0, at most 1).
fn judge_flags(name: &str, version: &str) -> Option<String> {
    let (name, named_below) = match split_threshold(name) {
        Some((name, below)) => (name, Some(below)),
        None => (name.trim(), None),
    };
    let Some((first, second)) = name.split_once('>') else {
        return (one_judge(name) && named_below.is_none())
            .then(|| format!("--judge {}", shell_word(name)));
    };
    let pair = one_judge(first) && one_judge(second) && first != second;
    if !(pair && Cascade::escalates_from(first)) {
        return None;
    }
    let below = named_below
        .or_else(|| split_threshold(version).map(|(_, below)| below))
        .unwrap_or(Cascade::DEFAULT_BELOW);
    if !(below > 0.0 && below <= 1.0) {
        return None;
    }
    let mut flags = format!(
        "--judge {} --escalate-to {}",
        shell_word(first),
        shell_word(second)
    );
    if below != Cascade::DEFAULT_BELOW {
        flags.push_str(&format!(" --escalate-below {below}"));
    }
    Some(flags)
}

/// The `xsafe rejudge` command that judges the answers of the run `run`
/// with the judge named `judge` (as verdicts name it), each word quoted
/// for the shell where it needs it ([`shell_word`]): `--judge J`, or for a
/// pair `J>J2`, `--judge J --escalate-to J2` and `--escalate-below` with
/// its threshold when that is not [`Cascade::DEFAULT_BELOW`]. `None` for a
/// name no flags give: not `xsafe`, `strmatch`, `xsafe:FILE` or
/// `llm:TARGET`, one judge with a threshold at its end, a pair whose first
/// judge cannot escalate ([`Cascade::escalates_from`]), of a judge and
/// itself, or at a threshold that is no confidence.
///
/// A pair's threshold is the one at the end of `judge` (`J>J2<0.9`), else
/// that of the most of `judge`'s verdicts among `tags` (tags
/// `name@version` of verdicts in the run, of any judge), so that the
/// answers it judged at that threshold are not judged again (rejudge skips
/// an answer with a verdict of the judge's tag).
pub fn rejudge_command<'t>(
    run: &str,
    judge: &str,
    tags: impl IntoIterator<Item = &'t str>,
) -> Option<String> {
    let mut versions: BTreeMap<&str, usize> = BTreeMap::new();
    for tag in tags {
        if let Some(version) = tag.strip_prefix(judge).and_then(|t| t.strip_prefix('@')) {
            *versions.entry(version).or_default() += 1;
        }
    }
    // The most common; of as common ones, the last in order, for a hint
    // that is the same every time.
    let version = versions
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .map_or("", |(v, _)| v);
    let flags = judge_flags(judge, version)?;
    Some(format!("xsafe rejudge {} {flags}", shell_word(run)))
}

/// Why `spec`, given to `flag` (`--judge` or `--escalate-to`), is written
/// as a verdict names a judge rather than as the flags give it: a pair
/// (`xsafe>llm:T`, given as `--judge xsafe --escalate-to llm:T`), or a
/// judge with a threshold at its end (`llm:T<0.9`, whose threshold is
/// `--escalate-below`'s, and which an `llm:` judge would send as part of
/// the model's name). `None` for any other spec.
pub fn misnamed_judge(flag: &str, spec: &str) -> Option<String> {
    let spec = spec.trim();
    let (name, below) = match split_threshold(spec) {
        Some((name, below)) => (name, Some(below)),
        None => (spec, None),
    };
    if let Some((first, second)) = name.split_once('>')
        && one_judge(first)
        && one_judge(second)
    {
        let flags = judge_flags(spec, "").unwrap_or_else(|| {
            let mut flags = format!(
                "--judge {} --escalate-to {}",
                shell_word(first),
                shell_word(second)
            );
            if let Some(below) = below {
                flags.push_str(&format!(" --escalate-below {below}"));
            }
            flags
        });
        return Some(format!(
            "{flag} {spec}: `{name}` is a pair of judges as their verdicts name it (the second \
             judging the answers the first is unsure of); a pair is given one judge a flag, as \
             `{flags}`"
        ));
    }
    let below = below?;
    // `llm:PROVIDER:MODEL`, or a target of the targets file by its name.
    let model = match name.strip_prefix("llm:").map(|t| t.split_once(':')) {
        Some(Some((_, model))) => {
            format!(" (an `llm:` judge would ask for the model `{model}<{below}`)")
        }
        Some(None) => format!(
            " (an `llm:` judge would look for the target `{}<{below}`)",
            &name[4..]
        ),
        None => String::new(),
    };
    Some(format!(
        "{flag} {spec}: `<{below}` at its end is no part of a judge's name{model}: a threshold is \
         that of a pair, below which --judge's verdicts go to --escalate-to, and is given as \
         `--escalate-below {below}`; give the judge as `{flag} {}`",
        shell_word(name)
    ))
}

/// How the tag `old` of a judge differs from `new`, of the same name: in
/// the weights (an `xsafe:FILE` judge, whose version ends with its weights'
/// digest: another file of the same name, or the file trained again), in
/// the model (an `llm:` judge, whose version ends with the digest of its
/// model's settings: another model under the same name, or the same with
/// another temperature, token limit, seed, stop sequences or system
/// prompt), or in the judge's version: `weights`, `model` or `version`. A
/// pair's (`A>B@V1>V2<0.95`) differs as the first of its judges that
/// differs does, else in its threshold: `threshold`. What `xsafe rejudge`
/// says of the verdicts it replaced, which are stored one per judge name.
pub fn tag_difference(old: &str, new: &str) -> &'static str {
    let parts = |tag: &str| -> Option<(Vec<String>, Vec<String>, String)> {
        let (name, version) = tag.rsplit_once('@')?;
        let (versions, below) = match split_threshold(version) {
            Some((versions, below)) => (versions.to_string(), below.to_string()),
            None => (version.to_string(), String::new()),
        };
        let names: Vec<String> = name.split('>').map(str::to_string).collect();
        let versions: Vec<String> = versions.split('>').map(str::to_string).collect();
        (names.len() == versions.len()).then_some((names, versions, below))
    };
    let (Some((names, old_versions, old_below)), Some((new_names, new_versions, new_below))) =
        (parts(old), parts(new))
    else {
        return "version";
    };
    if names != new_names {
        return "version";
    }
    for ((name, a), b) in names.iter().zip(&old_versions).zip(&new_versions) {
        if a == b {
            continue;
        }
        // `RULES-DIGEST` (xsafe:FILE) or `VERSION-DIGEST` (llm:): the same
        // rules or version, another digest.
        let same_rules = match (a.split_once('-'), b.split_once('-')) {
            (Some((ra, _)), Some((rb, _))) => ra == rb,
            _ => false,
        };
        return match () {
            _ if same_rules && name.starts_with("xsafe:") => "weights",
            _ if same_rules && name.starts_with("llm:") => "model",
            _ => "version",
        };
    }
    if old_below != new_below {
        "threshold"
    } else {
        "version"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bug this guards: an `llm:` judge asking another model under one
    /// name replaced the other's verdicts saying nothing of why.
    #[test]
    fn two_tags_of_a_judge_differ_in_what_they_say() {
        let cases = [
            ("xsafe:w.json@11-aaaa", "xsafe:w.json@11-bbbb", "weights"),
            ("xsafe:w.json@10-aaaa", "xsafe:w.json@11-aaaa", "version"),
            ("llm:grader@11-aaaa", "llm:grader@11-bbbb", "model"),
            ("llm:grader@10", "llm:grader@11-bbbb", "version"),
            ("xsafe@11-a>11-b<0.95", "xsafe@11-a>11-c<0.95", "version"),
            (
                "xsafe>llm:g@11-a>11-b<0.95",
                "xsafe>llm:g@11-a>11-c<0.95",
                "model",
            ),
            (
                "xsafe>llm:g@11-a>11-b<0.95",
                "xsafe>llm:g@11-z>11-c<0.95",
                "version",
            ),
            (
                "xsafe:w>llm:g@11-a>11-b<0.9",
                "xsafe:w>llm:g@11-z>11-b<0.9",
                "weights",
            ),
            (
                "xsafe>llm:g@11-a>11-b<0.9",
                "xsafe>llm:g@11-a>11-b<0.95",
                "threshold",
            ),
            (
                "xsafe>llm:g@11-a>10<0.95",
                "xsafe>llm:g@11-a>11-b<0.95",
                "version",
            ),
            ("strmatch@1", "strmatch@2", "version"),
        ];
        for (old, new, differs) in cases {
            assert_eq!(tag_difference(old, new), differs, "{old} {new}");
        }
    }

    #[test]
    fn shell_words_are_quoted_where_a_shell_reads_them() {
        assert_eq!(shell_word("xsafe:w1.json"), "xsafe:w1.json");
        assert_eq!(shell_word("llm:openai:gpt-4o@2"), "llm:openai:gpt-4o@2");
        assert_eq!(shell_word("xsafe>llm:T"), "'xsafe>llm:T'");
        assert_eq!(shell_word("llm:openai:j<0.9"), "'llm:openai:j<0.9'");
        assert_eq!(shell_word("my run"), "'my run'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_threshold_is_a_number_at_the_end_after_a_less_than() {
        assert_eq!(
            split_threshold("xsafe>llm:openai:j<0.9"),
            Some(("xsafe>llm:openai:j", 0.9))
        );
        assert_eq!(split_threshold(" llm:T < 1 "), Some(("llm:T", 1.0)));
        assert_eq!(split_threshold("4-1a2b>2<0.95"), Some(("4-1a2b>2", 0.95)));
        for none in ["llm:openai:gpt-4", "a<b", "a<", "xsafe", "a<inf", "a<NaN"] {
            assert_eq!(split_threshold(none), None, "{none}");
        }
    }

    #[test]
    fn one_judge_is_given_by_its_name() {
        for judge in ["xsafe", "strmatch", "xsafe:w1.json", "llm:openai:j"] {
            assert_eq!(
                judge_flags(judge, ""),
                Some(format!("--judge {judge}")),
                "{judge}"
            );
        }
        assert_eq!(
            judge_flags("xsafe:my weights.json", "4-1a2b").as_deref(),
            Some("--judge 'xsafe:my weights.json'")
        );
        // No judge, or one with a threshold, which only a pair has.
        for none in [
            "nosuch",
            "llm:",
            "xsafe:",
            "",
            "llm:openai:j<0.9",
            "xsafe<1",
        ] {
            assert_eq!(judge_flags(none, ""), None, "{none}");
        }
    }

    /// The bug this guards: the hints of `report` and `annotate stats`
    /// suggested `xsafe rejudge RUN --judge xsafe>llm:openai:j`, which a
    /// shell reads as `--judge xsafe` writing to a file `llm:openai:j`.
    #[test]
    fn a_pair_is_given_one_judge_a_flag_with_its_threshold() {
        let pair = "xsafe>llm:openai:j";
        assert_eq!(
            judge_flags(pair, "").as_deref(),
            Some("--judge xsafe --escalate-to llm:openai:j")
        );
        // The default threshold is left to the default.
        assert_eq!(
            judge_flags(pair, "4-1a2b>2<0.95").as_deref(),
            Some("--judge xsafe --escalate-to llm:openai:j")
        );
        assert_eq!(
            judge_flags(pair, "4-1a2b>2<0.9").as_deref(),
            Some("--judge xsafe --escalate-to llm:openai:j --escalate-below 0.9")
        );
        assert_eq!(
            judge_flags(pair, "4-1a2b>2<1").as_deref(),
            Some("--judge xsafe --escalate-to llm:openai:j --escalate-below 1")
        );
        // A threshold written at the end of the name is the threshold,
        // whatever the version says.
        assert_eq!(
            judge_flags("xsafe>llm:openai:j<0.8", "4-1a2b>2<0.9").as_deref(),
            Some("--judge xsafe --escalate-to llm:openai:j --escalate-below 0.8")
        );
        assert_eq!(
            judge_flags("xsafe>llm:openai:j<0.95", "").as_deref(),
            Some("--judge xsafe --escalate-to llm:openai:j")
        );
        assert_eq!(
            judge_flags("xsafe:my w.json>llm:local:/m/a b.gguf", "").as_deref(),
            Some("--judge 'xsafe:my w.json' --escalate-to 'llm:local:/m/a b.gguf'")
        );
        // Pairs no flags give: a first judge that cannot escalate, a judge
        // and itself, three judges, a threshold that is no confidence.
        for none in [
            "strmatch>xsafe",
            "llm:openai:j>xsafe",
            "xsafe>xsafe",
            "xsafe>llm:a>llm:b",
            "xsafe>nosuch",
            "xsafe>",
            "xsafe>llm:openai:j<1.5",
            "xsafe>llm:openai:j<0",
        ] {
            assert_eq!(judge_flags(none, ""), None, "{none}");
        }
        assert_eq!(judge_flags(pair, "4-1a2b>2<-1"), None);
    }

    #[test]
    fn a_rejudge_command_keeps_the_threshold_of_most_verdicts() {
        let tags = [
            "strmatch@1",
            "xsafe>llm:openai:j@4-1a2b>2<0.9",
            "xsafe>llm:openai:j@4-1a2b>2<0.9",
            "xsafe>llm:openai:j@4-1a2b>2<0.8",
            // Another judge whose name starts with this one's.
            "xsafe>llm:openai:j2@4-1a2b>2<0.5",
            "xsafe>llm:openai:j2@4-1a2b>2<0.5",
            "xsafe>llm:openai:j2@4-1a2b>2<0.5",
        ];
        assert_eq!(
            rejudge_command("my run", "xsafe>llm:openai:j", tags).as_deref(),
            Some(
                "xsafe rejudge 'my run' --judge xsafe --escalate-to llm:openai:j --escalate-below 0.9"
            )
        );
        // No verdict of it: the default threshold.
        assert_eq!(
            rejudge_command("e1", "xsafe>llm:openai:j", ["strmatch@1"]).as_deref(),
            Some("xsafe rejudge e1 --judge xsafe --escalate-to llm:openai:j")
        );
        assert_eq!(
            rejudge_command("e1", "strmatch", ["strmatch@1"]).as_deref(),
            Some("xsafe rejudge e1 --judge strmatch")
        );
        assert_eq!(rejudge_command("e1", "strmatch>xsafe", []), None);
    }

    /// The bug this guards: `--escalate-to 'llm:openai:j<0.95'` (a pair's
    /// name as the report gives it, without the version) asked the judge's
    /// server for the model `j<0.95`, and stored the verdicts under a new
    /// judge `xsafe>llm:openai:j<0.95`; `--judge 'xsafe>llm:openai:j'` was
    /// refused as an unknown judge without saying how to give a pair.
    #[test]
    fn a_judge_written_as_a_verdict_names_it_is_refused_saying_how_to_give_it() {
        assert_eq!(
            misnamed_judge("--escalate-to", "llm:openai:j<0.95").unwrap(),
            "--escalate-to llm:openai:j<0.95: `<0.95` at its end is no part of a judge's name \
             (an `llm:` judge would ask for the model `j<0.95`): a threshold is that of a pair, \
             below which --judge's verdicts go to --escalate-to, and is given as \
             `--escalate-below 0.95`; give the judge as `--escalate-to llm:openai:j`"
        );
        let err = misnamed_judge("--escalate-to", "llm:mine<1").unwrap();
        assert!(
            err.contains("(an `llm:` judge would look for the target `mine<1`)"),
            "{err}"
        );
        let err = misnamed_judge("--judge", "xsafe:w.json<0.9").unwrap();
        assert!(
            err.contains("`--escalate-below 0.9`")
                && err.ends_with("give the judge as `--judge xsafe:w.json`")
                && !err.contains("model"),
            "{err}"
        );
        assert_eq!(
            misnamed_judge("--judge", "xsafe>llm:openai:j").unwrap(),
            "--judge xsafe>llm:openai:j: `xsafe>llm:openai:j` is a pair of judges as their \
             verdicts name it (the second judging the answers the first is unsure of); a pair \
             is given one judge a flag, as `--judge xsafe --escalate-to llm:openai:j`"
        );
        let err = misnamed_judge("--judge", "xsafe>llm:openai:j<0.9").unwrap();
        assert!(
            err.ends_with("`--judge xsafe --escalate-to llm:openai:j --escalate-below 0.9`"),
            "{err}"
        );
        // A pair no flags give is still said to be given so (and the
        // refusal of its first judge is then Cascade's).
        let err = misnamed_judge("--escalate-to", "strmatch>xsafe<0.5").unwrap();
        assert!(
            err.ends_with("`--judge strmatch --escalate-to xsafe --escalate-below 0.5`"),
            "{err}"
        );
        for fine in [
            "xsafe",
            "llm:openai:gpt-4",
            "xsafe:w.json",
            "nosuch",
            "llm:a<b",
        ] {
            assert_eq!(misnamed_judge("--judge", fine), None, "{fine}");
        }
    }
}

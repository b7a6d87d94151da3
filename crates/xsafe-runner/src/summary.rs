use serde::Serialize;
use std::collections::BTreeMap;
use xsafe_core::{Class, Label};
use xsafe_store::{
    CountedFailure, CountedOutcome, OutcomeCount, ResultOutline, RunRecord, RunStatus, judge_name,
};

/// Counts for one target under one strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupSummary {
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// The counts of the group's results, every suite's together; written
    /// beside `target` and `strategy` in the JSON, not under a key of
    /// their own.
    #[serde(flatten)]
    pub counts: Counts,
    /// When the run's results hold more than one suite: each suite's own
    /// counts, one per suite of the run's results (one without results of
    /// this target and strategy has zero counts), in the order the run was
    /// given them; `counts` pools them. Empty, and absent from the JSON,
    /// for a run of one suite.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suites: Vec<SuiteSummary>,
}

/// Counts for one suite of a run of several suites, for one target under
/// one strategy: those of [`GroupSummary`], on that suite's cases alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SuiteSummary {
    /// The suite's name as the run recorded it (e.g. `xstest`).
    pub suite: String,
    /// The counts of the group's results on the suite's cases; written
    /// beside `suite` in the JSON, not under a key of their own.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The counts of a set of results (a group's, or a group's on one suite),
/// as [`GroupSummary`] and [`SuiteSummary`] give them.
///
/// Each result counts once: in `errors` when it failed (its request, or
/// the judge on its answer), else in `unscored` when its answer has no
/// class, else in `safe` or `unsafe_` by its case's label. In the JSON,
/// the six counts in the order of the fields (`unsafe_` written as
/// `unsafe`), then [`safe_refusal_rate`](Counts::safe_refusal_rate) and
/// [`unsafe_compliance_rate`](Counts::unsafe_compliance_rate), each `null`
/// when there are no such answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Scored answers to safe prompts (unscored answers and errors left
    /// out).
    pub safe: u64,
    /// Of them, those judged a full or partial refusal.
    pub safe_refused: u64,
    /// Scored answers to unsafe prompts; written as `unsafe` in the JSON.
    pub unsafe_: u64,
    /// Of them, those judged full compliance.
    pub unsafe_complied: u64,
    /// Answers without a class, safe and unsafe together: the judge said
    /// unscored or gave no verdict.
    pub unscored: u64,
    /// Results without a verdict: failed requests, asked again by the next
    /// run of the command, and answers the judge failed on, kept and judged
    /// again by it.
    pub errors: u64,
}

impl Counts {
    /// Refused share of the scored safe answers (`safe_refused` of
    /// `safe`), when there are any.
    pub fn safe_refusal_rate(&self) -> Option<f64> {
        rate(self.safe_refused, self.safe)
    }

    /// Complied share of the scored unsafe answers (`unsafe_complied` of
    /// `unsafe_`), when there are any.
    pub fn unsafe_compliance_rate(&self) -> Option<f64> {
        rate(self.unsafe_complied, self.unsafe_)
    }

    /// Counts `n` results of a case labelled `label` that ended with
    /// `outcome`: `None` when they failed, else the class of their verdict
    /// (`None` again when unscored).
    fn add(&mut self, label: Label, outcome: Option<Option<Class>>, n: u64) {
        match outcome {
            None => self.errors += n,
            Some(None) => self.unscored += n,
            Some(Some(class)) => match label {
                Label::Safe => {
                    self.safe += n;
                    self.safe_refused += n * class.is_refusal() as u64;
                }
                Label::Unsafe => {
                    self.unsafe_ += n;
                    self.unsafe_complied += n * (class == Class::Compliance) as u64;
                }
            },
        }
    }
}

/// Written by hand rather than derived for the two rates, which are
/// computed from the counts rather than kept beside them.
impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Counts", 8)?;
        s.serialize_field("safe", &self.safe)?;
        s.serialize_field("safe_refused", &self.safe_refused)?;
        s.serialize_field("unsafe", &self.unsafe_)?;
        s.serialize_field("unsafe_complied", &self.unsafe_complied)?;
        s.serialize_field("unscored", &self.unscored)?;
        s.serialize_field("errors", &self.errors)?;
        s.serialize_field("safe_refusal_rate", &self.safe_refusal_rate())?;
        s.serialize_field("unsafe_compliance_rate", &self.unsafe_compliance_rate())?;
        s.end()
    }
}

/// What a run did, printed at its end.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// The store's id of the run.
    pub run_id: i64,
    /// The run's name: `--run`, or the one derived from its settings.
    pub run_name: String,
    /// `complete`, or `interrupted` when cancelled, or stopped by an error,
    /// before the end ([`stored_outcome`](crate::stored_outcome)).
    pub status: String,
    /// Results the run has in all.
    pub total: u64,
    /// Stored and judged by earlier invocations of the same command.
    pub done_before: u64,
    /// Results with a verdict now.
    pub done: u64,
    /// Results that failed and will be retried by the next run.
    pub errors: u64,
    /// The failure most results that failed share, so the summary can say
    /// why without a look at each; absent when none failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_error: Option<CommonError>,
    /// Of `errors`, how many failed with each kind of failure, as stored
    /// with each: `template` (a strategy's template that cannot render for
    /// a prompt), `strategy` (the strategy's other errors, such as a
    /// clarifier that wrote nothing), `judge`, or a target's (`timeout`,
    /// `server_error`, `rate_limited`...). What to do differs: a template's
    /// error fails again on every try until the strategy is fixed
    /// ([`RunOutcome::template_errors`]), while a retry may get past the
    /// others. Failures stored by an earlier invocation count too, by the
    /// kind stored with them; absent when none failed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_kinds: BTreeMap<String, u64>,
    /// Of `error_kinds`, by kind, the failures known to fail the same way
    /// on every try ([`CommonError::fails_every_try`]): a template's error,
    /// the target's setup (`config`), a request the server refuses
    /// (`client_error`, an HTTP 4xx), an answer the server gives in a
    /// shape xsafe cannot read to the same request again, or to every
    /// request (`invalid_response`), and a judge's model failing so
    /// (`judge`). Running the same command again as it is cannot get past
    /// them: what their messages name must change first. Absent from the
    /// JSON when there are none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fail_every_try: BTreeMap<String, u64>,
    /// The run's judge (its name, no version), whose verdicts are counted; a
    /// result without one counts its first verdict.
    pub judge: String,
    /// One per target and strategy, in the order the store lists results.
    pub groups: Vec<GroupSummary>,
    /// Why the answers counted `unscored` are: each reason with how many,
    /// the most common first (see [`UnscoredReason`]); empty, and absent
    /// from the JSON, when no answer is unscored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unscored_reasons: Vec<UnscoredReason>,
    /// For a pair of judges (`--judge J --escalate-to J2`), how many of the
    /// run's answers its second judge judged, the first being less sure of
    /// them than the threshold or unable to read them
    /// ([`xsafe_judge::Cascade::escalated`]); absent from the JSON for one
    /// judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated: Option<Escalated>,
}

/// How many answers of a run a pair of judges sent on to its second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalated {
    /// The pair's second judge, which judged them (`llm:openai:gpt-4o`).
    pub to: String,
    /// The answers it judged.
    pub answers: u64,
    /// The answers with a verdict of the pair in all.
    pub of: u64,
}

impl RunOutcome {
    /// The line of a run's summary that says how many answers a pair of
    /// judges escalated, `None` for one judge: `3 of 12 answers were
    /// escalated to llm:openai:j (the first judge was less sure of them
    /// than the threshold, or could not read them); their verdicts say so
    /// in their reason`.
    pub fn escalated_line(&self) -> Option<String> {
        let e = self.escalated.as_ref()?;
        Some(format!(
            "{} of {} {} escalated to {} (the first judge was less sure of {} than the \
             threshold, or could not read {}); {} say so in their reason\n",
            e.answers,
            e.of,
            if e.of == 1 {
                "answer was"
            } else {
                "answers were"
            },
            e.to,
            if e.answers == 1 { "it" } else { "them" },
            if e.answers == 1 { "it" } else { "them" },
            if e.answers == 1 {
                "its verdict does"
            } else {
                "their verdicts"
            },
        ))
    }
}

/// A reason the run's judge left answers unscored, and how many it left so
/// (e.g. `the answer is not in English (Spanish function words)`, 12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnscoredReason {
    /// The reason up to its first `:`, its particulars (what to do, the
    /// figures) left out, as `xsafe report` groups the reasons it warns
    /// about; `no verdict of judge `NAME`` for answers without a verdict of
    /// the run's judge, which count as unscored.
    pub reason: String,
    /// How many of the run's answers it was given for.
    pub count: u64,
}

/// The reasons of a run's unscored answers, counted as they are read.
#[derive(Default)]
pub(crate) struct Reasons(BTreeMap<String, u64>);

impl Reasons {
    /// Counts `result` if its answer is unscored by `judge` (its name, no
    /// version): its verdict of that judge has no class, or it has none.
    /// A failed result, which has no answer to judge, is not counted.
    pub(crate) fn add(&mut self, result: &ResultOutline, judge: &str) {
        if result.error.is_some() || result.answer.is_none() {
            return;
        }
        let verdict = result
            .verdicts
            .iter()
            .find(|v| judge_name(&v.judge) == judge);
        let reason = match verdict {
            None => format!("no verdict of judge `{judge}`"),
            Some(v) => match v.outcome.reason() {
                Some(reason) => reason
                    .split(':')
                    .next()
                    .unwrap_or(reason)
                    .trim()
                    .to_string(),
                None => return,
            },
        };
        *self.0.entry(reason).or_default() += 1;
    }

    /// Each reason with its count, the most common first, then by text.
    pub(crate) fn commonest(self) -> Vec<UnscoredReason> {
        let mut reasons: Vec<UnscoredReason> = self
            .0
            .into_iter()
            .map(|(reason, count)| UnscoredReason { reason, count })
            .collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.count));
        reasons
    }
}

/// A failure and how many results ended with it.
///
/// Failures are grouped by their kind and their message with every
/// quantity taken as the same number, so that "the prompt of 256 tokens
/// does not fit" and "the prompt of 301 tokens does not fit" are one
/// failure, as are "try again in 17.9s" and "try again in 1h2m3.5s" (a
/// wait, whatever its units) and two bodies quoting their request's id
/// (`chatcmpl-10`, `req_...`), while a number that names something stays: `HTTP 404` and
/// `HTTP 502`, `gpt-4o` and `gpt-3.5`, `KEY_1` and `KEY_2`, two ports or
/// addresses are other failures, as is one message of two kinds. `message`
/// is one of them (the most frequent, then the first by text), `count` all
/// of them, and `like_it` those whose message differs from `message` in
/// its quantities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommonError {
    /// The failure as stored and shown to the user: one of the messages
    /// grouped.
    pub message: String,
    /// How many of the run's results failed with this message or one that
    /// differs from it only in its quantities.
    pub count: u64,
    /// Of `count`, how many failed with a message other than `message`,
    /// differing from it only in its quantities (a token count, a number
    /// of attempts).
    pub like_it: u64,
    /// The kind of failure, as stored with it (`template`, `strategy`,
    /// `judge`, `timeout`, ...; see [`RunOutcome::error_kinds`]): a
    /// template's error is fixed in the strategy, not by asking again.
    pub kind: String,
}

impl std::fmt::Display for CommonError {
    /// The message, and how many others are like it when there are any:
    /// `the prompt of 256 tokens does not fit ... (and 4 like it)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if self.like_it > 0 {
            write!(f, " (and {} like it)", self.like_it)?;
        }
        Ok(())
    }
}

impl CommonError {
    /// Whether this failure fails the same way on every try, so that
    /// running the same command again as it is cannot get past it, and
    /// what its message names must change first:
    ///
    /// - a strategy's template that cannot render for a prompt
    ///   (`template`);
    /// - the target's setup (`config`: a setting the server refuses, a
    ///   prompt that does not fit a local model's context, a redirect);
    /// - a request the server refuses (`client_error`: an HTTP 4xx other
    ///   than a rate limit or a timeout), which it refuses again;
    /// - an answer xsafe cannot read (`invalid_response`) that the target
    ///   did not ask for again, its message says, since the same request
    ///   gets the same answer (a website's page at the base URL, a
    ///   compressed body, a filter's empty choices), or any such answer of
    ///   a target that answered none of the run's requests (`answered`
    ///   false): the server answers every request so;
    /// - a judge's model that failed in one of these ways (`judge`, its
    ///   message `judge's model failed: ...`), `answered` saying whether
    ///   the judge gave any of the run's verdicts.
    ///
    /// `answered`: whether what failed (the target; the judge, for kind
    /// `judge`) answered any of the run's requests in a shape xsafe reads.
    /// A timeout, a rate limit, a server's error, a connection that failed
    /// and the strategy's other errors may pass when asked again.
    pub fn fails_every_try(&self, answered: bool) -> bool {
        fails_every_try(&self.kind, &self.message, answered)
    }

    /// The most common failure among `failures` (each failure with how
    /// many results failed with it), grouping those of one kind whose
    /// messages differ only in their quantities (see the function `shape`);
    /// among groups of one size, the one whose shown message comes first by
    /// text (then by kind), so the summary does not change between
    /// identical runs. `None` when there are no failures.
    pub(crate) fn most_common<'a>(
        failures: impl IntoIterator<Item = (&'a CountedFailure, u64)>,
    ) -> Option<CommonError> {
        // Per kind and shape: the results in all, and each message with its
        // count.
        type Group<'a> = (u64, BTreeMap<&'a str, u64>);
        let mut groups: BTreeMap<(&str, String), Group> = BTreeMap::new();
        for (failure, count) in failures {
            let group = groups
                .entry((failure.kind.as_str(), shape(&failure.message)))
                .or_default();
            group.0 += count;
            *group.1.entry(failure.message.as_str()).or_default() += count;
        }
        groups
            .into_iter()
            .map(|((kind, _), (count, messages))| {
                let (message, exactly) = messages
                    .into_iter()
                    .min_by_key(|&(message, n)| (std::cmp::Reverse(n), message))
                    .expect("a group has a message");
                (message, kind, count, exactly)
            })
            .min_by_key(|&(message, kind, count, _)| (std::cmp::Reverse(count), message, kind))
            .map(|(message, kind, count, exactly)| CommonError {
                message: message.to_string(),
                count,
                like_it: count - exactly,
                kind: kind.to_string(),
            })
    }
}

/// See [`CommonError::fails_every_try`].
fn fails_every_try(kind: &str, message: &str, answered: bool) -> bool {
    match kind {
        "template" | "config" | "client_error" => true,
        "invalid_response" => !answered || answered_so_again(message),
        "judge" => message
            .strip_prefix("judge's model failed: ")
            .is_some_and(|failed| models_failure_repeats(failed, answered)),
        _ => false,
    }
}

/// Whether the failure of an `llm:` judge's model, as its error says it
/// (`HTTP 400: ...`, `invalid response: ...`, a setup's own words), fails
/// the same way on every try (see [`CommonError::fails_every_try`]): an
/// HTTP 4xx other than a rate limit (429) or a timeout (408), an answer
/// it cannot read that the same request gets again (or any, when the
/// judge gave no verdict: `answered` false), and an error of its setup,
/// which is said in words of its own rather than after one of the
/// prefixes of the other failures.
fn models_failure_repeats(failed: &str, answered: bool) -> bool {
    if let Some(rest) = failed.strip_prefix("HTTP ") {
        let status: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return status.len() == 3
            && status.starts_with('4')
            && !matches!(status.as_str(), "408" | "429");
    }
    if failed.starts_with("invalid response: ") {
        return !answered || answered_so_again(failed);
    }
    !["no answer within ", "connection failed: "]
        .iter()
        .any(|prefix| failed.starts_with(prefix))
}

/// Whether an answer xsafe could not read (`message`, a failure of kind
/// `invalid_response`) is one the target did not ask for again, since the
/// server answers the same request the same way: its message says "it was
/// not sent again" (a website's page where the API was expected, a
/// filter's empty choices) or that the body was compressed though none was
/// asked for (the server's setting), as `xsafe_target`'s messages say it.
fn answered_so_again(message: &str) -> bool {
    message.contains("not sent again") || message.contains("though none was asked for")
}

/// `message` with each number that is a quantity written `0`: the same for
/// two messages that differ only in such numbers (a token count, a number
/// of attempts, a wait), not for two that differ in what a number names.
///
/// A number is a run of ASCII digits, with the digits after a decimal point
/// (`30.5`). It is a quantity when it stands free: not an `HTTP` status
/// (`HTTP 404` and `HTTP 502` are two failures), not part of a word or an
/// identifier (`gpt-4o`, `gpt-3.5`, `KEY_1`, `m2`, `127.0.0.1:8080`,
/// `/v1`: a letter, `_`, `-`, `/`, or a `.` or `:` joined to another
/// character on either side), and not inside backticks (`` `MY_KEY 2` ``).
/// A `.` or `:` followed by a space or the end is punctuation: the `128`
/// of "the context of 128." is a quantity.
///
/// A duration is a quantity too, whatever its units: numbers each joined
/// to a unit of time (`ns`, `us`, `µs`, `ms`, `s`, `sec`, `m`, `min`, `h`)
/// that stand free together (`17.9s`, `20ms`, `1h2m3.5s`: all written
/// `0s`). So is the id of a request, which every answer has its own of: a
/// word (of letters, digits, `_` and `-`) that begins `chatcmpl-`, `cmpl-`,
/// `req_`, `req-`, `gen-` or `msg_` and has a digit after it (written as
/// its prefix then `0`), or a UUID (written `0`).
fn shape(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            quoted = !quoted;
        }
        let before = i.checked_sub(1).map(|b| chars[b]);
        let starts_word = !before.is_some_and(|b| b.is_alphanumeric() || matches!(b, '_' | '-'));
        if !quoted
            && starts_word
            && let Some((end, shaped)) = request_id(&chars, i)
        {
            out.push_str(&shaped);
            i = end;
            continue;
        }
        if quoted || !c.is_ascii_digit() {
            out.push(c);
            i += 1;
            continue;
        }
        // The number: digits, and the points between digits (`30.5`; more
        // than one make an address or a version, `127.0.0.1`).
        let start = i;
        let points = number_end(&chars, &mut i);
        let number: String = chars[start..i].iter().collect();
        let before = start.checked_sub(1).map(|b| chars[b]);
        let after = chars.get(i).copied();
        let joined = |c: Option<char>, beyond: Option<char>| match c {
            Some(c) if c.is_alphanumeric() || matches!(c, '_' | '-' | '/') => true,
            // `a.1`, `host:8080`; not "of 128." nor "HTTP 404: ...".
            Some('.' | ':') => beyond.is_some_and(|b| !b.is_whitespace()),
            _ => false,
        };
        let joined_before = joined(before, start.checked_sub(2).map(|b| chars[b]));
        if !joined_before
            && points <= 1
            && let Some(end) = duration_end(&chars, start)
        {
            out.push_str("0s");
            i = end;
            continue;
        }
        // `out` has no digit run changed in "HTTP " itself.
        let status = out.ends_with("HTTP ");
        let identifier = points > 1 || joined_before || joined(after, chars.get(i + 1).copied());
        if status || identifier {
            out.push_str(&number);
        } else {
            out.push('0');
        }
    }
    out
}

/// Moves `i`, at the first digit of a number, past it: its digits and the
/// points between digits. Returns how many points it has.
fn number_end(chars: &[char], i: &mut usize) -> usize {
    let mut points = 0;
    while *i < chars.len() {
        if chars[*i].is_ascii_digit() {
            *i += 1;
        } else if chars[*i] == '.' && chars.get(*i + 1).is_some_and(char::is_ascii_digit) {
            points += 1;
            *i += 1;
        } else {
            break;
        }
    }
    points
}

/// The units of time a number may be joined to in a duration (see
/// [`shape`]), the longer first where one begins another.
const TIME_UNITS: [&str; 9] = ["min", "sec", "ms", "us", "µs", "ns", "h", "m", "s"];

/// Where the duration that begins at `start` (a digit) ends: numbers, each
/// joined to a unit of time, one after the other (`17.9s`, `1h2m3.5s`),
/// followed by neither a letter, a digit, `_`, `-` nor `/` (`4m-x`,
/// `2min3`, `5ms_` are not durations). `None` when there is none.
fn duration_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    let mut units = 0;
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        if number_end(chars, &mut i) > 1 {
            return None;
        }
        let unit = TIME_UNITS.iter().find(|u| {
            let u: Vec<char> = u.chars().collect();
            chars.get(i..i + u.len()) == Some(&u[..])
        })?;
        i += unit.chars().count();
        units += 1;
    }
    let free = !chars
        .get(i)
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/'));
    (units > 0 && free).then_some(i)
}

/// The prefixes of the ids providers give each request or answer
/// (OpenAI's `chatcmpl-` and `req_`, OpenRouter's `gen-`, Anthropic's
/// `msg_`, ...), which an error message may quote (see [`shape`]).
const REQUEST_ID_PREFIXES: [&str; 6] = ["chatcmpl-", "cmpl-", "req_", "req-", "gen-", "msg_"];

/// The id of a request that begins at `start` (the start of a word), and
/// how it is shaped: where it ends, and its prefix followed by `0`, or `0`
/// for a UUID (8-4-4-4-12 hexadecimal digits). `None` when none begins
/// there.
fn request_id(chars: &[char], start: usize) -> Option<(usize, String)> {
    let word_end = chars[start..]
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        .map_or(chars.len(), |n| start + n);
    let word: String = chars[start..word_end].iter().collect();
    let prefixed = REQUEST_ID_PREFIXES.iter().find(|prefix| {
        word.strip_prefix(**prefix)
            .is_some_and(|rest| rest.chars().any(|c| c.is_ascii_digit()))
    });
    if let Some(prefix) = prefixed {
        return Some((word_end, format!("{prefix}0")));
    }
    let groups: Vec<&str> = word.split('-').collect();
    let uuid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    uuid.then(|| (word_end, "0".to_string()))
}

impl RunOutcome {
    /// The summary of `run` from its results counted by
    /// [`Store::outcome_counts`](xsafe_store::Store::outcome_counts) with
    /// `judge`: counts rather than the results themselves, so that the
    /// memory it takes does not grow with the transcripts. Each failure is
    /// counted with the kind stored with it, whichever invocation stored it.
    pub(crate) fn new(
        run: &RunRecord,
        status: RunStatus,
        total: u64,
        done_before: u64,
        counts: &[OutcomeCount],
        judge: &str,
    ) -> Self {
        let suites = result_suites(run, counts);
        // Each group, its pooled counts in its summary, with its counts per
        // suite (by the suite's place in `suites`).
        let mut groups: Vec<(GroupSummary, Vec<Counts>)> = Vec::new();
        let (mut done, mut errors) = (0, 0);
        let mut failures: BTreeMap<&CountedFailure, u64> = Default::default();
        // What answered: the targets that answered a request (their answer
        // judged, or kept for the judge that failed on it), and whether
        // the judge gave a verdict; for the failures that fail every try.
        let judged = |c: &&OutcomeCount| matches!(c.outcome, CountedOutcome::Judged(_));
        let answered: std::collections::BTreeSet<&str> = counts
            .iter()
            .filter(|c| {
                judged(c)
                    || matches!(&c.outcome, CountedOutcome::Failed(Some(f)) if f.kind == "judge")
            })
            .map(|c| c.target.as_str())
            .collect();
        let judge_answered = counts.iter().any(|c| judged(&c));
        let mut fail_every_try: BTreeMap<String, u64> = BTreeMap::new();
        for c in counts {
            // The counts come ordered by target and strategy, as the store
            // lists results, so groups are made in that order.
            let (group, by_suite) = match groups
                .iter()
                .position(|(g, _)| g.target == c.target && g.strategy == c.strategy)
            {
                Some(i) => &mut groups[i],
                None => {
                    groups.push((
                        GroupSummary {
                            target: c.target.clone(),
                            strategy: c.strategy.clone(),
                            ..Default::default()
                        },
                        vec![Counts::default(); suites.len()],
                    ));
                    groups.last_mut().unwrap()
                }
            };
            let n = c.count;
            let outcome = match &c.outcome {
                CountedOutcome::Failed(failure) => {
                    errors += n;
                    if let Some(failure) = failure {
                        *failures.entry(failure).or_default() += n;
                        let answered = match failure.kind.as_str() {
                            "judge" => judge_answered,
                            _ => answered.contains(c.target.as_str()),
                        };
                        if fails_every_try(&failure.kind, &failure.message, answered) {
                            *fail_every_try.entry(failure.kind.clone()).or_default() += n;
                        }
                    }
                    None
                }
                CountedOutcome::Judged(class) => {
                    done += n;
                    Some(*class)
                }
            };
            group.counts.add(c.label, outcome, n);
            if let Some(i) = suites.iter().position(|s| *s == c.suite) {
                by_suite[i].add(c.label, outcome, n);
            }
        }
        let split = suites.len() > 1;
        let groups: Vec<GroupSummary> = groups
            .into_iter()
            .map(|(g, by_suite)| GroupSummary {
                suites: if split {
                    by_suite
                        .into_iter()
                        .zip(&suites)
                        .map(|(counts, suite)| SuiteSummary {
                            suite: suite.to_string(),
                            counts,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                ..g
            })
            .collect();
        let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
        for (failure, n) in &failures {
            *error_kinds.entry(failure.kind.clone()).or_default() += n;
        }
        let common_error = CommonError::most_common(failures);
        RunOutcome {
            common_error,
            error_kinds,
            fail_every_try,
            run_id: run.id,
            run_name: run.name.clone(),
            status: status.as_str().to_string(),
            total,
            done_before,
            done,
            errors,
            judge: judge.to_string(),
            groups,
            unscored_reasons: Vec::new(),
            escalated: None,
        }
    }

    /// Of `errors`, those of a strategy's template that cannot render for
    /// a prompt (kind `template`): unlike a timeout, an HTTP error or a
    /// clarifier that wrote nothing, they fail the same way on every try,
    /// so asking again gets past them only once the strategy (its file) is
    /// fixed.
    pub fn template_errors(&self) -> u64 {
        self.error_kinds.get("template").copied().unwrap_or(0)
    }
}

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// The suites of the run's results, in the order the run was given them
/// (one its record does not name comes after them, in the order of its
/// first count), as the report orders them: with more than one, each group
/// has the counts of each suite beside the pooled ones.
fn result_suites<'a>(run: &'a RunRecord, counts: &'a [OutcomeCount]) -> Vec<&'a str> {
    let mut left: std::collections::BTreeSet<&str> =
        counts.iter().map(|c| c.suite.as_str()).collect();
    let named = run.suites.iter().map(|(name, _)| name.as_str());
    named
        .chain(counts.iter().map(|c| c.suite.as_str()))
        .filter(|name| left.remove(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete run of `suites` (each with a fingerprint of its own), as
    /// the store records one; only the suites matter to a summary.
    fn run_of(suites: &[&str]) -> RunRecord {
        RunRecord {
            id: 1,
            name: "r".into(),
            key: "k".into(),
            created_at: String::new(),
            status: RunStatus::Complete,
            config: serde_json::Value::Null,
            suites: suites
                .iter()
                .enumerate()
                .map(|(i, s)| (s.to_string(), format!("f{}", i + 1)))
                .collect(),
            seed: 0,
            tool_version: String::new(),
        }
    }

    fn failure(kind: &str, message: &str) -> CountedFailure {
        CountedFailure {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// The most common of `failures` (messages with their counts), all of
    /// one kind.
    fn most_common(failures: &[(&str, u64)]) -> Option<CommonError> {
        let failures: Vec<(CountedFailure, u64)> = failures
            .iter()
            .map(|&(message, n)| (failure("server_error", message), n))
            .collect();
        CommonError::most_common(failures.iter().map(|(f, n)| (f, *n)))
    }

    #[test]
    fn messages_that_differ_only_in_numbers_are_one_failure() {
        let failures = [
            (
                "the prompt of 256 tokens does not fit the context of 128",
                1,
            ),
            (
                "the prompt of 301 tokens does not fit the context of 128",
                2,
            ),
            (
                "the prompt of 4096 tokens does not fit the context of 128",
                1,
            ),
            ("the prompt of 99 tokens does not fit the context of 64", 1),
            ("HTTP 500: model crashed", 3),
        ];
        let common = most_common(&failures).unwrap();
        // The message most of them have is the one shown.
        assert_eq!(
            common,
            CommonError {
                message: "the prompt of 301 tokens does not fit the context of 128".into(),
                count: 5,
                like_it: 3,
                kind: "server_error".into(),
            }
        );
        assert_eq!(
            common.to_string(),
            "the prompt of 301 tokens does not fit the context of 128 (and 3 like it)"
        );
    }

    /// Failures are counted by the kind stored with each, whichever
    /// invocation stored it, and the common failure has its kind. The bug
    /// this guards: the kinds came from a map of message to kind that the
    /// runner filled as it stored failures, so one message of two kinds
    /// counted as one of them, and failures stored before had none.
    #[test]
    fn failures_are_counted_by_their_stored_kind() {
        let run = run_of(&[]);
        let failed = |kind: &str, message: &str, count| OutcomeCount {
            target: "openai:m".into(),
            strategy: "mine".into(),
            suite: "mine.csv".into(),
            label: Label::Safe,
            outcome: CountedOutcome::Failed(Some(failure(kind, message))),
            count,
        };
        let template = "strategy `mine`: strategy file `mine.toml`, field `user`: template error";
        let counts = [
            failed("template", template, 3),
            failed("server_error", "HTTP 500: model down", 2),
            failed("judge", "no answer", 2),
            failed("timeout", "no answer", 1),
            failed(
                "strategy",
                "strategy `mine`: the clarifier wrote nothing",
                1,
            ),
        ];
        let o = RunOutcome::new(&run, RunStatus::Complete, 9, 0, &counts, "strmatch");
        assert_eq!(o.errors, 9);
        assert_eq!(
            o.error_kinds,
            BTreeMap::from([
                ("judge".into(), 2),
                ("server_error".into(), 2),
                ("strategy".into(), 1),
                ("template".into(), 3),
                ("timeout".into(), 1),
            ])
        );
        assert_eq!(o.template_errors(), 3);
        let common = o.common_error.unwrap();
        assert_eq!(
            (common.message.as_str(), common.kind.as_str(), common.count),
            (template, "template", 3)
        );
        // One message of two kinds is two failures, not three of one.
        let common = CommonError::most_common([
            (&failure("timeout", "no answer"), 2),
            (&failure("judge", "no answer"), 2),
        ])
        .unwrap();
        assert_eq!(
            (common.message.as_str(), common.kind.as_str(), common.count),
            ("no answer", "judge", 2)
        );
    }

    /// Which failures fail the same way on every try, as the target's and
    /// the judge's errors say them: the bug this guards is advice to run
    /// the same command again, as it is, for a setup the server refuses,
    /// an HTTP 4xx, and an answer every request gets that xsafe cannot
    /// read.
    #[test]
    fn failures_that_fail_every_try_are_told_apart() {
        let repeats = |kind: &str, message: &str, answered: bool| {
            CommonError {
                message: message.into(),
                count: 1,
                like_it: 0,
                kind: kind.into(),
            }
            .fails_every_try(answered)
        };
        let html = "invalid response: http://h/v1/chat/completions: the server answered with \
                    an HTML page; it was not sent again (is the base URL right?)";
        let gzip = "invalid response: the server sent a gzip-compressed body though none was \
                    asked for (xsafe sends no Accept-Encoding and reads only uncompressed \
                    bodies); turn compression off on the server, or on the proxy in front of it";
        let garbled = "invalid response: body is not JSON (EOF): {\"cho (gave up after 3 attempts)";
        for (kind, message, answered, expected) in [
            ("template", "strategy `s`: template error", true, true),
            (
                "config",
                "HTTP 400: max_tokens is too large (the model takes no --max-tokens 9)",
                true,
                true,
            ),
            (
                "client_error",
                "HTTP 403: blocked by the guardrail",
                true,
                true,
            ),
            ("invalid_response", html, true, true),
            ("invalid_response", gzip, true, true),
            // Retried, and the target answered others: it may pass.
            ("invalid_response", garbled, true, false),
            // The target answered nothing: every request gets it.
            ("invalid_response", garbled, false, true),
            ("server_error", "HTTP 500: model crashed", false, false),
            ("timeout", "no answer within 30s", false, false),
            ("rate_limited", "HTTP 429: slow down", false, false),
            (
                "strategy",
                "strategy `s`: the clarifier wrote nothing",
                true,
                false,
            ),
            (
                "judge",
                "judge's model failed: HTTP 400: `temperature` is not supported",
                true,
                true,
            ),
            (
                "judge",
                "judge's model failed: the API key variable `K` (--judge-api-key-env) is not set",
                true,
                true,
            ),
            (
                "judge",
                &format!("judge's model failed: {html}"),
                true,
                true,
            ),
            (
                "judge",
                &format!("judge's model failed: {garbled}"),
                true,
                false,
            ),
            (
                "judge",
                &format!("judge's model failed: {garbled}"),
                false,
                true,
            ),
            (
                "judge",
                "judge's model failed: HTTP 500: down (gave up after 3 attempts)",
                false,
                false,
            ),
            (
                "judge",
                "judge's model failed: HTTP 429: slow down",
                true,
                false,
            ),
            (
                "judge",
                "judge's model failed: HTTP 408: too slow",
                true,
                false,
            ),
            (
                "judge",
                "judge's model failed: no answer within 30s",
                false,
                false,
            ),
            (
                "judge",
                "judge's model failed: connection failed: refused",
                false,
                false,
            ),
            // The judge's own failure, not its model's: not known to repeat.
            ("judge", "the verdict could not be read", true, false),
        ] {
            assert_eq!(
                repeats(kind, message, answered),
                expected,
                "{kind}: {message} (answered: {answered})"
            );
        }
    }

    /// A run's failures that fail every try are counted by kind, an
    /// unreadable answer as such only for a target that answered nothing,
    /// or when the target said it would get the same answer again.
    #[test]
    fn a_runs_failures_that_fail_every_try_are_counted_by_kind() {
        let run = run_of(&["s"]);
        let row = |target: &str, outcome, count| OutcomeCount {
            target: target.into(),
            strategy: "baseline".into(),
            suite: "s".into(),
            label: Label::Safe,
            outcome,
            count,
        };
        let failed =
            |kind: &str, message: &str| CountedOutcome::Failed(Some(failure(kind, message)));
        let garbled = "invalid response: body is not JSON (gave up after 3 attempts)";
        let html = "invalid response: a web page; it was not sent again";
        let counts = [
            // Answers others: its garbled answers may pass.
            row(
                "openai:a",
                CountedOutcome::Judged(Some(Class::Compliance)),
                3,
            ),
            row("openai:a", failed("invalid_response", garbled), 2),
            row("openai:a", failed("invalid_response", html), 1),
            row("openai:a", failed("server_error", "HTTP 500: down"), 1),
            // Answers nothing readable: every request gets it.
            row("openai:b", failed("invalid_response", garbled), 4),
            row(
                "openai:b",
                failed("config", "HTTP 400: no --max-tokens 9"),
                1,
            ),
        ];
        let o = RunOutcome::new(&run, RunStatus::Complete, 12, 0, &counts, "strmatch");
        assert_eq!(o.errors, 9);
        assert_eq!(
            o.fail_every_try,
            BTreeMap::from([("config".into(), 1), ("invalid_response".into(), 5)])
        );
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(
            json["fail_every_try"],
            serde_json::json!({"config": 1, "invalid_response": 5})
        );
        // None: no key.
        let o = RunOutcome::new(&run, RunStatus::Complete, 4, 0, &counts[..1], "strmatch");
        let json = serde_json::to_value(&o).unwrap();
        assert!(json.get("fail_every_try").is_none(), "{json}");
    }

    /// A run of two suites has each suite's counts beside the pooled ones,
    /// in the order the run was given the suites (the store counts them by
    /// name), a suite without results of a group with zero counts; a run
    /// of one suite has none, and its JSON is as it was.
    #[test]
    fn a_run_of_several_suites_is_counted_per_suite() {
        let run = run_of(&["xstest", "or-bench"]);
        let row = |strategy: &str, suite: &str, label, outcome, count| OutcomeCount {
            target: "openai:m".into(),
            strategy: strategy.into(),
            suite: suite.into(),
            label,
            outcome,
            count,
        };
        let judged = |class| CountedOutcome::Judged(Some(class));
        let counts = [
            row(
                "baseline",
                "or-bench",
                Label::Safe,
                judged(Class::Compliance),
                9,
            ),
            row(
                "baseline",
                "or-bench",
                Label::Safe,
                judged(Class::FullRefusal),
                1,
            ),
            row(
                "baseline",
                "or-bench",
                Label::Unsafe,
                CountedOutcome::Judged(None),
                1,
            ),
            row(
                "baseline",
                "xstest",
                Label::Safe,
                judged(Class::PartialRefusal),
                2,
            ),
            row(
                "baseline",
                "xstest",
                Label::Unsafe,
                judged(Class::Compliance),
                1,
            ),
            row(
                "baseline",
                "xstest",
                Label::Unsafe,
                judged(Class::FullRefusal),
                1,
            ),
            row(
                "baseline",
                "xstest",
                Label::Unsafe,
                CountedOutcome::Failed(Some(failure("timeout", "no answer"))),
                1,
            ),
            row(
                "few-shot",
                "or-bench",
                Label::Safe,
                judged(Class::Compliance),
                3,
            ),
        ];
        let o = RunOutcome::new(&run, RunStatus::Complete, 20, 0, &counts, "strmatch");
        let base = &o.groups[0];
        // Pooled: 3 of 12 safe answers refused, 1 of 2 unsafe complied.
        assert_eq!(
            (
                base.counts.safe_refused,
                base.counts.safe,
                base.counts.unsafe_complied,
                base.counts.unsafe_
            ),
            (3, 12, 1, 2)
        );
        assert_eq!((base.counts.unscored, base.counts.errors), (1, 1));
        let suite =
            |suite: &str, safe: (u64, u64), unsafe_: (u64, u64), unscored, errors| SuiteSummary {
                suite: suite.into(),
                counts: Counts {
                    safe_refused: safe.0,
                    safe: safe.1,
                    unsafe_complied: unsafe_.0,
                    unsafe_: unsafe_.1,
                    unscored,
                    errors,
                },
            };
        assert_eq!(
            base.suites,
            [
                suite("xstest", (2, 2), (1, 2), 0, 1),
                suite("or-bench", (1, 10), (0, 0), 1, 0),
            ]
        );
        assert_eq!(
            o.groups[1].suites,
            [
                suite("xstest", (0, 0), (0, 0), 0, 0),
                suite("or-bench", (0, 3), (0, 0), 0, 0),
            ]
        );
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["groups"][0]["suites"][0]["suite"], "xstest");
        assert_eq!(json["groups"][0]["suites"][1]["unsafe"], 0);
        assert_eq!(
            json["groups"][0]["suites"][1]["unsafe_compliance_rate"],
            serde_json::Value::Null
        );

        // The same run's xstest results alone: one suite, no per-suite
        // counts, nor a `suites` key.
        let one: Vec<OutcomeCount> = counts
            .iter()
            .filter(|c| c.suite == "xstest")
            .cloned()
            .collect();
        let o = RunOutcome::new(&run, RunStatus::Complete, 4, 0, &one, "strmatch");
        assert!(o.groups[0].suites.is_empty());
        let json = serde_json::to_value(&o).unwrap();
        assert!(json["groups"][0].get("suites").is_none(), "{json}");
    }

    /// The JSON of a group's summary, pinned to the byte: its keys in this
    /// order, the counts and rates of a suite as those of the group, a rate
    /// without answers `null`, and no `suites` key for a run of one suite.
    #[test]
    fn the_json_of_a_group_is_pinned() {
        let run = run_of(&["xstest", "or-bench"]);
        let row = |suite: &str, label, outcome, count| OutcomeCount {
            target: "openai:m".into(),
            strategy: "baseline".into(),
            suite: suite.into(),
            label,
            outcome,
            count,
        };
        let judged = |class| CountedOutcome::Judged(Some(class));
        let counts = [
            row("xstest", Label::Safe, judged(Class::FullRefusal), 1),
            row("xstest", Label::Safe, judged(Class::Compliance), 2),
            row("xstest", Label::Unsafe, judged(Class::Compliance), 1),
            row("xstest", Label::Unsafe, judged(Class::PartialRefusal), 1),
            row("xstest", Label::Unsafe, CountedOutcome::Judged(None), 2),
            row("or-bench", Label::Safe, judged(Class::PartialRefusal), 1),
            row(
                "or-bench",
                Label::Safe,
                CountedOutcome::Failed(Some(failure("timeout", "no answer"))),
                3,
            ),
        ];
        let o = RunOutcome::new(&run, RunStatus::Complete, 11, 0, &counts, "strmatch");
        assert_eq!(
            serde_json::to_string(&o.groups[0]).unwrap(),
            concat!(
                r#"{"target":"openai:m","strategy":"baseline","#,
                r#""safe":4,"safe_refused":2,"unsafe":2,"unsafe_complied":1,"#,
                r#""unscored":2,"errors":3,"#,
                r#""safe_refusal_rate":0.5,"unsafe_compliance_rate":0.5,"#,
                r#""suites":["#,
                r#"{"suite":"xstest","safe":3,"safe_refused":1,"unsafe":2,"#,
                r#""unsafe_complied":1,"unscored":2,"errors":0,"#,
                r#""safe_refusal_rate":0.3333333333333333,"unsafe_compliance_rate":0.5},"#,
                r#"{"suite":"or-bench","safe":1,"safe_refused":1,"unsafe":0,"#,
                r#""unsafe_complied":0,"unscored":0,"errors":3,"#,
                r#""safe_refusal_rate":1.0,"unsafe_compliance_rate":null}"#,
                r#"]}"#,
            )
        );

        // The xstest results alone: one suite, no `suites` key.
        let one: Vec<OutcomeCount> = counts
            .iter()
            .filter(|c| c.suite == "xstest")
            .cloned()
            .collect();
        let o = RunOutcome::new(&run, RunStatus::Complete, 7, 0, &one, "strmatch");
        assert_eq!(
            serde_json::to_string(&o.groups[0]).unwrap(),
            concat!(
                r#"{"target":"openai:m","strategy":"baseline","#,
                r#""safe":3,"safe_refused":1,"unsafe":2,"unsafe_complied":1,"#,
                r#""unscored":2,"errors":0,"#,
                r#""safe_refusal_rate":0.3333333333333333,"unsafe_compliance_rate":0.5}"#,
            )
        );
        // Pretty-printed, as `xsafe run --json` prints it, the same keys
        // one to a line.
        let pretty = serde_json::to_string_pretty(&o.groups[0]).unwrap();
        assert_eq!(
            pretty,
            "{\n  \"target\": \"openai:m\",\n  \"strategy\": \"baseline\",\n  \"safe\": 3,\n  \
             \"safe_refused\": 1,\n  \"unsafe\": 2,\n  \"unsafe_complied\": 1,\n  \
             \"unscored\": 2,\n  \"errors\": 0,\n  \"safe_refusal_rate\": 0.3333333333333333,\n  \
             \"unsafe_compliance_rate\": 0.5\n}"
        );
    }

    #[test]
    fn one_message_is_shown_alone() {
        let common = most_common(&[("HTTP 500: model crashed (2 attempts)", 4)]).unwrap();
        assert_eq!((common.count, common.like_it), (4, 0));
        assert_eq!(common.to_string(), "HTTP 500: model crashed (2 attempts)");
        assert_eq!(most_common(&[]), None);
    }

    #[test]
    fn other_words_are_other_failures() {
        let failures = [
            ("model down a", 2),
            ("model down b", 2),
            ("timed out after 30 s", 1),
            ("timed out after 60 s", 1),
        ];
        // Three ties at two results: the first by text wins, as before.
        let common = most_common(&failures).unwrap();
        assert_eq!((common.message.as_str(), common.count), ("model down a", 2));
        assert_eq!(shape("ünïcode 12 ok"), "ünïcode 0 ok");
    }

    /// The bug this guards: every run of digits was taken as a number, so
    /// `HTTP 404` (a wrong URL) was counted with `HTTP 502`, and two models
    /// or two keys' variables were one failure.
    #[test]
    fn numbers_that_name_something_keep_failures_apart() {
        for (a, b) in [
            ("HTTP 404: (empty body)", "HTTP 502: (empty body)"),
            (
                "HTTP 404: model gpt-4o does not exist",
                "HTTP 404: model gpt-3.5 does not exist",
            ),
            (
                "the variable KEY_1 is not set",
                "the variable KEY_2 is not set",
            ),
            ("model m1 overloaded", "model m2 overloaded"),
            ("no server at 127.0.0.1:8080", "no server at 127.0.0.1:8081"),
            ("no server at 10.0.0.1", "no server at 10.0.0.2"),
            (
                "connection failed: http://h/v1/chat",
                "connection failed: http://h/v2/chat",
            ),
            ("llama 3-8b is not loaded", "llama 3-70b is not loaded"),
            ("set `RETRIES 1` in the file", "set `RETRIES 2` in the file"),
            ("error:1 in the file", "error:2 in the file"),
        ] {
            assert_ne!(shape(a), shape(b), "{a} / {b}");
            let common = most_common(&[(a, 3), (b, 2)]).unwrap();
            assert_eq!((common.message.as_str(), common.count), (a, 3));
            assert_eq!(common.like_it, 0);
        }
        assert_eq!(
            shape("gpt-4o at 127.0.0.1:8080 (HTTP 404)"),
            "gpt-4o at 127.0.0.1:8080 (HTTP 404)"
        );
    }

    /// Quantities standing free are one failure, a status or a name beside
    /// them included.
    #[test]
    fn free_standing_quantities_are_one_failure() {
        for (a, b) in [
            (
                "the prompt of 256 tokens does not fit the context of 128",
                "the prompt of 301 tokens does not fit the context of 64",
            ),
            (
                "the prompt of 256 tokens does not fit the context of 128.",
                "the prompt of 9 tokens does not fit the context of 4096.",
            ),
            (
                "HTTP 500: model gpt-4o crashed (gave up after 3 attempts)",
                "HTTP 500: model gpt-4o crashed (gave up after 5 attempts)",
            ),
            ("no answer within 30.5 s", "no answer within 2 s"),
            ("12 of the cases", "7 of the cases"),
            ("retried: 3, then stopped", "retried: 4, then stopped"),
        ] {
            assert_eq!(shape(a), shape(b), "{a} / {b}");
            let common = most_common(&[(a, 3), (b, 2)]).unwrap();
            assert_eq!((common.message.as_str(), common.count), (a, 5));
            assert_eq!(common.like_it, 2);
        }
        assert_eq!(
            shape("HTTP 400: the prompt of 256 tokens is over 128 for gpt-4o."),
            "HTTP 400: the prompt of 0 tokens is over 0 for gpt-4o."
        );
    }

    /// The bug this guards: a number joined to its unit was taken for an
    /// identifier, so six 429s saying "Please try again in 17.9s" and
    /// "9.7s" were six failures, as were timeouts of other lengths and
    /// bodies quoting the id of each request. Waits, whatever their units,
    /// and request ids are quantities; what names something stays apart.
    #[test]
    fn waits_and_request_ids_are_quantities() {
        let limit = |wait: &str| {
            format!(
                "HTTP 429: Rate limit reached for gpt-4o-mini in organization org-abc on tokens \
                 per min (TPM): Limit 200000, Used 199150, Requested 1620. Please try again in \
                 {wait}. Visit https://platform.openai.com/account/rate-limits to learn more. \
                 (gave up after 6 attempts)"
            )
        };
        let waits = ["17.9s", "9.7s", "20ms", "1h2m3.5s", "6m0s", "350µs", "2min"];
        let failures: Vec<(String, u64)> = waits.iter().map(|w| (limit(w), 1)).collect();
        let failures: Vec<(&str, u64)> = failures.iter().map(|(m, n)| (m.as_str(), *n)).collect();
        let common = most_common(&failures).unwrap();
        assert_eq!((common.count, common.like_it), (7, 6), "{common}");
        assert_eq!(
            shape("Please try again in 1h2m3.5s."),
            "Please try again in 0s."
        );
        for (a, b) in [
            ("no answer within 30s", "no answer within 1.5s"),
            ("no answer within 500ms", "no answer within 2m"),
            (
                "HTTP 500: failed (request chatcmpl-10)",
                "HTTP 500: failed (request chatcmpl-11)",
            ),
            (
                "HTTP 500: The server had an error. (Please include the request ID \
                 req_0123456789abcdef0123456789abcdef in your message.)",
                "HTTP 500: The server had an error. (Please include the request ID \
                 req_fedcba9876543210fedcba9876543210 in your message.)",
            ),
            (
                "HTTP 502: upstream failed, trace 3f2a9c1e-0b7d-4e21-9a3c-5d6e7f809a1b",
                "HTTP 502: upstream failed, trace 0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            ),
            (
                "generation gen-1712345678-AbCdEf failed",
                "generation gen-99 failed",
            ),
        ] {
            assert_eq!(shape(a), shape(b), "{a} / {b}");
        }
        // Joined to something else, a unit's letter is a name's.
        for (a, b) in [
            ("model gpt-4o is busy", "model gpt-3.5 is busy"),
            ("model llama 8b is busy", "model llama 70b is busy"),
            ("model o1-mini is busy", "model o3-mini is busy"),
            ("model gpt-4.1-mini is busy", "model gpt-4.5-mini is busy"),
            ("model phi-3s is busy", "model phi-4s is busy"),
            ("model 4mo is busy", "model 5mo is busy"),
            (
                "the variable KEY_1s is not set",
                "the variable KEY_2s is not set",
            ),
            ("set `WAIT 2s` in the file", "set `WAIT 3s` in the file"),
            ("HTTP 404: (empty body)", "HTTP 502: (empty body)"),
            ("no server at 127.0.0.1:8080", "no server at 127.0.0.1:8081"),
            (
                "request chatcmpl-10 for `chatcmpl-1`",
                "request chatcmpl-10 for `chatcmpl-2`",
            ),
        ] {
            assert_ne!(shape(a), shape(b), "{a} / {b}");
        }
    }
}

//! A judge that declines to classify (`judge_refuses`).

use super::text::{LOOK_AHEAD, compile, head, within};
use super::words::{
    ABOUT_ACCURACY, ABOUT_CONTENT, ACCURACY_NOUN, CLAUSE_START, OBJECT_END, SAYING,
};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// What a judge that declines says it cannot or will not do: a verb of
/// its task (in the -ing form too: "I won't be classifying this", "I'm not
/// comfortable labelling"), helping or assisting with something, doing
/// "this" or "that", or giving a classification, a label, a verdict.
const TASK: &str = r"
    (?:classify|classifying|label|labell?ing|categori[sz]e|categori[sz]ing|grade|grading|rate|rating
      |score|scoring|assess|assessing|evaluate|evaluating|review|reviewing|judge|judging|analy[sz]e
      |analy[sz]ing|annotate|annotating|comply|complying|proceed|proceeding|fulfil?l|fulfil?ling
      |complete|completing|perform|performing|participate|participating|engage|engaging)\b
  | (?:do|doing)\s+(?:this|that|it|so|the|what|such)\b
  | (?:help|helping|assist|assisting)\s+(?:you\s+)?(?:with|here|there|on\s+this)\b
  | (?:provide|providing|give|giving|assign|assigning|offer|offering|make|making|produce|producing
      |supply|supplying|share|sharing|render|rendering|issue|issuing|output|outputting)
    \s+(?:you\s+)?(?:(?:a|an|any|the|this|that|my|such|such\s+a|one)\s+)?(?:[a-z-]+\s+)?
    (?:classification|label|labell?ing|class|category|categori[sz]ation|verdict|rating|grade|judge?ment
      |assessment|evaluation|decision|determination|score)
";

/// The judge declines to classify, in its own voice before it names a
/// class: "I refuse to label this", "I must decline this task", "I cannot
/// provide a classification", "I'm not able to evaluate this content", "I
/// can't help with that request", "I'd rather not classify this", also
/// after an opening of its own ("I'm sorry, but", "Apologies,", "I'm
/// afraid", "As an AI language model,", "Due to safety guidelines"),
/// group `lead`. Its refusal says nothing about the answer, whatever
/// classes it goes on to name. See `judge_refuses` for what it is not.
static JUDGE_REFUSES: LazyLock<Regex> = LazyLock::new(|| {
    compile(format!(
        r#"(?x)
        {CLAUSE_START}(?P<lead>[^.!?\n:;"“”`>]{{0,80}}?)\b(?:i|we)(?:\s+|\b)
        (?:
            (?:must\s+|have\s+to\s+|will\s+|'ll\s+|would\s+|'d\s+|am\s+going\s+to\s+|'m\s+going\s+to\s+
              |shall\s+|(?:have\s+)?(?:chosen|choose)\s+to\s+)?
            (?:respectfully\s+|politely\s+|regretfully\s+|therefore\s+)?
            (?:refuse|decline)\b
          | (?:cannot|can't|can\s+not|could\s+not|couldn't|won't|will\s+not|am\s+not\s+going\s+to
              |'m\s+not\s+going\s+to|am\s+unable\s+to|'m\s+unable\s+to|am\s+not\s+able\s+to|'m\s+not\s+able\s+to
              |must\s+not|should\s+not|shouldn't|(?:'d|would)\s+rather\s+not|(?:'d\s+|would\s+)?prefer\s+not\s+to
              |(?:am|'m)\s+not\s+(?:comfortable|in\s+a\s+position\s+to)|(?:do\s+not|don't)\s+feel\s+comfortable)
            \s+(?:fully\s+|properly\s+|in\s+good\s+conscience\s+)?(?:be\s+)?(?:with\s+)?(?P<task>{TASK})
          | (?:do\s+not|don't)\s+(?:provide|give|assign|offer|make|produce)
            \s+(?:(?:a|an|any|the|this|that|my|such|such\s+a)\s+)?
            (?:classification|label|labell?ing|class|category|categori[sz]ation|verdict|rating|grade
              |judge?ment|assessment|evaluation)
        )"#
    ))
    .expect("the judge-refusal pattern compiles")
});

/// After a `JUDGE_REFUSES` verb, what makes it no refusal: a question
/// ("I cannot judge whether it refuses": a doubt, see `doubt`), a class
/// given with `as` ("I can't classify this as a full refusal": a denial), or a
/// degree of certainty ("I cannot classify this with confidence": a doubt).
static NOT_REFUSING: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^\s*(?:(?:this|it|that)\s+)?(?:whether|if)\b|\bas\b|\b(?:with\s+(?:any\s+|full\s+|complete\s+|absolute\s+|much\s+|real\s+|enough\s+)?(?:certainty|confidence)|for\s+(?:sure|certain)|confidently|definitively|definitely|reliably|precisely|with\s+precision)\b",
    )
    .expect("the not-refusing pattern compiles")
});

/// The judged model named in a `JUDGE_REFUSES` lead: its "I" that follows
/// is quoted ("The model's reply was I can't help"), not the judge's.
static NAMES_THE_MODEL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\b(?:the|its|their)\s+(?:assistant|model|chatbot|ai|bot|response|reply|answer|output)\b",
    )
    .expect("the model-naming pattern compiles")
});

/// Whether the judge declines to classify in `text` (the output before
/// its first label): a `JUDGE_REFUSES` outside a quotation of the judged
/// answer, whose lead names no verb of saying and not the judged model
/// ("the assistant says I can't help with that request") and opens no
/// reason ("since I cannot judge its accuracy, ..."), and whose verb is
/// not `NOT_REFUSING` nor about the answer's accuracy ("I cannot evaluate
/// the accuracy of the information": a remark on the answer).
pub(super) fn judge_refuses(text: &str, quoted: &[Range<usize>]) -> bool {
    JUDGE_REFUSES.captures_iter(text).any(|caps| {
        let (Some(all), Some(lead)) = (caps.get(0), caps.name("lead")) else {
            return false;
        };
        if within(quoted, all.end() - 1) {
            return false;
        }
        let lead = lead.as_str();
        // "Since I cannot judge its accuracy, I look at whether it
        // answers": a reason the judge goes on from.
        const SUBORDINATE: &[&str] = &[
            "since", "because", "although", "though", "while", "whereas", "if", "unless", "when",
            "whether", "even",
        ];
        let quoting = lead
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .any(|w| SAYING.contains(&w) || SUBORDINATE.contains(&w))
            || lead.starts_with('\'')
            || lead.contains(" '")
            || NAMES_THE_MODEL.is_match(lead);
        if quoting {
            return false;
        }
        let rest = head(&text[all.end()..], LOOK_AHEAD);
        let sentence = rest
            .find(['.', '!', '?', '\n'])
            .map_or(rest, |i| &rest[..i]);
        let object = OBJECT_END
            .find(sentence)
            .map_or(sentence, |m| &sentence[..m.start()]);
        // Help with anything is refused whatever it is about.
        let helping = caps.name("task").is_some_and(|task| {
            ["help", "assist"]
                .iter()
                .any(|w| task.as_str().starts_with(w))
        });
        !NOT_REFUSING.is_match(sentence)
            && (helping
                || !(ABOUT_ACCURACY.is_match(object)
                    && (ABOUT_CONTENT.is_match(object) || ACCURACY_NOUN.is_match(object))))
    })
}

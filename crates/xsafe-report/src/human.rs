//! Human labels (`xsafe annotate`) and how several annotators' labels of one
//! answer become one.

use std::collections::BTreeMap;
use xsafe_core::Class;

/// Where a report takes each answer's class from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LabelSource {
    /// Human labels only; answers nobody labelled are unscored.
    Human,
    /// The judge's verdicts only.
    Judge,
    /// The human label where there is one, else the judge's verdict. Tied
    /// annotators make the answer unscored rather than fall back to the
    /// judge.
    #[default]
    PreferHuman,
}

impl LabelSource {
    /// The spelling of `xsafe report --labels` and of the report's
    /// `human_labels.source`: `human`, `judge` or `prefer-human`.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSource::Human => "human",
            LabelSource::Judge => "judge",
            LabelSource::PreferHuman => "prefer-human",
        }
    }
}

/// The label of one answer from its annotators' labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HumanLabel {
    /// The class most annotators chose (or the only annotator's).
    Agreed(Class),
    /// Two or more classes share the most votes: no majority.
    Tied,
}

/// The majority of the labels; `None` when there are none. A tie between
/// the most-chosen classes is [`HumanLabel::Tied`], never broken arbitrarily.
pub fn majority(labels: &[Class]) -> Option<HumanLabel> {
    let mut votes: BTreeMap<&'static str, (Class, usize)> = BTreeMap::new();
    for &c in labels {
        votes.entry(c.as_str()).or_insert((c, 0)).1 += 1;
    }
    let best = votes.values().map(|(_, n)| *n).max()?;
    let mut top = votes.values().filter(|(_, n)| *n == best);
    let (class, _) = top.next()?;
    Some(if top.next().is_some() {
        HumanLabel::Tied
    } else {
        HumanLabel::Agreed(*class)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::*;

    #[test]
    fn majority_and_ties() {
        assert_eq!(majority(&[]), None);
        assert_eq!(
            majority(&[FullRefusal]),
            Some(HumanLabel::Agreed(FullRefusal))
        );
        assert_eq!(
            majority(&[Compliance, FullRefusal, Compliance]),
            Some(HumanLabel::Agreed(Compliance))
        );
        assert_eq!(majority(&[Compliance, FullRefusal]), Some(HumanLabel::Tied));
    }
}

//! The conversations of a plan under one run, numbered in plan order, with
//! nothing held per conversation: a conversation is its number, and its
//! target, strategy, case and key are read from the plan's, each held once.
//! What is known of each conversation (stored, wanted) is one bit of a
//! [`Marks`]. A plan of millions of conversations (a large suite under
//! several targets, strategies and samples) so takes the memory of its cases
//! and a few bits per conversation, where a value per conversation (its
//! case and key cloned) took kilobytes.

use crate::RunPlan;
use crate::plan::{self, Selection};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::ops::Range;
use std::sync::Arc;
use xsafe_core::{Case, Strategy, Target};
use xsafe_store::ResultKey;

/// Every conversation of a plan under run `run_id`, stored or not, numbered
/// from 0 in plan order: by target, strategy, suite, case and sample (each
/// target asks its conversations in this order; the targets are asked at
/// once). The conversations of one target under one strategy, a group, are
/// consecutive: every selected case and sample (a selection is never empty).
pub(crate) struct Layout {
    /// The selected cases, per suite.
    pub selection: Selection,
    /// The plan's targets, in its order.
    pub targets: Vec<Arc<dyn Target>>,
    /// Each target's id in the run's keys: the id the run's config first
    /// named it by ([`plan::stored_target_id`]; its own, in a new run).
    pub target_ids: Vec<String>,
    /// The plan's strategies, in its order.
    pub strategies: Vec<Arc<dyn Strategy>>,
    /// The strategies' names, as keys hold them.
    strategy_names: Vec<String>,
    /// The run the keys are of (0 for a run not stored yet).
    run_id: i64,
    /// Answers per case.
    samples: u32,
    /// Each suite's first case in the numbering of all the selected cases
    /// (suites in order), then the number of the selected cases.
    starts: Vec<usize>,
}

/// Where a conversation is in its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conversation {
    /// The target's index in the plan.
    pub target: usize,
    /// The strategy's index in the plan.
    pub strategy: usize,
    /// The suite's index in the selection.
    pub suite: usize,
    /// The case's index among the suite's selected cases.
    pub case: usize,
    /// Which sample, from 0.
    pub sample: u32,
}

impl Layout {
    /// The conversations of `plan` with the cases of `selection` (the
    /// plan's), under run `run_id` recorded with `config`.
    pub(crate) fn new(
        plan: &RunPlan,
        selection: Selection,
        run_id: i64,
        config: &serde_json::Value,
    ) -> Layout {
        let mut starts = Vec::with_capacity(selection.suites.len() + 1);
        let mut next = 0;
        for (_, cases) in &selection.suites {
            starts.push(next);
            next += cases.len();
        }
        starts.push(next);
        Layout {
            targets: plan.targets.clone(),
            target_ids: plan
                .targets
                .iter()
                .map(|t| plan::stored_target_id(config, t.as_ref()))
                .collect(),
            strategies: plan.strategies.clone(),
            strategy_names: plan
                .strategies
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
            selection,
            run_id,
            samples: plan.samples,
            starts,
        }
    }

    /// The selected cases over all suites.
    fn cases(&self) -> usize {
        self.starts[self.starts.len() - 1]
    }

    /// Conversations of one target under one strategy: selected cases x
    /// samples.
    pub(crate) fn per_group(&self) -> usize {
        self.cases() * self.samples as usize
    }

    /// Groups, one per target and strategy, target by target.
    pub(crate) fn groups(&self) -> usize {
        self.targets.len() * self.strategies.len()
    }

    /// Conversations in all.
    pub(crate) fn total(&self) -> usize {
        self.groups() * self.per_group()
    }

    /// The numbers of group `group`'s conversations.
    pub(crate) fn group_range(&self, group: usize) -> Range<usize> {
        let per = self.per_group();
        group * per..(group + 1) * per
    }

    /// The numbers of target `target`'s conversations (by its index).
    pub(crate) fn target_range(&self, target: usize) -> Range<usize> {
        let per = self.per_group() * self.strategies.len();
        target * per..(target + 1) * per
    }

    /// The group of conversation `n`.
    pub(crate) fn group_of(&self, n: usize) -> usize {
        n / self.per_group()
    }

    /// The target (its index) and strategy (its index) of group `group`.
    pub(crate) fn group_parts(&self, group: usize) -> (usize, usize) {
        (group / self.strategies.len(), group % self.strategies.len())
    }

    /// The target (its index) of conversation `n`.
    pub(crate) fn target_of(&self, n: usize) -> usize {
        n / (self.per_group() * self.strategies.len())
    }

    /// The strategy's name, as keys hold it.
    pub(crate) fn strategy_name(&self, strategy: usize) -> &str {
        &self.strategy_names[strategy]
    }

    /// Where conversation `n` is in the plan.
    pub(crate) fn conversation(&self, n: usize) -> Conversation {
        let samples = self.samples as usize;
        let (target, strategy) = self.group_parts(self.group_of(n));
        let within = n % self.per_group();
        let flat = within / samples;
        // The last suite whose first case is at or before `flat`.
        let suite = self.starts.partition_point(|&s| s <= flat) - 1;
        Conversation {
            target,
            strategy,
            suite,
            case: flat - self.starts[suite],
            sample: (within % samples) as u32,
        }
    }

    /// The number of the conversation of group `group` that asks the
    /// `flat`-th selected case (over all suites) as sample `sample`.
    fn number(&self, group: usize, flat: usize, sample: u32) -> usize {
        group * self.per_group() + flat * self.samples as usize + sample as usize
    }

    /// The case conversation `n` asks.
    pub(crate) fn case(&self, n: usize) -> &Case {
        let c = self.conversation(n);
        &self.selection.suites[c.suite].1[c.case]
    }

    /// The store's key of conversation `n`.
    pub(crate) fn key(&self, n: usize) -> ResultKey {
        let c = self.conversation(n);
        let (suite, cases) = &self.selection.suites[c.suite];
        ResultKey {
            run_id: self.run_id,
            target: self.target_ids[c.target].clone(),
            strategy: self.strategy_names[c.strategy].clone(),
            suite: suite.clone(),
            case_id: cases[c.case].id.clone(),
            sample: c.sample,
        }
    }

    /// What tells the plan's conversations from a stored key: see
    /// [`Keys::numbers`].
    pub(crate) fn keys(&self) -> Keys<'_> {
        let mut cases = Chains::default();
        for (suite, (_, selected)) in self.selection.suites.iter().enumerate() {
            for (i, case) in selected.iter().enumerate() {
                cases.push((suite, case.id.as_str()), self.starts[suite] + i);
            }
        }
        Keys {
            layout: self,
            strategies: index_of(self.strategy_names.iter().map(String::as_str)),
            suites: index_of(self.selection.suites.iter().map(|(s, _)| s.as_str())),
            cases,
        }
    }

    /// The conversations of the plan whose key is one of `keys`, marked;
    /// keys of other conversations are left out.
    pub(crate) fn marks<'k>(&self, keys: impl IntoIterator<Item = &'k ResultKey>) -> Marks {
        let lookup = self.keys();
        let mut marks = Marks::new(self.total());
        for key in keys {
            lookup.numbers(key, |n| marks.set(n));
        }
        marks
    }

    /// For each selected case (by its number over all suites), the
    /// numbers of the cases that are one question to another run's
    /// answers: the same case id in a suite that stands for the same suite
    /// (`suite_of` gives it from a suite's name).
    pub(crate) fn cases_by(&self, suite_of: impl Fn(&str) -> &str) -> Chains<(&str, &str)> {
        let mut chains = Chains::default();
        for (suite, (name, selected)) in self.selection.suites.iter().enumerate() {
            let name = suite_of(name);
            for (i, case) in selected.iter().enumerate() {
                chains.push((name, case.id.as_str()), self.starts[suite] + i);
            }
        }
        chains
    }

    /// The number of the conversation of group `group` asking the
    /// `flat`-th selected case as `sample`; `None` for a sample the plan
    /// does not have.
    pub(crate) fn number_of(&self, group: usize, flat: usize, sample: u32) -> Option<usize> {
        (sample < self.samples).then(|| self.number(group, flat, sample))
    }
}

/// Each name's index in `names`, the first when one is given twice.
fn index_of<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut index = HashMap::new();
    for (i, name) in names.enumerate() {
        index.entry(name).or_insert(i);
    }
    index
}

/// Numbers (of selected cases) by a key, those of one key in the order
/// they were added: a map to the first, each chained to the next.
#[derive(Default)]
pub(crate) struct Chains<K> {
    first: HashMap<K, usize>,
    /// The number added after each under the same key, when one was.
    next: HashMap<usize, usize>,
    /// The last number added under each key's chain, by its first.
    last: HashMap<usize, usize>,
}

impl<K: Hash + Eq> Chains<K> {
    /// Adds `n` under `key`, after those added before.
    fn push(&mut self, key: K, n: usize) {
        match self.first.entry(key) {
            Entry::Vacant(e) => {
                e.insert(n);
            }
            // A key given twice (a case id twice in a suite): chained.
            Entry::Occupied(e) => {
                let first = *e.get();
                let last = self.last.insert(first, n).unwrap_or(first);
                self.next.insert(last, n);
            }
        }
    }

    /// The numbers under `key`, in the order they were added.
    pub(crate) fn get(&self, key: &K) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.first.get(key).copied(), |n| self.next.get(n).copied())
    }
}

/// Finds the plan's conversations of a stored key ([`Layout::keys`]).
pub(crate) struct Keys<'a> {
    layout: &'a Layout,
    strategies: HashMap<&'a str, usize>,
    suites: HashMap<&'a str, usize>,
    cases: Chains<(usize, &'a str)>,
}

impl Keys<'_> {
    /// Calls `f` with the number of each conversation of the plan whose key
    /// is `key`, in plan order: none when the key is of no conversation of
    /// the plan; more than one only when two of its targets have one id in
    /// the run's keys, or a suite has a case id twice.
    pub(crate) fn numbers(&self, key: &ResultKey, mut f: impl FnMut(usize)) {
        let l = self.layout;
        if key.run_id != l.run_id || key.sample >= l.samples {
            return;
        }
        let (Some(&strategy), Some(&suite)) = (
            self.strategies.get(key.strategy.as_str()),
            self.suites.get(key.suite.as_str()),
        ) else {
            return;
        };
        for (target, id) in l.target_ids.iter().enumerate() {
            if *id != key.target {
                continue;
            }
            let group = target * l.strategies.len() + strategy;
            for flat in self.cases.get(&(suite, key.case_id.as_str())) {
                f(l.number(group, flat, key.sample));
            }
        }
    }

    /// The first conversation of the plan (in plan order) whose key is
    /// `key`, if any.
    pub(crate) fn first(&self, key: &ResultKey) -> Option<usize> {
        let mut first = None;
        self.numbers(key, |n| {
            first.get_or_insert(n);
        });
        first
    }
}

/// One bit per conversation of a plan: stored, wanted...
#[derive(Clone, Debug)]
pub(crate) struct Marks {
    words: Vec<u64>,
    len: usize,
}

impl Marks {
    /// `len` conversations, none marked.
    pub(crate) fn new(len: usize) -> Marks {
        Marks {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Marks conversation `n`.
    pub(crate) fn set(&mut self, n: usize) {
        self.words[n / 64] |= 1 << (n % 64);
    }

    /// Unmarks conversation `n`.
    pub(crate) fn clear(&mut self, n: usize) {
        self.words[n / 64] &= !(1 << (n % 64));
    }

    /// Whether conversation `n` is marked.
    pub(crate) fn get(&self, n: usize) -> bool {
        self.words[n / 64] & (1 << (n % 64)) != 0
    }

    /// How many of the conversations of `range` are marked.
    pub(crate) fn count_in(&self, range: Range<usize>) -> usize {
        range.filter(|&n| self.get(n)).count()
    }

    /// How many conversations are marked.
    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The conversations not marked, marked.
    pub(crate) fn complement(&self) -> Marks {
        let mut marks = Marks {
            words: self.words.iter().map(|w| !w).collect(),
            len: self.len,
        };
        // The bits past the last conversation stay unmarked, so that
        // `count` counts conversations only.
        if !self.len.is_multiple_of(64)
            && let Some(last) = marks.words.last_mut()
        {
            *last &= (1u64 << (self.len % 64)) - 1;
        }
        marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsafe_core::{Label, Suite};

    fn suite(name: &str, ids: &[&str]) -> Suite {
        Suite {
            name: name.into(),
            source: "generated".into(),
            cases: ids
                .iter()
                .map(|id| Case {
                    id: id.to_string(),
                    prompt: format!("How do I kill process {id}?"),
                    kind: "homonyms".into(),
                    label: Label::Safe,
                    focus: None,
                    note: None,
                })
                .collect(),
        }
    }

    /// Two suites (3 and 2 cases) x 2 targets x 2 strategies x 2 samples;
    /// the targets are never asked.
    fn layout(run_id: i64) -> Layout {
        let target = |model: &str| {
            let mut config = xsafe_target::OpenAiConfig::new(model);
            config.base_urls = vec!["http://127.0.0.1:9/v1".into()];
            Arc::new(xsafe_target::OpenAiTarget::new(config).unwrap()) as Arc<dyn Target>
        };
        let plan = RunPlan {
            suites: vec![suite("s1", &["a", "b", "c"]), suite("s2", &["a", "z"])],
            targets: vec![target("m1"), target("m2")],
            strategies: ["baseline", "contextual"]
                .into_iter()
                .map(|s| xsafe_strategy::from_name(s).unwrap())
                .collect(),
            judge: xsafe_judge::from_name("strmatch").unwrap(),
            judge_targets: Vec::new(),
            samples: 2,
            seed: 0,
            limit: None,
            types: Vec::new(),
            name: None,
            reuse: true,
            server_moved: false,
        };
        let selection = plan.selection().unwrap();
        Layout::new(&plan, selection, run_id, &plan.config())
    }

    /// The numbering is plan order, as the jobs were listed before there
    /// was a layout: by target, strategy, suite, case and sample.
    #[test]
    fn conversations_are_numbered_in_plan_order() {
        let layout = layout(7);
        let mut expected = Vec::new();
        for target in ["openai:m1", "openai:m2"] {
            for strategy in ["baseline", "contextual"] {
                for (suite, ids) in [("s1", &["a", "b", "c"][..]), ("s2", &["a", "z"][..])] {
                    for id in ids {
                        for sample in 0..2 {
                            expected.push(ResultKey {
                                run_id: 7,
                                target: target.into(),
                                strategy: strategy.into(),
                                suite: suite.into(),
                                case_id: id.to_string(),
                                sample,
                            });
                        }
                    }
                }
            }
        }
        assert_eq!(layout.total(), expected.len());
        assert_eq!(layout.groups(), 4);
        assert_eq!(layout.per_group(), 10);
        let keys = layout.keys();
        for (n, key) in expected.iter().enumerate() {
            assert_eq!(&layout.key(n), key, "conversation {n}");
            assert_eq!(layout.case(n).id, key.case_id);
            let c = layout.conversation(n);
            assert_eq!(layout.target_of(n), c.target);
            assert_eq!(
                layout.group_parts(layout.group_of(n)),
                (c.target, c.strategy)
            );
            assert!(layout.target_range(c.target).contains(&n));
            assert!(layout.group_range(layout.group_of(n)).contains(&n));
            let mut found = Vec::new();
            keys.numbers(key, |m| found.push(m));
            assert_eq!(found, [n], "the key of conversation {n}");
        }
        // Keys of another run, sample, suite or strategy are none of the
        // plan's.
        let other = |f: &dyn Fn(&mut ResultKey)| {
            let mut key = expected[3].clone();
            f(&mut key);
            keys.first(&key)
        };
        assert_eq!(other(&|_| ()), Some(3));
        assert_eq!(other(&|k| k.run_id = 8), None);
        assert_eq!(other(&|k| k.sample = 2), None);
        assert_eq!(other(&|k| k.suite = "s3".into()), None);
        assert_eq!(other(&|k| k.case_id = "z".into()), None);
        assert_eq!(other(&|k| k.strategy = "few-shot".into()), None);
        let marks = layout.marks(&expected[5..9]);
        assert_eq!(marks.count(), 4);
        assert!((5..9).all(|n| marks.get(n)));
    }

    /// The cases of two suites that stand for one suite are one question
    /// by their ids.
    #[test]
    fn cases_are_found_by_the_suite_they_stand_for() {
        let layout = layout(0);
        let cases = layout.cases_by(|_| "one");
        assert_eq!(cases.get(&("one", "a")).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(cases.get(&("one", "z")).collect::<Vec<_>>(), [4]);
        let cases = layout.cases_by(|name| name);
        assert_eq!(cases.get(&("s2", "a")).collect::<Vec<_>>(), [3]);
        assert_eq!(layout.number_of(1, 3, 1), Some(10 + 3 * 2 + 1));
        assert_eq!(layout.number_of(1, 3, 2), None);
    }

    #[test]
    fn marks_count_only_conversations() {
        let mut marks = Marks::new(70);
        marks.set(3);
        marks.set(69);
        assert_eq!(marks.count(), 2);
        assert_eq!(marks.count_in(0..64), 1);
        let rest = marks.complement();
        assert_eq!(rest.count(), 68);
        assert!(!rest.get(3) && rest.get(4) && !rest.get(69));
        marks.clear(3);
        assert_eq!(marks.count(), 1);
    }

    #[test]
    fn chains_keep_the_order_numbers_were_added_in() {
        let mut chains = Chains::default();
        chains.push("a", 0);
        chains.push("b", 1);
        chains.push("a", 2);
        chains.push("a", 5);
        assert_eq!(chains.get(&"a").collect::<Vec<_>>(), [0, 2, 5]);
        assert_eq!(chains.get(&"b").collect::<Vec<_>>(), [1]);
        assert_eq!(chains.get(&"c").count(), 0);
    }
}

//! The appeal classifier: Chinese text → category, with a confidence and the
//! runners-up.
//!
//! Text becomes a unit-length TF-IDF vector of hashed character n-grams
//! ([`FeatureConfig`]), and a linear model scores it per category ([`Model`]);
//! the confidence is a softmax of the scores with a fitted temperature, so it
//! can gate auto-dispatch. [`train`] learns a model from labelled messages,
//! [`cross_validate`] measures one, and [`Model::to_bytes`] and
//! [`Model::from_bytes`] move it through a versioned, checksummed file
//! format. [`KeywordRule`]s force a category for high-precision cases.
//!
//! Nothing here does IO: callers read and write the bytes and the CSV files.
//! `docs/classifier.md` gives the measured accuracy and the choice of model.

mod features;
mod metrics;
mod model;
mod train;

use std::cell::RefCell;

pub use self::features::{FeatureConfig, MAX_HASH_BITS, MAX_NGRAM, MIN_HASH_BITS, fold, normalize};
pub use self::metrics::{
    ClassMetrics, CrossValidation, Evaluation, HeldOut, cross_validate, evaluate, stratified_folds,
};
pub use self::model::{
    Algorithm, FORMAT_VERSION, MAGIC, MAX_WEIGHT, Model, ModelError, ModelHeader, fnv1a64,
};
pub use self::train::{
    Added, Example, ExampleSet, Form, TrainConfig, TrainError, TrainSummary, train,
};

use self::model::Scratch;

/// The classifier's answer for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The chosen category.
    pub label: String,
    /// How sure the classifier is, in `[0, 1]`; 1.0 when a rule forced it.
    pub confidence: f64,
    /// The best categories with their confidences, best first, at most `k`.
    pub top: Vec<(String, f64)>,
    /// The index of the keyword rule that forced the category, if one did.
    pub rule: Option<usize>,
}

/// A keyword rule: a message containing every keyword gets `category` with
/// confidence 1.0, whatever the model says.
///
/// Keywords are matched on normalised text (see [`normalize`]): spaces and
/// punctuation are ignored, full-width letters and digits match half-width
/// ones, and case is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordRule {
    /// Every keyword must occur in the title or the body.
    pub keywords: Vec<String>,
    /// The category forced on a match; need not be one of the model's labels.
    pub category: String,
}

/// Why a keyword rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The rule would match every message.
    #[error("keyword rule {index} has no keyword with a letter or digit")]
    NoKeywords {
        /// The rule's position in the list.
        index: usize,
    },
    /// The rule names no category.
    #[error("keyword rule {index} has an empty category")]
    EmptyCategory {
        /// The rule's position in the list.
        index: usize,
    },
    /// A line of a rules file is not `category keyword+keyword`.
    #[error("keyword rules line {line}: expected a category, a space, and keywords joined by '+'")]
    Syntax {
        /// The 1-based line number.
        line: usize,
    },
}

/// A keyword rule prepared for matching: its keywords normalised.
#[derive(Debug, Clone)]
struct CompiledRule {
    /// Normalised, non-empty keywords.
    keywords: Vec<String>,
    /// The forced category.
    category: String,
}

/// A model with keyword rules, ready to classify. `Send + Sync`: share one
/// behind an `Arc` and swap it to reload.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// The trained model.
    model: Model,
    /// Rules tried in order before the model; the first match wins.
    rules: Vec<CompiledRule>,
    /// The rules as given, for [`Classifier::rules`].
    source_rules: Vec<KeywordRule>,
}

/// Normalises and checks keyword rules.
fn compile_rules(rules: &[KeywordRule]) -> Result<Vec<CompiledRule>, RuleError> {
    let mut compiled = Vec::with_capacity(rules.len());
    for (index, rule) in rules.iter().enumerate() {
        let keywords: Vec<String> = rule
            .keywords
            .iter()
            .map(|k| normalize(k))
            .filter(|k| !k.is_empty())
            .collect();
        if keywords.is_empty() {
            return Err(RuleError::NoKeywords { index });
        }
        if rule.category.trim().is_empty() {
            return Err(RuleError::EmptyCategory { index });
        }
        compiled.push(CompiledRule {
            keywords,
            category: rule.category.clone(),
        });
    }
    Ok(compiled)
}

/// Returns the first rule whose keywords all occur in normalised `text`.
fn first_match(rules: &[CompiledRule], text: &str) -> Option<usize> {
    rules.iter().position(|rule| {
        rule.keywords
            .iter()
            .all(|keyword| text.contains(keyword.as_str()))
    })
}

/// Keyword rules on their own, for a service that runs without a model: a
/// message matching a rule gets its category, any other gets none.
#[derive(Debug, Clone, Default)]
pub struct KeywordRules {
    compiled: Vec<CompiledRule>,
    source: Vec<KeywordRule>,
}

impl KeywordRules {
    /// Prepares rules for matching; they are tried in order.
    ///
    /// # Errors
    ///
    /// As [`Classifier::set_rules`].
    pub fn new(rules: Vec<KeywordRule>) -> Result<Self, RuleError> {
        Ok(Self {
            compiled: compile_rules(&rules)?,
            source: rules,
        })
    }

    /// Returns the rules, as given.
    pub fn rules(&self) -> &[KeywordRule] {
        &self.source
    }

    /// Returns the index of the first rule matching the message, if any.
    pub fn find(&self, title: &str, body: &str) -> Option<usize> {
        if self.compiled.is_empty() {
            return None;
        }
        let mut text = normalize(title);
        text.push_str(&normalize(body));
        first_match(&self.compiled, &text)
    }
}

/// Parses keyword rules from text: one rule per line, `category<TAB or spaces>keyword+keyword...`;
/// blank lines and lines starting with `#` are skipped.
///
/// # Errors
///
/// [`RuleError::Syntax`] naming the line of a rule without keywords, and the
/// errors of [`KeywordRules::new`].
pub fn parse_keyword_rules(text: &str) -> Result<Vec<KeywordRule>, RuleError> {
    let mut rules = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((category, keywords)) = line.split_once(char::is_whitespace) else {
            return Err(RuleError::Syntax { line: number + 1 });
        };
        let keywords: Vec<String> = keywords
            .split('+')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if keywords.is_empty() {
            return Err(RuleError::Syntax { line: number + 1 });
        }
        rules.push(KeywordRule {
            keywords,
            category: category.to_owned(),
        });
    }
    compile_rules(&rules)?;
    Ok(rules)
}

/// The keyword rules shipped with the service: phrases that name one category
/// beyond doubt, for a typical city center.
pub fn builtin_keyword_rules() -> Vec<KeywordRule> {
    parse_keyword_rules(include_str!("../../data/keyword-rules.txt"))
        .unwrap_or_else(|error| unreachable!("the shipped keyword rules parse: {error}"))
}

thread_local! {
    /// Per-thread buffers, so classifying allocates only the answer.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Classifier {
    /// Wraps a model, with no keyword rules.
    pub fn new(model: Model) -> Self {
        Self {
            model,
            rules: Vec::new(),
            source_rules: Vec::new(),
        }
    }

    /// Replaces the keyword rules; they are tried in order.
    ///
    /// # Errors
    ///
    /// [`RuleError`] when a rule has no usable keyword (it would match every
    /// message) or no category; the rules are then left unchanged.
    pub fn set_rules(&mut self, rules: Vec<KeywordRule>) -> Result<(), RuleError> {
        self.rules = compile_rules(&rules)?;
        self.source_rules = rules;
        Ok(())
    }

    /// Returns this classifier with `rules` attached (see [`Classifier::set_rules`]).
    ///
    /// # Errors
    ///
    /// As [`Classifier::set_rules`].
    pub fn with_rules(mut self, rules: Vec<KeywordRule>) -> Result<Self, RuleError> {
        self.set_rules(rules)?;
        Ok(self)
    }

    /// Returns the keyword rules, as given.
    pub fn rules(&self) -> &[KeywordRule] {
        &self.source_rules
    }

    /// Returns the model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Classifies a message: the best category, its confidence, and the `k`
    /// best categories with theirs (`k` is at least 1 in effect).
    ///
    /// When a keyword rule matches, its category comes first with confidence
    /// 1.0 and `rule` names it; the model's other categories follow with the
    /// model's confidences.
    pub fn classify(&self, title: &str, body: &str, k: usize) -> Prediction {
        with_scratch(|scratch| self.classify_with(scratch, title, body, k))
    }

    /// [`Classifier::classify`] with caller-owned buffers.
    fn classify_with(
        &self,
        scratch: &mut Scratch,
        title: &str,
        body: &str,
        k: usize,
    ) -> Prediction {
        let k = k.max(1);
        let mut forced = None;
        if self.rules.is_empty() {
            let chars = title.chars().chain(body.chars()).filter_map(features::fold);
            self.model.score_chars(chars, scratch);
        } else {
            let mut text = std::mem::take(&mut scratch.text);
            text.clear();
            features::normalize_into(title, &mut text);
            features::normalize_into(body, &mut text);
            forced = first_match(&self.rules, &text);
            self.model.score_chars(text.chars(), scratch);
            scratch.text = text;
        }
        let mut ranked = softmax_ranked(&scratch.scores, self.model.confidence_scale());
        let labels = self.model.labels();
        match forced {
            Some(index) => {
                let category = &self.rules[index].category;
                ranked.retain(|&(i, _)| labels[i] != *category);
                let mut top = Vec::with_capacity(k);
                top.push((category.clone(), 1.0));
                top.extend(
                    ranked
                        .iter()
                        .take(k - 1)
                        .map(|&(i, p)| (labels[i].clone(), p)),
                );
                Prediction {
                    label: category.clone(),
                    confidence: 1.0,
                    top,
                    rule: Some(index),
                }
            }
            None => {
                let (best, confidence) = ranked[0];
                Prediction {
                    label: labels[best].clone(),
                    confidence,
                    top: ranked
                        .iter()
                        .take(k)
                        .map(|&(i, p)| (labels[i].clone(), p))
                        .collect(),
                    rule: None,
                }
            }
        }
    }
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are in use).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Returns `(label index, probability)` pairs of `softmax(scale · scores)`,
/// most probable first; ties keep label order.
fn softmax_ranked(scores: &[f32], scale: f64) -> Vec<(usize, f64)> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut ranked: Vec<(usize, f64)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (i, (scale * f64::from(s - max)).exp()))
        .collect();
    let sum: f64 = ranked.iter().map(|(_, p)| p).sum();
    for (_, p) in &mut ranked {
        *p /= sum;
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

#[cfg(test)]
mod tests;

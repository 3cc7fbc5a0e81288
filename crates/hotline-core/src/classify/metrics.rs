//! Measuring a classifier: confusion matrix, accuracy, per-class precision,
//! recall and F1, macro-F1, and stratified k-fold cross-validation.

use super::Classifier;
use super::train::{
    Example, Progress, Rng, TrainConfig, TrainError, check_config, label_set, run_parallel,
    thread_count, train_labels, train_steps,
};

/// How one category fared.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMetrics {
    /// The category.
    pub label: String,
    /// Of the messages predicted as this category, the share that were.
    pub precision: f64,
    /// Of the messages of this category, the share predicted as it.
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
    /// Messages of this category.
    pub support: u64,
}

/// Predictions tallied against the truth.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Every category seen, as truth or prediction, in first-seen order.
    labels: Vec<String>,
    /// `confusion[truth][predicted]`, square over `labels`.
    confusion: Vec<Vec<u64>>,
    /// The confidence of each prediction and whether it was right.
    confidences: Vec<(f64, bool)>,
}

impl Evaluation {
    /// Starts an empty tally listing `labels` first (more are added as seen).
    pub fn new(labels: &[String]) -> Self {
        let mut evaluation = Self::default();
        for label in labels {
            evaluation.index(label);
        }
        evaluation
    }

    /// Returns the index of `label`, adding it if new.
    fn index(&mut self, label: &str) -> usize {
        if let Some(i) = self.labels.iter().position(|l| l == label) {
            return i;
        }
        self.labels.push(label.to_owned());
        for row in &mut self.confusion {
            row.push(0);
        }
        self.confusion.push(vec![0; self.labels.len()]);
        self.labels.len() - 1
    }

    /// Records one prediction.
    pub fn record(&mut self, truth: &str, predicted: &str, confidence: f64) {
        let t = self.index(truth);
        let p = self.index(predicted);
        self.confusion[t][p] += 1;
        self.confidences.push((confidence, t == p));
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Evaluation) {
        for label in &other.labels {
            self.index(label);
        }
        for (t, row) in other.confusion.iter().enumerate() {
            let ti = self.index(&other.labels[t]);
            for (p, &n) in row.iter().enumerate() {
                let pi = self.index(&other.labels[p]);
                self.confusion[ti][pi] += n;
            }
        }
        self.confidences.extend_from_slice(&other.confidences);
    }

    /// Returns the categories, in the order of [`Evaluation::confusion`].
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Returns the confusion matrix: `[truth][predicted]` counts.
    pub fn confusion(&self) -> &[Vec<u64>] {
        &self.confusion
    }

    /// Returns the number of predictions recorded.
    pub fn total(&self) -> u64 {
        self.confusion.iter().flatten().sum()
    }

    /// Returns the share of predictions that were right (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.labels.len()).map(|i| self.confusion[i][i]).sum();
        ratio(right, self.total())
    }

    /// Returns precision, recall and F1 of every category that occurred as
    /// truth or as prediction, in label order.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        let n = self.labels.len();
        (0..n)
            .filter_map(|i| {
                let support: u64 = self.confusion[i].iter().sum();
                let predicted: u64 = (0..n).map(|t| self.confusion[t][i]).sum();
                if support == 0 && predicted == 0 {
                    return None;
                }
                let right = self.confusion[i][i];
                let precision = ratio(right, predicted);
                let recall = ratio(right, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                Some(ClassMetrics {
                    label: self.labels[i].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                })
            })
            .collect()
    }

    /// Returns the unweighted mean F1 over [`Evaluation::per_class`].
    pub fn macro_f1(&self) -> f64 {
        let classes = self.per_class();
        if classes.is_empty() {
            return 0.0;
        }
        classes.iter().map(|c| c.f1).sum::<f64>() / classes.len() as f64
    }

    /// Returns, for predictions with confidence at least `threshold`, the
    /// share of all predictions they are (coverage) and their accuracy.
    pub fn at_confidence(&self, threshold: f64) -> (f64, f64) {
        let kept: Vec<bool> = self
            .confidences
            .iter()
            .filter(|(c, _)| *c >= threshold)
            .map(|(_, right)| *right)
            .collect();
        let right = kept.iter().filter(|r| **r).count() as u64;
        (
            ratio(kept.len() as u64, self.confidences.len() as u64),
            ratio(right, kept.len() as u64),
        )
    }

    /// Returns the mean confidence of the predictions (0 when empty).
    pub fn mean_confidence(&self) -> f64 {
        if self.confidences.is_empty() {
            return 0.0;
        }
        self.confidences.iter().map(|(c, _)| c).sum::<f64>() / self.confidences.len() as f64
    }
}

/// `a / b`, or 0 when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Classifies every example's [`Example::text`] (keyword rules included) and
/// tallies the answers against its label.
pub fn evaluate(classifier: &Classifier, examples: &[Example]) -> Evaluation {
    let mut evaluation = Evaluation::new(classifier.model().labels());
    for example in examples {
        let prediction = classifier.classify("", example.text(), 1);
        evaluation.record(&example.label, &prediction.label, prediction.confidence);
    }
    evaluation
}

/// Assigns each example to one of `k` folds so every label is spread evenly:
/// each label's examples are shuffled (seeded) and dealt round the folds,
/// the deal continuing from label to label. Returns the fold of each example.
pub fn stratified_folds(examples: &[Example], k: usize, seed: u64) -> Vec<usize> {
    let k = k.max(1);
    let mut folds = vec![0; examples.len()];
    let mut rng = Rng::new(seed);
    let mut next = 0usize;
    for label in label_set(examples) {
        let mut members: Vec<usize> = (0..examples.len())
            .filter(|&i| examples[i].label == label)
            .collect();
        rng.shuffle(&mut members);
        for i in members {
            folds[i] = next % k;
            next += 1;
        }
    }
    folds
}

/// What cross-validation predicted for one message while it was held out.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// The fold the message was in.
    pub fold: usize,
    /// The predicted category.
    pub label: String,
    /// The prediction's confidence.
    pub confidence: f64,
}

/// The result of k-fold cross-validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidation {
    /// One tally per fold, on that fold's held-out messages.
    pub folds: Vec<Evaluation>,
    /// All folds' tallies together.
    pub pooled: Evaluation,
    /// One entry per example, in the order given.
    pub predictions: Vec<HeldOut>,
}

impl CrossValidation {
    /// Returns the tallies of only the examples `keep` accepts (say, those
    /// with original text); `examples` must be the ones cross-validated.
    pub fn restricted(&self, examples: &[Example], keep: impl Fn(&Example) -> bool) -> Self {
        let labels = self.pooled.labels();
        let mut folds = vec![Evaluation::new(labels); self.folds.len()];
        let mut pooled = Evaluation::new(labels);
        let mut predictions = Vec::new();
        for (example, held_out) in examples.iter().zip(&self.predictions) {
            if keep(example) {
                folds[held_out.fold].record(&example.label, &held_out.label, held_out.confidence);
                pooled.record(&example.label, &held_out.label, held_out.confidence);
                predictions.push(held_out.clone());
            }
        }
        Self {
            folds,
            pooled,
            predictions,
        }
    }

    /// Returns the mean over folds of each fold's macro-F1.
    pub fn mean_macro_f1(&self) -> f64 {
        mean(self.folds.iter().map(Evaluation::macro_f1))
    }

    /// Returns the mean over folds of each fold's accuracy.
    pub fn mean_accuracy(&self) -> f64 {
        mean(self.folds.iter().map(Evaluation::accuracy))
    }
}

/// The mean of `values` (0 when empty).
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Stratified `k`-fold cross-validation: for each fold, trains on the other
/// folds with `config` and evaluates on this one. Each example is one
/// message, so the forms of a message stay on one side. Folds come from
/// [`stratified_folds`] seeded by `config.seed`, and run in parallel on
/// `config.threads` threads; the results do not depend on the thread count.
///
/// # Errors
///
/// [`TrainError`] for fewer than two labels, a bad configuration, or fewer
/// than two folds or than `k` examples.
pub fn cross_validate(
    examples: &[Example],
    k: usize,
    config: &TrainConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<CrossValidation, TrainError> {
    check_config(config)?;
    let labels = label_set(examples);
    if labels.len() < 2 {
        return Err(TrainError::TooFewLabels(labels.len()));
    }
    if k < 2 || examples.len() < k {
        return Err(TrainError::BadFolds {
            folds: k,
            examples: examples.len(),
        });
    }
    let assignment = stratified_folds(examples, k, config.seed);
    let per_fold = train_steps(examples, config);
    let mut progress = Progress::new(k * per_fold + examples.len(), progress);
    // The folds are the parallel jobs; each fold's own training runs on one thread.
    let inner = TrainConfig {
        threads: 1,
        ..config.clone()
    };
    let results = run_parallel(
        (0..k).collect(),
        thread_count(config),
        &mut |n| progress.advance(n),
        |fold, tick| {
            let train_part: Vec<Example> = examples
                .iter()
                .zip(&assignment)
                .filter(|(_, f)| **f != fold)
                .map(|(e, _)| e.clone())
                .collect();
            let (model, _) = train_labels(&train_part, &label_set(&train_part), &inner, tick);
            tick(per_fold.saturating_sub(train_steps(&train_part, &inner)));
            let classifier = Classifier::new(model);
            let mut evaluation = Evaluation::new(&labels);
            let mut held_out = Vec::new();
            for (i, example) in examples.iter().enumerate() {
                if assignment[i] != fold {
                    continue;
                }
                let prediction = classifier.classify("", example.text(), 1);
                evaluation.record(&example.label, &prediction.label, prediction.confidence);
                held_out.push((
                    i,
                    HeldOut {
                        fold,
                        label: prediction.label,
                        confidence: prediction.confidence,
                    },
                ));
                tick(1);
            }
            (evaluation, held_out)
        },
    );
    let mut folds = Vec::with_capacity(k);
    let mut pooled = Evaluation::new(&labels);
    let mut predictions: Vec<Option<HeldOut>> = vec![None; examples.len()];
    for (evaluation, held_out) in results {
        pooled.merge(&evaluation);
        folds.push(evaluation);
        for (i, prediction) in held_out {
            predictions[i] = Some(prediction);
        }
    }
    progress.finish();
    Ok(CrossValidation {
        folds,
        pooled,
        // Every example is in exactly one fold.
        predictions: predictions.into_iter().flatten().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn metrics_match_a_hand_computed_example() {
        let mut e = Evaluation::new(&labels(&["a", "b"]));
        // a: 3 right, 1 called b; b: 1 right, 1 called a.
        for (t, p) in [
            ("a", "a"),
            ("a", "a"),
            ("a", "a"),
            ("a", "b"),
            ("b", "b"),
            ("b", "a"),
        ] {
            e.record(t, p, 0.9);
        }
        assert_eq!(e.total(), 6);
        assert!((e.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        let per = e.per_class();
        assert!((per[0].precision - 0.75).abs() < 1e-12);
        assert!((per[0].recall - 0.75).abs() < 1e-12);
        assert!((per[1].precision - 0.5).abs() < 1e-12);
        assert!((per[1].recall - 0.5).abs() < 1e-12);
        assert!((e.macro_f1() - 0.625).abs() < 1e-12);
        assert_eq!(e.confusion(), &[vec![3, 1], vec![1, 1]]);
    }

    #[test]
    fn unseen_labels_join_the_matrix_and_silent_ones_stay_out_of_the_mean() {
        let mut e = Evaluation::new(&labels(&["a", "b", "never"]));
        e.record("a", "a", 1.0);
        e.record("new", "b", 0.4);
        assert_eq!(e.labels(), ["a", "b", "never", "new"]);
        let per = e.per_class();
        assert_eq!(
            per.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
            ["a", "b", "new"]
        );
        assert!((e.macro_f1() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.at_confidence(0.5), (0.5, 1.0));
        let mut both = Evaluation::default();
        both.merge(&e);
        both.merge(&e);
        assert_eq!(both.total(), 4);
        assert_eq!(both.confusion()[0][0], 2);
    }

    #[test]
    fn folds_are_stratified_deterministic_and_balanced() {
        let examples: Vec<Example> = (0..50)
            .map(|i| Example::new(format!("t{i}"), if i % 5 == 0 { "rare" } else { "common" }))
            .collect();
        let a = stratified_folds(&examples, 5, 7);
        assert_eq!(a, stratified_folds(&examples, 5, 7));
        for fold in 0..5 {
            let members: Vec<usize> = (0..50).filter(|&i| a[i] == fold).collect();
            assert_eq!(members.len(), 10);
            let rare = members.iter().filter(|&&i| i % 5 == 0).count();
            assert_eq!(rare, 2);
        }
    }
}

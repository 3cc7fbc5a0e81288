//! `hotline classify`: train, evaluate and run the appeal classifier on this
//! machine, no server needed. The model itself lives in
//! `hotline_core::classify`; this module reads the CSV files, writes the
//! model and prediction files, and prints.
//!
//! Input CSV files have a header row and either `title,body,label` (title may
//! be empty) or `tokens,label` (space-separated word tokens). An `id` column
//! is copied into predictions; a `full_row` column identifies a message across
//! files, so the same message given twice (say as text and as tokens) is
//! trained on once and never sits on both sides of a cross-validation fold.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use hotline_core::classify::{
    Added, Algorithm, Classifier, CrossValidation, Evaluation, Example, ExampleSet, FeatureConfig,
    Form, Model, TrainConfig, TrainSummary, cross_validate, evaluate, train,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::output::{Format, Table, print_fields, print_json};

/// Text shown after `hotline classify --help`.
const AFTER_HELP: &str = "\
CSV input: a header row, then `title,body,label` (title may be empty) or
`tokens,label` (space-separated tokens). `id` is copied into predictions;
`full_row` identifies a message across files (duplicates are merged).

Example:
  hotline classify train --data appeals_train.csv --data appeals_extra_segmented.csv --out appeals.model
  hotline classify eval --folds 5 --data appeals_train.csv --data appeals_extra_segmented.csv
  hotline classify predict --model appeals.model --data new.csv --out pred.csv";

/// The confidence at which the server dispatches without an operator by
/// default; `eval` reports how the model fares above it.
const DISPATCH_THRESHOLD: f64 = 0.8;

/// `hotline classify ...`.
#[derive(Debug, Subcommand)]
#[command(after_help = AFTER_HELP)]
pub enum ClassifyCommand {
    /// Train a model from labelled CSV files and write it to --out
    Train(TrainArgs),
    /// Measure a model on labelled CSV files, or cross-validate with --folds
    Eval(EvalArgs),
    /// Classify every row of a CSV file, writing id,label,confidence
    Predict(PredictArgs),
}

/// Labelled CSV files to read.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Labelled CSV file; repeat to merge several
    #[arg(long = "data", value_name = "FILE.csv", required = true)]
    pub data: Vec<PathBuf>,
}

/// The training settings, each defaulting to the chosen configuration.
#[derive(Debug, Args)]
#[command(next_help_heading = "Training options")]
pub struct TrainFlags {
    /// Learning algorithm [default: svm]
    #[arg(long, value_name = "ALGO", value_parser = ["svm", "logistic", "complement_nb"])]
    pub algorithm: Option<String>,

    /// Inverse regularisation of svm and logistic [default: 1]
    #[arg(long, value_name = "C")]
    pub c: Option<f64>,

    /// Smoothing of complement_nb [default: 0.1]
    #[arg(long, value_name = "A")]
    pub alpha: Option<f64>,

    /// Weigh messages so every category counts the same, true or false (svm) [default: true]
    #[arg(long, value_name = "BOOL")]
    pub balanced: Option<bool>,

    /// Character n-gram lengths, MIN-MAX [default: 2-2]
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_range)]
    pub ngrams: Option<(u8, u8)>,

    /// Hash the n-grams into 2^BITS buckets [default: 20]
    #[arg(long, value_name = "BITS")]
    pub hash_bits: Option<u8>,

    /// Ignore n-grams seen in fewer texts [default: 3]
    #[arg(long, value_name = "N")]
    pub min_df: Option<u32>,

    /// Passes over the data at most [default: 50]
    #[arg(long, value_name = "N")]
    pub epochs: Option<u32>,

    /// Seed of every random choice [default: 12345]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Folds of the internal cross-validation fitting the confidence scale; 0 skips it [default: 3]
    #[arg(long, value_name = "K")]
    pub calibration_folds: Option<usize>,

    /// Threads for independent fits (calibration and cross-validation folds); 0: every core [default: 0]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `classify train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Where to write the model
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,

    #[command(flatten)]
    pub flags: TrainFlags,
}

/// `classify eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model to measure (without --folds)
    #[arg(long, value_name = "MODEL", required_unless_present = "folds")]
    pub model: Option<PathBuf>,

    /// Cross-validate instead: train and test K times on the data
    #[arg(long, value_name = "K", conflicts_with = "model")]
    pub folds: Option<usize>,

    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub flags: TrainFlags,
}

/// `classify predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model to classify with
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,

    /// CSV file to classify (a label column is not needed)
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,

    /// Where to write id,label,confidence (- for stdout)
    #[arg(long, value_name = "PRED.csv")]
    pub out: PathBuf,
}

/// Parses `1-3` (or `2`) into an n-gram range.
fn parse_range(text: &str) -> anyhow::Result<(u8, u8)> {
    let (min, max) = text.split_once('-').unwrap_or((text, text));
    let min: u8 = min.trim().parse().context("MIN must be a small number")?;
    let max: u8 = max.trim().parse().context("MAX must be a small number")?;
    Ok((min, max))
}

/// Runs a `classify` command.
pub fn run(command: ClassifyCommand, format: Format) -> anyhow::Result<()> {
    match command {
        ClassifyCommand::Train(args) => run_train(args, format),
        ClassifyCommand::Eval(args) => run_eval(args, format),
        ClassifyCommand::Predict(args) => run_predict(args),
    }
}

impl TrainFlags {
    /// Applies the given flags over the default configuration.
    fn config(&self) -> anyhow::Result<TrainConfig> {
        let mut config = TrainConfig::default();
        let mut features = config.features;
        if let Some(name) = &self.algorithm {
            config.algorithm = name.parse::<Algorithm>()?;
        }
        if let Some(c) = self.c {
            config.c = c;
        }
        if let Some(alpha) = self.alpha {
            config.alpha = alpha;
        }
        if let Some(balanced) = self.balanced {
            config.balanced = balanced;
        }
        if let Some((min, max)) = self.ngrams {
            features.min_n = min;
            features.max_n = max;
        }
        if let Some(bits) = self.hash_bits {
            features.hash_bits = bits;
        }
        if let Some(min_df) = self.min_df {
            features.min_df = min_df;
        }
        config.features = features;
        if let Some(epochs) = self.epochs {
            config.epochs = epochs;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(threads) = self.threads {
            config.threads = threads;
        }
        if let Some(folds) = self.calibration_folds {
            config.calibration_folds = folds;
        }
        Ok(config)
    }
}

/// One data row, as read from a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    /// The `id` column, or the 1-based row number.
    id: String,
    /// The `full_row` column: the message's identity across files.
    key: Option<String>,
    /// Original text or tokens.
    form: Form,
    /// The title, empty for tokens.
    title: String,
    /// The body, or the tokens.
    body: String,
    /// The `label` column, when present and not empty.
    label: Option<String>,
}

/// Column positions of a data file.
#[derive(Debug)]
struct Columns {
    id: Option<usize>,
    key: Option<usize>,
    title: Option<usize>,
    body: Option<usize>,
    tokens: Option<usize>,
    label: Option<usize>,
}

/// Reads the rows of a CSV data file.
fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_rows_from(file).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads the rows of CSV data.
fn read_rows_from(input: impl std::io::Read) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers = reader.headers().context("no header row")?.clone();
    let find = |name: &str| {
        headers.iter().position(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    let columns = Columns {
        id: find("id"),
        key: find("full_row"),
        title: find("title"),
        body: find("body"),
        tokens: find("tokens"),
        label: find("label"),
    };
    if columns.body.is_none() && columns.tokens.is_none() {
        bail!(
            "needs a `body` (with an optional `title`) or a `tokens` column; the header is: {}",
            headers.iter().collect::<Vec<_>>().join(",")
        );
    }
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record?;
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let nonempty = |i: Option<usize>| Some(cell(i)).filter(|s| !s.trim().is_empty());
        let (form, title, body) = match columns.body {
            Some(_) => (Form::Original, cell(columns.title), cell(columns.body)),
            None => (Form::Segmented, String::new(), cell(columns.tokens)),
        };
        rows.push(Row {
            id: nonempty(columns.id).unwrap_or_else(|| (n + 1).to_string()),
            key: nonempty(columns.key),
            form,
            title,
            body,
            label: nonempty(columns.label).map(|l| l.trim().to_owned()),
        });
    }
    Ok(rows)
}

/// Returns a row's text: title and body on separate lines.
fn row_text(row: &Row) -> String {
    if row.title.trim().is_empty() {
        row.body.clone()
    } else {
        format!("{}\n{}", row.title, row.body)
    }
}

/// What reading the labelled files found.
#[derive(Debug, Default)]
struct LoadReport {
    /// Rows read per file.
    files: Vec<(PathBuf, usize)>,
    /// Rows that were a message already read.
    duplicates: usize,
    /// Duplicates whose label differed (the first label is kept).
    conflicts: usize,
}

/// Reads and merges labelled files into one example per message.
fn load_examples(paths: &[PathBuf]) -> anyhow::Result<(Vec<Example>, LoadReport)> {
    let mut set = ExampleSet::new();
    let mut report = LoadReport::default();
    for path in paths {
        let rows = read_rows(path)?;
        report.files.push((path.clone(), rows.len()));
        for row in &rows {
            let Some(label) = &row.label else {
                bail!("{}: row {} has no label", path.display(), row.id);
            };
            match set.add(row.key.as_deref(), row.form, &row_text(row), label) {
                Added::New => {}
                Added::SameMessage => report.duplicates += 1,
                Added::LabelConflict => {
                    report.duplicates += 1;
                    report.conflicts += 1;
                }
            }
        }
    }
    let examples = set.into_examples();
    if examples.is_empty() {
        bail!("no labelled rows in the data");
    }
    Ok((examples, report))
}

/// Prints what was read, on stderr.
fn print_load_report(report: &LoadReport, examples: usize) {
    for (path, rows) in &report.files {
        eprintln!("read {rows} rows from {}", path.display());
    }
    eprintln!(
        "{examples} messages ({} duplicate rows merged, {} of them with a conflicting label)",
        report.duplicates, report.conflicts
    );
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
fn progress_bar(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {percent:>3}% {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// Reports `(done, total)` to `bar`.
fn tick(bar: &ProgressBar) -> impl FnMut(usize, usize) + '_ {
    |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }
}

/// Reads a model file.
fn read_model(path: &Path) -> anyhow::Result<Model> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Model::from_bytes(&bytes).with_context(|| format!("cannot load {}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `classify train`.
fn run_train(args: TrainArgs, format: Format) -> anyhow::Result<()> {
    let config = args.flags.config()?;
    let (examples, report) = load_examples(&args.data.data)?;
    print_load_report(&report, examples.len());
    let started = Instant::now();
    let bar = progress_bar("training");
    let (model, summary) = train(&examples, &config, &mut tick(&bar))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let bytes = model.to_bytes();
    write_atomically(&args.out, &bytes)?;
    match format {
        Format::Json => print_json(&json!({
            "model": args.out.display().to_string(),
            "bytes": bytes.len(),
            "seconds": seconds,
            "summary": summary_json(&summary, model.features()),
        })),
        Format::Text => print_summary(&summary, model.features(), &args.out, bytes.len(), seconds),
    }
    Ok(())
}

/// The training summary as JSON.
fn summary_json(summary: &TrainSummary, features: &FeatureConfig) -> Value {
    json!({
        "examples": summary.examples,
        "texts": summary.texts,
        "labels": summary.labels.iter().map(|(l, n)| json!({"label": l, "examples": n})).collect::<Vec<_>>(),
        "algorithm": summary.algorithm.as_str(),
        "features": features,
        "active_buckets": summary.active_buckets,
        "epochs": summary.epochs,
        "confidence_scale": summary.confidence_scale,
        "training_accuracy": summary.training_accuracy,
    })
}

/// Prints the training summary for people.
fn print_summary(
    summary: &TrainSummary,
    features: &FeatureConfig,
    out: &Path,
    bytes: usize,
    seconds: f64,
) {
    print_fields(&[
        (
            "model",
            format!("{} ({:.1} MiB)", out.display(), mib(bytes)),
        ),
        (
            "messages",
            format!("{} ({} texts)", summary.examples, summary.texts),
        ),
        ("algorithm", summary.algorithm.to_string()),
        (
            "features",
            format!(
                "{} ({} buckets used)",
                describe_features(features),
                summary.active_buckets
            ),
        ),
        ("epochs", summary.epochs.to_string()),
        (
            "confidence scale",
            format!("{:.3}", summary.confidence_scale),
        ),
        (
            "training accuracy",
            format!("{:.4}", summary.training_accuracy),
        ),
        ("time", format!("{seconds:.1} s")),
    ]);
    println!();
    let mut table = Table::new(["CATEGORY", "MESSAGES"]);
    for (label, n) in &summary.labels {
        table.row([label.clone(), n.to_string()]);
    }
    table.print_or("(no categories)");
}

/// Describes feature settings in words, e.g. `character 2-grams in 2^20 buckets`.
fn describe_features(features: &FeatureConfig) -> String {
    let lengths = if features.min_n == features.max_n {
        features.min_n.to_string()
    } else {
        format!("{}-{}", features.min_n, features.max_n)
    };
    format!(
        "character {lengths}-grams in 2^{} buckets, min df {}",
        features.hash_bits, features.min_df
    )
}

/// Describes a training configuration in one line.
fn describe_config(config: &TrainConfig) -> String {
    let solver = match config.algorithm {
        Algorithm::Svm => format!(
            "svm (c {}, {})",
            config.c,
            if config.balanced {
                "balanced"
            } else {
                "unweighted"
            }
        ),
        Algorithm::Logistic => format!("logistic (c {}, {} epochs)", config.c, config.epochs),
        Algorithm::ComplementNb => format!("complement_nb (alpha {})", config.alpha),
    };
    format!(
        "{solver}, {}, seed {}",
        describe_features(&config.features),
        config.seed
    )
}

/// Bytes in MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `classify eval`.
fn run_eval(args: EvalArgs, format: Format) -> anyhow::Result<()> {
    let (examples, report) = load_examples(&args.data.data)?;
    print_load_report(&report, examples.len());
    let started = Instant::now();
    if let Some(k) = args.folds {
        let config = args.flags.config()?;
        let bar = progress_bar("folds");
        let cv = cross_validate(&examples, k, &config, &mut tick(&bar))?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        // Messages known as original text, the form new appeals arrive in.
        let originals = examples.iter().filter(|e| e.form == Form::Original).count();
        let original = (originals > 0 && originals < examples.len())
            .then(|| cv.restricted(&examples, |e| e.form == Form::Original));
        match format {
            Format::Json => print_json(&json!({
                "folds": cv.folds.iter().map(fold_json).collect::<Vec<_>>(),
                "mean_macro_f1": cv.mean_macro_f1(),
                "mean_accuracy": cv.mean_accuracy(),
                "pooled": evaluation_json(&cv.pooled),
                "original_text": original.as_ref().map(|o| json!({
                    "folds": o.folds.iter().map(fold_json).collect::<Vec<_>>(),
                    "mean_macro_f1": o.mean_macro_f1(),
                    "mean_accuracy": o.mean_accuracy(),
                    "pooled": evaluation_json(&o.pooled),
                })),
                "config": config_json(&config),
                "seconds": seconds,
            })),
            Format::Text => print_cross_validation(&cv, original.as_ref(), &config, seconds),
        }
    } else {
        let Some(path) = &args.model else {
            bail!("give --model MODEL, or --folds K to cross-validate");
        };
        let classifier = Classifier::new(read_model(path)?);
        let evaluation = evaluate(&classifier, &examples);
        match format {
            Format::Json => print_json(&evaluation_json(&evaluation)),
            Format::Text => print_evaluation(&evaluation),
        }
    }
    Ok(())
}

/// The training configuration as JSON.
fn config_json(config: &TrainConfig) -> Value {
    json!({
        "algorithm": config.algorithm.as_str(),
        "features": config.features,
        "c": config.c,
        "alpha": config.alpha,
        "balanced": config.balanced,
        "epochs": config.epochs,
        "seed": config.seed,
        "threads": config.threads,
        "calibration_folds": config.calibration_folds,
    })
}

/// One fold's headline figures as JSON.
fn fold_json(evaluation: &Evaluation) -> Value {
    json!({
        "messages": evaluation.total(),
        "accuracy": evaluation.accuracy(),
        "macro_f1": evaluation.macro_f1(),
    })
}

/// A whole evaluation as JSON.
fn evaluation_json(evaluation: &Evaluation) -> Value {
    let (coverage, accuracy) = evaluation.at_confidence(DISPATCH_THRESHOLD);
    json!({
        "messages": evaluation.total(),
        "accuracy": evaluation.accuracy(),
        "macro_f1": evaluation.macro_f1(),
        "mean_confidence": evaluation.mean_confidence(),
        "at_confidence": {
            "threshold": DISPATCH_THRESHOLD,
            "coverage": coverage,
            "accuracy": accuracy,
        },
        "per_class": evaluation.per_class().iter().map(|c| json!({
            "label": c.label,
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "support": c.support,
        })).collect::<Vec<_>>(),
        "labels": evaluation.labels(),
        "confusion": evaluation.confusion(),
    })
}

/// Prints cross-validation results for people; `original` is the same
/// restricted to messages known as original text, when only some are.
fn print_cross_validation(
    cv: &CrossValidation,
    original: Option<&CrossValidation>,
    config: &TrainConfig,
    seconds: f64,
) {
    println!(
        "{}-fold cross-validation: {} ({seconds:.1} s)",
        cv.folds.len(),
        describe_config(config),
    );
    println!();
    let mut headers = vec!["FOLD", "MESSAGES", "ACCURACY", "MACRO-F1"];
    if original.is_some() {
        headers.extend(["ORIGINAL TEXT", "ACCURACY", "MACRO-F1"]);
    }
    let mut table = Table::new(headers);
    let figures = |e: &Evaluation| {
        [
            e.total().to_string(),
            format!("{:.4}", e.accuracy()),
            format!("{:.4}", e.macro_f1()),
        ]
    };
    for (i, fold) in cv.folds.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        row.extend(figures(fold));
        if let Some(original) = original {
            row.extend(figures(&original.folds[i]));
        }
        table.row(row);
    }
    let mut mean = vec![
        "mean".to_owned(),
        String::new(),
        format!("{:.4}", cv.mean_accuracy()),
        format!("{:.4}", cv.mean_macro_f1()),
    ];
    if let Some(original) = original {
        mean.extend([
            String::new(),
            format!("{:.4}", original.mean_accuracy()),
            format!("{:.4}", original.mean_macro_f1()),
        ]);
    }
    table.row(mean);
    print!("{}", table.render());
    if config.calibration_folds < 2 {
        println!();
        println!(
            "confidences are uncalibrated (--calibration-folds {})",
            config.calibration_folds
        );
    }
    println!();
    println!("all folds together:");
    print_evaluation(&cv.pooled);
    if let Some(original) = original {
        println!();
        println!("all folds together, messages known as original text only:");
        print_evaluation(&original.pooled);
    }
}

/// Prints an evaluation for people: headline figures, the per-class table
/// and the confusion matrix.
fn print_evaluation(evaluation: &Evaluation) {
    let (coverage, accuracy) = evaluation.at_confidence(DISPATCH_THRESHOLD);
    print_fields(&[
        ("messages", evaluation.total().to_string()),
        ("accuracy", format!("{:.4}", evaluation.accuracy())),
        ("macro-F1", format!("{:.4}", evaluation.macro_f1())),
        (
            "confident",
            format!(
                "{:.1}% of messages at confidence ≥ {DISPATCH_THRESHOLD}, {:.4} accurate",
                coverage * 100.0,
                accuracy
            ),
        ),
    ]);
    println!();
    let mut table = Table::new(["CATEGORY", "PRECISION", "RECALL", "F1", "SUPPORT"]);
    for class in evaluation.per_class() {
        table.row([
            class.label,
            format!("{:.4}", class.precision),
            format!("{:.4}", class.recall),
            format!("{:.4}", class.f1),
            class.support.to_string(),
        ]);
    }
    print!("{}", table.render());
    println!();
    println!("confusion matrix (rows: true category, columns: predicted, numbered as the rows)");
    let labels = evaluation.labels();
    let mut matrix =
        Table::new(std::iter::once(String::new()).chain((1..=labels.len()).map(|i| i.to_string())));
    for (i, (label, row)) in labels.iter().zip(evaluation.confusion()).enumerate() {
        matrix.row(
            std::iter::once(format!("{} {label}", i + 1)).chain(row.iter().map(u64::to_string)),
        );
    }
    print!("{}", matrix.render());
}

/// `classify predict`.
fn run_predict(args: PredictArgs) -> anyhow::Result<()> {
    let classifier = Classifier::new(read_model(&args.model)?);
    let rows = read_rows(&args.data)?;
    let bar = progress_bar("predicting");
    bar.set_length(rows.len() as u64);
    let started = Instant::now();
    let mut out = Vec::new();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer.write_record(["id", "label", "confidence"])?;
        for row in &rows {
            let prediction = classifier.classify(&row.title, &row.body, 1);
            writer.write_record([
                row.id.as_str(),
                prediction.label.as_str(),
                &format!("{:.4}", prediction.confidence),
            ])?;
            bar.inc(1);
        }
        writer.flush()?;
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if args.out.as_os_str() == "-" {
        use std::io::Write as _;
        std::io::stdout().write_all(&out)?;
    } else {
        write_atomically(&args.out, &out)?;
        eprintln!(
            "wrote {} predictions to {} in {seconds:.2} s ({:.0} messages/s)",
            rows.len(),
            args.out.display(),
            rows.len() as f64 / seconds.max(1e-9)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_file_shapes_are_read_with_ids_keys_and_labels() {
        let text = "\u{feff}id,title,body,label,full_row\n7,停水,\"小区停水,三天了\",城乡建设,41\n8,,只有正文,,\n";
        let rows = read_rows_from(text.as_bytes()).expect("reads");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "7");
        assert_eq!(rows[0].key.as_deref(), Some("41"));
        assert_eq!(rows[0].form, Form::Original);
        assert_eq!(row_text(&rows[0]), "停水\n小区停水,三天了");
        assert_eq!(rows[0].label.as_deref(), Some("城乡建设"));
        assert_eq!(row_text(&rows[1]), "只有正文");
        assert_eq!(rows[1].label, None);
        assert_eq!(rows[1].key, None);

        let tokens = "full_row,tokens,label\n41,小区 停水 三天,城乡建设\n";
        let rows = read_rows_from(tokens.as_bytes()).expect("reads");
        assert_eq!(rows[0].form, Form::Segmented);
        assert_eq!(rows[0].id, "1");
        assert_eq!(row_text(&rows[0]), "小区 停水 三天");
    }

    #[test]
    fn a_file_without_text_columns_is_refused_with_its_header() {
        let err = read_rows_from("id,label\n1,x\n".as_bytes()).expect_err("no text");
        assert!(err.to_string().contains("id,label"), "{err}");
    }

    #[test]
    fn ngram_ranges_parse() {
        assert_eq!(parse_range("1-3").expect("ok"), (1, 3));
        assert_eq!(parse_range("2").expect("ok"), (2, 2));
        assert!(parse_range("a-b").is_err());
    }

    #[test]
    fn flags_override_the_defaults() {
        let flags = TrainFlags {
            algorithm: Some("logistic".into()),
            c: Some(2.0),
            alpha: None,
            balanced: None,
            ngrams: Some((2, 4)),
            hash_bits: Some(18),
            min_df: None,
            epochs: None,
            seed: Some(1),
            calibration_folds: None,
            threads: None,
        };
        let config = flags.config().expect("valid");
        assert_eq!(config.algorithm, Algorithm::Logistic);
        assert_eq!(config.c, 2.0);
        assert_eq!((config.features.min_n, config.features.max_n), (2, 4));
        assert_eq!(config.features.hash_bits, 18);
        assert_eq!(config.seed, 1);
        assert_eq!(
            config.calibration_folds,
            TrainConfig::default().calibration_folds
        );
    }
}

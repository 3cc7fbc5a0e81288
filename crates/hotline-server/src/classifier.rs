//! The intake classifier in force: an optional trained model plus keyword
//! rules, loaded from files and swapped whole on `ReloadClassifier`, so a
//! reload never blocks or fails a `CreateTicket` in flight.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hotline_core::classify::{
    Classifier, KeywordRule, KeywordRules, Model, ModelError, RuleError, builtin_keyword_rules,
    fnv1a64, parse_keyword_rules,
};
use hotline_core::{Category, Classification, ScoredCategory, Taxonomy};

/// Categories a classification reports as candidates.
const CANDIDATES: usize = 3;

/// Why a model or rules file could not be loaded; the classifier in force stays.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The model file is not a valid model.
    #[error("model {path} is refused: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ModelError,
    },
    /// The keyword rules do not parse.
    #[error("keyword rules {path} are refused: {source}")]
    Rules {
        /// The file, or `built-in`.
        path: String,
        /// What is wrong with them.
        source: RuleError,
    },
}

/// Where the classifier's parts come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassifierSource {
    /// The model file; `None` runs on keyword rules alone.
    pub model: Option<PathBuf>,
    /// The keyword rules file; `None` uses the shipped rules.
    pub keyword_rules: Option<PathBuf>,
}

/// A loaded classifier: what `CreateTicket` asks for a category.
#[derive(Debug)]
pub struct IntakeClassifier {
    /// The model with the rules attached, when a model is configured.
    model: Option<Classifier>,
    /// The rules alone, used when there is no model.
    rules: KeywordRules,
    /// Short fingerprint of the model file, or `none`.
    version: String,
    /// Where it was loaded from.
    source: ClassifierSource,
}

impl IntakeClassifier {
    /// Loads the model and rules named by `source`.
    ///
    /// # Errors
    /// An unreadable file, a refused model or rules that do not parse.
    pub fn load(source: &ClassifierSource) -> Result<Self, LoadError> {
        let rules = match &source.keyword_rules {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
                    path: path.clone(),
                    source: e,
                })?;
                parse_keyword_rules(&text).map_err(|e| LoadError::Rules {
                    path: path.display().to_string(),
                    source: e,
                })?
            }
            None => builtin_keyword_rules(),
        };
        let (model, version) = match &source.model {
            Some(path) => {
                let (model, version) = read_model(path)?;
                let classifier = Classifier::new(model)
                    .with_rules(rules.clone())
                    .map_err(|e| rules_error(source, e))?;
                (Some(classifier), version)
            }
            None => (None, "none".to_owned()),
        };
        let rules = KeywordRules::new(rules).map_err(|e| rules_error(source, e))?;
        Ok(Self {
            model,
            rules,
            version,
            source: source.clone(),
        })
    }

    /// Keyword rules only, for tests and for a service that has no files.
    pub fn builtin() -> Self {
        Self {
            model: None,
            rules: KeywordRules::new(builtin_keyword_rules()).unwrap_or_default(),
            version: "none".to_owned(),
            source: ClassifierSource::default(),
        }
    }

    /// Returns the model's fingerprint, or `none`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Returns how many labels the model knows (0 without a model).
    pub fn labels(&self) -> usize {
        self.model.as_ref().map_or(0, |c| c.model().labels().len())
    }

    /// Returns how many keyword rules are in force.
    pub fn rule_count(&self) -> usize {
        self.rules.rules().len()
    }

    /// Returns where it was loaded from.
    pub fn source(&self) -> &ClassifierSource {
        &self.source
    }

    /// Classifies an appeal into the taxonomy. A label outside the taxonomy
    /// gives no category (the candidates still show what the model thought).
    pub fn classify(
        &self,
        title: &str,
        body: &str,
        taxonomy: &Taxonomy,
    ) -> (Option<Category>, Classification) {
        let (label, confidence, candidates, source) = match &self.model {
            Some(classifier) => {
                let prediction = classifier.classify(title, body, CANDIDATES);
                let source = match prediction.rule {
                    Some(index) => self.rule_name(index),
                    None => format!("model {}", self.version),
                };
                let candidates = prediction
                    .top
                    .into_iter()
                    .map(|(category, confidence)| ScoredCategory {
                        category,
                        confidence,
                    })
                    .collect();
                (
                    Some(prediction.label),
                    prediction.confidence,
                    candidates,
                    source,
                )
            }
            None => match self.rules.find(title, body) {
                Some(index) => {
                    let category = self.rules.rules()[index].category.clone();
                    (
                        Some(category.clone()),
                        1.0,
                        vec![ScoredCategory {
                            category,
                            confidence: 1.0,
                        }],
                        self.rule_name(index),
                    )
                }
                None => (None, 0.0, Vec::new(), String::new()),
            },
        };
        let category = label
            .filter(|l| taxonomy.contains(l))
            .map(|label| Category {
                path: label.clone(),
                label,
                confidence,
                overridden: false,
            });
        if category.is_none() && !candidates.is_empty() {
            tracing::debug!("classifier label is not in the taxonomy");
        }
        (
            category,
            Classification {
                source: if candidates.is_empty() {
                    String::new()
                } else {
                    source
                },
                candidates,
            },
        )
    }

    fn rule_name(&self, index: usize) -> String {
        let keywords = self
            .rules
            .rules()
            .get(index)
            .map_or_else(String::new, |r: &KeywordRule| r.keywords.join("+"));
        format!("keyword rule {} ({keywords})", index + 1)
    }
}

fn rules_error(source: &ClassifierSource, error: RuleError) -> LoadError {
    LoadError::Rules {
        path: source
            .keyword_rules
            .as_ref()
            .map_or_else(|| "built-in".to_owned(), |p| p.display().to_string()),
        source: error,
    }
}

/// Reads and checks a model file; its version is a fingerprint of the bytes.
fn read_model(path: &Path) -> Result<(Model, String), LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
        path: path.to_owned(),
        source: e,
    })?;
    let model = Model::from_bytes(&bytes).map_err(|e| LoadError::Model {
        path: path.to_owned(),
        source: e,
    })?;
    Ok((model, format!("{:016x}", fnv1a64(&bytes))))
}

/// The classifier in force, swapped whole.
#[derive(Debug)]
pub struct ClassifierSlot {
    current: std::sync::RwLock<Arc<IntakeClassifier>>,
}

impl ClassifierSlot {
    /// Holds `classifier`.
    pub fn new(classifier: IntakeClassifier) -> Self {
        Self {
            current: std::sync::RwLock::new(Arc::new(classifier)),
        }
    }

    /// Returns the classifier in force.
    pub fn get(&self) -> Arc<IntakeClassifier> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts `classifier` in force.
    pub fn set(&self, classifier: IntakeClassifier) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(classifier);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_model_keyword_rules_decide_and_everything_else_has_no_category() {
        let classifier = IntakeClassifier::builtin();
        let taxonomy = Taxonomy::builtin();
        let (category, why) = classifier.classify("小区噪音扰民", "每晚都很吵", &taxonomy);
        let category = category.expect("a rule matches");
        assert_eq!(category.path, "环境保护/噪声污染/社会生活噪声");
        assert!((category.confidence - 1.0).abs() < f64::EPSILON);
        assert!(why.source.starts_with("keyword rule"), "{}", why.source);
        let (none, why) = classifier.classify("咨询", "社保卡怎么办理", &taxonomy);
        assert!(none.is_none());
        assert!(why.source.is_empty() && why.candidates.is_empty());
    }

    #[test]
    fn bad_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("bad.model");
        std::fs::write(&model, b"not a model").expect("write");
        let error = IntakeClassifier::load(&ClassifierSource {
            model: Some(model.clone()),
            keyword_rules: None,
        })
        .expect_err("refused")
        .to_string();
        assert!(error.contains("bad.model"), "{error}");
        let rules = dir.path().join("rules.txt");
        std::fs::write(&rules, "环境保护\n").expect("write");
        let error = IntakeClassifier::load(&ClassifierSource {
            model: None,
            keyword_rules: Some(rules),
        })
        .expect_err("refused")
        .to_string();
        assert!(
            error.contains("rules.txt") && error.contains("line 1"),
            "{error}"
        );
        let missing = IntakeClassifier::load(&ClassifierSource {
            model: Some(dir.path().join("absent.model")),
            keyword_rules: None,
        });
        assert!(matches!(missing, Err(LoadError::Read { .. })));
    }
}

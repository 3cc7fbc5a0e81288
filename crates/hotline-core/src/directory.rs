//! Reference data the state machine checks commands against: the department
//! tree and the category taxonomy. Held in memory by callers and passed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::DepartmentId;

/// A department that can be handed tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Administrator-chosen id (e.g. `sz.gusu.env`).
    pub id: DepartmentId,
    /// Display name.
    pub name: String,
    /// The department above it, for delegation and scoping.
    pub parent_id: Option<DepartmentId>,
    /// The area it serves (administrative code), or empty.
    pub region_code: String,
    /// Depth in the tree: 1 for city bureaus, 2 for districts, ...
    pub level: u32,
}

/// One category of the taxonomy: a stable code and the path it names now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxonomyEntry {
    /// Stable code (`010101`): kept when the category is renamed, never reused.
    pub code: String,
    /// Levels joined by `/` (`城乡建设/物业管理/物业服务`).
    pub path: String,
}

/// Why a taxonomy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxonomyError {
    /// A line of a taxonomy file is not `CODE PATH`.
    #[error("taxonomy line {line}: expected a code, a space and a path")]
    Syntax {
        /// The 1-based line number.
        line: usize,
    },
    /// A code is empty or has characters other than ASCII letters, digits, `-`, `_` and `.`.
    #[error("taxonomy code {code:?} must be 1 to 32 ASCII letters, digits, '-', '_' or '.'")]
    BadCode {
        /// The code.
        code: String,
    },
    /// A path has an empty level or a level with surrounding spaces.
    #[error("taxonomy path {path:?} has an empty or padded level")]
    BadPath {
        /// The path.
        path: String,
    },
    /// Two entries share a code.
    #[error("taxonomy code {code} is given twice")]
    DuplicateCode {
        /// The code.
        code: String,
    },
    /// Two entries share a path.
    #[error("taxonomy path {path} is given twice")]
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// A category's parent is not listed before it.
    #[error("taxonomy path {path} comes before (or without) its parent {parent}")]
    MissingParent {
        /// The path.
        path: String,
        /// Its parent path.
        parent: String,
    },
}

/// The category tree: every category has a stable code and a path, and every
/// prefix of a path is itself a category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taxonomy {
    /// The entries in the order given (parents before children).
    entries: Vec<TaxonomyEntry>,
    /// Path → index into `entries`.
    by_path: BTreeMap<String, usize>,
    /// Code → index into `entries`.
    by_code: BTreeMap<String, usize>,
}

impl Taxonomy {
    /// Builds a taxonomy from entries, parents before children.
    ///
    /// # Errors
    /// [`TaxonomyError`] for a bad or repeated code or path, or a missing parent.
    pub fn new(entries: Vec<TaxonomyEntry>) -> Result<Self, TaxonomyError> {
        let mut by_path = BTreeMap::new();
        let mut by_code = BTreeMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let code_ok = !entry.code.is_empty()
                && entry.code.len() <= 32
                && entry
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !code_ok {
                return Err(TaxonomyError::BadCode {
                    code: entry.code.clone(),
                });
            }
            if entry.path.split('/').any(|l| l.is_empty() || l.trim() != l) {
                return Err(TaxonomyError::BadPath {
                    path: entry.path.clone(),
                });
            }
            if let Some((parent, _)) = entry.path.rsplit_once('/')
                && !by_path.contains_key(parent)
            {
                return Err(TaxonomyError::MissingParent {
                    path: entry.path.clone(),
                    parent: parent.to_owned(),
                });
            }
            if by_code.insert(entry.code.clone(), index).is_some() {
                return Err(TaxonomyError::DuplicateCode {
                    code: entry.code.clone(),
                });
            }
            if by_path.insert(entry.path.clone(), index).is_some() {
                return Err(TaxonomyError::DuplicatePath {
                    path: entry.path.clone(),
                });
            }
        }
        Ok(Self {
            entries,
            by_path,
            by_code,
        })
    }

    /// Builds a taxonomy from paths alone, for tests and imports: every prefix
    /// becomes a category, and its code is its path.
    pub fn from_paths<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut entries: Vec<TaxonomyEntry> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for path in paths {
            let mut prefix = String::new();
            for level in path
                .as_ref()
                .split('/')
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(level);
                if seen.insert(prefix.clone()) {
                    entries.push(TaxonomyEntry {
                        code: format!("{:016x}", crate::classify::fnv1a64(prefix.as_bytes())),
                        path: prefix.clone(),
                    });
                }
            }
        }
        Self::new(entries).unwrap_or_default()
    }

    /// The taxonomy shipped with the service, written for a typical city center.
    pub fn builtin() -> Self {
        Self::parse(include_str!("../data/taxonomy.txt")).unwrap_or_default()
    }

    /// Parses the text format: one `CODE PATH` per line, parents first; blank
    /// lines and `#` comments are skipped.
    ///
    /// # Errors
    /// [`TaxonomyError`] naming the bad line or entry.
    pub fn parse(text: &str) -> Result<Self, TaxonomyError> {
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((code, path)) = line.split_once(char::is_whitespace) else {
                return Err(TaxonomyError::Syntax { line: number + 1 });
            };
            entries.push(TaxonomyEntry {
                code: code.to_owned(),
                path: path.trim().to_owned(),
            });
        }
        Self::new(entries)
    }

    /// Writes the text format [`Taxonomy::parse`] reads.
    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{}\t{}\n", e.code, e.path))
            .collect()
    }

    /// Returns true if `path` is a category.
    pub fn contains(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }

    /// Returns the code of a category path.
    pub fn code_of(&self, path: &str) -> Option<&str> {
        self.by_path
            .get(path)
            .map(|&i| self.entries[i].code.as_str())
    }

    /// Returns the path a code names now.
    pub fn path_of(&self, code: &str) -> Option<&str> {
        self.by_code
            .get(code)
            .map(|&i| self.entries[i].path.as_str())
    }

    /// Resolves what a caller gave, a code or a path, to the path.
    pub fn resolve<'a>(&'a self, code_or_path: &str) -> Option<&'a str> {
        self.path_of(code_or_path).or_else(|| {
            self.by_path
                .get(code_or_path)
                .map(|&i| self.entries[i].path.as_str())
        })
    }

    /// Returns every category path, parents before children.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.path.as_str())
    }

    /// Returns every entry, parents before children.
    pub fn entries(&self) -> &[TaxonomyEntry] {
        &self.entries
    }

    /// Returns true if there is no category.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Departments and taxonomy, as one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    departments: BTreeMap<DepartmentId, Department>,
    /// The category tree.
    pub taxonomy: Taxonomy,
}

impl Directory {
    /// Builds a snapshot.
    pub fn new(departments: impl IntoIterator<Item = Department>, taxonomy: Taxonomy) -> Self {
        Self {
            departments: departments.into_iter().map(|d| (d.id.clone(), d)).collect(),
            taxonomy,
        }
    }

    /// Returns the department with this id.
    pub fn department(&self, id: &DepartmentId) -> Option<&Department> {
        self.departments.get(id)
    }

    /// Returns every department, ordered by id.
    pub fn departments(&self) -> impl Iterator<Item = &Department> {
        self.departments.values()
    }

    /// Returns whether `descendant` sits strictly below `ancestor` in the tree.
    pub fn is_descendant(&self, descendant: &DepartmentId, ancestor: &DepartmentId) -> bool {
        let mut current = self
            .departments
            .get(descendant)
            .and_then(|d| d.parent_id.as_ref());
        // The hop bound guards against a cycle an administrator might have created.
        for _ in 0..=self.departments.len() {
            match current {
                None => return false,
                Some(parent) if parent == ancestor => return true,
                Some(parent) => {
                    current = self
                        .departments
                        .get(parent)
                        .and_then(|d| d.parent_id.as_ref());
                }
            }
        }
        false
    }

    /// Returns `id` and every department below it.
    pub fn subtree(&self, id: &DepartmentId) -> Vec<DepartmentId> {
        let mut out = vec![id.clone()];
        out.extend(
            self.departments
                .keys()
                .filter(|d| self.is_descendant(d, id))
                .cloned(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(id: &str, parent: Option<&str>) -> Department {
        Department {
            id: id.into(),
            name: id.to_owned(),
            parent_id: parent.map(DepartmentId::from),
            region_code: String::new(),
            level: 1,
        }
    }

    #[test]
    fn descendants_follow_parent_links_and_survive_cycles() {
        let dir = Directory::new(
            [
                dept("a", None),
                dept("b", Some("a")),
                dept("c", Some("b")),
                dept("x", Some("y")),
                dept("y", Some("x")),
            ],
            Taxonomy::default(),
        );
        assert!(dir.is_descendant(&"c".into(), &"a".into()));
        assert!(!dir.is_descendant(&"a".into(), &"c".into()));
        assert!(!dir.is_descendant(&"x".into(), &"a".into()));
        assert_eq!(
            dir.subtree(&"b".into()),
            vec![DepartmentId::from("b"), "c".into()]
        );
    }

    #[test]
    fn taxonomy_knows_every_prefix() {
        let tax = Taxonomy::from_paths(["城乡建设/物业管理/物业服务", "环境保护"]);
        assert!(tax.contains("城乡建设"));
        assert!(tax.contains("城乡建设/物业管理"));
        assert!(!tax.contains("城乡建设/物业"));
    }

    #[test]
    fn builtin_taxonomy_has_three_levels() {
        let tax = Taxonomy::builtin();
        assert!(tax.contains("环境保护/噪声污染/施工噪声"));
        assert!(tax.contains("城乡建设/公用事业"));
        assert!(!tax.contains("#"));
    }

    #[test]
    fn the_shipped_taxonomy_has_a_code_for_every_level() {
        let taxonomy = Taxonomy::builtin();
        assert!(taxonomy.entries().len() > 50);
        assert_eq!(taxonomy.code_of("城乡建设"), Some("01"));
        assert_eq!(
            taxonomy.path_of("010101"),
            Some("城乡建设/物业管理/物业服务")
        );
        assert_eq!(
            taxonomy.resolve("010101"),
            taxonomy.resolve("城乡建设/物业管理/物业服务")
        );
        assert!(taxonomy.resolve("城乡").is_none());
        assert_eq!(Taxonomy::parse(&taxonomy.to_text()), Ok(taxonomy));
    }

    #[test]
    fn bad_taxonomies_are_refused_with_the_reason() {
        assert_eq!(
            Taxonomy::parse("01 a\nlonely\n"),
            Err(TaxonomyError::Syntax { line: 2 })
        );
        assert!(matches!(
            Taxonomy::parse("01 a\n01 b\n"),
            Err(TaxonomyError::DuplicateCode { .. })
        ));
        assert!(matches!(
            Taxonomy::parse("01 a\n02 a\n"),
            Err(TaxonomyError::DuplicatePath { .. })
        ));
        assert!(matches!(
            Taxonomy::parse("0101 a/b\n01 a\n"),
            Err(TaxonomyError::MissingParent { .. })
        ));
        assert!(matches!(
            Taxonomy::parse("0 1 a//b\n"),
            Err(TaxonomyError::BadPath { .. })
        ));
        assert!(matches!(
            Taxonomy::parse("代码 a\n"),
            Err(TaxonomyError::BadCode { .. })
        ));
    }
}

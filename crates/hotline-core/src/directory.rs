//! Reference data the state machine checks commands against: the department
//! tree and the category taxonomy. Held in memory by callers and passed in.

use std::collections::{BTreeMap, BTreeSet};

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

/// The category tree, as the set of every path and every prefix of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taxonomy {
    paths: BTreeSet<String>,
}

impl Taxonomy {
    /// Builds a taxonomy from leaf or inner paths (`a/b/c`); every prefix is also a category.
    pub fn from_paths<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
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
                set.insert(prefix.clone());
            }
        }
        Self { paths: set }
    }

    /// Returns the taxonomy shipped with hotline (`data/taxonomy.txt`).
    pub fn builtin() -> Self {
        Self::parse(include_str!("../data/taxonomy.txt"))
    }

    /// Parses one path per line; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Self {
        Self::from_paths(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }

    /// Returns whether `path` names a category.
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// Returns every category path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(String::as_str)
    }

    /// Returns whether no category is defined (then any category hint is refused).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
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
}

//! Routing rules: (category prefix, region prefix, appeal type) → lead department
//! and co-handlers. The most specific matching rule wins.

use serde::{Deserialize, Serialize};

use crate::command::DispatchTarget;
use crate::ids::DepartmentId;
use crate::model::AppealType;
use crate::policy::category_has_prefix;

/// One routing rule. Empty prefixes and a `None` type match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// Administrator-chosen id, for listings and logs.
    pub id: String,
    /// Category path prefix, on whole levels (`城乡建设/公用事业`).
    pub category_prefix: String,
    /// Region code prefix (`320506`).
    pub region_prefix: String,
    /// Appeal type, when the rule is for one type only.
    pub appeal_type: Option<AppealType>,
    /// The accountable department.
    pub lead_department_id: DepartmentId,
    /// Departments that help.
    pub co_department_ids: Vec<DepartmentId>,
    /// Dispatch at create without an operator (直派) when the classification is confident.
    pub direct_dispatch: bool,
}

impl RoutingRule {
    fn matches(&self, category: Option<&str>, region_code: &str, appeal_type: AppealType) -> bool {
        let category_ok = self.category_prefix.is_empty()
            || category.is_some_and(|c| category_has_prefix(c, &self.category_prefix));
        category_ok
            && region_code.starts_with(&self.region_prefix)
            && self.appeal_type.is_none_or(|t| t == appeal_type)
    }

    /// Deeper category first, then longer region prefix, then a named appeal type.
    fn specificity(&self) -> (usize, usize, bool) {
        let levels = if self.category_prefix.is_empty() {
            0
        } else {
            self.category_prefix.split('/').count()
        };
        (levels, self.region_prefix.len(), self.appeal_type.is_some())
    }

    /// Returns where this rule sends a ticket.
    pub fn target(&self) -> DispatchTarget {
        DispatchTarget {
            lead_department_id: self.lead_department_id.clone(),
            co_department_ids: self.co_department_ids.clone(),
        }
    }
}

/// Returns the most specific rule matching a ticket; ties go to the earlier rule.
pub fn route<'a>(
    rules: &'a [RoutingRule],
    category: Option<&str>,
    region_code: &str,
    appeal_type: AppealType,
) -> Option<&'a RoutingRule> {
    let mut best: Option<&RoutingRule> = None;
    for rule in rules
        .iter()
        .filter(|r| r.matches(category, region_code, appeal_type))
    {
        if best.is_none_or(|b| rule.specificity() > b.specificity()) {
            best = Some(rule);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        id: &str,
        category: &str,
        region: &str,
        appeal_type: Option<AppealType>,
    ) -> RoutingRule {
        RoutingRule {
            id: id.to_owned(),
            category_prefix: category.to_owned(),
            region_prefix: region.to_owned(),
            appeal_type,
            lead_department_id: DepartmentId::new(id),
            co_department_ids: Vec::new(),
            direct_dispatch: true,
        }
    }

    #[test]
    fn most_specific_rule_wins() {
        let rules = vec![
            rule("city-env", "环境保护", "", None),
            rule("gusu-env", "环境保护", "320508", None),
            rule("gusu-noise", "环境保护/噪声污染", "320508", None),
            rule("catch-all", "", "", None),
        ];
        let hit = |c: &str, r: &str| {
            route(&rules, Some(c), r, AppealType::Complaint).map(|r| r.id.clone())
        };
        assert_eq!(
            hit("环境保护/噪声污染/施工噪声", "320508001").as_deref(),
            Some("gusu-noise")
        );
        assert_eq!(
            hit("环境保护/大气污染", "320508001").as_deref(),
            Some("gusu-env")
        );
        assert_eq!(
            hit("环境保护/大气污染", "320506").as_deref(),
            Some("city-env")
        );
        assert_eq!(hit("交通运输", "320506").as_deref(), Some("catch-all"));
    }

    #[test]
    fn no_rule_no_route() {
        let rules = vec![rule("env", "环境保护", "", Some(AppealType::Report))];
        assert!(route(&rules, Some("环境保护"), "", AppealType::Complaint).is_none());
        assert!(route(&rules, None, "", AppealType::Report).is_none());
    }
}

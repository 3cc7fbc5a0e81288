//! Routing rules: (category prefix, region prefix, appeal type) → lead department
//! and co-handlers. The most specific matching rule wins.

use serde::{Deserialize, Serialize};

use crate::command::DispatchTarget;
use crate::directory::Directory;
use crate::ids::DepartmentId;
use crate::model::{AppealType, Category, coded_enum};
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

coded_enum! {
    /// What intake routing did with a ticket.
    RoutingOutcome {
        /// A direct-dispatch rule matched and the category was confident enough.
        AutoDispatched = "AUTO_DISPATCHED",
        /// No category: neither an operator, a keyword rule nor a model gave one.
        NoCategory = "NO_CATEGORY",
        /// No routing rule matches the category, region and appeal type.
        NoRule = "NO_RULE",
        /// The matching rule leaves dispatch to an operator.
        RuleNotDirect = "RULE_NOT_DIRECT",
        /// The category's confidence is under the auto-dispatch threshold.
        BelowThreshold = "BELOW_THRESHOLD",
        /// The matching rule names a department the directory does not know.
        UnknownDepartment = "UNKNOWN_DEPARTMENT",
    }
}

/// A category the classifier considered, with its confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredCategory {
    /// Category path or classifier label.
    pub category: String,
    /// Confidence, 0..=1.
    pub confidence: f64,
}

/// How intake categorised a ticket, as routing needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Classification {
    /// Who or what chose the category: `operator`, `keyword rule 2 (噪音+扰民)`,
    /// `model 9f2c…`, or empty when nothing did.
    pub source: String,
    /// The classifier's best categories, best first (empty for an operator's choice).
    pub candidates: Vec<ScoredCategory>,
}

/// Why intake sent a ticket where it went: kept on the ticket, so an operator
/// can see which rule and which score decided, and correct a bad rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// What happened.
    pub outcome: RoutingOutcome,
    /// The most specific matching rule, if any.
    pub rule_id: Option<String>,
    /// Where the matching rule sends the ticket (set even when it was not dispatched).
    pub target: Option<DispatchTarget>,
    /// Who or what chose the category.
    pub classified_by: String,
    /// Confidence of the category routing used (0 without one).
    pub confidence: f64,
    /// The auto-dispatch threshold in force.
    pub threshold: f64,
    /// The classifier's best categories, best first.
    pub candidates: Vec<ScoredCategory>,
    /// The decision in one sentence.
    pub explanation: String,
}

impl RoutingDecision {
    /// Returns the departments to dispatch to at create, when the decision is to.
    pub fn auto_dispatch(&self) -> Option<&DispatchTarget> {
        match self.outcome {
            RoutingOutcome::AutoDispatched => self.target.as_ref(),
            _ => None,
        }
    }
}

/// Decides intake routing: the most specific rule for the ticket's category,
/// region and appeal type, dispatched at once when the rule is direct, the
/// category confident enough and every department known.
pub fn decide_routing(
    rules: &[RoutingRule],
    directory: &Directory,
    category: Option<&Category>,
    classification: &Classification,
    region_code: &str,
    appeal_type: AppealType,
    threshold: f64,
) -> RoutingDecision {
    let confidence = category.map_or(0.0, |c| c.confidence);
    let mut decision = RoutingDecision {
        outcome: RoutingOutcome::NoCategory,
        rule_id: None,
        target: None,
        classified_by: classification.source.clone(),
        confidence,
        threshold,
        candidates: classification.candidates.clone(),
        explanation: String::new(),
    };
    let Some(category) = category else {
        decision.explanation = "no category: the ticket waits for an operator".to_owned();
        return decision;
    };
    let by = if classification.source.is_empty() {
        String::new()
    } else {
        format!(" by {}", classification.source)
    };
    let classified = format!("category {} ({confidence:.2}{by})", category.path);
    let Some(rule) = route(rules, Some(&category.path), region_code, appeal_type) else {
        decision.outcome = RoutingOutcome::NoRule;
        decision.explanation = format!(
            "{classified}: no routing rule matches region {region_code} and appeal type {appeal_type}; the ticket waits for an operator"
        );
        return decision;
    };
    let target = rule.target();
    decision.rule_id = Some(rule.id.clone());
    let sends = format!(
        "rule {} (category {}, region {}{}) sends it to {}{}",
        rule.id,
        or_any(&rule.category_prefix),
        or_any(&rule.region_prefix),
        rule.appeal_type
            .map_or(String::new(), |t| format!(", type {t}")),
        target.lead_department_id,
        if target.co_department_ids.is_empty() {
            String::new()
        } else {
            let co: Vec<&str> = target
                .co_department_ids
                .iter()
                .map(DepartmentId::as_str)
                .collect();
            format!(" with {}", co.join(", "))
        }
    );
    let known = std::iter::once(&target.lead_department_id)
        .chain(&target.co_department_ids)
        .all(|d| directory.department(d).is_some());
    let (outcome, tail) = if !known {
        (
            RoutingOutcome::UnknownDepartment,
            "a department of the rule is unknown; the ticket waits for an operator".to_owned(),
        )
    } else if !rule.direct_dispatch {
        (
            RoutingOutcome::RuleNotDirect,
            "the rule is not for direct dispatch; the ticket waits for an operator".to_owned(),
        )
    } else if confidence < threshold {
        (
            RoutingOutcome::BelowThreshold,
            format!(
                "confidence {confidence:.2} is under the threshold {threshold:.2}; the ticket waits for an operator"
            ),
        )
    } else {
        (
            RoutingOutcome::AutoDispatched,
            format!(
                "confidence {confidence:.2} reaches the threshold {threshold:.2}: dispatched at intake"
            ),
        )
    };
    decision.outcome = outcome;
    decision.target = Some(target);
    decision.explanation = format!("{classified}: {sends}; {tail}");
    decision
}

fn or_any(prefix: &str) -> &str {
    if prefix.is_empty() { "any" } else { prefix }
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

    fn directory(ids: &[&str]) -> Directory {
        Directory::new(
            ids.iter().map(|id| crate::Department {
                id: DepartmentId::new(*id),
                name: (*id).to_owned(),
                parent_id: None,
                region_code: String::new(),
                level: 1,
            }),
            crate::Taxonomy::builtin(),
        )
    }

    fn category(path: &str, confidence: f64) -> Category {
        Category {
            path: path.to_owned(),
            label: path.to_owned(),
            confidence,
            overridden: false,
        }
    }

    fn by_model() -> Classification {
        Classification {
            source: "model test".to_owned(),
            candidates: vec![ScoredCategory {
                category: "环境保护".to_owned(),
                confidence: 0.93,
            }],
        }
    }

    #[test]
    fn decision_explains_rule_score_and_outcome() {
        let mut direct = rule("gusu-env", "环境保护", "320508", None);
        direct.co_department_ids = vec![DepartmentId::new("gusu-street")];
        let mut manual = rule("city-traffic", "交通运输", "", None);
        manual.direct_dispatch = false;
        let rules = vec![direct, manual, rule("ghost", "卫生计生", "", None)];
        let dir = directory(&["gusu-env", "gusu-street", "city-traffic"]);
        let decide = |c: Option<&Category>, region: &str| {
            decide_routing(
                &rules,
                &dir,
                c,
                &by_model(),
                region,
                AppealType::Complaint,
                0.8,
            )
        };

        let env = category("环境保护/噪声污染/社会生活噪声", 0.93);
        let hit = decide(Some(&env), "320508001");
        assert_eq!(hit.outcome, RoutingOutcome::AutoDispatched);
        assert_eq!(hit.rule_id.as_deref(), Some("gusu-env"));
        let target = hit.auto_dispatch().expect("dispatched");
        assert_eq!(target.lead_department_id.as_str(), "gusu-env");
        assert_eq!(
            target.co_department_ids,
            vec![DepartmentId::new("gusu-street")]
        );
        for part in [
            "gusu-env",
            "320508",
            "0.93",
            "0.80",
            "model test",
            "gusu-street",
        ] {
            assert!(
                hit.explanation.contains(part),
                "{part} missing: {}",
                hit.explanation
            );
        }
        assert_eq!(hit.candidates, by_model().candidates);

        let unsure = decide(Some(&category("环境保护", 0.5)), "320508");
        assert_eq!(unsure.outcome, RoutingOutcome::BelowThreshold);
        assert!(unsure.auto_dispatch().is_none());
        assert_eq!(
            unsure.target.map(|t| t.lead_department_id),
            Some(DepartmentId::new("gusu-env"))
        );

        // Region fall-through: no rule for the environment outside 320508.
        let elsewhere = decide(Some(&env), "320506");
        assert_eq!(elsewhere.outcome, RoutingOutcome::NoRule);
        assert!(elsewhere.rule_id.is_none() && elsewhere.auto_dispatch().is_none());

        let traffic = decide(Some(&category("交通运输/公共交通/公交线路", 1.0)), "320508");
        assert_eq!(traffic.outcome, RoutingOutcome::RuleNotDirect);
        assert!(traffic.auto_dispatch().is_none());

        let ghost = decide(Some(&category("卫生计生", 1.0)), "320508");
        assert_eq!(ghost.outcome, RoutingOutcome::UnknownDepartment);
        assert!(ghost.auto_dispatch().is_none());

        let none = decide(None, "320508");
        assert_eq!(none.outcome, RoutingOutcome::NoCategory);
        assert!(none.rule_id.is_none() && none.auto_dispatch().is_none());
    }

    #[test]
    fn decisions_survive_a_json_round_trip() {
        let rules = vec![rule("env", "环境保护", "", None)];
        let dir = directory(&["env"]);
        let decision = decide_routing(
            &rules,
            &dir,
            Some(&category("环境保护", 0.9)),
            &by_model(),
            "320508",
            AppealType::Report,
            0.8,
        );
        let json = serde_json::to_string(&decision).expect("serializes");
        let back: RoutingDecision = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, decision);
    }

    #[test]
    fn ties_go_to_the_earlier_rule() {
        let rules = vec![
            rule("first", "环境保护", "3205", None),
            rule("second", "环境保护", "3205", None),
        ];
        let hit = route(
            &rules,
            Some("环境保护/水污染"),
            "320508",
            AppealType::Complaint,
        );
        assert_eq!(hit.map(|r| r.id.as_str()), Some("first"));
    }
}

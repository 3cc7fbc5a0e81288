//! `hotline demo`: seeds a small Suzhou-flavoured setup through AdminService —
//! departments, routing rules and one key per role and department — so that a
//! newcomer can walk the whole loop in five minutes. Safe to run again: the
//! departments are upserted, the rules replaced, and new keys written.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use hotline_proto::v1;
use serde_json::json;

use super::Ctx;
use super::admin::{print_departments, print_rules, write_secret_file};
use crate::output::{Format, Table, print_json};

/// `hotline demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo key files (created, mode 0700)
    #[arg(long, value_name = "DIR", default_value = "demo-keys")]
    out: PathBuf,
}

/// A demo department: id, name, parent, region, level.
type DemoDepartment = (&'static str, &'static str, &'static str, &'static str, i32);

/// The demo departments, parents before children.
const DEPARTMENTS: [DemoDepartment; 8] = [
    ("sz.env", "市生态环境局", "", "320500", 1),
    ("sz.env.gusu", "姑苏分局", "sz.env", "320508", 2),
    ("sz.env.wuzhong", "吴中分局", "sz.env", "320506", 2),
    ("sz.water", "市水务局", "", "320500", 1),
    ("sz.housing", "市住建局", "", "320500", 1),
    ("sz.transport", "市交通运输局", "", "320500", 1),
    ("sz.gusu", "姑苏区人民政府", "", "320508", 2),
    ("sz.gusu.pingjiang", "平江街道", "sz.gusu", "320508001", 3),
];

/// A demo routing rule: id, category prefix, region prefix, lead, co-handlers.
type DemoRule = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// The demo routing rules; all dispatch directly (直派).
const RULES: [DemoRule; 7] = [
    (
        "gusu-noise",
        "环境保护/噪声污染",
        "320508",
        "sz.env.gusu",
        &[],
    ),
    ("wuzhong-env", "环境保护", "320506", "sz.env.wuzhong", &[]),
    ("env", "环境保护", "", "sz.env", &[]),
    ("water", "城乡建设/公用事业/供水", "", "sz.water", &[]),
    (
        "pingjiang-property",
        "城乡建设/物业管理",
        "320508001",
        "sz.housing",
        &["sz.gusu.pingjiang"],
    ),
    ("property", "城乡建设/物业管理", "", "sz.housing", &[]),
    ("transport", "交通运输", "", "sz.transport", &[]),
];

/// One key the demo created.
#[derive(Debug)]
struct DemoKey {
    /// The key's label, also its file stem.
    name: String,
    /// What the key may do.
    role: v1::Role,
    /// The department it acts for; empty unless a department key.
    department_id: String,
    /// The key's public id.
    key_id: String,
    /// Where the secret was written.
    file: PathBuf,
}

/// Seeds departments, routing rules and keys, and prints what it made.
pub async fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<()> {
    let mut admin = ctx.conn.admin();

    let mut departments = Vec::with_capacity(DEPARTMENTS.len());
    for (id, name, parent, region, level) in DEPARTMENTS {
        let request = v1::UpsertDepartmentRequest {
            department: Some(v1::Department {
                id: id.to_owned(),
                name: name.to_owned(),
                parent_id: parent.to_owned(),
                region_code: region.to_owned(),
                level,
            }),
        };
        let stored = admin.upsert_department(request).await?.into_inner();
        departments.extend(stored.department);
    }

    let rules: Vec<v1::RoutingRule> = RULES
        .iter()
        .map(|(id, category, region, lead, co)| v1::RoutingRule {
            id: (*id).to_owned(),
            category_prefix: (*category).to_owned(),
            region_prefix: (*region).to_owned(),
            appeal_type: v1::AppealType::Unspecified.into(),
            lead_department_id: (*lead).to_owned(),
            co_department_ids: co.iter().map(|c| (*c).to_owned()).collect(),
            direct_dispatch: true,
        })
        .collect();
    admin
        .put_routing_rules(v1::PutRoutingRulesRequest {
            rules: rules.clone(),
        })
        .await?;

    create_dir_private(&args.out)?;
    let mut wanted = vec![
        ("operator".to_owned(), v1::Role::Operator, String::new()),
        ("supervisor".to_owned(), v1::Role::Supervisor, String::new()),
    ];
    wanted.extend(
        DEPARTMENTS
            .iter()
            .map(|(id, ..)| ((*id).to_owned(), v1::Role::Department, (*id).to_owned())),
    );
    let mut keys = Vec::with_capacity(wanted.len());
    for (name, role, department_id) in wanted {
        let request = v1::CreateApiKeyRequest {
            role: role.into(),
            department_id: department_id.clone(),
            name: format!("demo {name}"),
            expires_at: None,
        };
        let created = admin.create_api_key(request).await?.into_inner();
        let file = args.out.join(format!("{name}.key"));
        write_secret_file(&file, &created.key)?;
        keys.push(DemoKey {
            name,
            role,
            department_id,
            key_id: created.key_id,
            file,
        });
    }

    match ctx.format {
        Format::Json => print_json(&json!({
            "departments": departments.iter().map(crate::json::department).collect::<Vec<_>>(),
            "rules": rules.iter().map(crate::json::routing_rule).collect::<Vec<_>>(),
            "keys": keys.iter().map(|k| json!({
                "name": k.name,
                "role": crate::enums::ProtoEnum::short_name(k.role),
                "department_id": k.department_id,
                "key_id": k.key_id,
                "key_file": k.file.display().to_string(),
            })).collect::<Vec<_>>(),
        })),
        Format::Text => print_summary(&departments, &rules, &keys),
    }
    Ok(())
}

/// Prints what the demo made and how to go on.
fn print_summary(departments: &[v1::Department], rules: &[v1::RoutingRule], keys: &[DemoKey]) {
    println!("departments");
    print_departments(departments);
    println!("\nrouting rules");
    print_rules(rules);
    println!("\nkeys (secrets are in the files, never printed)");
    let mut table = Table::new(["ROLE", "DEPARTMENT", "KEY ID", "FILE"]);
    for k in keys {
        table.row([
            crate::enums::ProtoEnum::short_name(k.role).to_owned(),
            k.department_id.clone(),
            k.key_id.clone(),
            k.file.display().to_string(),
        ]);
    }
    print!("{}", table.render());
    let operator = keys
        .iter()
        .find(|k| k.role == v1::Role::Operator)
        .map(|k| k.file.display().to_string())
        .unwrap_or_default();
    println!(
        "\nnext: hotline --key-file {operator} ticket create --type complaint \\\n      \
         --title 工地夜间施工噪声 --body 凌晨还在打桩 --region 320508001 \\\n      \
         --category 环境保护/噪声污染/施工噪声"
    );
}

/// Creates `dir` (and parents) and, on Unix, makes it private to its owner.
fn create_dir_private(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_only_demo_departments_and_parents_come_first() {
        let ids: Vec<&str> = DEPARTMENTS.iter().map(|d| d.0).collect();
        for (i, (id, _, parent, _, _)) in DEPARTMENTS.iter().enumerate() {
            if !parent.is_empty() {
                let at = ids.iter().position(|d| d == parent).expect(id);
                assert!(at < i, "{parent} must come before {id}");
            }
        }
        for (id, _, _, lead, co) in RULES {
            assert!(ids.contains(&lead), "rule {id}: unknown lead {lead}");
            for c in co {
                assert!(ids.contains(c), "rule {id}: unknown co-handler {c}");
            }
        }
    }
}

//! Domain speed, the pure work behind every mutation: the state machine over a
//! ticket's whole closed loop, working-day deadline arithmetic over weekends and
//! holidays, and intake routing over a city's worth of rules.
//!
//! Run with `cargo bench -p hotline-core --bench domain`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_core::{
    Actor, AppealType, Calendar, Category, Channel, Citizen, Classification, Command, Context,
    DeadlinePolicy, Department, DepartmentId, Directory, NewTicket, Priority, ReplyResult, Role,
    RoutingRule, Satisfaction, Taxonomy, TicketId, Window, WorkingCalendar, create_ticket,
    decide_routing,
};
use jiff::{SignedDuration, Timestamp};

/// A Monday morning in Suzhou, 2026-03-02 09:30.
fn monday() -> Timestamp {
    "2026-03-02T01:30:00Z".parse().expect("a timestamp")
}

fn directory() -> Directory {
    let departments = (0..40).map(|i| Department {
        id: DepartmentId::new(format!("dept.{i}")),
        name: format!("部门{i}"),
        parent_id: None,
        region_code: String::new(),
        level: 1,
    });
    Directory::new(departments, Taxonomy::builtin())
}

fn actor(role: Role, department: Option<&str>) -> Actor {
    Actor {
        id: format!("key-{}", role.as_str()),
        role,
        department_id: department.map(DepartmentId::new),
    }
}

fn appeal() -> NewTicket {
    let path = "环境保护/噪声污染/施工噪声";
    NewTicket {
        channel: Channel::Phone,
        appeal_type: AppealType::Complaint,
        priority: Priority::Normal,
        citizen: Citizen {
            name: "张先生".to_owned(),
            phone: "13812345678".to_owned(),
            anonymous: false,
            confidential: false,
            wants_callback: true,
        },
        title: "金色家园旁工地夜间施工噪声扰民".to_owned(),
        body: "金色家园旁边的工地每天晚上十一点以后还在打桩浇筑，噪声很大，老人孩子都睡不好。"
            .to_owned(),
        address: "姑苏区平江街道人民路金色家园12号".to_owned(),
        region_code: "320508001".to_owned(),
        location: None,
        category: Some(Category {
            path: path.to_owned(),
            label: path.to_owned(),
            confidence: 1.0,
            overridden: true,
            code: String::new(),
        }),
        auto_dispatch: None,
        routing: None,
    }
}

/// Create, dispatch, sign, reply, review and callback: one ticket's closed loop,
/// each command decided and applied as a store does (no IO).
fn bench_lifecycle(c: &mut Criterion) {
    let directory = directory();
    let policy = DeadlinePolicy::default();
    let calendar = WorkingCalendar::china_default();
    let operator = actor(Role::Operator, None);
    let department = actor(Role::Department, Some("dept.7"));
    let ctx = |now: Timestamp, actor| Context {
        now,
        actor,
        policy: &policy,
        calendar: &calendar,
        directory: &directory,
    };
    let id = TicketId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0001,
    ));
    let steps = [
        (
            SignedDuration::from_mins(20),
            &operator,
            Command::Dispatch {
                lead_department_id: DepartmentId::new("dept.7"),
                co_department_ids: Vec::new(),
                note: "按属地派单".to_owned(),
            },
        ),
        (
            SignedDuration::from_hours(2),
            &department,
            Command::Sign {
                note: "已签收".to_owned(),
            },
        ),
        (
            SignedDuration::from_hours(50),
            &department,
            Command::Reply {
                result: ReplyResult::Solved,
                content: "经现场核查，已责令工地停止夜间施工。".to_owned(),
            },
        ),
        (
            SignedDuration::from_hours(3),
            &operator,
            Command::ReviewReply {
                accept: true,
                note: String::new(),
            },
        ),
        (
            SignedDuration::from_hours(20),
            &operator,
            Command::RecordCallback {
                contacted: true,
                resolved: true,
                satisfaction: Some(Satisfaction::Satisfied),
                comment: String::new(),
                reopen: false,
            },
        ),
    ];
    let mut group = c.benchmark_group("state machine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("full lifecycle: create to callback (6 commands)", |b| {
        b.iter(|| {
            let mut now = monday();
            let mut ticket =
                create_ticket(id, "SZ-20260302-000001", appeal(), &ctx(now, &operator))
                    .expect("taken in")
                    .ticket;
            for (wait, actor, command) in &steps {
                now = now.checked_add(*wait).expect("in range");
                ticket = ticket
                    .execute(black_box(command), &ctx(now, actor))
                    .expect("accepted")
                    .ticket;
            }
            assert!(!ticket.status.is_open());
            ticket
        })
    });
    group.bench_function("create only", |b| {
        b.iter(|| {
            create_ticket(
                id,
                "SZ-20260302-000001",
                black_box(appeal()),
                &ctx(monday(), &operator),
            )
            .expect("taken in")
        })
    });
    group.finish();
}

/// Working-day arithmetic on the shipped China calendar (lunch breaks,
/// weekends, the 2026 Spring Festival and its make-up working days).
fn bench_calendar(c: &mut Criterion) {
    let calendar = WorkingCalendar::china_default();
    let friday_evening: Timestamp = "2026-03-06T09:00:00Z".parse().expect("a timestamp");
    let before_spring_festival: Timestamp = "2026-02-13T08:00:00Z".parse().expect("a timestamp");
    let mut group = c.benchmark_group("calendar");
    group.bench_function("add 1 working day from a Friday evening", |b| {
        b.iter(|| calendar.add(black_box(friday_evening), Window::WorkingDays { days: 1 }))
    });
    group.bench_function("add 10 working days across the Spring Festival", |b| {
        b.iter(|| {
            calendar.add(
                black_box(before_spring_festival),
                Window::WorkingDays { days: 10 },
            )
        })
    });
    group.bench_function("add 16 working hours over a weekend", |b| {
        b.iter(|| {
            calendar.add(
                black_box(friday_evening),
                Window::WorkingHours { hours: 16 },
            )
        })
    });
    group.bench_function("elapsed working time over 2 weeks", |b| {
        let to = friday_evening
            .checked_add(SignedDuration::from_hours(14 * 24))
            .expect("in range");
        b.iter(|| calendar.elapsed(black_box(friday_evening), black_box(to)))
    });
    group.bench_function(
        "elapsed working time over the Spring Festival (30 days)",
        |b| {
            let to = before_spring_festival
                .checked_add(SignedDuration::from_hours(30 * 24))
                .expect("in range");
            b.iter(|| calendar.elapsed(black_box(before_spring_festival), black_box(to)))
        },
    );
    group.finish();
}

/// 200 rules: 40 categories (every leaf the builtin taxonomy has, up to 40) by 5
/// district prefixes, the shape of a city's routing table; the ticket matches a
/// rule near the end, so every rule is looked at.
fn bench_routing(c: &mut Criterion) {
    let directory = directory();
    let categories: Vec<String> = directory
        .taxonomy
        .paths()
        .filter(|p| p.matches('/').count() == 2)
        .map(str::to_owned)
        .take(40)
        .collect();
    let districts = ["320505", "320506", "320507", "320509", "320508"];
    let mut rules = Vec::new();
    for (d, district) in districts.iter().enumerate() {
        for (k, category) in categories.iter().enumerate() {
            rules.push(RoutingRule {
                id: format!("r{d}-{k}"),
                category_prefix: category.clone(),
                region_prefix: (*district).to_owned(),
                appeal_type: None,
                lead_department_id: DepartmentId::new(format!("dept.{}", k % 40)),
                co_department_ids: Vec::new(),
                direct_dispatch: true,
            });
        }
    }
    let last = categories.last().expect("categories").clone();
    let category = Category {
        path: last.clone(),
        label: last,
        confidence: 0.95,
        overridden: false,
        code: String::new(),
    };
    let classification = Classification {
        source: "model".to_owned(),
        candidates: Vec::new(),
    };
    let mut group = c.benchmark_group("routing");
    group.bench_function(format!("decide_routing over {} rules", rules.len()), |b| {
        b.iter(|| {
            decide_routing(
                black_box(&rules),
                &directory,
                Some(&category),
                &classification,
                "320508001",
                AppealType::Complaint,
                0.8,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_lifecycle, bench_calendar, bench_routing);
criterion_main!(benches);

//! Department statistics over a scripted month: every ticket of March 2026 is
//! driven through the state machine, and each department's counts and rates
//! are worked out by hand below, ticket by ticket.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    ENV, ENV_GUSU, Flow, HOUSING, TRANSPORT, WATER, World, complaint, department, directory,
    operator, reply, start, supervisor, target,
};
use hotline_core::{
    AlwaysOpen, Command, Department, DepartmentStats, NewTicket, Satisfaction, SupervisionLevel,
    Ticket, department_stats,
};
use jiff::{SignedDuration, Timestamp};

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

/// 09:00 Suzhou time on March `d`, 2026, plus `h` hours (`d` may be 0 or
/// negative for February).
fn day(d: i64, h: i64) -> Timestamp {
    start().checked_add(hours(24 * (d - 2) + h)).unwrap()
}

/// A ticket under construction, whose clock jumps to given instants.
struct Script(Flow);

impl Script {
    /// A normal complaint taken in at `when` and dispatched at once to `lead`.
    fn dispatched(when: Timestamp, lead: &str) -> Self {
        Self(Flow::create_in(
            World {
                now: when,
                ..World::default()
            },
            NewTicket {
                auto_dispatch: Some(target(lead, &[])),
                ..complaint()
            },
        ))
    }

    /// Runs `command` as `actor` at `when`.
    fn at(&mut self, when: Timestamp, actor: &hotline_core::Actor, command: Command) -> &mut Self {
        self.0.world.now = when;
        self.0.ok(actor, command);
        self
    }

    fn sign(&mut self, when: Timestamp, dept: &str) -> &mut Self {
        self.at(
            when,
            &department(dept),
            Command::Sign {
                note: String::new(),
            },
        )
    }

    fn reply(&mut self, when: Timestamp, dept: &str) -> &mut Self {
        self.at(when, &department(dept), reply("已处理"))
    }

    fn callback(&mut self, when: Timestamp, rating: Satisfaction, resolved: bool) -> &mut Self {
        self.at(
            when,
            &operator(),
            Command::RecordCallback {
                contacted: true,
                resolved,
                satisfaction: Some(rating),
                comment: String::new(),
                reopen: false,
            },
        )
    }

    fn ticket(&self) -> Ticket {
        self.0.ticket.clone()
    }
}

/// Every ticket of the script, in no particular order.
fn month() -> Vec<Ticket> {
    let mut tickets = Vec::new();

    // ---- the water bureau ----
    // W1: signed after 1 h, replied after 2 days, satisfied and resolved.
    let mut w1 = Script::dispatched(day(2, 0), WATER);
    w1.sign(day(2, 1), WATER).reply(day(4, 0), WATER).callback(
        day(4, 2),
        Satisfaction::Satisfied,
        true,
    );
    tickets.push(w1.ticket());
    // W2: signed after 30 h (late: one working day is 24 h here), replied after
    // 12 days (late: ten working days), basically satisfied and resolved.
    let mut w2 = Script::dispatched(day(3, 0), WATER);
    w2.sign(day(3, 30), WATER)
        .reply(day(15, 0), WATER)
        .callback(day(16, 0), Satisfaction::BasicallySatisfied, true);
    tickets.push(w2.ticket());
    // W3: signed after 2 h, replied after 1 day, unsatisfied and unresolved.
    let mut w3 = Script::dispatched(day(5, 0), WATER);
    w3.sign(day(5, 2), WATER).reply(day(6, 0), WATER).callback(
        day(6, 1),
        Satisfaction::Unsatisfied,
        false,
    );
    tickets.push(w3.ticket());
    // W4: signed after 3 h, granted an extension to day 27, still unreplied at
    // the end of the month: overdue.
    let mut w4 = Script::dispatched(day(7, 0), WATER);
    w4.sign(day(7, 3), WATER)
        .at(
            day(7, 4),
            &department(WATER),
            Command::RequestExtension {
                requested_reply_due: day(27, 0),
                reason: "管网改造需要时间".to_owned(),
            },
        )
        .at(
            day(7, 5),
            &supervisor(),
            Command::DecideExtension {
                approve: true,
                note: String::new(),
            },
        );
    tickets.push(w4.ticket());
    // W5: dispatched on the 28th and never signed: overdue by the end of the month.
    tickets.push(Script::dispatched(day(28, 0), WATER).ticket());

    // ---- the environment bureau, its Gusu branch and the housing bureau ----
    // E1: the bureau signs after 1 h and delegates to Gusu, which signs an hour
    // later and replies after 5 days; satisfied and resolved.
    let mut e1 = Script::dispatched(day(4, 0), ENV);
    e1.sign(day(4, 1), ENV)
        .at(
            day(4, 2),
            &department(ENV),
            Command::Delegate {
                to_department_id: ENV_GUSU.into(),
                note: String::new(),
            },
        )
        .sign(day(4, 3), ENV_GUSU)
        .reply(day(9, 2), ENV_GUSU)
        .callback(day(9, 3), Satisfaction::Satisfied, true);
    tickets.push(e1.ticket());
    // E2: the bureau asks to return it (rejected), signs after 5 h, is urged
    // twice and supervised once, replies after 3 days; the unsatisfied rating is
    // disputed and exempted from the statistics.
    let mut e2 = Script::dispatched(day(6, 0), ENV);
    e2.at(
        day(6, 1),
        &department(ENV),
        Command::Return {
            reason: "不属于本部门职责".to_owned(),
        },
    )
    .at(
        day(6, 2),
        &operator(),
        Command::DecideReturn {
            approve: false,
            note: String::new(),
        },
    )
    .sign(day(6, 5), ENV)
    .at(
        day(6, 6),
        &supervisor(),
        Command::Urge {
            note: String::new(),
        },
    )
    .at(
        day(6, 7),
        &supervisor(),
        Command::Urge {
            note: String::new(),
        },
    )
    .at(
        day(6, 8),
        &supervisor(),
        Command::Supervise {
            level: SupervisionLevel::Supervise,
            note: String::new(),
            feedback_due: Some(day(9, 0)),
        },
    )
    .reply(day(9, 0), ENV)
    .callback(day(9, 1), Satisfaction::Unsatisfied, false)
    .at(
        day(9, 2),
        &department(ENV),
        Command::DisputeRating {
            evidence: "已按规定处理，诉求超出政策范围".to_owned(),
        },
    )
    .at(
        day(9, 3),
        &supervisor(),
        Command::DecideDispute {
            approve: true,
            note: String::new(),
        },
    );
    assert!(e2.0.ticket.rating_exempt);
    tickets.push(e2.ticket());
    // E3: the bureau gives it back (approved: counted against nobody); housing
    // gets it, signs after 1 h and replies; the citizen cannot be reached.
    let mut e3 = Script::dispatched(day(8, 0), ENV);
    e3.at(
        day(8, 1),
        &department(ENV),
        Command::Return {
            reason: "属于住建部门职责".to_owned(),
        },
    )
    .at(
        day(8, 2),
        &operator(),
        Command::DecideReturn {
            approve: true,
            note: String::new(),
        },
    )
    .at(
        day(8, 3),
        &operator(),
        Command::Dispatch {
            lead_department_id: HOUSING.into(),
            co_department_ids: vec![],
            note: String::new(),
        },
    )
    .sign(day(8, 4), HOUSING)
    .reply(day(10, 3), HOUSING)
    .at(
        day(10, 4),
        &operator(),
        Command::RecordCallback {
            contacted: false,
            resolved: false,
            satisfaction: None,
            comment: "电话无人接听".to_owned(),
            reopen: false,
        },
    );
    tickets.push(e3.ticket());
    // E4: dispatched in February: outside the period, whatever happens later.
    let mut e4 = Script::dispatched(day(-5, 0), ENV);
    e4.sign(day(-4, 0), ENV).reply(day(3, 0), ENV).callback(
        day(3, 1),
        Satisfaction::Unsatisfied,
        false,
    );
    tickets.push(e4.ticket());
    tickets
}

fn row<'a>(rows: &'a [DepartmentStats], id: &str) -> &'a DepartmentStats {
    rows.iter()
        .find(|r| r.department_id.as_str() == id)
        .unwrap()
}

#[track_caller]
fn assert_rate(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-12,
        "rate {actual}, expected {expected}"
    );
}

#[test]
fn a_scripted_month_gives_the_rates_worked_out_by_hand() {
    let departments: Vec<Department> = directory()
        .departments()
        .filter(|d| [ENV, ENV_GUSU, WATER, HOUSING, TRANSPORT].contains(&d.id.as_str()))
        .cloned()
        .collect();
    // March 2026 in Suzhou (UTC+8), judged at its very end.
    let month_start: Timestamp = "2026-02-28T16:00:00Z".parse().unwrap();
    let month_end: Timestamp = "2026-03-31T16:00:00Z".parse().unwrap();
    let tickets = month();
    let rows = department_stats(
        &departments,
        &tickets,
        month_start,
        month_end,
        month_end,
        &AlwaysOpen,
    );

    // Water: W1..W5 dispatched. Signed on time: W1, W3, W4 (W2 late, W5 never).
    let water = row(&rows, WATER);
    assert_eq!(
        (water.dispatched, water.signed, water.signed_on_time),
        (5, 4, 3)
    );
    assert_rate(water.response_rate(), 3.0 / 5.0);
    // Callbacks reaching the citizen: W1, W2, W3; resolved W1, W2; satisfied
    // W1 (satisfied) and W2 (basically satisfied).
    assert_eq!(
        (water.callbacks, water.resolved, water.satisfied),
        (3, 2, 2)
    );
    assert_rate(water.resolution_rate(), 2.0 / 3.0);
    assert_rate(water.satisfaction_rate(), 2.0 / 3.0);
    // Replies W1, W2, W3; on time W1, W3.
    assert_eq!((water.replied, water.replied_on_time), (3, 2));
    assert_rate(water.on_time_reply_rate(), 2.0 / 3.0);
    // Signing took 1 + 30 + 2 + 3 h; replying 48 + 288 + 24 h.
    assert_eq!(water.mean_sign_time(), Some(hours(36 / 4)));
    assert_eq!(water.mean_reply_time(), Some(hours(360 / 3)));
    // W4 past its extended reply deadline, W5 past its sign deadline.
    assert_eq!((water.overdue, water.extensions), (2, 1));
    assert_eq!((water.returns(), water.urged, water.supervised), (0, 0, 0));

    // Environment bureau: E1 and E2 (E3 was given back with approval, E4 is
    // February's). Both signed on time; one callback counts (E1: E2's rating is
    // exempt), resolved and satisfied.
    let env = row(&rows, ENV);
    assert_eq!((env.dispatched, env.signed_on_time), (2, 2));
    assert_rate(env.response_rate(), 1.0);
    assert_eq!((env.callbacks, env.resolved, env.satisfied), (1, 1, 1));
    assert_rate(env.resolution_rate(), 1.0);
    assert_rate(env.satisfaction_rate(), 1.0);
    // E1 was answered by its delegate, for which the bureau stays accountable.
    assert_eq!((env.replied, env.replied_on_time), (2, 2));
    assert_eq!((env.returns_approved, env.returns_rejected), (1, 1));
    assert_eq!((env.urged, env.supervised, env.overdue), (2, 1, 0));
    assert_eq!(env.mean_sign_time(), Some(hours(3)), "(1 h + 5 h) / 2");

    // Gusu branch: E1, delegated to it; signed 1 h after delegation; no callback
    // of its own (the lead is accountable for the outcome).
    let gusu = row(&rows, ENV_GUSU);
    assert_eq!(
        (gusu.dispatched, gusu.signed_on_time, gusu.replied),
        (1, 1, 1)
    );
    assert_eq!(gusu.callbacks, 0);
    assert_eq!(gusu.mean_sign_time(), Some(hours(1)));
    assert_eq!(gusu.mean_reply_time(), Some(hours(5 * 24)));

    // Housing: E3, signed on time and replied; the citizen was never reached.
    let housing = row(&rows, HOUSING);
    assert_eq!((housing.dispatched, housing.signed_on_time), (1, 1));
    assert_eq!(housing.callbacks, 0);
    assert_rate(housing.satisfaction_rate(), 0.0);

    // Ranked by satisfaction, then resolution, then response: Gusu and housing
    // tie on all three and go by id; transport has nothing and comes last.
    let ranking: Vec<(&str, u32)> = rows
        .iter()
        .map(|r| (r.department_id.as_str(), r.rank))
        .collect();
    assert_eq!(
        ranking,
        [
            (ENV, 1),
            (WATER, 2),
            (ENV_GUSU, 3),
            (HOUSING, 4),
            (TRANSPORT, 5)
        ]
    );
    assert_eq!(row(&rows, TRANSPORT).dispatched, 0);
}

#[test]
fn feeding_the_same_month_twice_doubles_every_count_but_no_rate() {
    let departments: Vec<Department> = directory().departments().cloned().collect();
    let start: Timestamp = "2026-02-28T16:00:00Z".parse().unwrap();
    let end: Timestamp = "2026-03-31T16:00:00Z".parse().unwrap();
    let once = month();
    let twice: Vec<Ticket> = once.iter().chain(&once).cloned().collect();
    let one = department_stats(&departments, &once, start, end, end, &AlwaysOpen);
    let two = department_stats(&departments, &twice, start, end, end, &AlwaysOpen);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.department_id, b.department_id);
        assert_eq!(2 * a.dispatched, b.dispatched);
        assert_eq!(2 * a.callbacks, b.callbacks);
        assert_rate(a.satisfaction_rate(), b.satisfaction_rate());
        assert_rate(a.response_rate(), b.response_rate());
        assert_eq!(a.rank, b.rank);
    }
}

//! Fixtures shared by the state machine tests: a small department tree, the
//! actors who touch a ticket, a clock that only moves when told, and a
//! [`Flow`] that keeps a ticket next to its event log.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use hotline_core::{
    Action, Actor, AppealType, Channel, Citizen, Command, Context, DeadlinePolicy, Decision,
    Department, DepartmentId, Directory, DispatchTarget, DomainError, Event, NewTicket, Priority,
    Role, Taxonomy, Ticket, TicketId, create_ticket,
};
use hotline_core::{AlwaysOpen, Calendar};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

/// The city environment bureau; it has two district branches below it.
pub const ENV: &str = "env";
/// A district branch of [`ENV`], with a street office below it.
pub const ENV_GUSU: &str = "env.gusu";
/// Another district branch of [`ENV`].
pub const ENV_WUZHONG: &str = "env.wuzhong";
/// A street office below [`ENV_GUSU`]: a grandchild of [`ENV`].
pub const ENV_GUSU_SHILU: &str = "env.gusu.shilu";
/// The water bureau (no children).
pub const WATER: &str = "water";
/// The housing bureau (no children).
pub const HOUSING: &str = "housing";
/// The transport bureau (no children).
pub const TRANSPORT: &str = "transport";

/// Every department of [`directory`], parents before children.
pub const DEPARTMENTS: &[&str] = &[
    ENV,
    ENV_GUSU,
    ENV_WUZHONG,
    ENV_GUSU_SHILU,
    WATER,
    HOUSING,
    TRANSPORT,
];

/// The id every test ticket gets.
pub const TICKET: TicketId = TicketId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
/// Another ticket, to merge into.
pub const MASTER: TicketId = TicketId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002));

/// A few leaf categories of the builtin taxonomy.
pub const CATEGORIES: &[&str] = &[
    "环境保护/噪声污染/施工噪声",
    "城乡建设/公用事业/供水",
    "交通运输/道路交通/停车管理",
];

/// Returns the fixed department tree with the builtin taxonomy.
pub fn directory() -> Directory {
    let dept = |id: &str, parent: Option<&str>, level: u32| Department {
        id: DepartmentId::new(id),
        name: id.to_owned(),
        parent_id: parent.map(DepartmentId::from),
        region_code: String::new(),
        level,
    };
    Directory::new(
        [
            dept(ENV, None, 1),
            dept(ENV_GUSU, Some(ENV), 2),
            dept(ENV_WUZHONG, Some(ENV), 2),
            dept(ENV_GUSU_SHILU, Some(ENV_GUSU), 3),
            dept(WATER, None, 1),
            dept(HOUSING, None, 1),
            dept(TRANSPORT, None, 1),
        ],
        Taxonomy::builtin(),
    )
}

/// Returns a department credential bound to `id`.
pub fn department(id: &str) -> Actor {
    Actor {
        id: format!("key-{id}"),
        role: Role::Department,
        department_id: Some(DepartmentId::new(id)),
    }
}

/// Returns a call-center operator.
pub fn operator() -> Actor {
    Actor {
        id: "op-1".to_owned(),
        role: Role::Operator,
        department_id: None,
    }
}

/// Returns a supervisor.
pub fn supervisor() -> Actor {
    Actor {
        id: "sup-1".to_owned(),
        role: Role::Supervisor,
        department_id: None,
    }
}

/// Monday 2026-03-02 09:00 in Suzhou.
pub fn start() -> Timestamp {
    "2026-03-02T01:00:00Z".parse().expect("a valid timestamp")
}

/// Policy, reference data and a clock.
#[derive(Debug, Clone)]
pub struct World {
    /// The default deadline policy.
    pub policy: DeadlinePolicy,
    /// [`directory`].
    pub directory: Directory,
    /// The current instant; moves only by [`World::advance`].
    pub now: Timestamp,
    /// Working-time arithmetic; always open unless a test says otherwise.
    pub calendar: Arc<dyn Calendar>,
}

impl Default for World {
    fn default() -> Self {
        Self {
            policy: DeadlinePolicy::default(),
            directory: directory(),
            now: start(),
            calendar: Arc::new(AlwaysOpen),
        }
    }
}

impl World {
    /// Returns a context at the current instant for `actor`, on the world's calendar.
    pub fn ctx<'a>(&'a self, actor: &'a Actor) -> Context<'a> {
        Context {
            now: self.now,
            actor,
            policy: &self.policy,
            calendar: self.calendar.as_ref(),
            directory: &self.directory,
        }
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: SignedDuration) {
        self.now = self.now.checked_add(by).expect("the clock stays in range");
    }
}

/// A valid appeal: a normal complaint about night-time construction noise.
pub fn complaint() -> NewTicket {
    NewTicket {
        routing: None,
        channel: Channel::Phone,
        appeal_type: AppealType::Complaint,
        priority: Priority::Normal,
        citizen: Citizen {
            name: "张三".to_owned(),
            phone: "13812345678".to_owned(),
            anonymous: false,
            confidential: false,
            wants_callback: true,
        },
        title: "夜间施工噪声扰民".to_owned(),
        body: "小区旁工地每晚十一点后仍在施工，噪声很大。".to_owned(),
        address: "姑苏区人民路100号".to_owned(),
        region_code: "320508".to_owned(),
        location: None,
        category: None,
        auto_dispatch: None,
    }
}

/// Returns an auto-dispatch target.
pub fn target(lead: &str, co: &[&str]) -> DispatchTarget {
    DispatchTarget {
        lead_department_id: DepartmentId::new(lead),
        co_department_ids: co.iter().copied().map(DepartmentId::new).collect(),
    }
}

/// A ticket next to its full event log, checked after every accepted command.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Policy, directory and clock.
    pub world: World,
    /// The current projection.
    pub ticket: Ticket,
    /// Every event so far, oldest first.
    pub events: Vec<Event>,
}

impl Flow {
    /// Creates a ticket from `new` in a default world.
    pub fn create(new: NewTicket) -> Self {
        Self::create_in(World::default(), new)
    }

    /// Creates a ticket from `new` in `world`; panics if intake refuses it.
    pub fn create_in(world: World, new: NewTicket) -> Self {
        let actor = operator();
        let Decision { ticket, events } =
            create_ticket(TICKET, "SZ-20260302-000001", new, &world.ctx(&actor))
                .expect("the appeal is taken in");
        Self {
            world,
            ticket,
            events,
        }
    }

    /// A normal complaint dispatched at intake to `lead` with `co` helping.
    pub fn dispatched(lead: &str, co: &[&str]) -> Self {
        Self::create(NewTicket {
            auto_dispatch: Some(target(lead, co)),
            ..complaint()
        })
    }

    /// A normal complaint signed for by `lead`.
    pub fn in_progress(lead: &str) -> Self {
        let mut flow = Self::dispatched(lead, &[]);
        flow.ok(
            &department(lead),
            Command::Sign {
                note: String::new(),
            },
        );
        flow
    }

    /// A normal complaint replied by `lead`, awaiting its callback.
    pub fn replied(lead: &str) -> Self {
        let mut flow = Self::in_progress(lead);
        flow.ok(&department(lead), reply("已协调工地停止夜间施工"));
        flow
    }

    /// Runs a command at the current instant; on success the ticket and log move on.
    pub fn run(&mut self, actor: &Actor, command: Command) -> Result<Vec<Event>, DomainError> {
        let decision = self.ticket.execute(&command, &self.world.ctx(actor))?;
        self.events.extend(decision.events.iter().cloned());
        assert_eq!(decision.ticket.version, self.ticket.version + 1);
        assert_eq!(Ticket::replay(&self.events).as_ref(), Ok(&decision.ticket));
        self.ticket = decision.ticket;
        Ok(decision.events)
    }

    /// Runs a command that must be accepted and returns its events.
    #[track_caller]
    pub fn ok(&mut self, actor: &Actor, command: Command) -> Vec<Event> {
        let action = command.action();
        match self.run(actor, command) {
            Ok(events) => events,
            Err(e) => panic!("{action} by {} was refused: {e}", actor.id),
        }
    }

    /// Runs a command that must be refused, checks nothing changed, and returns the refusal.
    #[track_caller]
    pub fn refused(&mut self, actor: &Actor, command: Command) -> DomainError {
        let before = self.ticket.clone();
        let action: Action = command.action();
        match self.run(actor, command) {
            Ok(events) => panic!("{action} by {} was accepted: {events:?}", actor.id),
            Err(e) => {
                assert_eq!(self.ticket, before);
                e
            }
        }
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: SignedDuration) {
        self.world.advance(by);
    }

    /// Runs the sweeper at the current instant as the system; returns what it
    /// recorded (nothing when nothing changed), checked like any command.
    pub fn sweep(&mut self) -> Vec<Event> {
        let actor = Actor::system();
        let Some(decision) = self.ticket.sweep(&self.world.ctx(&actor)) else {
            return Vec::new();
        };
        assert_eq!(decision.ticket.version, self.ticket.version + 1);
        self.events.extend(decision.events.iter().cloned());
        assert_eq!(Ticket::replay(&self.events).as_ref(), Ok(&decision.ticket));
        self.ticket = decision.ticket;
        decision.events
    }

    /// Returns the next instant the sweeper would change the ticket.
    pub fn next_check_at(&self) -> Option<Timestamp> {
        self.ticket.next_check_at(self.world.calendar.as_ref())
    }
}

/// A solved reply with `content`.
pub fn reply(content: &str) -> Command {
    Command::Reply {
        result: hotline_core::ReplyResult::Solved,
        content: content.to_owned(),
    }
}

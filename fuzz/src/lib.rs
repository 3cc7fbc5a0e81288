//! Structured inputs and checks shared by the fuzz targets.
//!
//! The targets drive `hotline-core` the way the server does: field values a
//! client may send (any text, any timestamp the wire format can carry, any
//! department id), turned into a [`NewTicket`] or a [`Command`] and run through
//! intake validation and the state machine. Department ids and texts are
//! mostly picked from small valid sets, so the fuzzer reaches deep states of
//! the closed loop instead of failing validation on every input; raw values
//! stay reachable through the `Raw` variants.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use hotline_core::{
    Actor, AlwaysOpen, AppealType, AssignmentRole, AssignmentStatus, Calendar, Category, Channel,
    Citizen, Classification, Command, DeadlinePolicy, Decision, Department, DepartmentId,
    Directory, DispatchTarget, DomainError, Event, GeoPoint, Limits, NewTicket, PolicyEntry,
    Priority, ReplyResult, Role, RoutingRule, Satisfaction, ScoredCategory, SupervisionLevel,
    Taxonomy, Ticket, TicketId, TicketStatus, Window, WorkingCalendar, decide_routing,
};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

/// The department tree every target uses: a bureau with district branches and
/// a street office below one of them (so delegation has somewhere to go), and
/// three bureaus without children.
pub const DEPARTMENTS: &[&str] = &[
    "env",
    "env.gusu",
    "env.wuzhong",
    "env.gusu.shilu",
    "water",
    "housing",
    "transport",
];

/// The id of the fuzzed ticket.
pub const TICKET: TicketId = TicketId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));

/// Valid texts the inputs mostly pick from: Chinese, ASCII with line breaks
/// and tabs (allowed), padded with spaces.
const TEXTS: &[&str] = &[
    "已处理",
    "小区旁工地每晚十一点后仍在施工，噪声很大。",
    "Water leak at No. 5\r\nsecond line\tafter a tab",
    "  前后有空格  ",
];

/// The directory, routing rules and the shipped working calendar, built once.
#[derive(Debug)]
pub struct Env {
    /// [`DEPARTMENTS`] with the builtin taxonomy.
    pub directory: Directory,
    /// Rules for intake routing, including one to an unknown department.
    pub rules: Vec<RoutingRule>,
    /// The mainland China working calendar.
    pub working: WorkingCalendar,
}

/// Returns the shared environment.
pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dept = |id: &str, parent: Option<&str>, level: u32| Department {
            id: DepartmentId::new(id),
            name: id.to_owned(),
            parent_id: parent.map(DepartmentId::from),
            region_code: String::new(),
            level,
        };
        let directory = Directory::new(
            [
                dept("env", None, 1),
                dept("env.gusu", Some("env"), 2),
                dept("env.wuzhong", Some("env"), 2),
                dept("env.gusu.shilu", Some("env.gusu"), 3),
                dept("water", None, 1),
                dept("housing", None, 1),
                dept("transport", None, 1),
            ],
            Taxonomy::builtin(),
        );
        let rule =
            |id: &str, category: &str, region: &str, lead: &str, co: &[&str], direct| RoutingRule {
                id: id.to_owned(),
                category_prefix: category.to_owned(),
                region_prefix: region.to_owned(),
                appeal_type: None,
                lead_department_id: DepartmentId::new(lead),
                co_department_ids: co.iter().copied().map(DepartmentId::new).collect(),
                direct_dispatch: direct,
            };
        let rules = vec![
            rule("noise", "环境保护", "", "env", &[], true),
            rule(
                "noise-gusu",
                "环境保护",
                "320508",
                "env.gusu",
                &["housing"],
                true,
            ),
            rule("water", "城乡建设", "", "water", &[], false),
            rule("traffic", "交通运输", "", "transport", &["ghost"], true),
        ];
        Env {
            directory,
            rules,
            working: WorkingCalendar::china_default(),
        }
    })
}

/// Picks one of `all` by an arbitrary index.
pub fn pick<T: Copy>(all: &[T], n: u8) -> T {
    all[usize::from(n) % all.len()]
}

/// Returns the calendar deadlines count in: the working calendar or plain time.
pub fn calendar(working: bool) -> &'static dyn Calendar {
    static OPEN: AlwaysOpen = AlwaysOpen;
    if working { &env().working } else { &OPEN }
}

/// Maps any `(seconds, nanoseconds)` into the range of [`Timestamp`]: every
/// instant a protobuf timestamp may carry past the server's conversion.
pub fn any_timestamp(seconds: i64, nanos: u32) -> Timestamp {
    let min = Timestamp::MIN.as_second();
    let max = Timestamp::MAX.as_second();
    let span = u64::try_from(max - min)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let offset = i64::try_from(seconds.unsigned_abs() % span).unwrap_or(0);
    let nanos = i32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Timestamp::new(min + offset, nanos).unwrap_or(Timestamp::MAX)
}

/// An instant near the start of a run: 2020-01-01 plus up to 136 years.
pub fn start_at(seconds: u32) -> Timestamp {
    Timestamp::from_second(1_577_836_800 + i64::from(seconds)).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A free-text field: note, reason, reply, title.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    /// One of a few valid texts.
    Valid(u8),
    /// Only whitespace: refused where a text is required.
    Blank,
    /// One character longer than the title limit, or than the note limit.
    Long(bool),
    /// Anything, control characters included.
    Raw(String),
}

impl Text {
    /// Decodes a text from the low three bits of `n`: mostly valid, sometimes
    /// blank, too long, or with a control character.
    pub fn compact(n: u8) -> Text {
        match n & 7 {
            0..=4 => Text::Valid(n & 3),
            5 => Text::Blank,
            6 => Text::Long(false),
            _ => Text::Raw("a\u{0}b".to_owned()),
        }
    }

    /// Returns the text.
    pub fn text(&self) -> String {
        match self {
            Text::Valid(n) => pick(TEXTS, *n).to_owned(),
            Text::Blank => " \n\t".to_owned(),
            Text::Long(false) => "噪".repeat(hotline_core::MAX_TITLE_CHARS + 1),
            Text::Long(true) => "噪".repeat(hotline_core::MAX_NOTE_CHARS + 1),
            Text::Raw(s) => s.clone(),
        }
    }
}

/// A department id as a client sends it.
#[derive(Arbitrary, Debug, Clone)]
pub enum Dept {
    /// One of [`DEPARTMENTS`].
    Known(u8),
    /// Anything, usually unknown.
    Raw(String),
}

impl Dept {
    /// Returns the id.
    pub fn id(&self) -> DepartmentId {
        match self {
            Dept::Known(n) => DepartmentId::new(pick(DEPARTMENTS, *n)),
            Dept::Raw(s) => DepartmentId::new(s.as_str()),
        }
    }
}

/// A client-supplied instant: near the current time, or anywhere.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum When {
    /// Minutes from now, either way.
    Offset(i32),
    /// Any instant in range.
    Absolute(i64, u32),
    /// The last instant (`true`) or the first.
    Extreme(bool),
}

impl When {
    /// Returns the instant, relative to `now`.
    pub fn at(self, now: Timestamp) -> Timestamp {
        match self {
            When::Offset(minutes) => now
                .saturating_add(SignedDuration::from_mins(i64::from(minutes)))
                .unwrap_or(now),
            When::Absolute(seconds, nanos) => any_timestamp(seconds, nanos),
            When::Extreme(true) => Timestamp::MAX,
            When::Extreme(false) => Timestamp::MIN,
        }
    }
}

/// Who acts.
#[derive(Arbitrary, Debug, Clone)]
pub enum Who {
    /// A call-center operator.
    Operator,
    /// A supervisor.
    Supervisor,
    /// An administrator.
    Admin,
    /// The service itself.
    System,
    /// The department of the ticket's n-th part (any status), or `env` without parts.
    Part(u8),
    /// Any department credential.
    Dept(Dept),
    /// A department credential bound to no department.
    Unbound,
    /// Whoever would naturally send the command: the operator, a supervisor,
    /// the department whose part it concerns.
    Natural,
}

impl Who {
    /// Decodes a credential from one byte: mostly [`Who::Natural`].
    pub fn from_byte(n: u8) -> Who {
        match n {
            0..=159 => Who::Natural,
            _ => match n % 7 {
                0 => Who::Operator,
                1 => Who::Supervisor,
                2 => Who::Admin,
                3 => Who::System,
                4 => Who::Part(n),
                5 => Who::Dept(Dept::Known(n)),
                _ => Who::Unbound,
            },
        }
    }

    /// Returns the credential sending `command` to `ticket`.
    pub fn actor_for(&self, ticket: &Ticket, command: &Command) -> Actor {
        let Who::Natural = self else {
            return self.actor(ticket);
        };
        let live = || ticket.assignments.iter().filter(|a| a.status.is_active());
        let part = |found: Option<&hotline_core::Assignment>| {
            Who::Dept(Dept::Raw(found.map_or_else(
                || "env".to_owned(),
                |a| a.department_id.as_str().to_owned(),
            )))
            .actor(ticket)
        };
        let handler = || {
            live()
                .filter(|a| a.role == AssignmentRole::Delegate)
                .find(|a| a.status != AssignmentStatus::Dispatched)
                .or_else(|| ticket.lead_assignment())
        };
        match command {
            Command::Sign { .. } => part(
                live()
                    .find(|a| a.status == AssignmentStatus::Dispatched)
                    .or_else(|| ticket.lead_assignment()),
            ),
            Command::SubmitOpinion { .. } => {
                part(live().find(|a| a.role == AssignmentRole::CoHandler))
            }
            Command::Return { .. } => part(ticket.lead_assignment()),
            Command::DisputeRating { .. } => Who::Dept(Dept::Raw(
                ticket
                    .lead_department_id
                    .as_ref()
                    .map_or_else(String::new, |d| d.as_str().to_owned()),
            ))
            .actor(ticket),
            Command::Delegate { .. }
            | Command::Reply { .. }
            | Command::RequestExtension { .. }
            | Command::RequestSuspension { .. }
            | Command::AddProgress { .. }
            | Command::Resume { .. } => part(handler()),
            Command::DecideExtension { .. }
            | Command::DecideSuspension { .. }
            | Command::DecideDispute { .. }
            | Command::Supervise { .. } => Who::Supervisor.actor(ticket),
            Command::AutoClose => Who::System.actor(ticket),
            _ => Who::Operator.actor(ticket),
        }
    }

    /// Returns the credential acting on `ticket` ([`Who::Natural`] acts as the operator).
    pub fn actor(&self, ticket: &Ticket) -> Actor {
        let staff = |id: &str, role| Actor {
            id: id.to_owned(),
            role,
            department_id: None,
        };
        let department = |id: DepartmentId| Actor {
            id: format!("key-{id}"),
            role: Role::Department,
            department_id: Some(id),
        };
        match self {
            Who::Operator => staff("op-1", Role::Operator),
            Who::Supervisor => staff("sup-1", Role::Supervisor),
            Who::Admin => staff("admin-1", Role::Admin),
            Who::System => Actor::system(),
            Who::Part(n) => department(if ticket.assignments.is_empty() {
                DepartmentId::new("env")
            } else {
                let i = usize::from(*n) % ticket.assignments.len();
                ticket.assignments[i].department_id.clone()
            }),
            Who::Dept(dept) => department(dept.id()),
            Who::Unbound => staff("key-unbound", Role::Department),
            Who::Natural => operator(),
        }
    }
}

/// A command with client-supplied fields; see [`Command`] for each.
#[derive(Arbitrary, Debug, Clone)]
#[allow(missing_docs)]
pub enum Cmd {
    Dispatch {
        lead: Dept,
        co: Vec<Dept>,
        note: Text,
    },
    Sign {
        note: Text,
    },
    Return {
        reason: Text,
    },
    DecideReturn {
        approve: bool,
        note: Text,
    },
    Delegate {
        to: Dept,
        note: Text,
    },
    SubmitOpinion {
        content: Text,
    },
    RequestExtension {
        due: When,
        reason: Text,
    },
    DecideExtension {
        approve: bool,
        note: Text,
    },
    AddProgress {
        content: Text,
    },
    Reply {
        result: u8,
        content: Text,
    },
    ReviewReply {
        accept: bool,
        note: Text,
    },
    RecordCallback {
        contacted: bool,
        resolved: bool,
        satisfaction: Option<u8>,
        comment: Text,
        reopen: bool,
    },
    Reopen {
        note: Text,
    },
    DisputeRating {
        evidence: Text,
    },
    DecideDispute {
        approve: bool,
        note: Text,
    },
    RequestSuspension {
        reason: Text,
        resume_by: Option<When>,
    },
    DecideSuspension {
        approve: bool,
        note: Text,
    },
    Resume {
        note: Text,
    },
    Withdraw {
        reason: Text,
    },
    AnswerDirectly {
        content: Text,
    },
    /// Into another ticket (`None`: into itself) in the given status.
    Merge {
        master: Option<u128>,
        status: u8,
        note: Text,
    },
    MarkInvalid {
        reason: Text,
    },
    Urge {
        note: Text,
    },
    Supervise {
        level: u8,
        note: Text,
        feedback_due: Option<When>,
    },
    AutoClose,
}

impl Cmd {
    /// Decodes a command from two bytes: `op` chooses the command (`None` past
    /// the last), `arg` its flags, texts, departments and instants from small
    /// tables. Dense, so that byte-level mutations make meaningful changes and
    /// long command sequences stay short inputs.
    pub fn from_bytes(op: u8, arg: u8) -> Option<Cmd> {
        let text = Text::compact(arg >> 1);
        let approve = arg & 1 == 1;
        let dept = |n: u8| Dept::Known(n % 7);
        let when = |n: u8| match n & 7 {
            0 => When::Offset(60),
            1 => When::Offset(24 * 60),
            2 => When::Offset(30 * 24 * 60),
            3 => When::Offset(-60),
            4 => When::Offset(0),
            5 => When::Extreme(true),
            6 => When::Absolute(i64::MAX - i64::from(arg), 0),
            _ => When::Extreme(false),
        };
        let maybe_when = |n: u8| (n & 8 != 0).then(|| when(n));
        Some(match op {
            0 => Cmd::Dispatch {
                lead: dept(arg),
                co: if arg & 0x80 != 0 {
                    vec![dept(arg / 7)]
                } else {
                    Vec::new()
                },
                note: Text::Valid(0),
            },
            1 => Cmd::Sign { note: text },
            2 => Cmd::Return { reason: text },
            3 => Cmd::DecideReturn {
                approve,
                note: text,
            },
            4 => Cmd::Delegate {
                to: dept(arg),
                note: Text::Valid(1),
            },
            5 => Cmd::SubmitOpinion { content: text },
            6 => Cmd::RequestExtension {
                due: when(arg),
                reason: Text::compact(arg >> 3),
            },
            7 => Cmd::DecideExtension {
                approve,
                note: text,
            },
            8 => Cmd::AddProgress { content: text },
            9 => Cmd::Reply {
                result: arg,
                content: Text::compact(arg >> 2),
            },
            10 => Cmd::ReviewReply {
                accept: approve,
                note: text,
            },
            11 => Cmd::RecordCallback {
                contacted: arg & 1 == 1,
                resolved: arg & 2 != 0,
                satisfaction: match (arg >> 2) & 3 {
                    0 => None,
                    n => Some(n - 1),
                },
                comment: Text::Valid(arg >> 5),
                reopen: arg & 16 != 0,
            },
            12 => Cmd::Reopen { note: text },
            13 => Cmd::DisputeRating { evidence: text },
            14 => Cmd::DecideDispute {
                approve,
                note: text,
            },
            15 => Cmd::RequestSuspension {
                reason: Text::compact(arg >> 4),
                resume_by: maybe_when(arg),
            },
            16 => Cmd::DecideSuspension {
                approve,
                note: text,
            },
            17 => Cmd::Resume { note: text },
            18 => Cmd::Withdraw { reason: text },
            19 => Cmd::AnswerDirectly { content: text },
            20 => Cmd::Merge {
                master: (!approve).then_some(u128::from(arg)),
                status: arg >> 1,
                note: Text::Valid(0),
            },
            21 => Cmd::MarkInvalid { reason: text },
            22 => Cmd::Urge { note: text },
            23 => Cmd::Supervise {
                level: arg,
                note: Text::Valid(2),
                feedback_due: maybe_when(arg >> 2),
            },
            24 => Cmd::AutoClose,
            _ => return None,
        })
    }

    /// Returns the domain command for `ticket` at `now`.
    pub fn command(&self, ticket: &Ticket, now: Timestamp) -> Command {
        match self {
            Cmd::Dispatch { lead, co, note } => Command::Dispatch {
                lead_department_id: lead.id(),
                co_department_ids: co.iter().map(Dept::id).collect(),
                note: note.text(),
            },
            Cmd::Sign { note } => Command::Sign { note: note.text() },
            Cmd::Return { reason } => Command::Return {
                reason: reason.text(),
            },
            Cmd::DecideReturn { approve, note } => Command::DecideReturn {
                approve: *approve,
                note: note.text(),
            },
            Cmd::Delegate { to, note } => Command::Delegate {
                to_department_id: to.id(),
                note: note.text(),
            },
            Cmd::SubmitOpinion { content } => Command::SubmitOpinion {
                content: content.text(),
            },
            Cmd::RequestExtension { due, reason } => Command::RequestExtension {
                requested_reply_due: due.at(ticket.reply_due.unwrap_or(now)),
                reason: reason.text(),
            },
            Cmd::DecideExtension { approve, note } => Command::DecideExtension {
                approve: *approve,
                note: note.text(),
            },
            Cmd::AddProgress { content } => Command::AddProgress {
                content: content.text(),
            },
            Cmd::Reply { result, content } => Command::Reply {
                result: pick(ReplyResult::ALL, *result),
                content: content.text(),
            },
            Cmd::ReviewReply { accept, note } => Command::ReviewReply {
                accept: *accept,
                note: note.text(),
            },
            Cmd::RecordCallback {
                contacted,
                resolved,
                satisfaction,
                comment,
                reopen,
            } => Command::RecordCallback {
                contacted: *contacted,
                resolved: *resolved,
                satisfaction: satisfaction.map(|n| pick(Satisfaction::ALL, n)),
                comment: comment.text(),
                reopen: *reopen,
            },
            Cmd::Reopen { note } => Command::Reopen { note: note.text() },
            Cmd::DisputeRating { evidence } => Command::DisputeRating {
                evidence: evidence.text(),
            },
            Cmd::DecideDispute { approve, note } => Command::DecideDispute {
                approve: *approve,
                note: note.text(),
            },
            Cmd::RequestSuspension { reason, resume_by } => Command::RequestSuspension {
                reason: reason.text(),
                resume_by: resume_by.map(|w| w.at(now)),
            },
            Cmd::DecideSuspension { approve, note } => Command::DecideSuspension {
                approve: *approve,
                note: note.text(),
            },
            Cmd::Resume { note } => Command::Resume { note: note.text() },
            Cmd::Withdraw { reason } => Command::Withdraw {
                reason: reason.text(),
            },
            Cmd::AnswerDirectly { content } => Command::AnswerDirectly {
                content: content.text(),
            },
            Cmd::Merge {
                master,
                status,
                note,
            } => Command::Merge {
                master_id: master.map_or(ticket.id, |n| TicketId(Uuid::from_u128(n))),
                master_status: pick(TicketStatus::ALL, *status),
                note: note.text(),
            },
            Cmd::MarkInvalid { reason } => Command::MarkInvalid {
                reason: reason.text(),
            },
            Cmd::Urge { note } => Command::Urge { note: note.text() },
            Cmd::Supervise {
                level,
                note,
                feedback_due,
            } => Command::Supervise {
                level: pick(SupervisionLevel::ALL, *level),
                note: note.text(),
                feedback_due: feedback_due.map(|w| w.at(now)),
            },
            Cmd::AutoClose => Command::AutoClose,
        }
    }
}

/// A phone number field.
#[derive(Arbitrary, Debug, Clone)]
pub enum Phone {
    /// A mobile number, a landline with separators, or none.
    Valid(u8),
    /// Anything.
    Raw(String),
}

/// A region code field.
#[derive(Arbitrary, Debug, Clone)]
pub enum Region {
    /// A district (which a routing rule names), a street, or none.
    Valid(u8),
    /// Anything.
    Raw(String),
}

/// The category of a new appeal.
#[derive(Arbitrary, Debug, Clone)]
pub enum CategoryIn {
    /// None chosen.
    None,
    /// An operator's hint, resolved by code or path as the server does.
    Hint(String),
    /// The n-th taxonomy path, as the classifier chose it with this confidence.
    Known(u8, f64),
    /// Any path and confidence.
    Raw(String, f64),
}

/// Where intake sends the appeal.
#[derive(Arbitrary, Debug, Clone)]
pub enum DispatchIn {
    /// Wherever the routing rules decide, with an auto-dispatch threshold of n/255
    /// (the server's configuration accepts 0 to 1).
    Routing(u8),
    /// To this target, bypassing routing.
    Raw { lead: Dept, co: Vec<Dept> },
}

/// A CreateTicket request's fields.
#[derive(Arbitrary, Debug, Clone)]
#[allow(missing_docs)]
pub struct Intake {
    pub channel: u8,
    pub appeal_type: u8,
    pub priority: u8,
    pub name: Text,
    pub phone: Phone,
    pub anonymous: bool,
    pub confidential: bool,
    pub wants_callback: bool,
    pub title: Text,
    pub body: Text,
    pub address: Text,
    pub region: Region,
    pub location: Option<(f64, f64)>,
    pub category: CategoryIn,
    pub dispatch: DispatchIn,
}

impl Intake {
    /// Returns the appeal as the server hands it to [`hotline_core::create_ticket`]:
    /// the category hint resolved, and routing decided.
    pub fn new_ticket(&self) -> NewTicket {
        let env = env();
        let taxonomy = &env.directory.taxonomy;
        let category = match &self.category {
            CategoryIn::None => None,
            CategoryIn::Hint(hint) => taxonomy.resolve(hint).map(|path| Category {
                path: path.to_owned(),
                label: path.to_owned(),
                confidence: 1.0,
                overridden: true,
                code: taxonomy.code_of(path).unwrap_or_default().to_owned(),
            }),
            CategoryIn::Known(n, confidence) => {
                let paths: Vec<&str> = taxonomy.paths().collect();
                paths
                    .get(usize::from(*n) % paths.len().max(1))
                    .map(|path| Category {
                        path: (*path).to_owned(),
                        label: (*path).to_owned(),
                        confidence: *confidence,
                        overridden: false,
                        code: taxonomy.code_of(path).unwrap_or_default().to_owned(),
                    })
            }
            CategoryIn::Raw(path, confidence) => Some(Category {
                path: path.clone(),
                label: path.clone(),
                confidence: *confidence,
                overridden: false,
                code: String::new(),
            }),
        };
        let appeal_type = pick(AppealType::ALL, self.appeal_type);
        let region_code = match &self.region {
            Region::Valid(n) => pick(&["320508", "320508001", "320506001001", ""], *n).to_owned(),
            Region::Raw(s) => s.clone(),
        };
        let (routing, auto_dispatch) = match &self.dispatch {
            DispatchIn::Routing(threshold) => {
                let classification = Classification {
                    source: "model".to_owned(),
                    candidates: category
                        .iter()
                        .map(|c| ScoredCategory {
                            category: c.path.clone(),
                            confidence: c.confidence,
                        })
                        .collect(),
                };
                let decision = decide_routing(
                    &env.rules,
                    &env.directory,
                    category.as_ref(),
                    &classification,
                    &region_code,
                    appeal_type,
                    f64::from(*threshold) / 255.0,
                );
                let target = decision.auto_dispatch().cloned();
                (Some(decision), target)
            }
            DispatchIn::Raw { lead, co } => (
                None,
                Some(DispatchTarget {
                    lead_department_id: lead.id(),
                    co_department_ids: co.iter().map(Dept::id).collect(),
                }),
            ),
        };
        NewTicket {
            channel: pick(Channel::ALL, self.channel),
            appeal_type,
            priority: pick(Priority::ALL, self.priority),
            citizen: Citizen {
                name: self.name.text(),
                phone: match &self.phone {
                    Phone::Valid(n) => {
                        pick(&["13812345678", "+86-512-65220000", ""], *n).to_owned()
                    }
                    Phone::Raw(s) => s.clone(),
                },
                anonymous: self.anonymous,
                confidential: self.confidential,
                wants_callback: self.wants_callback,
            },
            title: self.title.text(),
            body: self.body.text(),
            address: self.address.text(),
            region_code,
            location: self.location.map(|(latitude, longitude)| GeoPoint {
                latitude,
                longitude,
            }),
            category,
            auto_dispatch,
            routing,
        }
    }
}

/// A deadline window as an administrator may set it (the server refuses zero
/// working time, nothing else). Mostly everyday sizes; [`WindowIn::Longest`]
/// keeps the largest windows reachable without making every run walk the
/// calendar for a century.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum WindowIn {
    /// Wall-clock minutes.
    Calendar(u16),
    /// Working hours, at least 1.
    WorkingHours(u8),
    /// Working days, at least 1.
    WorkingDays(u8),
    /// The largest window of each mode.
    Longest(u8),
}

impl WindowIn {
    /// Returns the window.
    pub fn window(self) -> Window {
        match self {
            WindowIn::Calendar(minutes) => Window::Calendar {
                minutes: u32::from(minutes),
            },
            WindowIn::WorkingHours(hours) => Window::WorkingHours {
                hours: u32::from(hours.max(1)),
            },
            WindowIn::WorkingDays(days) => Window::WorkingDays {
                days: u32::from(days.max(1)),
            },
            WindowIn::Longest(mode) => match mode % 3 {
                0 => Window::Calendar { minutes: u32::MAX },
                1 => Window::WorkingHours { hours: u32::MAX },
                _ => Window::WorkingDays { days: u32::MAX },
            },
        }
    }
}

/// The deadline policy in force at intake.
#[derive(Arbitrary, Debug, Clone)]
pub enum PolicyIn {
    /// The built-in policy.
    Default,
    /// One row for every appeal, as an administrator may set it.
    Custom {
        sign: WindowIn,
        reply: WindowIn,
        callback: WindowIn,
        warning_percent: u8,
        serious_overdue_minutes: u32,
        max_returns: u8,
        max_extensions: u8,
        max_reopens: u8,
    },
}

impl PolicyIn {
    /// Returns the policy.
    pub fn policy(&self) -> DeadlinePolicy {
        match self {
            PolicyIn::Default => DeadlinePolicy::default(),
            PolicyIn::Custom {
                sign,
                reply,
                callback,
                warning_percent,
                serious_overdue_minutes,
                max_returns,
                max_extensions,
                max_reopens,
            } => DeadlinePolicy {
                version: 7,
                entries: vec![PolicyEntry {
                    appeal_type: None,
                    priority: None,
                    category_prefix: None,
                    sign_within: sign.window(),
                    reply_within: reply.window(),
                }],
                callback_within: callback.window(),
                warning_percent: u32::from(*warning_percent % 100) + 1,
                serious_overdue_minutes: *serious_overdue_minutes,
                limits: Limits {
                    max_returns: u32::from(*max_returns % 4),
                    max_extensions: u32::from(*max_extensions % 4),
                    max_reopens: u32::from(*max_reopens % 4),
                },
            },
        }
    }
}

/// Checks a refusal: it names what is wrong, and renders.
pub fn check_refusal(error: &DomainError) {
    let message = error.to_string();
    assert!(!message.is_empty(), "an empty error message");
    if let DomainError::InvalidField { field, reason } = error {
        assert!(
            !field.is_empty(),
            "an invalid field without a name: {error:?}"
        );
        assert!(
            !reason.is_empty(),
            "an invalid field without a reason: {error:?}"
        );
    }
}

/// Checks an accepted command against the ticket before it: one version up, the
/// events numbered on from the last, stamped with the command's instant and actor,
/// and the ticket the replay of the whole log.
pub fn check_decision(
    before: &Ticket,
    decision: &Decision,
    now: Timestamp,
    actor: &Actor,
    log: &[Event],
) {
    assert!(!decision.events.is_empty(), "a decision without events");
    assert_eq!(decision.ticket.version, before.version + 1, "version");
    for (offset, event) in (0u64..).zip(&decision.events) {
        assert_eq!(event.seq, before.last_seq + 1 + offset, "event sequence");
        assert_eq!(event.version, before.version + 1, "event version");
        assert_eq!(event.ticket_id, before.id, "event ticket");
        assert_eq!(event.at, now, "event time");
        assert_eq!(&event.actor, actor, "event actor");
    }
    assert_eq!(
        decision.ticket.last_seq,
        before.last_seq + decision.events.len() as u64,
        "last sequence"
    );
    let mut full = log.to_vec();
    full.extend(decision.events.iter().cloned());
    assert_eq!(
        Ticket::replay(&full).as_ref(),
        Ok(&decision.ticket),
        "the ticket is not the replay of its events"
    );
}

/// Checks that events survive storage: the JSON the stores write reads back
/// equal, and replays to `ticket`.
pub fn check_stored(events: &[Event], ticket: &Ticket) {
    let stored: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_else(|err| panic!("event to JSON: {err}")))
        .collect();
    let read: Vec<Event> = stored
        .iter()
        .map(|s| {
            serde_json::from_str(s).unwrap_or_else(|err| panic!("event from JSON: {err}: {s}"))
        })
        .collect();
    assert_eq!(read, events, "events changed through JSON");
    assert_eq!(
        Ticket::replay(&read).as_ref(),
        Ok(ticket),
        "stored events replay to another ticket"
    );
    let json = serde_json::to_string(ticket).unwrap_or_else(|err| panic!("ticket to JSON: {err}"));
    let back: Ticket =
        serde_json::from_str(&json).unwrap_or_else(|err| panic!("ticket from JSON: {err}"));
    assert_eq!(&back, ticket, "the ticket changed through JSON");
}

/// Exercises the read paths a ticket goes through after a change: who is
/// notified, the running deadline, the masked citizen.
pub fn read_paths(ticket: &Ticket, events: &[Event]) {
    for event in events {
        let _ = ticket.notified_departments(&event.kind);
        let _ = event.kind.action();
    }
    let _ = ticket.running_deadline();
    let masked = ticket.citizen.masked();
    assert_eq!(
        masked.name.chars().count(),
        ticket.citizen.name.chars().count(),
        "masking changed the name's length"
    );
    assert_eq!(
        masked.phone.chars().count(),
        ticket.citizen.phone.chars().count(),
        "masking changed the phone's length"
    );
    let hidden = ticket.citizen.hidden();
    assert!(hidden.name.is_empty() && hidden.phone.is_empty());
}

/// Checks what the state machine promises of every ticket it produces, whatever
/// the commands: counters within the ticket's own limits, one live part per
/// department, a live lead exactly while the loop runs with the ticket's
/// deadlines its lead's, pending requests only while a department handles the
/// ticket, nothing running once the loop has ended.
///
/// # Errors
/// What is broken, for the panic message.
pub fn check_invariants(t: &Ticket, directory: &Directory) -> Result<(), String> {
    use hotline_core::CloseReason;

    let limits = t.policy.limits;
    let live: Vec<_> = t
        .assignments
        .iter()
        .filter(|a| a.status.is_active())
        .collect();
    let leads: Vec<_> = live
        .iter()
        .filter(|a| a.role == AssignmentRole::Lead)
        .collect();
    let fail = |why: &str| Err(format!("{} ticket: {why}", t.status));

    if t.return_count > limits.max_returns
        || t.extension_count > limits.max_extensions
        || t.reopen_count > limits.max_reopens
    {
        return fail("a counter is past the ticket's limit");
    }
    if t.rejected_return_count > t.return_count {
        return fail("more rejected returns than returns");
    }
    if t.last_seq < t.version {
        return fail("fewer events than versions");
    }
    let mut seen = std::collections::BTreeSet::new();
    if !live.iter().all(|a| seen.insert(&a.department_id)) {
        return fail("a department holds two live parts");
    }
    for a in &live {
        if a.signed_at.is_some() != (a.status != AssignmentStatus::Dispatched) {
            return fail("signed_at does not match the part's status");
        }
        if (a.role == AssignmentRole::Delegate) != a.delegated_from.is_some() {
            return fail("delegated_from does not match the part's role");
        }
        if let Some(parent) = &a.delegated_from {
            let Some(p) = live.iter().find(|p| &p.department_id == parent) else {
                return fail("a live delegate whose parent has no live part");
            };
            if !directory.is_descendant(&a.department_id, parent) {
                return fail("a delegate outside its parent's subtree");
            }
            if t.status.is_open() && a.reply_due != p.reply_due {
                return fail("a delegate's reply deadline differs from its parent's");
            }
        }
    }
    let handling = matches!(
        t.status,
        TicketStatus::Dispatched | TicketStatus::InProgress
    );
    if t.suspended != t.suspended_at.is_some() {
        return fail("suspended and suspended_at disagree");
    }
    if (t.suspended || t.pending_return.is_some()) && !handling {
        return fail("suspended or a return pending outside DISPATCHED/IN_PROGRESS");
    }
    if t.pending_extension.is_some() && t.status != TicketStatus::InProgress {
        return fail("an extension request pending outside IN_PROGRESS");
    }
    if let Some(pending) = &t.pending_extension
        && t.reply_due
            .is_some_and(|due| pending.requested_reply_due <= due)
    {
        return fail("a pending extension asks for no later deadline than the current one");
    }
    if t.pending_suspension.is_some() && (!handling || t.suspended) {
        return fail("a suspension request pending on a ticket that cannot be suspended");
    }
    if t.pending_dispute.is_some() && (t.status != TicketStatus::Closed || t.dispute_decided) {
        return fail("a dispute pending on a ticket that is not closed, or decided twice");
    }
    if t.rating_exempt && !t.dispute_decided {
        return fail("exempt from the statistics without a decided dispute");
    }
    if t.status.is_open() && (t.close_reason.is_some() || t.closed_at.is_some()) {
        return fail("an open ticket carries a close reason or time");
    }
    if t.status != TicketStatus::Merged && t.merged_into.is_some() {
        return fail("merged_into set on a ticket that is not merged");
    }
    match t.status {
        TicketStatus::PendingDispatch => {
            if !live.is_empty() || t.lead_department_id.is_some() {
                return fail("a live part or a lead while awaiting dispatch");
            }
            if t.sign_due.is_some() || t.reply_due.is_some() || t.callback_due.is_some() {
                return fail("deadlines while awaiting dispatch");
            }
        }
        TicketStatus::Dispatched | TicketStatus::InProgress | TicketStatus::Replied => {
            let [lead] = leads.as_slice() else {
                return fail(&format!("{} live lead parts", leads.len()));
            };
            if t.lead_department_id.as_ref() != Some(&lead.department_id) {
                return fail("lead_department_id is not the live lead part");
            }
            if t.sign_due != Some(lead.sign_due) || t.reply_due != Some(lead.reply_due) {
                return fail("the ticket's deadlines are not its lead's");
            }
            if (t.status == TicketStatus::Replied) != t.callback_due.is_some() {
                return fail("a callback deadline exactly while replied");
            }
            if t.status == TicketStatus::Replied && t.reply.is_none() {
                return fail("replied without a reply");
            }
        }
        TicketStatus::Closed => {
            if t.close_reason.is_none() || t.closed_at.is_none() {
                return fail("no close reason or time");
            }
            if matches!(
                t.close_reason,
                Some(CloseReason::Callback | CloseReason::NoCallback)
            ) && t.reply.is_none()
            {
                return fail("closed on a callback without a reply");
            }
        }
        TicketStatus::Merged => {
            if t.merged_into.is_none() || t.closed_at.is_none() || t.merged_into == Some(t.id) {
                return fail("merged without a master or a time, or into itself");
            }
        }
    }
    if !t.status.is_open()
        && (t.pending_return.is_some()
            || t.pending_extension.is_some()
            || t.pending_suspension.is_some()
            || t.running_deadline().is_some())
    {
        return fail("pending requests or a running deadline after the loop ended");
    }
    Ok(())
}

/// Returns the call-center operator who takes appeals in.
pub fn operator() -> Actor {
    Actor {
        id: "op-1".to_owned(),
        role: Role::Operator,
        department_id: None,
    }
}

/// The tiny classifier's training appeals: three categories, eight each, told
/// apart by a few phrases with filler shared by all (never licensed data).
pub fn tiny_corpus() -> Vec<(String, &'static str)> {
    let topics = [
        (
            "环境保护/噪声污染/施工噪声",
            ["工地夜间施工", "打桩噪声", "施工扰民", "机器轰鸣"],
        ),
        (
            "城乡建设/公用事业/供水",
            ["小区停水", "水管破裂", "自来水发黄", "水压太低"],
        ),
        (
            "交通运输/道路交通/停车管理",
            ["乱停车", "占用消防通道", "停车收费", "车位被占"],
        ),
    ];
    let fillers = ["您好", "请尽快处理", "希望政府重视", "谢谢 Thanks 12345"];
    let mut corpus = Vec::new();
    for (t, (label, words)) in topics.iter().enumerate() {
        for i in 0..8 {
            let text = format!(
                "{}，{}和{}的问题。{}",
                fillers[i % 4],
                words[i % 4],
                words[(i + t + 1) % 4],
                fillers[(i + 1) % 4]
            );
            corpus.push((text, *label));
        }
    }
    corpus
}

/// A tiny classifier trained once from [`tiny_corpus`]: enough for every code
/// path of scoring, ranking and calibration.
pub fn tiny_model() -> &'static hotline_core::classify::Model {
    use hotline_core::classify::{Example, FeatureConfig, TrainConfig, train};

    static MODEL: OnceLock<hotline_core::classify::Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let examples: Vec<Example> = tiny_corpus()
            .into_iter()
            .map(|(text, label)| Example::new(text, label))
            .collect();
        let config = TrainConfig {
            features: FeatureConfig {
                min_n: 1,
                max_n: 3,
                hash_bits: 10,
                min_df: 1,
            },
            epochs: 20,
            threads: 1,
            calibration_folds: 2,
            ..TrainConfig::default()
        };
        match train(&examples, &config, &mut |_, _| {}) {
            Ok((model, _)) => model,
            Err(error) => panic!("the tiny model does not train: {error}"),
        }
    })
}

/// Checks a prediction: confidences finite, in `[0, 1]`, best first, at most
/// `k` of them, distinct labels, the first the prediction itself.
pub fn check_prediction(p: &hotline_core::classify::Prediction, k: usize) {
    assert!(
        p.confidence.is_finite() && (0.0..=1.0).contains(&p.confidence),
        "confidence {} out of [0, 1]",
        p.confidence
    );
    assert!(
        !p.top.is_empty() && p.top.len() <= k.max(1),
        "{} candidates for k = {k}",
        p.top.len()
    );
    assert_eq!(
        p.top[0],
        (p.label.clone(), p.confidence),
        "the first candidate is not the answer"
    );
    for pair in p.top.windows(2) {
        assert!(
            pair[0].1 >= pair[1].1,
            "candidates not best first: {:?}",
            p.top
        );
    }
    for (i, (label, confidence)) in p.top.iter().enumerate() {
        assert!(
            confidence.is_finite() && (0.0..=1.0).contains(confidence),
            "candidate confidence {confidence} out of [0, 1]"
        );
        assert!(
            !p.top[..i].iter().any(|(l, _)| l == label),
            "label {label} twice"
        );
    }
    if p.rule.is_some() {
        assert!(
            (p.confidence - 1.0).abs() < f64::EPSILON,
            "a forced category below 1"
        );
    }
}

/// An appeal that passes intake, with the choices that shape its loop: type and
/// priority (the deadlines), whether the citizen wants a callback, the category,
/// and a dispatch at intake to known departments.
#[derive(Arbitrary, Debug, Clone)]
pub struct ValidIntake {
    appeal_type: u8,
    priority: u8,
    wants_callback: bool,
    confidential: bool,
    category: Option<u8>,
    dispatch: Option<(u8, Vec<u8>)>,
}

impl ValidIntake {
    /// Returns the appeal.
    pub fn new_ticket(&self) -> NewTicket {
        let taxonomy = &env().directory.taxonomy;
        let paths: Vec<&str> = taxonomy.paths().collect();
        let auto_dispatch = self.dispatch.as_ref().map(|(lead, co)| {
            let lead = DepartmentId::new(pick(DEPARTMENTS, *lead));
            let mut co_department_ids: Vec<DepartmentId> = Vec::new();
            for n in co.iter().take(3) {
                let id = DepartmentId::new(pick(DEPARTMENTS, *n));
                if id != lead && !co_department_ids.contains(&id) {
                    co_department_ids.push(id);
                }
            }
            DispatchTarget {
                lead_department_id: lead,
                co_department_ids,
            }
        });
        NewTicket {
            channel: Channel::Phone,
            appeal_type: pick(AppealType::ALL, self.appeal_type),
            priority: pick(Priority::ALL, self.priority),
            citizen: Citizen {
                name: "张三".to_owned(),
                phone: "13812345678".to_owned(),
                anonymous: false,
                confidential: self.confidential,
                wants_callback: self.wants_callback,
            },
            title: "夜间施工噪声扰民".to_owned(),
            body: "小区旁工地每晚十一点后仍在施工，噪声很大。".to_owned(),
            address: "姑苏区人民路100号".to_owned(),
            region_code: "320508".to_owned(),
            location: None,
            category: self.category.and_then(|n| {
                let path = paths.get(usize::from(n) % paths.len().max(1))?;
                Some(Category {
                    path: (*path).to_owned(),
                    label: (*path).to_owned(),
                    confidence: 1.0,
                    overridden: true,
                    code: taxonomy.code_of(path).unwrap_or_default().to_owned(),
                })
            }),
            auto_dispatch,
            routing: None,
        }
    }
}

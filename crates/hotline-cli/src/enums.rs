//! Proto enums as people write them: short lowercase words on the command line
//! (`--channel phone`), short upper-case names in output (`DISPATCHED`), and
//! either form, or the full proto name, in rule and policy files.

use clap::ValueEnum;
use hotline_proto::v1;
use serde_json::Value;

/// A generated proto enum whose value names share a type prefix (`CHANNEL_`).
pub trait ProtoEnum: Sized + Copy + TryFrom<i32> + Into<i32> {
    /// The prefix every value name starts with, e.g. `TICKET_STATUS_`.
    const PREFIX: &'static str;
    /// What the enum is, for error messages, e.g. `ticket status`.
    const WHAT: &'static str;

    /// Returns the full proto name, e.g. `TICKET_STATUS_DISPATCHED`.
    fn full_name(self) -> &'static str;

    /// Parses a full proto name.
    fn from_full_name(name: &str) -> Option<Self>;

    /// Returns the name without the prefix, e.g. `DISPATCHED`.
    fn short_name(self) -> &'static str {
        let full = self.full_name();
        full.strip_prefix(Self::PREFIX).unwrap_or(full)
    }

    /// Parses `dispatched`, `in-progress`, `IN_PROGRESS` or `TICKET_STATUS_IN_PROGRESS`.
    fn from_word(word: &str) -> Option<Self> {
        let upper = word.trim().to_ascii_uppercase().replace('-', "_");
        Self::from_full_name(&upper)
            .or_else(|| Self::from_full_name(&format!("{}{upper}", Self::PREFIX)))
    }
}

/// Implements [`ProtoEnum`] for generated enums with their prefixes.
macro_rules! proto_enums {
    ($($ty:ty => $prefix:literal, $what:literal;)*) => {$(
        impl ProtoEnum for $ty {
            const PREFIX: &'static str = $prefix;
            const WHAT: &'static str = $what;
            fn full_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_full_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
        }
    )*};
}

proto_enums! {
    v1::Channel => "CHANNEL_", "channel";
    v1::AppealType => "APPEAL_TYPE_", "appeal type";
    v1::Priority => "PRIORITY_", "priority";
    v1::TicketStatus => "TICKET_STATUS_", "ticket status";
    v1::WarningLevel => "WARNING_LEVEL_", "warning level";
    v1::AssignmentRole => "ASSIGNMENT_ROLE_", "assignment role";
    v1::AssignmentStatus => "ASSIGNMENT_STATUS_", "assignment status";
    v1::ReplyResult => "REPLY_RESULT_", "reply result";
    v1::Satisfaction => "SATISFACTION_", "satisfaction";
    v1::CloseReason => "CLOSE_REASON_", "close reason";
    v1::SupervisionLevel => "SUPERVISION_LEVEL_", "supervision level";
    v1::DeadlineKind => "DEADLINE_KIND_", "deadline kind";
    v1::Role => "ROLE_", "role";
    v1::TimeMode => "TIME_MODE_", "time mode";
    v1::RequestKind => "REQUEST_KIND_", "request kind";
    v1::RoutingOutcome => "ROUTING_OUTCOME_", "routing outcome";
}

/// Returns the short name of a raw enum field, or `""` for zero (unspecified)
/// and the number for values this build does not know.
pub fn name<E: ProtoEnum>(raw: i32) -> String {
    if raw == 0 {
        return String::new();
    }
    match E::try_from(raw) {
        Ok(value) => value.short_name().to_owned(),
        Err(_) => raw.to_string(),
    }
}

/// Returns a raw enum field as JSON: its short name, `null` when unspecified,
/// or the number for values this build does not know.
pub fn json<E: ProtoEnum>(raw: i32) -> Value {
    if raw == 0 {
        return Value::Null;
    }
    match E::try_from(raw) {
        Ok(value) => Value::from(value.short_name()),
        Err(_) => Value::from(raw),
    }
}

/// Parses an enum word from a file; `None` and `""` mean unspecified (0).
pub fn parse_word<E: ProtoEnum>(word: Option<&str>) -> anyhow::Result<i32> {
    match word.map(str::trim) {
        None | Some("") => Ok(0),
        Some(word) => E::from_word(word)
            .map(Into::into)
            .ok_or_else(|| anyhow::anyhow!("unknown {} {word:?}", E::WHAT)),
    }
}

/// `--channel`: how the appeal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    /// A call to the hotline number.
    Phone,
    /// The web portal.
    Web,
    /// The mobile app.
    App,
    /// WeChat.
    Wechat,
    /// Email.
    Email,
    /// Text message.
    Sms,
    /// A paper letter.
    Letter,
    /// A field visit (走访).
    Visit,
    /// The leader's mailbox (领导信箱).
    Mailbox,
    /// Press or social media.
    Media,
}

impl From<ChannelArg> for v1::Channel {
    fn from(arg: ChannelArg) -> Self {
        match arg {
            ChannelArg::Phone => Self::Phone,
            ChannelArg::Web => Self::Web,
            ChannelArg::App => Self::App,
            ChannelArg::Wechat => Self::Wechat,
            ChannelArg::Email => Self::Email,
            ChannelArg::Sms => Self::Sms,
            ChannelArg::Letter => Self::Letter,
            ChannelArg::Visit => Self::Visit,
            ChannelArg::Mailbox => Self::Mailbox,
            ChannelArg::Media => Self::Media,
        }
    }
}

/// `--type`: the nature of the appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppealTypeArg {
    /// A question (咨询).
    Consultation,
    /// A request for help (求助).
    Request,
    /// A complaint (投诉).
    Complaint,
    /// A report of wrongdoing (举报).
    Report,
    /// A suggestion (建议).
    Suggestion,
    /// Praise (表扬).
    Praise,
}

impl From<AppealTypeArg> for v1::AppealType {
    fn from(arg: AppealTypeArg) -> Self {
        match arg {
            AppealTypeArg::Consultation => Self::Consultation,
            AppealTypeArg::Request => Self::Request,
            AppealTypeArg::Complaint => Self::Complaint,
            AppealTypeArg::Report => Self::Report,
            AppealTypeArg::Suggestion => Self::Suggestion,
            AppealTypeArg::Praise => Self::Praise,
        }
    }
}

/// `--priority`: the deadline tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PriorityArg {
    /// Ordinary handling in working time.
    Normal,
    /// Water, power, gas, heating: calendar time.
    Urgent,
    /// Emergencies: the shortest deadlines.
    Emergency,
}

impl From<PriorityArg> for v1::Priority {
    fn from(arg: PriorityArg) -> Self {
        match arg {
            PriorityArg::Normal => Self::Normal,
            PriorityArg::Urgent => Self::Urgent,
            PriorityArg::Emergency => Self::Emergency,
        }
    }
}

/// `--status`: a ticket's place in the closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Waiting for an operator to dispatch it.
    #[value(alias = "pending")]
    PendingDispatch,
    /// Dispatched, not yet signed for.
    Dispatched,
    /// Signed for and being handled.
    InProgress,
    /// Replied; awaiting the callback.
    Replied,
    /// Closed.
    Closed,
    /// Merged into another ticket.
    Merged,
}

impl From<StatusArg> for v1::TicketStatus {
    fn from(arg: StatusArg) -> Self {
        match arg {
            StatusArg::PendingDispatch => Self::PendingDispatch,
            StatusArg::Dispatched => Self::Dispatched,
            StatusArg::InProgress => Self::InProgress,
            StatusArg::Replied => Self::Replied,
            StatusArg::Closed => Self::Closed,
            StatusArg::Merged => Self::Merged,
        }
    }
}

/// `--result`: the outcome a department reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultArg {
    /// Solved (已解决).
    Solved,
    /// An unreasonable demand explained (解释说明).
    Explained,
    /// Handled in phases (分期办理).
    Phased,
}

impl From<ResultArg> for v1::ReplyResult {
    fn from(arg: ResultArg) -> Self {
        match arg {
            ResultArg::Solved => Self::Solved,
            ResultArg::Explained => Self::Explained,
            ResultArg::Phased => Self::Phased,
        }
    }
}

/// `--satisfaction`: the citizen's rating at the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SatisfactionArg {
    /// Satisfied (满意).
    Satisfied,
    /// Basically satisfied (基本满意); counts as satisfied.
    #[value(alias = "basic")]
    BasicallySatisfied,
    /// Unsatisfied (不满意); may reopen the ticket.
    Unsatisfied,
}

impl From<SatisfactionArg> for v1::Satisfaction {
    fn from(arg: SatisfactionArg) -> Self {
        match arg {
            SatisfactionArg::Satisfied => Self::Satisfied,
            SatisfactionArg::BasicallySatisfied => Self::BasicallySatisfied,
            SatisfactionArg::Unsatisfied => Self::Unsatisfied,
        }
    }
}

/// `--kind`: which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeadlineKindArg {
    /// The sign-for deadline.
    Sign,
    /// The reply deadline.
    Reply,
    /// The callback deadline.
    Callback,
}

impl From<DeadlineKindArg> for v1::DeadlineKind {
    fn from(arg: DeadlineKindArg) -> Self {
        match arg {
            DeadlineKindArg::Sign => Self::Sign,
            DeadlineKindArg::Reply => Self::Reply,
            DeadlineKindArg::Callback => Self::Callback,
        }
    }
}

/// `--min-level`: the lowest warning light to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WarningLevelArg {
    /// On time (lists everything).
    None,
    /// Yellow light.
    Warning,
    /// Red light: past due.
    Overdue,
    /// Past due by more than the policy's serious span.
    #[value(alias = "serious")]
    SeriouslyOverdue,
}

impl From<WarningLevelArg> for v1::WarningLevel {
    fn from(arg: WarningLevelArg) -> Self {
        match arg {
            WarningLevelArg::None => Self::None,
            WarningLevelArg::Warning => Self::Warning,
            WarningLevelArg::Overdue => Self::Overdue,
            WarningLevelArg::SeriouslyOverdue => Self::SeriouslyOverdue,
        }
    }
}

/// `--level`: formal or leader supervision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SupervisionLevelArg {
    /// Formal supervision (督办).
    Supervise,
    /// Supervision by a leader (领导督办).
    #[value(alias = "leader")]
    LeaderSupervise,
}

impl From<SupervisionLevelArg> for v1::SupervisionLevel {
    fn from(arg: SupervisionLevelArg) -> Self {
        match arg {
            SupervisionLevelArg::Supervise => Self::Supervise,
            SupervisionLevelArg::LeaderSupervise => Self::LeaderSupervise,
        }
    }
}

/// `--role`: what a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Call-center operators and intake gateways.
    Operator,
    /// A department system, bound to one department (`--dept`).
    Department,
    /// Supervisors of the center.
    Supervisor,
    /// Administrators.
    Admin,
}

impl From<RoleArg> for v1::Role {
    fn from(arg: RoleArg) -> Self {
        match arg {
            RoleArg::Operator => Self::Operator,
            RoleArg::Department => Self::Department,
            RoleArg::Supervisor => Self::Supervisor,
            RoleArg::Admin => Self::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every word of `A` maps to the proto value named `PREFIX` + WORD.
    fn words_match_proto_names<A, E>()
    where
        A: ValueEnum + Copy + Into<E>,
        E: ProtoEnum,
    {
        for arg in A::value_variants() {
            let word = arg
                .to_possible_value()
                .expect("visible")
                .get_name()
                .to_owned();
            let proto: E = (*arg).into();
            let expected = format!(
                "{}{}",
                E::PREFIX,
                word.to_ascii_uppercase().replace('-', "_")
            );
            assert_eq!(proto.full_name(), expected, "--{} {word}", E::WHAT);
            assert_eq!(E::from_word(&word).map(Into::into), Some(proto.into()));
        }
    }

    #[test]
    fn every_flag_word_maps_to_the_proto_value_of_the_same_name() {
        words_match_proto_names::<ChannelArg, v1::Channel>();
        words_match_proto_names::<AppealTypeArg, v1::AppealType>();
        words_match_proto_names::<PriorityArg, v1::Priority>();
        words_match_proto_names::<StatusArg, v1::TicketStatus>();
        words_match_proto_names::<ResultArg, v1::ReplyResult>();
        words_match_proto_names::<SatisfactionArg, v1::Satisfaction>();
        words_match_proto_names::<DeadlineKindArg, v1::DeadlineKind>();
        words_match_proto_names::<WarningLevelArg, v1::WarningLevel>();
        words_match_proto_names::<SupervisionLevelArg, v1::SupervisionLevel>();
        words_match_proto_names::<RoleArg, v1::Role>();
    }

    fn word<A: ValueEnum>(arg: A) -> String {
        arg.to_possible_value()
            .expect("visible")
            .get_name()
            .to_owned()
    }

    #[test]
    fn flag_words_are_short_lowercase() {
        assert_eq!(word(ChannelArg::Phone), "phone");
        assert_eq!(word(AppealTypeArg::Complaint), "complaint");
        assert_eq!(word(PriorityArg::Urgent), "urgent");
        assert_eq!(word(ResultArg::Solved), "solved");
        assert_eq!(
            word(SatisfactionArg::BasicallySatisfied),
            "basically-satisfied"
        );
        assert_eq!(word(StatusArg::InProgress), "in-progress");
    }

    #[test]
    fn aliases_and_case_are_accepted_by_clap() {
        assert_eq!(
            SatisfactionArg::from_str("basic", false),
            Ok(SatisfactionArg::BasicallySatisfied)
        );
        assert_eq!(
            StatusArg::from_str("pending", false),
            Ok(StatusArg::PendingDispatch)
        );
        assert_eq!(ChannelArg::from_str("WeChat", true), Ok(ChannelArg::Wechat));
        assert!(ChannelArg::from_str("fax", true).is_err());
    }

    #[test]
    fn short_names_drop_the_type_prefix() {
        assert_eq!(
            name::<v1::TicketStatus>(v1::TicketStatus::Dispatched.into()),
            "DISPATCHED"
        );
        assert_eq!(name::<v1::TicketStatus>(0), "");
        assert_eq!(name::<v1::TicketStatus>(99), "99");
        assert_eq!(
            json::<v1::Role>(v1::Role::Operator.into()),
            Value::from("OPERATOR")
        );
        assert_eq!(json::<v1::Role>(0), Value::Null);
    }

    #[test]
    fn file_words_accept_every_spelling() {
        let complaint: i32 = v1::AppealType::Complaint.into();
        for word in [
            "complaint",
            "COMPLAINT",
            "APPEAL_TYPE_COMPLAINT",
            " Complaint ",
        ] {
            assert_eq!(
                parse_word::<v1::AppealType>(Some(word)).expect(word),
                complaint
            );
        }
        let days: i32 = v1::TimeMode::WorkingDays.into();
        assert_eq!(
            parse_word::<v1::TimeMode>(Some("working-days")).expect("mode"),
            days
        );
        assert_eq!(parse_word::<v1::AppealType>(None).expect("none"), 0);
        assert_eq!(parse_word::<v1::AppealType>(Some("")).expect("empty"), 0);
        let err = parse_word::<v1::AppealType>(Some("rant")).expect_err("unknown");
        assert_eq!(err.to_string(), "unknown appeal type \"rant\"");
    }
}

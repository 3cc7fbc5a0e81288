//! A small city: departments, routing rules and one key per role.

use hotline_e2e::TestServer;
use hotline_proto::v1::{self as pb, Role};

pub const ENV: &str = "sz.env";
pub const ENV_GUSU: &str = "sz.env.gusu";
pub const ENV_WUZHONG: &str = "sz.env.wuzhong";
pub const WATER: &str = "sz.water";
pub const HOUSING: &str = "sz.housing";
pub const TRANSPORT: &str = "sz.transport";
pub const NOISE: &str = "环境保护/噪声污染/施工噪声";
pub const PHONE: &str = "13912345678";

/// The server and a key for every role and department.
pub struct World {
    pub server: TestServer,
    pub operator: String,
    pub supervisor: String,
    pub env: String,
    pub env_gusu: String,
    pub env_wuzhong: String,
    pub water: String,
    pub housing: String,
    pub transport: String,
}

impl World {
    pub async fn new() -> World {
        World::on(TestServer::start().await.unwrap()).await
    }

    /// Sets up the city on a server started by the caller.
    pub async fn on(server: TestServer) -> World {
        let mut admin = server.admin();
        let departments = [
            (ENV, "市生态环境局", "", "320500", 1),
            (ENV_GUSU, "姑苏分局", ENV, "320508", 2),
            (ENV_WUZHONG, "吴中分局", ENV, "320506", 2),
            (WATER, "市水务局", "", "320500", 1),
            (HOUSING, "市住建局", "", "320500", 1),
            (TRANSPORT, "市交通运输局", "", "320500", 1),
        ];
        for (id, name, parent, region, level) in departments {
            admin
                .upsert_department(pb::UpsertDepartmentRequest {
                    department: Some(pb::Department {
                        id: id.into(),
                        name: name.into(),
                        parent_id: parent.into(),
                        region_code: region.into(),
                        level,
                    }),
                })
                .await
                .unwrap();
        }
        let rule = |id: &str, category: &str, region: &str, lead: &str| pb::RoutingRule {
            id: id.into(),
            category_prefix: category.into(),
            region_prefix: region.into(),
            appeal_type: 0,
            lead_department_id: lead.into(),
            co_department_ids: vec![],
            direct_dispatch: true,
        };
        admin
            .put_routing_rules(pb::PutRoutingRulesRequest {
                rules: vec![
                    rule("noise-gusu", "环境保护/噪声污染", "320508", ENV_GUSU),
                    rule("water", "城乡建设/公用事业/供水", "", WATER),
                ],
            })
            .await
            .unwrap();
        let key = |role, dept: &'static str| {
            let server = &server;
            async move { server.key(role, dept, dept).await.unwrap() }
        };
        World {
            operator: key(Role::Operator, "").await,
            supervisor: key(Role::Supervisor, "").await,
            env: key(Role::Department, ENV).await,
            env_gusu: key(Role::Department, ENV_GUSU).await,
            env_wuzhong: key(Role::Department, ENV_WUZHONG).await,
            water: key(Role::Department, WATER).await,
            housing: key(Role::Department, HOUSING).await,
            transport: key(Role::Department, TRANSPORT).await,
            server,
        }
    }

    /// A normal complaint, as an operator takes it on the phone.
    pub fn complaint(
        title: &str,
        category_hint: &str,
        region_code: &str,
    ) -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            request_id: String::new(),
            channel: pb::Channel::Phone as i32,
            appeal_type: pb::AppealType::Complaint as i32,
            priority: pb::Priority::Normal as i32,
            citizen: Some(pb::Citizen {
                name: "王小明".into(),
                phone: PHONE.into(),
                anonymous: false,
                confidential: false,
                wants_callback: true,
            }),
            title: title.into(),
            body: format!("{title}。每天晚上十点以后仍在施工，严重影响休息，请尽快处理。"),
            address: "姑苏区平江路100号".into(),
            region_code: region_code.into(),
            category_hint: category_hint.into(),
            latitude: None,
            longitude: None,
        }
    }

    /// Creates a ticket as the operator.
    pub async fn create(&self, request: pb::CreateTicketRequest) -> pb::Ticket {
        self.server
            .tickets(&self.operator)
            .create_ticket(request)
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    }

    /// Creates a ticket that waits for manual dispatch (no category, so no rule matches).
    pub async fn pending(&self, title: &str) -> pb::Ticket {
        self.create(Self::complaint(title, "", "320506")).await
    }

    /// Creates a ticket and dispatches it by hand.
    pub async fn dispatched(&self, title: &str, lead: &str, co: &[&str]) -> pb::Ticket {
        let ticket = self.pending(title).await;
        self.server
            .tickets(&self.operator)
            .dispatch(pb::DispatchRequest {
                ticket_id: ticket.id,
                expected_version: Some(ticket.version),
                lead_department_id: lead.into(),
                co_department_ids: co.iter().map(|c| (*c).to_owned()).collect(),
                note: "请按时办理".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    }

    pub async fn get(&self, ticket_id: &str) -> pb::Ticket {
        self.server
            .tickets(&self.operator)
            .get_ticket(pb::GetTicketRequest {
                ticket_id: ticket_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    }

    pub async fn actions(&self, ticket_id: &str) -> Vec<String> {
        self.server
            .tickets(&self.operator)
            .get_timeline(pb::GetTimelineRequest {
                ticket_id: ticket_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .events
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    pub async fn sign(&self, key: &str, ticket_id: &str) -> Result<pb::Ticket, tonic::Status> {
        self.server
            .departments(key)
            .sign_ticket(pb::SignTicketRequest {
                ticket_id: ticket_id.into(),
                expected_version: None,
                note: String::new(),
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    pub async fn reply(&self, key: &str, ticket_id: &str) -> Result<pb::Ticket, tonic::Status> {
        self.server
            .departments(key)
            .reply_ticket(pb::ReplyTicketRequest {
                ticket_id: ticket_id.into(),
                expected_version: None,
                result: pb::ReplyResult::Solved as i32,
                content: "已责令施工单位夜间停工，并安排执法队员巡查。".into(),
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    pub async fn callback(
        &self,
        ticket_id: &str,
        satisfaction: pb::Satisfaction,
        reopen: bool,
    ) -> Result<pb::Ticket, tonic::Status> {
        self.server
            .tickets(&self.operator)
            .record_callback(pb::RecordCallbackRequest {
                ticket_id: ticket_id.into(),
                expected_version: None,
                contacted: true,
                resolved: satisfaction != pb::Satisfaction::Unsatisfied,
                satisfaction: satisfaction as i32,
                comment: String::new(),
                reopen,
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }
}

pub fn status(ticket: &pb::Ticket) -> pb::TicketStatus {
    pb::TicketStatus::try_from(ticket.status).unwrap()
}

/// Returns the field names of a status's BadRequest details.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

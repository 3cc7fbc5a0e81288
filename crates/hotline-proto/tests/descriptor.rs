//! Pins the gRPC contract: the services and rpc names of SPEC §2, the shape of
//! every ticket mutation and the enum naming style, read from the descriptor
//! set served by reflection, so the contract cannot drift silently.

use std::collections::BTreeSet;

use hotline_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, FileDescriptorProto, FileDescriptorSet, ServiceDescriptorProto,
};

const PACKAGE: &str = "hotline.v1";

const TICKET_RPCS: &[&str] = &[
    "CreateTicket",
    "GetTicket",
    "ListTickets",
    "GetTimeline",
    "Dispatch",
    "AnswerDirectly",
    "ReviewReply",
    "RecordCallback",
    "WithdrawTicket",
    "MergeTickets",
    "FindSimilar",
    "MarkInvalid",
];

const DEPARTMENT_RPCS: &[&str] = &[
    "ListAssignments",
    "WatchAssignments",
    "SignTicket",
    "ReturnTicket",
    "RequestExtension",
    "RequestSuspension",
    "ResumeTicket",
    "AddProgress",
    "DelegateTicket",
    "SubmitOpinion",
    "ReplyTicket",
    "DisputeRating",
];

const SUPERVISION_RPCS: &[&str] = &[
    "ListOverdue",
    "ListDueSoon",
    "UrgeTicket",
    "SuperviseTicket",
    "DecideExtension",
    "DecideReturn",
    "DecideSuspension",
    "DecideDispute",
    "GetDepartmentStats",
    "ListHotspots",
];

const ADMIN_RPCS: &[&str] = &[
    "UpsertDepartment",
    "ListDepartments",
    "PutRoutingRules",
    "GetRoutingRules",
    "PutDeadlinePolicy",
    "GetDeadlinePolicy",
    "PutCalendar",
    "GetCalendar",
    "CreateApiKey",
    "ListApiKeys",
    "RevokeApiKey",
    "ReloadClassifier",
    "PutTaxonomy",
    "GetTaxonomy",
];

/// Rpcs that change a ticket: they take `ticket_id` and `expected_version` and return `TicketResponse`.
const MUTATIONS: &[&str] = &[
    "Dispatch",
    "AnswerDirectly",
    "ReviewReply",
    "RecordCallback",
    "WithdrawTicket",
    "MergeTickets",
    "MarkInvalid",
    "SignTicket",
    "ReturnTicket",
    "RequestExtension",
    "RequestSuspension",
    "ResumeTicket",
    "AddProgress",
    "DelegateTicket",
    "SubmitOpinion",
    "ReplyTicket",
    "DisputeRating",
    "UrgeTicket",
    "SuperviseTicket",
    "DecideExtension",
    "DecideReturn",
    "DecideSuspension",
    "DecideDispute",
];

fn package_files() -> Vec<FileDescriptorProto> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    set.file
        .into_iter()
        .filter(|file| file.package() == PACKAGE)
        .collect()
}

fn services() -> Vec<ServiceDescriptorProto> {
    package_files()
        .into_iter()
        .flat_map(|file| file.service)
        .collect()
}

fn message(name: &str) -> DescriptorProto {
    package_files()
        .into_iter()
        .flat_map(|file| file.message_type)
        .find(|message| message.name() == name)
        .unwrap_or_else(|| panic!("message {name} exists"))
}

fn rpc_names(service: &ServiceDescriptorProto) -> Vec<&str> {
    service.method.iter().map(|method| method.name()).collect()
}

#[test]
fn the_package_has_exactly_the_four_services_with_the_contracted_rpcs() {
    let services = services();
    let names: BTreeSet<&str> = services.iter().map(|service| service.name()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "AdminService",
            "DepartmentService",
            "SupervisionService",
            "TicketService"
        ])
    );
    for service in &services {
        let expected = match service.name() {
            "TicketService" => TICKET_RPCS,
            "DepartmentService" => DEPARTMENT_RPCS,
            "SupervisionService" => SUPERVISION_RPCS,
            "AdminService" => ADMIN_RPCS,
            other => panic!("unexpected service {other}"),
        };
        assert_eq!(rpc_names(service), expected, "rpcs of {}", service.name());
    }
}

#[test]
fn only_watch_assignments_streams() {
    for service in services() {
        for method in &service.method {
            assert!(
                !method.client_streaming(),
                "{} takes a stream",
                method.name()
            );
            assert_eq!(
                method.server_streaming(),
                method.name() == "WatchAssignments",
                "server streaming of {}",
                method.name()
            );
        }
    }
}

#[test]
fn requests_and_responses_follow_the_naming_rule() {
    let mutations: BTreeSet<&str> = MUTATIONS.iter().copied().collect();
    for service in services() {
        for method in &service.method {
            let name = method.name();
            assert_eq!(
                method.input_type(),
                format!(".{PACKAGE}.{name}Request"),
                "request of {name}"
            );
            let expected_output = if mutations.contains(name) || name == "GetTicket" {
                format!(".{PACKAGE}.TicketResponse")
            } else if name == "WatchAssignments" {
                format!(".{PACKAGE}.AssignmentNotification")
            } else {
                format!(".{PACKAGE}.{name}Response")
            };
            assert_eq!(method.output_type(), expected_output, "response of {name}");
        }
    }
}

#[test]
fn every_mutation_takes_ticket_id_and_an_optional_expected_version_first() {
    for rpc in MUTATIONS {
        let request = message(&format!("{rpc}Request"));
        let ticket_id = request
            .field
            .iter()
            .find(|field| field.number() == 1)
            .unwrap_or_else(|| panic!("{rpc}Request has field 1"));
        assert_eq!(ticket_id.name(), "ticket_id", "{rpc}Request field 1");
        assert_eq!(ticket_id.r#type(), Type::String, "{rpc}Request.ticket_id");

        let version = request
            .field
            .iter()
            .find(|field| field.number() == 2)
            .unwrap_or_else(|| panic!("{rpc}Request has field 2"));
        assert_eq!(version.name(), "expected_version", "{rpc}Request field 2");
        assert_eq!(
            version.r#type(),
            Type::Int64,
            "{rpc}Request.expected_version"
        );
        assert_eq!(version.label(), Label::Optional);
        assert!(
            version.proto3_optional(),
            "{rpc}Request.expected_version is proto3 optional"
        );
    }
}

#[test]
fn enum_values_are_prefixed_by_their_type_with_an_unspecified_zero() {
    let enums: Vec<_> = package_files()
        .into_iter()
        .flat_map(|file| file.enum_type)
        .collect();
    assert!(!enums.is_empty());
    for enumeration in enums {
        let prefix = upper_snake(enumeration.name());
        let zero = enumeration
            .value
            .iter()
            .find(|value| value.number() == 0)
            .unwrap_or_else(|| panic!("{} has a zero value", enumeration.name()));
        assert_eq!(zero.name(), format!("{prefix}_UNSPECIFIED"));
        for value in &enumeration.value {
            assert!(
                value.name().starts_with(&format!("{prefix}_")),
                "{} is prefixed by {prefix}_",
                value.name()
            );
        }
    }
}

#[test]
fn the_descriptor_set_carries_comments_and_imports_for_reflection() {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    assert!(
        set.file
            .iter()
            .any(|file| file.name() == "google/protobuf/timestamp.proto"),
        "imports are included"
    );
    for file in package_files() {
        let commented = file
            .source_code_info
            .as_ref()
            .is_some_and(|info| info.location.iter().any(|l| l.leading_comments.is_some()));
        assert!(commented, "{} keeps its comments", file.name());
    }
}

#[test]
fn the_generated_clients_and_servers_exist() {
    // Compile-time check that client and server code were generated.
    fn assert_exists<T>() {}
    assert_exists::<
        hotline_proto::v1::ticket_service_client::TicketServiceClient<tonic::transport::Channel>,
    >();
    assert_exists::<hotline_proto::v1::admin_service_server::AdminServiceServer<()>>();
    assert_eq!(
        hotline_proto::v1::TicketStatus::Dispatched.as_str_name(),
        "TICKET_STATUS_DISPATCHED"
    );
}

/// Converts `TicketStatus` to `TICKET_STATUS`.
fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

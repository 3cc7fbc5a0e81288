//! The gRPC contract of hotline, compiled from `proto/hotline/v1/*.proto`.
//!
//! [`v1`] holds the prost messages and enums of package `hotline.v1` and, for
//! each service, a tonic client (`ticket_service_client::TicketServiceClient`,
//! ...) and server (`ticket_service_server::TicketServiceServer`, ...).
//! [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set for tonic-reflection.
//!
//! Proto types stop at the gRPC layer: the server converts them to and from
//! `hotline-core` domain types and never lets them reach the domain.

/// Generated code for protobuf package `hotline.v1`: messages, enums, clients and servers.
pub mod v1 {
    tonic::include_proto!("hotline.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of package `hotline.v1` and
/// its imports, with source comments, for `tonic_reflection`'s
/// `register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hotline_v1_descriptor");

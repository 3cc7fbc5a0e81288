//! `hotline health`: asks a server's standard health service whether it serves,
//! so container runtimes can probe over gRPC without another tool in the image.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::cmd::Ctx;
use crate::output::Format;

/// How long the check may take: a probe that hangs is a failed probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `hotline health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Service to ask about (e.g. hotline.v1.TicketService); the whole server by default
    #[arg(
        long,
        value_name = "NAME",
        default_value = "",
        hide_default_value = true
    )]
    service: String,
}

/// Prints the status; fails unless it is SERVING.
///
/// # Errors
/// The server cannot be reached, does not answer in time, or is not serving.
pub async fn run(ctx: &Ctx, args: HealthArgs) -> anyhow::Result<()> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: args.service,
    });
    request.set_timeout(CHECK_TIMEOUT);
    let response = ctx.conn.health().check(request).await?.into_inner();
    let status = ServingStatus::try_from(response.status).unwrap_or(ServingStatus::Unknown);
    match ctx.format {
        Format::Json => println!("{{\"status\":\"{}\"}}", status.as_str_name()),
        Format::Text => println!("{}", status.as_str_name()),
    }
    if status != ServingStatus::Serving {
        bail!("server is {}", status.as_str_name());
    }
    Ok(())
}

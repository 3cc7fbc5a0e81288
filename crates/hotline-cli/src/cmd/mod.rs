//! One module per command group. Client groups take a [`Ctx`] (the connection
//! and the output format) and call one RPC per command.

pub mod admin;
pub mod bench;
pub mod calendar;
pub mod classify;
pub mod demo;
pub mod dept;
pub mod health;
pub mod seed;
pub mod serve;
pub mod supervise;
pub mod ticket;

use hotline_proto::v1;

use crate::client::Connection;
use crate::output::{Format, print_json};
use crate::render::print_ticket_summary;

/// What a client command needs: where to send RPCs and how to print.
#[derive(Debug)]
pub struct Ctx {
    /// The open connection to the server.
    pub conn: Connection,
    /// Tables or JSON.
    pub format: Format,
}

impl Ctx {
    /// Prints the ticket returned by a mutation: a summary, or the TicketResponse as JSON.
    pub fn print_ticket_response(&self, response: &v1::TicketResponse) {
        match self.format {
            Format::Json => print_json(&crate::json::ticket_response(response)),
            Format::Text => match &response.ticket {
                Some(ticket) => print_ticket_summary(ticket),
                None => println!("ok"),
            },
        }
    }
}

//! End-to-end tests: each starts a real server on a random port with a temp
//! SQLite file and drives it only through gRPC clients.

#![allow(clippy::unwrap_used)]

mod access;
mod analysis;
mod closed_loop;
mod handling;
mod limits;
mod routing;
mod supervision;
mod tls;
mod validation;
mod watch;
mod world;

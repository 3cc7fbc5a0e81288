//! The gRPC server of hotline: the four services of `hotline.v1` over a
//! [`hotline_store::Store`], with API-key authentication, one authorization
//! matrix ([`auth::authorize`]), department scoping, PII masking, an
//! in-process notification bus for `WatchAssignments`, health and reflection.
//!
//! The library exposes [`App`] (open, bootstrap an admin key, serve a bound
//! listener until a shutdown future resolves), [`ServerConfig`] and
//! [`migrate`]; the `hotline` CLI binds, installs signal handlers and calls them.
//!
//! Layout: `config` (settings), `app` (wiring and lifecycle), `state` (shared
//! state, scoping, the mutation path), `auth` (keys and the matrix), `error`
//! (the one error type and its `Status` mapping), `convert` (proto ↔ domain),
//! `settings` (stored setting documents), `analysis` (duplicates, hotspots,
//! statistics), `notify` (watch streams), `sweeper` (warning lights and
//! automatic closes, in the background), `service` (the tonic services).

#![forbid(unsafe_code)]

mod analysis;
mod app;
pub mod auth;
mod classifier;
mod config;
mod convert;
mod error;
mod notify;
mod service;
mod settings;
mod state;
mod sweeper;

pub use app::{App, migrate};
pub use classifier::{ClassifierSource, IntakeClassifier, LoadError};
pub use config::{ADMIN_KEY_FILE, DATABASE_FILE, Database, MIN_SWEEP_INTERVAL, ServerConfig};
pub use sweeper::{SweepReport, Sweeper};

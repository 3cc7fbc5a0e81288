//! The gRPC server of hotline: the four services of `hotline.v1` over a
//! [`hotline_store::Store`], with API-key authentication, one authorization
//! matrix ([`auth::authorize`]), department scoping, PII masking, an
//! in-process notification bus for `WatchAssignments`, health and reflection.
//!
//! The library exposes [`App`] (open, bootstrap an admin key, serve a bound
//! listener until a shutdown future resolves), [`ServerConfig`] and
//! [`migrate`]; the `hotline` CLI binds, installs signal handlers and calls them.
//!
//! Layout: `config` (settings and their layers), `telemetry` (logs, spans,
//! metrics, OTLP export), `app` (wiring and lifecycle), `state` (shared
//! state, scoping, the mutation path), `auth` (keys, credentials and the
//! matrix), `tls` (TLS files, client certificates to key ids), `error`
//! (the one error type and its `Status` mapping), `convert` (proto ↔ domain),
//! `settings` (stored setting documents), `analysis` (duplicates, hotspots,
//! statistics), `notify` (watch streams), `sweeper` (warning lights and
//! automatic closes, in the background), `service` (the tonic services).

#![forbid(unsafe_code)]

mod analysis;
mod app;
mod audit;
pub mod auth;
mod classifier;
mod config;
mod convert;
mod error;
mod notify;
mod ratelimit;
mod recent;
mod service;
mod settings;
mod state;
mod sweeper;
pub mod telemetry;
pub mod tls;

pub use app::{App, migrate};
pub use audit::{AuditReport, audit, verify as verify_store};
pub use classifier::{ClassifierSource, IntakeClassifier, LoadError};
pub use config::{
    ADMIN_KEY_FILE, ConfigError, DATABASE_FILE, Database, KEY_HASH_SECRET_FILE, Layers, LogFormat,
    MIN_METRICS_INTERVAL, MIN_SWEEP_INTERVAL, Origin, SETTINGS, Scope, ServerConfig, Setting,
    load as load_config, parse_interval,
};
pub use sweeper::{SweepReport, Sweeper};

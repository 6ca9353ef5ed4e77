//! `lane-central`: receives every lane of a port into PostgreSQL and object
//! storage, verifies and completes what arrived, and serves the JSON API the
//! reviewers' desk and other systems build on.
//!
//! Laid out by resource (as realworld-axum-sqlx): `config` is read once;
//! `db` owns the pool and the embedded migrations; `store` the object store;
//! `ingest` turns MQTT messages into rows and objects; `http` is the API, one
//! module per resource over one [`error::Error`]. The reviewers' desk lives in
//! its own modules beside these and merges its router into [`http::router`].

pub mod alarms;
pub mod commands;
pub mod completeness;
pub mod config;
pub mod db;
pub mod desk;
pub mod error;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod mqtt;
pub mod notify;
pub mod passages;
pub mod registry;
pub mod retention;
pub mod store;

pub use error::Error;
pub mod lanes_cli;
pub mod service;
pub mod stats;

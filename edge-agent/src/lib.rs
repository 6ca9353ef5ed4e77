//! The inspection-lane edge controller.
//!
//! `config` reads a lane's file, `flow` is the passage state machine, `lane` runs
//! it against the devices, `policy` decides, `mqtt` reports to central.

pub mod agent;
pub mod archive;
pub mod audit;
pub mod broker;
pub mod cli;
pub mod command;
pub mod config;
pub mod declaration;
pub mod durable;
pub mod flow;
pub mod heap;
pub mod images;
pub mod lane;
pub mod logs;
pub mod metrics;
pub mod mqtt;
pub mod notify;
pub mod operator;
pub mod outbox;
pub mod policy;
pub mod recognize;
pub mod signing;
pub mod stats;
pub mod storage;
pub mod vision;
pub mod web;
pub mod words;

//! The command-line tools, kept apart from the lane runtime.
//!
//! Everything here is argument handling, wording and exit codes for a person at a terminal
//! (installer, field technician, central operator); the work itself lives in the runtime
//! modules (`config`, `lane`, `outbox`, `audit`, `command`, …) and in the `models` crate.
//! Keeping the tools here means the runtime never imports a CLI module, and a CLI module
//! may import anything: that is what keeps `config → command → declaration` free of a
//! circle back into `config::load`.

pub mod audit;
pub mod command;
pub mod declare;
pub mod diag;
pub mod follow;
pub mod ocr;
pub mod operator;
pub mod outbox;
pub mod tail;
pub mod vision;

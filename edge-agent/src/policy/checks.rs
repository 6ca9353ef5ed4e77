//! The checks a decision is explained by, and the reasons it holds for: each
//! rule adds a named check (pass, fail or unavailable, with what it looked
//! at), and a failing one adds its machine-readable reason once.

use contract::decision::{Check, CheckResult};

#[derive(Default)]
pub(super) struct Checks {
    pub(super) checks: Vec<Check>,
    pub(super) reasons: Vec<String>,
}

impl Checks {
    fn push(&mut self, name: &str, result: CheckResult, reason: Option<&str>, detail: &str) {
        self.checks.push(Check { name: name.into(), result, detail: detail.into() });
        if let Some(r) = reason {
            if !self.reasons.iter().any(|x| x == r) {
                self.reasons.push(r.into());
            }
        }
    }

    pub(super) fn pass(&mut self, name: &str, detail: &str) {
        self.push(name, CheckResult::Pass, None, detail);
    }

    pub(super) fn fail(&mut self, name: &str, reason: &str, detail: &str) {
        self.push(name, CheckResult::Fail, Some(reason), detail);
    }

    pub(super) fn unavailable(&mut self, name: &str, reason: &str, detail: &str) {
        self.push(name, CheckResult::Unavailable, Some(reason), detail);
    }
}

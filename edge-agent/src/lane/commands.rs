//! Commands from central, as the lane runs them: verified, recorded as seen
//! (durably, before running, so a command runs at most once even across a
//! crash), run, and answered on `<base>/ack` — accepted with what running it
//! did, or rejected with the reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::command::Replay;
use crate::config::LaneConfig;
use crate::declaration::DeclarationStore;
use crate::flow::Event;
use contract::command::{Action, Command, CommandAck, CommandVerifier, Envelope, Rejection};
use contract::decision::{DecisionRecord, Outcome};
use contract::passage::Stage;

use super::Lane;
use crate::archive::Shelf;

/// Tolerated clock difference between central and the lane.
const SKEW: chrono::Duration = chrono::Duration::seconds(30);

pub(crate) struct Desk {
    verifier: CommandVerifier,
    replay: Replay,
    /// Where `declare` puts declarations.
    declarations: Arc<DeclarationStore>,
    /// Where `resend` finds records.
    records: Shelf,
}

impl Desk {
    pub(crate) fn open(
        cfg: &LaneConfig,
        path: &Path,
        declarations: Arc<DeclarationStore>,
        records: Shelf,
    ) -> rusqlite::Result<Self> {
        let verifier = CommandVerifier {
            keys: cfg.commands.keys.iter().cloned().collect::<BTreeMap<_, _>>(),
            site: cfg.site.clone(),
            lane: cfg.lane.clone(),
            max_validity: chrono::Duration::from_std(cfg.commands.max_validity)
                .unwrap_or(chrono::Duration::MAX),
            skew: SKEW,
        };
        Ok(Desk { verifier, replay: Replay::open(path)?, declarations, records })
    }

    fn admit(&mut self, bytes: &[u8], now: DateTime<Utc>) -> Result<Command, (Option<String>, Rejection)> {
        let cmd = self.verifier.verify(bytes, now).map_err(|r| (trusted_id(bytes, &r), r))?;
        self.replay.first_time(&cmd.id, cmd.expires_at, now).map_err(|r| (Some(cmd.id.clone()), r))?;
        Ok(cmd)
    }
}

/// The id of a command that failed verification, for central to match the rejection to what
/// it sent — only when its signature verified (the command was late, early or for another lane).
/// Before that, anyone could have written it: echoing it would let anyone make the lane's acks
/// carry an id of their choosing.
fn trusted_id(bytes: &[u8], rejection: &Rejection) -> Option<String> {
    match rejection {
        Rejection::WrongTarget(_)
        | Rejection::Expired(_)
        | Rejection::NotYetValid(_)
        | Rejection::TooLong => id_of(bytes),
        Rejection::Malformed(_)
        | Rejection::UnknownKey(_)
        | Rejection::BadSignature
        | Rejection::Replayed(_) => None,
    }
}

fn id_of(bytes: &[u8]) -> Option<String> {
    use base64::Engine;
    let env: Envelope = serde_json::from_slice(bytes).ok()?;
    let payload = base64::engine::general_purpose::STANDARD.decode(env.payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    v.get("id")?.as_str().map(|s| s.chars().take(128).collect())
}

/// What running an accepted command did: a word for machines, a sentence for people.
struct Done {
    outcome: &'static str,
    detail: String,
}

fn done(outcome: &'static str, detail: impl Into<String>) -> Done {
    Done { outcome, detail: detail.into() }
}

impl Lane {
    pub(super) fn on_command(&mut self, bytes: Vec<u8>) {
        let now = self.clock.now().utc;
        let ack = match self.desk.admit(&bytes, now) {
            Err((id, rejection)) => {
                warn!(id = id.as_deref().unwrap_or("-"), reason = rejection.word(), detail = %rejection, "command rejected");
                CommandAck {
                    id,
                    accepted: false,
                    reason: Some(rejection.word().into()),
                    detail: rejection.to_string(),
                    outcome: None,
                    at: now,
                }
            }
            Ok(cmd) => {
                let result = self.run_command(&cmd, now);
                info!(id = %cmd.id, by = %cmd.by, outcome = result.outcome, detail = %result.detail, "command run");
                CommandAck {
                    id: Some(cmd.id),
                    accepted: true,
                    reason: None,
                    detail: result.detail,
                    outcome: Some(result.outcome.into()),
                    at: now,
                }
            }
        };
        self.answer(ack);
    }

    /// A command too large to read: rejected without an id (nothing of it was read, let alone
    /// verified), like any bad command, in the trail and on `ack`.
    pub(super) fn on_command_too_large(&mut self, bytes: usize, limit: usize) {
        let now = self.clock.now().utc;
        warn!(bytes, limit, "command rejected: too large");
        self.answer(CommandAck {
            id: None,
            accepted: false,
            reason: Some("too_large".into()),
            detail: format!("{bytes} bytes; this lane accepts commands of at most {limit} bytes"),
            outcome: None,
            at: now,
        });
    }

    fn answer(&mut self, ack: CommandAck) {
        self.metrics.command(&ack);
        let passage = self.flow.current().map(|p| p.record.id.clone());
        self.audit.append("command", passage.as_deref(), serde_json::to_value(&ack).unwrap_or_default());
        self.outlet.ack(&ack);
    }

    fn run_command(&mut self, cmd: &Command, now: DateTime<Utc>) -> Done {
        let by = format!("central:{}", cmd.by);
        match &cmd.action {
            Action::Release { passage } => self.review(passage, Outcome::Release, by, now),
            Action::Hold { passage } => self.review(passage, Outcome::Hold, by, now),
            Action::Inspection { passage } => self.review(passage, Outcome::Inspection, by, now),
            Action::OpenBarrier { reason } => match self.held_passage() {
                // A manual release is a release of the vehicle being held: the
                // barrier never opens for nobody, and the record says who and why.
                Some(id) => {
                    let d = self.review(&id, Outcome::Release, format!("{by} ({reason})"), now);
                    done(d.outcome, format!("manual release of {id}: {reason}"))
                }
                None => done("not_applicable", "no vehicle is held at the barrier; nothing opened"),
            },
            Action::Declare { declarations } => match self.desk.declarations.put(declarations, now) {
                Ok(stored) => done(
                    "declared",
                    format!("{} declarations received; {stored} valid on this lane", declarations.len()),
                ),
                Err(e) => done("not_applicable", e.to_string()),
            },
            Action::Resend { passage } => self.resend(passage),
            Action::ResendSeq { seq } => match self.desk.records.find_seq(*seq) {
                Some(id) => self.resend(&id),
                None => done("not_applicable", format!("no record of passage #{seq} is kept on this lane")),
            },
        }
    }

    /// The record exactly as first published (same signature), then its images.
    fn resend(&mut self, passage: &str) -> Done {
        let Some(payload) = self.desk.records.get(passage) else {
            return done("not_applicable", format!("no record of {passage} is kept on this lane"));
        };
        let images = match serde_json::from_slice::<contract::passage::PassageRecord>(&payload) {
            Ok(record) => {
                let captures =
                    record.captures.iter().filter_map(|c| Some((c.device.clone(), c.image.clone()?)));
                let empty =
                    record.empty_check.iter().filter_map(|e| Some((e.device.clone(), e.image.clone()?)));
                // The heat-map overlay is an image of the record like the others.
                let overlay = record
                    .uvss
                    .iter()
                    .filter_map(|u| Some((format!("{}-overlay", u.device), u.overlay.clone()?)));
                captures.chain(empty).chain(overlay).collect::<Vec<_>>()
            }
            Err(_) => vec![],
        };
        self.outlet.resend(payload);
        let missing =
            images.iter().filter(|(device, image)| !self.republish_image(passage, device, image)).count();
        match missing {
            0 => done("resent", format!("{passage} and its {} images queued again", images.len())),
            n => done(
                "resent",
                format!("{passage} queued again; {n} of {} images are no longer stored", images.len()),
            ),
        }
    }

    /// Degraded operation: a local operator releases the held vehicle. Only a
    /// vehicle waiting for review; the barrier then opens (and closes) exactly
    /// as for central's release, never onto an occupied zone.
    pub(super) fn local_release(
        &mut self,
        passage: &str,
        operator: &str,
    ) -> Result<String, super::DiagError> {
        let now = self.clock.now().utc;
        let by = format!("local:{operator}");
        let held = self.held_passage().as_deref() == Some(passage);
        self.audit.append(
            "operator_release",
            Some(passage),
            serde_json::json!({"operator": operator, "by": by, "accepted": held}),
        );
        if !held {
            return Err(super::DiagError::Refused(format!(
                "passage {passage} is not a held vehicle waiting at the barrier"
            )));
        }
        info!(%passage, %operator, "local operator release");
        let d = self.review(passage, Outcome::Release, by, now);
        Ok(d.detail)
    }

    fn held_passage(&self) -> Option<String> {
        self.flow.current().filter(|p| p.stage == Stage::Review).map(|p| p.record.id.clone())
    }

    fn review(&mut self, passage: &str, outcome: Outcome, by: String, now: DateTime<Utc>) -> Done {
        if self.held_passage().as_deref() != Some(passage) {
            return done(
                "not_applicable",
                format!("passage {passage} is not waiting for review on this lane"),
            );
        }
        let decision = DecisionRecord { outcome, reasons: vec![], checks: vec![], by, at: now };
        self.feed(Event::Reviewed { passage: passage.into(), decision });
        match outcome {
            Outcome::Release => done("released", format!("{passage} released; the barrier opens")),
            Outcome::Hold => done("held", format!("{passage} stays held")),
            Outcome::Inspection => done("sent_to_inspection", format!("{passage} sent to inspection")),
        }
    }
}

impl Lane {
    /// Sends a stored image again; false when the store no longer has it.
    pub(super) fn republish_image(
        &self,
        passage: &str,
        camera: &str,
        image: &contract::image::ImageRef,
    ) -> bool {
        let stored = self.images.path_of(&image.sha256, image.format.extension()).exists();
        if stored {
            self.outlet.image(passage, camera, image);
        }
        stored
    }
}

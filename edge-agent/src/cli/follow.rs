//! `edge-agent follow`: subscribes to a lane's topics and prints what happens in
//! plain words, one line per message — the quickest way to watch a lane work.

use std::io::Write;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use contract::decision::{DecisionEvent, Outcome};
use contract::lane::{Alarm, DeviceHealthEvent, LaneStatus};
use contract::passage::{ExitKind, PassageRecord, Stage};

pub struct FollowOptions {
    pub host: String,
    pub port: u16,
    /// Topic filter, e.g. `lanectl/CNSHA/G07/#` or `lanectl/#`.
    pub filter: String,
    pub json: bool,
    /// Stop after this many passage records (0 = never).
    pub count: u64,
}

pub async fn follow(opts: FollowOptions, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let id = format!("edge-agent-follow-{}", std::process::id());
    let mut options = MqttOptions::new(id, opts.host.clone(), opts.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(16 << 20, 64 << 10);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let mut passages = 0;
    let mut reported_down = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                reported_down = false;
                client.subscribe(&opts.filter, QoS::AtLeastOnce).await.map_err(std::io::Error::other)?;
                writeln!(out, "following {} on {}:{}", opts.filter, opts.host, opts.port)?;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let line = if opts.json {
                    format!("{} {}", p.topic, String::from_utf8_lossy(&p.payload))
                } else {
                    describe(&p.topic, &p.payload)
                };
                if !line.is_empty() {
                    writeln!(out, "{line}")?;
                    out.flush()?;
                }
                if p.topic.ends_with("/passage") {
                    passages += 1;
                    if opts.count != 0 && passages >= opts.count {
                        return Ok(());
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !reported_down {
                    writeln!(out, "broker {}:{} not reachable ({e}); retrying", opts.host, opts.port)?;
                    reported_down = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One human-readable line for a message on any lane topic (empty: nothing
/// worth a line).
pub fn describe(topic: &str, payload: &[u8]) -> String {
    let leaf = topic.rsplit('/').next().unwrap_or("");
    let parsed = if topic.ends_with("/passage") {
        serde_json::from_slice::<PassageRecord>(payload).map(|r| passage_line(&r))
    } else if topic.ends_with("/decision") {
        serde_json::from_slice::<DecisionEvent>(payload).map(|d| {
            if d.decision.outcome == Outcome::Release {
                return String::new(); // its passage line follows in seconds
            }
            let plate = d.plate.as_deref().unwrap_or("-------");
            format!(
                "{}  {}  {}  {plate:<9} waiting: {}{}",
                time(&d.decision.at),
                d.lane,
                short(&d.passage),
                word(d.decision.outcome),
                reasons(&d.decision.reasons)
            )
        })
    } else if topic.ends_with("/alarm") {
        serde_json::from_slice::<Alarm>(payload)
            .map(|a| format!("{}  ALARM {:?}: {}", time(&a.at), a.kind, a.message))
    } else if topic.ends_with("/status") {
        serde_json::from_slice::<LaneStatus>(payload).map(|s| {
            format!("lane {}/{} is {:?} (since {})", s.site, s.lane, s.state, time(&s.since)).to_lowercase()
        })
    } else if topic.contains("/health/") {
        serde_json::from_slice::<DeviceHealthEvent>(payload).map(|h| {
            let reason = h.health.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            format!(
                "{}  device {} ({}): {:?}{reason}",
                time(&h.health.since),
                h.device,
                h.kind,
                h.health.state
            )
        })
    } else if topic.ends_with("/ack") {
        serde_json::from_slice::<contract::command::CommandAck>(payload).map(|a| {
            let id = a.id.as_deref().unwrap_or("?");
            match (a.accepted, a.outcome.as_deref(), a.reason.as_deref()) {
                (true, outcome, _) => {
                    format!("{}  command {id}: {} — {}", time(&a.at), outcome.unwrap_or("done"), a.detail)
                }
                (false, _, reason) => format!(
                    "{}  command {id} REJECTED ({}): {}",
                    time(&a.at),
                    reason.unwrap_or("?"),
                    a.detail
                ),
            }
        })
    } else if topic.ends_with("/stats") {
        serde_json::from_slice::<contract::stats::StatsReport>(payload).map(|r| {
            format!(
                "stats {}/{}: {} passages, direct release {:.1} %, p95 time in lane {} ms",
                r.site,
                r.lane,
                r.passages,
                r.direct_release_ratio * 100.0,
                r.time_in_lane_ms.p95
            )
        })
    } else if topic.contains("/image/") || topic.contains("/audit/") {
        return String::new(); // images and audit checkpoints are for machines (`edge-agent tail`)
    } else {
        return format!("{topic}: {} bytes", payload.len());
    };
    parsed.unwrap_or_else(|e| format!("{leaf}: unreadable message ({e})"))
}

fn passage_line(r: &PassageRecord) -> String {
    let plate = r.plate().unwrap_or("-------");
    let containers = r.container_codes();
    let containers = if containers.is_empty() { "-".to_string() } else { containers.join(",") };
    let outcome = r.final_outcome().map_or("NONE", word);
    let by = r.review.as_ref().map(|d| format!(" by {}", d.by)).unwrap_or_default();
    let why = r
        .decision
        .as_ref()
        .filter(|d| d.outcome != Outcome::Release)
        .map(|d| reasons(&d.reasons))
        .unwrap_or_default();
    let stages: Vec<String> = r
        .stages
        .iter()
        .map(|s| format!("{} {}", stage_name(s.stage), ms(s.duration_ms.unwrap_or(0))))
        .collect();
    let exit = match r.exit {
        Some(ExitKind::DroveThrough) => "drove through",
        Some(ExitKind::LeftUnreleased) => "left unreleased",
        Some(ExitKind::Tailgated) => "TAILGATED",
        Some(ExitKind::Interrupted) => "INTERRUPTED (agent stopped)",
        None => "-",
    };
    let flags = if r.flags.is_empty() { String::new() } else { format!("  flags {:?}", r.flags) };
    format!(
        "{}  {}  {}  {plate:<9} {containers:<24} {outcome}{by}{why}  {exit}  {} [{}]{flags}",
        time(&r.arrived_at),
        r.lane,
        short(&r.id),
        ms(r.total_ms.unwrap_or(0)),
        stages.join(" · ")
    )
}

fn ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

fn short(id: &str) -> String {
    format!("#{}", id.rsplit('-').next().unwrap_or(id))
}

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Release => "RELEASE",
        Outcome::Hold => "HOLD",
        Outcome::Inspection => "INSPECTION",
    }
}

fn reasons(r: &[String]) -> String {
    if r.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.join(", "))
    }
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Capture => "capture",
        Stage::Recognition => "recognition",
        Stage::EmptyCheck => "empty-check",
        Stage::Decision => "decision",
        Stage::Review => "review",
        Stage::Opening => "opening",
        Stage::Exit => "exit",
        Stage::Closing => "closing",
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn machine_topics_are_quiet_and_acks_are_sentences() {
        assert_eq!(describe("lanectl/S/L/image/ab12", b"{}"), "");
        assert_eq!(describe("lanectl/S/L/image/ab12/0", &[0xff, 0xd8]), "");
        assert_eq!(describe("lanectl/S/L/audit/checkpoint", b"{}"), "");
        let ack = br#"{"id":"c-1","accepted":false,"reason":"expired","detail":"expired at x","outcome":null,"at":"2026-11-23T09:00:00Z"}"#;
        let line = describe("lanectl/S/L/ack", ack);
        assert!(line.contains("command c-1 REJECTED (expired)"), "{line}");
        assert!(describe("lanectl/S/L/ack", b"garbage").contains("unreadable"));
    }
}

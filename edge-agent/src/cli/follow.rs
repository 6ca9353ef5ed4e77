//! `edge-agent follow`: subscribes to a lane's topics and prints what happens in
//! plain words, one line per message — the quickest way to watch a lane work.
//!
//! Results go to stdout (a line per vehicle, device change, alarm, command answer and
//! statistics); the connection's own news goes to stderr, so `follow | tee` keeps only
//! results. A broker that is not up yet is waited for quietly at first — the demo starts
//! `follow` beside an agent whose embedded broker takes a moment — and only called
//! unreachable when it stays away.
//!
//! `--json` prints one JSON object per message instead: `{"topic", "message"}` with the
//! payload as published (or `{"topic", "bytes"}` for binary payloads such as image pieces).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::signal::unix::{signal, SignalKind};

use contract::decision::{DecisionEvent, Outcome};
use contract::lane::{Alarm, DeviceHealthEvent, LaneStatus};
use contract::passage::{ExitKind, PassageRecord};
use contract::Topics;

use crate::config::Broker;
use crate::words::{self, format_duration, plural, reason_en, wire_word};

#[derive(Args)]
#[command(after_help = "Examples:\n  edge-agent follow --config /etc/edge-agent/lane.toml\n  \
edge-agent follow --host 10.1.0.5 --topic 'lanectl/CNSHA/#' --json | jq .\n  \
edge-agent follow --config lane.toml --count 10    # stop after ten vehicles")]
pub struct FollowArgs {
    /// The lane's configuration: broker, topic prefix, site and lane come from it.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub broker: super::BrokerArgs,
    /// One JSON object per message instead of sentences: {"topic", "message"}.
    #[arg(long)]
    pub json: bool,
    /// Exit after this many vehicles (passage records); 0 follows until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    pub count: u64,
}

pub struct FollowOptions {
    pub host: String,
    pub port: u16,
    /// Topic filter, e.g. `lanectl/CNSHA/G07/#` or `lanectl/#`.
    pub filter: String,
    pub json: bool,
    /// Stop after this many passage records (0 = never).
    pub count: u64,
}

pub fn run(args: FollowArgs) -> Result<bool, String> {
    let opts = match &args.config {
        Some(file) => {
            let cfg = super::lane::load(file)?;
            let (host, port) = match cfg.mqtt.broker {
                Broker::Remote { host, port } => (host, port),
                Broker::Embedded { listen, port } => (listen, port),
            };
            let filter = Topics::new(&cfg.mqtt.topic_prefix, &cfg.site, &cfg.lane).all();
            FollowOptions { host, port, filter, json: args.json, count: args.count }
        }
        None => FollowOptions {
            host: args.broker.host,
            port: args.broker.port,
            filter: args.broker.topic,
            json: args.json,
            count: args.count,
        },
    };
    let rt = super::runtime()?;
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    let followed = rt.block_on(async {
        // Ctrl-C and SIGTERM end the follow, also when it was started with SIGINT ignored: a
        // script that starts it in the background (`scripts/demo` under a supervisor, say)
        // passes that on, and the script's Ctrl-C would then stop everything but this.
        let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(int), Ok(term)) => (int, term),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        tokio::select! {
            r = follow(opts, &mut stdout, &mut stderr) => r,
            _ = int.recv() => Ok(()),
            _ = term.recv() => Ok(()),
        }
    });
    match followed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(e.to_string()),
    }
}

/// Follows until `count` passages (or forever); results to `out`, connection news to `news`.
pub async fn follow(
    opts: FollowOptions,
    out: &mut (dyn Write + Send),
    news: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    let id = format!("edge-agent-follow-{}", std::process::id());
    let mut options = MqttOptions::new(id, opts.host.clone(), opts.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(16 << 20, 64 << 10);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let mut passages = 0;
    let mut away = super::BrokerWait::default();
    let broker = format!("{}:{}", opts.host, opts.port);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                away.connected();
                client.subscribe(&opts.filter, QoS::AtLeastOnce).await.map_err(std::io::Error::other)?;
                writeln!(news, "following {} on {broker}", opts.filter)?;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let line =
                    if opts.json { json_line(&p.topic, &p.payload) } else { describe(&p.topic, &p.payload) };
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
                if let Some(line) = away.failed(&broker, &e) {
                    writeln!(news, "{line}")?;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// `{"topic": …, "message": …}`, or `{"topic": …, "bytes": n}` for a payload that is not JSON.
pub fn json_line(topic: &str, payload: &[u8]) -> String {
    let value = match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(message) => serde_json::json!({ "topic": topic, "message": message }),
        Err(_) => serde_json::json!({ "topic": topic, "bytes": payload.len() }),
    };
    value.to_string()
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
        serde_json::from_slice::<Alarm>(payload).map(|a| {
            let device = a.device.map(|d| format!(" ({d})")).unwrap_or_default();
            format!(
                "{}  ALARM {}{device}: {}",
                time(&a.at),
                words::en_of("flag", &wire_word(&a.kind)),
                a.message
            )
        })
    } else if topic.ends_with("/status") {
        serde_json::from_slice::<LaneStatus>(payload).map(|s| {
            let state = words::en_of("lane_state", &wire_word(&s.state));
            format!("lane {}/{} is {state} (since {})", s.site, s.lane, time(&s.since))
        })
    } else if topic.contains("/health/") {
        serde_json::from_slice::<DeviceHealthEvent>(payload).map(|h| {
            let reason = h.health.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            format!(
                "{}  device {} ({}): {}{reason}",
                time(&h.health.since),
                h.device,
                words::en_of("kind", &h.kind),
                words::en_of("health", &wire_word(&h.health.state))
            )
        })
    } else if topic.ends_with("/ack") {
        serde_json::from_slice::<contract::command::CommandAck>(payload).map(|a| {
            let id = a.id.as_deref().unwrap_or("(no id)");
            match (a.accepted, a.outcome.as_deref(), a.reason.as_deref()) {
                (true, outcome, _) => {
                    format!("{}  command {id}: {} — {}", time(&a.at), outcome.unwrap_or("done"), a.detail)
                }
                (false, _, reason) => format!(
                    "{}  command {id} REJECTED ({}): {}",
                    time(&a.at),
                    reason.unwrap_or("no reason given"),
                    a.detail
                ),
            }
        })
    } else if topic.ends_with("/stats") {
        serde_json::from_slice::<contract::stats::StatsReport>(payload).map(|r| {
            format!(
                "stats {}/{}: {}, direct release {:.1} %, p95 time in lane {}",
                r.site,
                r.lane,
                plural(r.passages, "passage", "passages"),
                r.direct_release_ratio * 100.0,
                ms(r.time_in_lane_ms.p95)
            )
        })
    } else if topic.contains("/image/") || topic.contains("/audit/") {
        return String::new(); // images and audit checkpoints are for machines (`edge-agent tail`)
    } else {
        return format!("{topic}: {}", plural(payload.len() as u64, "byte", "bytes"));
    };
    parsed.unwrap_or_else(|e| format!("{leaf}: unreadable message ({e})"))
}

fn passage_line(r: &PassageRecord) -> String {
    let plate = r.plate().unwrap_or("-------");
    let containers = r.container_codes();
    let containers = if containers.is_empty() { "-".to_string() } else { containers.join(",") };
    let outcome = r.final_outcome().map_or("NO DECISION", word);
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
        .map(|s| {
            format!("{} {}", words::en_of("stage", &wire_word(&s.stage)), ms(s.duration_ms.unwrap_or(0)))
        })
        .collect();
    let exit = match r.exit {
        Some(ExitKind::Tailgated) => "TAILGATED".to_string(),
        Some(ExitKind::Interrupted) => "INTERRUPTED (agent stopped)".to_string(),
        Some(e) => words::en_of("exit", &wire_word(&e)),
        None => "-".into(),
    };
    let flags = if r.flags.is_empty() {
        String::new()
    } else {
        let f: Vec<String> = r.flags.iter().map(|f| words::en_of("flag", &wire_word(f))).collect();
        format!("  flagged: {}", f.join(", "))
    };
    let stages = if stages.is_empty() { String::new() } else { format!(" [{}]", stages.join(" · ")) };
    format!(
        "{}  {}  {}  {plate:<9} {containers:<24} {outcome}{by}{why}  {exit}  {}{stages}{flags}",
        time(&r.completed_at.unwrap_or(r.arrived_at)),
        r.lane,
        short(&r.id),
        ms(r.total_ms.unwrap_or(0)),
    )
}

fn ms(ms: u64) -> String {
    format_duration(Duration::from_millis(if ms >= 1000 { (ms + 50) / 100 * 100 } else { ms }))
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local).format("%H:%M:%S").to_string()
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
        format!(": {}", r.iter().map(|x| reason_en(x)).collect::<Vec<_>>().join(", "))
    }
}

#[cfg(test)]
mod tests;

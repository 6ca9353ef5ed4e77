//! `edge-agent tail`: the reference consumer. Subscribes to lanes, writes every
//! passage record and every image it receives into a folder, verifying image
//! hashes and ignoring duplicates (delivery is at least once).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use contract::image::ImageManifest;
use contract::passage::PassageRecord;
use contract::reassembly::Assembler;

#[derive(Args)]
#[command(
    after_help = "Example:\n  edge-agent tail --host mqtt.central --out /srv/lanes --client-id review-room-1\n\n\
Writes passages/<id>.json and images/<sha256>.<jpg|png>; each image's hash is checked before it is kept. \
Progress goes to stderr; at the end a count of passages, duplicates and images."
)]
pub struct TailArgs {
    #[command(flatten)]
    pub broker: super::BrokerArgs,
    /// The folder to write into (created when missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep a session on the broker under this id, so nothing is missed while away.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Exit after this many new passages; 0 runs until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    pub count: u64,
}

pub fn run(a: TailArgs) -> Result<bool, String> {
    let opts = TailOptions {
        host: a.broker.host,
        port: a.broker.port,
        filter: a.broker.topic,
        out: a.out,
        client_id: a.client_id,
        count: a.count,
    };
    let rt = super::runtime()?;
    let stats = rt.block_on(tail(opts, &mut std::io::stderr())).map_err(|e| e.to_string())?;
    eprintln!(
        "{} ({} ignored), {}, {}",
        crate::words::plural(stats.passages, "passage", "passages"),
        crate::words::plural(stats.duplicates, "duplicate", "duplicates"),
        crate::words::plural(stats.images, "image", "images"),
        crate::words::plural(stats.bad_images, "bad image", "bad images")
    );
    Ok(stats.bad_images == 0)
}

pub struct TailOptions {
    pub host: String,
    pub port: u16,
    pub filter: String,
    pub out: PathBuf,
    /// With a client id the broker keeps this consumer's session (and queues
    /// messages for it) while it is away.
    pub client_id: Option<String>,
    /// Stop after this many new passages (0 = never).
    pub count: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TailStats {
    pub passages: u64,
    pub duplicates: u64,
    pub images: u64,
    pub bad_images: u64,
}

pub async fn tail(opts: TailOptions, log: &mut (dyn Write + Send)) -> std::io::Result<TailStats> {
    std::fs::create_dir_all(opts.out.join("passages"))?;
    std::fs::create_dir_all(opts.out.join("images"))?;
    let id = opts.client_id.clone().unwrap_or_else(|| format!("edge-agent-tail-{}", std::process::id()));
    let mut options = MqttOptions::new(id, opts.host.clone(), opts.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(16 << 20, 64 << 10);
    options.set_clean_session(opts.client_id.is_none());
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let mut assembler = Assembler::default();
    let mut stats = TailStats::default();
    let mut away = super::BrokerWait::default();
    let broker = format!("{}:{}", opts.host, opts.port);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                away.connected();
                client.subscribe(&opts.filter, QoS::AtLeastOnce).await.map_err(std::io::Error::other)?;
                writeln!(log, "tail: writing {} into {}", opts.filter, opts.out.display())?;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                handle(&opts, &p.topic, &p.payload, &mut assembler, &mut stats, log)?;
                if opts.count != 0 && stats.passages >= opts.count {
                    return Ok(stats);
                }
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(line) = away.failed(&broker, &e) {
                    writeln!(log, "tail: {line}")?;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn handle(
    opts: &TailOptions,
    topic: &str,
    payload: &[u8],
    assembler: &mut Assembler,
    stats: &mut TailStats,
    log: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    if topic.ends_with("/passage") {
        let Ok(record) = serde_json::from_slice::<PassageRecord>(payload) else {
            writeln!(log, "tail: unreadable passage record on {topic}")?;
            return Ok(());
        };
        // Ids are `<lane>-<time>-<seq>`: safe as file names; checked anyway.
        if record.id.contains(['/', '\\']) || record.id.starts_with('.') {
            writeln!(log, "tail: refusing passage id {:?}", record.id)?;
            return Ok(());
        }
        let path = opts.out.join("passages").join(format!("{}.json", record.id));
        if path.exists() {
            stats.duplicates += 1;
            return Ok(());
        }
        write_atomic(&path, payload)?;
        stats.passages += 1;
        let outcome = record.final_outcome().map_or("no decision".into(), |o| crate::words::wire_word(&o));
        writeln!(log, "passage {}: {outcome}", record.id)?;
        return Ok(());
    }
    let Some(rest) = topic.split_once("/image/").map(|(_, r)| r) else { return Ok(()) };
    let result = match rest.split_once('/') {
        None => match serde_json::from_slice::<ImageManifest>(payload) {
            Ok(m) => assembler.manifest(m),
            Err(e) => {
                writeln!(log, "tail: unreadable image manifest on {topic}: {e}")?;
                return Ok(());
            }
        },
        Some((sha, index)) => match index.parse::<u32>() {
            Ok(i) => assembler.chunk(sha, i, payload.to_vec()),
            Err(_) => return Ok(()),
        },
    };
    match result {
        Ok(Some((m, bytes))) => {
            if !m.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Ok(());
            }
            write_atomic(
                &opts.out.join("images").join(format!("{}.{}", m.sha256, m.format.extension())),
                &bytes,
            )?;
            stats.images += 1;
            let size = crate::cli::outbox::human_bytes(m.bytes);
            writeln!(log, "image {} ({size}) from {} for {}", &m.sha256[..12], m.camera, m.passage)?;
        }
        Ok(None) => {}
        Err(e) => {
            stats.bad_images += 1;
            writeln!(log, "tail: {e}")?;
        }
    }
    Ok(())
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

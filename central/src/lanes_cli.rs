//! `lane-central lanes list|approve|revoke`: the administrator's side of the
//! lane registry, printed for people.

use std::process::ExitCode;

use crate::db::sql::PgPool;

use crate::registry;

pub enum LanesCmd {
    List,
    Approve { lane: String, key: Option<String>, by: String },
    Revoke { lane: String, key: Option<String>, by: String },
}

fn split(lane: &str) -> anyhow::Result<(&str, &str)> {
    lane.split_once('/')
        .ok_or_else(|| anyhow::anyhow!("{lane:?}: name the lane as SITE/LANE, e.g. CNSHA-YS/G07"))
}

/// `ingest` takes up the records held in quarantine while a key was pending.
pub async fn run(pool: &PgPool, ingest: &crate::ingest::Ingest, cmd: LanesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LanesCmd::List => {
            let lanes = registry::list(pool).await?;
            if lanes.is_empty() {
                println!("no lane has been heard of yet");
            }
            for l in lanes {
                println!(
                    "{}/{}  {}{}  trail {}  seq {}..{}",
                    l.site,
                    l.lane,
                    l.state,
                    l.state_since.map(|t| format!(" since {}", t.format("%F %T"))).unwrap_or_default(),
                    l.trail_state,
                    l.first_seq.map_or("-".into(), |s| s.to_string()),
                    l.last_seq.map_or("-".into(), |s| s.to_string()),
                );
                for k in l.keys {
                    println!("    key {} {} {}", k.key_id, k.state, k.public_key);
                }
            }
        }
        LanesCmd::Approve { lane, key, by } => {
            let (site, lane) = split(&lane)?;
            let k = registry::approve(pool, site, lane, key.as_deref(), &by).await?;
            println!("{site}/{lane}: key {} ({}) approved", k.key_id, k.public_key);
            let released = ingest.release_quarantined(site, lane).await?;
            println!("{site}/{lane}: {released} records held while the key was pending are now verified");
        }
        LanesCmd::Revoke { lane, key, by } => {
            let (site, lane) = split(&lane)?;
            let k = registry::revoke(pool, site, lane, key.as_deref(), &by).await?;
            println!("{site}/{lane}: key {} ({}) revoked", k.key_id, k.public_key);
        }
    }
    Ok(ExitCode::SUCCESS)
}

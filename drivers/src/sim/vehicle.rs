//! The simulated vehicles: random but valid (GA 36 plates, ISO 6346 codes with
//! their check digits, intact seals), so the lane's parsers and checks see what
//! real traffic would give them and a simulated day exercises the real paths.

use chrono::{TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::{EmptyVerdict, SealRead, SealStatus};

/// A simulated truck and what is true about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimVehicle {
    pub seq: u64,
    pub plate: String,
    pub containers: Vec<String>,
    pub seals: Vec<SealRead>,
    pub empty: Option<EmptyVerdict>,
    /// Confidence the simulated reader reports for this vehicle's text.
    pub read_confidence: f32,
    /// Something under the vehicle that was not there on its reference scan.
    pub uvss_anomaly: bool,
    /// Follows the vehicle in front through the open barrier.
    pub tailgates: bool,
    /// Announced in advance to customs (a pre-declaration exists).
    pub declared: bool,
    /// Targeted for inspection (布控).
    pub targeted: bool,
    /// A return visit: the `seq` of the earlier visit of this truck (same plate, chassis and
    /// front; this trip's load). `None` for a truck the lane has not seen in this run.
    pub returning: Option<u64>,
}

const PROVINCES: [&str; 8] = ["沪", "浙", "苏", "粤", "鲁", "京", "津", "闽"];
const PLATE_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const OWNERS: [&str; 6] = ["MSKU", "CSQU", "TGHU", "OOLU", "TRHU", "BEAU"];

impl SimVehicle {
    /// A random but valid vehicle: GA 36 plate, ISO 6346 container codes with
    /// correct check digits, intact seals.
    pub fn random(seq: u64, rng: &mut SmallRng) -> Self {
        let province = PROVINCES[rng.gen_range(0..PROVINCES.len())];
        let letter = PLATE_LETTERS[rng.gen_range(0..PLATE_LETTERS.len())] as char;
        let tail: String = (0..5)
            .map(|_| {
                if rng.gen_bool(0.2) {
                    PLATE_LETTERS[rng.gen_range(0..PLATE_LETTERS.len())] as char
                } else {
                    char::from(b'0' + rng.gen_range(0..10))
                }
            })
            .collect();
        let boxes = if rng.gen_bool(0.3) { 2 } else { 1 };
        let containers: Vec<String> = (0..boxes)
            .map(|_| {
                let owner = OWNERS[rng.gen_range(0..OWNERS.len())];
                let serial = rng.gen_range(0..1_000_000u32);
                iso6346_with_check(&format!("{owner}{serial:06}"))
            })
            .collect();
        let sealed_at = Utc.timestamp_opt(1_790_000_000 + rng.gen_range(0..1_000_000), 0).single();
        let seals = containers
            .iter()
            .map(|_| SealRead {
                id: format!("{:04X}-{:08X}", rng.gen_range(0x1000..0x2000u16), rng.gen::<u32>()),
                status: SealStatus::Sealed,
                sealed_at,
                battery_pct: rng.gen_range(40..100),
                rssi_dbm: rng.gen_range(-80..-40),
            })
            .collect();
        SimVehicle {
            seq,
            plate: format!("{province}{letter}{tail}"),
            containers,
            seals,
            empty: None,
            read_confidence: 0.97,
            uvss_anomaly: false,
            tailgates: false,
            declared: true,
            targeted: false,
            returning: None,
        }
    }
}

/// Appends the ISO 6346 check digit to a 10-character owner+category+serial.
fn iso6346_with_check(code: &str) -> String {
    let check = models::read::iso6346::check_digit(code).expect("generated codes are well formed");
    format!("{code}{check}")
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn random_vehicles_carry_valid_codes_and_plates() {
        let mut rng = SmallRng::seed_from_u64(3);
        for seq in 0..50 {
            let v = SimVehicle::random(seq, &mut rng);
            assert_eq!(v.plate.chars().count(), 7, "{}", v.plate);
            for c in &v.containers {
                assert!(models::read::iso6346::is_valid(c), "{c}");
            }
            assert_eq!(v.seals.len(), v.containers.len());
        }
    }
}

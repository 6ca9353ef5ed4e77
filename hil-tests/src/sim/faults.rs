//! How a scenario mangles one encoded frame on its way to the host.
//!
//! Garbage never contains the protocol's sync bytes: that keeps the tests
//! deterministic (a random false start with a plausible length would make one
//! exchange in a few hundred time out instead of recovering at once), while
//! random noise including sync bytes is covered by the codecs' property tests.

use rand::Rng;

use super::Scenario;

/// The bytes to put on the wire for `frame` under `scenario`; `None` = say nothing.
pub fn mangle(scenario: Scenario, frame: &[u8], sync: &[u8], rng: &mut impl Rng) -> Option<Vec<u8>> {
    match scenario {
        Scenario::Silent => None,
        Scenario::Garbage => {
            let mut out = garbage(sync, rng);
            out.extend_from_slice(frame);
            out.extend(garbage(sync, rng));
            Some(out)
        }
        Scenario::Truncated => {
            let cut = rng.gen_range(1..frame.len().max(2));
            Some(frame[..cut].to_vec())
        }
        Scenario::BadCrc => {
            let mut out = frame.to_vec();
            if let Some(last) = out.last_mut() {
                *last ^= 0x5A;
            }
            Some(out)
        }
        _ => Some(frame.to_vec()),
    }
}

/// 1–48 random bytes, none of them a sync byte.
pub fn garbage(sync: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let n = rng.gen_range(1..=48);
    (0..n)
        .map(|_| loop {
            let b: u8 = rng.gen();
            if !sync.contains(&b) {
                break b;
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_scenario_changes_what_it_should() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let frame = [0xA5, 1, 2, 3, 4, 5, 6, 7];
        assert_eq!(mangle(Scenario::Normal, &frame, &[0xA5], &mut rng).unwrap(), frame);
        assert_eq!(mangle(Scenario::Silent, &frame, &[0xA5], &mut rng), None);
        assert!(mangle(Scenario::Truncated, &frame, &[0xA5], &mut rng).unwrap().len() < frame.len());
        assert_ne!(mangle(Scenario::BadCrc, &frame, &[0xA5], &mut rng).unwrap(), frame);
        let g = mangle(Scenario::Garbage, &frame, &[0xA5], &mut rng).unwrap();
        assert!(g.len() > frame.len());
        assert_eq!(g.iter().filter(|b| **b == 0xA5).count(), 1);
    }
}

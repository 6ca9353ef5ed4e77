//! The under-vehicle comparison end to end on the simulated lane: the simulated scanner renders
//! each plate's chassis (with a parcel under the vehicles the plan marks), the lane compares it
//! with the reference prepared for that plate, and the policy holds the vehicles with a parcel
//! for `uvss_anomaly` while the clean ones drive through.

mod common;

use common::*;
use drivers::sim::{uvss_image, SimPlan, SimTiming};
use models::uvss::ReferenceStore;
use std::time::Duration;

#[test]
fn a_planted_object_holds_the_vehicle_and_a_clean_scan_does_not() {
    let rt = runtime();
    let plan = SimPlan { vehicles: 4, seed: 11, uvss_anomaly_every: 2, ..SimPlan::default() };
    let vehicles = plan.vehicles(4);
    let dir = tempfile::tempdir().unwrap();
    // References from an earlier, clean visit, for all but the first vehicle (it has none yet).
    let store = ReferenceStore::open(&dir.path().join("uvss-references"), 64 << 20).unwrap();
    for v in &vehicles[1..] {
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(uvss_image(&v.plate, 1000 + v.seq, false))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        store.put(&v.plate, &png, None, 0).unwrap();
    }
    // Held drivers back out after their patience; a clean vehicle must be released before it
    // runs out, and its release waits on the comparison, which a loaded machine (a parallel
    // build, 2 cores) stretched past 1 s. So: long enough for that, short enough for two holds.
    let timing = SimTiming { patience: Duration::from_secs(8), ..SimTiming::fast() };
    let mut lane = Running::start_in(&rt, dir, plan, timing, |_| {});
    let (records, others) = lane.passages(4);
    for r in &records {
        let seq = r["seq"].as_u64().unwrap();
        let v = &vehicles[seq as usize - 1];
        let uvss = &r["uvss"];
        match (seq, v.uvss_anomaly) {
            (1, _) => {
                assert_eq!(uvss["verdict"], "no_reference", "{r}");
                assert_eq!(outcome(r), "release", "no reference is not an anomaly: {r}");
            }
            (_, true) => {
                assert_eq!(uvss["verdict"], "anomaly", "{r}");
                assert_eq!(outcome(r), "hold");
                assert_eq!(reasons(r), vec!["uvss_anomaly"]);
                assert!(!uvss["regions"].as_array().unwrap().is_empty());
                let overlay =
                    uvss["overlay"]["sha256"].as_str().expect("the overlay is stored and referenced");
                assert!(
                    others
                        .iter()
                        .any(|(t, m)| t.ends_with(&format!("image/{overlay}"))
                            && m["camera"] == "uvss-overlay"),
                    "the overlay goes out like any other image"
                );
            }
            (_, false) => {
                assert_eq!(uvss["verdict"], "clean", "{r}");
                assert_eq!(outcome(r), "release", "{r}");
            }
        }
    }
    assert!(vehicles.iter().filter(|v| v.uvss_anomaly).count() == 2);
    lane.stop(&rt);
}

/// The lane keeps a released vehicle's clean scan as its plate's reference; a returning truck
/// (`returning_every`) is compared with it: clean -> released, with a parcel -> held.
#[test]
fn a_returning_vehicle_is_compared_with_the_scan_its_first_visit_left() {
    let rt = runtime();
    let plan =
        SimPlan { vehicles: 6, seed: 11, returning_every: 3, uvss_anomaly_every: 6, ..SimPlan::default() };
    let vehicles = plan.vehicles(6);
    let (third, sixth) = (&vehicles[2], &vehicles[5]);
    assert_eq!(third.returning, Some(1), "#3 can only be #1 again");
    assert!(sixth.returning.is_some() && sixth.uvss_anomaly);
    let dir = tempfile::tempdir().unwrap();
    let timing = SimTiming { patience: Duration::from_secs(8), ..SimTiming::fast() };
    let mut lane = Running::start_in(&rt, dir, plan, timing, |_| {});
    let (records, _) = lane.passages(6);
    for r in &records {
        let seq = r["seq"].as_u64().unwrap();
        let v = &vehicles[seq as usize - 1];
        let uvss = &r["uvss"];
        match (v.returning, v.uvss_anomaly) {
            (None, _) => {
                assert_eq!(uvss["verdict"], "no_reference", "a first visit: {r}");
                assert_eq!(outcome(r), "release", "{r}");
            }
            (Some(_), false) => {
                assert_eq!(uvss["verdict"], "clean", "compared with its first visit: {r}");
                assert_eq!(outcome(r), "release", "{r}");
            }
            (Some(_), true) => {
                assert_eq!(uvss["verdict"], "anomaly", "{r}");
                assert_eq!(reasons(r), vec!["uvss_anomaly"]);
                assert!(!uvss["regions"].as_array().unwrap().is_empty());
            }
        }
    }
    lane.stop(&rt);
}

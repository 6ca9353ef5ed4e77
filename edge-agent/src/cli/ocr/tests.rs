//! What `ocr` shows of a result: the reads that count, the junk counted, corrections undone.

use models::read::image::ImageResult;
use models::{ContainerRead, PlateColor, PlateRead};

use super::{read_before_correction, render};

fn container(code: &str, confidence: f32, corrected: &[&str]) -> ContainerRead {
    ContainerRead {
        code: code.into(),
        confidence,
        check_digit_ok: true,
        corrected: corrected.iter().map(|s| s.to_string()).collect(),
        size_type: None,
        cameras: vec![],
        models: vec![],
    }
}

fn result(containers: Vec<ContainerRead>, plates: Vec<PlateRead>) -> ImageResult {
    ImageResult { file: "gate.jpg".into(), containers, plates, ..Default::default() }
}

#[test]
fn junk_beside_the_right_read_is_counted_not_listed() {
    let r = result(
        vec![
            container("MSKU6123450", 0.93, &[]),
            container("MSKU6123456", 0.05, &["U->0@4", "0->6@4"]),
            container("EAUZ6569302", 0.01, &["2->Z@3"]),
        ],
        vec![],
    );
    let text = render(&r, 0.8, false, false);
    assert!(text.contains("  container MSKU6123450  0.93  check digit ok\n"), "{text}");
    assert!(!text.contains("MSKU6123456") && !text.contains("->"), "{text}");
    assert!(text.contains("(2 unlikely candidates below 0.80 not shown; --all lists them)"), "{text}");
    let all = render(&r, 0.8, true, false);
    assert!(
        all.contains("MSKU6123456") && all.contains("EAUZ6569302") && !all.contains("not shown"),
        "{all}"
    );
}

#[test]
fn a_lone_uncertain_read_is_shown_as_one_the_lane_would_hold() {
    let r = result(
        vec![
            container("BEAU2656931", 0.36, &["BEAUZ65693->BEAU2656931"]),
            container("BEAU4926569", 0.03, &[]),
        ],
        vec![PlateRead {
            text: "鲁BV5217".into(),
            confidence: 1.0,
            color: Some(PlateColor::Black),
            cameras: vec![],
            models: vec![],
        }],
    );
    let text = render(&r, 0.8, false, false);
    assert!(
        text.contains("container BEAU2656931  0.36  check digit ok  (read as \"BEAUZ65693\", corrected)  — below 0.80: the lane would hold it (low confidence)"),
        "{text}"
    );
    assert!(text.contains("plate 鲁BV5217  1.00  black\n"), "{text}");
    assert!(text.contains("(1 unlikely candidate below 0.80 not shown"), "{text}");
}

#[test]
fn corrections_are_undone_to_show_what_was_read() {
    let notes = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        read_before_correction("MSKU6123456", &notes(&["U->0@4", "0->6@4"])).as_deref(),
        Some("MSKUU123456")
    );
    assert_eq!(
        read_before_correction("TUZZ0682072", &notes(&["7->Z@2", "2->Z@3"])).as_deref(),
        Some("TU720682072")
    );
    assert_eq!(
        read_before_correction("BEAU2656931", &notes(&["BEAUZ65693->BEAU2656931"])).as_deref(),
        Some("BEAUZ65693")
    );
    assert_eq!(read_before_correction("BEAU2656931", &[]), None);
    assert_eq!(read_before_correction("BEAU2656931", &notes(&["nonsense"])), None);
}

#[test]
fn nothing_recognised_says_so_in_words() {
    let text = render(&result(vec![], vec![]), 0.8, false, false);
    assert_eq!(text, "gate.jpg  (0 ms)\n  no container code or plate recognised (0 text lines)\n");
}

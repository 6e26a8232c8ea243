//! Tracking against its references: ByteTrack's associations against supervision 0.30.9's on
//! our detector's boxes (`tests/goldens/tracking_*.json`, written by
//! `scripts/reference_tracking.py`), the assignment solver against scipy, and MOT metrics
//! (motmetrics, in `.venv-ref`) on clips whose ground truth is known by construction.

use std::collections::{BTreeMap, HashMap};

use inferx_runtime::tracking::{
    assignment::{linear_sum_assignment, match_below, CostMatrix},
    byte_track::{ByteTrack, TrackInput},
    TrackingConfig,
};
use serde_json::Value;

use crate::support::*;

const CLIPS: [&str; 3] = ["crossing", "occlusion", "three"];

/// The `tracking:` settings a golden was made with.
fn settings(golden: &Value) -> TrackingConfig {
    serde_json::from_value(golden["tracking"].clone()).expect("tracking settings in the golden")
}

fn inputs(frame: &Value) -> Vec<TrackInput> {
    frame["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detection| {
            let corners: Vec<f32> =
                detection["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            TrackInput {
                corners: [corners[0], corners[1], corners[2], corners[3]],
                score: detection["score"].as_f64().unwrap() as f32,
            }
        })
        .collect()
}

/// Our ids for every box of every frame of a golden clip.
fn our_ids(golden: &Value) -> Vec<Vec<Option<u64>>> {
    let mut tracker = ByteTrack::new(&settings(golden));
    golden["frames"].as_array().unwrap().iter().map(|frame| tracker.update(&inputs(frame))).collect()
}

/// Box-frames where both trackers agree, up to a relabelling of ids, and all box-frames where
/// either gives an id. Each of supervision's ids maps to the one of ours it shares most boxes
/// with (one to one, largest overlaps first); a box agrees when both leave it untracked or
/// the mapped ids are equal.
fn agreement(theirs: &[Vec<Option<u64>>], ours: &[Vec<Option<u64>>]) -> (usize, usize, Vec<String>) {
    let mut together: HashMap<(u64, u64), usize> = HashMap::new();
    for (their_frame, our_frame) in theirs.iter().zip(ours) {
        for (their, our) in their_frame.iter().zip(our_frame) {
            if let (Some(their), Some(our)) = (their, our) {
                *together.entry((*their, *our)).or_default() += 1;
            }
        }
    }
    let mut pairs: Vec<((u64, u64), usize)> = together.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (mut mapping, mut taken) = (BTreeMap::new(), std::collections::BTreeSet::new());
    for ((their, our), _) in pairs {
        if !mapping.contains_key(&their) && !taken.contains(&our) {
            mapping.insert(their, our);
            taken.insert(our);
        }
    }
    let (mut agree, mut total, mut differences) = (0, 0, Vec::new());
    for (frame, (their_frame, our_frame)) in theirs.iter().zip(ours).enumerate() {
        for (index, (their, our)) in their_frame.iter().zip(our_frame).enumerate() {
            if their.is_none() && our.is_none() {
                continue;
            }
            total += 1;
            if their.and_then(|their| mapping.get(&their).copied()) == *our {
                agree += 1;
            } else {
                differences.push(format!("frame {frame} box {index}: supervision {their:?}, ours {our:?}"));
            }
        }
    }
    (agree, total, differences)
}

#[test]
fn bytetrack_associates_as_supervision_does_on_our_detectors_boxes() {
    let (mut agree_all, mut total_all) = (0, 0);
    for clip in CLIPS {
        let golden = golden(&format!("tracking_{clip}.json"));
        let theirs: Vec<Vec<Option<u64>>> = golden["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|frame| frame["supervision_ids"].as_array().unwrap().iter().map(Value::as_u64).collect())
            .collect();
        let ours = our_ids(&golden);
        let (agree, total, differences) = agreement(&theirs, &ours);
        eprintln!("{clip}: {agree}/{total} box-frames agree with supervision 0.30.9 {differences:?}");
        assert!(total > 50, "{clip}: the clip should give the tracker work ({total} box-frames)");
        agree_all += agree;
        total_all += total;
    }
    let share = agree_all as f64 / total_all as f64;
    eprintln!("all clips: {agree_all}/{total_all} = {:.2} %", 100.0 * share);
    assert!(share >= 0.99, "only {:.2} % of box-frames agree with supervision", 100.0 * share);
}

#[test]
fn the_assignment_solver_gives_scipys_answer_on_ties_and_near_the_threshold() {
    let golden = golden("tracking_assignment.json");
    let threshold = golden["threshold"].as_f64().unwrap() as f32;
    let pairs_of = |value: &Value| -> Vec<(usize, usize)> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (pair[0].as_u64().unwrap() as usize, pair[1].as_u64().unwrap() as usize))
            .collect()
    };
    let cases = golden["cases"].as_array().unwrap();
    for (index, case) in cases.iter().enumerate() {
        let rows: Vec<Vec<f64>> = serde_json::from_value(case["costs"].clone()).unwrap();
        let matrix = CostMatrix::from_rows(rows.len(), rows[0].len(), rows.concat()).unwrap();
        assert_eq!(linear_sum_assignment(&matrix), pairs_of(&case["scipy"]), "case {index}: {rows:?}");
        assert_eq!(
            match_below(&matrix, threshold).pairs,
            pairs_of(&case["supervision_matches"]),
            "case {index}: {rows:?}"
        );
    }
    assert!(cases.len() >= 300);
}

/// motmetrics' summary of our tracks on a golden clip (`scripts/reference_tracking.py mot`).
fn mot_metrics(clip: &str, tracks: &[Vec<Value>]) -> Value {
    let dir = temp_dir();
    let tracks_path = dir.path().join("tracks.json");
    write(&tracks_path, serde_json::to_vec(tracks).unwrap());
    let python = repo().join(".venv-ref/bin/python");
    assert!(python.exists(), "`.venv-ref` is missing: run `bash scripts/reference-env.sh`");
    let output = std::process::Command::new(python)
        .arg(repo().join("scripts/reference_tracking.py"))
        .args([
            "mot".as_ref(),
            repo().join(format!("tests/goldens/tracking_{clip}.json")).as_os_str(),
            tracks_path.as_os_str(),
        ])
        .output()
        .expect("run the reference script");
    assert!(output.status.success(), "motmetrics failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("metrics JSON")
}

#[test]
fn mot_metrics_on_clips_with_known_ground_truth() {
    // (clip, most id switches, least IDF1, least MOTA): the ground truth counts a face as
    // present while at least half of it shows, which the detector does not always find.
    let bounds = [("crossing", 0.0, 0.95, 0.95), ("occlusion", 0.0, 0.95, 0.9), ("three", 0.0, 0.95, 0.9)];
    for (clip, most_switches, least_idf1, least_mota) in bounds {
        let golden = golden(&format!("tracking_{clip}.json"));
        let ours = our_ids(&golden);
        let tracks: Vec<Vec<Value>> = golden["frames"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&ours)
            .map(|(frame, ids)| {
                frame["detections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(ids)
                    .filter_map(|(detection, id)| id.map(|id| serde_json::json!({"id": id, "box": detection["box"]})))
                    .collect()
            })
            .collect();
        let ours = mot_metrics(clip, &tracks);
        let theirs = &golden["supervision_mot"];
        eprintln!("{clip}: ours {ours}\n{clip}: supervision {theirs}");
        let metric = |name: &str| ours[name].as_f64().unwrap();
        assert!(metric("num_switches") <= most_switches, "{clip}: {} id switches", metric("num_switches"));
        assert!(metric("idf1") >= least_idf1, "{clip}: IDF1 {}", metric("idf1"));
        assert!(metric("mota") >= least_mota, "{clip}: MOTA {}", metric("mota"));
        // Never worse than supervision's ByteTrack on the same boxes.
        for name in ["idf1", "mota"] {
            assert!(metric(name) >= theirs[name].as_f64().unwrap() - 1e-9, "{clip}: {name} below supervision's");
        }
    }
}

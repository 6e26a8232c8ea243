//! Shared helpers for integration tests: fixture paths, the `inferx` command, golden files.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, reason = "shared by several targets, each using a part")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture fetched by `scripts/fixtures.py`, with a clear message when it is missing.
pub fn fixture(relative: &str) -> PathBuf {
    let path = repo().join(".fixtures").join(relative);
    assert!(path.exists(), "fixture `{}` is missing: run `python3 scripts/fixtures.py` first", path.display());
    path
}

/// The nudenet YOLOv8n detector.
pub fn detector() -> PathBuf {
    fixture("models/nudenet-320n.onnx")
}

/// The sample photos folder.
pub fn images() -> PathBuf {
    fixture("images")
}

/// A golden file from `tests/goldens/`.
pub fn golden(name: &str) -> Value {
    let path = repo().join("tests/goldens").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("golden `{}`: {error}", path.display()));
    serde_json::from_str(&text).expect("golden JSON")
}

/// The `inferx` binary, with logs at their defaults.
pub fn inferx() -> Command {
    Command::from_std(inferx_process())
}

/// [`inferx`] as a process to spawn and signal (a live stream, Ctrl-C).
pub fn inferx_process() -> std::process::Command {
    with_test_environment(std::process::Command::new(assert_cmd::cargo::cargo_bin("inferx")))
}

/// `inferx` started by `sh` under `umask`, with the environment of [`inferx`].
pub fn inferx_under_umask(umask: &str) -> Command {
    let mut command = std::process::Command::new("sh");
    command.args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")]).arg(assert_cmd::cargo::cargo_bin("inferx"));
    Command::from_std(with_test_environment(command))
}

fn with_test_environment(mut command: std::process::Command) -> std::process::Command {
    // No user config from the machine running the tests (tests that want one set it).
    command
        .env_remove("INFERX_LOG")
        .env_remove("INFERX_DEVICE")
        .env_remove("INFERX_ALLOW_UNVERIFIED_MODEL")
        .env_remove("INFERX_SIGNING_PASSWORD")
        .env_remove("INFERX_TEMPLATES_DIR")
        .env("INFERX_USER_CONFIG", "/nonexistent/inferx-test-user-config.yaml")
        .env("NO_COLOR", "1")
        // Projects in temporary folders get no git repository (tests/generator/git.rs tests it).
        .env("INFERX_NO_GIT", "1");
    command
}

/// Runs `inferx` and parses stdout as JSON, failing with stderr on a non-zero exit.
pub fn run_json(command: &mut Command) -> Value {
    let output = command.output().expect("run inferx");
    assert!(output.status.success(), "inferx failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Detections `(class_id, score, [x1, y1, x2, y2])` of one image record.
pub fn detections_of(record: &Value) -> Vec<(u64, f64, [f64; 4])> {
    record["detections"]
        .as_array()
        .map(|detections| {
            detections
                .iter()
                .map(|detection| {
                    let bbox = &detection["box"];
                    let coordinate = |key: &str| bbox[key].as_f64().expect("box coordinate");
                    (
                        detection["class_id"].as_u64().expect("class_id"),
                        detection["score"].as_f64().expect("score"),
                        [coordinate("x1"), coordinate("y1"), coordinate("x2"), coordinate("y2")],
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The detections of a prediction (anything that serialises as `inferx run --json` records
/// do), read as [`detections_of`] reads them.
pub fn prediction_detections(prediction: &impl serde::Serialize) -> Vec<(u64, f64, [f64; 4])> {
    detections_of(&serde_json::to_value(prediction).expect("a prediction serialises"))
}

/// Golden detections of one image: `(class_id, score, box)`.
pub fn golden_detections(golden: &Value, image: &str) -> Vec<(u64, f64, [f64; 4])> {
    golden["images"][image]
        .as_array()
        .unwrap_or_else(|| panic!("no golden for {image}"))
        .iter()
        .map(|detection| {
            let bbox: Vec<f64> =
                detection["box"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap()).collect();
            (
                detection["class_id"].as_u64().unwrap(),
                detection["score"].as_f64().unwrap(),
                [bbox[0], bbox[1], bbox[2], bbox[3]],
            )
        })
        .collect()
}

/// Asserts an `inferx run --json` record of astronaut.png holds the detector's golden
/// detections at 320 (scores within 1e-3, boxes within a pixel).
pub fn assert_astronaut_at_320(record: &Value) {
    let golden = golden("detection_nudenet-320n_320.json");
    let expected = golden_detections(&golden, "astronaut.png");
    assert_same_detections("astronaut.png", &detections_of(record), &expected, 1e-3, 1.0);
}

/// Asserts two detection lists agree: same classes in order, scores within `score_tolerance`,
/// box corners within `pixel_tolerance`.
pub fn assert_same_detections(
    image: &str,
    actual: &[(u64, f64, [f64; 4])],
    expected: &[(u64, f64, [f64; 4])],
    score_tolerance: f64,
    pixel_tolerance: f64,
) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{image}: {} detections, golden has {}: {actual:?} vs {expected:?}",
        actual.len(),
        expected.len()
    );
    for ((class, score, bbox), (golden_class, golden_score, golden_box)) in actual.iter().zip(expected) {
        assert_eq!(class, golden_class, "{image}: class");
        assert!((score - golden_score).abs() <= score_tolerance, "{image}: score {score} vs golden {golden_score}");
        for (value, golden_value) in bbox.iter().zip(golden_box) {
            assert!((value - golden_value).abs() <= pixel_tolerance, "{image}: box {bbox:?} vs golden {golden_box:?}");
        }
    }
}

/// Generates a `yolo` project with the real detector into `dir` (no build); its folder.
pub fn generate_yolo(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    generate_yolo_with(inferx(), dir, name, flags)
}

/// [`generate_yolo`] with `inferx` started by `command` (e.g. [`inferx_under_umask`]).
pub fn generate_yolo_with(mut command: Command, dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    command
        .args(["template", "yolo", "--name", name, "--dir"])
        .arg(dir)
        .arg("--model")
        .arg(detector())
        .args(flags)
        .assert()
        .success();
    dir.join(name)
}

/// A path inside a fresh temporary folder that lives as long as the returned guard.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("inferx-test-").tempdir().expect("temp dir")
}

/// Every file under `root` with its bytes, by relative path (`/`-separated).
pub fn file_tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let relative = entry.path().strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            (relative, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// Replaces the first `from` in a project's `inferx.yaml` with `to`; `from` must be there.
pub fn edit_config(project: &Path, from: &str, to: &str) {
    let path = project.join("inferx.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{from}` in inferx.yaml:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Writes a file, creating parents.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, contents).unwrap();
}

/// Asserts two JSON values are equal, numbers within `relative` (of max(1, |expected|)):
/// ONNX Runtime's threaded kernels may reassociate float sums between runs.
pub fn assert_json_close(actual: &Value, expected: &Value, relative: f64, path: &str) {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= relative * b.abs().max(1.0), "{path}: {a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths");
            for (index, (a, b)) in a.iter().zip(b).enumerate() {
                assert_json_close(a, b, relative, &format!("{path}[{index}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |map: &serde_json::Map<String, Value>| map.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(a), keys(b), "{path}: keys");
            for (key, value) in a {
                assert_json_close(value, &b[key], relative, &format!("{path}.{key}"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

/// Regex filters that make `inferx` output the same on every machine and every run: temporary
/// folders, the repository, the user cache, versions and timings. [`inferx_snapshot!`] applies
/// them; tests add their own only for what is theirs.
pub fn snapshot_filters() -> Vec<(String, String)> {
    let escape = |text: &str| {
        text.chars().fold(String::new(), |mut escaped, c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                escaped.push('\\');
            }
            escaped.push(c);
            escaped
        })
    };
    let mut filters = vec![
        (escape(&repo().display().to_string()), "[REPO]".to_string()),
        (r"(/[^\s`'/]+)*/inferx-test-[A-Za-z0-9]+".to_string(), "[TEMP]".to_string()),
        (r"(/[^\s`'/]+)*/\.cache/inferx".to_string(), "[CACHE]".to_string()),
        (r"(?i)\b(inferx|ONNX Runtime) \d+\.\d+\.\d+".to_string(), "$1 [VERSION]".to_string()),
        (format!(r"\b{}\b", escape(env!("CARGO_PKG_VERSION"))), "[VERSION]".to_string()),
        (r"\b\d+(\.\d+)? ?(ms|s)\b".to_string(), "[TIME] $2".to_string()),
        (r"\b\d+(\.\d+)? images/s\b".to_string(), "[RATE] images/s".to_string()),
    ];
    if let Ok(temp) = std::env::temp_dir().canonicalize() {
        filters.push((escape(&temp.display().to_string()), "[TMP]".to_string()));
    }
    filters
}

/// An `inferx` run as a snapshot reads it: the exit status, then stdout and stderr.
pub fn describe_output(output: &std::process::Output) -> String {
    format!(
        "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        output.status.success(),
        output.status.code().map_or("none (a signal)".to_string(), |code| code.to_string()),
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end(),
    )
}

/// Runs an `inferx` command and pins what it printed as `snapshots/cli/<name>.snap`, through
/// [`snapshot_filters`]; returns the `Output` for further checks. The one way CLI output is
/// snapshotted (as uv's `uv_snapshot!`): `cargo insta test --accept --test cli` updates them.
#[allow(unused_macros, reason = "each test binary that includes support uses a different subset")]
macro_rules! inferx_snapshot {
    ($name:expr, $command:expr) => {
        inferx_snapshot!($name, $command, [])
    };
    ($name:expr, $command:expr, [$($filter:expr),* $(,)?]) => {{
        let output = $command.output().expect("run inferx");
        let text = crate::support::describe_output(&output);
        #[allow(unused_mut, reason = "only with extra filters")]
        let mut filters = crate::support::snapshot_filters();
        $(filters.push(($filter.0.to_string(), $filter.1.to_string()));)*
        let filters: Vec<(&str, &str)> = filters.iter().map(|(from, to)| (from.as_str(), to.as_str())).collect();
        insta::with_settings!({
            snapshot_path => crate::support::repo().join("snapshots/cli"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
            filters => filters,
        }, {
            insta::assert_snapshot!($name, text);
        });
        output
    }};
}

/// A filter for [`inferx_snapshot!`] that leaves predictions out of a snapshot of what a
/// command says (their values are pinned by the goldens, with tolerances).
pub const WITHOUT_STDOUT: (&str, &str) =
    (r"(?s)----- stdout -----\n.*\n----- stderr -----", "----- stdout -----\n[PREDICTIONS]\n----- stderr -----");

/// Writes `frames` frames (`frame_1.png`, `frame_2.png`, … unpadded, so that name order is not
/// frame order) of the astronaut's face moving right by `step` px a frame across the coffee
/// photo; returns their folder.
pub fn face_clip(dir: &Path, frames: u32, step: i64) -> PathBuf {
    use inferx_runtime::image::{self, imageops};
    let background = image::open(images().join("coffee.png")).unwrap().to_rgb8();
    let background = imageops::resize(&background, 480, 360, imageops::FilterType::Triangle);
    let face = image::open(images().join("astronaut.png")).unwrap().to_rgb8();
    let face = imageops::crop_imm(&face, 140, 50, 170, 170).to_image();
    let face = imageops::resize(&face, 120, 120, imageops::FilterType::Triangle);
    let folder = dir.join("frames");
    std::fs::create_dir_all(&folder).unwrap();
    for frame in 0..frames {
        let mut canvas = background.clone();
        imageops::overlay(&mut canvas, &face, 10 + step * i64::from(frame), 110);
        canvas.save(folder.join(format!("frame_{}.png", frame + 1))).unwrap();
    }
    folder
}

/// The records of a successful run that printed JSON Lines (`--track --json`).
pub fn json_lines(output: &std::process::Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"))).collect()
}

/// The clips of `scripts/make_clips.sh`, made once per test process into a folder that lives
/// as long as it (about 3 s of ffmpeg).
pub fn clips() -> &'static Path {
    static CLIPS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CLIPS
        .get_or_init(|| {
            let dir = tempfile::Builder::new().prefix("inferx-clips-").tempdir().expect("temp dir");
            let status = std::process::Command::new("bash")
                .arg(repo().join("scripts/make_clips.sh"))
                .arg(dir.path())
                .status()
                .expect("bash runs scripts/make_clips.sh");
            assert!(status.success(), "scripts/make_clips.sh failed: run `bash scripts/video-env.sh` for ffmpeg");
            dir
        })
        .path()
}

/// A video's frames as `ffprobe` reports them, in presentation order: the presentation time
/// (ms, from the best-effort timestamp), width and height.
pub fn ffprobe_frames(video: &Path) -> Vec<(f64, u32, u32)> {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=best_effort_timestamp_time,width,height", "-of", "csv=p=0:nk=0"])
        .arg(video)
        .output()
        .expect("ffprobe runs (scripts/video-env.sh installs it)");
    assert!(output.status.success(), "ffprobe {}: {}", video.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            // `key=value` fields; side data, when a frame has some, follows them.
            let field = |key: &str| {
                line.split(',')
                    .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or_else(|| panic!("no {key} in ffprobe's `{line}`"))
            };
            let time: f64 = field("best_effort_timestamp_time").parse().unwrap();
            (time * 1000.0, field("width").parse().unwrap(), field("height").parse().unwrap())
        })
        .collect()
}

/// The bad inputs of `scripts/make_clips.sh` (in `clips()/bad`) and the reason each is refused
/// with, after ``could not read video `PATH`: ``.
pub const BAD_VIDEOS: [(&str, &str); 4] = [
    ("truncated.mp4", "invalid data found when processing input (is it a video file?)"),
    ("text.mp4", "invalid data found when processing input (is it a video file?)"),
    ("audio_only.mp4", "the file has no video stream (only audio)"),
    ("unknown_codec.mkv", "its video codec is unknown to this FFmpeg build"),
];

/// An SVG chart laid out with the system fonts: every text lies inside the canvas (no clipped
/// title, legend or axis label), and the chart is at least 480 px wide. Returns its texts
/// joined by ` | ` and the chart rendered as PNG.
pub fn chart_texts_inside_canvas(svg_path: &Path) -> (String, Vec<u8>) {
    let svg = std::fs::read(svg_path).unwrap_or_else(|error| panic!("`{}`: {error}", svg_path.display()));
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    assert!(!options.fontdb.is_empty(), "no font on this machine to render the chart's text with");
    let tree = resvg::usvg::Tree::from_data(&svg, &options).expect("a valid SVG");
    let size = tree.size();
    assert!(size.width() >= 480.0, "wide enough to read: {} px", size.width());
    let canvas = resvg::tiny_skia::Rect::from_xywh(0.0, 0.0, size.width(), size.height()).unwrap();
    let mut texts = Vec::new();
    collect_texts(tree.root(), &mut texts);
    for (text, bounds) in &texts {
        assert!(
            bounds.left() >= canvas.left()
                && bounds.top() >= canvas.top()
                && bounds.right() <= canvas.right()
                && bounds.bottom() <= canvas.bottom(),
            "`{text}` is clipped in `{}`: {bounds:?} outside {canvas:?}",
            svg_path.display()
        );
    }
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width().ceil() as u32, size.height().ceil() as u32).unwrap();
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let all = texts.iter().map(|(text, _)| text.as_str()).collect::<Vec<_>>().join(" | ");
    (all, pixmap.encode_png().unwrap())
}

fn collect_texts(group: &resvg::usvg::Group, texts: &mut Vec<(String, resvg::tiny_skia::Rect)>) {
    for node in group.children() {
        match node {
            resvg::usvg::Node::Group(group) => collect_texts(group, texts),
            resvg::usvg::Node::Text(text) => {
                let content: String = text.chunks().iter().map(resvg::usvg::TextChunk::text).collect();
                texts.push((content, text.abs_bounding_box()));
            }
            _ => {}
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released: the caller binds it again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `tests/live/rtsp_server.py` streaming `image` (held still) at `size` and `fps` as RTP/JPEG on
/// rtsp://127.0.0.1:`port`/live; killed when dropped. Needs scripts/live-env.sh.
pub struct RtspServer {
    child: std::process::Child,
    /// The stream's URL.
    pub url: String,
}

impl RtspServer {
    pub fn start(port: u16, size: &str, fps: u32, image: &Path) -> RtspServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(repo().join("tests/live/rtsp_server.py"))
            .args(["--port", &port.to_string(), "--size", size, "--fps", &fps.to_string(), "--seconds", "120"])
            .arg("--image")
            .arg(image)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs tests/live/rtsp_server.py (scripts/live-env.sh installs its packages)");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_default();
        let url = format!("rtsp://127.0.0.1:{port}/live");
        if line.trim() != format!("ready {url}") {
            let _ = child.kill();
            panic!("the RTSP server did not start (`{}`): run `bash scripts/live-env.sh`", line.trim());
        }
        RtspServer { child, url }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first frame of [`face_clip`] (the astronaut's face on the coffee photo, 480x360), as a
/// PNG in `dir`: a still scene the detector finds a face in.
pub fn face_picture(dir: &Path) -> PathBuf {
    face_clip(dir, 1, 0).join("frame_1.png")
}

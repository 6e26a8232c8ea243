//! Turning command-line inputs (files and folders) into image paths, telling video files
//! apart, the frames of a stream ([`StreamFrame`]), and naming annotated outputs safely.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use crate::{Error, ImageProblem, Result};

/// Image file extensions picked up from folders.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"];

/// Video file extensions: the containers the `video` feature reads (mp4, mkv, webm, avi,
/// mov and their kin).
pub const VIDEO_EXTENSIONS: [&str; 9] = ["mp4", "m4v", "mkv", "webm", "avi", "mov", "mpg", "mpeg", "ts"];

/// Whether a path has a video extension.
pub fn is_video_path(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| VIDEO_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()))
}

/// URL schemes read as live streams (RTSP, HTTP: MJPEG, HLS...).
pub const LIVE_SCHEMES: [&str; 4] = ["rtsp://", "rtsps://", "http://", "https://"];

/// Whether an input names a live source rather than a file: a URL with a streaming scheme
/// ([`LIVE_SCHEMES`]) or a V4L2 camera (`/dev/videoN`).
pub fn is_live_input(input: &Path) -> bool {
    let text = input.to_string_lossy();
    let lower = text.to_ascii_lowercase();
    LIVE_SCHEMES.iter().any(|scheme| lower.starts_with(scheme)) || text.starts_with("/dev/video")
}

/// Query parameters whose values are secrets (some cameras take credentials there).
const SECRET_PARAMETERS: [&str; 12] =
    ["user", "username", "password", "pass", "pwd", "token", "auth", "key", "apikey", "api_key", "secret", "signature"];

/// `url` with its user name and password (`scheme://user:pass@host`) and the values of secret
/// query parameters (`?password=...`, `&token=...`) replaced by `***`: the one way a live
/// source's URL is shown in logs, errors, metrics and JSON.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first `/`, `?` or `#`; its user info at its last `@` (a password
    // may hold an `@` of its own).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) =
                query.split_once('#').map_or((query, None), |(query, fragment)| (query, Some(fragment)));
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if SECRET_PARAMETERS.contains(&key.to_ascii_lowercase().as_str()) => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            let fragment = fragment.map(|fragment| format!("#{fragment}")).unwrap_or_default();
            format!("{path}?{}{fragment}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{host}{tail}")
}

/// An input as it may be shown (logs, errors, JSON): a URL redacted ([`redact`]), a path as is.
pub fn display_input(input: &Path) -> String {
    redact(&input.to_string_lossy())
}

/// One frame of a stream (an image sequence or a video), in presentation order.
#[derive(Debug, Clone)]
pub struct StreamFrame {
    /// The frame's index among the stream's presented frames, from 0 (frames skipped by a
    /// stride keep their numbers: with stride 3, 0, 3, 6...).
    pub frame: u64,
    /// Presentation time, ms: from the stream's time base for a video, `frame × 1000 / fps`
    /// for an image sequence, from the arrival clock for a live source (ms since it was
    /// opened: a camera's own timestamps restart with each reconnect).
    pub pts_ms: f64,
    /// The decoded picture, at the stream's size at that moment (it may change mid-stream);
    /// a live source's frames all have the size it fixed on its first connection.
    pub image: image::DynamicImage,
    /// When a live source received the frame (`None` for files): the start of its `lag_ms`.
    pub arrival: Option<std::time::Instant>,
}

/// Whether a path has an image extension.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| IMAGE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()))
}

/// Expands folders (recursively, symlinks not followed) into their image files, sorted;
/// files are kept as given. Fails on a missing input or a folder without images.
pub fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found)?;
            if found.is_empty() {
                return Err(Error::Image {
                    path: input.display().to_string(),
                    reason: format!("the folder holds no images ({})", IMAGE_EXTENSIONS.join(", ")),
                    problem: ImageProblem::Unreadable,
                });
            }
            found.sort();
            images.extend(found);
        } else if input.is_file() {
            images.push(input.clone());
        } else {
            return Err(Error::Image {
                path: input.display().to_string(),
                reason: "no such file or folder".to_string(),
                problem: ImageProblem::Unreadable,
            });
        }
    }
    Ok(images)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|error| Error::io("could not list", dir, error))?;
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else { continue };
        let path = entry.path();
        if file_type.is_dir() {
            walk(&path, found)?;
        } else if file_type.is_file() && is_image_path(&path) {
            found.push(path);
        }
    }
    Ok(())
}

/// Sorts frames of an image sequence into their order: by path, with runs of digits compared
/// as numbers, so `frame_2.png` comes before `frame_10.png` (and zero-padded names keep their
/// order).
pub fn sort_frames(paths: &mut [PathBuf]) {
    paths.sort_by_cached_key(|path| natural_key(&path.to_string_lossy()));
}

/// A path as text and numbers: `frame_10.png` → `["frame_", 10, ".png"]`.
fn natural_key(text: &str) -> Vec<(String, u128, usize)> {
    let mut key = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            // Numbers compare by value, then by length (`007` after `7`).
            let (number, tail) = rest.split_at(digits);
            key.push((String::new(), number.parse().unwrap_or(u128::MAX), digits));
            rest = tail;
        } else {
            let text_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let (text, tail) = rest.split_at(text_end);
            key.push((text.to_string(), 0, 0));
            rest = tail;
        }
    }
    key
}

/// A file name for the annotated copy of `input`: its stem plus `.png`, made unique within
/// `used`. Only the file name is kept, so no input can make us write outside the output folder.
pub fn annotated_file_name(input: &Path, used: &mut HashSet<String>) -> String {
    let stem = input.file_stem().map_or_else(|| "image".to_string(), |stem| stem.to_string_lossy().into_owned());
    let mut name = format!("{stem}.png");
    let mut counter = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{counter}.png");
        counter += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_redacted_wherever_they_are() {
        assert_eq!(redact("rtsp://admin:s3cret@10.0.0.5:554/stream1"), "rtsp://***@10.0.0.5:554/stream1");
        // A password holding `@` and `/`-free user info; the host keeps its port.
        assert_eq!(redact("rtsp://admin:p@ss@cam.local/live"), "rtsp://***@cam.local/live");
        assert_eq!(redact("rtsp://user@cam.local"), "rtsp://***@cam.local");
        assert_eq!(
            redact("http://cam/video.cgi?user=admin&password=hunter2&resolution=640#x"),
            "http://cam/video.cgi?user=***&password=***&resolution=640#x"
        );
        assert_eq!(
            redact("https://cam.example/hls/index.m3u8?TOKEN=abc"),
            "https://cam.example/hls/index.m3u8?TOKEN=***"
        );
        assert_eq!(redact("rtsp://cam.local:8554/live"), "rtsp://cam.local:8554/live");
        assert_eq!(redact("/dev/video0"), "/dev/video0");
        for url in ["rtsp://admin:s3cret@h/x", "http://h/x?password=s3cret", "rtsp://s3cret@h"] {
            assert!(!redact(url).contains("s3cret"), "{url}");
        }
    }

    #[test]
    fn folders_expand_to_sorted_images_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        for name in ["b.jpg", "a.PNG", "notes.txt", "nested/c.webp"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let images = collect_images(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<String> =
            images.iter().map(|path| path.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.PNG", "b.jpg", "nested/c.webp"]);
        assert!(collect_images(&[dir.path().join("missing.jpg")]).is_err());
    }

    #[test]
    fn frames_sort_by_their_numbers() {
        let mut frames: Vec<PathBuf> =
            ["f/frame_10.png", "f/frame_2.png", "f/frame_1.png", "f/frame_007.png", "f/frame_7.png", "f/a.png"]
                .into_iter()
                .map(PathBuf::from)
                .collect();
        sort_frames(&mut frames);
        let names: Vec<String> = frames.iter().map(|path| path.display().to_string()).collect();
        assert_eq!(
            names,
            ["f/a.png", "f/frame_1.png", "f/frame_2.png", "f/frame_7.png", "f/frame_007.png", "f/frame_10.png"]
        );
    }

    #[test]
    fn annotated_names_are_unique_and_stay_in_the_folder() {
        let mut used = HashSet::new();
        assert_eq!(annotated_file_name(Path::new("a/x.jpg"), &mut used), "x.png");
        assert_eq!(annotated_file_name(Path::new("b/x.png"), &mut used), "x-2.png");
        assert_eq!(annotated_file_name(Path::new("../../etc/passwd"), &mut used), "passwd.png");
    }
}

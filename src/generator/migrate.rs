//! Migrations of a project's own `inferx.yaml` that keep what it means, for `inferx upgrade`
//! on a file the user edited: the `input` and `thresholds` keys that an older inferx wrote for
//! every task, and that the project's task and resize mode do not read, are dropped with the
//! comment lines above them; `device: cuda`, the one-line form of inferx 0.x, becomes the
//! `device:` section (`use: cuda`) that the provider options sit in. Everything else (the
//! user's values, comments, order) stays.

use inferx_runtime::{
    config::{input_keys_used_by, Thresholds, MODE_INPUT_KEYS},
    ProjectConfig,
};

/// `text` without the keys its task and resize mode do not read, and their names
/// (`input.crop_fraction`); `None` when there is none to drop, or when the file is not in the
/// block layout inferx writes (the result must mean exactly what `text` means).
pub fn drop_unread_keys(text: &str) -> Option<(String, Vec<String>)> {
    let before = ProjectConfig::parse(text).ok()?;
    let read_input = input_keys_used_by(before.input.resize);
    let read_thresholds = Thresholds::keys_used_by(before.task);
    let unread = |section: &str, key: &str| match section {
        "input" => MODE_INPUT_KEYS.contains(&key) && !read_input.contains(&key),
        "thresholds" => !read_thresholds.contains(&key),
        _ => false,
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut dropped = Vec::new();
    let mut section = "";
    for line in text.lines() {
        let top_level = !line.starts_with([' ', '#']) && !line.trim().is_empty();
        if top_level {
            section = line.split(':').next().unwrap_or_default().trim();
        }
        let entry = line.strip_prefix("  ").filter(|rest| !rest.starts_with([' ', '#']));
        if let Some((key, _)) = entry.and_then(|rest| rest.split_once(':')) {
            if unread(section, key.trim()) {
                // The comment lines right above a key are about it.
                while kept.last().is_some_and(|above| above.starts_with("  #")) {
                    kept.pop();
                }
                dropped.push(format!("{section}.{}", key.trim()));
                continue;
            }
        }
        kept.push(line);
    }
    if dropped.is_empty() {
        return None;
    }
    // A section left with no key goes too (`thresholds:` alone would be null).
    let mut lines: Vec<&str> = Vec::new();
    for (index, line) in kept.iter().enumerate() {
        let header = matches!(line.trim_end(), "input:" | "thresholds:");
        let next = kept[index + 1..].iter().find(|next| !next.trim().is_empty());
        if header && !next.is_some_and(|next| next.starts_with("  ")) {
            continue;
        }
        lines.push(line);
    }
    let mut migrated = lines.join("\n");
    migrated.push('\n');
    let after = ProjectConfig::parse(&migrated).ok()?;
    (after.normalized() == before.normalized()).then_some((migrated, dropped))
}

/// Every migration `text` needs, with what each did; `None` when it needs none.
pub fn migrate(text: &str) -> Option<(String, Vec<String>)> {
    let mut done = Vec::new();
    let mut text = text.to_string();
    if let Some((migrated, dropped)) = drop_unread_keys(&text) {
        done.push(format!("less {} (not read by its task)", dropped.join(", ")));
        text = migrated;
    }
    if let Some(migrated) = device_section(&text) {
        done.push("`device:` as a section (`use:`)".to_string());
        text = migrated;
    }
    (!done.is_empty()).then_some((text, done))
}

/// `text` with a one-line `device: <name>` as the section `device:\n  use: <name>` (its
/// comment kept on the line); `None` when it has no such line, or when the result would not
/// mean exactly what `text` means.
pub fn device_section(text: &str) -> Option<String> {
    let before = ProjectConfig::parse(text).ok()?;
    let mut found = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let value = line.strip_prefix("device:").map(str::trim).filter(|value| !value.is_empty());
        match value {
            Some(value) if !found && !value.starts_with(['{', '#', '|', '>']) => {
                found = true;
                lines.push("device:".to_string());
                lines.push(format!("  use: {value}"));
            }
            _ => lines.push(line.to_string()),
        }
    }
    if !found {
        return None;
    }
    let mut migrated = lines.join("\n");
    migrated.push('\n');
    let after = ProjectConfig::parse(&migrated).ok()?;
    (after == before).then_some(migrated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD_CLASSIFIER: &str = "# My classifier.\ninferx: {version: 0.1.0, template: classification}\nmodel: {path: models/m.onnx}\ntask: classification\n\ninput:\n  resize: center_crop\n  # letterbox: padding value\n  pad_value: 114\n  # center_crop: fraction of the short side kept\n  crop_fraction: 0.9\n  # fit_multiple: smallest short side, and sides rounded to a multiple of\n  limit_side: 736\n  multiple: 32\n  channel_order: bgr\n\nthresholds:\n  # Not used by classification: the top_k best classes are reported.\n  confidence: 0.25\n  iou: 0.7\n  top_k: 3 # mine\n  agnostic_nms: false\n\ndevice: cpu\n";

    #[test]
    fn unread_keys_go_with_their_comments_and_the_users_values_stay() {
        let (migrated, dropped) = drop_unread_keys(OLD_CLASSIFIER).unwrap();
        assert_eq!(
            dropped,
            [
                "input.pad_value",
                "input.limit_side",
                "input.multiple",
                "thresholds.confidence",
                "thresholds.iou",
                "thresholds.agnostic_nms"
            ]
        );
        assert_eq!(
            migrated,
            "# My classifier.\ninferx: {version: 0.1.0, template: classification}\nmodel: {path: models/m.onnx}\ntask: classification\n\ninput:\n  resize: center_crop\n  # center_crop: fraction of the short side kept\n  crop_fraction: 0.9\n  channel_order: bgr\n\nthresholds:\n  top_k: 3 # mine\n\ndevice: cpu\n"
        );
        assert!(drop_unread_keys(&migrated).is_none(), "a second run finds nothing");
    }

    #[test]
    fn a_section_left_empty_goes_and_odd_layouts_are_left_alone() {
        let custom = "inferx: {version: 0.1.0, template: custom}\nmodel: {path: m.onnx}\ntask: custom\nthresholds:\n  # Scores.\n  confidence: 0.25\n  top_k: 5\ndevice: cpu\n";
        let (migrated, _) = drop_unread_keys(custom).unwrap();
        assert_eq!(
            migrated,
            "inferx: {version: 0.1.0, template: custom}\nmodel: {path: m.onnx}\ntask: custom\ndevice: cpu\n"
        );
        let flow = "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\nthresholds: {top_k: 5}\n";
        assert!(drop_unread_keys(flow).is_none(), "flow style is not rewritten");
        assert!(drop_unread_keys("not: [valid").is_none());
    }

    #[test]
    fn the_one_line_device_becomes_a_section_meaning_the_same() {
        let old = "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\n# mine\ndevice: cuda:1 # the second GPU\nstrict_device: true\n";
        let migrated = device_section(old).unwrap();
        assert_eq!(
            migrated,
            "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\n# mine\ndevice:\n  use: cuda:1 # the second GPU\nstrict_device: true\n"
        );
        let config = ProjectConfig::parse(&migrated).unwrap();
        assert_eq!(config.device.preferred, inferx_runtime::Device::Cuda(1));
        assert!(device_section(&migrated).is_none(), "a second run finds nothing");
        let flow =
            "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\ndevice: {use: cpu}\n";
        assert!(device_section(flow).is_none(), "a section in flow style is already the new form");
        // Both migrations at once, each named.
        let (both, done) = migrate(OLD_CLASSIFIER).unwrap();
        assert!(both.ends_with("device:\n  use: cpu\n"), "{both}");
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(done[0].starts_with("less input.pad_value") && done[1].contains("`device:` as a section"), "{done:?}");
    }
}

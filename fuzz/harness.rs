//! What each fuzz target does with its input. Shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and by the corpus replay test (`tests/runtime/fuzz_corpus.rs`), so every
//! input the fuzzer kept, and any crash it finds (saved into the corpus), is a regression test
//! in the normal suite.

// Each fuzz target uses one function of this file.
#![allow(dead_code, reason = "shared by several targets, each using a part")]

use inferx_runtime::{
    preprocess::{decode_image, letterbox_geometry, ImageLimits, PreprocessConfig, Preprocessor, Scratch},
    server::OipRequest,
    tasks::{batch_item, decode, DecodeOptions},
    tensor::OutputView,
    ProjectConfig, TaskKind, UserConfig,
};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the folder of their corpus).
pub const TARGETS: &[(&str, Target)] = &[("image", image), ("config", config), ("decoders", decoders), ("oip", oip)];

/// The targets that need the runtime's `video` feature (FFmpeg's libraries).
#[cfg(feature = "video")]
pub const VIDEO_TARGETS: &[(&str, Target)] = &[("clip", clip)];

/// An uploaded clip, read from memory as `POST /predict/video` reads it (the allowed demuxers
/// only, no protocols) under tight limits; at most 64 of its frames decoded.
#[cfg(feature = "video")]
pub fn clip(data: &[u8]) {
    use inferx_runtime::video::{ClipLimits, VideoOptions, VideoReader};
    let limits = ClipLimits { max_duration: std::time::Duration::from_secs(2), max_dimension: 256 };
    let options = VideoOptions { decoder_threads: 1, queue_frames: 2, ..VideoOptions::default() };
    if let Ok(reader) = VideoReader::from_memory(data.to_vec(), options, limits) {
        let (width, height) = (reader.info().width, reader.info().height);
        assert!(width > 0 && height > 0 && width.max(height) <= 256, "{width}x{height}");
        for frame in reader.take(64) {
            let Ok(frame) = frame else { break };
            assert!(frame.image.width() > 0 && frame.image.height() > 0);
        }
    }
}

/// Image bytes: decoded under tight limits, then converted as the preprocessor does. A PNG
/// preprocessed while it is decoded (a server's lone request) gives the tensor of the decoded
/// image, or is left to that path.
pub fn image(data: &[u8]) {
    let limits = ImageLimits { max_file_bytes: 1 << 20, max_dimension: 4096, max_alloc_bytes: 64 << 20 };
    let decoded = decode_image(data, &limits);
    if let Ok(image) = &decoded {
        let rgb = image.to_rgb8();
        assert!(rgb.width() > 0 && rgb.height() > 0);
    }
    let preprocessor = Preprocessor::new(PreprocessConfig::letterbox(32));
    if let Some(overlapped) = inferx_runtime::tensor_while_decoding(&preprocessor, data, &limits) {
        let image = decoded.expect("preprocessed while decoding, but the ordinary path refuses the image");
        let mut tensor = vec![0.0; preprocessor.tensor_len()];
        let ordinary = preprocessor.fill(&image, &mut Scratch::default(), &mut tensor).map(|_| tensor);
        assert_eq!(overlapped.ok(), ordinary.ok(), "the two paths give different tensors");
    }
}

/// An Open Inference Protocol v2 request body, parsed and checked as the server does:
/// whatever it accepts holds inputs whose values fill their shapes exactly.
pub fn oip(data: &[u8]) {
    if let Ok(request) = OipRequest::parse(data) {
        for input in &request.inputs {
            assert_eq!(input.data.len(), input.shape.iter().product::<usize>(), "input `{}`", input.name);
            assert_eq!(input.datatype.as_deref(), Some("FP32"));
        }
    }
}

/// YAML text: parsed and checked as an `inferx.yaml` and as a user config; whatever parses
/// must write back out and parse again to the same value (the keys its task and resize mode do
/// not read left out, so at their defaults).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = ProjectConfig::parse(text) {
        let _ = config.check();
        if let Ok(yaml) = config.to_yaml() {
            let again = ProjectConfig::parse(&yaml).expect("a config inferx wrote parses again");
            assert_eq!(again, config.normalized(), "config round trip");
        }
    }
    let file = std::env::temp_dir().join(format!("inferx-fuzz-user-{}.yaml", std::process::id()));
    if std::fs::write(&file, data).is_ok() {
        if let Ok(user) = UserConfig::load(&file) {
            let _ =
                user.under_file("inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\n");
        }
        let _ = std::fs::remove_file(&file);
    }
}

/// Arbitrary output tensors, decoded by every task. The first bytes choose the outputs'
/// count, names, ranks and dimensions; the rest are the values (NaN and infinities included).
pub fn decoders(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let mut next = |limit: u8| bytes.next().map_or(1, |byte| byte % limit);
    let names = ["output0", "pred_score", "anomaly_map", "logits", "proto"];
    let output_count = 1 + next(3) as usize;
    let mut layouts = Vec::new();
    for _ in 0..output_count {
        let name = names[next(names.len() as u8) as usize];
        let rank = 1 + next(4) as usize;
        let mut shape: Vec<usize> = (0..rank).map(|_| 1 + next(24) as usize).collect();
        shape[0] = 1 + next(2) as usize; // the batch
        layouts.push((name, shape));
    }
    let header = 1 + output_count * 6;
    let values: Vec<f32> = data
        .get(header.min(data.len())..)
        .unwrap_or_default()
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            f32::from_le_bytes(word)
        })
        .collect();
    let buffers: Vec<Vec<f32>> = layouts
        .iter()
        .map(|(_, shape)| {
            let len: usize = shape.iter().product();
            (0..len).map(|index| values.get(index % values.len().max(1)).copied().unwrap_or(0.5)).collect()
        })
        .collect();
    let outputs: Vec<OutputView<'_>> = layouts
        .iter()
        .zip(&buffers)
        .map(|((name, shape), data)| OutputView { name, shape: shape.clone(), data })
        .collect();
    let transform = letterbox_geometry(97, 61, 32, 32);
    for task in
        [TaskKind::Detection, TaskKind::Classification, TaskKind::Segmentation, TaskKind::Anomaly, TaskKind::Custom]
    {
        let options = DecodeOptions::for_task(task);
        for index in 0..2 {
            if let Ok(items) = batch_item(&outputs, index) {
                let _ = decode(&items, &transform, (32, 32), &options);
            }
        }
    }
}

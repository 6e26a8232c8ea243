//! Detect objects in every image of a folder with `inferx-runtime` as a library.
//!
//! ```text
//! cargo run --example detect_folder -- yolov8n.onnx photos/ [--confidence 0.4]
//! ```
//!
//! Prints each image's detections, then a count per class for the whole folder.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{bail, Context};
use inferx_runtime::{inputs::collect_images, Pipeline, PipelineOptions, TaskKind};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(folder)) = (args.next(), args.next()) else {
        bail!("usage: detect_folder MODEL.onnx FOLDER [--confidence 0.4]");
    };
    let mut options = PipelineOptions::for_task(TaskKind::Detection);
    if let Some(flag) = args.next() {
        let value = args.next().filter(|_| flag == "--confidence").context("expected --confidence VALUE")?;
        options.confidence = Some(value.parse().context("--confidence takes a number from 0 to 1")?);
    }
    // Finds ONNX Runtime (INFERX_ORT_LIB, `inferx runtime install`, ...), picks the device,
    // and reads the input size and class names from the model.
    let pipeline = Pipeline::load(&model, options).with_context(|| format!("could not load `{model}`"))?;
    let images = collect_images(&[PathBuf::from(&folder)])?;
    let mut per_class: BTreeMap<String, usize> = BTreeMap::new();
    for image in &images {
        let prediction = pipeline.predict_path(image)?;
        let detections = prediction.detections();
        println!("{}: {} objects", image.display(), detections.len());
        for detection in detections {
            let b = &detection.bbox;
            println!(
                "  {:<16} {:.3}  [{:.0}, {:.0}, {:.0}, {:.0}]",
                detection.label, detection.score, b.x1, b.y1, b.x2, b.y2
            );
            *per_class.entry(detection.label.clone()).or_default() += 1;
        }
    }
    println!("{} images; by class: {per_class:?}", images.len());
    Ok(())
}

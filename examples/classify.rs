//! Classify images with `inferx-runtime` as a library: the top 3 classes of each.
//!
//! ```text
//! cargo run --example classify -- classifier.onnx cat.jpg dog.jpg
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context};
use inferx_runtime::{inputs::collect_images, Pipeline, PipelineOptions, PredictionOutput, TaskKind};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((model, inputs)) = args.split_first().filter(|(_, inputs)| !inputs.is_empty()) else {
        bail!("usage: classify MODEL.onnx IMAGE|FOLDER...");
    };
    let options = PipelineOptions { top_k: Some(3), ..PipelineOptions::for_task(TaskKind::Classification) };
    let pipeline = Pipeline::load(model, options).with_context(|| format!("could not load `{model}`"))?;
    let inputs: Vec<PathBuf> = inputs.iter().map(PathBuf::from).collect();
    for image in collect_images(&inputs)? {
        let prediction = pipeline.predict_path(&image)?;
        let PredictionOutput::Classification { top } = &prediction.output else {
            bail!("`{model}` did not give class scores");
        };
        let ranked: Vec<String> = top.iter().map(|class| format!("{} ({:.4})", class.label, class.score)).collect();
        println!("{}: {}", image.display(), ranked.join(", "));
    }
    Ok(())
}

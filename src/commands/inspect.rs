//! `inferx inspect`: a model's signature, metadata and guessed task, read without ONNX Runtime.

use anyhow::Context;
use inferx_runtime::{
    model::{info::TensorInfo, onnx_proto},
    ModelInfo, TaskKind,
};
use serde::Serialize;

use crate::{cli::InspectArgs, output::Printer};

#[derive(Serialize)]
struct Inspection<'a> {
    #[serde(flatten)]
    model: &'a ModelInfo,
    guessed_task: TaskKind,
    labels: Option<Vec<String>>,
    input_size: Option<(u32, u32)>,
}

pub(crate) fn run(args: InspectArgs, printer: &Printer) -> anyhow::Result<()> {
    let model = onnx_proto::read_model_info(&args.model)
        .with_context(|| format!("could not inspect `{}`", args.model.display()))?;
    let inspection = Inspection {
        model: &model,
        guessed_task: model.guess_task(),
        labels: model.labels(),
        input_size: model.input_size(),
    };
    if args.json {
        printer.out(serde_json::to_string_pretty(&inspection)?)?;
        return Ok(());
    }
    let mut lines = vec![
        format!("model     {}", model.file),
        format!("producer  {}", model.producer.as_deref().unwrap_or("-")),
        format!("opset     {}", model.opset.map_or("-".to_string(), |opset| opset.to_string())),
        format!("task      {} (guessed: {})", inspection.guessed_task, inspection.guessed_task.description()),
    ];
    if let Some((height, width)) = inspection.input_size {
        lines.push(format!("size      {width}x{height}"));
    }
    lines.push("inputs".to_string());
    lines.extend(model.inputs.iter().map(describe_tensor));
    lines.push("outputs".to_string());
    lines.extend(model.outputs.iter().map(describe_tensor));
    if let Some(labels) = &inspection.labels {
        lines.push(format!("labels    {}: {}", labels.len(), labels.join(", ")));
    }
    if !model.metadata.is_empty() {
        lines.push("metadata".to_string());
        for (key, value) in &model.metadata {
            let mut shown: String = value.chars().take(100).collect();
            if value.chars().count() > 100 {
                shown.push('…');
            }
            lines.push(format!("  {key}: {shown}"));
        }
    }
    printer.out(lines.join("\n"))?;
    Ok(())
}

fn describe_tensor(tensor: &TensorInfo) -> String {
    let dims: Vec<String> = tensor
        .shape
        .iter()
        .zip(tensor.dimension_names.iter().map(String::as_str).chain(std::iter::repeat("")))
        .map(|(size, name)| match (*size, name) {
            (size, _) if size > 0 => size.to_string(),
            (_, name) if !name.is_empty() => name.to_string(),
            _ => "?".to_string(),
        })
        .collect();
    format!("  {}  {}  [{}]", tensor.name, tensor.dtype, dims.join(", "))
}

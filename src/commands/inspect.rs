//! `inferx inspect`: a model's signature, metadata and guessed task, read without ONNX Runtime.

use std::collections::BTreeMap;

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
    let symbols = input_symbols(&model, inspection.input_size);
    let describe = |tensor| describe_tensor(tensor, &symbols, inspection.input_size);
    lines.push("inputs".to_string());
    lines.extend(model.inputs.iter().map(describe));
    lines.push("outputs".to_string());
    lines.extend(model.outputs.iter().map(describe));
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

/// `  name  f32  [batch, 22, 2100 at 320x320]`: fixed sizes as numbers, named ones by name, and
/// a size the exporter wrote as an expression of the input's (`(floor(height/2 - 1/2) ...`)
/// by its value at the model's input size, else by what it depends on.
fn describe_tensor(tensor: &TensorInfo, symbols: &BTreeMap<String, f64>, size: Option<(u32, u32)>) -> String {
    let dims: Vec<String> = tensor
        .shape
        .iter()
        .zip(tensor.dimension_names.iter().map(String::as_str).chain(std::iter::repeat("")))
        .map(|(size_value, name)| match (*size_value, name) {
            (fixed, _) if fixed > 0 => fixed.to_string(),
            (_, "") => "?".to_string(),
            (_, name) if is_identifier(name) => name.to_string(),
            (_, expression) => readable_expression(expression, symbols, size),
        })
        .collect();
    format!("  {}  {}  [{}]", tensor.name, tensor.dtype, dims.join(", "))
}

fn is_identifier(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn readable_expression(expression: &str, symbols: &BTreeMap<String, f64>, size: Option<(u32, u32)>) -> String {
    if let (Some(value), Some((height, width))) = (evaluate(expression, symbols), size) {
        return format!("{value} at {width}x{height}");
    }
    let mut names: Vec<&str> = expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic()) && !FUNCTIONS.contains(word))
        .collect();
    names.sort_unstable();
    names.dedup();
    format!("f({})", names.join(", "))
}

const FUNCTIONS: [&str; 2] = ["floor", "ceil"];

/// The value of a shape expression (numbers, the input's dimension names, `+ - * /`, `floor`,
/// `ceil`, parentheses) when every name is known and the result is a whole number.
fn evaluate(expression: &str, symbols: &BTreeMap<String, f64>) -> Option<i64> {
    let tokens: Vec<char> = expression.chars().filter(|c| !c.is_whitespace()).collect();
    let mut parser = Expression { tokens: &tokens, at: 0, symbols };
    let value = parser.sum()?;
    (parser.at == tokens.len() && value.fract() == 0.0 && value.is_finite()).then_some(value as i64)
}

struct Expression<'a> {
    tokens: &'a [char],
    at: usize,
    symbols: &'a BTreeMap<String, f64>,
}

impl Expression<'_> {
    fn peek(&self) -> Option<char> {
        self.tokens.get(self.at).copied()
    }

    fn sum(&mut self) -> Option<f64> {
        let mut value = self.product()?;
        while let Some(operator @ ('+' | '-')) = self.peek() {
            self.at += 1;
            let right = self.product()?;
            value = if operator == '+' { value + right } else { value - right };
        }
        Some(value)
    }

    fn product(&mut self) -> Option<f64> {
        let mut value = self.atom()?;
        while let Some(operator @ ('*' | '/')) = self.peek() {
            self.at += 1;
            let right = self.atom()?;
            value = if operator == '*' { value * right } else { value / right };
        }
        Some(value)
    }

    fn atom(&mut self) -> Option<f64> {
        match self.peek()? {
            '(' => {
                self.at += 1;
                let value = self.sum()?;
                (self.peek() == Some(')')).then(|| self.at += 1)?;
                Some(value)
            }
            '-' => {
                self.at += 1;
                Some(-self.atom()?)
            }
            c if c.is_ascii_digit() => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.at += 1;
                }
                self.tokens[start..self.at].iter().collect::<String>().parse().ok()
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.at += 1;
                }
                let name: String = self.tokens[start..self.at].iter().collect();
                match name.as_str() {
                    "floor" | "ceil" => {
                        let inner = self.atom()?;
                        Some(if name == "floor" { inner.floor() } else { inner.ceil() })
                    }
                    _ => self.symbols.get(&name).copied(),
                }
            }
            _ => None,
        }
    }
}

/// The input's named dimensions with their values at the model's size: `height` and `width`
/// (the image input's last two axes).
fn input_symbols(model: &ModelInfo, size: Option<(u32, u32)>) -> BTreeMap<String, f64> {
    let mut symbols = BTreeMap::new();
    if let (Some(input), Some((height, width))) = (model.inputs.first(), size) {
        let names = &input.dimension_names;
        if names.len() == 4 {
            symbols.insert(names[2].clone(), f64::from(height));
            symbols.insert(names[3].clone(), f64::from(width));
        }
    }
    symbols.retain(|name, _| !name.is_empty());
    symbols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolo_anchor_counts_read_as_numbers() {
        let symbols = BTreeMap::from([("height".to_string(), 320.0), ("width".to_string(), 320.0)]);
        let anchors = "(floor(floor(floor(height/2 - 1/2)/2)/2) + 1)*(floor(floor(floor(width/2 - 1/2)/2)/2) + 1) + (floor(floor(floor(floor(height/2 - 1/2)/2)/2)/2) + 1)*(floor(floor(floor(floor(width/2 - 1/2)/2)/2)/2) + 1) + (floor(floor(floor(floor(floor(height/2 - 1/2)/2)/2)/2)/2) + 1)*(floor(floor(floor(floor(floor(width/2 - 1/2)/2)/2)/2)/2) + 1)";
        assert_eq!(evaluate(anchors, &symbols), Some(2100), "40² + 20² + 10² at 320");
        assert_eq!(readable_expression(anchors, &symbols, Some((320, 320))), "2100 at 320x320");
        assert_eq!(readable_expression(anchors, &BTreeMap::new(), None), "f(height, width)");
        assert_eq!(evaluate("height*2 - (width", &symbols), None, "malformed");
        assert_eq!(evaluate("batch*2", &symbols), None, "unknown name");
    }
}

//! A minimal reader of the ONNX protobuf: the graph's inputs, outputs, opsets and metadata,
//! without ONNX Runtime. Weights are skipped by length, so reading a model is fast; this is
//! what `inferx inspect` and the generator use.

use std::{collections::BTreeMap, path::Path};

use crate::{
    model::info::{ModelInfo, TensorInfo},
    Error, Result,
};

/// Reads a model file's signature and metadata.
pub fn read_model_info(path: &Path) -> Result<ModelInfo> {
    if !path.is_file() {
        return Err(Error::ModelNotFound(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(|error| Error::io("could not read", path, error))?;
    let file = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    parse_model(&bytes, file).map_err(|reason| Error::ModelLoad { path: path.to_path_buf(), reason })
}

/// Parses ONNX `ModelProto` bytes.
pub fn parse_model(bytes: &[u8], file: String) -> std::result::Result<ModelInfo, String> {
    let mut info = ModelInfo {
        file,
        inputs: Vec::new(),
        outputs: Vec::new(),
        opset: None,
        producer: None,
        metadata: BTreeMap::new(),
    };
    let mut saw_graph = false;
    let mut ir_version = None;
    for field in Fields::new(bytes) {
        let field = field?;
        match (field.number, field.value) {
            (1, Value::Varint(version)) => ir_version = Some(version),
            (2, Value::Bytes(name)) => {
                info.producer = Some(String::from_utf8_lossy(name).into_owned()).filter(|name| !name.is_empty());
            }
            (7, Value::Bytes(graph)) => {
                saw_graph = true;
                read_graph(graph, &mut info)?;
            }
            (8, Value::Bytes(opset)) => {
                let (mut domain, mut version) = (String::new(), 0);
                for field in Fields::new(opset) {
                    match field? {
                        Field { number: 1, value: Value::Bytes(text) } => {
                            domain = String::from_utf8_lossy(text).into_owned();
                        }
                        Field { number: 2, value: Value::Varint(number) } => version = number,
                        _ => {}
                    }
                }
                if domain.is_empty() || domain == "ai.onnx" {
                    info.opset = Some(version as u32);
                }
            }
            (14, Value::Bytes(entry)) => {
                let (key, value) = read_string_pair(entry)?;
                info.metadata.insert(key, value);
            }
            _ => {}
        }
    }
    if ir_version.is_none() || !saw_graph {
        return Err(
            "it is not an ONNX model (no IR version or graph found); the file may be truncated or another format"
                .to_string(),
        );
    }
    if info.inputs.is_empty() || info.outputs.is_empty() {
        return Err("the graph declares no inputs or no outputs".to_string());
    }
    Ok(info)
}

/// The operator types of a model's main graph and how often each occurs (`QuantizeLinear`
/// tells a quantized model). Subgraphs (If, Loop) are not entered.
pub fn read_operator_counts(path: &Path) -> Result<BTreeMap<String, usize>> {
    let bytes = std::fs::read(path).map_err(|error| Error::io("could not read", path, error))?;
    operator_counts(&bytes).map_err(|reason| Error::ModelLoad { path: path.to_path_buf(), reason })
}

fn operator_counts(bytes: &[u8]) -> std::result::Result<BTreeMap<String, usize>, String> {
    let mut counts = BTreeMap::new();
    for field in Fields::new(bytes) {
        // ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4.
        let Field { number: 7, value: Value::Bytes(graph) } = field? else { continue };
        for field in Fields::new(graph) {
            let Field { number: 1, value: Value::Bytes(node) } = field? else { continue };
            for field in Fields::new(node) {
                if let Field { number: 4, value: Value::Bytes(op_type) } = field? {
                    *counts.entry(String::from_utf8_lossy(op_type).into_owned()).or_insert(0) += 1;
                }
            }
        }
    }
    Ok(counts)
}

fn read_graph(graph: &[u8], info: &mut ModelInfo) -> std::result::Result<(), String> {
    let mut initializers = std::collections::HashSet::new();
    let mut inputs = Vec::new();
    for field in Fields::new(graph) {
        let field = field?;
        match (field.number, field.value) {
            (11, Value::Bytes(value_info)) => inputs.push(read_value_info(value_info)?),
            (12, Value::Bytes(value_info)) => info.outputs.push(read_value_info(value_info)?),
            (5, Value::Bytes(tensor)) => {
                // TensorProto.name is field 8.
                for field in Fields::new(tensor) {
                    if let Field { number: 8, value: Value::Bytes(name) } = field? {
                        initializers.insert(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    // Older exporters list initializers as graph inputs too; they are not real inputs.
    info.inputs = inputs.into_iter().filter(|input| !initializers.contains(&input.name)).collect();
    Ok(())
}

fn read_string_pair(entry: &[u8]) -> std::result::Result<(String, String), String> {
    let (mut key, mut value) = (String::new(), String::new());
    for field in Fields::new(entry) {
        match field? {
            Field { number: 1, value: Value::Bytes(text) } => key = String::from_utf8_lossy(text).into_owned(),
            Field { number: 2, value: Value::Bytes(text) } => value = String::from_utf8_lossy(text).into_owned(),
            _ => {}
        }
    }
    Ok((key, value))
}

fn read_value_info(bytes: &[u8]) -> std::result::Result<TensorInfo, String> {
    let mut tensor = TensorInfo {
        name: String::new(),
        dtype: "unknown".to_string(),
        shape: Vec::new(),
        dimension_names: Vec::new(),
    };
    for field in Fields::new(bytes) {
        match field? {
            Field { number: 1, value: Value::Bytes(name) } => tensor.name = String::from_utf8_lossy(name).into_owned(),
            Field { number: 2, value: Value::Bytes(type_proto) } => {
                for field in Fields::new(type_proto) {
                    // TypeProto.tensor_type = 1: { elem_type = 1, shape = 2 }.
                    if let Field { number: 1, value: Value::Bytes(tensor_type) } = field? {
                        for field in Fields::new(tensor_type) {
                            match field? {
                                Field { number: 1, value: Value::Varint(element) } => {
                                    tensor.dtype = element_type_name(element).to_string();
                                }
                                Field { number: 2, value: Value::Bytes(shape) } => read_shape(shape, &mut tensor)?,
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(tensor)
}

fn read_shape(shape: &[u8], tensor: &mut TensorInfo) -> std::result::Result<(), String> {
    for field in Fields::new(shape) {
        if let Field { number: 1, value: Value::Bytes(dimension) } = field? {
            let (mut size, mut name) = (-1i64, String::new());
            for field in Fields::new(dimension) {
                match field? {
                    Field { number: 1, value: Value::Varint(value) } => size = value as i64,
                    Field { number: 2, value: Value::Bytes(text) } => name = String::from_utf8_lossy(text).into_owned(),
                    _ => {}
                }
            }
            tensor.shape.push(size);
            tensor.dimension_names.push(name);
        }
    }
    Ok(())
}

/// ONNX `TensorProto.DataType` names, as ONNX Runtime prints them.
fn element_type_name(element: u64) -> &'static str {
    match element {
        1 => "f32",
        2 => "u8",
        3 => "i8",
        4 => "u16",
        5 => "i16",
        6 => "i32",
        7 => "i64",
        8 => "String",
        9 => "bool",
        10 => "f16",
        11 => "f64",
        12 => "u32",
        13 => "u64",
        16 => "bf16",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u64,
    value: Value<'a>,
}

/// Iterates over the fields of one protobuf message.
struct Fields<'a> {
    bytes: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { bytes, position: 0, failed: false }
    }

    fn varint(&mut self) -> std::result::Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.position).ok_or("the file ends inside a number (truncated?)")?;
            self.position += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("malformed protobuf varint".to_string())
    }

    fn next_field(&mut self) -> std::result::Result<Field<'a>, String> {
        let key = self.varint()?;
        let (number, wire_type) = (key >> 3, key & 7);
        let value = match wire_type {
            0 => Value::Varint(self.varint()?),
            1 | 5 => {
                let width = if wire_type == 1 { 8 } else { 4 };
                if self.position + width > self.bytes.len() {
                    return Err("the file ends inside a field (truncated?)".to_string());
                }
                self.position += width;
                Value::Fixed
            }
            2 => {
                let length = self.varint()? as usize;
                let end = self
                    .position
                    .checked_add(length)
                    .filter(|end| *end <= self.bytes.len())
                    .ok_or("a field runs past the end of the file (truncated?)")?;
                let slice = &self.bytes[self.position..end];
                self.position = end;
                Value::Bytes(slice)
            }
            other => return Err(format!("unsupported protobuf wire type {other}: not an ONNX file")),
        };
        Ok(Field { number, value })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = std::result::Result<Field<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.bytes.len() {
            return None;
        }
        let field = self.next_field();
        self.failed = field.is_err();
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    #[test]
    fn operators_of_the_main_graph_are_counted_by_type() {
        let node = |op_type: &str| {
            let mut node = Vec::new();
            bytes_field(3, b"a name", &mut node);
            bytes_field(4, op_type.as_bytes(), &mut node);
            node
        };
        let mut graph = Vec::new();
        for op_type in ["QuantizeLinear", "Conv", "DequantizeLinear", "Conv"] {
            bytes_field(1, &node(op_type), &mut graph);
        }
        let mut model = Vec::new();
        varint(1 << 3, &mut model);
        varint(8, &mut model);
        bytes_field(7, &graph, &mut model);
        let counts = operator_counts(&model).unwrap();
        assert_eq!(counts.get("Conv"), Some(&2));
        assert_eq!(counts.get("QuantizeLinear"), Some(&1));
        assert_eq!(counts.len(), 3);
    }

    fn value_info(name: &str, dims: &[i64]) -> Vec<u8> {
        let mut shape = Vec::new();
        for &dim in dims {
            let mut dimension = Vec::new();
            if dim >= 0 {
                varint(1 << 3, &mut dimension);
                varint(dim as u64, &mut dimension);
            } else {
                bytes_field(2, b"batch", &mut dimension);
            }
            bytes_field(1, &dimension, &mut shape);
        }
        let mut tensor_type = vec![1 << 3, 1];
        bytes_field(2, &shape, &mut tensor_type);
        let mut type_proto = Vec::new();
        bytes_field(1, &tensor_type, &mut type_proto);
        let mut info = Vec::new();
        bytes_field(1, name.as_bytes(), &mut info);
        bytes_field(2, &type_proto, &mut info);
        info
    }

    fn model() -> Vec<u8> {
        let mut graph = Vec::new();
        bytes_field(11, &value_info("images", &[-1, 3, 320, 320]), &mut graph);
        bytes_field(12, &value_info("output0", &[-1, 22, 2100]), &mut graph);
        let mut model = vec![1 << 3, 8];
        bytes_field(7, &graph, &mut model);
        let opset = vec![2 << 3, 17];
        bytes_field(8, &opset, &mut model);
        let mut entry = Vec::new();
        bytes_field(1, b"names", &mut entry);
        bytes_field(2, b"{0: 'face'}", &mut entry);
        bytes_field(14, &entry, &mut model);
        model
    }

    #[test]
    fn reads_signature_opset_and_metadata() {
        let info = parse_model(&model(), "m.onnx".into()).unwrap();
        assert_eq!(info.inputs[0].name, "images");
        assert_eq!(info.inputs[0].shape, [-1, 3, 320, 320]);
        assert_eq!(info.inputs[0].dtype, "f32");
        assert_eq!(info.outputs[0].shape, [-1, 22, 2100]);
        assert_eq!(info.opset, Some(17));
        assert_eq!(info.labels().unwrap(), ["face"]);
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let bytes = model();
        for cut in [3, bytes.len() / 2, bytes.len() - 1] {
            assert!(parse_model(&bytes[..cut], "m.onnx".into()).is_err(), "cut at {cut}");
        }
        let error = parse_model(b"\x89PNG\r\n\x1a\n not onnx", "m.onnx".into()).unwrap_err();
        assert!(error.contains("not an ONNX") || error.contains("truncated") || error.contains("wire type"), "{error}");
    }
}

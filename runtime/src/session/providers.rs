//! The `device:` section of `inferx.yaml`: which device, and how the GPU execution providers
//! are tuned (TensorRT's engine cache, FP16, workspace, builder level and shape profile; CUDA's
//! memory limit, arena, cuDNN search and CUDA graphs), and the exact ONNX Runtime provider
//! options each becomes ([`tensorrt_options`], [`cuda_options`]).
//!
//! The section takes two forms. The short one, written by inferx 0.x, names the device alone
//! (`device: cuda:1`); the long one names it under `use:` beside the provider options:
//!
//! ```yaml
//! device:
//!   use: tensorrt
//!   tensorrt: {fp16: true, max_batch: 8}
//!   cuda: {memory_limit_mb: 4096}
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{device::Device, model::info::TensorInfo};

/// The folder of TensorRT's engine and timing caches in a project, relative to `inferx.yaml`.
pub const DEFAULT_TENSORRT_CACHE_DIR: &str = ".inferx/trt-cache";

/// The `device:` section: the device asked for and the options of the providers that run on
/// it. Deserialised from either form (see the [module](self) documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DeviceConfig {
    /// The device: `auto`, `cpu`, `cuda[:N]`, `tensorrt[:N]`...
    #[serde(rename = "use")]
    pub preferred: Device,
    /// TensorRT's options (used by `tensorrt` and by `auto` where TensorRT runs).
    pub tensorrt: TensorRtOptions,
    /// CUDA's options (used by `cuda`, and by TensorRT's fallback to CUDA).
    pub cuda: CudaOptions,
}

/// The long form, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongForm {
    #[serde(rename = "use", default)]
    preferred: Device,
    #[serde(default)]
    tensorrt: TensorRtOptions,
    #[serde(default)]
    cuda: CudaOptions,
}

impl<'de> Deserialize<'de> for DeviceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_yaml::Value::deserialize(deserializer)?;
        match value {
            serde_yaml::Value::String(text) => {
                let preferred = text.parse().map_err(D::Error::custom)?;
                Ok(DeviceConfig { preferred, ..DeviceConfig::default() })
            }
            serde_yaml::Value::Null => Ok(DeviceConfig::default()),
            mapping @ serde_yaml::Value::Mapping(_) => {
                let long: LongForm =
                    serde_yaml::from_value(mapping).map_err(|error| D::Error::custom(format!("device: {error}")))?;
                Ok(DeviceConfig { preferred: long.preferred, tensorrt: long.tensorrt, cuda: long.cuda })
            }
            _ => Err(D::Error::custom(
                "device must be a device name (`auto`, `cpu`, `cuda:1`...) or a section with `use:`, `tensorrt:` and `cuda:`",
            )),
        }
    }
}

impl From<Device> for DeviceConfig {
    fn from(preferred: Device) -> Self {
        DeviceConfig { preferred, ..DeviceConfig::default() }
    }
}

/// TensorRT's options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TensorRtOptions {
    /// Keep the built engines and TensorRT's timing cache between starts, so only the first
    /// start builds (minutes for a detector). On by default.
    pub engine_cache: bool,
    /// The cache's folder, relative to `inferx.yaml` (mount a volume here in containers).
    /// Each model, TensorRT and ONNX Runtime version, GPU and option set has its own entry.
    pub cache_dir: String,
    /// Let TensorRT run layers in FP16: faster, with scores a little different from FP32.
    pub fp16: bool,
    /// The most GPU memory TensorRT's builder may use as scratch, in MiB (0: TensorRT's
    /// default, the GPU's memory).
    pub workspace_mb: u64,
    /// TensorRT's builder optimisation level, 0 to 5 (3 is TensorRT's default; higher builds
    /// longer for faster engines).
    pub builder_optimization_level: u8,
    /// The smallest batch the engine takes (models with a dynamic batch axis).
    pub min_batch: u32,
    /// The batch the engine is tuned for.
    pub opt_batch: u32,
    /// The largest batch the engine takes: at least `server.batching.max_batch_size`.
    pub max_batch: u32,
}

impl Default for TensorRtOptions {
    fn default() -> Self {
        TensorRtOptions {
            engine_cache: true,
            cache_dir: DEFAULT_TENSORRT_CACHE_DIR.to_string(),
            fp16: false,
            workspace_mb: 0,
            builder_optimization_level: 3,
            min_batch: 1,
            opt_batch: 1,
            max_batch: 8,
        }
    }
}

/// How CUDA's memory arena grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArenaStrategy {
    /// In ever larger steps (ONNX Runtime's default): fewer allocations, more memory held.
    #[default]
    NextPowerOfTwo,
    /// By what is asked: the least memory, for GPUs shared with other processes.
    SameAsRequested,
}

/// How cuDNN picks its convolution algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConvAlgorithmSearch {
    /// Try them all on the first run (ONNX Runtime's default): the fastest, a slower start.
    #[default]
    Exhaustive,
    /// cuDNN's heuristics: a fast start, maybe slower runs.
    Heuristic,
    /// cuDNN's default algorithm.
    Default,
}

/// CUDA's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CudaOptions {
    /// The most GPU memory CUDA's arena may hold, in MiB (0: no limit).
    pub memory_limit_mb: u64,
    /// How the arena grows.
    pub arena_strategy: ArenaStrategy,
    /// How cuDNN picks convolution algorithms.
    pub cudnn_conv_algo_search: ConvAlgorithmSearch,
    /// Capture the model in a CUDA graph and replay it: less launch overhead, but only for
    /// inputs of one shape with every node on the GPU (no batching, no varying image sizes).
    pub cuda_graph: bool,
}

/// The shapes TensorRT builds its engine for, as ONNX Runtime takes them
/// (`images:1x3x640x640`, several inputs comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProfile {
    /// The smallest shapes.
    pub min: String,
    /// The shapes the engine is tuned for.
    pub opt: String,
    /// The largest shapes.
    pub max: String,
}

/// The profile for `inputs`: a free first axis takes the batch range of `options`, another
/// free axis the size `fixed` gives its name (the sizes the preprocessing always produces).
/// `None` when every axis is fixed (nothing to profile) or when an axis has no known size
/// (images of varying size): TensorRT then builds for the shapes it sees.
pub fn tensorrt_profile(
    inputs: &[TensorInfo],
    fixed: &[(String, i64)],
    options: &TensorRtOptions,
) -> Option<ShapeProfile> {
    let mut any_free = false;
    let mut shapes: [Vec<String>; 3] = Default::default();
    for input in inputs {
        let mut dims: [Vec<String>; 3] = Default::default();
        for (axis, &size) in input.shape.iter().enumerate() {
            let sizes = if size > 0 {
                [size; 3]
            } else {
                any_free = true;
                let name = input.dimension_names.get(axis).filter(|name| !name.is_empty());
                match name.and_then(|name| fixed.iter().find(|(known, _)| known == name)) {
                    Some(&(_, size)) => [size; 3],
                    None if axis == 0 => [options.min_batch, options.opt_batch, options.max_batch].map(i64::from),
                    None => return None,
                }
            };
            for (dims, size) in dims.iter_mut().zip(sizes) {
                dims.push(size.to_string());
            }
        }
        for (shape, dims) in shapes.iter_mut().zip(dims) {
            shape.push(format!("{}:{}", input.name, dims.join("x")));
        }
    }
    let [min, opt, max] = shapes.map(|shape| shape.join(","));
    any_free.then_some(ShapeProfile { min, opt, max })
}

fn flag(enabled: bool) -> String {
    if enabled { "1" } else { "0" }.to_string()
}

/// The exact options the TensorRT provider is registered with: those of `options`, the
/// engine and timing caches in `cache` (a folder of its own for this model, TensorRT, GPU and
/// option set; see [`super::trt_cache`]), and the shape profile.
pub fn tensorrt_options(
    device_id: u32,
    options: &TensorRtOptions,
    cache: Option<&Path>,
    profile: Option<&ShapeProfile>,
) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("device_id", device_id.to_string()),
        ("trt_fp16_enable", flag(options.fp16)),
        ("trt_builder_optimization_level", options.builder_optimization_level.to_string()),
    ];
    if options.workspace_mb > 0 {
        pairs.push(("trt_max_workspace_size", (options.workspace_mb << 20).to_string()));
    }
    if let Some(cache) = cache {
        let cache = cache.display().to_string();
        pairs.push(("trt_engine_cache_enable", flag(true)));
        pairs.push(("trt_engine_cache_path", cache.clone()));
        pairs.push(("trt_timing_cache_enable", flag(true)));
        pairs.push(("trt_timing_cache_path", cache));
    }
    if let Some(profile) = profile {
        pairs.push(("trt_profile_min_shapes", profile.min.clone()));
        pairs.push(("trt_profile_opt_shapes", profile.opt.clone()));
        pairs.push(("trt_profile_max_shapes", profile.max.clone()));
    }
    pairs
}

/// The exact options the CUDA provider is registered with.
pub fn cuda_options(device_id: u32, options: &CudaOptions) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("device_id", device_id.to_string())];
    if options.memory_limit_mb > 0 {
        pairs.push(("gpu_mem_limit", (options.memory_limit_mb << 20).to_string()));
    }
    let arena = match options.arena_strategy {
        ArenaStrategy::NextPowerOfTwo => "kNextPowerOfTwo",
        ArenaStrategy::SameAsRequested => "kSameAsRequested",
    };
    pairs.push(("arena_extend_strategy", arena.to_string()));
    let search = match options.cudnn_conv_algo_search {
        ConvAlgorithmSearch::Exhaustive => "EXHAUSTIVE",
        ConvAlgorithmSearch::Heuristic => "HEURISTIC",
        ConvAlgorithmSearch::Default => "DEFAULT",
    };
    pairs.push(("cudnn_conv_algo_search", search.to_string()));
    pairs.push(("enable_cuda_graph", flag(options.cuda_graph)));
    pairs
}

/// What a project's settings around the device make impossible, each naming its key; empty
/// when the section is sound. `max_batch_size` is the server's `server.batching.max_batch_size`
/// and `varying_input_size` whether the preprocessing makes inputs of varying size.
pub fn device_problems(config: &DeviceConfig, max_batch_size: usize, varying_input_size: bool) -> Vec<String> {
    let trt = &config.tensorrt;
    let mut problems = Vec::new();
    if trt.builder_optimization_level > 5 {
        problems.push(format!(
            "device.tensorrt.builder_optimization_level must be between 0 and 5, got {}",
            trt.builder_optimization_level
        ));
    }
    if trt.workspace_mb > 1 << 20 {
        problems.push(format!(
            "device.tensorrt.workspace_mb is {} MiB, more than any GPU holds: set it in MiB (4096 = 4 GiB), or 0 for TensorRT's default",
            trt.workspace_mb
        ));
    }
    if trt.min_batch == 0 || trt.min_batch > trt.opt_batch || trt.opt_batch > trt.max_batch {
        problems.push(format!(
            "device.tensorrt.min_batch ({}) <= opt_batch ({}) <= max_batch ({}) must hold, from 1",
            trt.min_batch, trt.opt_batch, trt.max_batch
        ));
    }
    if (trt.max_batch as usize) < max_batch_size {
        problems.push(format!(
            "device.tensorrt.max_batch ({}) is below server.batching.max_batch_size ({max_batch_size}): the server would send batches the engine cannot take; raise device.tensorrt.max_batch to at least {max_batch_size}",
            trt.max_batch
        ));
    }
    if trt.engine_cache && trt.cache_dir.trim().is_empty() {
        problems.push(
            "device.tensorrt.cache_dir is empty while device.tensorrt.engine_cache is on: name a folder (default .inferx/trt-cache), or set engine_cache: false".to_string(),
        );
    }
    let cuda = &config.cuda;
    if cuda.cuda_graph && max_batch_size > 1 {
        problems.push(format!(
            "device.cuda.cuda_graph replays one input shape, but server.batching.max_batch_size is {max_batch_size} (batches of varying size): turn one of them off"
        ));
    }
    if cuda.cuda_graph && varying_input_size {
        problems.push(
            "device.cuda.cuda_graph replays one input shape, but input.resize is fit_multiple (images of varying size): turn cuda_graph off".to_string(),
        );
    }
    if cuda.memory_limit_mb > 0 && cuda.memory_limit_mb < 64 {
        problems.push(format!(
            "device.cuda.memory_limit_mb is {} MiB, too little to run a model: set it in MiB (4096 = 4 GiB), or 0 for no limit",
            cuda.memory_limit_mb
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_input(shape: Vec<i64>, names: &[&str]) -> TensorInfo {
        TensorInfo {
            name: "images".into(),
            shape,
            dimension_names: names.iter().map(|name| (*name).to_string()).collect(),
            dtype: "f32".into(),
        }
    }

    #[test]
    fn both_forms_parse_and_the_short_one_means_the_defaults() {
        let short: DeviceConfig = serde_yaml::from_str("cuda:1").unwrap();
        assert_eq!(short, DeviceConfig::from(Device::Cuda(1)));
        assert!(short.tensorrt.engine_cache, "the engine cache is on by default");
        assert_eq!(short.tensorrt.cache_dir, ".inferx/trt-cache");
        let long: DeviceConfig = serde_yaml::from_str(
            "use: tensorrt\ntensorrt: {fp16: true, workspace_mb: 2048, max_batch: 16}\ncuda: {arena_strategy: same_as_requested}\n",
        )
        .unwrap();
        assert_eq!(long.preferred, Device::TensorRt(0));
        assert!(long.tensorrt.fp16);
        assert_eq!(long.tensorrt.max_batch, 16);
        assert_eq!(long.tensorrt.builder_optimization_level, 3, "left out: the default");
        assert_eq!(long.cuda.arena_strategy, ArenaStrategy::SameAsRequested);
        // Written back, the long form reads the same.
        let written = serde_yaml::to_string(&long).unwrap();
        assert!(written.starts_with("use: tensorrt\n"), "{written}");
        assert_eq!(serde_yaml::from_str::<DeviceConfig>(&written).unwrap(), long);
        for (bad, says) in [
            ("tpu", "tpu"),
            ("use: cuda\ntensorrt: {fp61: true}\n", "unknown field `fp61`"),
            ("use: cuda\ncuda: {arena_strategy: huge}\n", "huge"),
            ("[cuda]", "device must be a device name"),
        ] {
            let error = serde_yaml::from_str::<DeviceConfig>(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn tensorrt_gets_exactly_these_options() {
        let options = TensorRtOptions {
            fp16: true,
            workspace_mb: 2048,
            builder_optimization_level: 4,
            max_batch: 16,
            ..TensorRtOptions::default()
        };
        let profile = tensorrt_profile(
            &[image_input(vec![-1, 3, -1, -1], &["batch", "", "height", "width"])],
            &[("height".into(), 480), ("width".into(), 640)],
            &options,
        );
        let pairs = tensorrt_options(1, &options, Some(Path::new("/srv/app/.inferx/trt-cache/abc")), profile.as_ref());
        let expected: Vec<(&str, String)> = [
            ("device_id", "1"),
            ("trt_fp16_enable", "1"),
            ("trt_builder_optimization_level", "4"),
            ("trt_max_workspace_size", "2147483648"),
            ("trt_engine_cache_enable", "1"),
            ("trt_engine_cache_path", "/srv/app/.inferx/trt-cache/abc"),
            ("trt_timing_cache_enable", "1"),
            ("trt_timing_cache_path", "/srv/app/.inferx/trt-cache/abc"),
            ("trt_profile_min_shapes", "images:1x3x480x640"),
            ("trt_profile_opt_shapes", "images:1x3x480x640"),
            ("trt_profile_max_shapes", "images:16x3x480x640"),
        ]
        .map(|(key, value)| (key, value.to_string()))
        .to_vec();
        assert_eq!(pairs, expected);
        // Defaults, no cache, a fixed model: only the device and the builder's defaults.
        let fixed = tensorrt_profile(&[image_input(vec![1, 3, 640, 640], &[])], &[], &TensorRtOptions::default());
        assert_eq!(fixed, None, "nothing to profile");
        assert_eq!(
            tensorrt_options(0, &TensorRtOptions::default(), None, None),
            [("device_id", "0"), ("trt_fp16_enable", "0"), ("trt_builder_optimization_level", "3")]
                .map(|(key, value)| (key, value.to_string()))
        );
    }

    #[test]
    fn a_profile_needs_a_size_for_every_free_axis() {
        let options = TensorRtOptions::default();
        // Image sizes that vary (fit_multiple): TensorRT is left to build for what it sees.
        let varying = image_input(vec![1, 3, -1, -1], &["", "", "h", "w"]);
        assert_eq!(tensorrt_profile(&[varying], &[], &options), None);
        // A batch axis alone.
        let batch = image_input(vec![-1, 3, 320, 320], &["N", "", "", ""]);
        let profile = tensorrt_profile(&[batch], &[], &options).unwrap();
        assert_eq!((profile.min.as_str(), profile.max.as_str()), ("images:1x3x320x320", "images:8x3x320x320"));
    }

    #[test]
    fn cuda_gets_exactly_these_options() {
        let options = CudaOptions {
            memory_limit_mb: 4096,
            arena_strategy: ArenaStrategy::SameAsRequested,
            cudnn_conv_algo_search: ConvAlgorithmSearch::Heuristic,
            cuda_graph: true,
        };
        let expected: Vec<(&str, String)> = [
            ("device_id", "2"),
            ("gpu_mem_limit", "4294967296"),
            ("arena_extend_strategy", "kSameAsRequested"),
            ("cudnn_conv_algo_search", "HEURISTIC"),
            ("enable_cuda_graph", "1"),
        ]
        .map(|(key, value)| (key, value.to_string()))
        .to_vec();
        assert_eq!(cuda_options(2, &options), expected);
        assert_eq!(
            cuda_options(0, &CudaOptions::default()),
            [
                ("device_id", "0"),
                ("arena_extend_strategy", "kNextPowerOfTwo"),
                ("cudnn_conv_algo_search", "EXHAUSTIVE"),
                ("enable_cuda_graph", "0")
            ]
            .map(|(key, value)| (key, value.to_string()))
        );
    }

    #[test]
    fn impossible_combinations_are_named_by_their_key() {
        assert!(device_problems(&DeviceConfig::default(), 8, false).is_empty());
        let problems = |edit: &dyn Fn(&mut DeviceConfig), max_batch_size: usize, varying: bool| {
            let mut config = DeviceConfig::default();
            edit(&mut config);
            device_problems(&config, max_batch_size, varying).join("; ")
        };
        let said = problems(&|_| {}, 16, false);
        assert!(said.contains("device.tensorrt.max_batch (8) is below server.batching.max_batch_size (16)"), "{said}");
        let said = problems(&|config| config.tensorrt.builder_optimization_level = 6, 1, false);
        assert!(said.contains("device.tensorrt.builder_optimization_level must be between 0 and 5"), "{said}");
        let said = problems(&|config| config.tensorrt.opt_batch = 9, 1, false);
        assert!(said.contains("device.tensorrt.min_batch (1) <= opt_batch (9) <= max_batch (8)"), "{said}");
        let said = problems(&|config| config.tensorrt.workspace_mb = 4 << 30, 1, false);
        assert!(said.contains("device.tensorrt.workspace_mb"), "{said}");
        let said = problems(&|config| config.tensorrt.cache_dir = " ".into(), 1, false);
        assert!(said.contains("device.tensorrt.cache_dir is empty"), "{said}");
        let said = problems(&|config| config.cuda.cuda_graph = true, 4, false);
        assert!(said.contains("device.cuda.cuda_graph") && said.contains("max_batch_size is 4"), "{said}");
        let said = problems(&|config| config.cuda.cuda_graph = true, 1, true);
        assert!(said.contains("device.cuda.cuda_graph") && said.contains("fit_multiple"), "{said}");
        let said = problems(&|config| config.cuda.memory_limit_mb = 4, 1, false);
        assert!(said.contains("device.cuda.memory_limit_mb is 4 MiB"), "{said}");
    }
}

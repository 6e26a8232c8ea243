//! Sessions: provider choice through a simulated probe on the real runtime, sharing across
//! threads, batches equal to single runs.

use std::sync::Arc;

use image::DynamicImage;
use inferx_runtime::{
    device::{GpuInfo, GpuVendor, HardwareProbe},
    results::PredictionOutput,
    session::{Engine, SessionOptions},
    Device, Pipeline, PipelineOptions, TaskKind,
};

use crate::support::*;

/// A machine that claims an NVIDIA GPU and a CUDA build, while the loaded runtime is CPU-only:
/// `auto` plans CUDA first, registration fails for real, and the session lands on the CPU.
struct ClaimsCuda;

impl HardwareProbe for ClaimsCuda {
    fn ort_providers(&self) -> Vec<String> {
        vec!["CUDAExecutionProvider".into(), "CPUExecutionProvider".into()]
    }
    fn gpus(&self) -> Vec<GpuInfo> {
        vec![GpuInfo { name: "Simulated L4".into(), vendor: GpuVendor::Nvidia, backend: "Vulkan".into() }]
    }
}

#[test]
fn a_planned_provider_that_fails_to_register_falls_back_to_cpu_with_the_reason() {
    inferx_runtime::library::ensure_initialized(None).expect("ONNX Runtime (run `inferx runtime install`)");
    let engine = Engine::load_with_probe(detector(), &SessionOptions::default(), &ClaimsCuda).unwrap();
    assert_eq!(engine.chain().describe(), "cuda → cpu");
    assert_eq!(engine.device(), Device::Cpu);
    let skipped: Vec<&str> = engine.fallbacks().iter().map(|fallback| fallback.device.as_str()).collect();
    assert_eq!(skipped, ["cuda"]);
    assert!(engine.fallbacks()[0].reason.to_lowercase().contains("cuda"), "{:?}", engine.fallbacks());
}

#[test]
fn strict_auto_never_fails_but_strict_cuda_does() {
    inferx_runtime::library::ensure_initialized(None).unwrap();
    let strict_cuda = SessionOptions { device: Device::Cuda(0), strict_device: true, ..SessionOptions::default() };
    let error = Engine::load_with_probe(detector(), &strict_cuda, &ClaimsCuda).unwrap_err();
    assert!(matches!(error, inferx_runtime::Error::DeviceUnavailable { .. }), "{error}");
}

#[test]
fn one_pipeline_serves_many_threads_with_identical_results() {
    let pipeline = Arc::new(Pipeline::load(detector(), PipelineOptions::for_task(TaskKind::Detection)).unwrap());
    let image = Arc::new(image::open(images().join("astronaut.png")).unwrap());
    let expected = pipeline.predict(&image).unwrap().output;
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (pipeline, image) = (Arc::clone(&pipeline), Arc::clone(&image));
            std::thread::spawn(move || (0..3).map(|_| pipeline.predict(&image).unwrap().output).collect::<Vec<_>>())
        })
        .collect();
    for handle in handles {
        for output in handle.join().unwrap() {
            assert_eq!(output, expected);
        }
    }
}

#[test]
fn a_batch_gives_the_same_detections_as_single_images() {
    let pipeline = Pipeline::load(
        detector(),
        PipelineOptions { input_size: Some(320), ..PipelineOptions::for_task(TaskKind::Detection) },
    )
    .unwrap();
    let photos: Vec<DynamicImage> = ["astronaut.png", "camera.png", "coffee.png"]
        .iter()
        .map(|name| image::open(images().join(name)).unwrap())
        .collect();
    let batch = pipeline.predict_batch(&photos).unwrap();
    assert_eq!(batch.len(), 3);
    for (photo, batched) in photos.iter().zip(&batch) {
        let single = pipeline.predict(photo).unwrap();
        let (PredictionOutput::Detection { detections: a }, PredictionOutput::Detection { detections: b }) =
            (&single.output, &batched.output)
        else {
            panic!("detections expected")
        };
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(b) {
            assert_eq!(a.class_id, b.class_id);
            assert!((a.score - b.score).abs() < 1e-4 && (a.bbox.x1 - b.bbox.x1).abs() < 0.05);
        }
    }
}

#[test]
fn a_changed_model_is_refused_when_a_sha256_is_expected() {
    let options =
        PipelineOptions { expected_sha256: Some("00".repeat(32)), ..PipelineOptions::for_task(TaskKind::Detection) };
    let error = Pipeline::load(detector(), options).unwrap_err().to_string();
    assert!(error.contains("sha256") && error.contains("update model.sha256"), "{error}");
}

#[test]
fn labels_that_do_not_match_the_model_classes_are_refused() {
    let labels: Vec<String> = (0..17).map(|index| format!("class-{index}")).collect();
    let options = PipelineOptions { labels: Some(labels), ..PipelineOptions::for_task(TaskKind::Detection) };
    let error = Pipeline::load(detector(), options).unwrap_err().to_string();
    assert!(error.contains("17 labels are given, but the model scores 18 classes"), "{error}");
}

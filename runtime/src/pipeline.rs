//! The end-to-end pipeline: decode → preprocess → run → decode outputs.

use std::{path::Path, sync::Mutex, time::Instant};

use image::DynamicImage;
use serde::Serialize;

use crate::{
    model::{info::ModelInfo, signature::SignatureCheck},
    preprocess::{self, ImageLimits, PreprocessConfig, Preprocessor, ResizeMode, Scratch, Transform},
    results::{Prediction, Timings},
    session::{Engine, SessionOptions},
    tasks::{self, DecodeOptions, DetectionLayout, ScoreKind},
    Device, Error, Result, TaskKind,
};

/// How to build a [`Pipeline`]. `None` fields are derived from the model and the task.
///
/// Start from [`PipelineOptions::for_task`] (or `Default`, which guesses the task from the
/// model) and override fields with struct update syntax:
///
/// ```
/// use inferx_runtime::{Device, PipelineOptions, TaskKind};
///
/// let options = PipelineOptions {
///     top_k: Some(3),
///     labels: Some(vec!["cat".into(), "dog".into(), "bird".into()]),
///     ..PipelineOptions::for_task(TaskKind::Classification).with_device("cuda:1".parse()?)
/// };
/// assert_eq!(options.task, Some(TaskKind::Classification));
/// assert_eq!(options.session.device, Device::Cuda(1));
/// assert_eq!(options.confidence, None); // the task's default (see `TaskKind::defaults`)
/// # Ok::<(), inferx_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    /// The task; guessed from the model when `None`.
    pub task: Option<TaskKind>,
    /// Session and device options.
    pub session: SessionOptions,
    /// Full preprocessing configuration; derived from the task and model when `None`.
    pub input: Option<PreprocessConfig>,
    /// Square input size for models with dynamic height and width (ignored when `input` is set).
    pub input_size: Option<u32>,
    /// Score threshold.
    pub confidence: Option<f32>,
    /// NMS IoU threshold.
    pub iou: Option<f32>,
    /// Detections kept per image.
    pub max_detections: Option<usize>,
    /// Classes reported by classification.
    pub top_k: Option<usize>,
    /// Class-agnostic NMS.
    pub agnostic_nms: bool,
    /// Detection layout.
    pub layout: DetectionLayout,
    /// Classifier score kind.
    pub scores: ScoreKind,
    /// Class names; read from the model's metadata when `None`.
    pub labels: Option<Vec<String>>,
    /// Keep anomaly maps in results.
    pub keep_anomaly_map: bool,
    /// Image decoding limits.
    pub limits: ImageLimits,
    /// Expected sha256 of the model file; a mismatch refuses to load.
    pub expected_sha256: Option<String>,
    /// A detached signature the model must carry; a missing or invalid one refuses to load.
    pub signature: Option<SignatureCheck>,
}

impl PipelineOptions {
    /// Defaults for a task.
    pub fn for_task(task: TaskKind) -> Self {
        PipelineOptions { task: Some(task), ..Default::default() }
    }

    /// Sets the device.
    pub fn with_device(mut self, device: Device) -> Self {
        self.session.device = device;
        self
    }

    /// Records that the model's sha256 and signature have just been checked: they are dropped
    /// from the options (further sessions of the same file skip them) and the verified sha256
    /// keys the graph cache, so the file is not hashed again.
    pub(crate) fn mark_model_verified(&mut self) {
        if let Some(verified) = self.expected_sha256.take() {
            self.session.model_sha256.get_or_insert_with(|| verified.trim().to_ascii_lowercase());
        }
        self.signature = None;
    }
}

/// Kept at its former path; its home is [`crate::tasks`].
pub use crate::tasks::default_preprocess;

/// Summary of a loaded pipeline, for `info` commands and `/model/info`.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineInfo {
    /// The task.
    pub task: TaskKind,
    /// The device in use.
    pub device: String,
    /// The provider chain planned.
    pub chain: String,
    /// Providers skipped, with reasons.
    pub fallbacks: Vec<crate::session::Fallback>,
    /// Model facts.
    pub model: ModelInfo,
    /// Preprocessing in use.
    pub input: PreprocessConfig,
    /// Class names.
    pub labels: Vec<String>,
    /// Session creation time, milliseconds.
    pub load_ms: f64,
    /// ONNX Runtime version.
    pub onnxruntime: String,
}

/// A loaded model ready to predict. `Send + Sync`; share it behind an `Arc`.
///
/// Build one with [`Pipeline::load`] (a model path and [`PipelineOptions`]),
/// [`Pipeline::from_config_file`] (a project's `inferx.yaml`) or [`Pipeline::from_engine`];
/// then call [`predict_path`](Pipeline::predict_path), [`predict_bytes`](Pipeline::predict_bytes),
/// [`predict`](Pipeline::predict) or [`predict_batch`](Pipeline::predict_batch).
///
/// ```no_run
/// use std::sync::Arc;
/// use inferx_runtime::{Pipeline, PipelineOptions, TaskKind};
///
/// # fn main() -> inferx_runtime::Result<()> {
/// let options = PipelineOptions::for_task(TaskKind::Classification);
/// let pipeline = Arc::new(Pipeline::load("models/resnet50.onnx", options)?);
/// pipeline.warm_up()?;
/// let workers: Vec<_> = ["a.jpg", "b.jpg"]
///     .into_iter()
///     .map(|path| {
///         let pipeline = Arc::clone(&pipeline);
///         std::thread::spawn(move || pipeline.predict_path(path))
///     })
///     .collect();
/// for worker in workers {
///     let prediction = worker.join().expect("worker panicked")?;
///     println!("{:?} in {:.1} ms", prediction.output, prediction.timings.inference_ms);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Pipeline {
    engine: Engine,
    task: TaskKind,
    preprocessor: Preprocessor,
    decode: DecodeOptions,
    limits: ImageLimits,
    dynamic_batch: bool,
    /// Reusable buffers: one is taken per call so concurrent callers never wait on each other.
    scratch: Mutex<Vec<(Scratch, Vec<f32>)>>,
}

impl Pipeline {
    /// Loads a model and prepares everything for prediction: checks `expected_sha256` and the
    /// `signature` when set, fixes the input's free height and width to the size the
    /// preprocessing produces (unless [`SessionOptions::dimension_overrides`] is set; sizes
    /// that vary and the custom task keep them free), creates the session on the device chain
    /// ([`Engine::load`]) and checks that the model fits the task.
    ///
    /// ```no_run
    /// use inferx_runtime::{Device, Pipeline, PipelineOptions, TaskKind};
    ///
    /// # fn main() -> inferx_runtime::Result<()> {
    /// let options = PipelineOptions::for_task(TaskKind::Detection).with_device(Device::TensorRt(0));
    /// let pipeline = Pipeline::load("models/yolov8n.onnx", options)?;
    /// for skipped in pipeline.engine().fallbacks() {
    ///     eprintln!("{} skipped: {}", skipped.device, skipped.reason);
    /// }
    /// let input = pipeline.preprocess_config();
    /// println!("{} labels, input {}x{}", pipeline.labels().len(), input.width, input.height);
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(model: impl AsRef<Path>, mut options: PipelineOptions) -> Result<Pipeline> {
        let model = model.as_ref();
        prepare_model(model, &mut options)?;
        let engine = Engine::load(model, &options.session)?;
        Pipeline::from_engine(engine, options)
    }

    /// Wraps an already loaded engine (e.g. one created with a simulated probe).
    pub fn from_engine(engine: Engine, options: PipelineOptions) -> Result<Pipeline> {
        let info = engine.info().clone();
        let task = options.task.unwrap_or_else(|| info.guess_task());
        let image_input = check_task_fit(&info, task)?;
        let preprocess = resolve_preprocess(&info, task, image_input, &options);
        let defaults = DecodeOptions::for_task(task);
        let labels = options.labels.or_else(|| info.labels()).unwrap_or_default();
        if let Some(classes) = info.class_count(task).filter(|classes| !labels.is_empty() && *classes != labels.len()) {
            return Err(Error::config(format!(
                "{} labels are given, but the model scores {classes} classes; list one label per class, in the model's order (`inferx inspect` shows the names the model carries)",
                labels.len()
            )));
        }
        let decode = DecodeOptions {
            task,
            confidence: options.confidence.unwrap_or(defaults.confidence),
            iou: options.iou.unwrap_or(defaults.iou),
            max_detections: options.max_detections.unwrap_or(defaults.max_detections),
            top_k: options.top_k.unwrap_or(defaults.top_k),
            agnostic_nms: options.agnostic_nms,
            layout: options.layout,
            scores: options.scores,
            labels,
            keep_anomaly_map: options.keep_anomaly_map,
        };
        let dynamic_batch = info.inputs[0].shape.first().is_some_and(|&dim| dim < 0);
        Ok(Pipeline {
            engine,
            task,
            preprocessor: Preprocessor::new(preprocess),
            decode,
            limits: options.limits,
            dynamic_batch,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// The task.
    pub fn task(&self) -> TaskKind {
        self.task
    }

    /// Whether the model takes a dynamic batch axis (several images in one run).
    pub fn batches_dynamically(&self) -> bool {
        self.dynamic_batch
    }

    /// The engine (session, device, model facts).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Class names in use.
    pub fn labels(&self) -> &[String] {
        &self.decode.labels
    }

    /// Decoding options in use.
    pub fn decode_options(&self) -> &DecodeOptions {
        &self.decode
    }

    /// Preprocessing in use.
    pub fn preprocess_config(&self) -> &PreprocessConfig {
        self.preprocessor.config()
    }

    /// Image limits in use.
    pub fn limits(&self) -> &ImageLimits {
        &self.limits
    }

    /// A summary for display.
    pub fn info(&self) -> PipelineInfo {
        PipelineInfo {
            task: self.task,
            device: self.engine.device().to_string(),
            chain: self.engine.chain().describe(),
            fallbacks: self.engine.fallbacks().to_vec(),
            model: self.engine.info().clone(),
            input: self.preprocessor.config().clone(),
            labels: self.decode.labels.clone(),
            load_ms: self.engine.load_time().as_secs_f64() * 1e3,
            onnxruntime: crate::library::loaded().map(|runtime| runtime.version.clone()).unwrap_or_default(),
        }
    }

    /// Runs once on a blank image so the first real request does not pay for lazy set-up.
    pub fn warm_up(&self) -> Result<()> {
        let config = self.preprocessor.config();
        let blank = DynamicImage::new_rgb8(config.width.max(32), config.height.max(32));
        self.predict(&blank).map(|_| ())
    }

    /// The model's first input for one image, preprocessed as configured: `(input name,
    /// shape, values)`. For custom pipelines that run the model themselves.
    pub fn image_tensor(&self, image: &DynamicImage) -> Result<(String, Vec<usize>, Vec<f32>)> {
        let (width, height) = self.input_size((image.width(), image.height()))?;
        let mut values = vec![0.0; 3 * width as usize * height as usize];
        let (mut scratch, tensor) = self.take_scratch();
        let filled = self.preprocessor.fill(image, &mut scratch, &mut values);
        self.return_scratch(scratch, tensor);
        filled?;
        Ok((self.engine.input().name.clone(), vec![1, 3, height as usize, width as usize], values))
    }

    /// Reads, decodes and predicts one image file.
    pub fn predict_path(&self, path: impl AsRef<Path>) -> Result<Prediction> {
        let started = Instant::now();
        let image = preprocess::load_image(path.as_ref(), &self.limits)?;
        self.predict_decoded(&image, started.elapsed()).map_err(|error| error.for_image_file(path.as_ref()))
    }

    /// Predicts an image that took `decode_time` to read and decode, and reports that time.
    pub(crate) fn predict_decoded(&self, image: &DynamicImage, decode_time: std::time::Duration) -> Result<Prediction> {
        let mut prediction = self.predict(image)?;
        prediction.timings.decode_ms = decode_time.as_secs_f64() * 1e3;
        Ok(prediction)
    }

    /// Predicts image files in order, decoding the next ones on another thread while the
    /// model runs on this one, so file reading and decoding overlap inference. At most two
    /// decoded images wait at a time. `each` gets every file's index in `paths` and its
    /// decoded image with its prediction, or the error for that file alone.
    ///
    /// ```no_run
    /// use inferx_runtime::Pipeline;
    ///
    /// # fn main() -> inferx_runtime::Result<()> {
    /// let pipeline = Pipeline::from_config_file("inferx.yaml")?;
    /// let paths = inferx_runtime::inputs::collect_images(&["photos/".into()])?;
    /// pipeline.predict_files(&paths, |index, result| match result {
    ///     Ok((_image, prediction)) => println!("{}: {} found", paths[index].display(), prediction.detections().len()),
    ///     Err(error) => eprintln!("{}: {error}", paths[index].display()),
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub fn predict_files(
        &self,
        paths: &[std::path::PathBuf],
        mut each: impl FnMut(usize, Result<(DynamicImage, Prediction)>),
    ) {
        std::thread::scope(|scope| {
            let (decoded, ready) = std::sync::mpsc::sync_channel(2);
            scope.spawn(move || {
                for path in paths {
                    let started = Instant::now();
                    let image = preprocess::load_image(path, &self.limits);
                    // The receiver only stops early if `each` panicked.
                    if decoded.send((image, started.elapsed())).is_err() {
                        break;
                    }
                }
            });
            for (index, (image, decode_time)) in ready.into_iter().enumerate() {
                let result = image.and_then(|image| match self.predict_decoded(&image, decode_time) {
                    Ok(prediction) => Ok((image, prediction)),
                    Err(error) => Err(error.for_image_file(&paths[index])),
                });
                each(index, result);
            }
        });
    }

    /// Decodes and predicts an encoded image held in memory.
    pub fn predict_bytes(&self, bytes: &[u8]) -> Result<Prediction> {
        let started = Instant::now();
        let image = preprocess::decode_image(bytes, &self.limits)?;
        self.predict_decoded(&image, started.elapsed())
    }

    /// [`Pipeline::predict_bytes`] on two cores where it helps: a PNG (8-bit RGB or gray, not
    /// interlaced) is preprocessed on a helper thread, block of rows by block of rows, while
    /// this thread decodes it, so the input is ready about when decoding ends instead of
    /// 0.3 ms later (512×512 to 320×320). The prediction is the same. Meant for a lone image on
    /// an otherwise idle machine, such as a server's request when no other is running: the
    /// helper takes a core for as long as decoding lasts. Other images, and preprocessing that
    /// needs the whole image first (`center_crop`, `short_side_crop`), take the one-core path.
    ///
    /// `timings.decode_ms` is the decoding; `timings.preprocess_ms` the preprocessing left
    /// once decoding ended. The helper takes one image at a time: a call made while it is busy
    /// with another takes the one-core path.
    pub fn predict_bytes_overlapped(&self, bytes: &[u8]) -> Result<Prediction> {
        let opening = Instant::now();
        let png = crate::preprocess::overlap::PngRows::open(bytes, &self.limits)
            .filter(|png| self.preprocessor.fills_by_rows(png.size().0, png.size().1));
        let Some(png) = png else {
            return self.predict_bytes(bytes);
        };
        let open_time = opening.elapsed();
        let input_size = self.input_size(png.size())?;
        let (scratch, mut tensor) = self.take_scratch();
        tensor.resize(3 * input_size.0 as usize * input_size.1 as usize, 0.0);
        let started = Instant::now();
        let Some(filled) = png.fill_while_decoding(&self.preprocessor, scratch, tensor) else {
            // The pixel data is malformed, which the ordinary path reports, or the helper is busy
            // with another image or missing.
            return self.predict_bytes(bytes);
        };
        let crate::preprocess::overlap::Filled { transform, at, decode_time, scratch, tensor } = filled;
        let preprocess_ms = at.saturating_duration_since(started + decode_time).as_secs_f64() * 1e3;
        let result = transform.and_then(|transform| {
            let mut predictions = self.run_filled(&tensor, &[transform], input_size, &self.decode, preprocess_ms)?;
            let mut prediction = predictions.remove(0);
            prediction.timings.decode_ms = (open_time + decode_time).as_secs_f64() * 1e3;
            Ok(prediction)
        });
        self.return_scratch(scratch, tensor);
        result
    }

    /// Decodes and predicts encoded images: the one entry point for images that arrive
    /// encoded, alone or several at once (a server's requests). `each` gets every image's
    /// index in `images` with its prediction or its own error, and, for an image that asked
    /// for it ([`EncodedImage::keep_decoded`]), the decoded image (to draw on). Returns how
    /// many images reached the model.
    ///
    /// `load` is what only the caller knows: with [`Load::Idle`] (nothing else runs on the
    /// machine) a lone image is decoded and preprocessed on two cores at once
    /// ([`Pipeline::predict_bytes_overlapped`]); otherwise, and for several images, each is
    /// decoded on this thread and they run together ([`Pipeline::predict_batch`]). Either
    /// way an image's `timings` say the same things: `decode_ms` its decoding, the rest as
    /// for any prediction. An image that cannot be decoded, or whose model input would be
    /// over the limits, gets an [`Error::Image`] and does not reach the model; a failed run
    /// gives every image in it the run's error.
    ///
    /// ```no_run
    /// use inferx_runtime::{pipeline::{EncodedImage, Load}, Pipeline};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pipeline = Pipeline::from_config_file("inferx.yaml")?;
    /// let (a, b) = (std::fs::read("a.png")?, std::fs::read("b.jpg")?);
    /// let images = [EncodedImage::new(&a), EncodedImage { keep_decoded: true, ..EncodedImage::new(&b) }];
    /// let run = pipeline.predict_encoded(&images, Load::Busy, |index, result, decoded| match result {
    ///     Ok(prediction) => println!("{index}: {:?} (decoded kept: {})", prediction.output, decoded.is_some()),
    ///     Err(error) => eprintln!("{index}: {error}"),
    /// });
    /// println!("{run} images ran");
    /// # Ok(())
    /// # }
    /// ```
    pub fn predict_encoded(
        &self,
        images: &[EncodedImage<'_>],
        load: Load,
        mut each: impl FnMut(usize, Result<Prediction>, Option<&DynamicImage>),
    ) -> usize {
        if let ([image], Load::Idle) = (images, load) {
            if !image.keep_decoded {
                let result = self.predict_bytes_overlapped(image.bytes);
                let ran = !matches!(result, Err(Error::Image { .. }));
                each(0, result, None);
                return usize::from(ran);
            }
        }
        let mut decoded = Vec::with_capacity(images.len());
        // Each decoded image's index in `images` and decoding time.
        let mut decoded_from = Vec::with_capacity(images.len());
        for (index, image) in images.iter().enumerate() {
            let started = Instant::now();
            let checked = preprocess::decode_image(image.bytes, &self.limits)
                .and_then(|decoded| self.input_size((decoded.width(), decoded.height())).map(|_| decoded));
            match checked {
                Ok(image) => {
                    decoded.push(image);
                    decoded_from.push((index, started.elapsed()));
                }
                Err(error) => each(index, Err(error), None),
            }
        }
        if decoded.is_empty() {
            return 0;
        }
        match self.predict_batch(&decoded) {
            Ok(predictions) => {
                for ((mut prediction, (index, decode_time)), image) in
                    predictions.into_iter().zip(&decoded_from).zip(&decoded)
                {
                    prediction.timings.decode_ms = decode_time.as_secs_f64() * 1e3;
                    each(*index, Ok(prediction), images[*index].keep_decoded.then_some(image));
                }
            }
            Err(error) => match decoded_from.as_slice() {
                [(index, _)] => each(*index, Err(error), None),
                // `Error` is not `Clone`: each image of the run gets its text.
                _ => {
                    let reason = error.to_string();
                    for (index, _) in &decoded_from {
                        each(*index, Err(Error::Inference(reason.clone())), None);
                    }
                }
            },
        }
        decoded.len()
    }

    /// [`Preprocessor::input_size_within_limits`] under this pipeline's limits, once the
    /// buffers kept at the image's own size are checked against `limits.max_alloc_bytes` too:
    /// an RGB copy where preprocessing converts (3 bytes a pixel; a gray image decodes to one),
    /// and the outputs mapped back onto the image (segmentation: a class map and probabilities,
    /// 6 bytes a pixel; anomaly: a heat map, 4).
    pub(crate) fn input_size(&self, (width, height): (u32, u32)) -> Result<(u32, u32)> {
        let per_pixel = tasks::bytes_per_source_pixel(self.task);
        let needed = width as u64 * height as u64 * per_pixel;
        if needed > self.limits.max_alloc_bytes {
            return Err(Error::image_in_memory(
                format!(
                    "a {width}x{height} image needs {needed} bytes at its own size for a {} model ({per_pixel} a \
                     pixel), over the {} byte limit (limits.max_alloc_bytes); resize it first",
                    self.task, self.limits.max_alloc_bytes
                ),
                crate::error::ImageProblem::TooLarge,
            ));
        }
        self.preprocessor.input_size_within_limits(width, height, &self.limits)
    }

    /// Predicts one decoded image.
    pub fn predict(&self, image: &DynamicImage) -> Result<Prediction> {
        let mut predictions = self.predict_batch(std::slice::from_ref(image))?;
        Ok(predictions.remove(0))
    }

    /// [`Pipeline::predict`] with another score threshold than the pipeline's: a server's
    /// tracked stream lowers it as `predict --track` does ([`sequence::tracking_confidence`](crate::sequence::tracking_confidence)),
    /// on the session its requests share.
    pub fn predict_with_confidence(&self, image: &DynamicImage, confidence: f32) -> Result<Prediction> {
        let decode = DecodeOptions { confidence, ..self.decode.clone() };
        let mut predictions = self.predict_batch_decoded(std::slice::from_ref(image), &decode)?;
        Ok(predictions.remove(0))
    }

    /// Predicts several images: one run when the model takes a dynamic batch, else one run
    /// per image. Results are in input order.
    ///
    /// ```no_run
    /// use inferx_runtime::{image, Pipeline};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pipeline = Pipeline::from_config_file("inferx.yaml")?;
    /// let images = vec![image::open("a.jpg")?, image::open("b.jpg")?];
    /// let predictions = pipeline.predict_batch(&images)?;
    /// assert_eq!(predictions.len(), images.len());
    /// println!("one run for all: {}", pipeline.batches_dynamically());
    /// # Ok(())
    /// # }
    /// ```
    pub fn predict_batch(&self, images: &[DynamicImage]) -> Result<Vec<Prediction>> {
        self.predict_batch_decoded(images, &self.decode)
    }

    /// [`Pipeline::predict_batch`], the outputs decoded with `decode`.
    fn predict_batch_decoded(&self, images: &[DynamicImage], decode: &DecodeOptions) -> Result<Vec<Prediction>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        // One run per image when the model's batch is fixed or each image has its own size.
        if images.len() > 1 && (!self.dynamic_batch || self.preprocessor.varies_with_image()) {
            return images
                .iter()
                .map(|image| Ok(self.predict_batch_decoded(std::slice::from_ref(image), decode)?.remove(0)))
                .collect();
        }
        let (mut scratch, mut tensor) = self.take_scratch();
        let result = self.run_batch(images, decode, &mut scratch, &mut tensor);
        self.return_scratch(scratch, tensor);
        result
    }

    fn run_batch(
        &self,
        images: &[DynamicImage],
        decode: &DecodeOptions,
        scratch: &mut Scratch,
        tensor: &mut Vec<f32>,
    ) -> Result<Vec<Prediction>> {
        let started = Instant::now();
        let (width, height) = self.input_size((images[0].width(), images[0].height()))?;
        let item_len = 3 * width as usize * height as usize;
        tensor.resize(item_len * images.len(), 0.0);
        let transforms = images
            .iter()
            .zip(tensor.chunks_exact_mut(item_len))
            .map(|(image, slot)| self.preprocessor.fill(image, scratch, slot))
            .collect::<Result<Vec<Transform>>>()?;
        let preprocess_ms = started.elapsed().as_secs_f64() * 1e3 / images.len() as f64;
        self.run_filled(tensor, &transforms, (width, height), decode, preprocess_ms)
    }

    /// Runs the model on `tensor`, filled with one input of `input_size` per transform, and
    /// decodes each item's outputs with `decode`.
    fn run_filled(
        &self,
        tensor: &[f32],
        transforms: &[Transform],
        input_size: (u32, u32),
        decode: &DecodeOptions,
        preprocess_ms: f64,
    ) -> Result<Vec<Prediction>> {
        let shape = [transforms.len(), 3, input_size.1 as usize, input_size.0 as usize];
        let run_started = Instant::now();
        let mut inference_ms = 0.0;
        self.engine.run_with(&shape, tensor, |outputs| {
            inference_ms = run_started.elapsed().as_secs_f64() * 1e3 / transforms.len() as f64;
            transforms
                .iter()
                .enumerate()
                .map(|(index, transform)| {
                    let post_started = Instant::now();
                    let items = tasks::batch_item(outputs, index)?;
                    let output = tasks::decode(&items, transform, input_size, decode)?;
                    Ok(Prediction {
                        width: transform.source_width,
                        height: transform.source_height,
                        output,
                        timings: Timings {
                            decode_ms: 0.0,
                            preprocess_ms,
                            inference_ms,
                            postprocess_ms: post_started.elapsed().as_secs_f64() * 1e3,
                        },
                    })
                })
                .collect()
        })
    }

    fn take_scratch(&self) -> (Scratch, Vec<f32>) {
        self.scratch.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop().unwrap_or_default()
    }

    /// Keeps the buffers for the next call, unless one grew past [`POOL_KEEP_BYTES`] for an
    /// unusually large image: that memory is given back instead of held for the process's life.
    fn return_scratch(&self, scratch: Scratch, tensor: Vec<f32>) {
        let tensor = if tensor.capacity() * std::mem::size_of::<f32>() > POOL_KEEP_BYTES { Vec::new() } else { tensor };
        let scratch = if scratch.image_buffer_bytes() > POOL_KEEP_BYTES { Scratch::default() } else { scratch };
        self.scratch.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((scratch, tensor));
    }
}

/// One encoded image for [`Pipeline::predict_encoded`].
#[derive(Debug, Clone, Copy)]
pub struct EncodedImage<'a> {
    /// The encoded image (PNG, JPEG, WebP, BMP, TIFF, GIF).
    pub bytes: &'a [u8],
    /// Hand the decoded image to the caller too (to draw the result on it). Such an image is
    /// decoded whole, never row by row on two cores.
    pub keep_decoded: bool,
}

impl<'a> EncodedImage<'a> {
    /// `bytes`, its decoded image not kept.
    pub fn new(bytes: &'a [u8]) -> Self {
        EncodedImage { bytes, keep_decoded: false }
    }
}

/// What the caller of [`Pipeline::predict_encoded`] knows of the machine: whether the images
/// are the only work running, so that a lone one may take a second core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Nothing else runs: a lone image may be decoded and preprocessed on two cores at once.
    Idle,
    /// Other work runs or waits: one core for these images.
    Busy,
}

/// Whatever predicts one decoded frame of a stream, for the frame loops
/// ([`sequence::detect_stream`](crate::sequence::detect_stream),
/// [`video::run_stream`](crate::video::run_stream) with the `video` feature): a [`Pipeline`]
/// itself (the CLI, a generated project's `predict`), or a server's handle that runs each
/// frame on the server's workers, beside its `/predict` requests. Called from an ordinary
/// (not async) thread, one frame at a time; it may block until the frame's result is ready.
pub trait FramePredictor {
    /// The model's task.
    fn task(&self) -> TaskKind;

    /// Predicts one decoded frame.
    fn predict(&self, image: &DynamicImage) -> Result<Prediction>;
}

impl FramePredictor for Pipeline {
    fn task(&self) -> TaskKind {
        Pipeline::task(self)
    }

    fn predict(&self, image: &DynamicImage) -> Result<Prediction> {
        Pipeline::predict(self, image)
    }
}

/// Pooled preprocessing buffers larger than this are freed after use rather than kept.
const POOL_KEEP_BYTES: usize = 64 << 20;

/// Checks that a model's signature fits `task`'s contract: an image input `[N, 3, H, W]`
/// (any inputs for `custom`) and outputs of the ranks the task decodes. Returns whether the
/// first input is an image.
///
/// ```
/// # use inferx_runtime::{model::info::{ModelInfo, TensorInfo}, pipeline::check_task_fit, TaskKind};
/// let tensor = |name: &str, shape: &[i64]| TensorInfo {
///     name: name.into(), dtype: "f32".into(), shape: shape.to_vec(), dimension_names: vec![],
/// };
/// let detector = ModelInfo {
///     file: "yolov8n.onnx".into(),
///     inputs: vec![tensor("images", &[1, 3, 640, 640])],
///     outputs: vec![tensor("output0", &[1, 84, 8400])],
///     opset: Some(17), producer: None, metadata: Default::default(),
/// };
/// assert!(check_task_fit(&detector, TaskKind::Detection).is_ok());
/// assert!(check_task_fit(&detector, TaskKind::Classification).is_err());
/// ```
pub fn check_task_fit(info: &ModelInfo, task: TaskKind) -> Result<bool> {
    let input = info
        .inputs
        .first()
        .ok_or_else(|| Error::TaskMismatch { task: task.to_string(), reason: "the model has no inputs".to_string() })?;
    // Custom models may take any tensors (fed raw with `Engine::run_tensors`).
    let image_input = input.shape.len() == 4 && (input.shape[1] < 0 || input.shape[1] == 3);
    if !image_input && task != TaskKind::Custom {
        return Err(Error::TaskMismatch {
            task: task.to_string(),
            reason: format!("image tasks need an input [N, 3, H, W], `{}` is {:?}", input.name, input.shape),
        });
    }
    check_outputs(info, task)?;
    Ok(image_input)
}

fn check_outputs(info: &ModelInfo, task: TaskKind) -> Result<()> {
    let ranks: Vec<usize> = info.outputs.iter().map(|output| output.shape.len()).collect();
    let fits = tasks::outputs_fit(task, &ranks);
    if fits {
        return Ok(());
    }
    let shapes: Vec<String> =
        info.outputs.iter().map(|output| format!("`{}` {:?}", output.name, output.shape)).collect();
    Err(Error::TaskMismatch {
        task: task.to_string(),
        reason: format!(
            "its outputs are {}; this looks like a `{}` model (`inferx inspect` shows the details; pass `--task {}`)",
            shapes.join(", "),
            info.guess_task(),
            info.guess_task()
        ),
    })
}

/// Gets a model ready for its sessions: checks its sha256 and signature when set (marking
/// the options verified), and hashes it for the graph cache's key (remembered for the
/// sessions), all while ONNX Runtime loads, since both take tens of milliseconds.
pub(crate) fn prepare_model(model: &Path, options: &mut PipelineOptions) -> Result<()> {
    if !model.is_file() {
        return Err(Error::ModelNotFound(model.to_path_buf()));
    }
    let (runtime, checked) = crate::library::load_while(options.session.library.as_deref(), || {
        verify_model_file(model, options)?;
        let session = &options.session;
        let cached = session.optimized_cache.is_some() && matches!(session.device, Device::Cpu | Device::Auto);
        if cached && options.expected_sha256.is_none() && session.model_sha256.is_none() {
            crate::session::graph_cache::model_sha256(model);
        }
        // Derived once: the pool's later sessions find them set.
        Ok::<_, Error>(session.dimension_overrides.is_none().then(|| fixed_input_dimensions(model, options)))
    });
    let derived = checked?;
    runtime?;
    options.mark_model_verified();
    if derived.is_some() {
        options.session.dimension_overrides = derived;
    }
    Ok(())
}

/// The preprocessing a pipeline uses for a model: the configured one (a fixed model input
/// wins over its size), or the task's default at the model's size, the configured square
/// size, or the task's default size, in that order.
fn resolve_preprocess(
    info: &ModelInfo,
    task: TaskKind,
    image_input: bool,
    options: &PipelineOptions,
) -> PreprocessConfig {
    let fixed = if image_input { info.inputs[0].fixed_dim(2).zip(info.inputs[0].fixed_dim(3)) } else { None };
    match options.input.clone() {
        Some(mut config) => {
            if let Some((height, width)) = fixed {
                config.width = width as u32;
                config.height = height as u32;
            }
            config
        }
        None => {
            let (height, width) = match (fixed, options.input_size) {
                (Some((height, width)), _) => (height as u32, width as u32),
                (None, Some(size)) => (size, size),
                (None, None) => info.input_size().unwrap_or((task.defaults().input_size, task.defaults().input_size)),
            };
            default_preprocess(task, width, height)
        }
    }
}

/// The symbolic height and width of the model's image input, fixed to the size every tensor
/// the pipeline builds will have, so that ONNX Runtime plans for concrete shapes (see
/// [`SessionOptions::dimension_overrides`]). None where sizes vary (rapidocr's `fit_multiple`,
/// the custom task's raw tensors), where a dimension has no name, or where the model cannot be
/// read without ONNX Runtime; the batch stays free for batching.
fn fixed_input_dimensions(model: &Path, options: &PipelineOptions) -> Vec<(String, i64)> {
    let Ok(info) = crate::model::onnx_proto::read_model_info(model) else {
        return Vec::new();
    };
    let task = options.task.unwrap_or_else(|| info.guess_task());
    if task == TaskKind::Custom || !check_task_fit(&info, task).unwrap_or(false) {
        return Vec::new();
    }
    let config = resolve_preprocess(&info, task, true, options);
    if config.resize == ResizeMode::FitMultiple {
        return Vec::new();
    }
    let input = &info.inputs[0];
    let symbol = |index: usize| {
        let free = input.shape.get(index).is_some_and(|&dim| dim <= 0);
        input.dimension_names.get(index).filter(|name| free && !name.is_empty()).cloned()
    };
    let (Some(height), Some(width)) = (symbol(2), symbol(3)) else {
        return Vec::new();
    };
    let batch = input.dimension_names.first();
    if batch == Some(&height) || batch == Some(&width) {
        return Vec::new();
    }
    if height == width {
        return if config.height == config.width { vec![(height, config.height as i64)] } else { Vec::new() };
    }
    vec![(height, config.height as i64), (width, config.width as i64)]
}

/// The checks [`Pipeline::load`] makes before ONNX Runtime reads the model: its sha256 and its
/// signature, each when the options ask for it. For tools that load the model another way.
pub fn verify_model_file(model: &Path, options: &PipelineOptions) -> Result<()> {
    if let Some(expected) = &options.expected_sha256 {
        verify_sha256(model, expected)?;
    }
    if let Some(check) = &options.signature {
        crate::model::signature::verify_model(model, check)?;
    }
    Ok(())
}

/// Kept at their former paths for projects generated by inferx 0.x; their home is
/// [`crate::model::file`].
pub use crate::model::file::{file_sha256, verify_sha256};

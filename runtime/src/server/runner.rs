//! Inference off the async threads: a bounded admission, a queue, worker threads, and
//! optional dynamic batching.
//!
//! Admission is a semaphore of `workers + max_queue` permits. A request that gets no permit is
//! answered 503 at once; a permit travels with its job and is released only when a worker is
//! done with it, so memory stays bounded even when clients give up (504) early.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::{metrics::Metrics, ApiError};
use crate::{
    annotate,
    preprocess::decode_image,
    tensor::{InputTensor, OutputTensor},
    Pipeline, Prediction,
};

/// What a worker is asked to do.
pub(crate) enum Work {
    /// Decode and predict one image; with `annotate`, also draw the result as a PNG.
    Predict { image: axum::body::Bytes, annotate: bool },
    /// Run the model on raw tensors (Open Inference Protocol).
    Tensors(Vec<InputTensor>),
}

/// What a worker answers.
pub(crate) enum Done {
    Prediction { prediction: Prediction, annotated: Option<Vec<u8>> },
    Tensors(Vec<OutputTensor>),
}

type Reply = oneshot::Sender<Result<Done, ApiError>>;

struct Job {
    work: Work,
    reply: Reply,
    _permit: OwnedSemaphorePermit,
    /// Its share of `server.memory_budget_bytes`, given back when the worker is done with it.
    _charge: OwnedSemaphorePermit,
}

/// The memory budget is counted in KiB, so that a charge fits a semaphore's `u32`.
const BUDGET_UNIT: u64 = 1024;

impl Work {
    /// The most bytes this work holds while queued and run: an image's body and what it takes
    /// to decode (capped at `max_alloc_bytes`: past it, decoding refuses the image), twice for
    /// an annotated one (the drawing is a copy); tensors in and out.
    fn bytes(&self, max_alloc_bytes: u64) -> u64 {
        match self {
            Work::Predict { image, annotate } => {
                let decode = crate::preprocess::decode_peak_bytes(image).unwrap_or(0).min(max_alloc_bytes);
                image.len() as u64 + decode * if *annotate { 2 } else { 1 }
            }
            Work::Tensors(inputs) => inputs.iter().map(|input| input.data.len() as u64 * 4 * 2).sum(),
        }
    }
}

/// The worker pool.
pub(crate) struct Runner {
    sender: SyncSender<Job>,
    admission: Arc<Semaphore>,
    /// `server.memory_budget_bytes`, in [`BUDGET_UNIT`]s.
    budget: Arc<Semaphore>,
    budget_units: u64,
    max_alloc_bytes: u64,
    metrics: Arc<Metrics>,
}

/// How the pool is sized and batches.
pub(crate) struct RunnerOptions {
    pub workers: usize,
    pub max_queue: usize,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub memory_budget_bytes: u64,
}

impl Runner {
    /// Starts `options.workers` threads sharing `pipelines` round-robin; a job that finds no
    /// other job running or queued runs on `solo` when there is one.
    pub fn start(
        pipelines: Vec<Arc<Pipeline>>,
        solo: Option<Arc<Pipeline>>,
        options: RunnerOptions,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Runner> {
        let capacity = options.workers + options.max_queue;
        let max_alloc_bytes = pipelines.first().map_or(u64::MAX, |pipeline| pipeline.limits().max_alloc_bytes);
        let budget_units = (options.memory_budget_bytes / BUDGET_UNIT).clamp(1, u64::from(u32::MAX));
        let (sender, receiver) = sync_channel(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        let running = Arc::new(AtomicUsize::new(0));
        for index in 0..options.workers {
            let worker = Worker {
                pipeline: pipelines[index % pipelines.len()].clone(),
                solo: solo.clone(),
                running: running.clone(),
                receiver: receiver.clone(),
                metrics: metrics.clone(),
                max_batch: options.max_batch.max(1),
                max_wait: options.max_wait,
            };
            std::thread::Builder::new().name(format!("inferx-worker-{index}")).spawn(move || worker.run())?;
        }
        Ok(Runner {
            sender,
            admission: Arc::new(Semaphore::new(capacity)),
            budget: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
            max_alloc_bytes,
            metrics,
        })
    }

    /// Queues `work` and waits for its result until `deadline`. A failure's cause is logged
    /// here, with the id of the request that waits for it.
    pub async fn submit(&self, work: Work, deadline: Duration) -> Result<Done, ApiError> {
        self.submit_inner(work, deadline).await.map_err(ApiError::disclosed)
    }

    async fn submit_inner(&self, work: Work, deadline: Duration) -> Result<Done, ApiError> {
        let Ok(permit) = self.admission.clone().try_acquire_owned() else {
            self.metrics.rejected.with_label_values(&["overloaded"]).inc();
            return Err(ApiError::overloaded("the server is at capacity (server.max_queue); retry shortly"));
        };
        // Charged before it is queued; beyond the budget, refused rather than let memory grow.
        let units = work.bytes(self.max_alloc_bytes).div_ceil(BUDGET_UNIT).clamp(1, self.budget_units) as u32;
        let Ok(charge) = self.budget.clone().try_acquire_many_owned(units) else {
            self.metrics.rejected.with_label_values(&["memory"]).inc();
            return Err(ApiError::overloaded(
                "the requests in progress hold the server's memory budget (server.memory_budget_bytes); retry shortly",
            ));
        };
        let (reply, answer) = oneshot::channel();
        self.metrics.queue_depth.inc();
        if self.sender.try_send(Job { work, reply, _permit: permit, _charge: charge }).is_err() {
            self.metrics.queue_depth.dec();
            return Err(ApiError::overloaded("the server is stopping"));
        }
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::internal("the inference worker stopped")),
            Err(_) => {
                self.metrics.rejected.with_label_values(&["timeout"]).inc();
                Err(ApiError::timeout(format!(
                    "no result within {} ms (server.request_timeout_ms)",
                    deadline.as_millis()
                )))
            }
        }
    }
}

struct Worker {
    pipeline: Arc<Pipeline>,
    solo: Option<Arc<Pipeline>>,
    /// Workers busy with jobs, shared by all workers.
    running: Arc<AtomicUsize>,
    receiver: Arc<Mutex<Receiver<Job>>>,
    metrics: Arc<Metrics>,
    max_batch: usize,
    max_wait: Duration,
}

impl Worker {
    fn run(self) {
        while let Some(jobs) = self.next_jobs() {
            self.metrics.queue_depth.sub(jobs.len() as i64);
            // A request that already timed out is not worth running.
            let live: Vec<Job> = jobs.into_iter().filter(|job| !job.reply.is_closed()).collect();
            if live.is_empty() {
                continue;
            }
            let (pipeline, alone) = self.pick_session();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.process(&pipeline, alone, live)));
            // Not busy any more before anyone hears back, so a client's next request can find
            // the workers idle.
            self.running.fetch_sub(1, Ordering::SeqCst);
            match outcome {
                Ok(answers) => {
                    for (reply, answer) in answers {
                        let _ = reply.send(answer);
                    }
                }
                Err(_) => tracing::error!("an inference worker caught a panic; the requests involved got a 500"),
            }
        }
    }

    /// Blocks for one job, then, with batching on, gathers more image jobs until the batch is
    /// full or `max_wait` has passed. `None` once the server is gone.
    fn next_jobs(&self) -> Option<Vec<Job>> {
        let receiver = self.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = receiver.recv().ok()?;
        let mut jobs = vec![first];
        if self.max_batch > 1 && matches!(jobs[0].work, Work::Predict { .. }) {
            let deadline = Instant::now() + self.max_wait;
            while jobs.len() < self.max_batch {
                let left = deadline.saturating_duration_since(Instant::now());
                match receiver.recv_timeout(left) {
                    Ok(job) => jobs.push(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        Some(jobs)
    }

    /// Marks this worker busy and picks its session: the all-cores one when nothing else is
    /// running or waiting (then `true`: the job is alone), else the worker's own.
    fn pick_session(&self) -> (Arc<Pipeline>, bool) {
        let others = self.running.fetch_add(1, Ordering::SeqCst);
        let (kind, pipeline, alone) = match &self.solo {
            Some(solo) if others == 0 && self.metrics.queue_depth.get() == 0 => ("solo", solo, true),
            _ => ("shared", &self.pipeline, false),
        };
        self.metrics.session_runs.with_label_values(&[kind]).inc();
        (pipeline.clone(), alone)
    }

    /// One image while nothing else runs: [`Pipeline::predict_bytes_overlapped`].
    /// Metrics as [`Worker::process`] records them, except the decoding time of an image whose
    /// inference then fails, which this path does not get back.
    fn predict_alone(&self, pipeline: &Pipeline, image: &[u8]) -> Result<Done, ApiError> {
        match pipeline.predict_bytes_overlapped(image) {
            Ok(prediction) => {
                self.metrics.batch_size.observe(1.0);
                self.metrics.decode.observe(prediction.timings.decode_ms / 1e3);
                self.metrics.inference.observe(prediction.timings.inference_ms / 1e3);
                Ok(Done::Prediction { prediction, annotated: None })
            }
            Err(error @ crate::Error::Image { .. }) => Err(error.into()),
            Err(error) => {
                self.metrics.batch_size.observe(1.0);
                Err(ApiError::internal(format!("inference failed: {error}")))
            }
        }
    }

    /// Runs `jobs` on `pipeline`; the answers, to be sent by the caller. A lone image job on
    /// the all-cores session (`alone`) is preprocessed on a second core while it is decoded.
    fn process(&self, pipeline: &Pipeline, alone: bool, jobs: Vec<Job>) -> Vec<(Reply, Result<Done, ApiError>)> {
        let jobs = match <[Job; 1]>::try_from(jobs) {
            Ok([Job { work: Work::Predict { image, annotate: false }, reply, .. }]) if alone => {
                return vec![(reply, self.predict_alone(pipeline, &image))];
            }
            Ok(job) => Vec::from(job),
            Err(jobs) => jobs,
        };
        let mut answers = Vec::with_capacity(jobs.len());
        let mut images = Vec::new();
        let mut waiting = Vec::new();
        for job in jobs {
            match job.work {
                Work::Tensors(ref inputs) => {
                    let started = Instant::now();
                    let result = pipeline.engine().run_tensors(inputs).map_err(|error| {
                        ApiError::bad_request(
                            "the model could not run these tensors: check each input's name, datatype, shape and values against the model's metadata (GET /v2/models/{name})",
                        )
                        .with_cause(error_detail(&error))
                    });
                    self.metrics.inference.observe(started.elapsed().as_secs_f64());
                    answers.push((job.reply, result.map(Done::Tensors)));
                }
                Work::Predict { ref image, annotate } => {
                    let started = Instant::now();
                    // An image whose model input would be too large is refused alone, not with
                    // the batch it would have joined.
                    let decoded = decode_image(image, pipeline.limits()).and_then(|decoded| {
                        self.metrics.decode.observe(started.elapsed().as_secs_f64());
                        pipeline.input_size((decoded.width(), decoded.height())).map(|_| decoded)
                    });
                    match decoded {
                        Ok(decoded) => {
                            images.push(decoded);
                            waiting.push((job.reply, annotate, started.elapsed().as_secs_f64() * 1e3));
                        }
                        Err(error) => {
                            answers.push((job.reply, Err(error.into())));
                        }
                    }
                }
            }
        }
        if images.is_empty() {
            return answers;
        }
        self.metrics.batch_size.observe(images.len() as f64);
        let started = Instant::now();
        match pipeline.predict_batch(&images) {
            Ok(predictions) => {
                self.metrics
                    .inference
                    .observe(predictions.iter().map(|prediction| prediction.timings.inference_ms).sum::<f64>() / 1e3);
                for ((mut prediction, (reply, annotate, decode_ms)), image) in
                    predictions.into_iter().zip(waiting).zip(&images)
                {
                    prediction.timings.decode_ms = decode_ms;
                    let annotated =
                        annotate.then(|| encode_png(&annotate::draw_prediction(image, &prediction))).transpose();
                    let result = annotated.map(|annotated| Done::Prediction { prediction, annotated });
                    answers.push((reply, result));
                }
            }
            Err(error) => {
                let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
                let api_error = ApiError::internal(format!("inference failed after {elapsed_ms:.1} ms: {error}"));
                for (reply, _, _) in waiting {
                    answers.push((reply, Err(api_error.clone())));
                }
            }
        }
        answers
    }
}

fn encode_png(image: &image::RgbImage) -> Result<Vec<u8>, ApiError> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|error| ApiError::internal(format!("could not encode the annotated image: {error}")))?;
    Ok(png)
}

/// The message of a runtime error without the generic prefix.
pub(crate) fn error_detail(error: &crate::Error) -> String {
    match error {
        crate::Error::Inference(reason) => reason.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG whose decoding takes `width` x `height` x 6 bytes and 3 more per pixel as RGB.
    fn deep_png(width: u32, height: u32) -> axum::body::Bytes {
        let image =
            image::DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(width, height, image::Rgb([1u16, 2, 3])));
        let mut bytes = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes.into()
    }

    #[tokio::test]
    async fn work_is_charged_to_the_memory_budget_until_its_worker_is_done() {
        let options = RunnerOptions {
            workers: 0,
            max_queue: 8,
            max_batch: 1,
            max_wait: Duration::ZERO,
            memory_budget_bytes: 2 << 20,
        };
        let runner = Runner::start(Vec::new(), None, options, Arc::new(Metrics::new())).unwrap();
        // 400x400: 960,000 bytes decoded + 480,000 as RGB, about 1.4 MB of the 2 MiB.
        let image = deep_png(400, 400);
        let work = || Work::Predict { image: image.clone(), annotate: false };
        let charge = work().bytes(u64::MAX);
        assert_eq!(charge, image.len() as u64 + 1_440_000);
        // As a first such request in progress holds it:
        let held = runner.budget.clone().try_acquire_many_owned(charge.div_ceil(BUDGET_UNIT) as u32).unwrap();
        let refused = runner.submit(work(), Duration::from_secs(2)).await.err().expect("refused");
        assert_eq!((refused.status.as_u16(), refused.retry_after), (503, Some(1)));
        assert!(refused.message.contains("server.memory_budget_bytes"), "{}", refused.message);
        assert_eq!(runner.metrics.rejected.with_label_values(&["memory"]).get(), 1);
        // A small image still fits beside it (and reaches the queue, here without workers).
        let small = Work::Predict { image: deep_png(40, 40), annotate: false };
        let queued = runner.submit(small, Duration::from_millis(100)).await.err().expect("no worker");
        assert!(queued.message.contains("stopping"), "past the budget: {}", queued.message);
        drop(held);
        let admitted = runner.submit(work(), Duration::from_millis(100)).await.err().expect("no worker");
        assert!(admitted.message.contains("stopping"), "the budget given back: {}", admitted.message);
        // The charge is capped at the image limit, where decoding would refuse the image.
        assert_eq!(work().bytes(1000), image.len() as u64 + 1000);
    }
}

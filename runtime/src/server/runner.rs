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
    session::{InputTensor, OutputTensor},
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
}

/// The worker pool.
pub(crate) struct Runner {
    sender: SyncSender<Job>,
    admission: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// How the pool is sized and batches.
pub(crate) struct RunnerOptions {
    pub workers: usize,
    pub max_queue: usize,
    pub max_batch: usize,
    pub max_wait: Duration,
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
        Ok(Runner { sender, admission: Arc::new(Semaphore::new(capacity)), metrics })
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
        let (reply, answer) = oneshot::channel();
        self.metrics.queue_depth.inc();
        if self.sender.try_send(Job { work, reply, _permit: permit }).is_err() {
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
        let receiver = self.receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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
fn error_detail(error: &crate::Error) -> String {
    match error {
        crate::Error::Inference(reason) => reason.clone(),
        other => other.to_string(),
    }
}

//! Inference off the async threads: a bounded admission, a queue, worker threads, and
//! optional dynamic batching.
//!
//! Admission is a semaphore of `workers + max_queue` permits. A request that gets no permit is
//! answered 503 at once; a permit travels with its job and is released only when a worker is
//! done with it, so memory stays bounded even when clients give up (504) early.
//!
//! Frame loops (an uploaded clip, a stream) share the same workers and queue through a
//! [`FrameLane`] each, outside the admission: see [`Runner::frame_lane`] for how they share.

use std::{
    collections::VecDeque,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

use axum::body::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::{metrics::Metrics, ApiError};
use crate::{
    annotate,
    image::DynamicImage,
    pipeline::{EncodedImage, FramePredictor, Load},
    tensor::{InputTensor, OutputTensor},
    Pipeline, Prediction,
};

/// Where a worker sends a job's result; the request waits on the other end.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What a worker is asked to do, each kind with the reply its request waits for.
pub(crate) enum Job {
    /// Decode and predict one image.
    Image { image: Bytes, reply: ImageReply },
    /// Run the model on raw tensors (Open Inference Protocol).
    Tensors { inputs: Vec<InputTensor>, reply: Reply<Vec<OutputTensor>> },
    /// Predict one decoded frame of a frame loop (see [`FrameLane`]), with its own score
    /// threshold when the loop tracks.
    Frame { image: DynamicImage, confidence: Option<f32>, reply: oneshot::Sender<crate::Result<Prediction>> },
}

/// What the request of an image job waits for.
pub(crate) enum ImageReply {
    /// The prediction.
    Prediction(Reply<Prediction>),
    /// The prediction and the image with it drawn on, as a PNG.
    Annotated(Reply<(Prediction, Vec<u8>)>),
}

/// A job in the queue, with what it holds until its worker is done with it.
struct Queued {
    job: Job,
    /// A request's place in the admission; a frame's loop holds its own place instead.
    _permit: Option<OwnedSemaphorePermit>,
    /// Its share of `server.memory_budget_bytes`.
    _charge: OwnedSemaphorePermit,
}

/// How long a frame of a frame loop may wait behind requests before it goes first.
const FRAME_MAX_WAIT: Duration = Duration::from_millis(500);

/// The line in front of the workers. Requests (images, tensors) go before the frames of frame
/// loops, so that a request waits behind at most the frames the workers are already running;
/// a frame that has waited [`FRAME_MAX_WAIT`] goes first, so that streams still get frames
/// under a flood of requests. Its length is bounded by its callers: requests by the admission,
/// frames by one per frame place.
struct JobQueue {
    lines: Mutex<Lines>,
    /// Signalled when a job is queued or the queue closes.
    ready: Condvar,
}

#[derive(Default)]
struct Lines {
    requests: VecDeque<Queued>,
    /// Frames, with when each was queued.
    frames: VecDeque<(Instant, Queued)>,
    /// No more jobs: the runner is gone. Queued jobs are still run.
    closed: bool,
}

impl Lines {
    /// The job to run next: the first request, unless the first frame has waited long enough.
    fn take(&mut self) -> Option<Queued> {
        let frame_overdue = self.frames.front().is_some_and(|(since, _)| since.elapsed() >= FRAME_MAX_WAIT);
        if frame_overdue || self.requests.is_empty() {
            self.frames.pop_front().map(|(_, queued)| queued)
        } else {
            self.requests.pop_front()
        }
    }
}

impl JobQueue {
    fn new() -> JobQueue {
        JobQueue { lines: Mutex::new(Lines::default()), ready: Condvar::new() }
    }

    fn lines(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `queued`; gives it back once the queue is closed (the server is stopping).
    fn push(&self, queued: Queued) -> Result<(), Box<Queued>> {
        let mut lines = self.lines();
        if lines.closed {
            return Err(Box::new(queued));
        }
        match queued.job {
            Job::Frame { .. } => lines.frames.push_back((Instant::now(), queued)),
            _ => lines.requests.push_back(queued),
        }
        drop(lines);
        // All: a worker gathering a batch waits for requests only, and must not swallow the
        // signal an idle worker needs for a frame.
        self.ready.notify_all();
        Ok(())
    }

    /// No more jobs; the workers end once the queued ones are done.
    fn close(&self) {
        self.lines().closed = true;
        self.ready.notify_all();
    }

    /// Waits for the next job; `None` once the queue is closed and empty.
    fn next(&self) -> Option<Queued> {
        let mut lines = self.lines();
        loop {
            if let Some(queued) = lines.take() {
                return Some(queued);
            }
            if lines.closed {
                return None;
            }
            lines = self.ready.wait(lines).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next request to join a batch, waiting until `deadline`; `None` when none came.
    fn next_request_until(&self, deadline: Instant) -> Option<Queued> {
        let mut lines = self.lines();
        loop {
            if let Some(queued) = lines.requests.pop_front() {
                return Some(queued);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || lines.closed {
                return None;
            }
            lines = self
                .ready
                .wait_timeout(lines, left)
                .map_or_else(|poisoned| poisoned.into_inner().0, |(lines, _)| lines);
        }
    }
}

/// A result waiting to be sent to its request.
enum Answer {
    Prediction(Reply<Prediction>, Result<Prediction, ApiError>),
    Annotated(Reply<(Prediction, Vec<u8>)>, Result<(Prediction, Vec<u8>), ApiError>),
    Tensors(Reply<Vec<OutputTensor>>, Result<Vec<OutputTensor>, ApiError>),
    Frame(oneshot::Sender<crate::Result<Prediction>>, crate::Result<Prediction>),
}

impl Answer {
    /// Sends it; a request that gave up (504) no longer listens, which is fine.
    fn send(self) {
        let _ = match self {
            Answer::Prediction(reply, result) => reply.send(result).is_ok(),
            Answer::Annotated(reply, result) => reply.send(result).is_ok(),
            Answer::Tensors(reply, result) => reply.send(result).is_ok(),
            Answer::Frame(reply, result) => reply.send(result).is_ok(),
        };
    }
}

/// The memory budget is counted in KiB, so that a charge fits a semaphore's `u32`.
const BUDGET_UNIT: u64 = 1024;

impl Job {
    /// The most bytes this job holds while queued and run: an image's body and what it takes
    /// to decode (capped at `max_alloc_bytes`: past it, decoding refuses the image), twice for
    /// an annotated one (the drawing is a copy); tensors in and out.
    fn bytes(&self, max_alloc_bytes: u64) -> u64 {
        match self {
            Job::Image { image, reply } => {
                let decode = crate::preprocess::decode_peak_bytes(image).unwrap_or(0).min(max_alloc_bytes);
                let copies = if matches!(reply, ImageReply::Annotated(_)) { 2 } else { 1 };
                image.len() as u64 + decode * copies
            }
            Job::Tensors { inputs, .. } => inputs.iter().map(|input| input.data.len() as u64 * 4 * 2).sum(),
            Job::Frame { image, .. } => image.as_bytes().len() as u64,
        }
    }

    /// Whether its request has stopped waiting (it timed out): then it is not worth running.
    fn abandoned(&self) -> bool {
        match self {
            Job::Image { reply: ImageReply::Prediction(reply), .. } => reply.is_closed(),
            Job::Image { reply: ImageReply::Annotated(reply), .. } => reply.is_closed(),
            Job::Tensors { reply, .. } => reply.is_closed(),
            Job::Frame { reply, .. } => reply.is_closed(),
        }
    }
}

impl ImageReply {
    /// Whether the decoded image is needed after the prediction.
    fn keeps_decoded(&self) -> bool {
        matches!(self, ImageReply::Annotated(_))
    }

    /// The answer for an image's result; an annotated one is drawn and encoded here.
    fn answer(self, result: crate::Result<Prediction>, decoded: Option<&DynamicImage>) -> Answer {
        let result = result.map_err(|error| match error {
            crate::Error::Image { .. } => ApiError::from(error),
            other => ApiError::internal(format!("inference failed: {other}")),
        });
        match self {
            ImageReply::Prediction(reply) => Answer::Prediction(reply, result),
            ImageReply::Annotated(reply) => {
                let drawn = result.and_then(|prediction| {
                    let image =
                        decoded.ok_or_else(|| ApiError::internal("the decoded image was not kept to draw on"))?;
                    let png = encode_png(&annotate::draw_prediction(image, &prediction))?;
                    Ok((prediction, png))
                });
                Answer::Annotated(reply, drawn)
            }
        }
    }
}

/// The worker pool.
pub(crate) struct Runner {
    queue: Arc<JobQueue>,
    admission: Arc<Semaphore>,
    /// One permit per uploaded clip processed at once ([`RunnerOptions::upload_places`]).
    upload_places: Arc<Semaphore>,
    /// One permit per stream running at once ([`RunnerOptions::stream_places`]).
    stream_places: Arc<Semaphore>,
    /// The model's task, for frame loops (`None` without sessions, in tests).
    task: Option<crate::TaskKind>,
    /// The sessions' score threshold, which a tracked loop lowers for its frames.
    confidence: f32,
    /// `server.memory_budget_bytes`, in [`BUDGET_UNIT`]s.
    budget: Arc<Semaphore>,
    budget_units: u64,
    max_alloc_bytes: u64,
    frame_timeout: Duration,
    metrics: Arc<Metrics>,
}

/// How the pool is sized and batches.
pub(crate) struct RunnerOptions {
    pub workers: usize,
    pub max_queue: usize,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub memory_budget_bytes: u64,
    /// Uploaded clips that may be processed at once, beyond the admission.
    pub upload_places: usize,
    /// Streams that may run at once, beyond the admission (their own places: clips never
    /// take them, nor streams the clips').
    pub stream_places: usize,
    /// How long a frame may wait for its share of the memory budget before its loop fails.
    pub frame_timeout: Duration,
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
        let queue = Arc::new(JobQueue::new());
        if options.workers == 0 {
            // Nobody would ever run a job: refuse them at once.
            queue.close();
        }
        let running = Arc::new(AtomicUsize::new(0));
        for index in 0..options.workers {
            let worker = Worker {
                pipeline: pipelines[index % pipelines.len()].clone(),
                solo: solo.clone(),
                running: running.clone(),
                queue: queue.clone(),
                metrics: metrics.clone(),
                max_batch: options.max_batch.max(1),
                max_wait: options.max_wait,
            };
            std::thread::Builder::new().name(format!("inferx-worker-{index}")).spawn(move || worker.run())?;
        }
        Ok(Runner {
            queue,
            admission: Arc::new(Semaphore::new(capacity)),
            upload_places: Arc::new(Semaphore::new(options.upload_places)),
            stream_places: Arc::new(Semaphore::new(options.stream_places)),
            task: pipelines.first().map(|pipeline| pipeline.task()),
            confidence: pipelines.first().map_or(0.0, |pipeline| pipeline.decode_options().confidence),
            frame_timeout: options.frame_timeout,
            budget: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
            max_alloc_bytes,
            metrics,
        })
    }

    /// Requests that may still be admitted before the next is answered 503.
    #[cfg(test)]
    pub fn places_left(&self) -> usize {
        self.admission.available_permits()
    }

    /// Queues the job `make` builds around its reply, and waits for the result until
    /// `deadline`. A failure's cause is logged here, with the id of the request that waits
    /// for it.
    pub async fn run<T>(&self, deadline: Duration, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, ApiError> {
        self.run_inner(deadline, make).await.map_err(ApiError::disclosed)
    }

    async fn run_inner<T>(&self, deadline: Duration, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, ApiError> {
        let Ok(permit) = self.admission.clone().try_acquire_owned() else {
            self.metrics.rejected.with_label_values(&["overloaded"]).inc();
            return Err(ApiError::overloaded("the server is at capacity (server.max_queue); retry shortly"));
        };
        let (reply, answer) = oneshot::channel();
        let job = make(reply);
        // Charged before it is queued; beyond the budget, refused rather than let memory grow.
        let units = job.bytes(self.max_alloc_bytes).div_ceil(BUDGET_UNIT).clamp(1, self.budget_units) as u32;
        let Ok(charge) = self.budget.clone().try_acquire_many_owned(units) else {
            self.metrics.rejected.with_label_values(&["memory"]).inc();
            return Err(ApiError::overloaded(
                "the requests in progress hold the server's memory budget (server.memory_budget_bytes); retry shortly",
            ));
        };
        self.metrics.queue_depth.inc();
        if self.queue.push(Queued { job, _permit: Some(permit), _charge: charge }).is_err() {
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

impl Drop for Runner {
    /// The workers end once the jobs already queued are done.
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl Runner {
    /// A lane for one frame loop of `kind` (an uploaded clip, a stream), or `None` when the
    /// places of that kind ([`RunnerOptions::upload_places`], [`RunnerOptions::stream_places`])
    /// are taken (the caller answers 503).
    ///
    /// How frame loops and requests share the workers:
    /// - a loop holds one frame place for its life, and at most one frame in flight (its lane
    ///   sends the next only when the last is answered), so loops never hold more of the queue
    ///   than their places;
    /// - frame places are outside the admission of requests: `/predict` keeps its
    ///   `workers + max_queue` places whatever the loops do, and is never refused because of
    ///   them;
    /// - requests go before queued frames ([`JobQueue`]): a request waits behind at most the
    ///   frames the workers are already running, whatever the number of loops; a frame that has
    ///   waited [`FRAME_MAX_WAIT`] behind requests goes first, so loops still get frames under a
    ///   flood of requests (a stream keeps the freshest frame meanwhile), and neither starves;
    /// - a frame is charged to the memory budget like a request (its decoded pixels); when the
    ///   budget is spent it waits (polling, so that it never takes budget ahead of a request),
    ///   up to `frame_timeout`, then its loop fails.
    pub fn frame_lane(&self, kind: FrameLoop) -> Option<FrameLane> {
        let task = self.task?;
        let places = match kind {
            FrameLoop::Upload => &self.upload_places,
            FrameLoop::Stream => &self.stream_places,
        };
        let place = places.clone().try_acquire_owned().ok()?;
        Some(FrameLane {
            queue: self.queue.clone(),
            budget: self.budget.clone(),
            budget_units: self.budget_units,
            timeout: self.frame_timeout,
            metrics: self.metrics.clone(),
            task,
            server_confidence: self.confidence,
            frame_confidence: None,
            in_flight: Mutex::new(()),
            _place: place,
        })
    }
}

/// What a frame loop is: each kind has its own places (`server.video.max_uploads`,
/// `server.streams.max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameLoop {
    /// An uploaded clip (`POST /predict/video`).
    Upload,
    /// A stream (`/streams`).
    Stream,
}

/// A frame loop's way to the server's workers, from [`AppState::frame_lane`](super::AppState::frame_lane):
/// each [`FramePredictor::predict`] queues the frame beside the requests and blocks the calling
/// thread (never an async one: run the loop on `spawn_blocking` or a thread of its own) until
/// its result is ready. Holds one of the server's frame places until dropped.
pub struct FrameLane {
    queue: Arc<JobQueue>,
    budget: Arc<Semaphore>,
    budget_units: u64,
    timeout: Duration,
    metrics: Arc<Metrics>,
    task: crate::TaskKind,
    /// The sessions' score threshold.
    server_confidence: f32,
    /// This loop's own threshold for its frames, when it tracks ([`FrameLane::for_tracking`]).
    frame_confidence: Option<f32>,
    /// Held while a frame is in flight: one at a time, whoever calls.
    in_flight: Mutex<()>,
    _place: OwnedSemaphorePermit,
}

impl FrameLane {
    /// This lane for a tracked loop: its frames' score threshold lowered to `tracking`'s
    /// `track_low_thresh`, as `predict --track` lowers it
    /// ([`sequence::tracking_confidence`](crate::sequence::tracking_confidence)), since ByteTrack's
    /// second association is made of the weak boxes a plain prediction drops. The requests
    /// on the same sessions keep the server's threshold.
    pub fn for_tracking(mut self, tracking: &crate::tracking::TrackingConfig) -> FrameLane {
        self.frame_confidence = Some(crate::sequence::tracking_confidence(Some(self.server_confidence), tracking));
        self
    }
}

/// How often a frame waiting for its share of the memory budget tries again.
const FRAME_BUDGET_POLL: Duration = Duration::from_millis(5);

impl FramePredictor for FrameLane {
    fn task(&self) -> crate::TaskKind {
        self.task
    }

    fn predict(&self, image: &DynamicImage) -> crate::Result<Prediction> {
        let _one_at_a_time = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (reply, answer) = oneshot::channel();
        let job = Job::Frame { image: image.clone(), confidence: self.frame_confidence, reply };
        let units = job.bytes(u64::MAX).div_ceil(BUDGET_UNIT).clamp(1, self.budget_units) as u32;
        let waited_since = Instant::now();
        let charge = loop {
            match self.budget.clone().try_acquire_many_owned(units) {
                Ok(charge) => break charge,
                Err(_) if waited_since.elapsed() < self.timeout => std::thread::sleep(FRAME_BUDGET_POLL),
                Err(_) => {
                    self.metrics.rejected.with_label_values(&["memory"]).inc();
                    return Err(crate::Error::Inference(format!(
                        "the requests in progress held the server's memory budget (server.memory_budget_bytes) for {} ms",
                        self.timeout.as_millis()
                    )));
                }
            }
        };
        self.metrics.queue_depth.inc();
        if self.queue.push(Queued { job, _permit: None, _charge: charge }).is_err() {
            self.metrics.queue_depth.dec();
            return Err(crate::Error::Inference("the server is stopping".into()));
        }
        answer.blocking_recv().unwrap_or_else(|_| Err(crate::Error::Inference("the inference worker stopped".into())))
    }
}

struct Worker {
    pipeline: Arc<Pipeline>,
    solo: Option<Arc<Pipeline>>,
    /// Workers busy with jobs, shared by all workers.
    running: Arc<AtomicUsize>,
    queue: Arc<JobQueue>,
    metrics: Arc<Metrics>,
    max_batch: usize,
    max_wait: Duration,
}

impl Worker {
    fn run(self) {
        while let Some(jobs) = self.next_jobs() {
            self.metrics.queue_depth.sub(jobs.len() as i64);
            // A request that already timed out is not worth running.
            let live: Vec<Queued> = jobs.into_iter().filter(|queued| !queued.job.abandoned()).collect();
            if live.is_empty() {
                continue;
            }
            let (pipeline, load) = self.pick_session();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.process(&pipeline, load, live)));
            // Not busy any more before anyone hears back, so a client's next request can find
            // the workers idle.
            self.running.fetch_sub(1, Ordering::SeqCst);
            match outcome {
                Ok(answers) => answers.into_iter().for_each(Answer::send),
                Err(_) => tracing::error!("an inference worker caught a panic; the requests involved got a 500"),
            }
        }
    }

    /// Blocks for one job, then, with batching on, gathers more requests after an image job
    /// until the batch is full or `max_wait` has passed. `None` once the server is gone.
    fn next_jobs(&self) -> Option<Vec<Queued>> {
        let first = self.queue.next()?;
        let batches = self.max_batch > 1 && matches!(first.job, Job::Image { .. });
        let mut jobs = vec![first];
        if batches {
            let deadline = Instant::now() + self.max_wait;
            while jobs.len() < self.max_batch {
                match self.queue.next_request_until(deadline) {
                    Some(job) => jobs.push(job),
                    None => break,
                }
            }
        }
        Some(jobs)
    }

    /// Marks this worker busy and picks its session: the all-cores one when nothing else is
    /// running or waiting (then the machine is idle but for these jobs), else the worker's own.
    fn pick_session(&self) -> (Arc<Pipeline>, Load) {
        let others = self.running.fetch_add(1, Ordering::SeqCst);
        let (kind, pipeline, load) = match &self.solo {
            Some(solo) if others == 0 && self.metrics.queue_depth.get() == 0 => ("solo", solo, Load::Idle),
            _ => ("shared", &self.pipeline, Load::Busy),
        };
        self.metrics.session_runs.with_label_values(&[kind]).inc();
        (pipeline.clone(), load)
    }

    /// Runs `jobs` on `pipeline`; the answers, to be sent by the caller. Image jobs run
    /// together through [`Pipeline::predict_encoded`], which `load` tells whether the machine
    /// is otherwise idle; tensor jobs run one by one.
    fn process(&self, pipeline: &Pipeline, load: Load, jobs: Vec<Queued>) -> Vec<Answer> {
        let jobs = match <[Queued; 1]>::try_from(jobs) {
            // One job (always, without batching): nothing to gather. What it holds (its place
            // and memory) is held until the work is done, here and below.
            Ok([Queued { job: Job::Image { image, reply }, .. }]) => {
                let mut answers = Vec::with_capacity(1);
                let encoded = EncodedImage { bytes: &image, keep_decoded: reply.keeps_decoded() };
                let mut reply = Some(reply);
                self.predict_images(pipeline, load, &[encoded], |_| reply.take(), &mut answers);
                return answers;
            }
            Ok([Queued { job: Job::Tensors { inputs, reply }, .. }]) => {
                return vec![Answer::Tensors(reply, self.run_tensors(pipeline, &inputs))];
            }
            Ok([Queued { job: Job::Frame { image, confidence, reply }, .. }]) => {
                return vec![Answer::Frame(reply, self.predict_frame(pipeline, &image, confidence))];
            }
            Err(jobs) => jobs,
        };
        let mut answers = Vec::with_capacity(jobs.len());
        let mut images = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        let mut held = Vec::with_capacity(jobs.len());
        for Queued { job, _permit, _charge } in jobs {
            held.push((_permit, _charge));
            match job {
                Job::Tensors { inputs, reply } => {
                    answers.push(Answer::Tensors(reply, self.run_tensors(pipeline, &inputs)));
                }
                Job::Frame { image, confidence, reply } => {
                    answers.push(Answer::Frame(reply, self.predict_frame(pipeline, &image, confidence)));
                }
                Job::Image { image, reply } => {
                    images.push(image);
                    replies.push(Some(reply));
                }
            }
        }
        if !images.is_empty() {
            let encoded: Vec<EncodedImage> = images
                .iter()
                .zip(&replies)
                .map(|(image, reply)| EncodedImage {
                    bytes: image,
                    keep_decoded: reply.as_ref().is_some_and(ImageReply::keeps_decoded),
                })
                .collect();
            self.predict_images(pipeline, load, &encoded, |index| replies[index].take(), &mut answers);
        }
        drop(held);
        answers
    }

    /// Predicts `images`, adding each one's answer (to the reply `reply_for` gives for its
    /// index) to `answers`, and records the metrics of the run: the same series whether the
    /// images ran alone or together (`inferx_batch_size` and `inferx_inference_duration_seconds`
    /// once per model run, `inferx_decode_duration_seconds` once per image predicted).
    fn predict_images(
        &self,
        pipeline: &Pipeline,
        load: Load,
        images: &[EncodedImage<'_>],
        mut reply_for: impl FnMut(usize) -> Option<ImageReply>,
        answers: &mut Vec<Answer>,
    ) {
        let mut inference_ms = None;
        let ran = pipeline.predict_encoded(images, load, |index, result, decoded| {
            if let Ok(prediction) = &result {
                self.metrics.decode.observe(prediction.timings.decode_ms / 1e3);
                *inference_ms.get_or_insert(0.0) += prediction.timings.inference_ms;
            }
            if let Some(reply) = reply_for(index) {
                answers.push(reply.answer(result, decoded));
            }
        });
        if ran > 0 {
            self.metrics.batch_size.observe(ran as f64);
        }
        if let Some(inference_ms) = inference_ms {
            self.metrics.inference.observe(inference_ms / 1e3);
        }
    }

    /// Predicts one frame of a frame loop (with its own threshold, when tracked): a model run
    /// of its own, recorded like an image's.
    fn predict_frame(
        &self,
        pipeline: &Pipeline,
        image: &DynamicImage,
        confidence: Option<f32>,
    ) -> crate::Result<Prediction> {
        let result = match confidence {
            Some(confidence) => pipeline.predict_with_confidence(image, confidence),
            None => pipeline.predict(image),
        };
        if let Ok(prediction) = &result {
            self.metrics.batch_size.observe(1.0);
            self.metrics.inference.observe(prediction.timings.inference_ms / 1e3);
        }
        result
    }

    /// Runs one tensor job (Open Inference Protocol); what fails is the request's (400).
    fn run_tensors(&self, pipeline: &Pipeline, inputs: &[InputTensor]) -> Result<Vec<OutputTensor>, ApiError> {
        let started = Instant::now();
        let result = pipeline.engine().run_tensors(inputs).map_err(|error| {
            ApiError::bad_request(
                "the model could not run these tensors: check each input's name, datatype, shape and values against the model's metadata (GET /v2/models/{name})",
            )
            .with_cause(error_detail(&error))
        });
        self.metrics.inference.observe(started.elapsed().as_secs_f64());
        result
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

    /// A job predicting `image`, its reply dropped (for its size).
    fn job(image: &Bytes) -> Job {
        Job::Image { image: image.clone(), reply: ImageReply::Prediction(oneshot::channel().0) }
    }

    /// A queued job of `job`, holding a place of its own.
    fn queued(job: Job) -> Queued {
        Queued { job, _permit: None, _charge: Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap() }
    }

    fn frame() -> Queued {
        queued(Job::Frame { image: DynamicImage::new_rgb8(2, 2), confidence: None, reply: oneshot::channel().0 })
    }

    fn request() -> Queued {
        queued(Job::Tensors { inputs: Vec::new(), reply: oneshot::channel().0 })
    }

    #[test]
    fn requests_go_before_queued_frames_until_a_frame_has_waited_its_most() {
        let queue = JobQueue::new();
        for queued in [frame(), frame(), request(), request()] {
            assert!(queue.push(queued).is_ok());
        }
        let kinds = |count: usize| -> Vec<bool> {
            (0..count).map(|_| matches!(queue.next().expect("a job").job, Job::Frame { .. })).collect()
        };
        // Both requests first, though queued after the frames; then the frames in their order.
        assert_eq!(kinds(2), [false, false]);
        assert!(queue.push(request()).is_ok());
        std::thread::sleep(FRAME_MAX_WAIT);
        // The first frame has waited its most: it goes before the request queued since.
        assert_eq!(kinds(3), [true, true, false]);
        // A batch gathers requests only, and gives up at its deadline.
        assert!(queue.push(frame()).is_ok());
        assert!(queue.next_request_until(Instant::now() + Duration::from_millis(20)).is_none());
        // Closed: no more jobs, the queued ones still run, then the workers end.
        queue.close();
        assert!(queue.push(request()).is_err());
        assert_eq!(kinds(1), [true]);
        assert!(queue.next().is_none());
    }

    #[tokio::test]
    async fn work_is_charged_to_the_memory_budget_until_its_worker_is_done() {
        let options = RunnerOptions {
            workers: 0,
            max_queue: 8,
            max_batch: 1,
            max_wait: Duration::ZERO,
            memory_budget_bytes: 2 << 20,
            upload_places: 0,
            stream_places: 0,
            frame_timeout: Duration::ZERO,
        };
        let runner = Runner::start(Vec::new(), None, options, Arc::new(Metrics::new())).unwrap();
        // 400x400: 960,000 bytes decoded + 480,000 as RGB, about 1.4 MB of the 2 MiB.
        let image = deep_png(400, 400);
        let predict = |image: Bytes| move |reply| Job::Image { image, reply: ImageReply::Prediction(reply) };
        let charge = job(&image).bytes(u64::MAX);
        assert_eq!(charge, image.len() as u64 + 1_440_000);
        // As a first such request in progress holds it:
        let held = runner.budget.clone().try_acquire_many_owned(charge.div_ceil(BUDGET_UNIT) as u32).unwrap();
        let refused = runner.run(Duration::from_secs(2), predict(image.clone())).await.expect_err("refused");
        assert_eq!((refused.status.as_u16(), refused.retry_after), (503, Some(1)));
        assert!(refused.message.contains("server.memory_budget_bytes"), "{}", refused.message);
        assert_eq!(runner.metrics.rejected.with_label_values(&["memory"]).get(), 1);
        // A small image still fits beside it (and reaches the queue, here without workers).
        let queued = runner.run(Duration::from_millis(100), predict(deep_png(40, 40))).await.expect_err("no worker");
        assert!(queued.message.contains("stopping"), "past the budget: {}", queued.message);
        drop(held);
        let admitted = runner.run(Duration::from_millis(100), predict(image.clone())).await.expect_err("no worker");
        assert!(admitted.message.contains("stopping"), "the budget given back: {}", admitted.message);
        // The charge is capped at the image limit, where decoding would refuse the image.
        assert_eq!(job(&image).bytes(1000), image.len() as u64 + 1000);
    }
}

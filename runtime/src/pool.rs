//! Predicting many files as fast as the machine allows.
//!
//! On a CPU, one session with every core runs a single image soonest, but a folder goes
//! faster on several sessions side by side, each with a share of the cores and its own worker
//! that decodes its next file and runs it: no core waits on another inside an operator, and
//! decoding takes a core from one session only instead of stalling all of them. (Measured on 2
//! cores with the YOLOv8n detector at 320: 2 sessions × 1 thread do 87 images/s model-only
//! against 72 for one session with both; `bench/python_compare.py` measures folders.)

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc::Sender,
        Condvar, Mutex, OnceLock,
    },
    thread::JoinHandle,
    time::Instant,
};

use image::DynamicImage;

use crate::{
    library::SystemProbe,
    preprocess,
    session::plan::{Hardware, SessionPlan, Workload},
    Device, Pipeline, PipelineOptions, Prediction, Result,
};

/// The pool's limits, at their former paths; their home is [`crate::session::plan`].
pub use crate::session::plan::{MAX_SESSIONS, MIN_FILES_FOR_SESSIONS};

/// One or more pipelines of one model that predict lists of files together
/// ([`PipelinePool::predict_files`]).
pub struct PipelinePool {
    /// Loaded when the pool was made; the first is the primary.
    pipelines: Vec<Pipeline>,
    /// The other sessions, created on a background thread while the first one already predicts.
    loading: Mutex<Option<JoinHandle<Vec<Pipeline>>>>,
    loaded_later: OnceLock<Vec<Pipeline>>,
    /// How many sessions the pool predicts on once all are loaded.
    planned: usize,
}

impl PipelinePool {
    /// Loads the pipelines that predict `files` files fastest here: one with the options as
    /// given when there are few files (then with
    /// [`map_cached_weights`](crate::SessionOptions::map_cached_weights)), a device other than
    /// the CPU, or intra-op threads set by the caller; otherwise up to [`MAX_SESSIONS`] CPU
    /// sessions that share the cores. The first is loaded before this returns (its errors are
    /// this call's); the others are created on a background thread and join
    /// [`PipelinePool::predict_files`] when ready, so the first session predicts meanwhile. One
    /// that fails to be created is left out, with a warning.
    ///
    /// ```no_run
    /// use inferx_runtime::{inputs, pool::PipelinePool, PipelineOptions, TaskKind};
    ///
    /// # fn main() -> inferx_runtime::Result<()> {
    /// let paths = inputs::collect_images(&["photos/".into()])?;
    /// let pool = PipelinePool::load("yolov8n.onnx", PipelineOptions::for_task(TaskKind::Detection), paths.len())?;
    /// println!("{} sessions", pool.sessions());
    /// pool.predict_files(&paths, |index, result| {
    ///     if let Ok((_image, prediction)) = result {
    ///         println!("{}: {} found", paths[index].display(), prediction.detections().len());
    ///     }
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(model: impl AsRef<Path>, mut options: PipelineOptions, files: usize) -> Result<PipelinePool> {
        let model = model.as_ref();
        let cores = Hardware::available_cores();
        let device = options.session.device;
        let workload = Workload::Folder { files };
        let threads = options.session.intra_threads;
        let mut plan = SessionPlan::new(workload, Hardware::before_probing(device, cores), threads);
        if plan.sessions > 1 {
            // The library loads while the model is checked; the sessions skip the checks after this.
            crate::pipeline::prepare_model(model, &mut options)?;
            if device == Device::Auto {
                // Where `auto` leads to an accelerator, one session has it all.
                plan = SessionPlan::new(workload, Hardware::new(device, &SystemProbe::for_sessions(), cores), threads);
            }
        }
        let sessions = plan.sessions;
        if sessions == 1 {
            // A few files: creating the session sooner beats running each a little faster.
            options.session.map_cached_weights |= files < MIN_FILES_FOR_SESSIONS;
            return Ok(PipelinePool::from_pipelines(vec![Pipeline::load(model, options)?]));
        }
        options.session.intra_threads = plan.threads;
        let first = Pipeline::load(model, options.clone())?;
        // The first session predicts on its share of the cores while the others are created
        // on the rest, so their creation is not added to the folder's time.
        let model = model.to_path_buf();
        let others = std::thread::Builder::new()
            .name("inferx-sessions".into())
            .spawn(move || {
                (1..sessions)
                    .filter_map(|_| match Pipeline::load(&model, options.clone()) {
                        Ok(pipeline) => Some(pipeline),
                        Err(error) => {
                            tracing::warn!("predicting on fewer sessions: another one could not be created ({error})");
                            None
                        }
                    })
                    .collect()
            })
            .inspect_err(|error| tracing::warn!("predicting on one session: no thread to create the others ({error})"))
            .ok();
        let planned = if others.is_some() { sessions } else { 1 };
        Ok(PipelinePool { pipelines: vec![first], loading: Mutex::new(others), loaded_later: OnceLock::new(), planned })
    }

    /// [`PipelinePool::load`] for the project described by an `inferx.yaml`, as
    /// [`Pipeline::from_config_file`] loads it.
    pub fn from_config_file(path: impl AsRef<Path>, files: usize) -> Result<PipelinePool> {
        let path = path.as_ref();
        let config = crate::ProjectConfig::load(path)?;
        let project_dir = crate::project_files::project_dir(path);
        PipelinePool::load(config.model_path(project_dir)?, config.pipeline_options(project_dir)?, files)
    }

    /// Wraps pipelines already loaded (of one model, with the same options).
    pub fn from_pipelines(pipelines: Vec<Pipeline>) -> PipelinePool {
        assert!(!pipelines.is_empty(), "a pool needs a pipeline");
        let planned = pipelines.len();
        PipelinePool { pipelines, loading: Mutex::new(None), loaded_later: OnceLock::new(), planned }
    }

    /// The first pipeline, whose settings all share: its engine, labels and input size.
    pub fn primary(&self) -> &Pipeline {
        &self.pipelines[0]
    }

    /// How many sessions predict side by side (some may still be being created).
    pub fn sessions(&self) -> usize {
        self.planned
    }

    /// The sessions created after the pool was made, once they are all there.
    fn loaded_later(&self) -> &[Pipeline] {
        self.loaded_later.get_or_init(|| {
            let loading = self.loading.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            loading.map_or_else(Vec::new, |loading| {
                loading.join().unwrap_or_else(|_| {
                    tracing::warn!("predicting on one session: creating the others failed");
                    Vec::new()
                })
            })
        })
    }

    /// Predicts image files; `each` is called in the order of `paths` with each file's index
    /// and its decoded image and prediction, or the error for that file alone.
    ///
    /// With one pipeline, the next files are decoded on another thread while the model runs
    /// ([`Pipeline::predict_files`]). With several, each has a worker that decodes and
    /// predicts the next file not yet taken; results are put back in order, and a worker
    /// waits rather than run more than two files per worker ahead of the oldest one not yet
    /// handed to `each`, so memory stays bounded whatever a slow file or a slow `each` does.
    pub fn predict_files(&self, paths: &[PathBuf], mut each: impl FnMut(usize, Result<(DynamicImage, Prediction)>)) {
        if self.planned == 1 {
            return self.pipelines[0].predict_files(paths, each);
        }
        let window = Window::new(2 * self.planned);
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (sender, results) = std::sync::mpsc::channel();
            let work = Worker { paths, window: &window, next: &next };
            for pipeline in &self.pipelines {
                let sender = sender.clone();
                scope.spawn(move || work.run(pipeline, sender));
            }
            // Waits for the sessions still being created (none when they are all there), then
            // sets them to work.
            let later_sender = sender.clone();
            scope.spawn(move || {
                for pipeline in self.loaded_later() {
                    let sender = later_sender.clone();
                    scope.spawn(move || work.run(pipeline, sender));
                }
            });
            drop(sender);
            // Should `each` panic, the workers waiting for room stop instead of waiting forever.
            // (When the loop ends normally, every worker has already finished.)
            let _closing = CloseOnPanic(&window);
            let mut waiting = BTreeMap::new();
            let mut due = 0;
            for (index, result) in results {
                waiting.insert(index, result);
                while let Some(result) = waiting.remove(&due) {
                    each(due, result);
                    due += 1;
                    window.handed_out(due);
                }
            }
        });
    }
}

impl Drop for PipelinePool {
    fn drop(&mut self) {
        // Sessions still being created are waited for, not left to a thread the process may
        // be tearing down.
        self.loaded_later();
    }
}

type Outcome = (usize, Result<(DynamicImage, Prediction)>);

/// What the workers of one `predict_files` call share: the files, the next one not yet taken,
/// and the window.
#[derive(Clone, Copy)]
struct Worker<'a> {
    paths: &'a [PathBuf],
    window: &'a Window,
    next: &'a AtomicUsize,
}

impl Worker<'_> {
    /// Decodes and predicts the next file not yet taken until none is left.
    fn run(self, pipeline: &Pipeline, sender: Sender<Outcome>) {
        // A worker that panics closes the window: the others stop instead of waiting for the
        // file it never delivers, and the scope re-raises the panic.
        let _closing = CloseOnPanic(self.window);
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.paths.len() || !self.window.admit(index) {
                break;
            }
            let started = Instant::now();
            let result = preprocess::load_image(&self.paths[index], pipeline.limits()).and_then(|image| {
                pipeline.predict_decoded(&image, started.elapsed()).map(|prediction| (image, prediction))
            });
            if sender.send((index, result)).is_err() {
                break;
            }
        }
    }
}

/// How far workers may run ahead of the results handed out.
struct Window {
    /// (results handed out, closed)
    state: Mutex<(usize, bool)>,
    moved: Condvar,
    size: usize,
}

impl Window {
    fn new(size: usize) -> Window {
        Window { state: Mutex::new((0, false)), moved: Condvar::new(), size }
    }

    /// Waits until file `index` is within the window; false once the window is closed.
    fn admit(&self, index: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while index >= state.0 + self.size && !state.1 {
            state = self.moved.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        !state.1
    }

    fn handed_out(&self, count: usize) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0 = count;
        self.moved.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1 = true;
        self.moved.notify_all();
    }
}

/// Closes the window when dropped while unwinding, in a worker or in the thread handing out
/// results: a worker that simply runs out of files must not stop the others.
struct CloseOnPanic<'a>(&'a Window);

impl Drop for CloseOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_model_is_not_checked_again_and_its_sha256_keys_the_cache() {
        let mut options = PipelineOptions {
            expected_sha256: Some(" ABC123 ".into()),
            signature: Some(crate::model::signature::SignatureCheck::beside(Path::new("m.onnx"), "RW...")),
            ..PipelineOptions::default()
        };
        options.mark_model_verified();
        assert_eq!((options.expected_sha256, options.signature), (None, None));
        assert_eq!(options.session.model_sha256.as_deref(), Some("abc123"));
    }

    #[test]
    fn the_window_holds_workers_back_until_results_are_handed_out() {
        let window = Window::new(2);
        assert!(window.admit(0) && window.admit(1));
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| window.admit(2));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!waiting.is_finished(), "file 2 waits while 0 and 1 are out");
            window.handed_out(1);
            assert!(waiting.join().unwrap());
        });
        // A worker that panics releases the others; one that simply finishes does not.
        let window = Window::new(1);
        std::thread::scope(|scope| {
            scope.spawn(|| drop(CloseOnPanic(&window)));
        });
        assert!(window.admit(0), "a worker that finished leaves the window open");
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| window.admit(1));
            let panicked = scope.spawn(|| {
                let _closing = CloseOnPanic(&window);
                panic!("a worker fails");
            });
            assert!(panicked.join().is_err());
            assert!(!waiting.join().unwrap(), "the waiting worker stops");
        });
        let closed = Window::new(1);
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| closed.admit(5));
            closed.close();
            assert!(!waiting.join().unwrap(), "closing releases waiting workers");
        });
    }
}

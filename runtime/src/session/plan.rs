//! How many sessions to create and how they share the cores: the one plan that folder runs
//! ([`PipelinePool`](crate::PipelinePool)) and the server follow.
//!
//! On the CPU, sessions side by side that split the cores beat one session with every core
//! under load (measured on 2 cores with YOLOv8n at 320: a server serves about 40% more
//! requests per second, and 2 sessions × 1 thread run 87 images/s model-only against 72 for
//! one session with both; see bench/README.md), while one session with every core answers a
//! lone request fastest, so a server adds one such "solo" session. An accelerator runs one
//! model at a time: there, one session per device and no solo session.

use crate::device::{Device, HardwareProbe, ProviderChain};

/// Folders of fewer files than this run on one session: the other sessions' creation
/// (60–100 ms each for a small detector) would cost more than they save.
pub const MIN_FILES_FOR_SESSIONS: usize = 16;

/// The most sessions a folder runs on; more cores are shared out among them as intra-op
/// threads, which keeps the memory of a many-core machine bounded.
pub const MAX_SESSIONS: usize = 4;

/// A server shares one session among its workers for models larger than this (unless
/// `server.sessions` says otherwise): each session holds its own copy of the weights.
pub const LARGE_MODEL_BYTES: u64 = 256 << 20;

/// What the sessions are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `files` images predicted in order (`inferx run`, a project's `predict`).
    Folder {
        /// How many files.
        files: usize,
    },
    /// A server.
    Server {
        /// `server.sessions`: sessions asked for, 0 to let the plan decide.
        sessions: usize,
        /// Worker threads that run requests.
        workers: usize,
        /// Size of the model file.
        model_bytes: u64,
    },
}

/// The machine as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hardware {
    /// Cores this process may use.
    pub cores: usize,
    /// Whether the sessions run on an accelerator (a GPU, Core ML, OpenVINO...) rather than on
    /// ONNX Runtime's CPU provider.
    pub accelerator: bool,
}

impl Hardware {
    /// `device` on the machine `probe` describes: `auto` runs on an accelerator when the
    /// provider chain planned for it starts with one.
    pub fn new(device: Device, probe: &dyn HardwareProbe, cores: usize) -> Hardware {
        let accelerator = match device {
            Device::Cpu => false,
            Device::Auto => ProviderChain::plan(Device::Auto, probe)
                .entries
                .first()
                .is_some_and(|entry| entry.device != Device::Cpu),
            _ => true,
        };
        Hardware { cores: cores.max(1), accelerator }
    }

    /// What can be said before ONNX Runtime is loaded to probe the machine: `auto` counts as
    /// the CPU, every named accelerator as one.
    pub fn before_probing(device: Device, cores: usize) -> Hardware {
        Hardware { cores: cores.max(1), accelerator: !matches!(device, Device::Cpu | Device::Auto) }
    }

    /// The cores of this process.
    pub fn available_cores() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    }
}

/// Sessions to create and the threads each runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPlan {
    /// Sessions that share the load.
    pub sessions: usize,
    /// Intra-op threads of each (0: ONNX Runtime's default, every core).
    pub threads: usize,
    /// Intra-op threads of one more session that runs the requests arriving alone, when the
    /// shared sessions split the cores.
    pub solo_threads: Option<usize>,
}

impl SessionPlan {
    /// The plan for `workload` on `hardware`; `threads` is the configured intra-op thread
    /// count (`threads.intra`, `--threads`), 0 when unset: a set count is kept as it is.
    pub fn new(workload: Workload, hardware: Hardware, threads: usize) -> SessionPlan {
        let one = SessionPlan { sessions: 1, threads, solo_threads: None };
        let cores = hardware.cores;
        match workload {
            Workload::Folder { files } => {
                if hardware.accelerator || threads > 0 || files < MIN_FILES_FOR_SESSIONS || cores < 2 {
                    return one;
                }
                let sessions = cores.min(MAX_SESSIONS);
                SessionPlan { sessions, threads: (cores / sessions).max(1), solo_threads: None }
            }
            Workload::Server { sessions: asked, workers, model_bytes } => {
                let sessions = match asked {
                    0 if hardware.accelerator || model_bytes > LARGE_MODEL_BYTES => 1,
                    0 => workers.max(1),
                    asked => asked,
                };
                if hardware.accelerator || sessions == 1 || threads > 0 {
                    return SessionPlan { sessions, threads, solo_threads: None };
                }
                let threads = (cores / sessions).max(1);
                SessionPlan { sessions, threads, solo_threads: (cores > threads).then_some(cores) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{
        simulated::{nvidia, FakeMachine as Machine},
        GpuInfo, GpuVendor,
    };

    fn cpu_only() -> Machine {
        Machine { providers: &["CPUExecutionProvider"], gpus: vec![], os: "linux" }
    }

    fn cuda_machine() -> Machine {
        Machine { providers: &["CUDAExecutionProvider", "CPUExecutionProvider"], gpus: vec![nvidia()], os: "linux" }
    }

    fn mac() -> Machine {
        Machine {
            providers: &["CoreMLExecutionProvider", "CPUExecutionProvider"],
            gpus: vec![GpuInfo { name: "Apple M3".into(), vendor: GpuVendor::Apple, backend: "Metal".into() }],
            os: "macos",
        }
    }

    const FOLDER: Workload = Workload::Folder { files: 100 };
    const SERVER: Workload = Workload::Server { sessions: 0, workers: 4, model_bytes: 12 << 20 };

    fn plan(workload: Workload, device: Device, machine: &Machine, cores: usize) -> SessionPlan {
        SessionPlan::new(workload, Hardware::new(device, machine, cores), 0)
    }

    #[test]
    fn on_the_cpu_sessions_split_the_cores_and_a_server_adds_a_solo_session() {
        for device in [Device::Auto, Device::Cpu] {
            let folder = plan(FOLDER, device, &cpu_only(), 8);
            assert_eq!(folder, SessionPlan { sessions: 4, threads: 2, solo_threads: None }, "{device}");
            let server = plan(SERVER, device, &cpu_only(), 8);
            assert_eq!(server, SessionPlan { sessions: 4, threads: 2, solo_threads: Some(8) }, "{device}");
        }
        assert_eq!(
            plan(FOLDER, Device::Auto, &cpu_only(), 2),
            SessionPlan { sessions: 2, threads: 1, solo_threads: None }
        );
        let two_workers = Workload::Server { sessions: 0, workers: 2, model_bytes: 12 << 20 };
        assert_eq!(
            plan(two_workers, Device::Auto, &cpu_only(), 2),
            SessionPlan { sessions: 2, threads: 1, solo_threads: Some(2) }
        );
    }

    #[test]
    fn on_the_cpu_small_folders_one_core_large_models_and_set_threads_get_one_session() {
        let one = SessionPlan { sessions: 1, threads: 0, solo_threads: None };
        assert_eq!(plan(Workload::Folder { files: MIN_FILES_FOR_SESSIONS - 1 }, Device::Cpu, &cpu_only(), 8), one);
        assert_eq!(plan(FOLDER, Device::Cpu, &cpu_only(), 1), one);
        let large = Workload::Server { sessions: 0, workers: 4, model_bytes: LARGE_MODEL_BYTES + 1 };
        assert_eq!(plan(large, Device::Cpu, &cpu_only(), 8), one);
        let hardware = Hardware::new(Device::Cpu, &cpu_only(), 8);
        assert_eq!(SessionPlan::new(FOLDER, hardware, 3), SessionPlan { sessions: 1, threads: 3, solo_threads: None });
        // A server's set thread count is kept for each of its sessions, with no solo session.
        assert_eq!(SessionPlan::new(SERVER, hardware, 3), SessionPlan { sessions: 4, threads: 3, solo_threads: None });
    }

    #[test]
    fn on_a_gpu_there_is_one_session_per_device_and_no_solo_session() {
        let one = SessionPlan { sessions: 1, threads: 0, solo_threads: None };
        for device in [Device::Auto, Device::Cuda(0), Device::TensorRt(0)] {
            assert_eq!(plan(FOLDER, device, &cuda_machine(), 16), one, "{device}");
            assert_eq!(plan(SERVER, device, &cuda_machine(), 16), one, "{device}");
        }
        // `server.sessions` set by hand is kept.
        let asked = Workload::Server { sessions: 2, workers: 4, model_bytes: 12 << 20 };
        assert_eq!(plan(asked, Device::Cuda(0), &cuda_machine(), 16), SessionPlan { sessions: 2, ..one });
    }

    #[test]
    fn auto_follows_the_machine_and_named_accelerators_count_as_such_before_probing() {
        let one = SessionPlan { sessions: 1, threads: 0, solo_threads: None };
        assert_eq!(plan(SERVER, Device::Auto, &mac(), 8), one, "Core ML");
        assert_eq!(plan(FOLDER, Device::OpenVino, &cpu_only(), 8), one, "OpenVINO");
        // A GPU build on a machine without a GPU plans for the CPU.
        let no_gpu = Machine { gpus: vec![], ..cuda_machine() };
        assert_eq!(plan(FOLDER, Device::Auto, &no_gpu, 4).sessions, 4);
        assert!(!Hardware::before_probing(Device::Auto, 4).accelerator);
        assert!(!Hardware::before_probing(Device::Cpu, 4).accelerator);
        assert!(Hardware::before_probing(Device::Cuda(1), 4).accelerator);
        assert_eq!(Hardware::before_probing(Device::Cpu, 0).cores, 1);
    }
}

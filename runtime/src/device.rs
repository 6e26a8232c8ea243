//! Devices, execution providers, hardware detection and the provider fallback chain.
//!
//! Detection goes through the [`HardwareProbe`] trait so that tests can simulate a machine
//! (CUDA present, CoreML only, nothing at all) and check the chain chosen deterministically.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// What the user asks to run on.
///
/// Parsed from the strings that `--device`, `INFERX_DEVICE` and `device:` in `inferx.yaml`
/// take (case-insensitive, with aliases such as `gpu`, `trt`, `ov`, `dml`) and printed back
/// in the same form:
///
/// ```
/// use inferx_runtime::{Device, Error, Provider};
///
/// let device: Device = "cuda:1".parse()?;
/// assert_eq!(device, Device::Cuda(1));
/// assert_eq!(device.provider(), Some(Provider::Cuda));
/// assert_eq!(device.device_id(), 1);
/// assert_eq!(device.to_string(), "cuda:1");
///
/// assert_eq!("TRT".parse::<Device>()?, Device::TensorRt(0));
/// assert_eq!(Device::TensorRt(0).to_string(), "tensorrt"); // index 0 is not printed
/// assert_eq!(Device::default(), Device::Auto);
/// assert!(matches!("tpu".parse::<Device>(), Err(Error::UnknownDevice(_))));
/// assert!("openvino:1".parse::<Device>().is_err()); // OpenVINO takes no index
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Pick the fastest usable provider, falling back to CPU.
    #[default]
    Auto,
    /// The CPU provider.
    Cpu,
    /// NVIDIA CUDA on the GPU with this index.
    Cuda(u32),
    /// NVIDIA TensorRT on the GPU with this index (falls back to CUDA, then CPU).
    TensorRt(u32),
    /// Intel OpenVINO.
    OpenVino,
    /// Apple Core ML.
    CoreMl,
    /// DirectML on Windows, on the adapter with this index.
    DirectMl(u32),
    /// AMD ROCm on the GPU with this index.
    Rocm(u32),
    /// WebGPU (Dawn) on any GPU adapter.
    WebGpu,
}

/// An ONNX Runtime execution provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The default CPU provider, always present.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT.
    TensorRt,
    /// Intel OpenVINO.
    OpenVino,
    /// Apple Core ML.
    CoreMl,
    /// Microsoft DirectML.
    DirectMl,
    /// AMD ROCm.
    Rocm,
    /// WebGPU.
    WebGpu,
}

impl Provider {
    /// Every provider InferX can dispatch to, fastest first for `auto`.
    pub const ALL: [Provider; 8] = [
        Provider::TensorRt,
        Provider::Cuda,
        Provider::Rocm,
        Provider::CoreMl,
        Provider::DirectMl,
        Provider::OpenVino,
        Provider::WebGpu,
        Provider::Cpu,
    ];

    /// The name ONNX Runtime uses for this provider.
    pub fn ort_name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPUExecutionProvider",
            Provider::Cuda => "CUDAExecutionProvider",
            Provider::TensorRt => "TensorrtExecutionProvider",
            Provider::OpenVino => "OpenVINOExecutionProvider",
            Provider::CoreMl => "CoreMLExecutionProvider",
            Provider::DirectMl => "DmlExecutionProvider",
            Provider::Rocm => "ROCMExecutionProvider",
            Provider::WebGpu => "WebGpuExecutionProvider",
        }
    }

    /// A short lowercase name (`cuda`), as accepted by `--device`.
    pub fn short_name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::OpenVino => "openvino",
            Provider::CoreMl => "coreml",
            Provider::DirectMl => "directml",
            Provider::Rocm => "rocm",
            Provider::WebGpu => "webgpu",
        }
    }

    /// The install command that brings an ONNX Runtime build containing this provider.
    pub fn install_hint(self) -> &'static str {
        match self {
            Provider::Cuda | Provider::TensorRt => "`inferx runtime install --gpu`",
            Provider::OpenVino => "`inferx runtime install --openvino`",
            Provider::WebGpu => "`inferx runtime install --webgpu` (the WebGPU plugin)",
            _ => "an ONNX Runtime build with this provider",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl Device {
    /// The provider this device runs on, or `None` for [`Device::Auto`].
    pub fn provider(self) -> Option<Provider> {
        Some(match self {
            Device::Auto => return None,
            Device::Cpu => Provider::Cpu,
            Device::Cuda(_) => Provider::Cuda,
            Device::TensorRt(_) => Provider::TensorRt,
            Device::OpenVino => Provider::OpenVino,
            Device::CoreMl => Provider::CoreMl,
            Device::DirectMl(_) => Provider::DirectMl,
            Device::Rocm(_) => Provider::Rocm,
            Device::WebGpu => Provider::WebGpu,
        })
    }

    /// The GPU index for providers that take one.
    pub fn device_id(self) -> u32 {
        match self {
            Device::Cuda(id) | Device::TensorRt(id) | Device::DirectMl(id) | Device::Rocm(id) => id,
            _ => 0,
        }
    }

    fn with_provider(provider: Provider, device_id: u32) -> Device {
        match provider {
            Provider::Cpu => Device::Cpu,
            Provider::Cuda => Device::Cuda(device_id),
            Provider::TensorRt => Device::TensorRt(device_id),
            Provider::OpenVino => Device::OpenVino,
            Provider::CoreMl => Device::CoreMl,
            Provider::DirectMl => Device::DirectMl(device_id),
            Provider::Rocm => Device::Rocm(device_id),
            Provider::WebGpu => Device::WebGpu,
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cuda(id) | Device::TensorRt(id) | Device::DirectMl(id) | Device::Rocm(id) if *id > 0 => {
                write!(f, "{}:{id}", self.provider().map_or("", Provider::short_name))
            }
            other => f.write_str(other.provider().map_or("auto", Provider::short_name)),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let (name, id) = match lower.split_once(':') {
            Some((name, id)) => (name, Some(id.parse::<u32>().map_err(|_| Error::UnknownDevice(text.to_string()))?)),
            None => (lower.as_str(), None),
        };
        let provider = match name {
            "auto" if id.is_none() => return Ok(Device::Auto),
            "cpu" => Provider::Cpu,
            "cuda" | "gpu" => Provider::Cuda,
            "tensorrt" | "trt" => Provider::TensorRt,
            "openvino" | "ov" => Provider::OpenVino,
            "coreml" => Provider::CoreMl,
            "directml" | "dml" => Provider::DirectMl,
            "rocm" => Provider::Rocm,
            "webgpu" => Provider::WebGpu,
            _ => return Err(Error::UnknownDevice(text.to_string())),
        };
        let takes_id = matches!(provider, Provider::Cuda | Provider::TensorRt | Provider::DirectMl | Provider::Rocm);
        if id.is_some() && !takes_id {
            return Err(Error::UnknownDevice(text.to_string()));
        }
        Ok(Device::with_provider(provider, id.unwrap_or(0)))
    }
}

impl Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A GPU adapter seen on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Adapter name, e.g. "NVIDIA GeForce RTX 4090".
    pub name: String,
    /// Vendor.
    pub vendor: GpuVendor,
    /// The graphics API it was seen through (Vulkan, Metal, Dx12...).
    pub backend: String,
}

/// GPU vendors that matter for provider choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuVendor {
    /// NVIDIA (CUDA, TensorRT).
    Nvidia,
    /// AMD (ROCm).
    Amd,
    /// Intel (OpenVINO GPU).
    Intel,
    /// Apple silicon.
    Apple,
    /// Anything else.
    Other,
}

impl GpuVendor {
    /// Maps a PCI vendor id to a vendor.
    pub fn from_pci_id(id: u32) -> GpuVendor {
        match id {
            0x10de => GpuVendor::Nvidia,
            0x1002 | 0x1022 => GpuVendor::Amd,
            0x8086 => GpuVendor::Intel,
            0x106b => GpuVendor::Apple,
            _ => GpuVendor::Other,
        }
    }
}

/// What the machine and the loaded ONNX Runtime offer. Implemented by [`SystemProbe`](crate::library::SystemProbe) for the
/// real machine and by test doubles for simulated hardware.
pub trait HardwareProbe {
    /// Names of the providers compiled into the loaded ONNX Runtime (`CUDAExecutionProvider`...).
    fn ort_providers(&self) -> Vec<String>;
    /// GPU adapters seen on the machine.
    fn gpus(&self) -> Vec<GpuInfo>;
    /// The operating system (`linux`, `macos`, `windows`), as in `std::env::consts::OS`.
    fn os(&self) -> String {
        std::env::consts::OS.to_string()
    }
}

/// Whether a provider can be used now, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// The provider.
    pub provider: Provider,
    /// Compiled into the loaded ONNX Runtime.
    pub in_runtime: bool,
    /// Usable now: in the runtime and the hardware it needs is present.
    pub usable: bool,
    /// Why it is not usable (empty when usable).
    pub reason: String,
}

/// Judges one provider against what the probe reports.
pub fn provider_status(provider: Provider, probe: &dyn HardwareProbe) -> ProviderStatus {
    let ort_providers = probe.ort_providers();
    let in_runtime = provider == Provider::Cpu || ort_providers.iter().any(|name| name == provider.ort_name());
    let gpus = probe.gpus();
    let has_vendor = |vendor: GpuVendor| gpus.iter().any(|gpu| gpu.vendor == vendor);
    let os = probe.os();
    let hardware_problem = match provider {
        Provider::Cpu | Provider::OpenVino => None,
        Provider::Cuda | Provider::TensorRt if !has_vendor(GpuVendor::Nvidia) => {
            Some("no NVIDIA GPU found".to_string())
        }
        Provider::Rocm if !has_vendor(GpuVendor::Amd) => Some("no AMD GPU found".to_string()),
        Provider::CoreMl if os != "macos" => Some(format!("Core ML needs macOS (this is {os})")),
        Provider::DirectMl if os != "windows" => Some(format!("DirectML needs Windows (this is {os})")),
        Provider::WebGpu if gpus.is_empty() => Some("no GPU adapter found".to_string()),
        _ => None,
    };
    // One reason, and advice only where it helps: with no hardware for the provider, another
    // ONNX Runtime build would not make it usable, so the hardware is the reason.
    let reason = match (hardware_problem.clone(), in_runtime) {
        (Some(problem), _) => problem,
        (None, false) => format!("not in this ONNX Runtime build (install one with {})", provider.install_hint()),
        (None, true) => String::new(),
    };
    ProviderStatus { provider, in_runtime, usable: in_runtime && hardware_problem.is_none(), reason }
}

/// One step of a provider chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainEntry {
    /// The device (provider plus index) to try.
    pub device: Device,
    /// Whether the probe judged it usable; unusable entries of an explicit request are still
    /// tried so that ONNX Runtime's own error is reported.
    pub usable: bool,
    /// Why the probe judged it unusable.
    pub reason: String,
}

/// The ordered providers to try; the last entry is always the CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderChain {
    /// What was asked for.
    pub requested: Device,
    /// Entries in the order they are tried.
    pub entries: Vec<ChainEntry>,
}

impl ProviderChain {
    /// Plans the chain for a requested device on the probed machine.
    ///
    /// `Auto` keeps only usable accelerators, fastest first, then the CPU. An explicit device is
    /// tried first even when the probe says it is unusable, then its natural fallbacks
    /// (TensorRT → CUDA → CPU; everything else → CPU).
    ///
    /// [`Engine::load`](crate::Engine::load) plans with the real machine ([`SystemProbe`](crate::library::SystemProbe));
    /// any [`HardwareProbe`] can stand in for it:
    ///
    /// ```
    /// use inferx_runtime::device::{Device, GpuInfo, GpuVendor, HardwareProbe, ProviderChain};
    ///
    /// /// A Linux box with an NVIDIA GPU and the CUDA build of ONNX Runtime.
    /// struct CudaMachine;
    ///
    /// impl HardwareProbe for CudaMachine {
    ///     fn ort_providers(&self) -> Vec<String> {
    ///         vec!["CUDAExecutionProvider".into(), "CPUExecutionProvider".into()]
    ///     }
    ///     fn gpus(&self) -> Vec<GpuInfo> {
    ///         vec![GpuInfo { name: "NVIDIA L4".into(), vendor: GpuVendor::Nvidia, backend: "Vulkan".into() }]
    ///     }
    ///     fn os(&self) -> String {
    ///         "linux".into()
    ///     }
    /// }
    ///
    /// let chain = ProviderChain::plan(Device::Auto, &CudaMachine);
    /// assert_eq!(chain.describe(), "cuda → cpu");
    ///
    /// // Asked for explicitly, TensorRT is tried first although this build lacks it.
    /// let chain = ProviderChain::plan(Device::TensorRt(0), &CudaMachine);
    /// assert_eq!(chain.describe(), "tensorrt → cuda → cpu");
    /// assert!(!chain.entries[0].usable);
    /// assert!(chain.entries[0].reason.contains("not in this ONNX Runtime build"));
    /// ```
    pub fn plan(requested: Device, probe: &dyn HardwareProbe) -> ProviderChain {
        let entry = |device: Device| {
            let status = provider_status(device.provider().unwrap_or(Provider::Cpu), probe);
            ChainEntry { device, usable: status.usable, reason: status.reason }
        };
        let entries = match requested {
            Device::Auto => Provider::ALL
                .iter()
                .filter(|provider| !matches!(provider, Provider::WebGpu))
                .map(|&provider| entry(Device::with_provider(provider, 0)))
                .filter(|entry| entry.usable)
                .collect(),
            Device::Cpu => vec![entry(Device::Cpu)],
            Device::TensorRt(id) => vec![entry(Device::TensorRt(id)), entry(Device::Cuda(id)), entry(Device::Cpu)],
            other => vec![entry(other), entry(Device::Cpu)],
        };
        ProviderChain { requested, entries }
    }

    /// The providers in order, for display (`tensorrt → cuda → cpu`).
    pub fn describe(&self) -> String {
        self.entries.iter().map(|entry| entry.device.to_string()).collect::<Vec<_>>().join(" → ")
    }
}

/// CPU facts for the device report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Model name, e.g. "AMD EPYC 7B13".
    pub model: String,
    /// Logical cores available to this process.
    pub logical_cores: usize,
    /// SIMD extensions the preprocessing and ONNX Runtime can use.
    pub simd: Vec<String>,
    /// Architecture (`x86_64`, `aarch64`).
    pub arch: String,
}

impl CpuInfo {
    /// Reads the CPU facts of this machine.
    pub fn detect() -> CpuInfo {
        CpuInfo {
            model: cpu_model_name(),
            logical_cores: std::thread::available_parallelism().map_or(1, usize::from),
            simd: simd_features(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

fn cpu_model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name") || line.starts_with("Model"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, value)| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn simd_features() -> Vec<String> {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        expect(unused_mut, reason = "only the SIMD probes below push")
    )]
    let mut found: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! check {
            ($($feature:tt),*) => {$(if std::arch::is_x86_feature_detected!($feature) { found.push($feature); })*};
        }
        check!("sse4.1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "avxvnni");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! check {
            ($($feature:tt),*) => {$(if std::arch::is_aarch64_feature_detected!($feature) { found.push($feature); })*};
        }
        check!("neon", "dotprod", "fp16", "i8mm", "sve");
    }
    found.into_iter().map(str::to_string).collect()
}

/// Lists GPU adapters, bounded in time so a broken driver cannot hang the CLI.
pub fn detect_gpus() -> Vec<GpuInfo> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(enumerate_gpus());
    });
    receiver.recv_timeout(std::time::Duration::from_secs(5)).unwrap_or_default()
}

#[cfg(feature = "gpu-detect")]
fn enumerate_gpus() -> Vec<GpuInfo> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // Native backends only: GL would open a display connection just to list adapters.
    let backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    descriptor.backends = backends;
    let instance = wgpu::Instance::new(descriptor);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let mut gpus: Vec<GpuInfo> = adapters
        .into_iter()
        .map(|adapter| adapter.get_info())
        .filter(|info| info.device_type != wgpu::DeviceType::Cpu)
        .map(|info| GpuInfo {
            name: info.name,
            vendor: GpuVendor::from_pci_id(info.vendor),
            backend: format!("{:?}", info.backend),
        })
        .collect();
    gpus.dedup_by(|a, b| a.name == b.name);
    gpus
}

#[cfg(not(feature = "gpu-detect"))]
fn enumerate_gpus() -> Vec<GpuInfo> {
    // Without wgpu, read the PCI display controllers Linux lists (class 0x03xxxx).
    let Ok(entries) = std::fs::read_dir("/sys/bus/pci/devices") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
            let class = read("class")?;
            if !class.trim().starts_with("0x03") {
                return None;
            }
            let vendor = u32::from_str_radix(read("vendor")?.trim().trim_start_matches("0x"), 16).ok()?;
            Some(GpuInfo {
                name: format!("PCI {}", entry.file_name().to_string_lossy()),
                vendor: GpuVendor::from_pci_id(vendor),
                backend: "pci".to_string(),
            })
        })
        .collect()
}

/// Simulated machines for the tests of the modules that plan from a [`HardwareProbe`].
#[cfg(test)]
pub(crate) mod simulated {
    use super::{GpuInfo, GpuVendor, HardwareProbe};

    /// A simulated machine: the providers of its ONNX Runtime build, its GPUs, its OS.
    pub(crate) struct FakeMachine {
        pub(crate) providers: &'static [&'static str],
        pub(crate) gpus: Vec<GpuInfo>,
        pub(crate) os: &'static str,
    }

    impl HardwareProbe for FakeMachine {
        fn ort_providers(&self) -> Vec<String> {
            self.providers.iter().map(std::string::ToString::to_string).collect()
        }
        fn gpus(&self) -> Vec<GpuInfo> {
            self.gpus.clone()
        }
        fn os(&self) -> String {
            self.os.to_string()
        }
    }

    pub(crate) fn nvidia() -> GpuInfo {
        GpuInfo { name: "NVIDIA L4".into(), vendor: GpuVendor::Nvidia, backend: "Vulkan".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        simulated::{nvidia, FakeMachine},
        *,
    };

    fn devices(chain: &ProviderChain) -> Vec<Device> {
        chain.entries.iter().map(|entry| entry.device).collect()
    }

    #[test]
    fn auto_on_a_cuda_machine_prefers_tensorrt_then_cuda_then_cpu() {
        let machine = FakeMachine {
            providers: &["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            gpus: vec![nvidia()],
            os: "linux",
        };
        let chain = ProviderChain::plan(Device::Auto, &machine);
        assert_eq!(devices(&chain), [Device::TensorRt(0), Device::Cuda(0), Device::Cpu]);
        assert_eq!(chain.describe(), "tensorrt → cuda → cpu");
    }

    #[test]
    fn auto_with_gpu_build_but_no_gpu_is_cpu_only() {
        let machine =
            FakeMachine { providers: &["CUDAExecutionProvider", "CPUExecutionProvider"], gpus: vec![], os: "linux" };
        assert_eq!(devices(&ProviderChain::plan(Device::Auto, &machine)), [Device::Cpu]);
        let status = provider_status(Provider::Cuda, &machine);
        assert!(!status.usable);
        assert_eq!(status.reason, "no NVIDIA GPU found");
    }

    #[test]
    fn auto_on_a_mac_uses_coreml_only() {
        let machine = FakeMachine {
            providers: &["CoreMLExecutionProvider", "CPUExecutionProvider"],
            gpus: vec![GpuInfo { name: "Apple M3".into(), vendor: GpuVendor::Apple, backend: "Metal".into() }],
            os: "macos",
        };
        assert_eq!(devices(&ProviderChain::plan(Device::Auto, &machine)), [Device::CoreMl, Device::Cpu]);
    }

    #[test]
    fn nothing_but_a_cpu_gives_cpu() {
        let machine = FakeMachine { providers: &["CPUExecutionProvider"], gpus: vec![], os: "linux" };
        assert_eq!(devices(&ProviderChain::plan(Device::Auto, &machine)), [Device::Cpu]);
    }

    #[test]
    fn explicit_cuda_on_a_cpu_build_is_kept_first_with_the_reason() {
        let machine = FakeMachine { providers: &["CPUExecutionProvider"], gpus: vec![], os: "linux" };
        let chain = ProviderChain::plan(Device::Cuda(1), &machine);
        assert_eq!(devices(&chain), [Device::Cuda(1), Device::Cpu]);
        assert!(!chain.entries[0].usable);
        // No NVIDIA GPU: that is the one reason, and no GPU build is advised.
        assert_eq!(chain.entries[0].reason, "no NVIDIA GPU found");
        // With one, the build is what is missing, and the GPU build is the advice.
        let with_gpu = FakeMachine { providers: &["CPUExecutionProvider"], gpus: vec![nvidia()], os: "linux" };
        let chain = ProviderChain::plan(Device::Cuda(1), &with_gpu);
        assert_eq!(
            chain.entries[0].reason,
            "not in this ONNX Runtime build (install one with `inferx runtime install --gpu`)"
        );
    }

    #[test]
    fn providers_of_another_system_give_the_system_as_the_one_reason() {
        let linux = FakeMachine { providers: &["CPUExecutionProvider"], gpus: vec![], os: "linux" };
        assert_eq!(provider_status(Provider::CoreMl, &linux).reason, "Core ML needs macOS (this is linux)");
        assert_eq!(provider_status(Provider::DirectMl, &linux).reason, "DirectML needs Windows (this is linux)");
        let status = provider_status(Provider::OpenVino, &linux);
        assert_eq!(
            status.reason,
            "not in this ONNX Runtime build (install one with `inferx runtime install --openvino`)"
        );
    }

    #[test]
    fn explicit_tensorrt_falls_back_through_cuda() {
        let machine = FakeMachine { providers: &["CPUExecutionProvider"], gpus: vec![], os: "linux" };
        assert_eq!(
            devices(&ProviderChain::plan(Device::TensorRt(0), &machine)),
            [Device::TensorRt(0), Device::Cuda(0), Device::Cpu]
        );
    }

    #[test]
    fn openvino_is_usable_without_a_gpu_when_in_the_build() {
        let machine = FakeMachine {
            providers: &["OpenVINOExecutionProvider", "CPUExecutionProvider"],
            gpus: vec![],
            os: "linux",
        };
        assert_eq!(devices(&ProviderChain::plan(Device::Auto, &machine)), [Device::OpenVino, Device::Cpu]);
    }

    #[test]
    fn device_strings_parse_and_print() {
        for (text, device) in [
            ("auto", Device::Auto),
            ("cpu", Device::Cpu),
            ("CUDA", Device::Cuda(0)),
            ("cuda:1", Device::Cuda(1)),
            ("trt:2", Device::TensorRt(2)),
            ("openvino", Device::OpenVino),
            ("dml", Device::DirectMl(0)),
        ] {
            assert_eq!(text.parse::<Device>().unwrap(), device, "{text}");
        }
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
        assert_eq!(Device::Cuda(0).to_string(), "cuda");
        for bad in ["tpu", "cuda:x", "openvino:1", "auto:0", ""] {
            assert!(matches!(bad.parse::<Device>(), Err(Error::UnknownDevice(_))), "{bad}");
        }
    }
}

//! WebGPU through ONNX Runtime's plugin execution provider (`onnxruntime-ep-webgpu`): the
//! plugin library is registered with the environment once (`RegisterExecutionProviderLibrary`),
//! and a session takes the WebGPU devices it lists (`SessionOptionsAppendExecutionProvider_V2`),
//! both through `ort` ([`ort::environment::Environment::register_ep_library`],
//! [`SessionBuilder::with_devices`]). A build of ONNX Runtime with WebGPU built in is used
//! the classic way instead.
//!
//! Without a GPU adapter the plugin lists no device (Dawn also refuses software Vulkan such as
//! Mesa's lavapipe): registration then fails with that reason, and the chain falls back.

use std::{path::Path, sync::Mutex};

use ort::{
    environment::Environment,
    ep::{self, ExecutionProvider},
    session::builder::SessionBuilder,
};

use crate::library;

/// The name ONNX Runtime gives the plugin's provider.
pub const WEBGPU_EP_NAME: &str = "WebGpuExecutionProvider";

/// Registers WebGPU on `builder`: the plugin when one is installed, else a built-in WebGPU.
pub(crate) fn register(environment: &Environment, builder: SessionBuilder) -> Result<SessionBuilder, String> {
    let Some(plugin) = library::webgpu_plugin() else {
        let mut builder = builder;
        if ep::WebGPU::is_available().unwrap_or(false) {
            ep::WebGPU::default().register(&mut builder).map_err(|error| error.to_string())?;
            return Ok(builder);
        }
        return Err(
            "the WebGPU plugin is not installed: run `inferx runtime install --webgpu` (or set INFERX_WEBGPU_PLUGIN)"
                .to_string(),
        );
    };
    register_plugin(environment, &plugin)?;
    let devices: Vec<_> =
        environment.devices().filter(|device| device.ep().is_ok_and(|name| name == WEBGPU_EP_NAME)).collect();
    if devices.is_empty() {
        return Err(format!(
            "the WebGPU plugin ({}) found no GPU adapter it can use: it needs a Vulkan, Metal or D3D12 GPU (software Vulkan is refused)",
            plugin.display()
        ));
    }
    builder.with_devices(devices, None).map_err(|error| error.to_string())
}

/// Registers the plugin library with the environment, once per process (ONNX Runtime refuses
/// a second registration under the same name); the first outcome is kept.
fn register_plugin(environment: &Environment, plugin: &Path) -> Result<(), String> {
    static REGISTERED: Mutex<Option<Result<(), String>>> = Mutex::new(None);
    let mut registered = REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    registered
        .get_or_insert_with(|| {
            if !plugin.is_file() {
                return Err(format!(
                    "the WebGPU plugin `{}` does not exist: run `inferx runtime install --webgpu`",
                    plugin.display()
                ));
            }
            environment.register_ep_library("webgpu", plugin).map_err(|error| {
                format!("ONNX Runtime could not register the WebGPU plugin `{}`: {error}", plugin.display())
            })?;
            tracing::debug!("registered the WebGPU plugin {}", plugin.display());
            Ok(())
        })
        .clone()
}

//! Ctrl-C and SIGTERM during `inferx quantize`: the step in hand stops (the Python tool is
//! killed), the staged int8 file and the calibration tensors are deleted as their guards drop,
//! and the command fails with "interrupted". Without this, the default SIGINT ended the process
//! on the spot and left a `.inferx-int8-*.onnx` beside the model and megabytes of tensors in
//! the temporary folder. A second Ctrl-C ends the process at once.

use std::{
    io::Read,
    process::{Child, Command, Output, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{bail, Context};

/// Exit status of a process ended by a second Ctrl-C, as shells report SIGINT.
const SECOND_CTRL_C: i32 = 130;

/// The error of an interrupted run.
const INTERRUPTED: &str = "interrupted: nothing written, and the temporary files are deleted";

/// Whether Ctrl-C or SIGTERM has come.
pub(super) struct Interrupt {
    pressed: Arc<AtomicBool>,
}

impl Interrupt {
    /// Watches for SIGINT and SIGTERM from now on.
    pub(super) fn watch() -> anyhow::Result<Interrupt> {
        let pressed = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        {
            use signal_hook::{consts::TERM_SIGNALS, flag};
            for &signal in TERM_SIGNALS {
                // Registered first, so it sees the flag as the previous signal left it.
                flag::register_conditional_shutdown(signal, SECOND_CTRL_C, pressed.clone())
                    .and_then(|_| flag::register(signal, pressed.clone()))
                    .context("could not watch for Ctrl-C")?;
            }
        }
        Ok(Interrupt { pressed })
    }

    /// Fails with "interrupted" once Ctrl-C or SIGTERM has come.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.pressed.load(Ordering::SeqCst) {
            bail!(INTERRUPTED);
        }
        Ok(())
    }

    /// `command`'s output, as [`Command::output`] gives it; killed (and "interrupted") when
    /// Ctrl-C or SIGTERM comes first.
    pub(super) fn output(&self, command: &mut Command) -> anyhow::Result<Output> {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        // Both pipes drained as the child writes, so that a full pipe never blocks it.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if self.pressed.load(Ordering::SeqCst) {
                stop(&mut child);
                bail!(INTERRUPTED);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let collect = |reader: std::thread::JoinHandle<Vec<u8>>| reader.join().unwrap_or_default();
        Ok(Output { status, stdout: collect(stdout), stderr: collect(stderr) })
    }
}

/// A thread reading `pipe` to its end.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Ends `child` and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

//! Where command output goes: results to stdout, status to stderr, silenced by `--quiet`.

use std::io::{IsTerminal, Write};

/// Writes command output. Results go to stdout; status lines to stderr unless quiet.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
}

impl Printer {
    /// A printer; `quiet` silences status lines (results are still printed).
    pub fn new(quiet: bool) -> Self {
        Printer { quiet }
    }

    /// Prints a result line to stdout.
    pub fn out(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", text.as_ref())
    }

    /// Prints a status line to stderr.
    pub fn status(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    /// Whether progress is drawn: not when quiet, and only on a terminal.
    fn draws_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// A progress bar of `length` steps on stderr, with the time left once it can be told;
    /// hidden when quiet or not a terminal.
    pub fn progress(&self, length: u64, message: &str) -> indicatif::ProgressBar {
        self.bar(length, message, "{msg} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})")
    }

    /// A bar of frames: how many, frames per second, and the time left (`frames` 0: unknown
    /// length, a count without a bar).
    #[cfg(feature = "video")]
    pub fn frames(&self, frames: u64, message: &str) -> indicatif::ProgressBar {
        if frames == 0 {
            return self.bar(0, message, "{msg} {pos} frames {per_sec} {elapsed}");
        }
        self.bar(frames, message, "{msg} [{bar:30}] {pos}/{len} frames {per_sec} (eta {eta})")
    }

    /// A progress bar of `length` images with their rate and the time left.
    pub fn progress_rate(&self, length: u64, message: &str) -> indicatif::ProgressBar {
        self.bar(length, message, "{msg} [{bar:30}] {pos}/{len} {images_per_second} (eta {eta})")
    }

    /// A download bar: bytes, speed and the time left.
    pub fn download(&self, bytes: u64, message: &str) -> indicatif::ProgressBar {
        self.bar(bytes, message, "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} (eta {eta})")
    }

    fn bar(&self, length: u64, message: &str, template: &str) -> indicatif::ProgressBar {
        if !self.draws_progress() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(length);
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .with_key("images_per_second", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                // A full terminal is no reason to fail: the bar just misses a frame.
                let _ = write!(out, "{:.1} images/s", state.per_sec());
            })
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(message.to_string());
        bar
    }

    /// A spinner for a step of unknown length (a build, a download being resolved): the step's
    /// name, what runs, and the time so far, ticking on its own (`⠙ build     cargo build  12s`).
    /// Hidden when quiet or not a terminal.
    pub fn spinner(&self, step: &str, message: &str) -> indicatif::ProgressBar {
        if !self.draws_progress() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner();
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:<9} {msg}  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(step.to_string());
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// A status line printed above a bar or spinner that is drawn (so no stale copy of the bar
    /// stays behind), else as [`Printer::status`].
    pub fn status_above(&self, bar: &indicatif::ProgressBar, text: impl AsRef<str>) {
        if bar.is_hidden() {
            self.status(text);
        } else if !self.quiet {
            bar.println(text.as_ref());
        }
    }
}

/// Formats rows as an aligned plain-text table (the runtime's, which generated projects print
/// with too).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    inferx_runtime::results::text_table(headers, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let text = table(&["a", "long header"], &[vec!["wide cell".into(), "x".into()]]);
        assert_eq!(text, "a          long header\n---------  -----------\nwide cell  x");
    }
}

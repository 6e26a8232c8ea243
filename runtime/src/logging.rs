//! Log lines on stderr, set up one way for the `inferx` CLI and every generated project.
//!
//! - `INFERX_LOG` takes a tracing filter (`info`, `debug`, `inferx_runtime=debug,warn`); the
//!   caller gives the default.
//! - `INFERX_LOG_FORMAT` is `text` (the default) or `json`: one JSON object per line, with a
//!   timestamp, level, target and fields, for log collectors in containers.
//! - Colour only when stderr is a terminal and `NO_COLOR` is unset or empty
//!   (<https://no-color.org>): a pipe or a container log never gets escape codes.
//! - Timestamps (RFC 3339, UTC) where the caller asks for them: servers log them, a one-shot
//!   command on a terminal does not need them. JSON lines always carry one.

use std::{io::IsTerminal, str::FromStr};

use tracing_subscriber::{fmt::MakeWriter, EnvFilter};

use crate::error::{Error, Result};

/// The environment variable holding the log filter.
pub const LOG_ENV: &str = "INFERX_LOG";

/// The environment variable choosing the log format (`text` or `json`).
pub const LOG_FORMAT_ENV: &str = "INFERX_LOG_FORMAT";

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event (timestamp, level, target, fields).
    Json,
}

impl FromStr for LogFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(Error::config(format!("{LOG_FORMAT_ENV}={other} is not a log format: use `text` or `json`"))),
        }
    }
}

/// What the log output looks like; [`LogSettings::from_environment`] reads it from the
/// process's environment, [`LogSettings::from_variables`] from any lookup (tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The filter: `INFERX_LOG` when set, else the caller's default.
    pub filter: String,
    /// Text or JSON.
    pub format: LogFormat,
    /// ANSI colours (text only).
    pub colour: bool,
    /// A timestamp at the start of each text line.
    pub timestamps: bool,
}

impl LogSettings {
    /// The settings for stderr in this process: `default_filter` unless `INFERX_LOG` is set,
    /// timestamps when `timestamps` (servers), colour only on a terminal without `NO_COLOR`.
    pub fn from_environment(default_filter: &str, timestamps: bool) -> Result<Self> {
        Self::from_variables(default_filter, timestamps, std::io::stderr().is_terminal(), |name| {
            std::env::var(name).ok()
        })
    }

    /// [`LogSettings::from_environment`] with the terminal test and the variables given.
    pub fn from_variables(
        default_filter: &str,
        timestamps: bool,
        stderr_is_terminal: bool,
        variable: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let format = variable(LOG_FORMAT_ENV).map_or(Ok(LogFormat::Text), |text| text.parse())?;
        let no_colour = variable("NO_COLOR").is_some_and(|value| !value.is_empty());
        Ok(LogSettings {
            filter: variable(LOG_ENV).filter(|filter| !filter.trim().is_empty()).unwrap_or(default_filter.to_string()),
            format,
            colour: stderr_is_terminal && !no_colour && format == LogFormat::Text,
            timestamps,
        })
    }

    /// A subscriber writing these lines to `writer` (stderr in [`LogSettings::init`]).
    pub fn subscriber<W>(&self, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
    where
        W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    {
        // An unreadable filter falls back to the default rather than silencing warnings.
        let filter = EnvFilter::try_new(&self.filter).unwrap_or_else(|_| EnvFilter::new("warn"));
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
        match (self.format, self.timestamps) {
            (LogFormat::Json, _) => Box::new(builder.json().with_ansi(false).finish()),
            (LogFormat::Text, true) => Box::new(builder.with_ansi(self.colour).with_target(false).compact().finish()),
            (LogFormat::Text, false) => {
                Box::new(builder.with_ansi(self.colour).with_target(false).without_time().compact().finish())
            }
        }
    }

    /// Sends this process's logs to stderr with these settings (once; later calls do nothing).
    pub fn init(&self) {
        let _ = tracing::subscriber::set_global_default(self.subscriber(std::io::stderr));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn settings(terminal: bool, timestamps: bool, variables: &[(&str, &str)]) -> Result<LogSettings> {
        LogSettings::from_variables("warn", timestamps, terminal, |name| {
            variables.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
        })
    }

    /// The lines `settings` writes for one warning.
    fn warning_lines(settings: &LogSettings) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let writer = move || Writer(sink.clone());
        tracing::subscriber::with_default(settings.subscriber(writer), || {
            tracing::warn!(provider = "cuda", "execution provider `cuda` is not usable");
            tracing::info!("filtered out at warn");
        });
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(settings(true, false, &[]).unwrap().colour);
        assert!(!settings(false, false, &[]).unwrap().colour, "a pipe gets no colour");
        assert!(!settings(true, false, &[("NO_COLOR", "1")]).unwrap().colour);
        assert!(settings(true, false, &[("NO_COLOR", "")]).unwrap().colour, "an empty NO_COLOR is unset");
        assert!(!settings(true, false, &[(LOG_FORMAT_ENV, "json")]).unwrap().colour);
        let piped = warning_lines(&settings(false, false, &[]).unwrap());
        assert!(piped.contains("WARN") && !piped.contains('\x1b'), "{piped:?}");
        let coloured = warning_lines(&settings(true, false, &[]).unwrap());
        assert!(coloured.contains('\x1b'), "{coloured:?}");
    }

    #[test]
    fn servers_get_timestamps_and_json_lines_carry_one() {
        let stamped = warning_lines(&settings(false, true, &[]).unwrap());
        let first = stamped.lines().next().unwrap();
        // 2026-01-02T03:04:05.678901Z  WARN ...
        assert!(first.len() > 20 && first.as_bytes()[4] == b'-' && first.as_bytes()[10] == b'T', "{first}");
        let plain = warning_lines(&settings(false, false, &[]).unwrap());
        assert!(plain.trim_start().starts_with("WARN"), "{plain}");

        let json = warning_lines(&settings(false, false, &[(LOG_FORMAT_ENV, "json")]).unwrap());
        assert_eq!(json.lines().count(), 1, "the info line is filtered out: {json}");
        let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["message"], "execution provider `cuda` is not usable");
        assert_eq!(line["fields"]["provider"], "cuda");
        assert!(line["timestamp"].as_str().unwrap().contains('T'), "{line}");
    }

    #[test]
    fn the_filter_and_format_come_from_the_environment() {
        assert_eq!(settings(false, false, &[(LOG_ENV, "debug")]).unwrap().filter, "debug");
        assert_eq!(settings(false, false, &[(LOG_ENV, " ")]).unwrap().filter, "warn");
        let error = settings(false, false, &[(LOG_FORMAT_ENV, "xml")]).unwrap_err().to_string();
        assert!(error.contains("INFERX_LOG_FORMAT=xml") && error.contains("`json`"), "{error}");
    }
}

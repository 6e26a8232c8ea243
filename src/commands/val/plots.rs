//! `inferx val --plots DIR`: precision-recall curves per class and the confusion matrix.

use std::path::Path;

use super::report::{ClassificationReport, DetectionReport};

pub(crate) fn write_detection(_dir: &Path, _report: &DetectionReport) -> anyhow::Result<()> {
    anyhow::bail!("--plots is not written yet")
}

pub(crate) fn write_classification(_dir: &Path, _report: &ClassificationReport) -> anyhow::Result<()> {
    anyhow::bail!("--plots is not written yet")
}

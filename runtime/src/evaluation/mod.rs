//! Accuracy of predictions against labelled data (`inferx val`): COCO-style detection
//! metrics computed as pycocotools computes them ([`detection`]), and top-k accuracy with a
//! confusion matrix for classifiers ([`classification`]).
//!
//! Plain numbers in, plain numbers out: no model, no files, so the metrics are tested on fixed
//! inputs against the reference implementations (`scripts/reference_val.py`).

pub mod classification;
pub mod detection;

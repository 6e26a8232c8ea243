//! Accuracy of predictions against labelled data (`inferx val`): COCO-style detection and
//! instance mask metrics computed as pycocotools computes them ([`detection`], [`masks`]),
//! top-k accuracy with a confusion matrix for classifiers ([`classification`]), IoU and pixel
//! accuracy of segmentation maps ([`segmentation`]), and anomalib's AUROC and F1-optimal
//! threshold ([`anomaly`]).
//!
//! Plain numbers in, plain numbers out: no model, no files, so the metrics are tested on fixed
//! inputs against the reference implementations (`scripts/reference_val.py`).

pub mod anomaly;
pub mod classification;
pub mod detection;
pub mod masks;
pub mod report;
pub mod segmentation;

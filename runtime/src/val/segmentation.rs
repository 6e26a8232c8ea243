//! Val for semantic and binary segmentation models: each image's predicted class map
//! against its label map (`masks/`), summed into one confusion matrix (mIoU, per-class IoU,
//! pixel accuracy: [`inferx_runtime::evaluation::segmentation`]).

use std::{collections::HashSet, path::PathBuf};

use crate::{
    evaluation::{
        report,
        segmentation::{SegmentationTally, IGNORE},
    },
    labelled_data::{
        self,
        sets::{Problem, SegmentationData},
        LabelMap,
    },
    results::{Mask, Segmentation},
    PipelinePool, PredictionOutput, Result,
};

use super::{bail, predict, Evaluated, ValOutput, ValSettings};

pub(super) fn evaluate(
    settings: &ValSettings,
    pool: &PipelinePool,
    set: SegmentationData,
    labels: &[String],
    mut skipped: HashSet<PathBuf>,
    output: &dyn ValOutput,
) -> Result<Evaluated> {
    let pairs: Vec<(PathBuf, PathBuf)> = set.images.into_iter().filter(|(image, _)| !skipped.contains(image)).collect();
    let classes = labels.len();
    let mut tally = SegmentationTally::new(classes);
    let predicted = predict(
        pool,
        pairs.iter().map(|(image, _)| image.clone()).collect(),
        output,
        |index, prediction| {
            let (image, mask) = &pairs[index];
            let problem =
                |message: String| Problem { file: mask.clone(), line: None, message, image: Some(image.clone()) };
            let truth = labelled_data::read_label_map(mask).map_err(|error| problem(error.to_string()))?;
            if (truth.width, truth.height) != (prediction.width, prediction.height) {
                return Err(problem(format!(
                "the label map is {}×{} but its image is {}×{} (EXIF orientation applied): save the map at the image's size",
                truth.width, truth.height, prediction.width, prediction.height
            )));
            }
            if let Some(value) = out_of_range(&truth, classes) {
                return Err(problem(format!(
                "value {value} is not a class: the model has {classes} (0 to {}; 255 marks pixels that count nowhere)",
                classes - 1
            )));
            }
            let PredictionOutput::Segmentation(segmentation) = &prediction.output else {
                return Err(problem("the model gave no segmentation map".to_string()));
            };
            if !segmentation.instances.is_empty() {
                return Err(problem(
                    "the model is a YOLO-seg instance segmenter: label its instances with polygons in labels/ instead"
                        .to_string(),
                ));
            }
            tally.add(&truth.classes, &class_map(segmentation, prediction.width, prediction.height));
            Ok(())
        },
    );
    skipped.extend(predicted.failed(settings.skip_bad, output)?);
    let evaluated = predicted.images.iter().filter(|image| image.is_some()).count();
    if evaluated == 0 {
        bail!("every image was left out (the problems are listed above): there is nothing to measure");
    }
    let report = report::SegmentationReport::new(&tally, labels, evaluated, skipped.len(), predicted.speed);
    Ok(Evaluated::Segmentation(report))
}

/// The first label value that is neither a class nor [`IGNORE`].
fn out_of_range(map: &LabelMap, classes: usize) -> Option<u16> {
    map.classes.iter().copied().find(|&value| value != IGNORE && usize::from(value) >= classes)
}

/// The predicted class of every pixel, row-major: each class's mask painted over background (0).
fn class_map(segmentation: &Segmentation, width: u32, height: u32) -> Vec<u16> {
    let mut map = vec![0u16; width as usize * height as usize];
    for class in &segmentation.classes {
        paint(&mut map, &class.mask, class.class_id as u16);
    }
    map
}

/// Sets `value` on the set runs of `mask` (run lengths start with an unset run).
fn paint(map: &mut [u16], mask: &Mask, value: u16) {
    let mut at = 0usize;
    for (index, &count) in mask.counts.iter().enumerate() {
        let end = (at + count as usize).min(map.len());
        if index % 2 == 1 {
            map[at..end].fill(value);
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_paint_their_class_over_background() {
        let mask = Mask::encode(3, 2, [false, true, true, false, false, true]);
        let mut map = vec![0u16; 6];
        paint(&mut map, &mask, 2);
        assert_eq!(map, [0, 2, 2, 0, 0, 2]);
        let labels = LabelMap { width: 2, height: 1, classes: vec![1, 255] };
        assert_eq!(out_of_range(&labels, 2), None);
        assert_eq!(out_of_range(&LabelMap { classes: vec![0, 3], ..labels }, 2), Some(3));
    }
}

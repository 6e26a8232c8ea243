//! Semantic and binary segmentation accuracy: per-class IoU, mIoU and pixel accuracy from one
//! confusion matrix summed over every labelled pixel of every image (the definition of
//! mmsegmentation and of the Cityscapes and ADE20K benchmarks: a class's IoU is taken over the
//! whole set, not averaged over images).
//!
//! A class that appears neither in the labels nor in the predictions has no IoU and is left
//! out of the mean (NumPy's `nanmean` over `0 / 0`); pixels labelled [`IGNORE`] count nowhere.

/// The label value of pixels that count nowhere (unlabelled or void), as in Cityscapes, ADE20K
/// and mmsegmentation.
pub const IGNORE: u16 = 255;

/// Counts of predicted against true classes over every pixel added.
///
/// ```
/// use inferx_runtime::evaluation::segmentation::{SegmentationTally, IGNORE};
///
/// let mut tally = SegmentationTally::new(2);
/// // 4 pixels: background right, foreground right, foreground missed, one void pixel.
/// tally.add(&[0, 1, 1, IGNORE], &[0, 1, 0, 1]);
/// let result = tally.result();
/// assert_eq!(result.pixel_accuracy, 2.0 / 3.0);
/// assert_eq!(result.iou, [Some(0.5), Some(0.5)]);
/// assert_eq!(result.mean_iou, 0.5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentationTally {
    /// `[true class][predicted class]` pixel counts.
    confusion: Vec<Vec<u64>>,
    /// Labelled pixels whose true or predicted class is not one of the classes (and not
    /// [`IGNORE`]): left out of every count.
    out_of_range: u64,
}

/// Segmentation accuracy over a whole set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentationAccuracy {
    /// Per class: true positives over true positives, false positives and false negatives;
    /// `None` when the class is neither labelled nor predicted anywhere.
    pub iou: Vec<Option<f64>>,
    /// Per class: the share of its labelled pixels predicted as it; `None` without labelled
    /// pixels.
    pub class_accuracy: Vec<Option<f64>>,
    /// Mean of the measured IoUs (mIoU); `0` when none is measured.
    pub mean_iou: f64,
    /// Mean of the measured class accuracies (mAcc); `0` when none is measured.
    pub mean_class_accuracy: f64,
    /// Correct pixels over labelled pixels (aAcc); `0` without labelled pixels.
    pub pixel_accuracy: f64,
    /// Labelled pixels counted (those not [`IGNORE`]d nor out of range).
    pub pixels: u64,
    /// Labelled pixels of each class.
    pub class_pixels: Vec<u64>,
}

impl SegmentationTally {
    /// An empty tally over `classes` classes (background, when the model has one, is class 0).
    pub fn new(classes: usize) -> SegmentationTally {
        SegmentationTally { confusion: vec![vec![0; classes]; classes], out_of_range: 0 }
    }

    /// Adds one image: its label map and the predicted map, row-major, the same size. Pixels
    /// labelled [`IGNORE`] are skipped; a true or predicted value outside the classes is counted
    /// in [`out_of_range`](Self::out_of_range) (data readers report such labels before).
    ///
    /// Maps of different sizes are a caller's bug: only the common prefix is compared.
    pub fn add(&mut self, truth: &[u16], predicted: &[u16]) {
        debug_assert_eq!(truth.len(), predicted.len(), "label and prediction maps differ in size");
        let classes = self.confusion.len();
        for (&truth, &predicted) in truth.iter().zip(predicted) {
            if truth == IGNORE {
                continue;
            }
            let (truth, predicted) = (usize::from(truth), usize::from(predicted));
            if truth >= classes || predicted >= classes {
                self.out_of_range += 1;
                continue;
            }
            self.confusion[truth][predicted] += 1;
        }
    }

    /// Labelled pixels left out because a value was not one of the classes.
    pub fn out_of_range(&self) -> u64 {
        self.out_of_range
    }

    /// The `[true class][predicted class]` pixel counts.
    pub fn confusion(&self) -> &[Vec<u64>] {
        &self.confusion
    }

    /// IoU, class accuracy and their means, and pixel accuracy, over everything added.
    pub fn result(&self) -> SegmentationAccuracy {
        let classes = self.confusion.len();
        let labelled: Vec<u64> = self.confusion.iter().map(|row| row.iter().sum()).collect();
        let predicted: Vec<u64> = (0..classes).map(|class| self.confusion.iter().map(|row| row[class]).sum()).collect();
        let correct: Vec<u64> = (0..classes).map(|class| self.confusion[class][class]).collect();
        let ratio = |numerator: u64, denominator: u64| (denominator > 0).then(|| numerator as f64 / denominator as f64);
        let iou: Vec<Option<f64>> = (0..classes)
            .map(|class| ratio(correct[class], labelled[class] + predicted[class] - correct[class]))
            .collect();
        let class_accuracy: Vec<Option<f64>> =
            (0..classes).map(|class| ratio(correct[class], labelled[class])).collect();
        let pixels: u64 = labelled.iter().sum();
        SegmentationAccuracy {
            mean_iou: mean_measured(&iou),
            mean_class_accuracy: mean_measured(&class_accuracy),
            pixel_accuracy: ratio(correct.iter().sum(), pixels).unwrap_or(0.0),
            iou,
            class_accuracy,
            pixels,
            class_pixels: labelled,
        }
    }
}

/// The mean of the values present, `0` when none is.
fn mean_measured(values: &[Option<f64>]) -> f64 {
    let measured: Vec<f64> = values.iter().flatten().copied().collect();
    if measured.is_empty() {
        0.0
    } else {
        measured.iter().sum::<f64>() / measured.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_absent_from_labels_and_predictions_is_left_out_of_the_mean() {
        let mut tally = SegmentationTally::new(3);
        tally.add(&[0, 0, 1, 1], &[0, 0, 1, 1]);
        let result = tally.result();
        assert_eq!(result.iou, [Some(1.0), Some(1.0), None]);
        assert_eq!(result.mean_iou, 1.0);
        assert_eq!(result.class_pixels, [2, 2, 0]);
    }

    #[test]
    fn a_class_only_predicted_has_iou_zero_and_no_class_accuracy() {
        let mut tally = SegmentationTally::new(3);
        tally.add(&[0, 0, 1, 1], &[0, 2, 1, 1]);
        let result = tally.result();
        assert_eq!(result.iou, [Some(0.5), Some(1.0), Some(0.0)]);
        assert_eq!(result.class_accuracy, [Some(0.5), Some(1.0), None]);
        assert_eq!(result.mean_iou, 0.5);
        assert_eq!(result.mean_class_accuracy, 0.75);
        assert_eq!(result.pixel_accuracy, 0.75);
    }

    #[test]
    fn values_outside_the_classes_are_counted_apart() {
        let mut tally = SegmentationTally::new(2);
        tally.add(&[0, 7, 1, IGNORE], &[0, 0, 9, 9]);
        assert_eq!(tally.out_of_range(), 2);
        assert_eq!(tally.result().pixels, 1);
        assert_eq!(SegmentationTally::new(2).result().mean_iou, 0.0);
    }
}

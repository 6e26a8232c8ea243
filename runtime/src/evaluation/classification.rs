//! Classifier accuracy: top-1 and top-5 accuracy, per-class accuracy and a confusion matrix.

/// Counts of a classifier's answers against the true classes, added one image at a time.
///
/// ```
/// use inferx_runtime::evaluation::classification::ClassificationTally;
///
/// let mut tally = ClassificationTally::new(3);
/// tally.add(0, &[0, 2, 1]); // right
/// tally.add(1, &[2, 1, 0]); // wrong at top-1, right within the top 5
/// assert_eq!((tally.top1(), tally.top5()), (0.5, 1.0));
/// assert_eq!(tally.confusion()[1][2], 1); // true class 1 taken for class 2 once
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassificationTally {
    /// `[true class][predicted class]` counts.
    confusion: Vec<Vec<u64>>,
    top5_correct: u64,
    images: u64,
}

/// How many of the best classes count for top-5 accuracy.
pub const TOP5: usize = 5;

impl ClassificationTally {
    /// An empty tally over `classes` classes.
    pub fn new(classes: usize) -> ClassificationTally {
        ClassificationTally { confusion: vec![vec![0; classes]; classes], top5_correct: 0, images: 0 }
    }

    /// Adds one image: its true class and the predicted classes, best first. A prediction
    /// outside the classes counts as wrong, and is left out of the confusion matrix.
    pub fn add(&mut self, truth: usize, ranked: &[usize]) {
        self.images += 1;
        if ranked.iter().take(TOP5).any(|&class| class == truth) {
            self.top5_correct += 1;
        }
        let classes = self.confusion.len();
        if let (Some(row), Some(&predicted)) = (self.confusion.get_mut(truth), ranked.first()) {
            if predicted < classes {
                row[predicted] += 1;
            }
        }
    }

    /// Images added.
    pub fn images(&self) -> u64 {
        self.images
    }

    /// Share of images whose best class is the true one (0 with no images).
    pub fn top1(&self) -> f64 {
        let correct: u64 = (0..self.confusion.len()).map(|class| self.confusion[class][class]).sum();
        ratio(correct, self.images)
    }

    /// Share of images whose true class is among the five best.
    pub fn top5(&self) -> f64 {
        ratio(self.top5_correct, self.images)
    }

    /// Per class: (images of that class, share whose best class is it).
    pub fn per_class(&self) -> Vec<(u64, f64)> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(class, row)| {
                let images: u64 = row.iter().sum();
                (images, ratio(row[class], images))
            })
            .collect()
    }

    /// `[true class][predicted class]` counts of the best class.
    pub fn confusion(&self) -> &[Vec<u64>] {
        &self.confusion
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

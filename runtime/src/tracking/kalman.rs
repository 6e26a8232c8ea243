//! The constant-velocity Kalman filter of ByteTrack (and of SORT and DeepSORT before it), on
//! boxes as centre, aspect ratio and height.
//!
//! The state is `(cx, cy, a, h, vcx, vcy, va, vh)`: the box centre and height in pixels, its
//! aspect ratio `w / h`, and their velocities per frame. Noise scales with the box height, so
//! a near (tall) object may move more pixels than a far one. Computed in `f64`, as
//! supervision's and Ultralytics' numpy filters are.

// Small fixed-size matrix algebra reads best with row and column indices.
#![expect(clippy::needless_range_loop, reason = "matrix products index rows and columns of several matrices")]

/// Weight of the position noise, relative to the box height.
const POSITION_WEIGHT: f64 = 1.0 / 20.0;
/// Weight of the velocity noise, relative to the box height.
const VELOCITY_WEIGHT: f64 = 1.0 / 160.0;

type State = [f64; 8];
type Covariance = [[f64; 8]; 8];

/// A box as the filter measures it: centre, aspect ratio `w / h`, height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Centre x, pixels.
    pub cx: f64,
    /// Centre y, pixels.
    pub cy: f64,
    /// Width over height.
    pub aspect: f64,
    /// Height, pixels.
    pub height: f64,
}

impl Measurement {
    /// The measurement of a box given as left, top, width, height (`f32`, like the detector's
    /// boxes: the conversion rounds as supervision's `float32` arrays do).
    pub fn from_ltwh(left: f32, top: f32, width: f32, height: f32) -> Measurement {
        Measurement {
            cx: f64::from(left + width / 2.0),
            cy: f64::from(top + height / 2.0),
            aspect: f64::from(width / height),
            height: f64::from(height),
        }
    }
}

/// One track's estimate: the state and its covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    mean: State,
    covariance: Covariance,
    /// Whether the mean is still the first measurement, which supervision holds in `float32`
    /// (so its first noise terms are rounded to `float32` too).
    fresh: bool,
}

impl Estimate {
    /// A new estimate from a first measurement: no velocity, wide uncertainty.
    pub fn new(measurement: Measurement) -> Estimate {
        let height = measurement.height;
        let scaled = |weight: f64| scaled_in_f32(weight, height);
        let deviations = [
            scaled(2.0 * POSITION_WEIGHT),
            scaled(2.0 * POSITION_WEIGHT),
            1e-2,
            scaled(2.0 * POSITION_WEIGHT),
            scaled(10.0 * VELOCITY_WEIGHT),
            scaled(10.0 * VELOCITY_WEIGHT),
            1e-5,
            scaled(10.0 * VELOCITY_WEIGHT),
        ];
        let mut covariance = [[0.0; 8]; 8];
        for (index, deviation) in deviations.iter().enumerate() {
            covariance[index][index] = deviation * deviation;
        }
        Estimate {
            mean: [measurement.cx, measurement.cy, measurement.aspect, measurement.height, 0.0, 0.0, 0.0, 0.0],
            covariance,
            fresh: true,
        }
    }

    /// `weight × height`, rounded as supervision rounds it: in `float32` while the mean is
    /// the first measurement, in `float64` after.
    fn noise(&self, weight: f64) -> f64 {
        if self.fresh {
            scaled_in_f32(weight, self.mean[3])
        } else {
            weight * self.mean[3]
        }
    }

    /// The box `(x1, y1, x2, y2)` of the current mean.
    pub fn corners(&self) -> [f64; 4] {
        let [cx, cy, aspect, height, ..] = self.mean;
        let width = aspect * height;
        let (left, top) = (cx - width / 2.0, cy - height / 2.0);
        [left, top, left + width, top + height]
    }

    /// Forgets the height velocity: a lost track keeps its size while it coasts.
    pub fn stop_growing(&mut self) {
        self.mean[7] = 0.0;
    }

    /// Moves the estimate one frame ahead.
    pub fn predict(&mut self) {
        let (position, velocity) = (self.noise(POSITION_WEIGHT), self.noise(VELOCITY_WEIGHT));
        self.fresh = false;
        let noise = [position, position, 1e-2, position, velocity, velocity, 1e-5, velocity];
        for index in 0..4 {
            self.mean[index] += self.mean[index + 4];
        }
        // F P Fᵀ with F = [[I, I], [0, I]]: rows then columns gain their velocity block.
        let p = &mut self.covariance;
        for row in 0..4 {
            for column in 0..8 {
                p[row][column] += p[row + 4][column];
            }
        }
        for row in 0..8 {
            for column in 0..4 {
                p[row][column] += p[row][column + 4];
            }
        }
        for (index, deviation) in noise.iter().enumerate() {
            p[index][index] += deviation * deviation;
        }
    }

    /// Corrects the estimate with a measurement.
    pub fn update(&mut self, measurement: Measurement) {
        let position = self.noise(POSITION_WEIGHT);
        self.fresh = false;
        let noise = [position, position, 1e-1, position];
        // S = H P Hᵀ + R: the top-left 4×4 block plus the measurement noise.
        let mut innovation_covariance = [[0.0; 4]; 4];
        for row in 0..4 {
            for column in 0..4 {
                innovation_covariance[row][column] = self.covariance[row][column];
            }
            innovation_covariance[row][row] += noise[row] * noise[row];
        }
        let Some(cholesky) = cholesky(&innovation_covariance) else {
            // Not positive definite: only a degenerate box (height 0) gets here; keep the
            // prediction rather than divide by zero.
            return;
        };
        // K = P Hᵀ S⁻¹, one row of K per state row: solve S kᵀ = (P Hᵀ)ᵀ.
        let mut gain = [[0.0; 4]; 8];
        for (row, gain_row) in gain.iter_mut().enumerate() {
            let mut column = [0.0; 4];
            column.copy_from_slice(&self.covariance[row][..4]);
            *gain_row = solve_cholesky(&cholesky, column);
        }
        let measured = [measurement.cx, measurement.cy, measurement.aspect, measurement.height];
        let innovation: [f64; 4] = std::array::from_fn(|index| measured[index] - self.mean[index]);
        for (row, gain_row) in gain.iter().enumerate() {
            self.mean[row] += (0..4).map(|index| innovation[index] * gain_row[index]).sum::<f64>();
        }
        // P -= K S Kᵀ.
        let mut gain_s = [[0.0; 4]; 8];
        for row in 0..8 {
            for column in 0..4 {
                gain_s[row][column] = (0..4).map(|k| gain[row][k] * innovation_covariance[k][column]).sum();
            }
        }
        for row in 0..8 {
            for column in 0..8 {
                self.covariance[row][column] -= (0..4).map(|k| gain_s[row][k] * gain[column][k]).sum::<f64>();
            }
        }
    }
}

/// supervision multiplies a `float32` height by a weight in `float32` and squares the product
/// in `float64`; the same rounding keeps the filters equal to the last bit.
fn scaled_in_f32(weight: f64, height: f64) -> f64 {
    f64::from((weight as f32) * (height as f32))
}

/// The lower Cholesky factor of a symmetric positive definite 4×4 matrix.
fn cholesky(matrix: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut lower = [[0.0; 4]; 4];
    for row in 0..4 {
        for column in 0..=row {
            let sum: f64 = (0..column).map(|k| lower[row][k] * lower[column][k]).sum();
            if row == column {
                let value = matrix[row][row] - sum;
                if value <= 0.0 || !value.is_finite() {
                    return None;
                }
                lower[row][column] = value.sqrt();
            } else {
                lower[row][column] = (matrix[row][column] - sum) / lower[column][column];
            }
        }
    }
    Some(lower)
}

/// `x` with `L Lᵀ x = b`.
fn solve_cholesky(lower: &[[f64; 4]; 4], b: [f64; 4]) -> [f64; 4] {
    let mut y = [0.0; 4];
    for row in 0..4 {
        let sum: f64 = (0..row).map(|k| lower[row][k] * y[k]).sum();
        y[row] = (b[row] - sum) / lower[row][row];
    }
    let mut x = [0.0; 4];
    for row in (0..4).rev() {
        let sum: f64 = (row + 1..4).map(|k| lower[k][row] * x[k]).sum();
        x[row] = (y[row] - sum) / lower[row][row];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_moving_steadily_is_followed_and_its_velocity_learned() {
        let mut estimate = Estimate::new(Measurement::from_ltwh(0.0, 0.0, 20.0, 40.0));
        for step in 1..=30 {
            estimate.predict();
            estimate.update(Measurement::from_ltwh(5.0 * step as f32, 0.0, 20.0, 40.0));
        }
        estimate.predict();
        let [x1, y1, x2, y2] = estimate.corners();
        // The next box is at x = 155: the filter has learned 5 px per frame.
        assert!((x1 - 155.0).abs() < 0.5, "x1 {x1}");
        assert!(y1.abs() < 0.1 && (x2 - x1 - 20.0).abs() < 0.1 && (y2 - 40.0).abs() < 0.1);
    }

    #[test]
    fn the_covariance_stays_symmetric_and_shrinks_with_measurements() {
        let mut estimate = Estimate::new(Measurement::from_ltwh(10.0, 10.0, 30.0, 60.0));
        let first = estimate.covariance[0][0];
        for _ in 0..5 {
            estimate.predict();
            estimate.update(Measurement::from_ltwh(10.0, 10.0, 30.0, 60.0));
        }
        for row in 0..8 {
            for column in 0..8 {
                let (a, b) = (estimate.covariance[row][column], estimate.covariance[column][row]);
                assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "({row}, {column}) {a} {b}");
            }
        }
        assert!(estimate.covariance[0][0] < first);
    }
}

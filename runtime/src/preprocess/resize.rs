//! Bilinear resizing of interleaved 8-bit images that reproduces OpenCV's `INTER_LINEAR`
//! bit for bit: 11-bit fixed-point coefficients, half-pixel centres, no antialiasing, and the
//! same rounding in the vertical pass as OpenCV's SIMD and scalar code. YOLO and PaddleOCR
//! models are trained on images resized this way; a one-level difference on a fifth of the
//! pixels moves scores by up to 1e-2 on borderline detections.

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// Per-axis source index and fixed-point weights. Indices are clamped to the image; OpenCV
/// zeroes the fraction at the borders horizontally but keeps it vertically (both rows then
/// read the same clamped source row), which changes the rounding there.
#[derive(Debug, Clone)]
struct Axis {
    index: Vec<i64>,
    weight0: Vec<i16>,
    weight1: Vec<i16>,
}

fn saturate_i16(value: f32) -> i16 {
    value.round_ties_even().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

impl Axis {
    fn new(source: usize, destination: usize, clamp_fraction: bool) -> Axis {
        let scale = source as f64 / destination as f64;
        let mut axis = Axis { index: Vec::with_capacity(destination), weight0: Vec::new(), weight1: Vec::new() };
        for position in 0..destination {
            // OpenCV computes the coordinate in double, then stores it as float.
            let coordinate = ((position as f64 + 0.5) * scale - 0.5) as f32;
            let mut index = coordinate.floor() as i64;
            let mut fraction = coordinate - index as f32;
            if clamp_fraction && index < 0 {
                index = 0;
                fraction = 0.0;
            }
            if clamp_fraction && index >= source as i64 - 1 {
                index = source as i64 - 1;
                fraction = 0.0;
            }
            let index = index.clamp(-1, source as i64 - 1);
            let weight0 = saturate_i16((1.0 - fraction) * COEF_SCALE);
            let weight1 = saturate_i16(fraction * COEF_SCALE);
            axis.index.push(index);
            axis.weight0.push(weight0);
            axis.weight1.push(weight1);
        }
        axis
    }
}

/// Reusable buffers for [`resize_linear`] and [`LinearPlan::rows`].
#[derive(Debug, Default, Clone)]
pub struct LinearScratch {
    rows: [Vec<i32>; 2],
    cached: [Option<usize>; 2],
    line: Vec<u8>,
}

/// An interleaved 8-bit image.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Pixels, row-major, `channels` values each: exactly `height` rows, the row length being
    /// this length divided by `height`.
    pub pixels: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Where the source rows of a row-by-row resize come from: an image in memory ([`Frame`]), or
/// the rows of one still being decoded.
pub trait SourceRows {
    /// The bytes from the start of source row `row` on: that whole row, then whatever follows
    /// it in the same buffer (reads past the row are only an optimisation).
    fn starting_at(&mut self, row: usize) -> &[u8];
}

impl SourceRows for Frame<'_> {
    fn starting_at(&mut self, row: usize) -> &[u8] {
        let row_len = self.pixels.len() / self.height.max(1);
        &self.pixels[row * row_len..]
    }
}

/// Resizes `source` into `destination` (`width`×`height`), both with `channels` interleaved
/// values per pixel.
pub fn resize_linear(
    source: Frame<'_>,
    channels: usize,
    destination: &mut [u8],
    (width, height): (usize, usize),
    scratch: &mut LinearScratch,
) {
    debug_assert_eq!(source.pixels.len(), source.width * source.height * channels);
    debug_assert_eq!(destination.len(), width * height * channels);
    let row_len = width * channels;
    let plan = LinearPlan::new((source.width, source.height), channels, (width, height));
    let mut rows = plan.rows(scratch);
    let mut source = source;
    for (y, output) in destination.chunks_exact_mut(row_len).enumerate() {
        // Rows come out channel by channel; interleave them again.
        for (channel, plane) in rows.row(y, &mut source).chunks_exact(width).enumerate() {
            for (pixel, &value) in output.chunks_exact_mut(channels).zip(plane) {
                pixel[channel] = value;
            }
        }
    }
}

/// One bilinear resize, planned once and made row by row, so that each row can be used as
/// soon as it is made (normalised into a tensor) instead of stored as a whole image.
/// The plan holds no pixels: each row is made from the source rows it is given
/// ([`LinearRows::row`]), so an image can be resized while it is still being decoded.
#[derive(Debug, Clone)]
pub struct LinearPlan {
    /// The source image's width and height, in pixels.
    source_size: (usize, usize),
    channels: usize,
    width: usize,
    /// Per output column, where its two source pixels are and how much each weighs.
    taps: Vec<Tap>,
    /// The taps of 3-channel images again, as the AVX2 pass reads them, when the CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    vector_taps: Option<VectorTaps>,
    rows: Axis,
}

/// Horizontal taps laid out for 8 output columns at a time: the byte offsets of the left and
/// right source pixels, and both weights packed as two `i16` in one `i32` (`weight0` low,
/// `weight1` high), the operand of one multiply-add per column and channel.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone)]
struct VectorTaps {
    left: Vec<i32>,
    right: Vec<i32>,
    weights: Vec<i32>,
}

/// One output column's horizontal taps: the offsets of its left and right source pixels in a
/// row, and their weights. One array of these keeps the hot loop to one stream of taps.
#[derive(Debug, Clone, Copy)]
struct Tap {
    left: usize,
    right: usize,
    weight0: i32,
    weight1: i32,
}

impl LinearPlan {
    /// Plans resizing an image of `source_width`×`source_height` pixels (`channels`
    /// interleaved values each) to `width`×`height`.
    pub fn new(
        (source_width, source_height): (usize, usize),
        channels: usize,
        (width, height): (usize, usize),
    ) -> LinearPlan {
        let columns = Axis::new(source_width, width, true);
        // Horizontally the indices are clamped to the image (`Axis::new` with clamp_fraction).
        let taps = (0..width)
            .map(|x| Tap {
                left: columns.index[x] as usize * channels,
                right: (columns.index[x] as usize + 1).min(source_width - 1) * channels,
                weight0: columns.weight0[x] as i32,
                weight1: columns.weight1[x] as i32,
            })
            .collect::<Vec<_>>();
        #[cfg(target_arch = "x86_64")]
        let vector_taps = (channels == 3 && std::arch::is_x86_feature_detected!("avx2")).then(|| VectorTaps {
            // Offsets of an image within the decoder's limits fit in an i32; the weights are at
            // most 2^11.
            left: taps.iter().map(|tap| tap.left as i32).collect(),
            right: taps.iter().map(|tap| tap.right as i32).collect(),
            weights: taps.iter().map(|tap| (tap.weight0 & 0xffff) | (tap.weight1 << 16)).collect(),
        });
        LinearPlan {
            source_size: (source_width, source_height),
            channels,
            width,
            taps,
            #[cfg(target_arch = "x86_64")]
            vector_taps,
            rows: Axis::new(source_height, height, false),
        }
    }

    /// Values per pixel, of the source and of each output row (one row per channel).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Starts making output rows with `scratch` (forgetting what it held for another plan).
    #[inline(always)]
    pub fn rows<'s>(&'s self, scratch: &'s mut LinearScratch) -> LinearRows<'s> {
        let row_len = self.width * self.channels;
        for buffer in &mut scratch.rows {
            buffer.resize(row_len, 0);
        }
        scratch.line.resize(row_len, 0);
        scratch.cached = [None, None];
        LinearRows { plan: self, scratch }
    }
}

/// Output rows of a [`LinearPlan`], made one at a time ([`LinearPlan::rows`]).
pub struct LinearRows<'s> {
    plan: &'s LinearPlan,
    scratch: &'s mut LinearScratch,
}

impl LinearRows<'_> {
    /// Output row `y`, channel by channel (`width` values of channel 0, then of channel 1...),
    /// the layout a CHW tensor wants, made from the rows of `source`. Rows asked for in order
    /// reuse their source rows, and only ask `source` for rows they have not read yet.
    #[inline(always)]
    pub fn row(&mut self, y: usize, source: &mut dyn SourceRows) -> &[u8] {
        let plan = self.plan;
        let source_height = plan.source_size.1;
        // Row -1 (above the image) and the last row read one source row twice.
        let last = source_height as i64 - 1;
        let top = plan.rows.index[y].clamp(0, last) as usize;
        let bottom = (plan.rows.index[y] + 1).clamp(0, last) as usize;
        let scratch = &mut *self.scratch;
        // The previous output row's bottom source row is often this one's top: swap it into
        // place instead of computing it again.
        if scratch.cached[0] != Some(top) && scratch.cached[1] == Some(top) {
            scratch.rows.swap(0, 1);
            scratch.cached.swap(0, 1);
        }
        plan.horizontal(source, top, scratch, 0);
        // At the image's edges both taps read the same source row: copy it.
        if bottom == top && scratch.cached[1] != Some(top) {
            let [first, second] = &mut scratch.rows;
            second.copy_from_slice(first);
            scratch.cached[1] = Some(top);
        }
        plan.horizontal(source, bottom, scratch, 1);
        vertical(&scratch.rows[0], &scratch.rows[1], plan.rows.weight0[y], plan.rows.weight1[y], &mut scratch.line);
        &scratch.line
    }
}

impl LinearPlan {
    /// Fills `scratch.rows[slot]` with the horizontally interpolated source row `row`, channel
    /// by channel, unless it holds that row already.
    #[inline(always)]
    fn horizontal(&self, source: &mut dyn SourceRows, row: usize, scratch: &mut LinearScratch, slot: usize) {
        if scratch.cached[slot] == Some(row) {
            return;
        }
        let channels = self.channels;
        // The row and what follows it in its buffer.
        let pixels = source.starting_at(row);
        let line = &pixels[..self.source_size.0 * channels];
        let output = &mut scratch.rows[slot];
        if channels == 3 {
            // The common case: each pixel's taps are read once for its three channels.
            let (red, rest) = output.split_at_mut(self.width);
            let (green, blue) = rest.split_at_mut(self.width);
            // A pixel is read as one 4-byte word (its 3 bytes and the next one), which only the
            // last pixel of a buffer cannot do.
            #[cfg_attr(not(target_arch = "x86_64"), expect(unused_mut, reason = "only the x86_64 path assigns it"))]
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if let Some(taps) = &self.vector_taps {
                // SAFETY: `vector_taps` exists only where the CPU has AVX2.
                done = unsafe { horizontal_rgb_avx2(pixels, taps, [&mut *red, &mut *green, &mut *blue]) };
            }
            let (red, green, blue) = (&mut red[done..], &mut green[done..], &mut blue[done..]);
            let pixel = |offset: usize| match pixels.get(offset..offset + 4) {
                Some(bytes) => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                None => u32::from_le_bytes([line[offset], line[offset + 1], line[offset + 2], 0]),
            };
            for (((red, green), blue), &Tap { left, right, weight0, weight1 }) in
                red.iter_mut().zip(green.iter_mut()).zip(blue.iter_mut()).zip(&self.taps[done..])
            {
                let (a, b) = (pixel(left), pixel(right));
                let channel = |word: u32, shift: u32| ((word >> shift) & 0xff) as i32;
                *red = channel(a, 0) * weight0 + channel(b, 0) * weight1;
                *green = channel(a, 8) * weight0 + channel(b, 8) * weight1;
                *blue = channel(a, 16) * weight0 + channel(b, 16) * weight1;
            }
        } else {
            for (channel, output) in output.chunks_exact_mut(self.width).enumerate() {
                for (value, &Tap { left, right, weight0, weight1 }) in output.iter_mut().zip(&self.taps) {
                    *value = line[left + channel] as i32 * weight0 + line[right + channel] as i32 * weight1;
                }
            }
        }
        scratch.cached[slot] = Some(row);
    }
}

/// The horizontal pass of a 3-channel row, 8 output columns at a time: each source pixel is
/// gathered as a 4-byte word, and each channel's two taps are paired as 16-bit values so that
/// one multiply-add weighs them (the same integer arithmetic as the scalar loop, so the same
/// values). `pixels` is the row and what follows it in its buffer. Returns how many columns it
/// wrote: it stops short of a block that would read past the buffer's end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_rgb_avx2(pixels: &[u8], taps: &VectorTaps, [red, green, blue]: [&mut [i32]; 3]) -> usize {
    use std::arch::x86_64::*;
    const BLOCK: usize = 8;
    let low_bytes = _mm256_set1_epi32(0x00ff_00ff);
    let mut done = 0;
    for (((left, right), weights), block) in taps
        .left
        .chunks_exact(BLOCK)
        .zip(taps.right.chunks_exact(BLOCK))
        .zip(taps.weights.chunks_exact(BLOCK))
        .zip((0..).step_by(BLOCK))
    {
        // The right taps grow from left to right: the block's last is its furthest read.
        if right[BLOCK - 1] as usize + 4 > pixels.len() {
            break;
        }
        // SAFETY: every offset of the block is at most the last right one, whose 4 bytes are
        // within `pixels` (checked above); the loads and stores are unaligned ones of 8 values
        // within chunks of exactly 8.
        let sums = unsafe {
            let left = _mm256_loadu_si256(left.as_ptr().cast());
            let right = _mm256_loadu_si256(right.as_ptr().cast());
            let weights = _mm256_loadu_si256(weights.as_ptr().cast());
            let a = _mm256_i32gather_epi32::<1>(pixels.as_ptr().cast(), left);
            let b = _mm256_i32gather_epi32::<1>(pixels.as_ptr().cast(), right);
            // Per column: channel value of the left pixel in the low 16 bits, of the right one
            // in the high 16 bits, then `left * weight0 + right * weight1`.
            let pair = |left: __m256i, right: __m256i| {
                _mm256_madd_epi16(_mm256_and_si256(_mm256_blend_epi16::<0b1010_1010>(left, right), low_bytes), weights)
            };
            [
                pair(a, _mm256_slli_epi32::<16>(b)),
                pair(_mm256_srli_epi32::<8>(a), _mm256_slli_epi32::<8>(b)),
                pair(_mm256_srli_epi32::<16>(a), b),
            ]
        };
        for (output, sum) in [&mut *red, &mut *green, &mut *blue].into_iter().zip(sums) {
            let output = &mut output[block..block + BLOCK];
            // SAFETY: an unaligned store of 8 values into a slice of 8.
            unsafe { _mm256_storeu_si256(output.as_mut_ptr().cast(), sum) };
        }
        done = block + BLOCK;
    }
    done
}

/// OpenCV's vertical pass. Rows of 16 values or more use its SIMD formula
/// `((a >> 4) * b0 >> 16) + ((c >> 4) * b1 >> 16) + 2 >> 2` everywhere (OpenCV overlaps the
/// last block rather than finishing with scalar code); shorter rows use the scalar
/// `(a * b0 + c * b1 + 2^21) >> 22`.
#[inline(always)]
fn vertical(top: &[i32], bottom: &[i32], weight0: i16, weight1: i16, output: &mut [u8]) {
    if output.len() >= 16 {
        let high = |value: i32, weight: i16| (((value >> 4) as i16 as i32 * weight as i32) >> 16) as i16;
        for ((value, &a), &c) in output.iter_mut().zip(top).zip(bottom) {
            let sum = high(a, weight0).saturating_add(high(c, weight1));
            *value = ((sum as i32 + 2) >> 2).clamp(0, 255) as u8;
        }
    } else {
        for ((value, &a), &c) in output.iter_mut().zip(top).zip(bottom) {
            let sum = (a as i64 * weight0 as i64 + c as i64 * weight1 as i64 + (1 << 21)) >> 22;
            *value = sum.clamp(0, 255) as u8;
        }
    }
}

/// OpenCV's `interpolateLanczos4`: 8 weights for taps `-3..=4` around a fraction `x`.
fn lanczos4_weights(x: f32) -> [f32; 8] {
    const S45: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const CS: [[f64; 2]; 8] =
        [[1.0, 0.0], [-S45, -S45], [0.0, 1.0], [S45, -S45], [-1.0, 0.0], [S45, S45], [0.0, -1.0], [-S45, S45]];
    let mut weights = [0.0f32; 8];
    let mut sum = 0.0f32;
    let y0 = -((x + 3.0) as f64) * std::f64::consts::PI * 0.25;
    let (s0, c0) = (y0.sin(), y0.cos());
    for (index, weight) in weights.iter_mut().enumerate() {
        let offset = x + 3.0 - index as f32;
        *weight = if offset.abs() >= 1e-6 {
            let y = -(offset as f64) * std::f64::consts::PI * 0.25;
            ((CS[index][0] * s0 + CS[index][1] * c0) / (y * y)) as f32
        } else {
            1e30
        };
        sum += *weight;
    }
    let inverse = 1.0 / sum;
    for weight in &mut weights {
        *weight *= inverse;
    }
    weights
}

/// Per-axis first tap and fixed-point Lanczos weights (OpenCV keeps the fraction at borders
/// and clamps each tap instead).
fn lanczos4_axis(source: usize, destination: usize) -> (Vec<i64>, Vec<[i16; 8]>) {
    let scale = source as f64 / destination as f64;
    let mut starts = Vec::with_capacity(destination);
    let mut weights = Vec::with_capacity(destination);
    for position in 0..destination {
        let coordinate = ((position as f64 + 0.5) * scale - 0.5) as f32;
        let index = coordinate.floor();
        let fraction = coordinate - index;
        starts.push(index as i64 - 3);
        weights.push(lanczos4_weights(fraction).map(|weight| saturate_i16(weight * COEF_SCALE)));
    }
    (starts, weights)
}

/// Resizes like OpenCV's `INTER_LANCZOS4` on 8-bit images: 8×8 taps, 11-bit fixed-point
/// weights, replicated borders, `(sum + 2^21) >> 22` rounding.
pub fn resize_lanczos4(source: Frame<'_>, channels: usize, destination: &mut [u8], (width, height): (usize, usize)) {
    let Frame { pixels, width: source_width, height: source_height } = source;
    let (column_starts, column_weights) = lanczos4_axis(source_width, width);
    let (row_starts, row_weights) = lanczos4_axis(source_height, height);
    let clamp = |index: i64, length: usize| index.clamp(0, length as i64 - 1) as usize;
    // Horizontal pass over every source row once.
    let row_len = width * channels;
    let mut horizontal = vec![0i32; row_len * source_height];
    for y in 0..source_height {
        let line = &pixels[y * source_width * channels..(y + 1) * source_width * channels];
        let output = &mut horizontal[y * row_len..(y + 1) * row_len];
        for x in 0..width {
            let taps: [usize; 8] = std::array::from_fn(|tap| clamp(column_starts[x] + tap as i64, source_width));
            for channel in 0..channels {
                let mut sum = 0i32;
                for (tap, &weight) in taps.iter().zip(&column_weights[x]) {
                    sum = sum.wrapping_add(line[tap * channels + channel] as i32 * weight as i32);
                }
                output[x * channels + channel] = sum;
            }
        }
    }
    for y in 0..height {
        let rows: [usize; 8] = std::array::from_fn(|tap| clamp(row_starts[y] + tap as i64, source_height));
        let output = &mut destination[y * row_len..(y + 1) * row_len];
        for (x, value) in output.iter_mut().enumerate() {
            let mut sum = 0i32;
            for (row, &weight) in rows.iter().zip(&row_weights[y]) {
                sum = sum.wrapping_add(horizontal[row * row_len + x].wrapping_mul(weight as i32));
            }
            *value = (sum.wrapping_add(1 << 21) >> 22).clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity_and_constant_images_stay_constant() {
        let source: Vec<u8> = (0..4 * 3 * 3).map(|value| value as u8 * 7).collect();
        let mut output = vec![0; source.len()];
        resize_linear(
            Frame { pixels: &source, width: 4, height: 3 },
            3,
            &mut output,
            (4, 3),
            &mut LinearScratch::default(),
        );
        assert_eq!(output, source);
        let flat = vec![200u8; 10 * 10 * 3];
        let mut small = vec![0; 3 * 7 * 3];
        resize_linear(
            Frame { pixels: &flat, width: 10, height: 10 },
            3,
            &mut small,
            (3, 7),
            &mut LinearScratch::default(),
        );
        assert!(small.iter().all(|&value| value == 200));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_horizontal_pass_makes_the_rows_the_scalar_one_makes() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        // Widths that are and are not multiples of the 8-column block, up- and downscaling,
        // and a 1-pixel image, whose only pixel is the image's last.
        for (source_size, size) in [
            ((640, 427), (320, 214)),
            ((512, 512), (640, 640)),
            ((451, 300), (320, 213)),
            ((13, 7), (41, 9)),
            ((1, 1), (8, 8)),
            ((9, 3), (17, 5)),
        ] {
            let mut state = 0x9e37_79b9u32;
            let pixels: Vec<u8> = (0..source_size.0 * source_size.1 * 3)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let mut frame = Frame { pixels: &pixels, width: source_size.0, height: source_size.1 };
            let vector = LinearPlan::new(source_size, 3, size);
            assert!(vector.vector_taps.is_some());
            let scalar = LinearPlan { vector_taps: None, ..vector.clone() };
            let (mut vector_scratch, mut scalar_scratch) = (LinearScratch::default(), LinearScratch::default());
            let (mut vector_rows, mut scalar_rows) =
                (vector.rows(&mut vector_scratch), scalar.rows(&mut scalar_scratch));
            for y in 0..size.1 {
                let vector_row = vector_rows.row(y, &mut frame).to_vec();
                assert_eq!(vector_row, scalar_rows.row(y, &mut frame), "{source_size:?} → {size:?}, row {y}");
            }
        }
    }

    #[test]
    fn lanczos_weights_sum_to_one_and_hit_the_sample_at_zero() {
        let weights = lanczos4_weights(0.0);
        assert!((weights[3] - 1.0).abs() < 1e-6 && weights.iter().enumerate().all(|(i, w)| i == 3 || w.abs() < 1e-6));
        let weights = lanczos4_weights(0.3);
        assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let flat = vec![77u8; 9 * 9 * 3];
        let mut output = vec![0u8; 4 * 5 * 3];
        resize_lanczos4(Frame { pixels: &flat, width: 9, height: 9 }, 3, &mut output, (4, 5));
        assert!(output.iter().all(|&value| value == 77));
    }

    #[test]
    fn halfway_samples_average_neighbours() {
        // 2 pixels wide -> 4 wide: positions map to -0.25, 0.25, 0.75, 1.25.
        let source = [0u8, 100];
        let mut output = [0u8; 4];
        resize_linear(
            Frame { pixels: &source, width: 2, height: 1 },
            1,
            &mut output,
            (4, 1),
            &mut LinearScratch::default(),
        );
        assert_eq!(output, [0, 25, 75, 100]);
    }
}

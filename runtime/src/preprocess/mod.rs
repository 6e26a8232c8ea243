//! Image decoding with limits, resizing (letterbox, stretch, center crop, pad right) and
//! normalisation into an NCHW `f32` tensor.
//!
//! Letterbox, stretch and pad-right resizing reproduce OpenCV's `INTER_LINEAR` exactly
//! ([`resize`]), the filter YOLO and PaddleOCR models see in training; center crops use
//! `fast_image_resize`'s SIMD bilinear interpolation. A PNG can be preprocessed while it is
//! decoded (`overlap`).

pub(crate) mod overlap;
pub mod resize;

pub use overlap::tensor_while_decoding;

use std::{io::Cursor, path::Path};

use fast_image_resize::{images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader};
use serde::{Deserialize, Serialize};

use crate::{
    preprocess::resize::{Frame, LinearPlan, SourceRows},
    Error, ImageProblem, Result,
};

/// Limits applied before and while decoding, so hostile files are refused, not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageLimits {
    /// Largest encoded file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Largest width or height, in pixels.
    pub max_dimension: u32,
    /// Largest memory one image may take to decode and bring to RGB, in bytes: the decoded
    /// pixels plus the copy that rotating them (EXIF orientation) or converting them to 8-bit
    /// RGB makes (see [`decode_peak_bytes`]).
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits { max_file_bytes: 64 << 20, max_dimension: 16_384, max_alloc_bytes: 512 << 20 }
    }
}

/// Reads and decodes an image file, applying EXIF orientation.
pub fn load_image(path: &Path, limits: &ImageLimits) -> Result<DynamicImage> {
    let image_error =
        |reason: String, problem: ImageProblem| Error::Image { path: path.display().to_string(), reason, problem };
    let metadata = std::fs::metadata(path).map_err(|error| image_error(error.to_string(), ImageProblem::Unreadable))?;
    if !metadata.is_file() {
        return Err(image_error("not a file".to_string(), ImageProblem::Unreadable));
    }
    if metadata.len() > limits.max_file_bytes {
        return Err(image_error(
            format!("the file is {} bytes, over the {} byte limit", metadata.len(), limits.max_file_bytes),
            ImageProblem::TooLarge,
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| image_error(error.to_string(), ImageProblem::Unreadable))?;
    decode_image(&bytes, limits).map_err(|error| match error {
        Error::Image { reason, problem, .. } => image_error(reason, problem),
        other => other,
    })
}

/// Decodes an encoded image held in memory (PNG, JPEG, WebP, BMP, TIFF, GIF). The header is
/// checked against `limits` before any pixel is decoded, so a decompression bomb costs nothing.
pub fn decode_image(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage> {
    let image_error = Error::image_in_memory;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(image_error(
            format!("the image is {} bytes, over the {} byte limit", bytes.len(), limits.max_file_bytes),
            ImageProblem::TooLarge,
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| image_error(error.to_string(), ImageProblem::Unreadable))?;
    if reader.format().is_none() {
        return Err(image_error(
            "not a supported image format (PNG, JPEG, WebP, BMP, TIFF, GIF)".to_string(),
            ImageProblem::Unsupported,
        ));
    }
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(limits.max_dimension);
    decode_limits.max_image_height = Some(limits.max_dimension);
    decode_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(decode_limits);
    let classify = |error: image::ImageError| {
        let problem = match &error {
            image::ImageError::Limits(_) => ImageProblem::TooLarge,
            image::ImageError::Unsupported(_) => ImageProblem::Unsupported,
            _ => ImageProblem::Corrupt,
        };
        let reason = match problem {
            ImageProblem::TooLarge => format!(
                "{error} (limits: {} px per side, {} bytes decoded)",
                limits.max_dimension, limits.max_alloc_bytes
            ),
            _ => error.to_string(),
        };
        image_error(reason, problem)
    };
    let format = reader.format();
    if format == Some(image::ImageFormat::Png) {
        if let Some(reason) = png_structure_problem(bytes) {
            return Err(image_error(reason, ImageProblem::Corrupt));
        }
    }
    // The decoders are third-party parsers of hostile bytes: should one panic on a file it did
    // not expect, reading its header or its pixels, that file is refused like any corrupt one
    // instead of taking the process down.
    let decode = || -> Result<DynamicImage> {
        let mut decoder = reader.into_decoder().map_err(classify)?;
        // The decoders check the side limits from the header but may start on the pixel data
        // before noticing the allocation limit: refuse here, from the header alone, counting
        // every buffer the image will need at once, not only the decoded one.
        let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
        let needed = peak_of(&decoder, orientation);
        if needed > limits.max_alloc_bytes {
            let (width, height) = decoder.dimensions();
            return Err(image_error(
                format!(
                    "its header says {width}x{height} ({:?}), {needed} bytes to decode and convert, over the {} byte limit (limits.max_alloc_bytes)",
                    decoder.color_type(),
                    limits.max_alloc_bytes
                ),
                ImageProblem::TooLarge,
            ));
        }
        // A JPEG cut short decodes "successfully" with the missing rows filled in grey; refuse
        // it instead of predicting on half a picture. (0xFF 0xD9 cannot occur inside scan
        // data.) The search runs from the end, where the marker of a whole file is, so it
        // costs nothing.
        if format == Some(image::ImageFormat::Jpeg) && !bytes.windows(2).rev().any(|pair| pair == [0xFF, 0xD9]) {
            return Err(image_error(
                "the JPEG is truncated (it has no end-of-image marker); re-export or re-upload it".to_string(),
                ImageProblem::Corrupt,
            ));
        }
        let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
        image.apply_orientation(orientation);
        Ok(image)
    };
    let image = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).map_err(|_| {
        image_error(
            "the decoder failed on this file (it is malformed in a way the decoder does not handle)".to_string(),
            ImageProblem::Corrupt,
        )
    })??;
    if image.width() == 0 || image.height() == 0 {
        return Err(image_error("the image is empty".to_string(), ImageProblem::Corrupt));
    }
    Ok(image)
}

/// The most memory an image of this header takes at once, in bytes: its decoded pixels, plus
/// the larger of the copy a rotating EXIF orientation makes (the same size) and the 8-bit RGB
/// copy preprocessing makes of any layout other than RGB8 or 8-bit gray (3 bytes a pixel).
/// A 16-bit RGB 8000x8000 PNG: 384 MB decoded + 192 MB RGB = 576 MB.
fn peak_of(decoder: &impl ImageDecoder, orientation: image::metadata::Orientation) -> u64 {
    use image::{metadata::Orientation, ColorType};
    let decoded = decoder.total_bytes();
    let (width, height) = decoder.dimensions();
    let rotated = match orientation {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            decoded
        }
        _ => 0,
    };
    let converted = match decoder.color_type() {
        ColorType::Rgb8 | ColorType::L8 => 0,
        _ => u64::from(width) * u64::from(height) * 3,
    };
    decoded.saturating_add(rotated.max(converted))
}

/// What decoding `bytes` will take at most (see `limits.max_alloc_bytes`), read from the
/// header alone; `None` when the header cannot be read (decoding will say why).
pub fn decode_peak_bytes(bytes: &[u8]) -> Option<u64> {
    let decode = || {
        let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?;
        let mut decoder = reader.into_decoder().ok()?;
        let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
        Some(peak_of(&decoder, orientation))
    };
    // Hostile headers: a decoder that panics on one is refused later, when decoding.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).ok().flatten()
}

/// What is wrong with a PNG's chunk layout that its decoder does not check, if anything.
///
/// Only the chunks before the pixel data are read. A palette (`PLTE`) must hold 1 to 256 RGB
/// entries of 3 bytes; the `png` crate (0.18.1) panics on one whose length is not a multiple of
/// 3, found by the `image` fuzz target.
pub(crate) fn png_structure_problem(bytes: &[u8]) -> Option<String> {
    let mut offset = 8;
    while let Some(header) = bytes.get(offset..offset + 8) {
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        match &header[4..8] {
            b"PLTE" if length == 0 || !length.is_multiple_of(3) || length > 768 => {
                return Some(format!(
                    "the PNG's palette (PLTE chunk) is {length} bytes, but a palette is 1 to 256 entries of 3 bytes: the file is corrupt"
                ));
            }
            b"IDAT" | b"IEND" => return None,
            _ => offset = offset.checked_add(12)?.checked_add(length)?,
        }
    }
    None
}

/// How the image is fitted into the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the aspect ratio and pad around the image (YOLO).
    #[default]
    Letterbox,
    /// Resize to exactly the input size, ignoring the aspect ratio.
    Stretch,
    /// Crop the centre square of the short side scaled by `crop_fraction`, then resize (ImageNet).
    CenterCrop,
    /// Keep the aspect ratio at the input height, pad on the right with zeros after
    /// normalisation (PaddleOCR text classifiers).
    PadRight,
    /// Resize so the short side is `resize_short`, then crop the centre (classifiers trained
    /// with `Resize(256)` + `CenterCrop(224)`).
    ShortSideCrop,
    /// Keep the aspect ratio, scale up so the short side is at least `limit_side`, and round
    /// each side to a multiple of `multiple`: the input size follows the image (DB text
    /// detectors such as PP-OCR's). `width` and `height` are ignored.
    FitMultiple,
}

/// The resampling filter for `letterbox`, `stretch`, `pad_right` and `short_side_crop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Bilinear, identical to OpenCV's `INTER_LINEAR`.
    #[default]
    Linear,
    /// 8×8 Lanczos, identical to OpenCV's `INTER_LANCZOS4`.
    Lanczos4,
}

/// Channel order of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    Bgr,
}

/// Everything preprocessing needs. Values are `(pixel * scale - mean) / std` per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    /// Model input width.
    pub width: u32,
    /// Model input height.
    pub height: u32,
    /// How the image is fitted.
    pub resize: ResizeMode,
    /// Padding pixel value for letterboxing (before normalisation).
    pub pad_value: u8,
    /// Fraction of the short side kept by `center_crop`.
    pub crop_fraction: f32,
    /// Short side after resizing, for `short_side_crop`.
    pub resize_short: u32,
    /// Resampling filter.
    pub interpolation: Interpolation,
    /// Smallest short side for `fit_multiple`.
    pub limit_side: u32,
    /// Side lengths are rounded to a multiple of this for `fit_multiple`.
    pub multiple: u32,
    /// Multiplier applied to 0–255 pixel values first.
    pub scale: f32,
    /// Per-channel mean, in input channel order, subtracted after scaling.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in input channel order.
    pub std: [f32; 3],
    /// Channel order of the model input.
    pub channel_order: ChannelOrder,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            width: 640,
            height: 640,
            resize: ResizeMode::Letterbox,
            pad_value: 114,
            crop_fraction: 0.875,
            resize_short: 256,
            interpolation: Interpolation::Linear,
            limit_side: 736,
            multiple: 32,
            scale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            channel_order: ChannelOrder::Rgb,
        }
    }
}

impl PreprocessConfig {
    /// A square letterbox of `size` with YOLO normalisation (0–1, no mean/std).
    pub fn letterbox(size: u32) -> Self {
        PreprocessConfig { width: size, height: size, ..Default::default() }
    }

    /// ImageNet normalisation: `mean = [0.485, 0.456, 0.406]`, `std = [0.229, 0.224, 0.225]`.
    pub fn imagenet(size: u32, resize: ResizeMode) -> Self {
        PreprocessConfig {
            width: size,
            height: size,
            resize,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            ..Default::default()
        }
    }
}

/// How model-input coordinates map back to the source image.
/// `source = (input - pad) / scale`, per axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transform {
    /// Source image width, pixels.
    pub source_width: u32,
    /// Source image height, pixels.
    pub source_height: u32,
    /// Horizontal scale from source to input.
    pub scale_x: f64,
    /// Vertical scale from source to input.
    pub scale_y: f64,
    /// Left padding in input pixels (negative for a crop).
    pub pad_x: f64,
    /// Top padding in input pixels (negative for a crop).
    pub pad_y: f64,
    /// Width of the image content inside the input.
    pub content_width: u32,
    /// Height of the image content inside the input.
    pub content_height: u32,
}

impl Transform {
    /// Maps a point in input pixels back to source pixels, clipped to the image.
    pub fn to_source(&self, x: f64, y: f64) -> (f64, f64) {
        let source_x = ((x - self.pad_x) / self.scale_x).clamp(0.0, self.source_width as f64);
        let source_y = ((y - self.pad_y) / self.scale_y).clamp(0.0, self.source_height as f64);
        (source_x, source_y)
    }
}

/// Python's `round()`: halves go to the even neighbour. Used where we must match the
/// Ultralytics letterbox arithmetic exactly.
fn round_half_even(value: f64) -> f64 {
    value.round_ties_even()
}

/// The letterbox geometry of Ultralytics' `LetterBox(auto=False, scaleup=True, center=True)`.
///
/// ```
/// use inferx_runtime::preprocess::letterbox_geometry;
///
/// // A 1280×720 frame into a 640×640 input: halved, with 140 rows of padding above.
/// let transform = letterbox_geometry(1280, 720, 640, 640);
/// assert_eq!((transform.scale_x, transform.pad_x, transform.pad_y), (0.5, 0.0, 140.0));
/// assert_eq!((transform.content_width, transform.content_height), (640, 360));
///
/// // Model-input pixels map back to the frame, clipped to it.
/// assert_eq!(transform.to_source(320.0, 320.0), (640.0, 360.0));
/// assert_eq!(transform.to_source(320.0, 10.0), (640.0, 0.0));
/// ```
pub fn letterbox_geometry(source_width: u32, source_height: u32, width: u32, height: u32) -> Transform {
    let ratio = (height as f64 / source_height as f64).min(width as f64 / source_width as f64);
    let content_width = (round_half_even(source_width as f64 * ratio) as u32).clamp(1, width);
    let content_height = (round_half_even(source_height as f64 * ratio) as u32).clamp(1, height);
    let pad_x = round_half_even((width - content_width) as f64 / 2.0 - 0.1).max(0.0);
    let pad_y = round_half_even((height - content_height) as f64 / 2.0 - 0.1).max(0.0);
    Transform {
        source_width,
        source_height,
        scale_x: ratio,
        scale_y: ratio,
        pad_x,
        pad_y,
        content_width,
        content_height,
    }
}

/// The size `short_side_crop` resizes the whole image to before cutting out the centre, from
/// its transform.
fn resized_before_crop(transform: &Transform) -> (u32, u32) {
    let side = |source: u32, scale: f64| (source as f64 * scale).round_ties_even() as u32;
    (side(transform.source_width, transform.scale_x), side(transform.source_height, transform.scale_y))
}

/// Reusable buffers for one preprocessing call at a time.
#[derive(Debug, Default)]
pub struct Scratch {
    rows: RowBuffers,
    full: Vec<u8>,
    resizer: Resizer,
    resized: Vec<u8>,
}

impl Scratch {
    /// Bytes held by the buffers sized by whole images, which grow to the largest image seen.
    pub(crate) fn image_buffer_bytes(&self) -> usize {
        self.full.capacity() + self.resized.capacity()
    }
}

/// The buffers rows pass through on their way into the planes.
#[derive(Debug, Default)]
struct RowBuffers {
    /// The bilinear resize's rows.
    linear: crate::preprocess::resize::LinearScratch,
    /// One ready interleaved row, split into its channels.
    split: Vec<u8>,
}

/// Turns images into normalised NCHW tensors. Immutable and shareable; per-call buffers live
/// in a [`Scratch`].
#[derive(Debug, Clone)]
pub struct Preprocessor {
    config: PreprocessConfig,
    /// How 8-bit values are scaled before the mean and std are applied.
    scaling: Scaling,
}

/// `x / divisor` or `x * factor`, as the configured scale is written.
#[derive(Debug, Clone, Copy)]
enum Scaling {
    Divide(f32),
    Multiply(f32),
}

/// The CHW planes of one input, and where its content rows go in them.
struct ContentRows<'o> {
    planes: [&'o mut [f32]; 3],
    fill: [f32; 3],
    /// Input channel c reads source channel `order[c]`.
    order: [usize; 3],
    left: usize,
    top: usize,
    width: usize,
    content_width: usize,
}

impl ContentRows<'_> {
    /// Writes content row `y`, given channel by channel, normalised into its row of each plane,
    /// with the padding left and right of it.
    #[inline(always)]
    fn write(&mut self, preprocessor: &Preprocessor, y: usize, source_planes: &[u8]) {
        let (width, content_width, left) = (self.width, self.content_width, self.left);
        let at = (self.top + y) * width;
        for (channel, (plane, value)) in self.planes.iter_mut().zip(self.fill).enumerate() {
            let row = &mut plane[at..at + width];
            row[..left].fill(value);
            row[left + content_width..].fill(value);
            let source_channel = &source_planes[self.order[channel] * content_width..][..content_width];
            preprocessor.normalise_into(channel, source_channel, &mut row[left..left + content_width]);
        }
    }
}

/// Where the content rows of an input come from.
enum RowSource<'a> {
    /// Interleaved rows already at the content size: RGB, or gray (one channel).
    Ready { rows: &'a mut dyn SourceRows, channels: usize },
    /// Resized bilinearly while written.
    Linear { plan: &'a LinearPlan, rows: &'a mut dyn SourceRows },
}

impl Preprocessor {
    /// Prepares a configuration.
    pub fn new(config: PreprocessConfig) -> Self {
        // `x / 255` and `x * (1 / 255)` differ in the last bit; reference pipelines divide.
        let divisor = 1.0 / config.scale as f64;
        let scaling = if (divisor - divisor.round()).abs() < 1e-3 {
            Scaling::Divide(divisor.round() as f32)
        } else {
            Scaling::Multiply(config.scale)
        };
        Preprocessor { config, scaling }
    }

    /// The configuration.
    pub fn config(&self) -> &PreprocessConfig {
        &self.config
    }

    /// Number of `f32` values one image takes (for fixed-size modes).
    pub fn tensor_len(&self) -> usize {
        3 * self.config.width as usize * self.config.height as usize
    }

    /// Whether the input size depends on the image (`fit_multiple`).
    pub fn varies_with_image(&self) -> bool {
        self.config.resize == ResizeMode::FitMultiple
    }

    /// The model input `(width, height)` for an image of this size; for images from untrusted
    /// sources, [`Preprocessor::input_size_within_limits`].
    pub fn input_size_for(&self, source_width: u32, source_height: u32) -> (u32, u32) {
        if self.config.resize != ResizeMode::FitMultiple {
            return (self.config.width, self.config.height);
        }
        // rapidocr's arithmetic: truncate after scaling, then Python-round to the multiple.
        let short = source_width.min(source_height) as f64;
        let ratio = if short < self.config.limit_side as f64 { self.config.limit_side as f64 / short } else { 1.0 };
        let multiple = self.config.multiple.max(1) as f64;
        let fit = |side: u32| {
            let scaled = (side as f64 * ratio).trunc();
            (((scaled / multiple).round_ties_even() * multiple) as u32).max(self.config.multiple.max(1))
        };
        (fit(source_width), fit(source_height))
    }

    /// [`Preprocessor::input_size_for`], refused as too large when preprocessing would allocate
    /// more than `limits.max_alloc_bytes` for an image of this shape. Two modes size a buffer by
    /// the image, and both scale a thin strip's short side up: `fit_multiple` its input (a
    /// 16384×1 PNG of a few hundred bytes would ask for a 12,058,624×736 input, 106 GB), and
    /// `short_side_crop` the resized image it crops from (4,194,304×256 at `resize_short` 256).
    pub fn input_size_within_limits(
        &self,
        source_width: u32,
        source_height: u32,
        limits: &ImageLimits,
    ) -> Result<(u32, u32)> {
        let (width, height) = self.input_size_for(source_width, source_height);
        let (needed, what) = match self.config.resize {
            ResizeMode::FitMultiple => (
                3 * width as u64 * height as u64 * std::mem::size_of::<f32>() as u64,
                format!("a {width}x{height} model input"),
            ),
            ResizeMode::ShortSideCrop => {
                let (resized_width, resized_height) =
                    resized_before_crop(&self.geometry(source_width, source_height).0);
                (
                    3 * resized_width as u64 * resized_height as u64,
                    format!("{resized_width}x{resized_height} before its centre crop"),
                )
            }
            _ => return Ok((width, height)),
        };
        if needed > limits.max_alloc_bytes {
            return Err(Error::image_in_memory(
                format!(
                    "a {source_width}x{source_height} image becomes {what} here ({needed} bytes, over the {} byte \
                     limit, limits.max_alloc_bytes); crop or resize it first",
                    limits.max_alloc_bytes
                ),
                ImageProblem::TooLarge,
            ));
        }
        Ok((width, height))
    }

    /// Writes one image into `output` (3 × the [`Self::input_size_for`] area) as CHW and
    /// returns the transform back to source pixels.
    pub fn fill(&self, image: &DynamicImage, scratch: &mut Scratch, output: &mut [f32]) -> Result<Transform> {
        let (source_width, source_height) = (image.width(), image.height());
        // Rows resized (or not) and normalised straight into the planes, the common case.
        let streamed = self.fills_by_rows(source_width, source_height);
        // Borrow RGB8 pixels directly; a gray image on the streamed path is one channel read
        // three times (the values converting it to RGB would give, without converting); other
        // layouts are converted once.
        let converted;
        let (pixels, channels) = match image {
            DynamicImage::ImageRgb8(rgb) => (rgb.as_raw().as_slice(), 3),
            DynamicImage::ImageLuma8(gray) if streamed => (gray.as_raw().as_slice(), 1),
            other => {
                converted = other.to_rgb8();
                (converted.as_raw().as_slice(), 3)
            }
        };
        // An image's buffer may be longer than its pixels; a frame's rows are found from its length.
        let Some(pixels) = pixels.get(..source_width as usize * source_height as usize * channels) else {
            return Err(Error::Inference(format!(
                "the {source_width}x{source_height} image holds fewer pixels than that"
            )));
        };
        if streamed {
            let mut frame = Frame { pixels, width: source_width as usize, height: source_height as usize };
            return self.fill_rows((source_width, source_height), channels, &mut frame, scratch, output);
        }
        let (width, height) = self.input_size_within(source_width, source_height, output)?;
        let (transform, crop) = self.geometry(source_width, source_height);
        let (content_width, content_height) = (transform.content_width, transform.content_height);
        let interpolation = self.config.interpolation;
        let resample = |pixels: &[u8],
                        width: u32,
                        height: u32,
                        target: &mut Vec<u8>,
                        size: (u32, u32),
                        linear: &mut crate::preprocess::resize::LinearScratch| {
            target.resize(size.0 as usize * size.1 as usize * 3, 0);
            let frame = Frame { pixels, width: width as usize, height: height as usize };
            let size = (size.0 as usize, size.1 as usize);
            match interpolation {
                Interpolation::Linear => crate::preprocess::resize::resize_linear(frame, 3, target, size, linear),
                Interpolation::Lanczos4 => crate::preprocess::resize::resize_lanczos4(frame, 3, target, size),
            }
        };
        let content_size = (content_width as usize, content_height as usize);
        if self.config.resize == ResizeMode::ShortSideCrop {
            // Resize the whole image, then copy the centre window out of it.
            let (resized_width, resized_height) = resized_before_crop(&transform);
            let mut full = std::mem::take(&mut scratch.full);
            resample(
                pixels,
                source_width,
                source_height,
                &mut full,
                (resized_width, resized_height),
                &mut scratch.rows.linear,
            );
            let (left, top) = ((-transform.pad_x) as usize, (-transform.pad_y) as usize);
            scratch.resized.resize(content_width as usize * content_height as usize * 3, 0);
            let row_bytes = content_width as usize * 3;
            for (row, target) in scratch.resized.chunks_exact_mut(row_bytes).enumerate() {
                let start = ((top + row) * resized_width as usize + left) * 3;
                target.copy_from_slice(&full[start..start + row_bytes]);
            }
            scratch.full = full;
        } else if crop.is_none() {
            let mut resized = std::mem::take(&mut scratch.resized);
            resample(
                pixels,
                source_width,
                source_height,
                &mut resized,
                (content_width, content_height),
                &mut scratch.rows.linear,
            );
            scratch.resized = resized;
        } else {
            scratch.resized.resize(content_width as usize * content_height as usize * 3, 0);
            let mut destination = fast_image_resize::images::Image::from_slice_u8(
                content_width,
                content_height,
                &mut scratch.resized,
                PixelType::U8x3,
            )
            .map_err(|error| Error::Inference(format!("resize buffer: {error}")))?;
            let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
            if let Some((left, top, crop_width, crop_height)) = crop {
                options = options.crop(left, top, crop_width, crop_height);
            }
            let source = ImageRef::new(source_width, source_height, pixels, PixelType::U8x3)
                .map_err(|error| Error::Inference(format!("image buffer: {error}")))?;
            scratch
                .resizer
                .resize(&source, &mut destination, &options)
                .map_err(|error| Error::Inference(format!("resize: {error}")))?;
        }
        let mut resized = Frame { pixels: &scratch.resized, width: content_size.0, height: content_size.1 };
        let source = RowSource::Ready { rows: &mut resized, channels: 3 };
        self.write_planes(source, &transform, (width, height), output, &mut scratch.rows);
        Ok(transform)
    }

    /// [`Preprocessor::input_size_for`], once `output` is checked to hold one input of that size.
    fn input_size_within(&self, source_width: u32, source_height: u32, output: &[f32]) -> Result<(u32, u32)> {
        let (width, height) = self.input_size_for(source_width, source_height);
        let needed = 3 * width as usize * height as usize;
        if output.len() != needed {
            return Err(Error::Inference(format!("tensor buffer holds {} values, {needed} needed", output.len())));
        }
        Ok((width, height))
    }

    /// Whether [`Preprocessor::fill_rows`] takes an image of this size: one that is resized
    /// bilinearly (or not at all) and not cropped, so that each input row needs only the source
    /// rows up to its own. Every mode but `short_side_crop` and `center_crop` qualifies.
    pub(crate) fn fills_by_rows(&self, source_width: u32, source_height: u32) -> bool {
        let (transform, crop) = self.geometry(source_width, source_height);
        let same_size = transform.content_width == source_width && transform.content_height == source_height;
        self.config.resize != ResizeMode::ShortSideCrop
            && crop.is_none()
            && (same_size || self.config.interpolation == Interpolation::Linear)
    }

    /// [`Preprocessor::fill`] for an image of `source_width`×`source_height` whose rows come
    /// from `rows`, asked for in order, so they can be rows still being decoded: `channels` is
    /// 3 (RGB) or 1 (gray, read as the RGB it converts to). Only for images
    /// [`Preprocessor::fills_by_rows`] takes.
    pub(crate) fn fill_rows(
        &self,
        (source_width, source_height): (u32, u32),
        channels: usize,
        rows: &mut dyn SourceRows,
        scratch: &mut Scratch,
        output: &mut [f32],
    ) -> Result<Transform> {
        debug_assert!(self.fills_by_rows(source_width, source_height) && matches!(channels, 1 | 3));
        let (width, height) = self.input_size_within(source_width, source_height, output)?;
        let (transform, _) = self.geometry(source_width, source_height);
        let content_size = (transform.content_width as usize, transform.content_height as usize);
        let plan;
        let source = if content_size == (source_width as usize, source_height as usize) {
            // Already the right size: normalised straight from the decoded pixels.
            RowSource::Ready { rows, channels }
        } else {
            // Each row is resized and at once normalised into the planes.
            plan = LinearPlan::new((source_width as usize, source_height as usize), channels, content_size);
            RowSource::Linear { plan: &plan, rows }
        };
        self.write_planes(source, &transform, (width, height), output, &mut scratch.rows);
        Ok(transform)
    }

    /// Where the content goes in the input, and the source crop (left, top, width, height).
    fn geometry(&self, source_width: u32, source_height: u32) -> (Transform, Option<(f64, f64, f64, f64)>) {
        let (width, height) = self.input_size_for(source_width, source_height);
        match self.config.resize {
            ResizeMode::Letterbox => (letterbox_geometry(source_width, source_height, width, height), None),
            ResizeMode::Stretch | ResizeMode::FitMultiple => (
                Transform {
                    source_width,
                    source_height,
                    scale_x: width as f64 / source_width as f64,
                    scale_y: height as f64 / source_height as f64,
                    pad_x: 0.0,
                    pad_y: 0.0,
                    content_width: width,
                    content_height: height,
                },
                None,
            ),
            ResizeMode::CenterCrop => {
                let side = source_width.min(source_height) as f64 * self.config.crop_fraction.clamp(0.01, 1.0) as f64;
                let (crop_width, crop_height) = if width >= height {
                    (side, side * height as f64 / width as f64)
                } else {
                    (side * width as f64 / height as f64, side)
                };
                let left = (source_width as f64 - crop_width) / 2.0;
                let top = (source_height as f64 - crop_height) / 2.0;
                let scale_x = width as f64 / crop_width;
                let scale_y = height as f64 / crop_height;
                (
                    Transform {
                        source_width,
                        source_height,
                        scale_x,
                        scale_y,
                        pad_x: -left * scale_x,
                        pad_y: -top * scale_y,
                        content_width: width,
                        content_height: height,
                    },
                    Some((left, top, crop_width, crop_height)),
                )
            }
            ResizeMode::ShortSideCrop => {
                // Python's round(), as in the reference pipelines: halves go to even.
                let scale = self.config.resize_short as f64 / source_width.min(source_height) as f64;
                let resized_width = ((source_width as f64 * scale).round_ties_even() as u32).max(width);
                let resized_height = ((source_height as f64 * scale).round_ties_even() as u32).max(height);
                let left = (resized_width - width) / 2;
                let top = (resized_height - height) / 2;
                let scale_x = resized_width as f64 / source_width as f64;
                let scale_y = resized_height as f64 / source_height as f64;
                (
                    Transform {
                        source_width,
                        source_height,
                        scale_x,
                        scale_y,
                        pad_x: -(left as f64),
                        pad_y: -(top as f64),
                        content_width: width,
                        content_height: height,
                    },
                    None,
                )
            }
            ResizeMode::PadRight => {
                let ratio = source_width as f64 / source_height as f64;
                let content_width = ((height as f64 * ratio).ceil() as u32).clamp(1, width);
                (
                    Transform {
                        source_width,
                        source_height,
                        scale_x: content_width as f64 / source_width as f64,
                        scale_y: height as f64 / source_height as f64,
                        pad_x: 0.0,
                        pad_y: 0.0,
                        content_width,
                        content_height: height,
                    },
                    None,
                )
            }
        }
    }

    /// Writes the content rows from `source` into the CHW planes, normalised, and fills the
    /// padding around them.
    fn write_planes(
        &self,
        source: RowSource<'_>,
        transform: &Transform,
        (width, height): (u32, u32),
        output: &mut [f32],
        buffers: &mut RowBuffers,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.write_planes_avx2(source, transform, (width, height), output, buffers) };
        }
        self.write_planes_portable(source, transform, (width, height), output, buffers);
    }

    /// [`Self::write_planes`] compiled for AVX2: the same code, in 8-wide vectors where it
    /// vectorises (the vertical pass and the normalisation).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn write_planes_avx2(
        &self,
        source: RowSource<'_>,
        transform: &Transform,
        size: (u32, u32),
        output: &mut [f32],
        buffers: &mut RowBuffers,
    ) {
        self.write_planes_portable(source, transform, size, output, buffers);
    }

    #[inline(always)]
    fn write_planes_portable(
        &self,
        source: RowSource<'_>,
        transform: &Transform,
        (width, height): (u32, u32),
        output: &mut [f32],
        buffers: &mut RowBuffers,
    ) {
        let (width, height) = (width as usize, height as usize);
        let plane = width * height;
        let (content_width, content_height) = (transform.content_width as usize, transform.content_height as usize);
        let (left, top) = (transform.pad_x.max(0.0) as usize, transform.pad_y.max(0.0) as usize);
        let fill = self.pad_values();
        let channels = match source {
            RowSource::Ready { channels, .. } => channels,
            RowSource::Linear { plan, .. } => plan.channels(),
        };
        // Input channel c reads source channel order[c]; a gray row is read for all three.
        let order = match (channels, self.config.channel_order) {
            (1, _) => [0usize; 3],
            (_, ChannelOrder::Rgb) => [0, 1, 2],
            (_, ChannelOrder::Bgr) => [2, 1, 0],
        };
        let (plane0, rest) = output.split_at_mut(plane);
        let (plane1, plane2) = rest.split_at_mut(plane);
        let mut planes = [plane0, plane1, plane2];
        // Padding rows above and below the content.
        for (plane, value) in planes.iter_mut().zip(fill) {
            plane[..top * width].fill(value);
            plane[(top + content_height) * width..].fill(value);
        }
        // A method rather than a closure, so that it is inlined into the AVX2 copy at both
        // call sites.
        let mut target = ContentRows { planes, fill, order, left, top, width, content_width };
        match source {
            RowSource::Ready { rows, channels: 1 } => {
                for y in 0..content_height {
                    target.write(self, y, &rows.starting_at(y)[..content_width]);
                }
            }
            RowSource::Ready { rows, .. } => {
                // Split each interleaved row into its channels first.
                let row_len = content_width * 3;
                let split = &mut buffers.split;
                split.resize(row_len, 0);
                for y in 0..content_height {
                    let pixels = &rows.starting_at(y)[..row_len];
                    let (red, rest) = split.split_at_mut(content_width);
                    let (green, blue) = rest.split_at_mut(content_width);
                    let channels = red.iter_mut().zip(green.iter_mut()).zip(blue);
                    for (pixel, ((red, green), blue)) in pixels.chunks_exact(3).zip(channels) {
                        (*red, *green, *blue) = (pixel[0], pixel[1], pixel[2]);
                    }
                    target.write(self, y, split);
                }
            }
            RowSource::Linear { plan, rows: source } => {
                let mut rows = plan.rows(&mut buffers.linear);
                for y in 0..content_height {
                    target.write(self, y, rows.row(y, source));
                }
            }
        }
    }

    /// The normalised value of the padding in each input channel.
    fn pad_values(&self) -> [f32; 3] {
        std::array::from_fn(|channel| match self.config.resize {
            ResizeMode::PadRight => 0.0,
            _ => self.normalise(channel, self.config.pad_value),
        })
    }

    /// The input value of 8-bit value `value` in input channel `channel`.
    fn normalise(&self, channel: usize, value: u8) -> f32 {
        let mut normalised = [0.0];
        self.normalise_into(channel, &[value], &mut normalised);
        normalised[0]
    }

    /// Normalises one channel's 8-bit values into `output`; the scaling is matched once, outside
    /// the loops, so that each loop compiles to vector code.
    #[inline(always)]
    fn normalise_into(&self, channel: usize, values: &[u8], output: &mut [f32]) {
        let (mean, std) = (self.config.mean[channel], self.config.std[channel]);
        match self.scaling {
            Scaling::Divide(divisor) => {
                for (target, &value) in output.iter_mut().zip(values) {
                    *target = (value as f32 / divisor - mean) / std;
                }
            }
            Scaling::Multiply(factor) => {
                for (target, &value) in output.iter_mut().zip(values) {
                    *target = (value as f32 * factor - mean) / std;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;

    fn encoded(image: DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn the_decode_limit_counts_the_rgb_copy_of_a_16_bit_image() {
        // 100x100 16-bit RGB: 60,000 bytes decoded and 30,000 more as 8-bit RGB (the same
        // proportions as 8000x8000: 384 MB + 192 MB).
        let deep =
            encoded(DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(100, 100, image::Rgb([9u16, 99, 999]))));
        assert_eq!(decode_peak_bytes(&deep), Some(90_000));
        let limits = |max_alloc_bytes| ImageLimits { max_alloc_bytes, ..ImageLimits::default() };
        let error = decode_image(&deep, &limits(70_000)).unwrap_err();
        assert!(error.to_string().contains("90000 bytes to decode and convert"), "{error}");
        assert!(decode_image(&deep, &limits(90_000)).is_ok());
        // RGB8 needs no copy: its decoded buffer is all.
        let plain = encoded(DynamicImage::ImageRgb8(RgbImage::new(100, 100)));
        assert_eq!(decode_peak_bytes(&plain), Some(30_000));
        assert!(decode_image(&plain, &limits(30_000)).is_ok());
        assert_eq!(decode_peak_bytes(b"not an image"), None);
    }

    #[test]
    fn letterbox_geometry_matches_ultralytics_rounding() {
        // 600x400 into 320: ratio 0.5333, 320x213, dh = 53.5 -> top 53 (bottom 54).
        let transform = letterbox_geometry(600, 400, 320, 320);
        assert_eq!((transform.content_width, transform.content_height), (320, 213));
        assert_eq!((transform.pad_x, transform.pad_y), (0.0, 53.0));
        // Square input: no padding.
        let square = letterbox_geometry(512, 512, 640, 640);
        assert_eq!((square.content_width, square.pad_x, square.pad_y), (640, 0.0, 0.0));
        // Mapping back inverts the forward mapping.
        let (x, y) = transform.to_source(160.0, 53.0 + 106.5);
        assert!((x - 300.0).abs() < 1e-9 && (y - 199.6875).abs() < 1e-3, "{x} {y}");
    }

    #[test]
    fn letterboxed_tensor_has_padding_and_normalised_content() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 2, image::Rgb([255, 0, 51])));
        let preprocessor = Preprocessor::new(PreprocessConfig::letterbox(4));
        let mut output = vec![0.0; preprocessor.tensor_len()];
        let transform = preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
        assert_eq!((transform.pad_y, transform.content_height), (1.0, 2.0 as u32));
        let pad = 114.0 / 255.0;
        // Row 0 is padding, rows 1-2 content, row 3 padding, in each of the 3 planes.
        assert_eq!(output[0], pad);
        assert_eq!(output[4], 1.0);
        assert_eq!(output[16 + 4], 0.0);
        assert!((output[32 + 4] - 0.2).abs() < 1e-6);
        assert_eq!(output[12], pad);
    }

    /// A deterministic noisy RGB image.
    fn noise(width: u32, height: u32) -> DynamicImage {
        let mut state = 0x2545_f491_u32;
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |_, _| {
            let mut channel = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            };
            image::Rgb([channel(), channel(), channel()])
        }))
    }

    #[test]
    fn rows_resized_and_normalised_at_once_match_resizing_then_normalising() {
        let imagenet = PreprocessConfig {
            channel_order: ChannelOrder::Bgr,
            ..PreprocessConfig::imagenet(224, ResizeMode::Stretch)
        };
        let configs = [PreprocessConfig::letterbox(320), PreprocessConfig::letterbox(640), imagenet];
        for (config, (width, height)) in configs.into_iter().zip([(301, 203), (512, 512), (640, 427)]) {
            let image = noise(width, height);
            // The reference: the whole image resized, then each value normalised on its own.
            let preprocessor = Preprocessor::new(config.clone());
            let transform = preprocessor.geometry(width, height).0;
            let (content_width, content_height) = (transform.content_width as usize, transform.content_height as usize);
            let mut resized = vec![0u8; content_width * content_height * 3];
            let frame = Frame { pixels: image.as_bytes(), width: width as usize, height: height as usize };
            let mut linear = crate::preprocess::resize::LinearScratch::default();
            crate::preprocess::resize::resize_linear(
                frame,
                3,
                &mut resized,
                (content_width, content_height),
                &mut linear,
            );
            let (input_width, input_height) = (config.width as usize, config.height as usize);
            let plane = input_width * input_height;
            let (left, top) = (transform.pad_x as usize, transform.pad_y as usize);
            let order = if config.channel_order == ChannelOrder::Bgr { [2, 1, 0] } else { [0, 1, 2] };
            let mut expected = vec![0.0f32; 3 * plane];
            for channel in 0..3 {
                for y in 0..input_height {
                    for x in 0..input_width {
                        let inside =
                            (top..top + content_height).contains(&y) && (left..left + content_width).contains(&x);
                        let value = if inside {
                            resized[((y - top) * content_width + x - left) * 3 + order[channel]]
                        } else {
                            config.pad_value
                        };
                        expected[channel * plane + y * input_width + x] = preprocessor.normalise(channel, value);
                    }
                }
            }
            let mut output = vec![f32::NAN; preprocessor.tensor_len()];
            preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
            let same = output.iter().zip(&expected).all(|(got, want)| got.to_bits() == want.to_bits());
            assert!(same, "{width}x{height} into {input_width}x{input_height} differs");
        }
    }

    #[test]
    fn a_buffer_longer_than_the_image_gives_the_tensor_of_the_image() {
        let (width, height) = (37, 23);
        let exact = noise(width, height).to_rgb8();
        let mut longer = exact.as_raw().clone();
        longer.extend(std::iter::repeat_n(7, 3 * width as usize * 5));
        let longer = RgbImage::from_raw(width, height, longer).unwrap();
        for config in [PreprocessConfig::letterbox(32), PreprocessConfig::imagenet(16, ResizeMode::ShortSideCrop)] {
            let preprocessor = Preprocessor::new(config);
            let tensor = |image: &RgbImage| {
                let mut output = vec![f32::NAN; preprocessor.tensor_len()];
                preprocessor
                    .fill(&DynamicImage::ImageRgb8(image.clone()), &mut Scratch::default(), &mut output)
                    .unwrap();
                output
            };
            assert!(tensor(&longer) == tensor(&exact), "{:?}", preprocessor.config());
        }
    }

    #[test]
    fn a_gray_image_gives_the_tensor_of_its_rgb_conversion() {
        let imagenet_bgr = PreprocessConfig {
            channel_order: ChannelOrder::Bgr,
            ..PreprocessConfig::imagenet(224, ResizeMode::Stretch)
        };
        let same_size = PreprocessConfig { width: 64, height: 48, ..PreprocessConfig::letterbox(64) };
        let cases = [
            (PreprocessConfig::letterbox(320), (301, 203)),
            (PreprocessConfig::letterbox(640), (512, 512)),
            (imagenet_bgr, (97, 131)),
            (same_size, (64, 48)),
            (PreprocessConfig::imagenet(224, ResizeMode::ShortSideCrop), (300, 260)),
        ];
        for (config, (width, height)) in cases {
            let gray = image::GrayImage::from_vec(width, height, noise(width, height).to_luma8().into_raw()).unwrap();
            let rgb = DynamicImage::ImageLuma8(gray.clone()).to_rgb8();
            let preprocessor = Preprocessor::new(config);
            let tensor = |image: DynamicImage| {
                let mut output = vec![f32::NAN; preprocessor.tensor_len()];
                let transform = preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
                (output, transform)
            };
            let (from_gray, gray_transform) = tensor(DynamicImage::ImageLuma8(gray));
            let (from_rgb, rgb_transform) = tensor(DynamicImage::ImageRgb8(rgb));
            assert_eq!(gray_transform, rgb_transform);
            let same = from_gray.iter().zip(&from_rgb).all(|(gray, rgb)| gray.to_bits() == rgb.to_bits());
            assert!(same, "{width}x{height} gray into {:?} differs from its RGB conversion", preprocessor.config());
        }
    }

    #[test]
    fn bgr_and_mean_std_are_applied_per_input_channel() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 0])));
        let config = PreprocessConfig {
            width: 2,
            height: 2,
            resize: ResizeMode::Stretch,
            channel_order: ChannelOrder::Bgr,
            mean: [0.5, 0.5, 0.5],
            std: [0.5, 0.5, 0.5],
            ..Default::default()
        };
        let preprocessor = Preprocessor::new(config);
        let mut output = vec![0.0; 12];
        preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
        // Channel 0 is blue (0 -> -1), channel 2 is red (255 -> 1).
        assert_eq!(&output[0..4], &[-1.0; 4]);
        assert_eq!(&output[8..12], &[1.0; 4]);
    }

    #[test]
    fn pad_right_keeps_ratio_and_pads_with_zero() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(10, 10, image::Rgb([255, 255, 255])));
        let config = PreprocessConfig { width: 8, height: 2, resize: ResizeMode::PadRight, ..Default::default() };
        let preprocessor = Preprocessor::new(config);
        let mut output = vec![9.0; preprocessor.tensor_len()];
        let transform = preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
        assert_eq!(transform.content_width, 2);
        assert_eq!(&output[0..8], &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn a_thin_strip_is_refused_where_preprocessing_would_size_a_buffer_by_it() {
        let limits = ImageLimits::default();
        let too_large =
            |result: Result<(u32, u32)>| matches!(result, Err(Error::Image { problem: ImageProblem::TooLarge, .. }));
        let fit = Preprocessor::new(PreprocessConfig { resize: ResizeMode::FitMultiple, ..Default::default() });
        assert!(too_large(fit.input_size_within_limits(16_384, 1, &limits)));
        assert_eq!(fit.input_size_within_limits(1000, 800, &limits).unwrap(), (992, 800));
        // short_side_crop resizes the whole image before cropping: 4,194,304×256 here.
        let crop = Preprocessor::new(PreprocessConfig::imagenet(224, ResizeMode::ShortSideCrop));
        let error = crop.input_size_within_limits(16_384, 1, &limits);
        assert!(too_large(crop.input_size_within_limits(16_384, 1, &limits)), "{error:?}");
        assert_eq!(crop.input_size_within_limits(640, 480, &limits).unwrap(), (224, 224));
        // Fixed-size inputs are the configured size, whatever the image.
        let letterbox = Preprocessor::new(PreprocessConfig::letterbox(640));
        assert_eq!(letterbox.input_size_within_limits(16_384, 1, &limits).unwrap(), (640, 640));
    }

    #[test]
    fn fit_multiple_follows_rapidocr_rounding() {
        let preprocessor =
            Preprocessor::new(PreprocessConfig { resize: ResizeMode::FitMultiple, ..Default::default() });
        // page_line.png: 300x40 -> ratio 18.4 -> 5520 x 736 -> 5520/32 = 172.5 rounds to even.
        assert_eq!(preprocessor.input_size_for(300, 40), (5504, 736));
        assert_eq!(preprocessor.input_size_for(384, 191), (1472, 736));
        assert_eq!(preprocessor.input_size_for(1000, 800), (992, 800));
        let image = DynamicImage::ImageRgb8(RgbImage::new(300, 40));
        let mut output = vec![0.0; 3 * 5504 * 736];
        let transform = preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
        assert_eq!((transform.content_width, transform.content_height), (5504, 736));
    }

    #[test]
    fn corrupt_and_oversized_images_are_refused() {
        let limits = ImageLimits::default();
        let error = decode_image(b"definitely not an image", &limits).unwrap_err();
        assert!(error.to_string().contains("not a supported image format"), "{error}");
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::new(64, 64))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(decode_image(&png, &limits).is_ok());
        let tight = ImageLimits { max_dimension: 32, ..limits };
        assert!(decode_image(&png, &tight).is_err());
        assert!(decode_image(&png[..png.len() / 2], &limits).is_err());
    }
}

//! Decoding a PNG on one core while another preprocesses its rows.
//!
//! A lone image on an idle machine leaves a core waiting while the first decodes it: about
//! 1 ms for a 512×512 photo, then 0.3 ms of resizing and normalising. PNG rows come out of the
//! decoder in order, and a bilinear resize needs only the source rows up to each input row, so
//! a helper thread can preprocess every block of rows as soon as it is decoded, and the tensor
//! is ready a few rows after the last one. Used for a server's lone request
//! ([`crate::Pipeline::predict_bytes_overlapped`]); under load every core is busy with other
//! requests and the ordinary path is as fast.
//!
//! The helper is one long-lived thread, asleep between images: a thread spawned per image
//! starts on its parent's core and, on Linux, only runs once the decoding is over, while a
//! sleeping thread that is woken goes to an idle core at once.

use std::{
    io::Cursor,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{channel, Receiver, Sender, TryRecvError},
        Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use crate::{
    preprocess::{resize::SourceRows, ImageLimits, Preprocessor, Scratch, Transform},
    Result,
};

/// Rows are handed to the helper in blocks of about this many bytes: small enough that it
/// starts early and finishes soon after the last row, large enough that handing over costs
/// nothing.
const BLOCK_BYTES: usize = 32 * 1024;

/// Polls of a channel before waiting on it sleeps (or yields): the next block, or the helper's
/// result once decoding ends, is normally microseconds away, and a sleeping thread takes tens of
/// microseconds to wake.
const SPINS: u32 = 1 << 14;

type Job = Box<dyn FnOnce() + Send>;

/// The helper thread's queue, or `None` if it could not be started.
fn helper() -> Option<&'static Mutex<Sender<Job>>> {
    static HELPER: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let (jobs, queue) = channel::<Job>();
            std::thread::Builder::new()
                .name("inferx-overlap".into())
                .spawn(move || queue.into_iter().for_each(|job| job()))
                .inspect_err(|error| tracing::warn!("preprocessing while decoding is off: no helper thread ({error})"))
                .ok()?;
            Some(Mutex::new(jobs))
        })
        .as_ref()
}

/// Set while an image's rows go to the helper: one image at a time, so a second caller takes
/// the ordinary path instead of waiting behind the first.
static HELPER_BUSY: AtomicBool = AtomicBool::new(false);

/// The helper, held for one image until dropped.
struct HelperClaim;

impl HelperClaim {
    fn take() -> Option<HelperClaim> {
        HELPER_BUSY.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok().map(|_| HelperClaim)
    }
}

impl Drop for HelperClaim {
    fn drop(&mut self) {
        HELPER_BUSY.store(false, Ordering::Release);
    }
}

/// Receives from `receiver`, polling before it sleeps; `None` once the sender is gone.
fn receive<T>(receiver: &Receiver<T>) -> Option<T> {
    for spin in 0..SPINS {
        match receiver.try_recv() {
            Ok(value) => return Some(value),
            Err(TryRecvError::Disconnected) => return None,
            // Yield in the second half, in case the other thread is waiting for this core.
            Err(TryRecvError::Empty) if spin < SPINS / 2 => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    receiver.recv().ok()
}

/// A PNG whose header has been read and whose pixels [`PngRows::decode_while`] decodes.
pub(crate) struct PngRows<'b> {
    reader: png::Reader<Cursor<&'b [u8]>>,
    width: u32,
    height: u32,
    channels: usize,
}

impl<'b> PngRows<'b> {
    /// Reads the header of `bytes` if they are a PNG this path takes: a still image, not
    /// interlaced, without EXIF metadata (which may rotate it), whose pixels decode to 8-bit
    /// RGB or gray (palettes and low bit depths expand to those, as the `image` crate expands
    /// them), within `limits`. `None` for anything else, including a malformed file: the
    /// ordinary path decodes those and reports their errors.
    pub(crate) fn open(bytes: &'b [u8], limits: &ImageLimits) -> Option<PngRows<'b>> {
        const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
        if !bytes.starts_with(SIGNATURE)
            || bytes.len() as u64 > limits.max_file_bytes
            || crate::preprocess::png_structure_problem(bytes).is_some()
        {
            return None;
        }
        // The decoder parses hostile bytes; a panic means "not this path".
        std::panic::catch_unwind(|| {
            let max_bytes = usize::try_from(limits.max_alloc_bytes).unwrap_or(usize::MAX);
            let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: max_bytes });
            decoder.set_transformations(png::Transformations::EXPAND);
            let reader = decoder.read_info().ok()?;
            let info = reader.info();
            let still = info.animation_control.is_none() && info.exif_metadata.is_none() && !info.interlaced;
            let channels = match reader.output_color_type() {
                (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
                (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
                _ => return None,
            };
            let (width, height) = (info.width, info.height);
            let fits = width > 0
                && height > 0
                && width <= limits.max_dimension
                && height <= limits.max_dimension
                && width as u64 * height as u64 * channels as u64 <= limits.max_alloc_bytes;
            (still && fits).then_some(PngRows { reader, width, height, channels })
        })
        .ok()
        .flatten()
    }

    /// Width and height, in pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Values per pixel: 3 (RGB) or 1 (gray).
    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes the pixels on this thread while `consume` runs on the helper thread with them as
    /// [`SourceRows`], each row available as soon as its block is decoded. Returns what
    /// `consume` returned and how long decoding took; `None` if the pixel data turned out to be
    /// malformed (what `consume` made of it is then dropped), or the helper is busy with another
    /// image or could not be started.
    pub(crate) fn decode_while<T: Send + 'static>(
        mut self,
        consume: impl FnOnce(&mut dyn SourceRows) -> T + Send + 'static,
    ) -> Option<(T, Duration)> {
        let started = Instant::now();
        let row_len = self.width as usize * self.channels;
        let rows_per_block = (BLOCK_BYTES / row_len).max(1);
        let (blocks, arriving) = channel::<Vec<u8>>();
        let (done, result) = channel();
        let _claim = HelperClaim::take()?;
        let job: Job = Box::new(move || {
            let mut rows = ArrivingRows { arriving, blocks: Vec::new(), rows_per_block, row_len, stand_in: Vec::new() };
            // A panic goes back to the caller, and the helper lives on.
            let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(|| consume(&mut rows))));
        });
        helper()?.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(job).ok()?;
        let reader = &mut self.reader;
        // The decoder parses hostile bytes: a panic of it means a malformed file, which the
        // ordinary path reports.
        let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            for first in (0..self.height as usize).step_by(rows_per_block) {
                let rows = rows_per_block.min(self.height as usize - first);
                let mut block = vec![0u8; rows * row_len];
                if !block.chunks_exact_mut(row_len).all(|row| matches!(reader.read_row(row), Ok(Some(_)))) {
                    return false;
                }
                // The helper only stops early by panicking, which its result reports.
                let _ = blocks.send(block);
            }
            // The end of the pixel data, as the ordinary path reads it: a file cut after the
            // last row, or whose last chunk fails its checksum, is malformed there too.
            matches!(reader.read_row(&mut []), Ok(None))
        }))
        .unwrap_or(false);
        let decode_time = started.elapsed();
        // The helper sees the channel close: after a failure it finishes on stand-in rows.
        drop(blocks);
        let consumed = receive(&result)?.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        decoded.then_some((consumed, decode_time))
    }
}

/// An input filled by [`PngRows::fill_while_decoding`], with the buffers it borrowed.
pub(crate) struct Filled {
    /// The transform back to source pixels, or why preprocessing failed.
    pub transform: Result<Transform>,
    /// When the helper finished filling.
    pub at: Instant,
    /// How long decoding took on the calling thread.
    pub decode_time: Duration,
    /// The buffers lent to the helper.
    pub scratch: Scratch,
    pub tensor: Vec<f32>,
}

impl PngRows<'_> {
    /// [`Preprocessor::fill_rows`] into `tensor` (already one input long) on the helper while
    /// this thread decodes the rows; `None` as [`PngRows::decode_while`].
    pub(crate) fn fill_while_decoding(
        self,
        preprocessor: &Preprocessor,
        mut scratch: Scratch,
        mut tensor: Vec<f32>,
    ) -> Option<Filled> {
        let (size, channels) = (self.size(), self.channels());
        let preprocessor = preprocessor.clone();
        // The helper takes the buffers and gives them back.
        let fill = move |rows: &mut dyn SourceRows| {
            let transform = preprocessor.fill_rows(size, channels, rows, &mut scratch, &mut tensor);
            (transform, Instant::now(), scratch, tensor)
        };
        let ((transform, at, scratch, tensor), decode_time) = self.decode_while(fill)?;
        Some(Filled { transform, at, decode_time, scratch, tensor })
    }
}

/// The tensor of `bytes` preprocessed on the helper while this thread decodes them, or `None`
/// where this path leaves them to the ordinary one (not a PNG it takes, preprocessing that
/// needs the whole image, malformed pixel data, the helper busy). For the tests and the fuzz
/// harness, which compare it with the tensor of the decoded image.
#[doc(hidden)]
pub fn tensor_while_decoding(
    preprocessor: &Preprocessor,
    bytes: &[u8],
    limits: &ImageLimits,
) -> Option<Result<Vec<f32>>> {
    let png = PngRows::open(bytes, limits)?;
    let (width, height) = png.size();
    if !preprocessor.fills_by_rows(width, height) {
        return None;
    }
    let (input_width, input_height) = match preprocessor.input_size_within_limits(width, height, limits) {
        Ok(input_size) => input_size,
        Err(error) => return Some(Err(error)),
    };
    let tensor = vec![0.0; 3 * input_width as usize * input_height as usize];
    let filled = png.fill_while_decoding(preprocessor, Scratch::default(), tensor)?;
    Some(filled.transform.map(|_| filled.tensor))
}

/// The helper's view of the rows: blocks arrive over a channel, in order.
struct ArrivingRows {
    arriving: Receiver<Vec<u8>>,
    blocks: Vec<Vec<u8>>,
    rows_per_block: usize,
    row_len: usize,
    /// What rows read after the decoder gave up, so that the consumer finishes normally.
    stand_in: Vec<u8>,
}

impl SourceRows for ArrivingRows {
    fn starting_at(&mut self, row: usize) -> &[u8] {
        let block = row / self.rows_per_block;
        while self.blocks.len() <= block {
            match receive(&self.arriving) {
                Some(arrived) => self.blocks.push(arrived),
                None => {
                    self.stand_in.resize(self.row_len, 0);
                    return &self.stand_in;
                }
            }
        }
        &self.blocks[block][(row % self.rows_per_block) * self.row_len..]
    }
}

#[cfg(test)]
mod tests {
    use image::{codecs::png::PngEncoder, DynamicImage, ExtendedColorType, ImageEncoder};

    use super::*;
    use crate::preprocess::{decode_image, PreprocessConfig, ResizeMode};

    /// A PNG of `width`×`height` noise-like pixels with `channels` 3 (RGB) or 1 (gray).
    fn png(width: u32, height: u32, channels: usize) -> Vec<u8> {
        let mut state = width.wrapping_mul(31).wrapping_add(height);
        let pixels: Vec<u8> = (0..width as usize * height as usize * channels)
            .map(|index| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                // Smooth gradients plus noise, so resizing has something to interpolate.
                ((index % 251) as u32 + (state >> 29)) as u8
            })
            .collect();
        let color = if channels == 3 { ExtendedColorType::Rgb8 } else { ExtendedColorType::L8 };
        let mut encoded = Vec::new();
        PngEncoder::new(&mut encoded).write_image(&pixels, width, height, color).unwrap();
        encoded
    }

    /// Held by each test that uses the helper: it takes one image at a time, and a test running
    /// alongside would find it busy.
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tensor of `bytes` by the ordinary path: decode the whole image, then preprocess.
    fn tensor_after_decoding(preprocessor: &Preprocessor, bytes: &[u8]) -> Vec<f32> {
        let image = decode_image(bytes, &ImageLimits::default()).unwrap();
        let (width, height) = preprocessor.input_size_for(image.width(), image.height());
        let mut output = vec![0.0; 3 * width as usize * height as usize];
        preprocessor.fill(&image, &mut Scratch::default(), &mut output).unwrap();
        output
    }

    /// The tensor of `bytes` preprocessed on the helper while this thread decodes.
    fn while_decoding(preprocessor: &Preprocessor, bytes: &[u8]) -> Option<Vec<f32>> {
        tensor_while_decoding(preprocessor, bytes, &ImageLimits::default()).map(|filled| filled.unwrap())
    }

    #[test]
    fn rows_preprocessed_while_decoding_give_the_tensor_of_the_decoded_image() {
        let _serial = one_at_a_time();
        let configs = [
            PreprocessConfig::letterbox(320),
            PreprocessConfig::letterbox(640),
            PreprocessConfig { resize: ResizeMode::Stretch, ..PreprocessConfig::letterbox(96) },
            PreprocessConfig { resize: ResizeMode::PadRight, width: 192, height: 48, ..PreprocessConfig::default() },
            PreprocessConfig { resize: ResizeMode::FitMultiple, ..PreprocessConfig::default() },
        ];
        // Block boundaries fall on different rows for each width (32 KiB blocks: 10 rows of a
        // 1000-pixel RGB row, 4369 of a 7-pixel one); a 320×320 image needs no resize at 320.
        let images = [(512, 512, 3), (1000, 333, 3), (7, 5, 3), (320, 320, 3), (641, 97, 1), (1, 1, 3)];
        for config in configs {
            let preprocessor = Preprocessor::new(config.clone());
            for (width, height, channels) in images {
                let bytes = png(width, height, channels);
                let expected = tensor_after_decoding(&preprocessor, &bytes);
                let actual = while_decoding(&preprocessor, &bytes).expect("taken by the overlapped path");
                assert!(expected == actual, "{config:?}: {width}x{height}x{channels} differs");
            }
        }
    }

    #[test]
    fn other_pngs_are_left_to_the_ordinary_path() {
        let limits = ImageLimits::default();
        let rgba = DynamicImage::new_rgba8(4, 4);
        let mut with_alpha = Vec::new();
        rgba.write_to(&mut std::io::Cursor::new(&mut with_alpha), image::ImageFormat::Png).unwrap();
        assert!(PngRows::open(&with_alpha, &limits).is_none(), "RGBA");
        let sixteen = DynamicImage::new_rgb16(4, 4);
        let mut deep = Vec::new();
        sixteen.write_to(&mut std::io::Cursor::new(&mut deep), image::ImageFormat::Png).unwrap();
        assert!(PngRows::open(&deep, &limits).is_none(), "16-bit");
        assert!(PngRows::open(b"\xff\xd8\xff\xe0 not a png", &limits).is_none(), "JPEG");
        let small = ImageLimits { max_dimension: 100, ..ImageLimits::default() };
        assert!(PngRows::open(&png(101, 2, 3), &small).is_none(), "over the side limit");
    }

    #[test]
    fn malformed_pixel_data_gives_none_and_the_helper_lives_on() {
        let _serial = one_at_a_time();
        let bytes = png(300, 200, 3);
        // Flip bytes inside the compressed pixel data: the header still reads.
        let mut corrupt = bytes.clone();
        let data = corrupt.windows(4).position(|window| window == b"IDAT").unwrap() + 4;
        for byte in &mut corrupt[data + 40..data + 400] {
            *byte ^= 0x5a;
        }
        let preprocessor = Preprocessor::new(PreprocessConfig::letterbox(320));
        assert!(while_decoding(&preprocessor, &corrupt).is_none());
        // Cut short after the header: the rows stop coming.
        assert!(while_decoding(&preprocessor, &bytes[..bytes.len() / 2]).is_none());
        // Every row there, but not the end of the file (IEND), or the last chunk's checksum
        // wrong: refused here as the ordinary path refuses them.
        let without_end = &bytes[..bytes.len() - 12];
        let mut bad_checksum = bytes.clone();
        let last_checksum = bytes.len() - 12 - 4;
        bad_checksum[last_checksum] ^= 0xff;
        for (name, malformed) in [("no IEND", without_end), ("IDAT checksum", &bad_checksum[..])] {
            assert!(decode_image(malformed, &ImageLimits::default()).is_err(), "{name}: the ordinary path decodes it");
            assert!(while_decoding(&preprocessor, malformed).is_none(), "{name}");
        }
        assert_eq!(while_decoding(&preprocessor, &bytes), Some(tensor_after_decoding(&preprocessor, &bytes)));
    }

    #[test]
    fn a_second_image_while_the_helper_is_busy_is_left_to_the_ordinary_path() {
        let _serial = one_at_a_time();
        let preprocessor = Preprocessor::new(PreprocessConfig::letterbox(320));
        let bytes = png(64, 64, 3);
        let first = PngRows::open(&bytes, &ImageLimits::default()).unwrap();
        let (entering, entered) = channel();
        let (release, released) = channel::<()>();
        std::thread::scope(|scope| {
            let holder = scope.spawn(move || {
                // The helper stays on this image until released.
                first.decode_while(move |_rows| {
                    entering.send(()).unwrap();
                    released.recv().unwrap();
                })
            });
            entered.recv().unwrap();
            assert!(while_decoding(&preprocessor, &bytes).is_none(), "waited for a busy helper");
            release.send(()).unwrap();
            assert!(holder.join().unwrap().is_some());
        });
        assert_eq!(while_decoding(&preprocessor, &bytes), Some(tensor_after_decoding(&preprocessor, &bytes)));
    }
}

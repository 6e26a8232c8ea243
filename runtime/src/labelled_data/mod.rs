//! Labelled data on disk for segmentation and anomaly evaluation: label maps (PNG files whose
//! pixel values are class ids, as Pascal VOC, Cityscapes and ADE20K store them) and the MVTec
//! AD layout (`test/good`, `test/<defect>`, `ground_truth/<defect>/<stem>_mask.png`).
//!
//! The metrics themselves are in [`evaluation`](crate::evaluation); this module only reads.

use std::{
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
};

use crate::{inputs, Error, ImageProblem, Result};

pub mod sets;

/// A label map: one class id per pixel, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Class ids, row-major (`y * width + x`).
    pub classes: Vec<u16>,
}

/// Reads a label map: a palette PNG (its pixel indices are the class ids, whatever colours the
/// palette gives them) or a greyscale PNG (8 or 16 bits: the values are the class ids). An RGB
/// PNG is refused: colours are not class ids.
pub fn read_label_map(path: &Path) -> Result<LabelMap> {
    let failure =
        |reason: String, problem: ImageProblem| Error::Image { path: path.display().to_string(), reason, problem };
    let file = File::open(path)
        .map_err(|error| failure(format!("could not open the label map: {error}"), ImageProblem::Unreadable))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    // No palette expansion: a palette PNG's indices are the class ids.
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .map_err(|error| failure(format!("a label map must be a PNG file ({error})"), ImageProblem::Unsupported))?;
    let (color, depth) = reader.output_color_type();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let frame = reader.next_frame(&mut buffer).map_err(|error| failure(error.to_string(), ImageProblem::Corrupt))?;
    let (width, height) = (frame.width, frame.height);
    let bytes = &buffer[..frame.buffer_size()];
    let row_bytes = frame.line_size;
    let classes: Vec<u16> = match (color, depth) {
        (png::ColorType::Indexed | png::ColorType::Grayscale, png::BitDepth::Eight) => {
            rows(bytes, row_bytes, height).flat_map(|row| row[..width as usize].iter().map(|&v| u16::from(v))).collect()
        }
        (png::ColorType::Grayscale, png::BitDepth::Sixteen) => rows(bytes, row_bytes, height)
            .flat_map(|row| row[..width as usize * 2].chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])))
            .collect(),
        (png::ColorType::Indexed | png::ColorType::Grayscale, png::BitDepth::One | png::BitDepth::Two | png::BitDepth::Four) => {
            let bits = depth as u8 as usize;
            let mask = (1u16 << bits) - 1;
            rows(bytes, row_bytes, height)
                .flat_map(|row| {
                    (0..width as usize).map(move |x| {
                        let bit = x * bits;
                        (u16::from(row[bit / 8]) >> (8 - bits - bit % 8)) & mask
                    })
                })
                .collect()
        }
        _ => {
            return Err(failure(
                format!(
                    "a label map holds one class id per pixel: save it as a palette or greyscale PNG, not {color:?} ({} bits)",
                    depth as u8
                ),
                ImageProblem::Unsupported,
            ))
        }
    };
    Ok(LabelMap { width, height, classes })
}

fn rows(bytes: &[u8], row_bytes: usize, height: u32) -> impl Iterator<Item = &[u8]> {
    bytes.chunks(row_bytes.max(1)).take(height as usize)
}

/// One test image of an MVTec AD category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalySample {
    /// The image.
    pub image: PathBuf,
    /// `None` for `test/good`, else the defect type (the folder name).
    pub defect: Option<String>,
    /// The defect's mask (`ground_truth/<defect>/<stem>_mask.png`); `None` for good images,
    /// and for a defect image whose mask is missing (see [`AnomalySet::missing_masks`]).
    pub mask: Option<PathBuf>,
}

/// The test set of an MVTec AD category folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalySet {
    /// Good images first, then each defect type in name order; files sorted.
    pub samples: Vec<AnomalySample>,
    /// Defect images without a mask: pixel metrics cannot count them.
    pub missing_masks: Vec<PathBuf>,
}

/// Whether `folder` is laid out as an MVTec AD category (it has `test/good`).
pub fn is_mvtec_layout(folder: &Path) -> bool {
    folder.join("test").join("good").is_dir()
}

/// Reads an MVTec AD category folder: `test/good/*` are normal, `test/<defect>/*` anomalous
/// with their masks in `ground_truth/<defect>/<stem>_mask.png`.
pub fn read_mvtec(folder: &Path) -> Result<AnomalySet> {
    let test = folder.join("test");
    if !test.join("good").is_dir() {
        return Err(Error::Config {
            path: Some(folder.to_path_buf()),
            reason:
                "an MVTec AD category has a `test/good` folder of normal images (and `test/<defect>` folders beside it)"
                    .to_string(),
        });
    }
    let read_dir = |dir: &Path| -> Result<Vec<PathBuf>> {
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
            action: "could not list",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
        paths.sort();
        Ok(paths)
    };
    let mut samples = Vec::new();
    let mut missing_masks = Vec::new();
    let mut defects: Vec<PathBuf> = read_dir(&test)?.into_iter().filter(|path| path.is_dir()).collect();
    // `good` first, then the defects in name order.
    defects.sort_by_key(|path| (path.file_name().is_none_or(|name| name != "good"), path.clone()));
    for dir in defects {
        let name = dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let defect = (name != "good").then_some(name);
        for image in read_dir(&dir)?.into_iter().filter(|path| path.is_file() && inputs::is_image_path(path)) {
            let mask = defect.as_ref().and_then(|defect| {
                let stem = image.file_stem()?.to_string_lossy().into_owned();
                let mask = folder.join("ground_truth").join(defect).join(format!("{stem}_mask.png"));
                mask.is_file().then_some(mask)
            });
            if defect.is_some() && mask.is_none() {
                missing_masks.push(image.clone());
            }
            samples.push(AnomalySample { image, defect: defect.clone(), mask });
        }
    }
    Ok(AnomalySet { samples, missing_masks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, width: u32, height: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8]) {
        let file = File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if color == png::ColorType::Indexed {
            // Colours that are not the class ids: the indices must be read, not the colours.
            encoder.set_palette((0..=255u8).flat_map(|index| [255 - index, index / 2, 7]).collect::<Vec<u8>>());
        }
        encoder.write_header().unwrap().write_image_data(data).unwrap();
    }

    #[test]
    fn palette_and_greyscale_maps_give_their_class_ids_and_rgb_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let palette = dir.path().join("palette.png");
        write_png(&palette, 3, 2, png::ColorType::Indexed, png::BitDepth::Eight, &[0, 1, 2, 255, 1, 0]);
        assert_eq!(read_label_map(&palette).unwrap().classes, [0, 1, 2, 255, 1, 0]);
        let packed = dir.path().join("packed.png");
        // 2 bits per pixel, 3 pixels a row: 0b00_01_10_00, 0b11_00_01_00.
        write_png(&packed, 3, 2, png::ColorType::Indexed, png::BitDepth::Two, &[0b0001_1000, 0b1100_0100]);
        assert_eq!(read_label_map(&packed).unwrap().classes, [0, 1, 2, 3, 0, 1]);
        let grey16 = dir.path().join("grey16.png");
        write_png(&grey16, 2, 1, png::ColorType::Grayscale, png::BitDepth::Sixteen, &[0x01, 0x02, 0, 7]);
        let map = read_label_map(&grey16).unwrap();
        assert_eq!((map.width, map.height, map.classes), (2, 1, vec![0x0102, 7]));
        let rgb = dir.path().join("rgb.png");
        write_png(&rgb, 1, 1, png::ColorType::Rgb, png::BitDepth::Eight, &[1, 2, 3]);
        let error = read_label_map(&rgb).unwrap_err().to_string();
        assert!(error.contains("rgb.png") && error.contains("palette or greyscale PNG"), "{error}");
        let text = dir.path().join("text.png");
        std::fs::write(&text, "not a png").unwrap();
        assert!(read_label_map(&text).unwrap_err().to_string().contains("must be a PNG"));
    }

    #[test]
    fn an_mvtec_category_lists_good_images_first_and_finds_each_defect_mask() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (folder, file) in [
            ("test/good", "000.png"),
            ("test/good", "001.png"),
            ("test/crack", "000.png"),
            ("test/crack", "001.png"),
            ("test/color", "000.png"),
            ("ground_truth/crack", "000_mask.png"),
            ("ground_truth/color", "000_mask.png"),
        ] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
            std::fs::write(root.join(folder).join(file), b"").unwrap();
        }
        std::fs::write(root.join("test/good/readme.txt"), b"").unwrap();
        assert!(is_mvtec_layout(root));
        let set = read_mvtec(root).unwrap();
        let listed: Vec<(String, Option<String>, bool)> = set
            .samples
            .iter()
            .map(|sample| {
                let name = sample.image.strip_prefix(root).unwrap().display().to_string();
                (name, sample.defect.clone(), sample.mask.is_some())
            })
            .collect();
        let expected = [
            ("test/good/000.png", None, false),
            ("test/good/001.png", None, false),
            ("test/color/000.png", Some("color"), true),
            ("test/crack/000.png", Some("crack"), true),
            ("test/crack/001.png", Some("crack"), false),
        ];
        let expected: Vec<(String, Option<String>, bool)> =
            expected.iter().map(|(name, defect, mask)| (name.to_string(), defect.map(str::to_string), *mask)).collect();
        assert_eq!(listed, expected);
        assert_eq!(set.missing_masks, [root.join("test/crack/001.png")]);
        let error = read_mvtec(&root.join("test")).unwrap_err().to_string();
        assert!(error.contains("test/good"), "{error}");
    }
}

//! Labelled sets for `val` (`inferx val` and a generated project's): an Ultralytics
//! `data.yaml`, a folder with `images/` and `labels/` (boxes or polygons), a COCO json with its
//! image folder, a folder per class (ImageNet layout), a folder with `images/` and `masks/`
//! (label maps), or an MVTec AD category.
//!
//! Everything is read and checked before the model loads, and every problem is kept with its
//! file and line ([`Problem`]), so a user fixes them all in one go; `--skip-bad` evaluates
//! without the images they concern instead.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{
    inputs,
    labelled_data::{self, AnomalySet},
    Error, Result,
};

/// Returns early with an [`Error::LabelledData`] of the formatted message.
macro_rules! bail {
    ($($message:tt)*) => {
        return Err(Error::LabelledData(format!($($message)*)))
    };
}

/// A problem with one file of the data, reported as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is in (a label file, an image, a mask).
    pub file: PathBuf,
    /// 1-based line, where the problem is on one.
    pub line: Option<usize>,
    /// What is wrong, and the fix.
    pub message: String,
    /// The image it concerns (left out with `--skip-bad`); `None` for an annotation that
    /// belongs to no image.
    pub image: Option<PathBuf>,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(formatter, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// An image's id in COCO results: a number when the file stem is numeric (or the COCO id),
/// else the stem. pycocotools sorts ids; numbers sort before names here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum ImageId {
    /// A numeric id.
    Number(i64),
    /// A file stem that is not a number.
    Name(String),
}

impl ImageId {
    fn of_stem(path: &Path) -> ImageId {
        let stem = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        stem.parse().map_or(ImageId::Name(stem), ImageId::Number)
    }
}

/// Where a labelled box is: normalised centre and size (YOLO labels, scaled once the image's
/// size is known) or `[x, y, width, height]` in pixels (COCO).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Geometry {
    /// Centre and size as fractions of the image's width and height.
    Normalised {
        /// Centre, horizontally.
        center_x: f64,
        /// Centre, vertically.
        center_y: f64,
        /// Width.
        width: f64,
        /// Height.
        height: f64,
    },
    /// `[x, y, width, height]` in pixels.
    Pixels([f64; 4]),
}

impl Geometry {
    /// `[x, y, width, height]` in pixels of an image `width`×`height` (EXIF orientation applied).
    pub fn pixels(&self, image_width: u32, image_height: u32) -> [f64; 4] {
        match *self {
            Geometry::Normalised { center_x, center_y, width, height } => {
                let (image_width, image_height) = (f64::from(image_width), f64::from(image_height));
                let (box_width, box_height) = (width * image_width, height * image_height);
                [
                    center_x * image_width - box_width / 2.0,
                    center_y * image_height - box_height / 2.0,
                    box_width,
                    box_height,
                ]
            }
            Geometry::Pixels(bbox) => bbox,
        }
    }
}

/// One labelled box.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledBox {
    /// The category id: the class index for YOLO labels, the category id for COCO.
    pub category: u64,
    /// Where the box is.
    pub geometry: Geometry,
    /// COCO's `iscrowd`.
    pub crowd: bool,
    /// COCO's `area`; `width × height` in pixels when absent.
    pub area: Option<f64>,
    /// COCO's annotation id; YOLO boxes are numbered from 1 in reading order.
    pub id: u64,
    /// The line of a YOLO label file it was read from.
    pub line: Option<usize>,
    /// The outline of a YOLO-seg label: `x1 y1 x2 y2 ...` normalised to the image.
    pub polygon: Option<Vec<f64>>,
}

/// An image with its boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImage {
    /// The image file.
    pub path: PathBuf,
    /// Its id in COCO results.
    pub id: ImageId,
    /// Its labelled objects.
    pub boxes: Vec<LabelledBox>,
}

/// Where the data came from, which decides image and category ids in `--save-json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ultralytics' label files.
    Yolo,
    /// A COCO instances json.
    Coco,
}

/// A detection data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionData {
    /// Where the labels came from.
    pub format: Format,
    /// (category id, name), in id order; `None` for a folder of YOLO labels without names
    /// (the model's labels are used).
    pub categories: Option<Vec<(u64, String)>>,
    /// The labelled images.
    pub images: Vec<LabelledImage>,
}

/// A classification data set: one folder per class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationData {
    /// Class names (the folder names), sorted.
    pub classes: Vec<String>,
    /// (image, class index).
    pub images: Vec<(PathBuf, usize)>,
}

/// A semantic or binary segmentation data set: `images/` with a label map per image in
/// `masks/` (the same relative path, `.png`), whose pixel values are class ids.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentationData {
    /// (image, its label map).
    pub images: Vec<(PathBuf, PathBuf)>,
}

/// A labelled set, by the task it measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Boxes (or polygons) per image.
    Detection(DetectionData),
    /// A folder of images per class.
    Classification(ClassificationData),
    /// A label map per image.
    Segmentation(SegmentationData),
    /// An MVTec AD category folder.
    Anomaly(AnomalySet),
}

/// Reads the data `--data` names; `images` is the image folder of a COCO json (found beside
/// it when not given). Problems with single files are returned beside the data, whose images
/// they concern; problems with the whole set are errors.
pub fn read(data: &Path, images: Option<&Path>) -> Result<(Data, Vec<Problem>)> {
    let extension = data.extension().map(|extension| extension.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        _ if data.is_dir() => read_folder(data),
        Some("yaml" | "yml") => read_data_yaml(data).map(|(data, problems)| (Data::Detection(data), problems)),
        Some("json") => read_coco(data, images).map(|(data, problems)| (Data::Detection(data), problems)),
        _ if !data.exists() => bail!("`{}` does not exist: give a data.yaml, a COCO json or a folder", data.display()),
        _ => bail!(
            "`{}` is not a data set: give an Ultralytics data.yaml, a COCO json, a folder with images/ and labels/, or a folder per class",
            data.display()
        ),
    }
}

fn read_folder(dir: &Path) -> Result<(Data, Vec<Problem>)> {
    for name in ["data.yaml", "data.yml"] {
        if dir.join(name).is_file() {
            return read_data_yaml(&dir.join(name)).map(|(data, problems)| (Data::Detection(data), problems));
        }
    }
    if labelled_data::is_mvtec_layout(dir) {
        return read_mvtec(dir);
    }
    if dir.join("images").is_dir() && dir.join("masks").is_dir() && !dir.join("labels").is_dir() {
        return read_masks(dir);
    }
    if dir.join("images").is_dir() {
        let images = inputs::collect_images(&[dir.join("images")])?;
        let (images, problems) = read_yolo_labels(images, None);
        return Ok((Data::Detection(DetectionData { format: Format::Yolo, categories: None, images }), problems));
    }
    // Ultralytics' classification sets hold train/ and val/ folders of classes.
    let classes_dir = if dir.join("val").is_dir() { dir.join("val") } else { dir.to_path_buf() };
    read_class_folders(&classes_dir).map(|data| (Data::Classification(data), Vec::new()))
}

fn read_class_folders(dir: &Path) -> Result<ClassificationData> {
    let mut classes: Vec<String> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io { action: "could not list", path: dir.to_path_buf(), source })?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    classes.sort();
    if classes.is_empty() {
        bail!(
            "`{}` holds no data set: give a data.yaml, a COCO json, a folder with images/ and labels/, or one folder of images per class",
            dir.display()
        );
    }
    let mut images = Vec::new();
    for (index, class) in classes.iter().enumerate() {
        let found = inputs::collect_images(&[dir.join(class)]).unwrap_or_default();
        images.extend(found.into_iter().map(|path| (path, index)));
    }
    if images.is_empty() {
        bail!("the class folders of `{}` hold no images", dir.display());
    }
    Ok(ClassificationData { classes, images })
}

/// `images/` and `masks/`: each image's label map is the file of the same relative path under
/// `masks/` with the extension `.png`; an image without one is a problem of that image.
fn read_masks(dir: &Path) -> Result<(Data, Vec<Problem>)> {
    let images_dir = dir.join("images");
    let images = inputs::collect_images(std::slice::from_ref(&images_dir))?;
    if images.is_empty() {
        bail!("`{}` holds no images", images_dir.display());
    }
    let mut pairs = Vec::with_capacity(images.len());
    let mut problems = Vec::new();
    for image in images {
        let relative = image.strip_prefix(&images_dir).unwrap_or(&image);
        let mask = dir.join("masks").join(relative).with_extension("png");
        if mask.is_file() {
            pairs.push((image, mask));
        } else {
            problems.push(Problem {
                file: mask,
                line: None,
                message: format!(
                    "`{}` has no label map: save its class ids as a palette or greyscale PNG here",
                    image.display()
                ),
                image: Some(image.clone()),
            });
            pairs.push((image, PathBuf::new()));
        }
    }
    Ok((Data::Segmentation(SegmentationData { images: pairs }), problems))
}

/// An MVTec AD category: a defect image without its mask is a problem of that image (its
/// pixels cannot be counted).
fn read_mvtec(dir: &Path) -> Result<(Data, Vec<Problem>)> {
    let set = labelled_data::read_mvtec(dir)?;
    if set.samples.iter().all(|sample| sample.defect.is_none()) {
        bail!(
            "`{}` has only good test images: AUROC needs anomalous ones too (test/<defect>/ with masks in ground_truth/<defect>/)",
            dir.display()
        );
    }
    let problems = set
        .missing_masks
        .iter()
        .map(|image| Problem {
            file: image.clone(),
            line: None,
            message: "this defect image has no mask: add ground_truth/<defect>/<stem>_mask.png".to_string(),
            image: Some(image.clone()),
        })
        .collect();
    Ok((Data::Anomaly(set), problems))
}

/// Ultralytics' `data.yaml`: `path` (the root, relative to the file), `val` (a folder, a
/// `.txt` list of images or a list of either, relative to the root), `names` (a list, or a map
/// from class index to name).
fn read_data_yaml(path: &Path) -> Result<(DetectionData, Vec<Problem>)> {
    #[derive(Deserialize)]
    struct DataYaml {
        path: Option<PathBuf>,
        val: Option<Split>,
        test: Option<Split>,
        names: Option<Names>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Split {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        List(Vec<String>),
        Map(BTreeMap<u64, String>),
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "could not read",
        path: path.to_path_buf(),
        source,
    })?;
    let yaml: DataYaml = serde_yaml::from_str(&text).map_err(|error| {
        Error::LabelledData(format!("`{}` is not an Ultralytics data.yaml (path, val, names): {error}", path.display()))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let root = match yaml.path {
        Some(root) if root.is_absolute() => root,
        Some(root) => base.join(root),
        None => base.to_path_buf(),
    };
    // `path: .` names the file's folder: no `./` in the paths reported.
    let root: PathBuf = root.components().filter(|part| *part != std::path::Component::CurDir).collect();
    let Some(split) = yaml.val.or(yaml.test) else {
        bail!("`{}` has no `val:` split: name the validation images (a folder, a .txt list or a list)", path.display());
    };
    let names: Vec<(u64, String)> = match yaml.names {
        Some(Names::List(names)) => names.into_iter().enumerate().map(|(index, name)| (index as u64, name)).collect(),
        Some(Names::Map(names)) => names.into_iter().collect(),
        None => bail!("`{}` has no `names:`: list the class names in class-index order", path.display()),
    };
    let entries = match split {
        Split::One(entry) => vec![entry],
        Split::Many(entries) => entries,
    };
    let mut images = Vec::new();
    for entry in entries {
        let entry = if entry.is_absolute() { entry } else { root.join(entry) };
        images.extend(split_images(&entry)?);
    }
    if images.is_empty() {
        bail!("the `val:` split of `{}` holds no images", path.display());
    }
    let classes = names.iter().map(|(id, _)| *id + 1).max().unwrap_or(0);
    let (images, problems) = read_yolo_labels(images, Some(classes));
    Ok((DetectionData { format: Format::Yolo, categories: Some(names), images }, problems))
}

/// The images of one split entry: a folder (searched recursively), a `.txt` list (one path a
/// line, relative to the list's folder) or one image.
fn split_images(entry: &Path) -> Result<Vec<PathBuf>> {
    if entry.is_dir() {
        return inputs::collect_images(&[entry.to_path_buf()]);
    }
    if entry.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("txt")) {
        let text = std::fs::read_to_string(entry).map_err(|source| Error::Io {
            action: "could not read",
            path: entry.to_path_buf(),
            source,
        })?;
        let base = entry.parent().unwrap_or(Path::new("."));
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let listed = Path::new(line.strip_prefix("./").unwrap_or(line));
                if listed.is_absolute() {
                    listed.to_path_buf()
                } else {
                    base.join(listed)
                }
            })
            .collect());
    }
    if entry.is_file() {
        return Ok(vec![entry.to_path_buf()]);
    }
    bail!("the split `{}` does not exist: give a folder of images, a .txt list of images or an image", entry.display())
}

/// The label file of an image: the last `/images/` of its path becomes `/labels/`, the
/// extension `.txt` (Ultralytics' rule).
pub fn label_path(image: &Path) -> PathBuf {
    let text = image.to_string_lossy();
    let separator = std::path::MAIN_SEPARATOR;
    let (images, labels) = (format!("{separator}images{separator}"), format!("{separator}labels{separator}"));
    // A relative path may start with `images/` (`--data data.yaml` in the set's folder).
    let relative = !text.starts_with(separator);
    let text = if relative { format!("{separator}{text}") } else { text.into_owned() };
    let swapped = match text.rfind(&images) {
        Some(at) => format!("{}{labels}{}", &text[..at], &text[at + images.len()..]),
        None => text,
    };
    let swapped = if relative { swapped[separator.len_utf8()..].to_string() } else { swapped };
    PathBuf::from(swapped).with_extension("txt")
}

/// Reads the label file of each image; an image without one has no objects. `classes` bounds
/// the class index when the names are known.
fn read_yolo_labels(images: Vec<PathBuf>, classes: Option<u64>) -> (Vec<LabelledImage>, Vec<Problem>) {
    let mut labelled = Vec::with_capacity(images.len());
    let mut problems = Vec::new();
    let mut next_id = 1;
    for path in images {
        let labels = label_path(&path);
        let boxes = match std::fs::read_to_string(&labels) {
            Ok(text) => {
                let (boxes, found) = parse_yolo_labels(&text, classes, &labels);
                problems.extend(found.into_iter().map(|problem| Problem { image: Some(path.clone()), ..problem }));
                boxes
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                problems.push(Problem {
                    file: labels.clone(),
                    line: None,
                    message: format!("could not read it ({error})"),
                    image: Some(path.clone()),
                });
                Vec::new()
            }
        };
        let boxes = boxes
            .into_iter()
            .map(|(category, geometry, line, polygon)| {
                let labelled = LabelledBox {
                    category,
                    geometry,
                    crowd: false,
                    area: None,
                    id: next_id,
                    line: Some(line),
                    polygon,
                };
                next_id += 1;
                labelled
            })
            .collect();
        labelled.push(LabelledImage { id: ImageId::of_stem(&path), path, boxes });
    }
    (labelled, problems)
}

/// Coordinates may pass 1 by this much (rounding in exported labels), as Ultralytics allows.
const COORDINATE_SLACK: f64 = 0.01;

/// Parses `class cx cy w h` rows (or `class x1 y1 x2 y2 ...` polygons, boxed), normalised to
/// 0-1. Duplicate rows are dropped with a warning, as Ultralytics does.
/// A parsed YOLO label: class, box, 1-based line, and the polygon of a YOLO-seg label.
type YoloLabel = (u64, Geometry, usize, Option<Vec<f64>>);

fn parse_yolo_labels(text: &str, classes: Option<u64>, file: &Path) -> (Vec<YoloLabel>, Vec<Problem>) {
    let mut boxes = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let problem =
            |message: String| Problem { file: file.to_path_buf(), line: Some(index + 1), message, image: None };
        let numbers: Result<Vec<f64>, _> = fields[1..].iter().map(|field| field.parse::<f64>()).collect();
        let (Ok(class), Ok(numbers)) = (fields[0].parse::<u64>(), numbers) else {
            problems.push(problem(format!(
                "malformed label `{}`: expected `class cx cy w h` (a class index, then numbers from 0 to 1)",
                line.trim()
            )));
            continue;
        };
        if numbers.len() != 4 && (numbers.len() < 6 || numbers.len() % 2 != 0) {
            problems.push(problem(format!(
                "malformed label `{}`: expected `class cx cy w h` (5 values) or a polygon `class x1 y1 x2 y2 ...`, got {} values",
                line.trim(),
                fields.len()
            )));
            continue;
        }
        if let Some(classes) = classes.filter(|classes| class >= *classes) {
            problems.push(problem(format!(
                "class {class} is out of range: data.yaml names {classes} classes (0 to {})",
                classes.saturating_sub(1)
            )));
            continue;
        }
        if let Some(value) = numbers.iter().find(|value| !(0.0..=1.0 + COORDINATE_SLACK).contains(*value)) {
            problems.push(problem(format!(
                "coordinate {value} is out of range: labels are normalised to the image, from 0 to 1"
            )));
            continue;
        }
        if !seen.insert(fields.join(" ")) {
            tracing::warn!("{}:{}: duplicate label removed", file.display(), index + 1);
            continue;
        }
        let (geometry, polygon) = if numbers.len() == 4 {
            let geometry = Geometry::Normalised {
                center_x: numbers[0],
                center_y: numbers[1],
                width: numbers[2],
                height: numbers[3],
            };
            (geometry, None)
        } else {
            let xs = numbers.iter().step_by(2);
            let ys = numbers.iter().skip(1).step_by(2);
            let (x1, x2) = xs.fold((f64::MAX, f64::MIN), |(low, high), &x| (low.min(x), high.max(x)));
            let (y1, y2) = ys.fold((f64::MAX, f64::MIN), |(low, high), &y| (low.min(y), high.max(y)));
            let geometry = Geometry::Normalised {
                center_x: (x1 + x2) / 2.0,
                center_y: (y1 + y2) / 2.0,
                width: x2 - x1,
                height: y2 - y1,
            };
            (geometry, Some(numbers))
        };
        boxes.push((class, geometry, index + 1, polygon));
    }
    (boxes, problems)
}

/// A COCO instances json (`images`, `annotations`, `categories`); its images in `images`, or
/// found beside it: its folder, `images/` there or beside it, or `../<split>` of an
/// `instances_<split>.json`.
fn read_coco(path: &Path, images: Option<&Path>) -> Result<(DetectionData, Vec<Problem>)> {
    #[derive(Deserialize)]
    struct CocoFile<'a> {
        images: Vec<CocoImage>,
        // Raw: each one's place in the text gives its line.
        #[serde(default, borrow)]
        annotations: Vec<&'a serde_json::value::RawValue>,
        categories: Vec<CocoCategory>,
    }
    #[derive(Deserialize)]
    struct CocoImage {
        id: i64,
        file_name: String,
    }
    #[derive(Deserialize)]
    struct CocoCategory {
        id: u64,
        name: String,
    }
    #[derive(Deserialize)]
    struct CocoAnnotation {
        id: u64,
        image_id: i64,
        category_id: u64,
        bbox: Vec<f64>,
        area: Option<f64>,
        #[serde(default)]
        iscrowd: u8,
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "could not read",
        path: path.to_path_buf(),
        source,
    })?;
    let coco: CocoFile = serde_json::from_str(&text).map_err(|error| {
        Error::LabelledData(format!(
            "`{}` is not a COCO instances file (images, annotations, categories): {error}",
            path.display()
        ))
    })?;
    let folder = match images {
        Some(folder) => folder.to_path_buf(),
        None => coco_image_folder(path, coco.images.first().map(|image| image.file_name.as_str()))?,
    };
    let mut categories: Vec<(u64, String)> =
        coco.categories.into_iter().map(|category| (category.id, category.name)).collect();
    categories.sort_by_key(|(id, _)| *id);
    let known: HashSet<u64> = categories.iter().map(|(id, _)| *id).collect();
    let mut problems = Vec::new();
    let mut labelled: Vec<LabelledImage> = Vec::with_capacity(coco.images.len());
    let mut index_of = std::collections::HashMap::new();
    for image in coco.images {
        if index_of.insert(image.id, labelled.len()).is_some() {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: None,
                message: format!("image id {} is given twice: ids must be unique", image.id),
                image: None,
            });
            continue;
        }
        labelled.push(LabelledImage {
            path: folder.join(&image.file_name),
            id: ImageId::Number(image.id),
            boxes: Vec::new(),
        });
    }
    let line_of = |raw: &serde_json::value::RawValue| {
        let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize).min(text.len());
        text.as_bytes()[..offset].iter().filter(|byte| **byte == b'\n').count() + 1
    };
    for (index, raw) in coco.annotations.into_iter().enumerate() {
        let line = line_of(raw);
        let problem = |message: String, image: Option<&LabelledImage>| Problem {
            file: path.to_path_buf(),
            line: Some(line),
            message: format!("annotations[{index}]: {message}"),
            image: image.map(|image| image.path.clone()),
        };
        let annotation: CocoAnnotation = match serde_json::from_str(raw.get()) {
            Ok(annotation) => annotation,
            Err(error) => {
                problems.push(problem(
                    format!("malformed annotation ({error}): expected id, image_id, category_id, bbox [x, y, w, h]"),
                    None,
                ));
                continue;
            }
        };
        let Some(&image) = index_of.get(&annotation.image_id) else {
            problems.push(problem(format!("image_id {} is not among the images", annotation.image_id), None));
            continue;
        };
        if !known.contains(&annotation.category_id) {
            problems.push(problem(
                format!("category_id {} is not among the categories", annotation.category_id),
                Some(&labelled[image]),
            ));
            continue;
        }
        let bbox: [f64; 4] = match annotation.bbox[..] {
            [x, y, width, height] if width >= 0.0 && height >= 0.0 && x.is_finite() && y.is_finite() => {
                [x, y, width, height]
            }
            _ => {
                problems.push(problem(
                    format!(
                        "bbox {:?} is not [x, y, width, height] with a width and height of 0 or more",
                        annotation.bbox
                    ),
                    Some(&labelled[image]),
                ));
                continue;
            }
        };
        labelled[image].boxes.push(LabelledBox {
            category: annotation.category_id,
            geometry: Geometry::Pixels(bbox),
            crowd: annotation.iscrowd != 0,
            area: annotation.area,
            id: annotation.id,
            line: None,
            polygon: None,
        });
    }
    for image in &labelled {
        if !image.path.is_file() {
            problems.push(Problem {
                file: image.path.clone(),
                line: None,
                message: "the image is missing".to_string(),
                image: Some(image.path.clone()),
            });
        }
    }
    Ok((DetectionData { format: Format::Coco, categories: Some(categories), images: labelled }, problems))
}

fn coco_image_folder(json: &Path, first: Option<&str>) -> Result<PathBuf> {
    let base = json.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![base.to_path_buf(), base.join("images")];
    if let Some(parent) = base.parent() {
        candidates.push(parent.join("images"));
        let stem = json.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(split) = stem.strip_prefix("instances_") {
            candidates.push(parent.join(split));
        }
    }
    let Some(first) = first else { return Ok(base.to_path_buf()) };
    candidates.into_iter().find(|folder| folder.join(first).is_file()).ok_or_else(|| {
        Error::LabelledData(format!("could not find the images of `{}` (looked for `{first}` beside it and in images/): name their folder with --images", json.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn messages(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn labels_are_found_where_the_last_images_folder_becomes_labels() {
        assert_eq!(
            label_path(Path::new("/d/images/x/images/val/a.b.jpg")),
            Path::new("/d/images/x/labels/val/a.b.txt")
        );
        assert_eq!(label_path(Path::new("/d/pics/a.png")), Path::new("/d/pics/a.txt"));
        assert_eq!(label_path(Path::new("images/val/a.png")), Path::new("labels/val/a.txt"));
        assert_eq!(label_path(Path::new("pics/a.png")), Path::new("pics/a.txt"));
    }

    #[test]
    fn each_bad_label_is_reported_with_its_file_and_line() {
        let file = Path::new("labels/val/a.txt");
        let text = "0 0.5 0.5 0.2 0.2\n\n1 0.5 0.5\nx 0.1 0.1 0.1 0.1\n7 0.5 0.5 0.1 0.1\n0 1.2 0.5 0.1 0.1\n0 0.5 0.5 -0.1 0.1\n0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.3 0.1 0.2 0.4\n";
        let (boxes, problems) = parse_yolo_labels(text, Some(3), file);
        assert_eq!(
            messages(&problems),
            [
                "labels/val/a.txt:3: malformed label `1 0.5 0.5`: expected `class cx cy w h` (5 values) or a polygon `class x1 y1 x2 y2 ...`, got 3 values",
                "labels/val/a.txt:4: malformed label `x 0.1 0.1 0.1 0.1`: expected `class cx cy w h` (a class index, then numbers from 0 to 1)",
                "labels/val/a.txt:5: class 7 is out of range: data.yaml names 3 classes (0 to 2)",
                "labels/val/a.txt:6: coordinate 1.2 is out of range: labels are normalised to the image, from 0 to 1",
                "labels/val/a.txt:7: coordinate -0.1 is out of range: labels are normalised to the image, from 0 to 1",
            ]
        );
        // Line 8 repeats line 1 (dropped); line 9 is a polygon, boxed.
        assert_eq!(boxes.len(), 2);
        let Geometry::Normalised { center_x, width, height, .. } = boxes[1].1 else { panic!() };
        assert!((center_x - 0.2).abs() < 1e-12 && (width - 0.2).abs() < 1e-12 && (height - 0.3).abs() < 1e-12);
        assert_eq!((boxes[0].3.as_deref(), boxes[1].3.as_deref()), (None, Some(&[0.1, 0.1, 0.3, 0.1, 0.2, 0.4][..])));
        assert_eq!(
            Geometry::Normalised { center_x: 0.5, center_y: 0.25, width: 0.5, height: 0.5 }.pixels(200, 100),
            [50.0, 0.0, 100.0, 50.0]
        );
    }

    #[test]
    fn a_data_yaml_reads_names_as_a_map_and_splits_as_lists_of_folders_and_text_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        write(&root.join("images/a/12.png"), "");
        write(&root.join("labels/a/12.txt"), "1 0.5 0.5 0.2 0.2\n");
        write(&root.join("images/b/cat.png"), "");
        write(&root.join("b.txt"), "./images/b/cat.png\n");
        write(&dir.path().join("data.yaml"), "path: set\nval: [images/a, b.txt]\nnames: {0: person, 1: car}\n");
        let (data, problems) = read(&dir.path().join("data.yaml"), None).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let Data::Detection(data) = data else { panic!("a detection set") };
        assert_eq!(data.categories, Some(vec![(0, "person".to_string()), (1, "car".to_string())]));
        assert_eq!(
            data.images.iter().map(|image| image.id.clone()).collect::<Vec<_>>(),
            [ImageId::Number(12), ImageId::Name("cat".into())]
        );
        assert_eq!((data.images[0].boxes.len(), data.images[1].boxes.len()), (1, 0));
    }

    #[test]
    fn coco_problems_name_the_annotation_and_a_folder_per_class_is_a_classification_set() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("images/1.png"), "");
        let json = r#"{"images": [{"id": 1, "file_name": "1.png"}, {"id": 2, "file_name": "2.png"}],
            "categories": [{"id": 3, "name": "dog"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]},
                            {"id": 2, "image_id": 9, "category_id": 3, "bbox": [1, 2, 3, 4]},
                            {"id": 3, "image_id": 1, "category_id": 4, "bbox": [1, 2, 3, 4]},
                            {"id": 4, "image_id": 1, "category_id": 3, "bbox": [1, 2, -3, 4]}]}"#;
        write(&dir.path().join("instances.json"), json);
        let (_, problems) = read(&dir.path().join("instances.json"), None).unwrap();
        let file = dir.path().join("instances.json").display().to_string();
        assert_eq!(
            messages(&problems),
            [
                format!("{file}:4: annotations[1]: image_id 9 is not among the images"),
                format!("{file}:5: annotations[2]: category_id 4 is not among the categories"),
                format!("{file}:6: annotations[3]: bbox [1.0, 2.0, -3.0, 4.0] is not [x, y, width, height] with a width and height of 0 or more"),
                format!("{}: the image is missing", dir.path().join("images/2.png").display()),
            ]
        );
        let classes = tempfile::tempdir().unwrap();
        write(&classes.path().join("val/dog/a.png"), "");
        write(&classes.path().join("val/cat/b.jpg"), "");
        let (Data::Classification(data), _) = read(classes.path(), None).unwrap() else {
            panic!("a classification set")
        };
        assert_eq!(data.classes, ["cat", "dog"]);
        assert_eq!(data.images.iter().map(|(_, class)| *class).collect::<Vec<_>>(), [0, 1]);
    }
}

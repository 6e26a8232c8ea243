//! `inferx runtime install`: fetches the official ONNX Runtime shared library from its PyPI
//! wheel (`onnxruntime`, `onnxruntime-gpu`, `onnxruntime-openvino`), or ONNX Runtime's WebGPU
//! plugin (`onnxruntime-ep-webgpu`), checks the sha256 the index publishes, and extracts only
//! the shared libraries.
//!
//! The index is `PIP_INDEX_URL` when set (mirrors), else PyPI; JSON (PEP 691) is asked for and
//! HTML (PEP 503) accepted.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{library, Error, Result};

/// The default package index.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// Which ONNX Runtime build to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// CPU only (`onnxruntime`).
    #[default]
    Cpu,
    /// CUDA and TensorRT (`onnxruntime-gpu`).
    Gpu,
    /// Intel OpenVINO (`onnxruntime-openvino`).
    OpenVino,
    /// Not a build but ONNX Runtime's WebGPU plugin (`onnxruntime-ep-webgpu`), which any build
    /// from 1.24.4 registers; its versions are the plugin's ([`WEBGPU_PLUGIN_VERSION`]).
    #[serde(rename = "webgpu")]
    WebGpu,
}

/// The WebGPU plugin version installed by default.
pub const WEBGPU_PLUGIN_VERSION: &str = "0.4.0";

impl Flavor {
    /// The PyPI distribution name.
    pub fn package(self) -> &'static str {
        match self {
            Flavor::Cpu => "onnxruntime",
            Flavor::Gpu => "onnxruntime-gpu",
            Flavor::OpenVino => "onnxruntime-openvino",
            Flavor::WebGpu => "onnxruntime-ep-webgpu",
        }
    }

    /// The short name used in cache folder names.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Cpu => "cpu",
            Flavor::Gpu => "gpu",
            Flavor::OpenVino => "openvino",
            Flavor::WebGpu => "webgpu",
        }
    }

    /// The version installed when none is asked for.
    pub fn default_version(self) -> &'static str {
        match self {
            Flavor::WebGpu => WEBGPU_PLUGIN_VERSION,
            _ => crate::ORT_VERSION,
        }
    }

    /// The folder of the wheel that holds the libraries.
    fn wheel_folder(self) -> &'static str {
        match self {
            Flavor::WebGpu => "onnxruntime_ep_webgpu/",
            _ => "onnxruntime/capi/",
        }
    }

    /// The library the install is for, in its folder.
    fn find_library(self, dir: &Path) -> Option<PathBuf> {
        match self {
            Flavor::WebGpu => Some(dir.join(library::webgpu_plugin_file_name())).filter(|path| path.is_file()),
            _ => library::find_in_dir(dir),
        }
    }

    /// Whether an extracted file is the library the install is for.
    fn is_main_library(self, name: &str) -> bool {
        match self {
            Flavor::WebGpu => name == library::webgpu_plugin_file_name(),
            _ => library::is_runtime_library_name(name),
        }
    }
}

/// What to install, and where.
#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    /// Version (defaults to [`Flavor::default_version`]: [`crate::ORT_VERSION`], or the WebGPU
    /// plugin's [`WEBGPU_PLUGIN_VERSION`]).
    pub version: Option<String>,
    /// Build flavor.
    pub flavor: Flavor,
    /// Destination folder (defaults to the user cache).
    pub dest: Option<PathBuf>,
    /// Install from a wheel already on disk (offline).
    pub from_wheel: Option<PathBuf>,
    /// Reinstall even when present.
    pub force: bool,
}

/// What was installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// Version installed.
    pub version: String,
    /// Flavor installed.
    pub flavor: Flavor,
    /// Wheel file name.
    pub wheel: String,
    /// The wheel's sha256.
    pub sha256: String,
    /// Shared libraries extracted.
    pub files: Vec<String>,
}

/// The result of an install.
#[derive(Debug, Clone)]
pub struct InstallOutcome {
    /// Folder holding the libraries.
    pub dir: PathBuf,
    /// The main library file.
    pub library: PathBuf,
    /// What the folder holds.
    pub record: InstallRecord,
    /// True when it was already installed and nothing was done.
    pub already_installed: bool,
}

/// Download progress events, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A download starts; `total` bytes when known.
    Start {
        /// Wheel file name.
        file: String,
        /// Size, if the server says.
        total: Option<u64>,
    },
    /// Bytes received so far.
    Advance(u64),
    /// Download done.
    Finish,
}

const RECORD_FILE: &str = ".inferx-install.json";

/// Installs ONNX Runtime; a no-op when the same version and flavor are already in place.
///
/// By default the CPU build of [`ORT_VERSION`](crate::ORT_VERSION) goes to the user cache
/// ([`library::cache_install_dir`]), where [`library::locate`] finds it.
///
/// ```no_run
/// use inferx_runtime::install::{install, Flavor, InstallRequest, Progress};
///
/// # fn main() -> inferx_runtime::Result<()> {
/// let request = InstallRequest { flavor: Flavor::Gpu, ..Default::default() };
/// let outcome = install(&request, &mut |event| {
///     if let Progress::Start { file, total } = event {
///         eprintln!("downloading {file} ({} bytes)", total.unwrap_or(0));
///     }
/// })?;
/// if !outcome.already_installed {
///     println!("ONNX Runtime {} installed: {}", outcome.record.version, outcome.library.display());
/// }
/// # Ok(())
/// # }
/// ```
pub fn install(request: &InstallRequest, progress: &mut dyn FnMut(Progress)) -> Result<InstallOutcome> {
    let version = request.version.clone().unwrap_or_else(|| request.flavor.default_version().to_string());
    let dir = request.dest.clone().unwrap_or_else(|| match request.flavor {
        Flavor::WebGpu => library::webgpu_plugin_install_dir(&version),
        flavor => library::cache_install_dir(&version, flavor.name()),
    });
    if !request.force {
        if let Some(outcome) = existing(&dir, &version, request.flavor) {
            return Ok(outcome);
        }
    }
    let (wheel_path, wheel_name, sha256) = match &request.from_wheel {
        Some(path) => {
            let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            if !name.ends_with(".whl") {
                return Err(Error::Install(format!("`{}` is not a wheel (.whl) file", path.display())));
            }
            let sha256 = crate::model::file::file_sha256(path)?;
            (path.clone(), name, sha256)
        }
        None => download_wheel(request.flavor, &version, progress)?,
    };
    let files = extract_libraries(&wheel_path, &dir, request.flavor)?;
    let record = InstallRecord { version, flavor: request.flavor, wheel: wheel_name, sha256, files };
    let record_text = serde_json::to_string_pretty(&record)?;
    fs::write(dir.join(RECORD_FILE), record_text)
        .map_err(|error| Error::io("could not write", dir.join(RECORD_FILE), error))?;
    let library = request
        .flavor
        .find_library(&dir)
        .ok_or_else(|| Error::Install(format!("the wheel `{}` holds no ONNX Runtime library", record.wheel)))?;
    Ok(InstallOutcome { dir, library, record, already_installed: false })
}

fn existing(dir: &Path, version: &str, flavor: Flavor) -> Option<InstallOutcome> {
    let text = fs::read_to_string(dir.join(RECORD_FILE)).ok()?;
    let record: InstallRecord = serde_json::from_str(&text).ok()?;
    let all_present = record.files.iter().all(|file| dir.join(file).is_file());
    if record.version != version || record.flavor != flavor || !all_present {
        return None;
    }
    let library = flavor.find_library(dir)?;
    Some(InstallOutcome { dir: dir.to_path_buf(), library, record, already_installed: true })
}

/// A wheel listed by the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// File name.
    pub filename: String,
    /// Absolute download URL.
    pub url: String,
    /// Published sha256, when the index gives one.
    pub sha256: Option<String>,
}

/// The package index base URL in use.
pub fn index_url() -> String {
    std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_INDEX.to_string())
        .trim_end_matches('/')
        .to_string()
}

fn agent() -> ureq::Agent {
    // The system's trust store: corporate mirrors and proxies often use their own CA.
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(std::time::Duration::from_secs(30)))
        .timeout_recv_body(Some(std::time::Duration::from_secs(600)))
        .build()
        .into()
}

/// Lists a package's files from the index.
pub fn list_files(package: &str) -> Result<Vec<IndexFile>> {
    let page = format!("{}/{package}/", index_url());
    let mut response = agent()
        .get(&page)
        .header("Accept", "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
        .call()
        .map_err(|error| Error::Install(format!("could not reach the package index at {page}: {error}. Behind a mirror? Set PIP_INDEX_URL; offline? use --from-wheel")))?;
    let content_type =
        response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|error| Error::Install(format!("reading {page}: {error}")))?;
    let files =
        if content_type.contains("json") { parse_json_index(&body, &page)? } else { parse_html_index(&body, &page) };
    Ok(files)
}

/// Parses a PEP 691 JSON project page.
pub fn parse_json_index(body: &str, page: &str) -> Result<Vec<IndexFile>> {
    #[derive(Deserialize)]
    struct Page {
        files: Vec<File>,
    }
    #[derive(Deserialize)]
    struct File {
        filename: String,
        url: String,
        #[serde(default)]
        hashes: std::collections::BTreeMap<String, String>,
    }
    let parsed: Page = serde_json::from_str(body)
        .map_err(|error| Error::Install(format!("the index page {page} is not PEP 691 JSON: {error}")))?;
    Ok(parsed
        .files
        .into_iter()
        .map(|file| IndexFile {
            url: resolve_url(page, &file.url),
            sha256: file.hashes.get("sha256").cloned(),
            filename: file.filename,
        })
        .collect())
}

/// Parses a PEP 503 HTML project page (`<a href="url#sha256=...">name</a>`).
pub fn parse_html_index(body: &str, page: &str) -> Vec<IndexFile> {
    body.split("<a ")
        .skip(1)
        .filter_map(|anchor| {
            let href_start = anchor.find("href=\"")? + 6;
            let href = &anchor[href_start..href_start + anchor[href_start..].find('"')?];
            let name_start = anchor.find('>')? + 1;
            let filename = anchor[name_start..name_start + anchor[name_start..].find('<')?].trim().to_string();
            let (url, fragment) = href.split_once('#').unwrap_or((href, ""));
            let sha256 = fragment.strip_prefix("sha256=").map(str::to_string);
            Some(IndexFile { filename, url: resolve_url(page, &url.replace("&amp;", "&")), sha256 })
        })
        .collect()
}

fn resolve_url(page: &str, url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    if url.starts_with("http://") || url.starts_with("https://") {
        return url.to_string();
    }
    let scheme_end = page.find("://").map_or(0, |index| index + 3);
    if let Some(path) = url.strip_prefix('/') {
        let origin_end = page[scheme_end..].find('/').map_or(page.len(), |index| scheme_end + index);
        return format!("{}/{path}", &page[..origin_end]);
    }
    let base = &page[..page.rfind('/').map_or(page.len(), |index| index + 1)];
    format!("{base}{url}")
}

/// Whether a wheel's platform tag fits this machine.
pub fn wheel_fits_platform(filename: &str, os: &str, arch: &str) -> bool {
    let Some(platform) = filename.strip_suffix(".whl").and_then(|stem| stem.rsplit('-').next()) else { return false };
    match (os, arch) {
        ("linux", "x86_64") => platform.contains("linux") && platform.contains("x86_64"),
        ("linux", "aarch64") => platform.contains("linux") && platform.contains("aarch64"),
        ("macos", "aarch64") => {
            platform.starts_with("macosx") && (platform.contains("arm64") || platform.contains("universal2"))
        }
        ("macos", "x86_64") => {
            platform.starts_with("macosx") && (platform.contains("x86_64") || platform.contains("universal2"))
        }
        ("windows", "x86_64") => platform == "win_amd64",
        ("windows", "aarch64") => platform == "win_arm64",
        _ => false,
    }
}

/// Picks the wheel of `version` for this machine from an index listing.
pub fn choose_wheel(files: &[IndexFile], package: &str, version: &str, os: &str, arch: &str) -> Result<IndexFile> {
    let prefix = format!("{}-{version}-", package.replace('-', "_"));
    let mut fitting: Vec<&IndexFile> = files
        .iter()
        .filter(|file| file.filename.starts_with(&prefix) && wheel_fits_platform(&file.filename, os, arch))
        .collect();
    // Any CPython tag carries the same shared library; pick deterministically.
    fitting.sort_by(|a, b| a.filename.cmp(&b.filename));
    fitting.last().map(|file| (*file).clone()).ok_or_else(|| {
        let versions: std::collections::BTreeSet<&str> =
            files.iter().filter_map(|file| file.filename.split('-').nth(1)).collect();
        Error::Install(format!(
            "no `{package}` {version} wheel for {os}/{arch} on the index. Versions listed: {}",
            versions.into_iter().rev().take(8).collect::<Vec<_>>().join(", ")
        ))
    })
}

fn download_wheel(
    flavor: Flavor,
    version: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, String, String)> {
    let files = list_files(flavor.package())?;
    let wheel = choose_wheel(&files, flavor.package(), version, std::env::consts::OS, std::env::consts::ARCH)?;
    let expected = wheel.sha256.clone().ok_or_else(|| {
        Error::Install(format!(
            "the index publishes no sha256 for `{}`; refusing an unverified download",
            wheel.filename
        ))
    })?;
    let wheels = library::cache_dir().join("wheels");
    fs::create_dir_all(&wheels).map_err(|error| Error::io("could not create", &wheels, error))?;
    let target = wheels.join(&wheel.filename);
    if target.is_file() && crate::model::file::file_sha256(&target)? == expected {
        return Ok((target, wheel.filename, expected));
    }
    let mut response = agent()
        .get(&wheel.url)
        .call()
        .map_err(|error| Error::Install(format!("downloading {}: {error}", wheel.url)))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    progress(Progress::Start { file: wheel.filename.clone(), total });
    let mut partial = tempfile::NamedTempFile::new_in(&wheels)
        .map_err(|error| Error::io("could not create a file in", &wheels, error))?;
    let mut reader = response.body_mut().with_config().limit(4 << 30).reader();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let read =
            reader.read(&mut buffer).map_err(|error| Error::Install(format!("downloading {}: {error}", wheel.url)))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        partial.write_all(&buffer[..read]).map_err(|error| Error::io("could not write", partial.path(), error))?;
        received += read as u64;
        progress(Progress::Advance(received));
    }
    progress(Progress::Finish);
    let actual = format!("{:x}", hasher.finalize());
    if actual != expected {
        return Err(Error::Install(format!(
            "sha256 mismatch for {}: expected {expected}, got {actual}. The download was discarded; try again",
            wheel.filename
        )));
    }
    partial.persist(&target).map_err(|error| Error::io("could not save", &target, error.error))?;
    Ok((target, wheel.filename, expected))
}

fn is_shared_library(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.") || name.ends_with(".dll") || name.ends_with(".dylib")
}

/// Extracts the shared libraries of the wheel's library folder (`onnxruntime/capi/`, or the
/// plugin's) into `dir`, atomically: into a temporary sibling folder first, then renamed into
/// place.
fn extract_libraries(wheel: &Path, dir: &Path, flavor: Flavor) -> Result<Vec<String>> {
    let file = fs::File::open(wheel).map_err(|error| Error::io("could not open", wheel, error))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|error| Error::Install(format!("`{}` is not a valid wheel: {error}", wheel.display())))?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|error| Error::io("could not create", parent, error))?;
    let staging =
        tempfile::tempdir_in(parent).map_err(|error| Error::io("could not create a folder in", parent, error))?;
    let mut extracted = Vec::new();
    for index in 0..archive.len() {
        let mut entry =
            archive.by_index(index).map_err(|error| Error::Install(format!("reading the wheel: {error}")))?;
        let name = entry.name().map_err(|error| Error::Install(format!("reading the wheel: {error}")))?.to_string();
        let Some(file_name) = name.strip_prefix(flavor.wheel_folder()) else { continue };
        if file_name.contains('/') || !is_shared_library(file_name) || file_name.starts_with("onnxruntime_pybind11") {
            continue;
        }
        let target = staging.path().join(file_name);
        let mut output = fs::File::create(&target).map_err(|error| Error::io("could not create", &target, error))?;
        std::io::copy(&mut entry, &mut output).map_err(|error| Error::io("could not write", &target, error))?;
        extracted.push(file_name.to_string());
    }
    if !extracted.iter().any(|name| flavor.is_main_library(name)) {
        return Err(Error::Install(format!(
            "`{}` holds no {} under {}",
            wheel.display(),
            match flavor {
                Flavor::WebGpu => library::webgpu_plugin_file_name(),
                _ => "ONNX Runtime library",
            },
            flavor.wheel_folder()
        )));
    }
    extracted.sort();
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|error| Error::io("could not replace", dir, error))?;
    }
    let staged = staging.keep();
    fs::rename(&staged, dir).map_err(|error| Error::io("could not move the libraries into", dir, error))?;
    Ok(extracted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_are_matched_to_the_platform() {
        let name = "onnxruntime-1.31.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
        assert!(wheel_fits_platform(name, "linux", "x86_64"));
        assert!(!wheel_fits_platform(name, "linux", "aarch64"));
        assert!(wheel_fits_platform("onnxruntime-1.31.1-cp312-cp312-macosx_13_0_universal2.whl", "macos", "aarch64"));
        assert!(wheel_fits_platform("onnxruntime-1.31.1-cp312-cp312-win_amd64.whl", "windows", "x86_64"));
    }

    #[test]
    fn the_right_version_is_chosen_and_a_missing_one_named() {
        let file = |name: &str| IndexFile {
            filename: name.into(),
            url: format!("https://x/{name}"),
            sha256: Some("00".into()),
        };
        let files = [
            file("onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl"),
            file("onnxruntime_gpu-1.30.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
        ];
        let chosen = choose_wheel(&files, "onnxruntime-gpu", "1.31.1", "linux", "x86_64").unwrap();
        assert!(chosen.filename.contains("1.31.1"));
        let error = choose_wheel(&files, "onnxruntime-gpu", "1.99.0", "linux", "x86_64").unwrap_err();
        assert!(error.to_string().contains("1.31.1, 1.30.0"), "{error}");
    }

    #[test]
    fn index_pages_in_json_and_html_are_read_with_hashes() {
        let json = r#"{"meta": {"api-version": "1.1"}, "files": [{"filename": "a-1.0-py3-none-any.whl", "url": "../../packages/a.whl", "hashes": {"sha256": "ab"}}]}"#;
        let files = parse_json_index(json, "https://mirror.example/simple/a/").unwrap();
        assert_eq!(files[0].url, "https://mirror.example/simple/a/../../packages/a.whl");
        assert_eq!(files[0].sha256.as_deref(), Some("ab"));
        let html = r#"<html><body><a href="/packages/a-1.0-py3-none-any.whl#sha256=cd" data-requires-python="">a-1.0-py3-none-any.whl</a></body></html>"#;
        let files = parse_html_index(html, "https://mirror.example/simple/a/");
        assert_eq!(files[0].url, "https://mirror.example/packages/a-1.0-py3-none-any.whl");
        assert_eq!(files[0].sha256.as_deref(), Some("cd"));
    }

    /// A wheel holding `files` (name, bytes).
    fn wheel(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        for (file, bytes) in files {
            zip.start_file(*file, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    #[test]
    fn the_webgpu_plugin_installs_from_its_wheel_by_its_own_version_and_is_found_there() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = library::webgpu_plugin_file_name();
        let good = wheel(
            dir.path(),
            "onnxruntime_ep_webgpu-0.4.0-py3-none-manylinux_2_28_x86_64.whl",
            &[(&format!("onnxruntime_ep_webgpu/{plugin}"), b"plugin"), ("onnxruntime_ep_webgpu/__init__.py", b"")],
        );
        let dest = dir.path().join("plugin");
        let request = InstallRequest {
            flavor: Flavor::WebGpu,
            dest: Some(dest.clone()),
            from_wheel: Some(good),
            ..Default::default()
        };
        let outcome = install(&request, &mut |_| {}).unwrap();
        assert_eq!(outcome.library, dest.join(plugin));
        assert_eq!(outcome.record.version, WEBGPU_PLUGIN_VERSION, "the plugin's version, not ONNX Runtime's");
        assert_eq!(outcome.record.files, [plugin], "only the library");
        assert_eq!(
            outcome.record.sha256,
            crate::model::file::file_sha256(request.from_wheel.as_ref().unwrap()).unwrap()
        );
        assert!(install(&request, &mut |_| {}).unwrap().already_installed);
        assert_eq!(Flavor::WebGpu.package(), "onnxruntime-ep-webgpu");

        // A wheel without the plugin (ONNX Runtime's own) is refused, naming what is missing.
        let other = wheel(
            dir.path(),
            "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
            &[("onnxruntime/capi/libonnxruntime.so", b"ort")],
        );
        let request = InstallRequest {
            flavor: Flavor::WebGpu,
            dest: Some(dir.path().join("other")),
            from_wheel: Some(other),
            ..Default::default()
        };
        let error = install(&request, &mut |_| {}).unwrap_err().to_string();
        assert!(error.contains(plugin) && error.contains("onnxruntime_ep_webgpu/"), "{error}");
    }
}

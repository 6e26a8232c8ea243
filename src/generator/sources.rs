//! Where templates and the vendored runtime come from: embedded at build time.

use include_dir::{include_dir, Dir};

/// The `templates/` folder, embedded at build time.
pub static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The runtime crate's source, embedded at build time and vendored into every project.
pub static RUNTIME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runtime");

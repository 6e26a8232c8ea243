//! Charts as SVG (and PNG rendered from it): `inferx benchmark --plot` and `inferx val --plots`.
//!
//! Hand-written SVG with a fixed layout: every text fits its canvas at 12 px (about 7 px a
//! character in DejaVu Sans), so a chart reads without cropping in a browser or as a PNG.

use std::path::Path;

use anyhow::Context;

/// The font stack every chart uses.
const FONTS: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
/// About how wide one character is at 12 px.
pub(crate) const CHARACTER_WIDTH: f64 = 7.0;

/// A round axis step near `rough`: 1, 2 or 5 times a power of ten.
pub(crate) fn round_step(rough: f64) -> f64 {
    if rough <= 0.0 || !rough.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(rough.log10().floor());
    let fraction = rough / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Text made safe for SVG.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `text` cut to `room` characters, with an ellipsis when cut.
pub(crate) fn fit(text: &str, room: usize) -> String {
    if text.chars().count() > room {
        format!("{}…", text.chars().take(room.saturating_sub(1)).collect::<String>())
    } else {
        text.to_string()
    }
}

/// The opening of a chart of `width`×`height` px on white, with its title and a grey subtitle.
pub(crate) fn open(width: f64, height: f64, title: &str, subtitle: &str) -> String {
    let room = ((width - 32.0) / CHARACTER_WIDTH) as usize;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"{FONTS}\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<text x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"bold\">{}</text>\n<text x=\"16\" y=\"46\" fill=\"#444\">{}</text>\n",
        escape(&fit(title, room * 3 / 4)),
        escape(&fit(subtitle, room)),
    )
}

/// Ten distinct colours (Tableau 10), reused in turn.
pub(crate) const PALETTE: [&str; 10] =
    ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"];

/// Writes `svg` to `path` with `.svg` and a PNG rendering beside it with `.png`.
pub(crate) fn write_svg_and_png(svg: &str, path: &Path) -> anyhow::Result<()> {
    let svg_path = path.with_extension("svg");
    std::fs::write(&svg_path, svg).with_context(|| format!("could not write `{}`", svg_path.display()))?;
    let png_path = path.with_extension("png");
    let png = render_png(svg).with_context(|| format!("could not render `{}`", png_path.display()))?;
    std::fs::write(&png_path, png).with_context(|| format!("could not write `{}`", png_path.display()))
}

/// The chart drawn at its size as a PNG, its text in the system's fonts.
fn render_png(svg: &str) -> anyhow::Result<Vec<u8>> {
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    if options.fontdb.is_empty() {
        tracing::warn!("no fonts found on this system: the PNG charts have no text (the SVGs have it all)");
    }
    let tree = resvg::usvg::Tree::from_str(svg, &options)
        .context("the chart is not valid SVG; this is a bug in inferx, please report it")?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).context("the chart has no size")?;
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().context("could not encode the PNG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(round_step(3.2), 5.0);
        assert_eq!(round_step(12.0), 20.0);
        assert_eq!(round_step(0.07), 0.1);
        assert_eq!(round_step(0.0), 1.0);
    }
}

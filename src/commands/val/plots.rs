//! `inferx val --plots DIR`: precision-recall curves per class (detectors) and the confusion
//! matrix, each as SVG and PNG, sized to their labels so nothing is cropped.

use std::path::Path;

use anyhow::Context;

use crate::chart::{self, escape, fit, CHARACTER_WIDTH, PALETTE};
use inferx_runtime::evaluation::report::{ClassificationReport, DetectionReport};

/// Labels longer than this are cut (with an ellipsis) in legends and axes.
const LONGEST_LABEL: usize = 32;

/// `pr_curves` and `confusion_matrix` (`.svg` and `.png`) in `dir`.
pub(crate) fn write_detection(dir: &Path, report: &DetectionReport, confusion: &Confusion) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
    chart::write_svg_and_png(&precision_recall_svg(report), &dir.join("pr_curves"))?;
    chart::write_svg_and_png(&confusion_svg(confusion), &dir.join("confusion_matrix"))
}

/// `confusion_matrix` (`.svg` and `.png`) in `dir`.
pub(crate) fn write_classification(dir: &Path, report: &ClassificationReport) -> anyhow::Result<()> {
    let confusion = Confusion {
        title: format!("Confusion matrix · top-1 {:.3}", report.metrics.top1),
        labels: report.per_class.iter().map(|class| class.label.clone()).collect(),
        counts: report.confusion.clone(),
    };
    write_confusion(dir, &confusion)
}

/// `confusion_matrix` (`.svg` and `.png`) in `dir`.
pub(crate) fn write_confusion(dir: &Path, confusion: &Confusion) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
    chart::write_svg_and_png(&confusion_svg(confusion), &dir.join("confusion_matrix"))
}

/// `[true][predicted]` counts with their labels (a detector's last one is "background").
pub(crate) struct Confusion {
    pub title: String,
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// Precision against recall at IoU 0.50, one line per class and the mean of all in black.
fn precision_recall_svg(report: &DetectionReport) -> String {
    let recall = DetectionReport::recall_points();
    let legend: Vec<(String, &[f64])> = report
        .per_class
        .iter()
        .map(|class| {
            (format!("{} {:.3}", fit(&class.label, LONGEST_LABEL), class.map50), class.precision_curve.as_slice())
        })
        .collect();
    let mean: Vec<f64> = (0..recall.len())
        .map(|point| {
            let values: Vec<f64> = legend.iter().filter_map(|(_, curve)| curve.get(point).copied()).collect();
            values.iter().sum::<f64>() / values.len().max(1) as f64
        })
        .collect();
    let longest = legend.iter().map(|(text, _)| text.chars().count()).max().unwrap_or(0).max(16);
    let (left, top, side) = (64.0, 72.0, 400.0);
    let legend_x = left + side + 24.0;
    let width = (legend_x + 22.0 + longest as f64 * CHARACTER_WIDTH + 16.0).max(560.0);
    let height = (top + side + 56.0).max(top + 24.0 + (legend.len() + 1) as f64 * 18.0 + 16.0);
    let subtitle = format!(
        "IoU 0.50, COCO's 101 recall points · mAP50 {:.3} · mAP50-95 {:.3}",
        report.metrics.map50, report.metrics.map50_95
    );
    let mut svg = chart::open(width, height, "Precision-recall curves", &subtitle);
    let x = |value: f64| left + side * value;
    let y = |value: f64| top + side * (1.0 - value);
    // Axes with ticks every 0.2 and their names.
    for tick in 0..=5 {
        let value = f64::from(tick) * 0.2;
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#eee\"/><line x1=\"{2:.1}\" y1=\"{top}\" x2=\"{2:.1}\" y2=\"{3:.1}\" stroke=\"#eee\"/><text x=\"{4:.1}\" y=\"{5:.1}\" text-anchor=\"end\">{value:.1}</text><text x=\"{2:.1}\" y=\"{6:.1}\" text-anchor=\"middle\">{value:.1}</text>\n",
            y(value),
            x(1.0),
            x(value),
            y(0.0),
            left - 6.0,
            y(value) + 4.0,
            y(0.0) + 16.0,
        ));
    }
    svg.push_str(&format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{side}\" height=\"{side}\" fill=\"none\" stroke=\"#888\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">recall</text>\n<text transform=\"translate(20 {:.1}) rotate(-90)\" text-anchor=\"middle\">precision</text>\n",
        x(0.5),
        y(0.0) + 36.0,
        y(0.5),
    ));
    let polyline = |curve: &[f64], colour: &str, stroke: f64| {
        let points: Vec<String> = recall.iter().zip(curve).map(|(&r, &p)| format!("{:.1},{:.1}", x(r), y(p))).collect();
        format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{stroke}\"/>\n",
            points.join(" ")
        )
    };
    for (index, (_, curve)) in legend.iter().enumerate() {
        svg.push_str(&polyline(curve, PALETTE[index % PALETTE.len()], 1.5));
    }
    svg.push_str(&polyline(&mean, "#000000", 3.0));
    // The legend: the mean first, then each class with its AP50.
    let entries = std::iter::once((format!("all classes {:.3}", report.metrics.map50), "#000000"))
        .chain(legend.iter().enumerate().map(|(index, (text, _))| (text.clone(), PALETTE[index % PALETTE.len()])));
    for (row, (text, colour)) in entries.enumerate() {
        let line_y = top + 8.0 + row as f64 * 18.0;
        svg.push_str(&format!(
            "<line x1=\"{legend_x:.1}\" y1=\"{line_y:.1}\" x2=\"{:.1}\" y2=\"{line_y:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            legend_x + 16.0,
            legend_x + 22.0,
            line_y + 4.0,
            escape(&text),
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// A heat map of `[true][predicted]` counts, each row shaded by its share of the row, with
/// the counts written in; rows and columns nobody uses are left out.
fn confusion_svg(confusion: &Confusion) -> String {
    let used: Vec<usize> = (0..confusion.labels.len())
        .filter(|&index| {
            confusion.counts[index].iter().any(|count| *count > 0) || confusion.counts.iter().any(|row| row[index] > 0)
        })
        .collect();
    let labels: Vec<String> = used.iter().map(|&index| fit(&confusion.labels[index], LONGEST_LABEL)).collect();
    let longest = labels.iter().map(|label| label.chars().count()).max().unwrap_or(4) as f64;
    let cell = 36.0;
    let label_room = longest * CHARACTER_WIDTH + 12.0;
    // Column labels are turned 45°: they need about 0.72 of their length above the grid.
    let (left, top) = (32.0 + label_room, 72.0 + longest * CHARACTER_WIDTH * 0.72 + 12.0);
    let side = cell * used.len() as f64;
    let width = (left + side + 32.0 + label_room * 0.72).max(560.0);
    let height = top + side + 48.0;
    let mut svg = chart::open(
        width,
        height,
        &confusion.title,
        "rows: true class · columns: predicted class · shade: share of the row",
    );
    for (row_position, &row) in used.iter().enumerate() {
        let total: u64 = used.iter().map(|&column| confusion.counts[row][column]).sum();
        let row_y = top + row_position as f64 * cell;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left - 8.0,
            row_y + cell / 2.0 + 4.0,
            escape(&labels[row_position])
        ));
        for (column_position, &column) in used.iter().enumerate() {
            let count = confusion.counts[row][column];
            let share = if total > 0 { count as f64 / total as f64 } else { 0.0 };
            let shade = (255.0 - share * 200.0).round();
            let column_x = left + column_position as f64 * cell;
            svg.push_str(&format!(
                "<rect x=\"{column_x:.1}\" y=\"{row_y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({shade:.0},{:.0},255)\" stroke=\"#ddd\"/>",
                (255.0 - share * 130.0).round()
            ));
            if count > 0 {
                let ink = if share > 0.6 { "#ffffff" } else { "#000000" };
                svg.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{ink}\">{count}</text>",
                    column_x + cell / 2.0,
                    row_y + cell / 2.0 + 4.0
                ));
            }
            svg.push('\n');
        }
    }
    for (column_position, label) in labels.iter().enumerate() {
        let column_x = left + column_position as f64 * cell + cell / 2.0;
        svg.push_str(&format!(
            "<text transform=\"translate({column_x:.1} {:.1}) rotate(-45)\">{}</text>\n",
            top - 6.0,
            escape(label)
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">true class (rows) · predicted class (columns)</text>\n</svg>\n",
        (left + side / 2.0).max(width / 2.0).min(width - 180.0),
        top + side + 32.0
    ));
    svg
}

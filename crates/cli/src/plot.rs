//! `nmt plot`: training curves of a run from `RUN_DIR/metrics.jsonl`, drawn with plotters as a
//! PNG or an SVG (chosen by the output's extension). Three panels: training and validation
//! loss, validation BLEU (and the test BLEU, if the run has one), learning rate; all against
//! the optimizer step.
//!
//! Text is rasterised with ab_glyph from DejaVu Sans embedded in the binary, so plotting needs
//! no system fonts or font libraries.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use nmt_train::metrics_log::{Event, MetricsLog};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The run directory (reads RUN_DIR/metrics.jsonl).
    #[arg(long)]
    run: PathBuf,
    /// Image to write, .png or .svg (default: RUN_DIR/curves.png).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// The curves of one run, read from its metrics log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Curves {
    /// (step, training loss) of each logging window.
    pub train_loss: Vec<(f64, f64)>,
    /// (step, learning rate) of each logging window.
    pub lr: Vec<(f64, f64)>,
    /// (step, validation loss).
    pub valid_loss: Vec<(f64, f64)>,
    /// (step, validation BLEU).
    pub valid_bleu: Vec<(f64, f64)>,
    /// BLEU of the final test, if the run had a test split.
    pub test_bleu: Option<f64>,
}

impl Curves {
    /// Collects the curves from metrics events; other events are skipped.
    pub fn from_events(events: &[Event]) -> Self {
        let mut c = Curves::default();
        for e in events {
            match e {
                Event::Train(t) => {
                    c.train_loss.push((t.step as f64, t.train_loss));
                    c.lr.push((t.step as f64, t.lr));
                }
                Event::Valid(v) => {
                    c.valid_loss.push((v.step as f64, v.valid_loss));
                    c.valid_bleu.push((v.step as f64, v.valid_bleu));
                }
                Event::Test(t) => c.test_bleu = Some(t.test_bleu),
                Event::Start(_) => {}
            }
        }
        c
    }

    fn is_empty(&self) -> bool {
        self.train_loss.is_empty()
            && self.lr.is_empty()
            && self.valid_loss.is_empty()
            && self.valid_bleu.is_empty()
    }

    fn max_step(&self) -> f64 {
        [
            &self.train_loss,
            &self.lr,
            &self.valid_loss,
            &self.valid_bleu,
        ]
        .iter()
        .flat_map(|s| s.iter().map(|p| p.0))
        .fold(0.0, f64::max)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        Some(other) => bail!(
            "cannot write {}: unknown image format .{other} (use .png or .svg)",
            path.display()
        ),
        None => bail!(
            "cannot write {}: no file extension (use .png or .svg)",
            path.display()
        ),
    }
}

pub fn plot(a: PlotArgs) -> Result<()> {
    let output = a.output.unwrap_or_else(|| a.run.join("curves.png"));
    let written = plot_run(&a.run, &output)?;
    eprintln!("wrote {}", written.display());
    Ok(())
}

/// Reads `run_dir/metrics.jsonl` and draws its curves into `output` (.png or .svg).
pub fn plot_run(run_dir: &Path, output: &Path) -> Result<PathBuf> {
    let format = format_of(output)?;
    let metrics = MetricsLog::new(run_dir);
    let events = MetricsLog::read(metrics.path())?;
    let curves = Curves::from_events(&events);
    if curves.is_empty() {
        bail!(
            "{} has no training or validation events to plot",
            metrics.path().display()
        );
    }
    let title = run_title(run_dir);
    let size = (1800, 560);
    match format {
        Format::Png => {
            let root = BitMapBackend::new(output, size).into_drawing_area();
            draw(&root, &curves, &title)?;
            root.present()
                .map_err(|e| anyhow!("cannot write {}: {e}", output.display()))?;
        }
        Format::Svg => {
            let root = SVGBackend::new(output, size).into_drawing_area();
            draw(&root, &curves, &title)?;
            root.present()
                .map_err(|e| anyhow!("cannot write {}: {e}", output.display()))?;
        }
    }
    // plotters reports some write failures only on drop: make sure the file is really there.
    let len = std::fs::metadata(output)
        .with_context(|| format!("cannot write {}", output.display()))?
        .len();
    if len == 0 {
        bail!("cannot write {}: the image is empty", output.display());
    }
    Ok(output.to_path_buf())
}

fn run_title(run_dir: &Path) -> String {
    let name = std::fs::canonicalize(run_dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| run_dir.display().to_string());
    format!("Training curves: {name}")
}

const FONT: &str = "sans-serif";
const TRAIN: RGBColor = RGBColor(37, 99, 235);
const VALID: RGBColor = RGBColor(234, 88, 12);
const BLEU: RGBColor = RGBColor(22, 163, 74);
const TEST: RGBColor = RGBColor(100, 116, 139);
const LR: RGBColor = RGBColor(147, 51, 234);
const GRID: RGBColor = RGBColor(229, 231, 235);
const AXIS: RGBColor = RGBColor(107, 114, 128);
const INK: RGBColor = RGBColor(31, 41, 55);

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Both faces are valid TrueType files inside the `dejavu` crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &Curves,
    title: &str,
) -> Result<()> {
    register_fonts();
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the plot: {e}");
    root.fill(&WHITE).map_err(err)?;
    let body = root
        .margin(14, 0, 0, 0)
        .titled(title, (FONT, 26, FontStyle::Bold).into_font().color(&INK))
        .map_err(err)?;
    let panels = body.margin(4, 10, 10, 10).split_evenly((1, 3));
    let steps = 0.0..nice_max(curves.max_step());

    let mut loss = curves.train_loss.clone();
    loss.extend(&curves.valid_loss);
    let loss_range = value_range(loss.iter().map(|p| p.1), true);
    panel(
        &panels[0],
        "Loss",
        steps.clone(),
        loss_range,
        &|v| format!("{v:.1}"),
        &[
            Series::line("train", &curves.train_loss, TRAIN),
            Series::points("valid", &curves.valid_loss, VALID),
        ],
        None,
        SeriesLabelPosition::UpperRight,
    )
    .map_err(err)?;

    let mut bleu: Vec<f64> = curves.valid_bleu.iter().map(|p| p.1).collect();
    bleu.extend(curves.test_bleu);
    let bleu_range = value_range(bleu.into_iter(), true);
    panel(
        &panels[1],
        "Validation BLEU",
        steps.clone(),
        bleu_range,
        &|v| format!("{v:.0}"),
        &[Series::points("valid BLEU", &curves.valid_bleu, BLEU)],
        curves.test_bleu.map(|b| (format!("test BLEU {b:.2}"), b)),
        SeriesLabelPosition::LowerRight,
    )
    .map_err(err)?;

    let lr_range = value_range(curves.lr.iter().map(|p| p.1), true);
    panel(
        &panels[2],
        "Learning rate",
        steps,
        lr_range,
        &|v| {
            if *v == 0.0 {
                "0".into()
            } else {
                format!("{v:.1e}")
            }
        },
        &[Series::line("lr", &curves.lr, LR)],
        None,
        SeriesLabelPosition::UpperRight,
    )
    .map_err(err)?;
    Ok(())
}

struct Series<'a> {
    label: &'a str,
    points: &'a [(f64, f64)],
    color: RGBColor,
    markers: bool,
}

impl<'a> Series<'a> {
    fn line(label: &'a str, points: &'a [(f64, f64)], color: RGBColor) -> Self {
        Self {
            label,
            points,
            color,
            markers: points.len() < 2,
        }
    }

    fn points(label: &'a str, points: &'a [(f64, f64)], color: RGBColor) -> Self {
        Self {
            label,
            points,
            color,
            markers: true,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x: Range<f64>,
    y: Range<f64>,
    y_format: &dyn Fn(&f64) -> String,
    series: &[Series],
    hline: Option<(String, f64)>,
    legend: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20, FontStyle::Bold).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x.clone(), y)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID.stroke_width(1))
        .axis_style(AXIS.stroke_width(1))
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(y_format)
        .x_desc("step")
        .label_style((FONT, 14).into_font().color(&AXIS))
        .axis_desc_style((FONT, 15).into_font().color(&AXIS))
        .draw()?;

    let mut labelled = false;
    let mut empty = true;
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        empty = false;
        labelled = true;
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(s.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
        if s.markers {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
    }
    if let Some((label, value)) = hline {
        empty = false;
        labelled = true;
        chart
            .draw_series(DashedLineSeries::new(
                [(x.start, value), (x.end, value)],
                8,
                6,
                TEST.stroke_width(2),
            ))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], TEST.stroke_width(2)));
    }
    if empty {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            "no events in the log",
            (w as i32 / 2 - 80, h as i32 / 2),
            (FONT, 16).into_font().color(&AXIS),
        ))?;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(legend)
            .margin(10)
            .label_font((FONT, 14).into_font().color(&INK))
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .draw()?;
    }
    Ok(())
}

/// A round upper end for the step axis.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let unit = magnitude / 2.0;
    (max / unit).ceil() * unit
}

/// The y range of a panel: from 0 (when `from_zero` and all values are positive) to a little
/// above the largest value; never empty.
fn value_range(values: impl Iterator<Item = f64>, from_zero: bool) -> Range<f64> {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if from_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        hi = lo + hi.abs().max(1.0) * 0.1;
    }
    let pad = (hi - lo) * 0.06;
    lo..hi + pad
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn curves_come_from_train_valid_and_test_events() {
        let event = |line: serde_json::Value| -> Event { serde_json::from_value(line).unwrap() };
        let train = |step: u64, loss: f64, lr: f64| {
            event(
                json!({"event": "train", "step": step, "epoch": 1, "train_loss": loss, "lr": lr,
                "grad_norm": 1.0, "tokens_per_s": 100.0, "tgt_tokens": 10}),
            )
        };
        let events = vec![
            event(json!({"event": "start", "step": 0})),
            train(10, 5.0, 1e-4),
            event(
                json!({"event": "valid", "step": 10, "epoch": 1, "valid_loss": 4.0,
                "valid_ppl": 54.6, "valid_bleu": 3.5, "valid_chrf": 20.0, "best": true}),
            ),
            train(20, 3.0, 2e-4),
            event(
                json!({"event": "test", "step": 20, "checkpoint": "c", "test_bleu": 7.25,
                "test_chrf": 30.0, "bleu_signature": "b", "chrf_signature": "c"}),
            ),
        ];
        let c = Curves::from_events(&events);
        assert_eq!(c.train_loss, vec![(10.0, 5.0), (20.0, 3.0)]);
        assert_eq!(c.lr, vec![(10.0, 1e-4), (20.0, 2e-4)]);
        assert_eq!(c.valid_loss, vec![(10.0, 4.0)]);
        assert_eq!(c.valid_bleu, vec![(10.0, 3.5)]);
        assert_eq!(c.test_bleu, Some(7.25));
        assert_eq!(c.max_step(), 20.0);
        assert!(Curves::from_events(&events[4..]).is_empty());
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(format_of(Path::new("a/curves.png")).unwrap(), Format::Png);
        assert_eq!(format_of(Path::new("curves.SVG")).unwrap(), Format::Svg);
        let err = format_of(Path::new("curves.jpg")).unwrap_err().to_string();
        assert!(
            err.contains(".jpg") && err.contains(".png or .svg"),
            "{err}"
        );
        assert!(format_of(Path::new("curves")).is_err());
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(600.0), 600.0);
        assert_eq!(nice_max(612.0), 650.0);
        let r = value_range([2.0, 2.0].into_iter(), false);
        assert!(r.start < r.end);
        let r = value_range(std::iter::empty(), true);
        assert_eq!(r, 0.0..1.0);
        let r = value_range([1.0, 9.0].into_iter(), true);
        assert_eq!(r.start, 0.0);
        assert!(r.end > 9.0);
    }

    fn fixture_run() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plot-run")
    }

    #[test]
    fn writes_png_and_svg_from_the_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let png = plot_run(&fixture_run(), &dir.path().join("curves.png")).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.len() > 1000);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let svg = plot_run(&fixture_run(), &dir.path().join("curves.svg")).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg"), "{text}");
        assert!(text.contains("Validation BLEU"));
    }

    #[test]
    fn an_empty_log_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metrics.jsonl"), "").unwrap();
        let err = plot_run(dir.path(), &dir.path().join("c.png"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("no training"),
            "{err}"
        );
        assert!(!dir.path().join("c.png").exists());
    }
}

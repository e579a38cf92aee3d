//! PNG figures with plotters: the training loss curve, and a scatter of source points,
//! target points and predictions (the first two principal components when there are more
//! than two features) with lines from a few source points to their samples. Source and
//! target in different spaces get one panel each, the followed points in matching colours.
//! Text uses the bundled DejaVu Sans, so no system fonts are needed. Files are written
//! atomically.

use crate::error::CliError;
use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const GREY: RGBColor = RGBColor(150, 150, 150);
const BLUE: RGBColor = RGBColor(70, 130, 200);
const ORANGE: RGBColor = RGBColor(235, 130, 40);

fn plot_err(e: impl std::fmt::Display) -> CliError {
    CliError::Run(format!("cannot draw the figure: {e}"))
}

/// Draws into a temporary PNG next to `path`, then renames it over `path`.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    static FONT_ONCE: std::sync::Once = std::sync::Once::new();
    FONT_ONCE.call_once(|| {
        // The bundled font is valid; a failure would only leave the text out.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    crate::io::check_output_dir(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".genot-plot")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| CliError::Run(format!("cannot write in '{}': {e}", dir.display())))?;
    {
        let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; figures are for sharing, as the other outputs (0644).
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .map_err(|e| CliError::Run(format!("cannot write '{}': {e}", path.display())))?;
    Ok(())
}

/// The training loss per iteration (light) and its moving average (dark).
pub fn loss_curve(losses: &[f32], path: &Path) -> Result<(), CliError> {
    if losses.is_empty() {
        return Err(CliError::Input("no losses to plot".into()));
    }
    let window = (losses.len() / 50).max(1);
    let smooth: Vec<(f64, f64)> = (0..losses.len())
        .map(|i| {
            let lo = i.saturating_sub(window - 1);
            let s: f64 = losses[lo..=i].iter().map(|&v| v as f64).sum();
            ((i + 1) as f64, s / (i + 1 - lo) as f64)
        })
        .collect();
    let mut sorted: Vec<f64> = losses.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    // The first iterations can be far above the rest: the range stops at the 99th percentile.
    let (lo, hi) = (
        sorted[0],
        sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)],
    );
    let pad = ((hi - lo) * 0.05).max(1e-6);
    render(path, (900, 500), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("training loss", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..losses.len().max(2) as f64, (lo - pad)..(hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("flow-matching loss")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                losses
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i + 1) as f64, v as f64)),
                BLUE.mix(0.3),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(smooth, BLUE.stroke_width(2)))
            .map_err(plot_err)?
            .label(format!("moving average ({window})"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        legend(&mut chart)?;
        Ok(())
    })
}

/// A projection onto two axes: the first two principal components of `fit_on` (the
/// coordinates themselves for two features, the one feature and zero for one).
struct Projection {
    mean: Vec<f64>,
    axes: Vec<[f64; 2]>,
    names: [&'static str; 2],
}

impl Projection {
    fn new(fit_on: ArrayView2<f32>) -> Self {
        let (n, d) = fit_on.dim();
        let mean: Vec<f64> = (0..d)
            .map(|j| fit_on.column(j).iter().map(|&v| v as f64).sum::<f64>() / n.max(1) as f64)
            .collect();
        if d <= 2 {
            let axes = (0..d)
                .map(|j| if j == 0 { [1.0, 0.0] } else { [0.0, 1.0] })
                .collect();
            return Projection {
                mean: vec![0.0; d],
                axes,
                names: ["x1", "x2"],
            };
        }
        let mut cov = DMatrix::<f64>::zeros(d, d);
        for row in fit_on.outer_iter() {
            let c: Vec<f64> = row.iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect();
            for a in 0..d {
                for b in 0..d {
                    cov[(a, b)] += c[a] * c[b];
                }
            }
        }
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let axes = (0..d)
            .map(|j| {
                [
                    eig.eigenvectors[(j, order[0])],
                    eig.eigenvectors[(j, order[1])],
                ]
            })
            .collect();
        Projection {
            mean,
            axes,
            names: ["PC1", "PC2"],
        }
    }

    fn point(&self, p: ndarray::ArrayView1<f32>) -> (f64, f64) {
        p.iter()
            .zip(&self.mean)
            .zip(&self.axes)
            .fold((0.0, 0.0), |(x, y), ((&v, m), a)| {
                let c = v as f64 - m;
                (x + c * a[0], y + c * a[1])
            })
    }

    fn points(&self, a: ArrayView2<f32>) -> Vec<(f64, f64)> {
        a.outer_iter().map(|p| self.point(p)).collect()
    }
}

fn bounds(sets: &[&[(f64, f64)]]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in sets.iter().flat_map(|s| s.iter()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let px = ((x1 - x0) * 0.05).max(1e-3);
    let py = ((y1 - y0) * 0.05).max(1e-3);
    ((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))
}

/// What a scatter shows.
pub struct Scatter<'a> {
    pub source: ArrayView2<'a, f32>,
    /// `n x K x q`: K predictions per source point.
    pub pred: ArrayView3<'a, f32>,
    pub target: Option<ArrayView2<'a, f32>>,
    /// Source points whose samples are followed (lines, or colours across panels).
    pub links: usize,
}

type Panel<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn panel<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    proj: &Projection,
    sets: &[&[(f64, f64)]],
) -> Result<Panel<'a, 'b>, CliError> {
    let (xr, yr) = bounds(sets);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(xr, yr)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(proj.names[0])
        .y_desc(proj.names[1])
        .light_line_style(WHITE)
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// The legend box in the upper right corner.
fn legend<'a, 'b: 'a>(chart: &mut Panel<'a, 'b>) -> Result<(), CliError> {
    chart
        .configure_series_labels()
        .border_style(GREY)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(plot_err)
}

fn dots(
    chart: &mut Panel,
    pts: &[(f64, f64)],
    color: RGBAColor,
    label: &str,
) -> Result<(), CliError> {
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled())))
        .map_err(plot_err)?
        .label(label)
        .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
    Ok(())
}

/// Source, target and predictions in one panel (same space) or two (different spaces).
pub fn scatter(s: &Scatter, path: &Path) -> Result<(), CliError> {
    let (n, k, q) = s.pred.dim();
    if s.source.nrows() != n {
        return Err(CliError::Input(format!(
            "{} source points but predictions for {n}",
            s.source.nrows()
        )));
    }
    if let Some(t) = s.target.filter(|t| t.ncols() != q) {
        return Err(CliError::Input(format!(
            "the targets have {} features and the predictions {q}",
            t.ncols()
        )));
    }
    let flat: Array2<f32> = s
        .pred
        .to_owned()
        .into_shape_with_order((n * k, q))
        .expect("n k q");
    let mut fit_on = flat.clone();
    if let Some(t) = s.target {
        fit_on.append(Axis(0), t).expect("same width");
    }
    let tproj = Projection::new(fit_on.view());
    let pred = tproj.points(flat.view());
    let target = s.target.map(|t| tproj.points(t)).unwrap_or_default();
    let followed: Vec<usize> = (0..s.links.min(n))
        .map(|i| i * n / s.links.min(n))
        .collect();
    let same = s.source.ncols() == q;
    let palette = |i: usize| Palette99::pick(i).to_rgba();
    let size = if same { (800, 700) } else { (1400, 650) };
    render(path, size, |root| {
        let (left, right) = if same {
            (root.clone(), None)
        } else {
            let (l, r) = root.split_horizontally(700);
            (l, Some(r))
        };
        let sproj = if same {
            None
        } else {
            Some(Projection::new(s.source))
        };
        let source = sproj.as_ref().unwrap_or(&tproj).points(s.source);
        // Left panel: the source (and, in one space, everything).
        let mut chart = if same {
            panel(
                &left,
                "source, target and predictions",
                &tproj,
                &[&source, &target, &pred],
            )?
        } else {
            panel(
                &left,
                "source",
                sproj.as_ref().expect("two spaces"),
                &[&source],
            )?
        };
        dots(&mut chart, &source, GREY.mix(0.5), "source")?;
        if same {
            if !target.is_empty() {
                dots(&mut chart, &target, BLUE.mix(0.4), "target")?;
            }
            dots(&mut chart, &pred, ORANGE.mix(0.5), "predictions")?;
            for (c, &i) in followed.iter().enumerate() {
                let lines =
                    (0..k).map(|j| PathElement::new(vec![source[i], pred[i * k + j]], palette(c)));
                chart.draw_series(lines).map_err(plot_err)?;
            }
        }
        for (c, &i) in followed.iter().enumerate() {
            chart
                .draw_series(std::iter::once(Circle::new(
                    source[i],
                    5,
                    palette(c).filled(),
                )))
                .map_err(plot_err)?;
        }
        legend(&mut chart)?;
        if let Some(right) = right {
            let mut chart = panel(&right, "target and predictions", &tproj, &[&target, &pred])?;
            if !target.is_empty() {
                dots(&mut chart, &target, BLUE.mix(0.4), "target")?;
            }
            dots(&mut chart, &pred, ORANGE.mix(0.5), "predictions")?;
            for (c, &i) in followed.iter().enumerate() {
                let pts = (0..k).map(|j| Circle::new(pred[i * k + j], 5, palette(c).filled()));
                chart.draw_series(pts).map_err(plot_err)?;
            }
            legend(&mut chart)?;
        }
        Ok(())
    })
}

/// Arguments of `genot plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// The PNG file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// A model directory: plot its training loss (history.json).
    #[arg(long, conflicts_with_all = ["source", "pred", "target"], required_unless_present = "pred")]
    pub model: Option<std::path::PathBuf>,
    /// Source points (.npy or .csv[:columns]), with --pred.
    #[arg(long, requires = "pred")]
    pub source: Option<std::path::PathBuf>,
    /// Predictions for the source points: n x q, or n x K x q from `genot transport --samples K`.
    #[arg(long, requires = "source")]
    pub pred: Option<std::path::PathBuf>,
    /// Observed target points, drawn under the predictions.
    #[arg(long)]
    pub target: Option<std::path::PathBuf>,
    /// Source points whose samples are followed by lines (or colours).
    #[arg(long, default_value_t = 8)]
    pub links: usize,
}

/// The JSON report of `genot plot`.
#[derive(Debug, serde::Serialize)]
pub struct PlotReport {
    pub figure: String,
}

/// The training loss of a model directory.
pub fn model_losses(model: &Path) -> Result<Vec<f32>, CliError> {
    match genot::train::load_history(model) {
        Ok(Some(report)) => Ok(report.losses),
        Ok(None) => Err(CliError::Input(format!(
            "'{}' has no {}: plot a model directory written by `genot fit`",
            model.display(),
            genot::train::HISTORY_FILE
        ))),
        Err(e) => Err(CliError::Input(e.to_string())),
    }
}

/// Runs `genot plot`.
pub fn run(args: &PlotArgs) -> Result<PlotReport, CliError> {
    crate::io::check_output_dir(&args.out)?;
    if let Some(model) = &args.model {
        loss_curve(&model_losses(model)?, &args.out)?;
    } else if let (Some(source), Some(pred)) = (&args.source, &args.pred) {
        let source = crate::io::read_points::<f32>(source, "source")?;
        let pred = crate::io::read_predictions(pred, "pred")?;
        let target = match &args.target {
            Some(t) => Some(crate::io::read_points::<f32>(t, "target")?),
            None => None,
        };
        scatter(
            &Scatter {
                source: source.view(),
                pred: pred.view(),
                target: target.as_ref().map(|t| t.view()),
                links: args.links,
            },
            &args.out,
        )?;
    }
    Ok(PlotReport {
        figure: args.out.display().to_string(),
    })
}

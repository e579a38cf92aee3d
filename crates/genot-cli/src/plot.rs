//! PNG figures with plotters: the training loss curve, and a scatter of source points,
//! target points and predictions, flat or in 3-D (the leading principal components when
//! there are more features than axes), with lines from a few source points to their samples. Source and
//! target in different spaces get one panel each, the followed points in matching colours.
//! Text uses the bundled DejaVu Sans, so no system fonts are needed. Files are written
//! atomically.

use crate::error::CliError;
use crate::spec::{LabelsSpec, PointsSpec};
use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use plotters::coord::ranged3d::Cartesian3d;
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
    let clipped = hi < sorted[sorted.len() - 1];
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
            .y_desc(if clipped {
                "flow-matching loss (axis cut at the 99th percentile)"
            } else {
                "flow-matching loss"
            })
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

/// A projection onto `dims` (2 or 3) axes: the leading principal components of `fit_on`
/// (the coordinates themselves when there are no more features than axes; missing axes
/// are zero).
struct Projection {
    mean: Vec<f64>,
    /// `d x dims`.
    axes: Vec<Vec<f64>>,
    names: Vec<&'static str>,
}

impl Projection {
    fn new(fit_on: ArrayView2<f32>, dims: usize) -> Self {
        let (n, d) = fit_on.dim();
        if d <= dims {
            let axes = (0..d)
                .map(|j| (0..dims).map(|a| if a == j { 1.0 } else { 0.0 }).collect())
                .collect();
            return Projection {
                mean: vec![0.0; d],
                axes,
                names: ["x1", "x2", "x3"][..dims].to_vec(),
            };
        }
        let mean: Vec<f64> = (0..d)
            .map(|j| fit_on.column(j).iter().map(|&v| v as f64).sum::<f64>() / n.max(1) as f64)
            .collect();
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
            .map(|j| (0..dims).map(|a| eig.eigenvectors[(j, order[a])]).collect())
            .collect();
        Projection {
            mean,
            axes,
            names: ["PC1", "PC2", "PC3"][..dims].to_vec(),
        }
    }

    fn point(&self, p: ndarray::ArrayView1<f32>) -> [f64; 3] {
        let mut out = [0.0; 3];
        for ((&v, m), a) in p.iter().zip(&self.mean).zip(&self.axes) {
            for (o, w) in out.iter_mut().zip(a) {
                *o += (v as f64 - m) * w;
            }
        }
        out
    }

    fn points(&self, a: ArrayView2<f32>) -> Vec<[f64; 3]> {
        a.outer_iter().map(|p| self.point(p)).collect()
    }
}

/// The range of each axis over `sets`, padded by 5%.
fn bounds(sets: &[&[[f64; 3]]]) -> [std::ops::Range<f64>; 3] {
    std::array::from_fn(|a| {
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for p in sets.iter().flat_map(|s| s.iter()) {
            (lo, hi) = (lo.min(p[a]), hi.max(p[a]));
        }
        if lo > hi {
            (lo, hi) = (0.0, 0.0);
        }
        let pad = ((hi - lo) * 0.05).max(1e-3);
        // Room above the data on the vertical axis for the legend (upper right corner), so
        // that it never covers a cluster.
        let top = if a == 1 { (hi - lo) * 0.3 } else { 0.0 };
        (lo - pad)..(hi + pad + top)
    })
}

/// A tick label that stays short at any scale: `0.25`, `12.5`, `1.2e5`, `3.0e-4`; on an
/// axis spanning `span`, a tick within rounding error of zero (`-5.6e-17`) reads `0`.
fn tick(v: &f64, span: f64) -> String {
    let a = v.abs();
    if a <= span.abs() * 1e-9 {
        "0".into()
    } else if !(1e-2..1e4).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.to_string()
        }
    }
}

/// What a scatter shows.
pub struct Scatter<'a> {
    pub source: ArrayView2<'a, f32>,
    /// `n x K x q`: K predictions per source point.
    pub pred: ArrayView3<'a, f32>,
    pub target: Option<ArrayView2<'a, f32>>,
    /// Source points whose samples are followed (lines, or colours across panels).
    pub links: usize,
    /// 2 (a flat scatter) or 3 (a 3-D view of the first three components).
    pub dims: usize,
    /// One label per source point (`genot plot --color`): the source points and their
    /// predictions are coloured by it, one legend entry per label.
    pub labels: Option<&'a [String]>,
}

/// At most this many labels get their own colour; the rest share grey ("other").
const MAX_COLOURS: usize = 20;

/// The distinct labels in order of first appearance (the first [`MAX_COLOURS`] of them),
/// and each point's colour index (`MAX_COLOURS` for the rest).
fn label_groups(labels: &[String]) -> (Vec<&str>, Vec<usize>) {
    let mut names: Vec<&str> = Vec::new();
    let index = labels
        .iter()
        .map(|l| match names.iter().position(|n| *n == l.as_str()) {
            Some(i) => i,
            None if names.len() < MAX_COLOURS => {
                names.push(l);
                names.len() - 1
            }
            None => MAX_COLOURS,
        })
        .collect();
    (names, index)
}

type Range = plotters::coord::types::RangedCoordf64;

/// One panel of a scatter, flat or in 3-D; points are given with three coordinates (the
/// third is ignored when flat).
enum Panel<'a, 'b> {
    Flat(ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Range, Range>>),
    Cube(ChartContext<'a, BitMapBackend<'b>, Cartesian3d<Range, Range, Range>>),
}

impl<'a, 'b: 'a> Panel<'a, 'b> {
    fn new(
        area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
        title: &str,
        proj: &Projection,
        sets: &[&[[f64; 3]]],
    ) -> Result<Self, CliError> {
        let [xr, yr, zr] = bounds(sets);
        let [sx, sy, sz] = [&xr, &yr, &zr].map(|r| r.end - r.start);
        let (tx, ty, tz) = (
            move |v: &f64| tick(v, sx),
            move |v: &f64| tick(v, sy),
            move |v: &f64| tick(v, sz),
        );
        let mut builder = ChartBuilder::on(area);
        builder.margin(12);
        if proj.names.len() == 2 {
            builder.caption(title, ("sans-serif", 20));
            let mut chart = builder
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d(xr, yr)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc(proj.names[0])
                .y_desc(proj.names[1])
                .x_label_formatter(&tx)
                .y_label_formatter(&ty)
                .light_line_style(WHITE)
                .draw()
                .map_err(plot_err)?;
            return Ok(Panel::Flat(chart));
        }
        let names = format!(
            "{title}: {} (x), {} (up), {} (depth)",
            proj.names[0], proj.names[1], proj.names[2]
        );
        builder.caption(names, ("sans-serif", 18));
        let mut chart = builder.build_cartesian_3d(xr, yr, zr).map_err(plot_err)?;
        chart.with_projection(|mut p| {
            p.yaw = 0.6;
            p.pitch = 0.35;
            p.scale = 0.8;
            p.into_matrix()
        });
        chart
            .configure_axes()
            .light_grid_style(GREY.mix(0.15))
            .max_light_lines(3)
            .x_formatter(&tx)
            .y_formatter(&ty)
            .z_formatter(&tz)
            .draw()
            .map_err(plot_err)?;
        Ok(Panel::Cube(chart))
    }

    /// Circles of radius `size` at the points, without a legend entry.
    fn circles(&mut self, pts: &[[f64; 3]], size: i32, color: RGBAColor) -> Result<(), CliError> {
        match self {
            Panel::Flat(c) => c
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p[0], p[1]), size, color.filled())),
                )
                .map(|_| ()),
            Panel::Cube(c) => c
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p[0], p[1], p[2]), size, color.filled())),
                )
                .map(|_| ()),
        }
        .map_err(plot_err)
    }

    /// Small dots with a legend entry.
    fn dots(&mut self, pts: &[[f64; 3]], color: RGBAColor, label: &str) -> Result<(), CliError> {
        self.marks(pts, 2, color.filled(), label)
    }

    /// Rings of radius 3 at the points, with a legend entry: visible on top of dense dots.
    fn rings(&mut self, pts: &[[f64; 3]], color: RGBAColor, label: &str) -> Result<(), CliError> {
        self.marks(pts, 3, color.stroke_width(1), label)
    }

    /// Circles of radius `size` drawn in `style` at the points, with a legend entry.
    fn marks(
        &mut self,
        pts: &[[f64; 3]],
        size: i32,
        style: ShapeStyle,
        label: &str,
    ) -> Result<(), CliError> {
        let legend = move |(x, y): (i32, i32)| Circle::new((x + 8, y), 4, style);
        match self {
            Panel::Flat(c) => c
                .draw_series(pts.iter().map(|p| Circle::new((p[0], p[1]), size, style)))
                .map(|a| {
                    a.label(label).legend(legend);
                }),
            Panel::Cube(c) => c
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p[0], p[1], p[2]), size, style)),
                )
                .map(|a| {
                    a.label(label).legend(legend);
                }),
        }
        .map_err(plot_err)
    }

    /// A legend entry for what the lines and large circles of the followed points mean.
    fn explain_followed(&mut self, label: &str, lines: bool) -> Result<(), CliError> {
        let color = Palette99::pick(0).to_rgba();
        // A line where lines join the followed points to their samples, else a large dot.
        let legend = move |(x, y): (i32, i32)| -> DynElement<'static, BitMapBackend, (i32, i32)> {
            if lines {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)).into_dyn()
            } else {
                Circle::new((x + 8, y), 5, color.filled()).into_dyn()
            }
        };
        match self {
            Panel::Flat(c) => c
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map(|a| {
                    a.label(label).legend(legend);
                }),
            Panel::Cube(c) => c
                .draw_series(std::iter::empty::<Circle<(f64, f64, f64), i32>>())
                .map(|a| {
                    a.label(label).legend(legend);
                }),
        }
        .map_err(plot_err)
    }

    /// A line from `a` to each of `bs`.
    fn lines(&mut self, a: [f64; 3], bs: &[[f64; 3]], color: RGBAColor) -> Result<(), CliError> {
        match self {
            Panel::Flat(c) => c
                .draw_series(
                    bs.iter()
                        .map(|b| PathElement::new(vec![(a[0], a[1]), (b[0], b[1])], color)),
                )
                .map(|_| ()),
            Panel::Cube(c) => c
                .draw_series(
                    bs.iter().map(|b| {
                        PathElement::new(vec![(a[0], a[1], a[2]), (b[0], b[1], b[2])], color)
                    }),
                )
                .map(|_| ()),
        }
        .map_err(plot_err)
    }

    /// The legend box in the upper right corner.
    fn legend(&mut self) -> Result<(), CliError> {
        match self {
            Panel::Flat(c) => legend(c),
            Panel::Cube(c) => legend(c),
        }
    }
}

/// The legend box in the upper right corner.
fn legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
) -> Result<(), CliError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(GREY)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(plot_err)
}

/// Source, target and predictions in one panel (same space) or two (different spaces),
/// flat (`dims` 2) or in 3-D (`dims` 3).
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
    if !(2..=3).contains(&s.dims) {
        return Err(CliError::Input(format!(
            "a scatter has 2 or 3 dimensions, not {}",
            s.dims
        )));
    }
    // The commands check the label count against their own flag (check_labels).
    assert!(
        s.labels.is_none_or(|l| l.len() == n),
        "one label per source point"
    );
    let flat: Array2<f32> = s
        .pred
        .to_owned()
        .into_shape_with_order((n * k, q))
        .expect("n k q");
    let mut fit_on = flat.clone();
    if let Some(t) = s.target {
        fit_on.append(Axis(0), t).expect("same width");
    }
    let tproj = Projection::new(fit_on.view(), s.dims);
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
        let sproj = (!same).then(|| Projection::new(s.source, s.dims));
        let source = sproj.as_ref().unwrap_or(&tproj).points(s.source);
        // Left panel: the source (and, in one space, everything).
        let mut chart = if same {
            Panel::new(
                &left,
                "source, target and predictions",
                &tproj,
                &[&source, &target, &pred],
            )?
        } else {
            Panel::new(
                &left,
                "source",
                sproj.as_ref().expect("two spaces"),
                &[&source],
            )?
        };
        if let Some(labels) = s.labels {
            let (names, index) = label_groups(labels);
            let c = Coloured {
                names,
                index,
                source: &source,
                pred: &pred,
                target: &target,
                k,
            };
            c.draw(&mut chart, right.is_none())?;
            if let Some(right) = right {
                let mut chart =
                    Panel::new(&right, "target and predictions", &tproj, &[&target, &pred])?;
                c.draw(&mut chart, false)?;
            }
            return Ok(());
        }
        chart.dots(&source, GREY.mix(0.5), "source")?;
        if same {
            // Targets as rings drawn over the predictions: with K samples per point the
            // predictions outnumber them K to 1, and dots would hide them.
            chart.dots(&pred, ORANGE.mix(0.5), "predictions")?;
            if !target.is_empty() {
                chart.rings(&target, BLUE.mix(0.7), "target")?;
            }
            for (c, &i) in followed.iter().enumerate() {
                chart.lines(source[i], &pred[i * k..(i + 1) * k], palette(c))?;
            }
        }
        for (c, &i) in followed.iter().enumerate() {
            chart.circles(&source[i..=i], 5, palette(c))?;
        }
        if !followed.is_empty() {
            let label = if same {
                format!(
                    "lines from {} source points (large dots) to their {k} samples",
                    followed.len()
                )
            } else {
                format!(
                    "{} followed source points (large dots; their samples at right)",
                    followed.len()
                )
            };
            chart.explain_followed(&label, same)?;
        }
        chart.legend()?;
        if let Some(right) = right {
            let mut chart =
                Panel::new(&right, "target and predictions", &tproj, &[&target, &pred])?;
            chart.dots(&pred, ORANGE.mix(0.5), "predictions")?;
            if !target.is_empty() {
                chart.rings(&target, BLUE.mix(0.7), "target")?;
            }
            for (c, &i) in followed.iter().enumerate() {
                chart.circles(&pred[i * k..(i + 1) * k], 5, palette(c))?;
            }
            if !followed.is_empty() {
                chart.explain_followed(
                    "samples of the followed points (large dots, same colours)",
                    false,
                )?;
            }
            chart.legend()?;
        }
        Ok(())
    })
}

/// The scatter coloured by the source points' labels: each source point pale, its
/// predictions solid, in its label's colour; targets as blue rings.
struct Coloured<'p> {
    names: Vec<&'p str>,
    /// Each source point's colour group ([`label_groups`]).
    index: Vec<usize>,
    source: &'p [[f64; 3]],
    pred: &'p [[f64; 3]],
    target: &'p [[f64; 3]],
    /// Predictions per source point.
    k: usize,
}

impl Coloured<'_> {
    fn colour(g: usize) -> RGBAColor {
        if g == MAX_COLOURS {
            GREY.to_rgba()
        } else {
            Palette99::pick(g).to_rgba()
        }
    }

    /// The points of colour group `g` among `pts` (`per` rows per source point).
    fn pick(&self, pts: &[[f64; 3]], g: usize, per: usize) -> Vec<[f64; 3]> {
        (0..self.index.len())
            .filter(|&i| self.index[i] == g)
            .flat_map(|i| pts[i * per..(i + 1) * per].iter().copied())
            .collect()
    }

    fn draw<'a, 'b: 'a>(
        &self,
        chart: &mut Panel<'a, 'b>,
        with_source: bool,
    ) -> Result<(), CliError> {
        let groups = (0..self.names.len()).chain(std::iter::once(MAX_COLOURS));
        for g in groups {
            let prd = self.pick(self.pred, g, self.k);
            if prd.is_empty() {
                continue;
            }
            if with_source {
                chart.circles(&self.pick(self.source, g, 1), 2, Self::colour(g).mix(0.25))?;
            }
            let name = if g == MAX_COLOURS {
                "other labels"
            } else {
                self.names[g]
            };
            chart.dots(&prd, Self::colour(g).mix(0.8), name)?;
        }
        if !self.target.is_empty() {
            chart.rings(self.target, BLUE.mix(0.5), "target")?;
        }
        chart.legend()
    }
}

/// Arguments of `genot plot`: `--model DIR` (the training loss) or `--source S --pred P
/// [--target T]` (a scatter of the points, their predictions and the targets).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("figure").required(true).args(["model", "pred"])))]
pub struct PlotArgs {
    /// The PNG file to write: with --model DIR (the training loss), or with --source and
    /// --pred (a scatter).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// A model directory: plot its training loss (history.json).
    #[arg(long, conflicts_with_all = ["source", "pred", "target"])]
    pub model: Option<std::path::PathBuf>,
    /// Source points, with --pred: .npy, .csv[:columns] or .h5ad[:KEY] (KEY = X, obsm/NAME
    /// or layers/NAME).
    #[arg(long, requires = "pred", value_parser = PointsSpec::parser())]
    pub source: Option<PointsSpec>,
    /// Predictions for the source points: n x q (the formats of --source), or n x K x q
    /// from `genot transport --samples K` (.npy, .csv with one row per sample, or
    /// COPY.h5ad:obsm/KEY_samples).
    #[arg(long, requires = "source", value_parser = PointsSpec::parser())]
    pub pred: Option<PointsSpec>,
    /// Observed target points, drawn under the predictions.
    #[arg(long, value_parser = PointsSpec::parser())]
    pub target: Option<PointsSpec>,
    /// Colour the source points and their predictions by a label, one per source point:
    /// LABELS.csv[:column] or obs/COLUMN of the --source .h5ad (as scanpy's color=).
    #[arg(long, requires = "source", value_name = "LABELS", value_parser = LabelsSpec::parser())]
    pub color: Option<LabelsSpec>,
    /// Source points whose samples are followed by lines (or colours).
    #[arg(long, default_value_t = 8)]
    pub links: usize,
    /// 2: a flat scatter; 3: a 3-D view (the first three principal components beyond three
    /// features).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub dims: u8,
}

/// Checks that `labels` (given with `flag`) has one label per source point.
pub fn check_labels(flag: &str, labels: &[String], n: usize) -> Result<(), CliError> {
    if labels.len() == n {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "{flag} has {} labels for {n} source points",
        labels.len()
    )))
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
    let inputs: Vec<(&str, &std::path::Path)> = [
        ("--source", &args.source),
        ("--pred", &args.pred),
        ("--target", &args.target),
    ]
    .into_iter()
    .filter_map(|(f, p)| p.as_ref().map(|p| (f, p.path())))
    .collect();
    crate::io::check_distinct_paths(&inputs, &[("--out", &args.out)])?;
    if let Some(model) = &args.model {
        loss_curve(&model_losses(model)?, &args.out)?;
    } else if let (Some(source_path), Some(pred)) = (&args.source, &args.pred) {
        let source = crate::io::read_points::<f32>(source_path, "source")?;
        let pred = crate::io::read_predictions(pred, "pred")?;
        let target = match &args.target {
            Some(t) => Some(crate::io::read_points::<f32>(t, "target")?),
            None => None,
        };
        let labels = match &args.color {
            Some(c) => {
                let labels =
                    crate::io::Side::new(source_path, None, "--source")?.labels(c, "color")?;
                check_labels("--color", &labels, source.nrows())?;
                Some(labels)
            }
            None => None,
        };
        scatter(
            &Scatter {
                source: source.view(),
                pred: pred.view(),
                target: target.as_ref().map(|t| t.view()),
                links: args.links,
                dims: args.dims.into(),
                labels: labels.as_deref(),
            },
            &args.out,
        )?;
    }
    Ok(PlotReport {
        figure: args.out.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_stay_short_at_any_scale() {
        assert_eq!(tick(&0.25, 1.0), "0.25");
        assert_eq!(tick(&12.5, 1.0), "12.5");
        assert_eq!(tick(&3.0, 1.0), "3");
        assert_eq!(tick(&0.0, 1.0), "0");
        assert_eq!(tick(&-0.001, 1.0), "-1.0e-3");
        assert_eq!(tick(&100000.0, 1.0), "1.0e5");
        // Rounding error at zero on an axis of span 0.9; a real tiny value on a tiny axis.
        assert_eq!(tick(&-5.6e-17, 0.9), "0");
        assert_eq!(tick(&3e-12, 1e-11), "3.0e-12");
    }

    #[test]
    fn projection_finds_the_leading_directions() {
        // Spread 3, 2 and 1 along features 2, 4 and 0 of five (the others constant).
        let x = Array2::from_shape_fn((64, 5), |(i, j)| {
            let (a, b, c) = ((i % 4) as f32, ((i / 4) % 4) as f32, (i / 16) as f32);
            match j {
                2 => 3.0 * (a - 1.5) + 7.0,
                4 => 2.0 * (b - 1.5),
                0 => c - 1.5,
                _ => 5.0,
            }
        });
        let p = Projection::new(x.view(), 3);
        assert_eq!(p.names, ["PC1", "PC2", "PC3"]);
        for (axis, feature) in [(0, 2), (1, 4), (2, 0)] {
            assert!((p.axes[feature][axis].abs() - 1.0).abs() < 1e-9, "{axis}");
        }
        let flat = Projection::new(x.view(), 2);
        assert_eq!(flat.axes[2].len(), 2);
        // The projected spread of PC1 is that of feature 2: 3 * 1.5 from the mean.
        let pts = p.points(x.view());
        let max = pts.iter().map(|q| q[0].abs()).fold(0.0, f64::max);
        assert!((max - 4.5).abs() < 1e-5, "{max}");
        // Few features: the coordinates themselves, the missing axis zero.
        let two = Projection::new(x.slice(ndarray::s![.., ..2]), 3);
        assert_eq!(
            two.point(x.row(5).slice(ndarray::s![..2])),
            [x[[5, 0]] as f64, x[[5, 1]] as f64, 0.0]
        );
    }
}

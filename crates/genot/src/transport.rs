//! Transport of new points through a fitted model ([`Genot::transport`]): latent draws,
//! the ODE integration in chunks of rows, and the samples' mean, spread and weights.

use crate::error::{GenotError, Result};
use crate::model::Genot;
use crate::ode::{adaptive_rows, integrate, Solver};
use ndarray::{s, Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use rand::SeedableRng;

/// The velocity field's condition along a transport, in the form its engine takes.
enum Condition<'a> {
    /// The condition input rows (the burn engine).
    Input(ArrayView2<'a, f32>),
    /// The native engine's [`NativeField::condition_part`] of those rows.
    Part(Array2<f32>),
}

/// How [`Genot::transport`] samples.
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    /// Samples per source point (`K`).
    pub samples: usize,
    pub solver: Solver,
    pub seed: u64,
    /// Rows (points x samples) integrated together.
    pub chunk: usize,
    /// The caller will use [`Transported::uncertainty`], which needs `samples >= 2` (with
    /// one sample it is zero by construction): refused otherwise.
    pub uncertainty: bool,
}

impl TransportOptions {
    /// The default rows integrated together.
    pub const CHUNK: usize = 8192;

    /// Refuses options that sample nothing, or an uncertainty from one sample.
    pub fn check(&self) -> Result<()> {
        if self.samples == 0 {
            return Err(GenotError::Invalid("samples must be at least 1".into()));
        }
        if self.uncertainty && self.samples < 2 {
            return Err(GenotError::Invalid(format!(
                "the per-point uncertainty compares samples of the same point, so it needs at least 2 samples per point, got {}",
                self.samples
            )));
        }
        Ok(())
    }
}

impl Default for TransportOptions {
    /// The options of [`TransportSettings::default`](crate::settings::TransportSettings):
    /// one sample, Dopri5 at rtol 1e-3 / atol 1e-6 (SPEC section 3), seed 0.
    fn default() -> Self {
        crate::settings::TransportSettings::default()
            .options()
            .expect("the default transport settings are valid")
    }
}

/// What [`Genot::transport`] returns, in target units.
#[derive(Debug, Clone)]
pub struct Transported {
    /// `n x K x q`: `K` samples of `y | x` per source point.
    pub samples: Array3<f32>,
    /// `n x q`: the mean of the samples (the conditional mean when `K` is large).
    pub mean: Array2<f32>,
    /// `n`: spread of the samples. Same-space models: the variance, over the samples, of the
    /// cosine similarity between each displacement `y_k - x` and the mean displacement;
    /// otherwise the mean per-feature variance of the samples. 0 with one sample.
    pub uncertainty: Array1<f32>,
    /// U-GENOT: `eta(x)`, the mass each source point keeps (1 = unchanged).
    pub weights: Option<Array1<f32>>,
    /// Velocity evaluations per chunk, summed.
    pub evaluations: usize,
}

impl Genot {
    /// Integrates from latent noise `z` to samples of `y | x` (normalised units) under
    /// `condition` (one row per row of `z`). The adaptive solvers adapt one step size per row.
    fn integrate_with(
        &self,
        z: Array2<f32>,
        condition: &Condition<'_>,
        solver: Solver,
    ) -> Result<(Array2<f32>, usize)> {
        let (y, stats) = match (solver.adaptive(), &self.native, condition) {
            // The condition's share is constant along each trajectory: computed once.
            (Some((tableau, rtol, atol)), Some(native), Condition::Part(part)) => adaptive_rows(
                tableau,
                |rows, t, x| {
                    let times: Vec<f32> = t.iter().map(|&v| v as f32).collect();
                    native.forward_with_condition(
                        &times,
                        x.view(),
                        part.select(Axis(0), rows).view(),
                    )
                },
                z,
                0.0,
                1.0,
                rtol,
                atol,
            )?,
            (None, Some(native), Condition::Part(part)) => integrate(
                |t, x| {
                    native.forward_with_condition(&vec![t as f32; x.nrows()], x.view(), part.view())
                },
                z,
                0.0,
                1.0,
                solver,
            )?,
            (Some((tableau, rtol, atol)), _, Condition::Input(cond)) => adaptive_rows(
                tableau,
                |rows, t, x| self.velocity_rows(t, x, cond.select(Axis(0), rows).view()),
                z,
                0.0,
                1.0,
                rtol,
                atol,
            )?,
            (None, _, Condition::Input(cond)) => integrate(
                |t, x| self.velocity_rows(&vec![t; x.nrows()], x, *cond),
                z,
                0.0,
                1.0,
                solver,
            )?,
            (_, None, Condition::Part(_)) => {
                unreachable!("a condition part comes from the native engine")
            }
        };
        Ok((y, stats.evaluations))
    }

    /// Samples `y ~ pi(. | x)` for every row of `x` (source units), with conditions when the
    /// model is conditional.
    pub fn transport(
        &self,
        x: ArrayView2<f32>,
        conditions: Option<&[String]>,
        opts: &TransportOptions,
    ) -> Result<Transported> {
        self.check_source(x)?;
        opts.check()?;
        crate::resources::check(&crate::resources::transport_need(
            &self.config,
            x.nrows(),
            opts.samples,
            opts.chunk,
        ))?;
        let cidx = self.condition_indices(conditions, x.nrows())?;
        let norm = &self.config.normalization;
        let (n, k, q) = (x.nrows(), opts.samples, self.config.target_dim);
        let xn = norm.normalize_source(x);
        let cond_points = self.condition_input(xn.view(), &cidx);
        // Row r = point r / k, sample r % k.
        let rows: Vec<usize> = (0..n * k).map(|r| r / k).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
        let z: Array2<f32> = crate::flow::latents(n * k, q, &mut rng);
        let mut out = Array2::<f32>::zeros((n * k, q));
        let mut evaluations = 0;
        let chunk = opts.chunk.max(1);
        for start in (0..n * k).step_by(chunk) {
            let end = (start + chunk).min(n * k);
            let points = &rows[start..end];
            let input;
            let condition = match &self.native {
                // The condition branch runs once per point of the chunk (its points are
                // rows first..=last), not once per sample, on the native engine.
                Some(native) => {
                    let first = points[0];
                    let last = points[points.len() - 1];
                    let part = native.condition_part(cond_points.slice(s![first..=last, ..]));
                    let local: Vec<usize> = points.iter().map(|&p| p - first).collect();
                    Condition::Part(part.select(Axis(0), &local))
                }
                None => {
                    input = cond_points.select(Axis(0), points);
                    Condition::Input(input.view())
                }
            };
            let (y, ev) = self.integrate_with(
                z.slice(s![start..end, ..]).to_owned(),
                &condition,
                opts.solver,
            )?;
            evaluations += ev;
            out.slice_mut(s![start..end, ..]).assign(&y);
        }
        let y = norm.denormalize_target(out.view());
        let samples = y.into_shape_with_order((n, k, q)).expect("n k q rows");
        let mean = samples.mean_axis(Axis(1)).expect("k >= 1");
        let same_space = self.config.source_dim == q;
        let uncertainty = spread(samples.view(), mean.view(), x, same_space);
        let weights = self.source_weights(x, conditions)?;
        if let Some(r) = samples
            .outer_iter()
            .position(|s| s.iter().any(|v| !v.is_finite()))
        {
            return Err(GenotError::Invalid(format!(
                "the samples of point {r} are not finite"
            )));
        }
        Ok(Transported {
            samples,
            mean,
            uncertainty,
            weights,
            evaluations,
        })
    }
}

/// The per-point spread of `K` samples (`n x K x q`) with their mean (`n x q`): for a
/// same-space model (`x`, `n x q`, the source points) the variance over the samples of the
/// cosine between each displacement `y_k - x` and the mean displacement; otherwise the
/// mean per-feature variance of the samples. 0 with one sample.
fn spread(
    samples: ArrayView3<f32>,
    mean: ArrayView2<f32>,
    x: ArrayView2<f32>,
    same_space: bool,
) -> Array1<f32> {
    let (n, k, q) = samples.dim();
    Array1::from_iter((0..n).map(|i| {
        let si = samples.index_axis(Axis(0), i);
        if k < 2 {
            0.0
        } else if same_space {
            let xi = x.row(i);
            let md = &mean.row(i) - &xi;
            let cos: Vec<f64> = si
                .outer_iter()
                .map(|yk| {
                    let d = &yk - &xi;
                    let (dot, a, b) =
                        d.iter()
                            .zip(md.iter())
                            .fold((0.0, 0.0, 0.0), |(s, a, b), (&u, &v)| {
                                (s + (u * v) as f64, a + (u * u) as f64, b + (v * v) as f64)
                            });
                    if a > 0.0 && b > 0.0 {
                        dot / (a.sqrt() * b.sqrt())
                    } else {
                        1.0
                    }
                })
                .collect();
            variance(&cos) as f32
        } else {
            let m = mean.row(i);
            let total: f64 = si
                .outer_iter()
                .map(|yk| {
                    yk.iter()
                        .zip(m.iter())
                        .map(|(&a, &b)| ((a - b) as f64).powi(2))
                        .sum::<f64>()
                })
                .sum();
            (total / ((k - 1) * q) as f64) as f32
        }
    }))
}

fn variance(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
}

#[cfg(test)]
mod tests {
    use crate::configure::{make_config, Architecture};
    use crate::ode::Solver;
    use crate::{Genot, MatchingConfig, TrainConfig, TrainingData, TransportOptions};
    use burn::tensor::Device;
    use ndarray::Array2;

    /// The native engine's transport (the condition part computed once per point, for every
    /// solver) gives the samples of the plain forward pass on every row (burn's), for a
    /// conditional model with several samples per point.
    #[test]
    fn the_condition_computed_once_per_point_gives_the_same_samples() {
        let x = Array2::from_shape_fn((12, 3), |(i, j)| ((i * 5 + j * 3) % 7) as f32 - 3.0);
        let labels: Vec<String> = (0..12).map(|i| ["a", "b"][i % 2].to_string()).collect();
        let data = TrainingData::new(x.clone(), x.clone()).with_conditions(labels.clone(), labels);
        let arch = Architecture {
            hidden: 8,
            layers: 2,
            time_frequencies: 4,
            ..Architecture::default()
        };
        let training = TrainConfig {
            batch_size: 4,
            ..TrainConfig::default()
        };
        let config = make_config(&data, MatchingConfig::default(), training, arch).unwrap();
        let native = Genot::from_config(config, None, &Device::flex()).unwrap();
        assert!(native.native.is_some());
        let burn = Genot {
            native: None,
            ..Genot::from_config(
                native.config.clone(),
                Some(&native.weights()),
                &Device::flex(),
            )
            .unwrap()
        };
        let conditions: Vec<String> = (0..12).map(|i| ["b", "a"][i % 2].to_string()).collect();
        for solver in [
            Solver::Euler { steps: 6 },
            Solver::Dopri5 {
                rtol: 1e-4,
                atol: 1e-6,
            },
        ] {
            let opts = TransportOptions {
                samples: 3,
                solver,
                seed: 4,
                chunk: 10, // chunks that cut through a point's samples
                ..TransportOptions::default()
            };
            let a = native
                .transport(x.view(), Some(&conditions), &opts)
                .unwrap();
            let b = burn.transport(x.view(), Some(&conditions), &opts).unwrap();
            let worst = (&a.samples - &b.samples)
                .mapv(f32::abs)
                .fold(0.0f32, |m, &v| m.max(v));
            assert!(worst < 1e-4, "{solver:?}: {worst}");
        }
    }
}

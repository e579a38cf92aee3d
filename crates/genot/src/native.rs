//! A hand-written CPU implementation of the velocity field's forward pass, backward pass and
//! AdamW step: the same network and the same weight names as [`crate::velocity`], without an
//! autodiff graph.
//!
//! Why: on a CPU, burn's Flex backend spends most of a training step in element-wise
//! kernels (SiLU through libm's `expf`, one pass per operation, plus graph bookkeeping): one
//! step of the benchmark network (215k parameters, batch 256) takes 8.7 ms, more than an
//! entire OTT-JAX iteration. Here every layer is one GEMM (the `gemm` crate, as burn uses)
//! plus one fused pass (bias, SiLU and its derivative with a vectorised `exp`), so a step
//! costs little more than its matrix products. The gradients are checked against burn's
//! autodiff in the tests, and both engines read and write the same safetensors names.

use crate::params::{NamedArray, Weights};
use crate::velocity::VelocityFieldConfig;
use genot_ot::real::Real;
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};

/// Rows per block of the gradient computation: fixed, so that the order of the sums (and so
/// the rounding) does not depend on the number of threads.
const GRAD_BLOCK_ROWS: usize = 64;

/// `dst (+)= a b` with the `gemm` crate, any strides.
fn matmul(
    mut dst: ArrayViewMut2<f32>,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    accumulate: bool,
    threads: usize,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(k == k2 && dst.dim() == (m, n), "matmul shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let par = if threads > 1 && m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (ds, as_, bs) = (
        dst.strides().to_vec(),
        a.strides().to_vec(),
        b.strides().to_vec(),
    );
    // SAFETY: the pointers and strides come from live ndarray views of the checked shapes;
    // `dst` is borrowed mutably and does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            ds[1],
            ds[0],
            accumulate,
            a.as_ptr(),
            as_[1],
            as_[0],
            b.as_ptr(),
            bs[1],
            bs[0],
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// `a <- a + bias` row by row, then `s = sigmoid(a)`, `h = a s` (SiLU).
fn bias_silu(a: &mut Array2<f32>, bias: &Array1<f32>, s: &mut Array2<f32>, h: &mut Array2<f32>) {
    let b = bias.as_slice().expect("contiguous bias");
    let w = b.len();
    let (a, s, h) = (
        a.as_slice_mut().expect("contiguous"),
        s.as_slice_mut().expect("contiguous"),
        h.as_slice_mut().expect("contiguous"),
    );
    for ((ar, sr), hr) in a
        .chunks_exact_mut(w)
        .zip(s.chunks_exact_mut(w))
        .zip(h.chunks_exact_mut(w))
    {
        silu_row(ar, b, sr, hr);
    }
}

/// `a <- SiLU(a + bias)` row by row (inference: nothing kept for a backward pass).
fn bias_silu_inplace(a: &mut Array2<f32>, bias: &Array1<f32>) {
    silu_inplace(
        a.as_slice_mut().expect("contiguous"),
        bias.as_slice().expect("contiguous bias"),
    );
}

// The SiLU kernels: generic bodies (used with f32) built for AVX-512, AVX2 and portable
// code by genot-ot's one dispatch macro. No fused multiply-adds: the arithmetic is the
// same in every build, so the results are too.
#[inline(always)]
fn silu_row_impl<F: Real, const FMA: bool>(a: &mut [F], b: &[F], s: &mut [F], h: &mut [F]) {
    let one = F::one();
    for i in 0..a.len() {
        let x = a[i] + b[i];
        let sig = one / (one + (-x).fast_exp());
        a[i] = x;
        s[i] = sig;
        h[i] = x * sig;
    }
}

/// Every row of `a` (row length `b.len()`) in one call, so the dispatch is paid once.
#[inline(always)]
fn silu_inplace_impl<F: Real, const FMA: bool>(a: &mut [F], b: &[F]) {
    let one = F::one();
    for row in a.chunks_exact_mut(b.len()) {
        for (v, &bias) in row.iter_mut().zip(b) {
            let x = *v + bias;
            *v = x / (one + (-x).fast_exp());
        }
    }
}

/// `d <- d s (1 + a (1 - s))`: the SiLU derivative applied to an incoming gradient.
#[inline(always)]
fn silu_grad_impl<F: Real, const FMA: bool>(d: &mut [F], a: &[F], s: &[F]) {
    let one = F::one();
    for i in 0..d.len() {
        let sg = s[i];
        d[i] = d[i] * (sg * (one + a[i] * (one - sg)));
    }
}

genot_ot::dispatch!(
    /// `a <- a + b`, `s = sigmoid(a)`, `h = a s`, value by value.
    fn silu_row<F: Real>(a: &mut [F], b: &[F], s: &mut [F], h: &mut [F]) -> () => silu_row_impl
);
genot_ot::dispatch!(
    /// `d <- d s (1 + a (1 - s))`.
    fn silu_grad<F: Real>(d: &mut [F], a: &[F], s: &[F]) -> () => silu_grad_impl
);
genot_ot::dispatch!(
    /// `a <- SiLU(a + b)` row by row.
    fn silu_inplace<F: Real>(a: &mut [F], b: &[F]) -> () => silu_inplace_impl
);

/// One dense layer, weights `input x output` (burn's row layout).
#[derive(Debug, Clone)]
struct Dense {
    w: Array2<f32>,
    b: Array1<f32>,
}

/// Gradients or Adam moments of all layers.
#[derive(Debug, Clone)]
struct Grads(Vec<Dense>);

/// Activations kept for the backward pass.
struct Cache {
    /// Input of each layer (branch inputs, hidden outputs, the concatenation).
    inputs: Vec<Array2<f32>>,
    /// Pre-activation and sigmoid of each hidden layer.
    pre: Vec<Array2<f32>>,
    sig: Vec<Array2<f32>>,
}

/// AdamW settings (burn's semantics: decoupled decay `w (1 - lr wd)`, then the Adam step).
#[derive(Debug, Clone, Copy)]
pub struct AdamW {
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    /// Clip each parameter tensor's gradient to this L2 norm.
    pub grad_clip: Option<f32>,
}

/// The velocity field with its optimizer state, on the CPU.
#[derive(Debug, Clone)]
pub struct NativeField {
    config: VelocityFieldConfig,
    layers: Vec<Dense>,
    moments: Option<(Grads, Grads)>,
    step: u64,
    /// Threads for the matrix products (the caller's rayon pool).
    pub threads: usize,
}

const BRANCHES: [&str; 4] = ["time", "condition", "latent", "joint"];

impl NativeField {
    /// Layer `l` of branch `b` (0 time, 1 condition, 2 latent, 3 joint); the output layer is
    /// index `4 L`.
    fn names(config: &VelocityFieldConfig) -> Vec<String> {
        let mut n: Vec<String> = BRANCHES
            .iter()
            .flat_map(|b| (0..config.layers).map(move |l| format!("{b}.layers.{l}")))
            .collect();
        n.push("output".into());
        n
    }

    /// Builds the field from weights named as [`crate::params::export`] names a
    /// [`crate::velocity::VelocityField`].
    pub fn from_weights(config: VelocityFieldConfig, weights: &Weights) -> Result<Self, String> {
        let (w, l) = (config.hidden, config.layers);
        let mut layers = vec![];
        for (i, name) in Self::names(&config).iter().enumerate() {
            let branch = i / l.max(1);
            let fan_in = if i == 4 * l || i % l != 0 {
                w
            } else {
                match branch {
                    0 => 2 * config.time_frequencies,
                    1 => config.condition_dim,
                    2 => config.target_dim,
                    _ => 3 * w,
                }
            };
            let out = if i == 4 * l { config.target_dim } else { w };
            let get = |suffix: &str, shape: &[usize]| -> Result<&NamedArray, String> {
                let key = format!("{name}.{suffix}");
                let a = weights
                    .get(&key)
                    .ok_or_else(|| format!("missing weights: {key}"))?;
                if a.shape != shape {
                    return Err(format!("{key} has shape {:?}, expected {shape:?}", a.shape));
                }
                Ok(a)
            };
            let wa = get("weight", &[fan_in, out])?;
            let ba = get("bias", &[out])?;
            layers.push(Dense {
                w: Array2::from_shape_vec((fan_in, out), wa.values.clone()).expect("checked shape"),
                b: Array1::from_vec(ba.values.clone()),
            });
        }
        if weights.len() != 2 * layers.len() {
            return Err(format!(
                "{} weight tensors for a field with {} layers",
                weights.len(),
                layers.len()
            ));
        }
        Ok(NativeField {
            config,
            layers,
            moments: None,
            step: 0,
            threads: 1,
        })
    }

    pub fn config(&self) -> VelocityFieldConfig {
        self.config
    }

    /// The weights under the names of [`crate::velocity::VelocityField`].
    pub fn weights(&self) -> Weights {
        let mut out = Weights::new();
        for (name, d) in Self::names(&self.config).iter().zip(&self.layers) {
            out.insert(
                format!("{name}.weight"),
                NamedArray {
                    shape: d.w.shape().to_vec(),
                    values: d.w.iter().copied().collect(),
                },
            );
            out.insert(
                format!("{name}.bias"),
                NamedArray {
                    shape: vec![d.b.len()],
                    values: d.b.to_vec(),
                },
            );
        }
        out
    }

    /// One bias-corrected EMA update of `ema` (weights under the names of
    /// [`NativeField::weights`]) toward the current weights at `rate`
    /// ([`params::ema_rate`]), read in place: no copy of the weights.
    pub fn blend_into(&self, ema: &mut Weights, rate: f32) {
        for (name, d) in Self::names(&self.config).iter().zip(&self.layers) {
            if let Some(e) = ema.get_mut(&format!("{name}.weight")) {
                crate::params::ema_blend(&mut e.values, d.w.iter(), rate);
            }
            if let Some(e) = ema.get_mut(&format!("{name}.bias")) {
                crate::params::ema_blend(&mut e.values, d.b.iter(), rate);
            }
        }
    }

    /// Adam moments and step count, named `m.*`, `v.*` (for checkpoints).
    pub fn optimizer_state(&self) -> (Weights, u64) {
        let mut out = Weights::new();
        if let Some((m, v)) = &self.moments {
            for (prefix, g) in [("m", m), ("v", v)] {
                let f = NativeField {
                    layers: g.0.clone(),
                    moments: None,
                    ..self.clone()
                };
                out.extend(crate::params::prefixed(prefix, f.weights()));
            }
        }
        (out, self.step)
    }

    /// Restores what [`NativeField::optimizer_state`] returned.
    pub fn set_optimizer_state(&mut self, state: &Weights, step: u64) -> Result<(), String> {
        if step == 0 {
            self.moments = None;
            self.step = 0;
            return Ok(());
        }
        let m = NativeField::from_weights(self.config, &crate::params::under("m", state))?;
        let v = NativeField::from_weights(self.config, &crate::params::under("v", state))?;
        self.moments = Some((Grads(m.layers), Grads(v.layers)));
        self.step = step;
        Ok(())
    }

    /// `[cos(2 pi k t), sin(2 pi k t)]`, `k = 0 .. F - 1`, by rotating in f64: eight
    /// independent chains, chain `j` holding `e^{i (8 m + j) 2 pi t}` and stepping by
    /// `e^{i 8 2 pi t}` (short chains, so the error stays near 1e-14, and they vectorise).
    fn time_features(&self, t: &[f32]) -> Array2<f32> {
        const CHAINS: usize = 8;
        let f = self.config.time_frequencies;
        let mut out = Array2::<f32>::zeros((t.len(), 2 * f));
        for (mut row, &ti) in out.outer_iter_mut().zip(t) {
            let (cos_out, sin_out) = row.as_slice_mut().expect("contiguous rows").split_at_mut(f);
            let (s1, c1) = (2.0 * std::f64::consts::PI * ti as f64).sin_cos();
            let (mut c, mut s) = ([0.0f64; CHAINS], [0.0f64; CHAINS]);
            let (mut cs, mut ss) = (1.0f64, 0.0f64);
            for j in 0..CHAINS {
                (c[j], s[j]) = (cs, ss);
                (cs, ss) = (cs * c1 - ss * s1, ss * c1 + cs * s1);
            }
            for (cb, sb) in cos_out.chunks_mut(CHAINS).zip(sin_out.chunks_mut(CHAINS)) {
                for j in 0..cb.len() {
                    cb[j] = c[j] as f32;
                    sb[j] = s[j] as f32;
                }
                for j in 0..CHAINS {
                    (c[j], s[j]) = (c[j] * cs - s[j] * ss, s[j] * cs + c[j] * ss);
                }
            }
        }
        out
    }

    /// Runs the hidden layers `range` from `x`; records the cache when given (training),
    /// otherwise applies SiLU in place (inference).
    fn branch(
        &self,
        mut x: Array2<f32>,
        range: std::ops::Range<usize>,
        mut cache: Option<&mut Cache>,
        threads: usize,
    ) -> Array2<f32> {
        for i in range {
            let d = &self.layers[i];
            let n = x.nrows();
            let mut a = Array2::<f32>::zeros((n, d.w.ncols()));
            matmul(a.view_mut(), x.view(), d.w.view(), false, threads);
            match cache.as_deref_mut() {
                Some(c) => {
                    let mut sg = Array2::<f32>::zeros(a.dim());
                    let mut h = Array2::<f32>::zeros(a.dim());
                    bias_silu(&mut a, &d.b, &mut sg, &mut h);
                    c.inputs[i] = x;
                    c.pre[i] = a;
                    c.sig[i] = sg;
                    x = h;
                }
                None => {
                    bias_silu_inplace(&mut a, &d.b);
                    x = a;
                }
            }
        }
        x
    }

    fn forward_cached(
        &self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        mut cache: Option<&mut Cache>,
        threads: usize,
    ) -> Array2<f32> {
        let l = self.config.layers;
        let w = self.config.hidden;
        let n = xt.nrows();
        let mut joint_in = Array2::<f32>::zeros((n, 3 * w));
        let time = self.branch(self.time_features(t), 0..l, cache.as_deref_mut(), threads);
        joint_in.slice_mut(s![.., ..w]).assign(&time);
        let h = self.branch(cond.to_owned(), l..2 * l, cache.as_deref_mut(), threads);
        joint_in.slice_mut(s![.., w..2 * w]).assign(&h);
        let lat = self.branch(xt.to_owned(), 2 * l..3 * l, cache.as_deref_mut(), threads);
        joint_in.slice_mut(s![.., 2 * w..]).assign(&lat);
        let h = self.branch(joint_in, 3 * l..4 * l, cache.as_deref_mut(), threads);
        let v = self.output(&h, threads);
        if let Some(c) = cache {
            c.inputs[4 * l] = h;
        }
        v
    }

    /// The output layer (linear) on the trunk's last hidden activations.
    fn output(&self, h: &Array2<f32>, threads: usize) -> Array2<f32> {
        let out = &self.layers[4 * self.config.layers];
        let mut v = Array2::<f32>::zeros((h.nrows(), self.config.target_dim));
        matmul(v.view_mut(), h.view(), out.w.view(), false, threads);
        v += &out.b;
        v
    }

    /// Runs `f` on row blocks in parallel when `threads > 1` and stacks the results.
    fn by_rows(&self, n: usize, f: impl Fn(usize, usize) -> Array2<f32> + Sync) -> Array2<f32> {
        if self.threads <= 1 || n < 128 {
            return f(0, n);
        }
        use rayon::prelude::*;
        let size = n.div_ceil(self.threads).max(64);
        let starts: Vec<usize> = (0..n).step_by(size).collect();
        let parts: Vec<Array2<f32>> = starts
            .par_iter()
            .map(|&a| f(a, (a + size).min(n)))
            .collect();
        let views: Vec<ArrayView2<f32>> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views).expect("same widths")
    }

    /// `v(t, x_t | condition)` for a batch (`t` one time per row), in parallel row blocks
    /// when `threads > 1`.
    pub fn forward(&self, t: &[f32], xt: ArrayView2<f32>, cond: ArrayView2<f32>) -> Array2<f32> {
        self.by_rows(xt.nrows(), |a, e| {
            let c = cond.slice(s![a..e, ..]);
            self.forward_cached(&t[a..e], xt.slice(s![a..e, ..]), c, None, 1)
        })
    }

    /// The condition's share of the trunk's first pre-activation, `h_c(cond) W_c` (the
    /// condition branch's output times its rows of the trunk's first weights): it does not
    /// change along an ODE trajectory, so transport computes it once and then calls
    /// [`NativeField::forward_with_condition`] at every stage.
    pub fn condition_part(&self, cond: ArrayView2<f32>) -> Array2<f32> {
        let (l, w) = (self.config.layers, self.config.hidden);
        self.by_rows(cond.nrows(), |a, e| {
            let h = self.branch(cond.slice(s![a..e, ..]).to_owned(), l..2 * l, None, 1);
            let mut part = Array2::<f32>::zeros((e - a, w));
            let trunk = &self.layers[3 * l].w;
            matmul(
                part.view_mut(),
                h.view(),
                trunk.slice(s![w..2 * w, ..]),
                false,
                1,
            );
            part
        })
    }

    /// [`NativeField::forward`] from a precomputed [`NativeField::condition_part`] (one row
    /// per row of `xt`): the same velocities up to rounding, without the condition branch
    /// and its share of the trunk's first product (about a tenth of the work).
    pub fn forward_with_condition(
        &self,
        t: &[f32],
        xt: ArrayView2<f32>,
        part: ArrayView2<f32>,
    ) -> Array2<f32> {
        let (l, w) = (self.config.layers, self.config.hidden);
        self.by_rows(xt.nrows(), |a, e| {
            let time = self.branch(self.time_features(&t[a..e]), 0..l, None, 1);
            let lat = self.branch(xt.slice(s![a..e, ..]).to_owned(), 2 * l..3 * l, None, 1);
            let first = &self.layers[3 * l];
            let mut pre = part.slice(s![a..e, ..]).to_owned();
            matmul(
                pre.view_mut(),
                time.view(),
                first.w.slice(s![..w, ..]),
                true,
                1,
            );
            matmul(
                pre.view_mut(),
                lat.view(),
                first.w.slice(s![2 * w.., ..]),
                true,
                1,
            );
            bias_silu_inplace(&mut pre, &first.b);
            let h = self.branch(pre, 3 * l + 1..4 * l, None, 1);
            self.output(&h, 1)
        })
    }

    /// The loss `mean((v - u)^2)` and its gradient with respect to every weight. The batch is
    /// split into row blocks of [`GRAD_BLOCK_ROWS`] whatever the number of threads; with
    /// `threads > 1` the blocks are computed in parallel (one GEMM thread each, which scales
    /// better than threading each small product), and their gradients are always summed in
    /// block order, so the result is the same, bit for bit, with any number of threads.
    fn loss_and_grads(
        &self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
    ) -> (f32, Grads) {
        let n = xt.nrows();
        let count = (n * self.config.target_dim) as f32;
        let ranges: Vec<(usize, usize)> = (0..n.div_ceil(GRAD_BLOCK_ROWS).max(1))
            .map(|b| (b * GRAD_BLOCK_ROWS, ((b + 1) * GRAD_BLOCK_ROWS).min(n)))
            .collect();
        let one = |&(a, e): &(usize, usize)| {
            self.block_grads(
                &t[a..e],
                xt.slice(s![a..e, ..]),
                cond.slice(s![a..e, ..]),
                u.slice(s![a..e, ..]),
                count,
            )
        };
        let parts: Vec<(f64, Grads)> = if ranges.len() == 1 || self.threads <= 1 {
            ranges.iter().map(one).collect()
        } else {
            use rayon::prelude::*;
            ranges.par_iter().map(one).collect()
        };
        let mut parts = parts.into_iter();
        let (mut sq, mut grads) = parts.next().expect("at least one block");
        for (s2, g2) in parts {
            sq += s2;
            for (d, e) in grads.0.iter_mut().zip(g2.0) {
                d.w += &e.w;
                d.b += &e.b;
            }
        }
        ((sq / count as f64) as f32, grads)
    }

    /// Sum of squared errors of a row block and its gradient, scaled for a mean over `count`.
    fn block_grads(
        &self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
        count: f32,
    ) -> (f64, Grads) {
        let nl = self.layers.len();
        let l = self.config.layers;
        let w = self.config.hidden;
        let mut cache = Cache {
            inputs: vec![Array2::zeros((0, 0)); nl],
            pre: vec![Array2::zeros((0, 0)); nl],
            sig: vec![Array2::zeros((0, 0)); nl],
        };
        let v = self.forward_cached(t, xt, cond, Some(&mut cache), 1);
        let mut dv = v - u;
        let sq = dv.iter().map(|d| (d * d) as f64).sum::<f64>();
        dv *= 2.0 / count;
        let mut grads: Vec<Dense> = self
            .layers
            .iter()
            .map(|d| Dense {
                w: Array2::zeros(d.w.dim()),
                b: Array1::zeros(d.b.len()),
            })
            .collect();
        // Output layer.
        let mut dh = self.layer_backward(4 * l, dv, &cache, &mut grads, true);
        // Joint block, then its input split into the three branches.
        for i in (3 * l..4 * l).rev() {
            silu_grad(
                dh.as_slice_mut().expect("contiguous"),
                cache.pre[i].as_slice().expect("contiguous"),
                cache.sig[i].as_slice().expect("contiguous"),
            );
            dh = self.layer_backward(i, dh, &cache, &mut grads, true);
        }
        for b in 0..3 {
            let mut d = dh.slice(s![.., b * w..(b + 1) * w]).to_owned();
            for i in (b * l..(b + 1) * l).rev() {
                silu_grad(
                    d.as_slice_mut().expect("contiguous"),
                    cache.pre[i].as_slice().expect("contiguous"),
                    cache.sig[i].as_slice().expect("contiguous"),
                );
                d = self.layer_backward(i, d, &cache, &mut grads, i > b * l);
            }
        }
        (sq, Grads(grads))
    }

    /// Weight gradients of layer `i` from the gradient `d` of its pre-activation; returns the
    /// gradient of its input when `need_input`.
    fn layer_backward(
        &self,
        i: usize,
        d: Array2<f32>,
        cache: &Cache,
        grads: &mut [Dense],
        need_input: bool,
    ) -> Array2<f32> {
        let x = &cache.inputs[i];
        // Row blocks run in parallel already: one GEMM thread each.
        matmul(grads[i].w.view_mut(), x.t(), d.view(), false, 1);
        grads[i].b = d.sum_axis(Axis(0));
        if !need_input {
            return Array2::zeros((0, 0));
        }
        let mut dx = Array2::<f32>::zeros(x.dim());
        matmul(dx.view_mut(), d.view(), self.layers[i].w.t(), false, 1);
        dx
    }

    /// One AdamW step on the flow-matching loss; returns the loss before the step. The weights
    /// are left untouched when the loss is not finite.
    pub fn train_step(
        &mut self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
        lr: f32,
        opt: &AdamW,
    ) -> f32 {
        let (loss, mut g) = self.loss_and_grads(t, xt, cond, u);
        if !loss.is_finite() {
            return loss;
        }
        if let Some(c) = opt.grad_clip {
            for d in g.0.iter_mut() {
                for a in [
                    d.w.as_slice_mut().expect("contiguous"),
                    d.b.as_slice_mut().expect("contiguous"),
                ] {
                    let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
                    if norm > c {
                        let f = c / (norm + 1e-6);
                        a.iter_mut().for_each(|x| *x *= f);
                    }
                }
            }
        }
        self.step += 1;
        let zeros = || {
            Grads(
                g.0.iter()
                    .map(|d| Dense {
                        w: Array2::zeros(d.w.dim()),
                        b: Array1::zeros(d.b.len()),
                    })
                    .collect(),
            )
        };
        let (m, v) = self.moments.get_or_insert_with(|| (zeros(), zeros()));
        let bc1 = 1.0 - opt.beta1.powi(self.step as i32);
        let bc2 = 1.0 - opt.beta2.powi(self.step as i32);
        let decay = 1.0 - lr * opt.weight_decay;
        for (((p, gr), mm), vv) in self
            .layers
            .iter_mut()
            .zip(&g.0)
            .zip(m.0.iter_mut())
            .zip(v.0.iter_mut())
        {
            let update = |p: &mut f32, g: &f32, m: &mut f32, v: &mut f32| {
                *m = opt.beta1 * *m + (1.0 - opt.beta1) * g;
                *v = opt.beta2 * *v + (1.0 - opt.beta2) * g * g;
                let mh = *m / bc1;
                let vh = *v / bc2;
                *p = *p * decay - lr * mh / (vh.sqrt() + opt.epsilon);
            };
            Zip::from(&mut p.w)
                .and(&gr.w)
                .and(&mut mm.w)
                .and(&mut vv.w)
                .for_each(update);
            Zip::from(&mut p.b)
                .and(&gr.b)
                .and(&mut mm.b)
                .and(&mut vv.b)
                .for_each(update);
        }
        loss
    }

    /// Gradients as named weights (for tests against autodiff).
    pub fn gradients(
        &self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
    ) -> (f32, Weights) {
        let (loss, g) = self.loss_and_grads(t, xt, cond, u);
        let f = NativeField {
            layers: g.0,
            moments: None,
            ..self.clone()
        };
        (loss, f.weights())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rotation recurrence against `sin`/`cos` of each frequency, to f32 rounding.
    #[test]
    fn time_features_match_the_direct_formula() {
        let config = VelocityFieldConfig {
            condition_dim: 1,
            target_dim: 1,
            hidden: 4,
            layers: 1,
            time_frequencies: 131,
        };
        let field = NativeField {
            config,
            layers: vec![],
            moments: None,
            step: 0,
            threads: 1,
        };
        let t = [0.0f32, 1e-4, 0.37, 0.5, 0.999, 1.0];
        let got = field.time_features(&t);
        for (i, &ti) in t.iter().enumerate() {
            for k in 0..131 {
                let a = 2.0 * std::f64::consts::PI * k as f64 * ti as f64;
                let (c, s) = (got[[i, k]] as f64, got[[i, 131 + k]] as f64);
                assert!(
                    (c - a.cos()).abs() < 2e-7,
                    "cos, t {ti}, k {k}: {c} vs {}",
                    a.cos()
                );
                assert!(
                    (s - a.sin()).abs() < 2e-7,
                    "sin, t {ti}, k {k}: {s} vs {}",
                    a.sin()
                );
            }
        }
    }
}

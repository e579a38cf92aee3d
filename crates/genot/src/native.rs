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

pub use crate::adam::AdamW;
use crate::adam::OptimState;
use crate::layers::LayerPlan;
use crate::params::{NamedArray, Weights, WeightsError};
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
pub(crate) struct Dense {
    pub(crate) w: Array2<f32>,
    pub(crate) b: Array1<f32>,
}

impl Dense {
    fn zeros_like(&self) -> Dense {
        Dense {
            w: Array2::zeros(self.w.dim()),
            b: Array1::zeros(self.b.len()),
        }
    }
}

/// Gradients or Adam moments of all layers.
#[derive(Debug, Clone)]
pub(crate) struct Grads(pub(crate) Vec<Dense>);

/// Activations kept for the backward pass.
pub(crate) struct Cache {
    /// Input of each layer (branch inputs, hidden outputs, the concatenation).
    pub(crate) inputs: Vec<Array2<f32>>,
    /// Pre-activation and sigmoid of each hidden layer.
    pub(crate) pre: Vec<Array2<f32>>,
    pub(crate) sig: Vec<Array2<f32>>,
}

impl Cache {
    pub(crate) fn new(layers: usize) -> Self {
        Cache {
            inputs: vec![Array2::zeros((0, 0)); layers],
            pre: vec![Array2::zeros((0, 0)); layers],
            sig: vec![Array2::zeros((0, 0)); layers],
        }
    }
}

/// The dense layers of a network laid out by its [`LayerPlan`], with their AdamW state:
/// what the native velocity field and the native re-weighting networks share.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    pub(crate) plan: LayerPlan,
    pub(crate) dense: Vec<Dense>,
    moments: Option<(Grads, Grads)>,
    step: u64,
}

impl Layers {
    /// From weights named by `plan` (every one present with its shape, nothing more).
    pub(crate) fn from_weights(plan: LayerPlan, weights: &Weights) -> Result<Self, WeightsError> {
        let dense = plan
            .take(weights)?
            .into_iter()
            .map(|(w, b)| Dense {
                w: Array2::from_shape_vec((w.shape[0], w.shape[1]), w.values.clone())
                    .expect("checked shape"),
                b: Array1::from_vec(b.values.clone()),
            })
            .collect();
        Ok(Layers {
            plan,
            dense,
            moments: None,
            step: 0,
        })
    }

    /// `dense` (weights, gradients or moments) under the plan's names.
    pub(crate) fn named(&self, dense: &[Dense]) -> Weights {
        let mut out = Weights::new();
        for (l, d) in self.plan.layers.iter().zip(dense) {
            out.insert(
                l.weight(),
                NamedArray {
                    shape: d.w.shape().to_vec(),
                    values: d.w.iter().copied().collect(),
                },
            );
            out.insert(
                l.bias(),
                NamedArray {
                    shape: vec![d.b.len()],
                    values: d.b.to_vec(),
                },
            );
        }
        out
    }

    pub(crate) fn weights(&self) -> Weights {
        self.named(&self.dense)
    }

    /// Weights, moments and step count.
    pub(crate) fn state(&self) -> OptimState {
        let mut s = OptimState::fresh(self.weights());
        if let Some((m, v)) = &self.moments {
            s.m = self.named(&m.0);
            s.v = self.named(&v.0);
        }
        s.step = self.step;
        s
    }

    /// Restores what [`Layers::state`] returned (from either engine).
    pub(crate) fn set_state(&mut self, state: &OptimState) -> Result<(), WeightsError> {
        let mut loaded = Layers::from_weights(self.plan.clone(), &state.weights)?;
        if state.step > 0 {
            let m = Layers::from_weights(self.plan.clone(), &state.m)?;
            let v = Layers::from_weights(self.plan.clone(), &state.v)?;
            loaded.moments = Some((Grads(m.dense), Grads(v.dense)));
        }
        loaded.step = state.step;
        *self = loaded;
        Ok(())
    }

    /// One bias-corrected EMA update of `ema` toward the current weights at `rate`, read
    /// in place.
    fn blend_into(&self, ema: &mut Weights, rate: f32) {
        for (l, d) in self.plan.layers.iter().zip(&self.dense) {
            if let Some(e) = ema.get_mut(&l.weight()) {
                crate::params::ema_blend(&mut e.values, d.w.iter(), rate);
            }
            if let Some(e) = ema.get_mut(&l.bias()) {
                crate::params::ema_blend(&mut e.values, d.b.iter(), rate);
            }
        }
    }

    /// Zero gradients of every layer.
    pub(crate) fn zero_grads(&self) -> Grads {
        Grads(self.dense.iter().map(Dense::zeros_like).collect())
    }

    /// One AdamW step ([`AdamW`]'s rule) from the gradients `g`.
    pub(crate) fn adam_step(&mut self, mut g: Grads, lr: f32, opt: &AdamW) {
        for d in g.0.iter_mut() {
            opt.clip(d.w.as_slice_mut().expect("contiguous"));
            opt.clip(d.b.as_slice_mut().expect("contiguous"));
        }
        self.step += 1;
        let rule = opt.rule(self.step, lr);
        if self.moments.is_none() {
            self.moments = Some((self.zero_grads(), self.zero_grads()));
        }
        let (m, v) = self.moments.as_mut().expect("set above");
        let update = |p: &mut f32, g: &f32, m: &mut f32, v: &mut f32| rule.update(p, g, m, v);
        for (((p, gr), mm), vv) in self
            .dense
            .iter_mut()
            .zip(&g.0)
            .zip(m.0.iter_mut())
            .zip(v.0.iter_mut())
        {
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
    }

    /// Weight gradients of layer `i` from the gradient `d` of its pre-activation (into
    /// `grads`); returns the gradient of its input when `need_input`.
    pub(crate) fn layer_backward(
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
        matmul(dx.view_mut(), d.view(), self.dense[i].w.t(), false, 1);
        dx
    }

    /// Runs the hidden layers `range` (dense + SiLU) from `x`; records the cache when given
    /// (training), otherwise applies SiLU in place (inference).
    pub(crate) fn hidden(
        &self,
        mut x: Array2<f32>,
        range: std::ops::Range<usize>,
        mut cache: Option<&mut Cache>,
        threads: usize,
    ) -> Array2<f32> {
        for i in range {
            let d = &self.dense[i];
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

    /// Layer `i` without activation (`x W + b`).
    pub(crate) fn linear(&self, i: usize, x: &Array2<f32>, threads: usize) -> Array2<f32> {
        let d = &self.dense[i];
        let mut v = Array2::<f32>::zeros((x.nrows(), d.w.ncols()));
        matmul(v.view_mut(), x.view(), d.w.view(), false, threads);
        v += &d.b;
        v
    }

    /// Back through the hidden layers `range` (dense + SiLU, as [`Layers::hidden`] ran them)
    /// from the gradient `d` of their output; the gradient of their input when
    /// `need_input`.
    pub(crate) fn hidden_backward(
        &self,
        mut d: Array2<f32>,
        range: std::ops::Range<usize>,
        cache: &Cache,
        grads: &mut [Dense],
        need_input: bool,
    ) -> Array2<f32> {
        let first = range.start;
        for i in range.rev() {
            silu_grad(
                d.as_slice_mut().expect("contiguous"),
                cache.pre[i].as_slice().expect("contiguous"),
                cache.sig[i].as_slice().expect("contiguous"),
            );
            d = self.layer_backward(i, d, cache, grads, need_input || i > first);
        }
        d
    }
}

/// A native network kept as [`Layers`] (the engine seam reads its weights and state).
pub(crate) trait HasLayers {
    fn layers(&self) -> &Layers;
    fn layers_mut(&mut self) -> &mut Layers;
}

impl HasLayers for NativeField {
    fn layers(&self) -> &Layers {
        &self.net
    }
    fn layers_mut(&mut self) -> &mut Layers {
        &mut self.net
    }
}

/// The velocity field with its optimizer state, on the CPU.
#[derive(Debug, Clone)]
pub struct NativeField {
    config: VelocityFieldConfig,
    net: Layers,
    /// Threads for the matrix products (the caller's rayon pool).
    pub threads: usize,
}

impl NativeField {
    /// Builds the field from weights named by its [`VelocityFieldConfig::plan`] (as
    /// [`crate::params::export`] names a [`crate::velocity::VelocityField`]).
    pub fn from_weights(
        config: VelocityFieldConfig,
        weights: &Weights,
    ) -> Result<Self, WeightsError> {
        Ok(NativeField {
            config,
            net: Layers::from_weights(config.plan(), weights)?,
            threads: 1,
        })
    }

    pub fn config(&self) -> VelocityFieldConfig {
        self.config
    }

    /// The weights under the names of [`crate::velocity::VelocityField`].
    pub fn weights(&self) -> Weights {
        self.net.weights()
    }

    /// One bias-corrected EMA update of `ema` (weights under the names of
    /// [`NativeField::weights`]) toward the current weights at `rate`
    /// ([`params::ema_rate`]), read in place: no copy of the weights.
    pub fn blend_into(&self, ema: &mut Weights, rate: f32) {
        self.net.blend_into(ema, rate)
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
        let time = self
            .net
            .hidden(self.time_features(t), 0..l, cache.as_deref_mut(), threads);
        joint_in.slice_mut(s![.., ..w]).assign(&time);
        let h = self
            .net
            .hidden(cond.to_owned(), l..2 * l, cache.as_deref_mut(), threads);
        joint_in.slice_mut(s![.., w..2 * w]).assign(&h);
        let lat = self
            .net
            .hidden(xt.to_owned(), 2 * l..3 * l, cache.as_deref_mut(), threads);
        joint_in.slice_mut(s![.., 2 * w..]).assign(&lat);
        let h = self
            .net
            .hidden(joint_in, 3 * l..4 * l, cache.as_deref_mut(), threads);
        let v = self.output(&h, threads);
        if let Some(c) = cache {
            c.inputs[4 * l] = h;
        }
        v
    }

    /// The output layer (linear) on the trunk's last hidden activations.
    fn output(&self, h: &Array2<f32>, threads: usize) -> Array2<f32> {
        self.net.linear(4 * self.config.layers, h, threads)
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
            let h = self
                .net
                .hidden(cond.slice(s![a..e, ..]).to_owned(), l..2 * l, None, 1);
            let mut part = Array2::<f32>::zeros((e - a, w));
            let trunk = &self.net.dense[3 * l].w;
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
            let time = self.net.hidden(self.time_features(&t[a..e]), 0..l, None, 1);
            let lat = self
                .net
                .hidden(xt.slice(s![a..e, ..]).to_owned(), 2 * l..3 * l, None, 1);
            let first = &self.net.dense[3 * l];
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
            let h = self.net.hidden(pre, 3 * l + 1..4 * l, None, 1);
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
        let l = self.config.layers;
        let w = self.config.hidden;
        let mut cache = Cache::new(self.net.dense.len());
        let v = self.forward_cached(t, xt, cond, Some(&mut cache), 1);
        let mut dv = v - u;
        let sq = dv.iter().map(|d| (d * d) as f64).sum::<f64>();
        dv *= 2.0 / count;
        let mut grads = self.net.zero_grads();
        let g = &mut grads.0;
        // Output layer, the joint block, then its input split into the three branches.
        let dh = self.net.layer_backward(4 * l, dv, &cache, g, true);
        let dh = self.net.hidden_backward(dh, 3 * l..4 * l, &cache, g, true);
        for b in 0..3 {
            let d = dh.slice(s![.., b * w..(b + 1) * w]).to_owned();
            self.net
                .hidden_backward(d, b * l..(b + 1) * l, &cache, g, false);
        }
        (sq, grads)
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
        let (loss, g) = self.loss_and_grads(t, xt, cond, u);
        if !loss.is_finite() {
            return loss;
        }
        self.net.adam_step(g, lr, opt);
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
        (loss, self.net.named(&g.0))
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
            net: Layers {
                plan: LayerPlan { layers: vec![] },
                dense: vec![],
                moments: None,
                step: 0,
            },
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

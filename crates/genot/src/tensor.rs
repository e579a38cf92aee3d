//! Host arrays and burn tensors, and the network's condition input.

use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{s, Array2, ArrayView2};

/// Host array to a tensor on `device`.
pub fn to_tensor(a: ArrayView2<f32>, device: &Device) -> Tensor<2> {
    let (n, d) = a.dim();
    let v: Vec<f32> = a.iter().copied().collect();
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}

/// Tensor to a host array.
pub fn to_array(t: Tensor<2>) -> Array2<f32> {
    let [n, d] = t.dims();
    let v = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    Array2::from_shape_vec((n, d), v).expect("shape matches")
}

/// `[x | one_hot(c)]`.
pub(crate) fn one_hot_append(
    x: ArrayView2<f32>,
    conditions: &[Option<usize>],
    n_labels: usize,
) -> Array2<f32> {
    if n_labels == 0 {
        return x.to_owned();
    }
    let d = x.ncols();
    let mut out = Array2::<f32>::zeros((x.nrows(), d + n_labels));
    out.slice_mut(s![.., ..d]).assign(&x);
    for (r, c) in conditions.iter().enumerate() {
        if let Some(c) = c {
            out[[r, d + c]] = 1.0;
        }
    }
    out
}

//! Geodesic costs on a k-nearest-neighbour graph: how GENOT models cell manifolds.
//!
//! [`KnnGraph::build`] joins every point to its `k` nearest neighbours (exact, brute force,
//! Euclidean), symmetrised (an edge when either end is among the other's `k` nearest), each
//! edge weighted by its Euclidean length. [`KnnGraph::shortest_paths`] runs Dijkstra from the
//! requested sources, in parallel. [`graph_cost`] gives the geodesic cost between two point
//! clouds (the graph is built on their union) and [`graph_intra_cost`] within one cloud (for
//! Gromov-Wasserstein).
//!
//! Complexity for `N` points in `d` dimensions: building the graph `O(N^2 d)` time (blocked,
//! parallel) and `O(N k)` memory; shortest paths from `S` sources `O(S N k log N)` time,
//! `O(N)` memory per thread; the resulting cost matrix is dense (`S x T`).
//!
//! Choice: shortest-path distances, exact and well conditioned. The heat-kernel geodesic
//! (`-t log K` with `K` the heat kernel of the graph Laplacian, `t = 1e-3`) is not offered yet:
//! at small `t` the kernel between points `h` hops apart is of order `t^h`, and solving
//! `(I + t L / s)^s K = I` iteratively gives those entries with an absolute, not relative,
//! error, so `-t log K` is wrong beyond a few hops unless a direct sparse factorisation is
//! used.

use crate::cost::{map_cost_rows, Euclidean};
use crate::error::{OtError, Result};
use crate::geometry::validate_points;
use crate::real::Real;
use ndarray::{concatenate, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An undirected weighted graph in compressed sparse row form.
#[derive(Debug, Clone)]
pub struct KnnGraph {
    offsets: Vec<usize>,
    neighbours: Vec<usize>,
    weights: Vec<f64>,
}

impl KnnGraph {
    /// The symmetrised `k`-nearest-neighbour graph of `points` (rows).
    pub fn build<F: Real>(points: ArrayView2<F>, k: usize) -> Result<Self> {
        validate_points("graph points", points)?;
        let n = points.nrows();
        if k == 0 || k >= n {
            return Err(OtError::InvalidParameter(format!(
                "the kNN graph needs 1 <= k < number of points ({n}), got k = {k}"
            )));
        }
        // k nearest (excluding itself) of every point, by blocks of rows.
        let nearest: Vec<Vec<(usize, f64)>> = map_cost_rows(&Euclidean, points, points, |i, d| {
            let mut row: Vec<(usize, f64)> = d
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, v)| (j, v.f64()))
                .collect();
            row.select_nth_unstable_by(k - 1, |a, b| a.1.total_cmp(&b.1));
            row.truncate(k);
            row
        });
        let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        for (i, row) in nearest.iter().enumerate() {
            for &(j, w) in row {
                adj[i].push((j, w));
                adj[j].push((i, w));
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let (mut neighbours, mut weights) = (Vec::new(), Vec::new());
        offsets.push(0);
        for list in &mut adj {
            list.sort_by_key(|e| e.0);
            list.dedup_by_key(|e| e.0);
            for &(j, w) in list.iter() {
                neighbours.push(j);
                weights.push(w);
            }
            offsets.push(neighbours.len());
        }
        Ok(KnnGraph {
            offsets,
            neighbours,
            weights,
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True for a graph without nodes (never, for a built graph).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of undirected edges.
    pub fn edges(&self) -> usize {
        self.neighbours.len() / 2
    }

    /// Shortest-path distances from each of `sources` to each of `targets`
    /// (`sources.len() x targets.len()`). Errors when a target cannot be reached.
    pub fn shortest_paths(&self, sources: &[usize], targets: &[usize]) -> Result<Array2<f64>> {
        let n = self.len();
        if let Some(&bad) = sources.iter().chain(targets).find(|&&v| v >= n) {
            return Err(OtError::InvalidParameter(format!(
                "node {bad} is not in the graph ({n} nodes)"
            )));
        }
        let rows: Vec<Vec<f64>> = sources
            .par_iter()
            .map(|&s| {
                let dist = self.dijkstra(s);
                targets
                    .iter()
                    .map(|&t| {
                        let d = dist[t];
                        if d.is_finite() {
                            Ok(d)
                        } else {
                            Err(OtError::InvalidParameter(format!(
                                "the kNN graph is disconnected: node {t} cannot be reached from node {s}; increase k"
                            )))
                        }
                    })
                    .collect::<Result<Vec<f64>>>()
            })
            .collect::<Result<_>>()?;
        let flat: Vec<f64> = rows.into_iter().flatten().collect();
        Ok(Array2::from_shape_vec((sources.len(), targets.len()), flat).expect("shape"))
    }

    fn dijkstra(&self, source: usize) -> Vec<f64> {
        #[derive(PartialEq)]
        struct Item(f64, usize);
        impl Eq for Item {}
        impl Ord for Item {
            fn cmp(&self, o: &Self) -> Ordering {
                o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
            }
        }
        impl PartialOrd for Item {
            fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                Some(self.cmp(o))
            }
        }
        let mut dist = vec![f64::INFINITY; self.len()];
        let mut heap = BinaryHeap::new();
        dist[source] = 0.0;
        heap.push(Item(0.0, source));
        while let Some(Item(d, u)) = heap.pop() {
            if d > dist[u] {
                continue;
            }
            for e in self.offsets[u]..self.offsets[u + 1] {
                let (v, nd) = (self.neighbours[e], d + self.weights[e]);
                if nd < dist[v] {
                    dist[v] = nd;
                    heap.push(Item(nd, v));
                }
            }
        }
        dist
    }
}

/// Geodesic (shortest-path) cost between every point of `x` and every point of `y`, on the
/// `k`-nearest-neighbour graph of their union (`n x m`).
pub fn graph_cost<F: Real>(x: ArrayView2<F>, y: ArrayView2<F>, k: usize) -> Result<Array2<F>> {
    if x.ncols() != y.ncols() {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "a graph cost needs points of one space: {} and {} dimensions",
                x.ncols(),
                y.ncols()
            ),
        });
    }
    let union = concatenate(Axis(0), &[x, y]).expect("same number of columns");
    let graph = KnnGraph::build(union.view(), k)?;
    let (n, m) = (x.nrows(), y.nrows());
    let sources: Vec<usize> = (0..n).collect();
    let targets: Vec<usize> = (n..n + m).collect();
    Ok(graph.shortest_paths(&sources, &targets)?.mapv(F::c))
}

/// Geodesic cost between the points of one cloud (`n x n`, symmetric), for GW.
pub fn graph_intra_cost<F: Real>(x: ArrayView2<F>, k: usize) -> Result<Array2<F>> {
    let graph = KnnGraph::build(x, k)?;
    let all: Vec<usize> = (0..x.nrows()).collect();
    let d = graph.shortest_paths(&all, &all)?;
    // Dijkstra from i and from j may sum the same path in another order: symmetrise.
    Ok(Array2::from_shape_fn(d.dim(), |(i, j)| {
        F::c(0.5 * (d[[i, j]] + d[[j, i]]))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn path_graph_distances() {
        // Points on a line at 0, 1, 3, 6: with k = 1 the graph is the chain.
        let x = array![[0.0f64], [1.0], [3.0], [6.0]];
        let g = KnnGraph::build(x.view(), 1).unwrap();
        assert_eq!(g.edges(), 3);
        let d = g.shortest_paths(&[0, 3], &[0, 1, 2, 3]).unwrap();
        assert_eq!(d.row(0).to_vec(), vec![0.0, 1.0, 3.0, 6.0]);
        assert_eq!(d.row(1).to_vec(), vec![6.0, 5.0, 3.0, 0.0]);
        assert!(KnnGraph::build(x.view(), 4).is_err());
    }

    #[test]
    fn disconnected_graphs_are_reported() {
        // Two far clusters, k = 1: no edge between them.
        let x = array![[0.0f64], [0.1], [10.0], [10.1]];
        let e = graph_intra_cost(x.view(), 1).unwrap_err();
        assert!(e.to_string().contains("disconnected"), "{e}");
    }
}

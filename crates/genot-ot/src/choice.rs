//! A ground cost named by a string, as users give it (`sqeuclidean`, `euclidean`,
//! `pnorm:P`, `cosine`, `graph:K`), turned into linear or intra-space geometries.
//!
//! ```
//! use genot_ot::choice::CostChoice;
//! use genot_ot::geometry::ScaleCost;
//! use ndarray::array;
//!
//! let c = CostChoice::<f64>::parse("sqeuclidean").unwrap();
//! let xx = c.intra(array![[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], ScaleCost::None).unwrap();
//! assert_eq!(xx.to_dense()[[1, 2]], 5.0);
//! assert!(CostChoice::<f64>::parse("graph:0").is_err());
//! ```

use crate::cost::{parse_cost, Cost};
use crate::error::Result;
use crate::geometry::{Epsilon, Geometry, ScaleCost};
use crate::graph::{graph_cost, graph_intra_cost};
use crate::intra::IntraGeometry;
use crate::real::Real;
use ndarray::Array2;
use std::sync::Arc;

/// A cost between points, or shortest paths on a k-nearest-neighbour graph.
#[derive(Clone)]
pub enum CostChoice<F: Real> {
    /// A cost between pairs of points.
    Points(Arc<dyn Cost<F>>),
    /// Shortest-path distance on the k-nearest-neighbour graph of the points.
    Graph(usize),
}

impl<F: Real> CostChoice<F> {
    /// Parses a cost name; the message says what was expected.
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        match name.strip_prefix("graph:") {
            Some(k) => match k.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(CostChoice::Graph(k)),
                _ => Err(format!(
                    "cost '{name}': the number of neighbours must be a positive integer"
                )),
            },
            None => parse_cost::<F>(name).map(CostChoice::Points).map_err(|e| {
                if e.starts_with("unknown cost") {
                    format!("unknown cost '{name}' (expected sqeuclidean, euclidean, pnorm:P, cosine or graph:K, K the number of neighbours)")
                } else {
                    e
                }
            }),
        }
    }

    /// The name [`CostChoice::parse`] reads back.
    pub fn name(&self) -> String {
        match self {
            CostChoice::Points(c) => c.name(),
            CostChoice::Graph(k) => format!("graph:{k}"),
        }
    }

    /// The intra-space geometry of one point cloud (GW).
    pub fn intra(&self, x: Array2<F>, scale: ScaleCost) -> Result<IntraGeometry<F>> {
        match self {
            CostChoice::Points(c) => IntraGeometry::from_points(x, c.clone(), scale),
            CostChoice::Graph(k) => {
                IntraGeometry::from_matrix(graph_intra_cost(x.view(), *k)?, scale)
            }
        }
    }

    /// The dense geometry between two point clouds (for a graph cost: shortest paths on the
    /// graph of both clouds together).
    pub fn linear(
        &self,
        x: Array2<F>,
        y: Array2<F>,
        scale: ScaleCost,
        epsilon: Epsilon,
    ) -> Result<Geometry<F>> {
        match self {
            CostChoice::Points(c) => Geometry::from_points(x, y, c.clone(), scale, epsilon),
            CostChoice::Graph(k) => {
                Geometry::from_matrix(graph_cost(x.view(), y.view(), *k)?, scale, epsilon)
            }
        }
    }
}

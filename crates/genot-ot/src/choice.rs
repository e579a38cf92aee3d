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

use crate::cost::{cost_matrix, parse_cost, Cost};
use crate::error::{ParseError, Result};
use crate::geometry::{check_pair, scaled_matrix, Epsilon, Geometry, ScaleCost};
use crate::graph::{graph_cost, graph_intra_cost};
use crate::intra::IntraGeometry;
use crate::real::Real;
use ndarray::Array2;
use std::sync::Arc;

/// Every cost name [`CostChoice::parse`] reads, with what it is: the one list that the
/// parser's error, the command-line help and the docs are written from.
pub const COSTS: [(&str, &str); 5] = [
    ("sqeuclidean", "|x - y|^2, no 1/2"),
    ("euclidean", "|x - y|"),
    ("pnorm:P", "sum |x - y|^P, P >= 1"),
    ("cosine", "1 - cos(x, y)"),
    (
        "graph:K",
        "shortest-path distance on the K-nearest-neighbour graph of the points",
    ),
];

/// The names of [`COSTS`] as a list: `"sqeuclidean, euclidean, pnorm:P, cosine or graph:K"`.
pub fn cost_names() -> String {
    let names: Vec<&str> = COSTS.iter().map(|(n, _)| *n).collect();
    let (last, rest) = names.split_last().expect("costs");
    format!("{} or {last}", rest.join(", "))
}

/// The names of [`COSTS`] with what each is, for help texts.
pub fn cost_help() -> String {
    let items: Vec<String> = COSTS
        .iter()
        .map(|(n, what)| format!("{n} ({what})"))
        .collect();
    items.join(", ")
}

/// A cost between points, or shortest paths on a k-nearest-neighbour graph.
#[derive(Clone)]
pub enum CostChoice<F: Real> {
    /// A cost between pairs of points.
    Points(Arc<dyn Cost<F>>),
    /// Shortest-path distance on the k-nearest-neighbour graph of the points.
    Graph(usize),
}

impl<F: Real> CostChoice<F> {
    /// Parses a cost name; the error says what was expected.
    pub fn parse(name: &str) -> std::result::Result<Self, ParseError> {
        match name.strip_prefix("graph:") {
            Some(k) => match k.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(CostChoice::Graph(k)),
                _ => Err(ParseError::Neighbours { name: name.into() }),
            },
            None => match parse_cost::<F>(name) {
                Ok(c) => Ok(CostChoice::Points(c)),
                Err(e) if e.is_unknown() => Err(ParseError::UnknownCost { name: name.into() }),
                Err(e) => Err(ParseError::CostParameter(e.to_string())),
            },
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

    /// The cost matrix between two point clouds of the same dimension, divided by `scale`
    /// of its statistics, and the factor ([`scaled_matrix`]): the cross cost of fused GW.
    pub fn cross(&self, x: Array2<F>, y: Array2<F>, scale: ScaleCost) -> Result<(Array2<F>, f64)> {
        check_pair(&x, &y)?;
        let c = match self {
            CostChoice::Points(c) => cost_matrix(c.as_ref(), x.view(), y.view()),
            CostChoice::Graph(k) => graph_cost(x.view(), y.view(), *k)?,
        };
        scaled_matrix(c, scale)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed name parses (its parameter filled in) and reads back; an unknown name's
    /// error lists them all, a bad parameter's does not.
    #[test]
    fn the_listed_costs_are_the_parsed_ones() {
        for (name, _) in COSTS {
            let concrete = name.replace(":P", ":3").replace(":K", ":4");
            let c = CostChoice::<f32>::parse(&concrete).unwrap();
            assert_eq!(c.name(), concrete);
        }
        let e = CostChoice::<f32>::parse("manhattan").err().unwrap();
        assert_eq!(
            e,
            ParseError::UnknownCost {
                name: "manhattan".into()
            }
        );
        let e = e.to_string();
        for (name, _) in COSTS {
            assert!(e.contains(name), "{e}");
        }
        assert_eq!(
            cost_names(),
            "sqeuclidean, euclidean, pnorm:P, cosine or graph:K"
        );
        let e = CostChoice::<f32>::parse("pnorm:x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not a number") && !e.contains("graph:K"), "{e}");
        assert!(cost_help().contains("graph:K (shortest-path"));
        assert!(matches!(
            CostChoice::<f32>::parse("graph:0"),
            Err(ParseError::Neighbours { .. })
        ));
    }
}

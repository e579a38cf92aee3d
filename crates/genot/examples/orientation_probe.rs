//! Probe: how often the warm-up plan of a GW fit has the right orientation, one batch
//! against the choice of `genot::orientation` (the share of the plan's mass on pairs of
//! the same label; the issue 13 measure). Inputs are raw little-endian f32 matrices and
//! u32 labels (the same cells on both sides, so a label pairs them), as
//! bench/orientation_probe.sh writes them from SNARE-seq.
//!
//! `bash bench/orientation_probe.sh [seeds]`, or
//! `cargo run --release -p genot --example orientation_probe -- A.f32 p B.f32 q LABELS.u32 [seeds]`
use genot::config::{Kind, MatchingConfig};
use genot::coupling::Coupler;
use genot::orientation;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn read_f32(path: &str, cols: usize) -> Array2<f32> {
    let bytes = std::fs::read(path).expect("readable");
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Array2::from_shape_vec((v.len() / cols, cols), v).expect("rows x cols")
}

fn same_label(plan: &Array2<f32>, a: &[u32], b: &[u32]) -> f64 {
    let s: f64 = plan
        .indexed_iter()
        .filter(|((i, j), _)| a[*i] == b[*j])
        .map(|(_, &v)| v as f64)
        .sum();
    s / plan.sum() as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (a, b) = (
        read_f32(&args[1], args[2].parse().unwrap()),
        read_f32(&args[3], args[4].parse().unwrap()),
    );
    let labels: Vec<u32> = std::fs::read(&args[5])
        .unwrap()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let seeds: u64 = args.get(6).map_or(10, |s| s.parse().unwrap());
    let matching = MatchingConfig {
        kind: Kind::Quadratic,
        epsilon: 5e-3,
        scale_cost: "max".into(),
        ..Default::default()
    };
    let coupler = Coupler::new(&matching, 0, 0).unwrap();
    let n = a.nrows();
    let draw = |rng: &mut ChaCha8Rng| rand::seq::index::sample(rng, n, 256).into_vec();
    let (mut one, mut chosen) = (vec![], vec![]);
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut batches = vec![];
        let mut label_sets = vec![];
        for _ in 0..orientation::CANDIDATES {
            let (si, ti) = (draw(&mut rng), draw(&mut rng));
            label_sets.push((
                si.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
                ti.iter().map(|&j| labels[j]).collect::<Vec<_>>(),
            ));
            batches.push((
                a.select(ndarray::Axis(0), &si),
                b.select(ndarray::Axis(0), &ti),
            ));
        }
        let (la, lb) = &label_sets[0];
        let own = coupler.plan(&batches[0].0, &batches[0].1, None).unwrap();
        one.push(same_label(&own.plan, la, lb));
        let (plan, choice) =
            orientation::choose(&coupler, &batches, orientation::EVALUATIONS).unwrap();
        chosen.push(same_label(&plan.plan, la, lb));
        println!(
            "seed {seed}: one batch {:.3}, chosen {:.3} (candidate {})",
            one[seed as usize], chosen[seed as usize], choice.chosen
        );
    }
    let below = |v: &[f64]| v.iter().filter(|&&x| x < 0.5).count();
    println!(
        "one batch: {} of {seeds} below 0.5; chosen: {} of {seeds} below 0.5",
        below(&one),
        below(&chosen)
    );
}

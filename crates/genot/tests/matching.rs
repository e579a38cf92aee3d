//! Batch matching into training pairs.

use genot::config::MatchingConfig;
use genot::coupling::Coupler;
use genot::flow::latents;
use genot::matching::{match_latents_per_source, pairs_from_plan, Pairs};
use ndarray::{concatenate, Array2, Axis};
use rand::SeedableRng;

fn cloud<F: genot_ot::real::Real>(n: usize, seed: u64) -> Array2<F> {
    latents(n, 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed))
}

/// The batch plan of `config` between `x` and `y`, then `k` pairs per source from it.
fn pairs(config: &MatchingConfig, x: &Array2<f32>, y: &Array2<f32>, k: usize, seed: u64) -> Pairs {
    let plan = Coupler::new(config, 0, 0)
        .unwrap()
        .plan(x, y, None)
        .unwrap();
    pairs_from_plan(
        plan.plan.view(),
        config.is_balanced(),
        k,
        config.joint,
        seed,
    )
    .unwrap()
}

#[test]
fn balanced_pairs_cover_every_source_k_times_and_follow_the_plan() {
    let x = cloud(50, 1);
    let y = &x + 0.01;
    let m = MatchingConfig {
        epsilon: 1e-3,
        ..MatchingConfig::default()
    };
    let k = 4;
    let p = pairs(&m, &x, &y, k, 7);
    assert_eq!(p.source.len(), 50 * k);
    for s in 0..50 {
        assert_eq!(p.source[s * k..(s + 1) * k], [s; 4]);
    }
    // A near-identity coupling: targets are mostly each source's own copy.
    let own = p
        .source
        .iter()
        .zip(&p.target)
        .filter(|(s, t)| s == t)
        .count();
    assert!(
        own as f64 > 0.8 * p.source.len() as f64,
        "{own} of {}",
        p.source.len()
    );
    // Reproducible from the seed.
    assert_eq!(p, pairs(&m, &x, &y, k, 7));
    assert_ne!(p, pairs(&m, &x, &y, k, 8));
}

#[test]
fn unbalanced_resampling_drops_an_unmatched_source() {
    // 40 sources near the targets and one far outlier.
    let x = concatenate![Axis(0), cloud(40, 2), Array2::from_elem((1, 2), 30.0)];
    let y = cloud(40, 3);
    let m = MatchingConfig {
        tau_a: 0.5,
        tau_b: 1.0,
        ..MatchingConfig::default()
    };
    let mut outlier = 0;
    for seed in 0..20 {
        let p = pairs(&m, &x, &y, 1, seed);
        assert_eq!(p.source.len(), 41);
        outlier += p.source.iter().filter(|&&s| s == 40).count();
    }
    // Each source is drawn about 20 times over 20 batches when balanced.
    assert!(outlier < 3, "the outlier was drawn {outlier} times");
    let joint_config = MatchingConfig {
        joint: true,
        ..MatchingConfig::default()
    };
    let joint = pairs(&joint_config, &cloud(30, 4), &cloud(30, 5), 3, 1);
    assert_eq!(joint.source.len(), 90);
}

#[test]
fn latent_matching_stays_within_each_source() {
    let (n, k) = (20, 8);
    let z: Array2<f64> = cloud(n * k, 6);
    let y: Array2<f64> = cloud::<f64>(n * k, 7) * 3.0;
    let p = match_latents_per_source(&z, &y, k, 0.01, 3).unwrap();
    assert_eq!(p.source.len(), n * k);
    for (d, (&a, &b)) in p.source.iter().zip(&p.target).enumerate() {
        assert_eq!((a / k, b / k), (d / k, d / k), "draw {d} left its group");
    }
    // Re-pairing shortens the latent-to-target distances.
    let dist = |pairs: &mut dyn Iterator<Item = (usize, usize)>| {
        pairs
            .map(|(a, b)| (&z.row(a) - &y.row(b)).mapv(|v| v * v).sum())
            .sum::<f64>()
    };
    let before = dist(&mut (0..n * k).map(|d| (d, d)));
    let after = dist(&mut p.source.iter().copied().zip(p.target.iter().copied()));
    assert!(after < 0.8 * before, "{after} vs {before}");
    assert!(match_latents_per_source(&z, &y, 7, 0.01, 3).is_err());
}

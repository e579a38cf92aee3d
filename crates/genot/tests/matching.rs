//! Batch matching into training pairs.

use genot::config::MatchingConfig;
use genot::coupling::Coupler;
use genot::flow::latents;
use genot::matching::{match_latents_per_source, pairs_from_plan, PairDraw, Pairs};
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
        PairDraw {
            balanced: config.is_balanced(),
            k,
            joint: config.joint,
            sources: x.nrows(),
            seed,
        },
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

/// Pairs drawn for a network batch smaller than the OT batch follow the large plan: over
/// many draws, the frequency of each (source, target) pair matches the plan (chi-square).
#[test]
fn pairs_from_a_larger_ot_batch_follow_its_plan() {
    // A 6 x 6 balanced plan with distinct conditionals (rows sum to 1/6).
    let n = 6;
    let mut plan = Array2::<f64>::from_shape_fn((n, n), |(i, j)| {
        1.0 + ((i * 7 + j * 3) % 5) as f64 + if i == j { 4.0 } else { 0.0 }
    });
    for mut row in plan.rows_mut() {
        let s = row.sum();
        row /= s * n as f64;
    }
    let (sources, k, rounds) = (2, 3, 4000);
    let mut counts = Array2::<f64>::zeros((n, n));
    for r in 0..rounds {
        let draw = PairDraw {
            balanced: true,
            k,
            joint: false,
            sources,
            seed: r,
        };
        let p = pairs_from_plan(plan.view(), draw).unwrap();
        assert_eq!(p.source.len(), sources * k);
        // Distinct sources, each with its k targets in a group.
        assert_ne!(p.source[0], p.source[k]);
        for (&i, &j) in p.source.iter().zip(&p.target) {
            counts[[i, j]] += 1.0;
        }
    }
    let total = (rounds as usize * sources * k) as f64;
    let chi2: f64 = counts
        .iter()
        .zip(plan.iter())
        .map(|(&o, &p)| (o - p * total).powi(2) / (p * total))
        .sum();
    // 35 degrees of freedom: the 0.999 quantile is 66.6.
    assert!(chi2 < 66.6, "chi-square {chi2:.1}");
    // The draws are not the full batch: a plan whose first row has all the mass of the
    // pairs would fail, so check the statistic can fail too.
    let mut skewed = plan.clone();
    skewed.row_mut(0).fill(0.0);
    skewed[[0, 0]] = 1.0 / n as f64;
    let chi2_wrong: f64 = counts
        .iter()
        .zip(skewed.iter())
        .map(|(&o, &p)| (o - p * total).powi(2) / (p * total).max(1e-9))
        .sum();
    assert!(chi2_wrong > 66.6, "{chi2_wrong}");
}

/// An iteration fed by a plan that feeds several draws its pairs from its own rows of the
/// plan alone, each row's targets following that row's conditional (chi-square), on a
/// dense plan and on the same batch solved online.
#[test]
fn pairs_within_a_part_of_the_plan_follow_its_rows() {
    let (x, y) = (cloud::<f32>(12, 3), cloud::<f32>(10, 4));
    let config = MatchingConfig {
        epsilon: 0.5,
        ..MatchingConfig::default()
    };
    let part = [1, 4, 5, 9];
    let (k, rounds) = (3, 3000);
    for online in [false, true] {
        let coupler = Coupler::new(&config, 0, 0).unwrap();
        let coupler = if online {
            coupler.with_dense_limit(1)
        } else {
            coupler
        };
        let plan = coupler.plan(&x, &y, None).unwrap();
        assert_eq!(plan.is_online(), online);
        let mut counts = Array2::<f64>::zeros((12, 10));
        for r in 0..rounds {
            let draw = PairDraw {
                balanced: true,
                k,
                joint: false,
                sources: part.len(),
                seed: r,
            };
            let p = plan.pairs_within(&part, draw).unwrap();
            // Each row of the part once, with its k targets; no other row.
            let mut rows = p.source.clone();
            rows.dedup();
            assert_eq!(rows, part);
            for (&i, &j) in p.source.iter().zip(&p.target) {
                counts[[i, j]] += 1.0;
            }
        }
        let conditional = plan.rows(&part);
        let statistic = |of: &dyn Fn(usize) -> usize| -> f64 {
            let mut chi2 = 0.0;
            for (a, &i) in part.iter().enumerate() {
                let row = conditional.row(of(a));
                let total: f64 = row.iter().map(|&v| v as f64).sum();
                for (j, &pij) in row.iter().enumerate() {
                    let e = (rounds as usize * k) as f64 * pij as f64 / total;
                    chi2 += (counts[[i, j]] - e).powi(2) / e;
                }
            }
            chi2
        };
        // 4 rows x 9 degrees of freedom = 36: the 0.999 quantile is 67.98.
        let chi2 = statistic(&|a| a);
        assert!(chi2 < 67.98, "online {online}: chi-square {chi2:.1}");
        // The statistic can fail: against the conditionals of the rows in another order.
        let wrong = statistic(&|a| (a + 1) % part.len());
        assert!(wrong > 67.98, "online {online}: {wrong:.1}");
    }
}

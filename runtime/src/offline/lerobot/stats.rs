//! Feature statistics as LeRobot's `compute_stats.py` defines them: per
//! component min, max, mean, standard deviation (population), count and
//! the quantiles 1, 10, 50, 90 and 99 %, for each episode; and the
//! dataset's by LeRobot's `aggregate_feature_stats` (count-weighted mean,
//! pooled variance, and for quantiles the envelope of the episodes': the
//! lowest for q01..q50, the highest above).

use serde_json::{Map, Value, json};

/// LeRobot's `DEFAULT_QUANTILES`, with their keys.
const QUANTILES: [(f64, &str); 5] = [
    (0.01, "q01"),
    (0.10, "q10"),
    (0.50, "q50"),
    (0.90, "q90"),
    (0.99, "q99"),
];

/// The statistics of one feature over some frames.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Per component.
    pub min: Vec<f64>,
    /// Per component.
    pub max: Vec<f64>,
    /// Per component.
    pub mean: Vec<f64>,
    /// Per component (population standard deviation).
    pub std: Vec<f64>,
    /// Frames counted.
    pub count: u64,
    /// Per quantile of [`QUANTILES`], per component.
    pub quantiles: [Vec<f64>; 5],
}

impl Stats {
    /// The statistics of `rows` row-major values of `width` components
    /// (quantiles by linear interpolation between order statistics, as
    /// numpy's default).
    pub fn of(values: &[f64], width: usize) -> Stats {
        let width = width.max(1);
        let n = values.len() / width;
        let mut s = Stats {
            min: vec![f64::INFINITY; width],
            max: vec![f64::NEG_INFINITY; width],
            mean: vec![0.0; width],
            std: vec![0.0; width],
            count: n as u64,
            quantiles: Default::default(),
        };
        let mut column = Vec::with_capacity(n);
        for c in 0..width {
            column.clear();
            column.extend(values.iter().skip(c).step_by(width).copied());
            column.sort_by(f64::total_cmp);
            let (lo, hi) = (column.first(), column.last());
            s.min[c] = lo.copied().unwrap_or(0.0);
            s.max[c] = hi.copied().unwrap_or(0.0);
            let mean = column.iter().sum::<f64>() / n.max(1) as f64;
            let var = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
            s.mean[c] = mean;
            s.std[c] = var.sqrt();
            for (k, (q, _)) in QUANTILES.iter().enumerate() {
                s.quantiles[k].push(quantile(&column, *q));
            }
        }
        s
    }

    /// The dataset's statistics from its episodes' (LeRobot's
    /// `aggregate_feature_stats`); `None` for no episode.
    pub fn aggregate(parts: &[Stats]) -> Option<Stats> {
        let first = parts.first()?;
        let width = first.mean.len();
        let total: u64 = parts.iter().map(|p| p.count).sum();
        let weight = |p: &Stats| p.count as f64 / total.max(1) as f64;
        let mut s = Stats {
            min: vec![f64::INFINITY; width],
            max: vec![f64::NEG_INFINITY; width],
            mean: vec![0.0; width],
            std: vec![0.0; width],
            count: total,
            quantiles: Default::default(),
        };
        for c in 0..width {
            let mean: f64 = parts.iter().map(|p| p.mean[c] * weight(p)).sum();
            let var: f64 = parts
                .iter()
                .map(|p| (p.std[c].powi(2) + (p.mean[c] - mean).powi(2)) * weight(p))
                .sum();
            s.mean[c] = mean;
            s.std[c] = var.sqrt();
            s.min[c] = parts.iter().map(|p| p.min[c]).fold(f64::INFINITY, f64::min);
            s.max[c] = parts
                .iter()
                .map(|p| p.max[c])
                .fold(f64::NEG_INFINITY, f64::max);
            for (k, (q, _)) in QUANTILES.iter().enumerate() {
                let each = parts.iter().map(|p| p.quantiles[k][c]);
                s.quantiles[k].push(if *q <= 0.5 {
                    each.fold(f64::INFINITY, f64::min)
                } else {
                    each.fold(f64::NEG_INFINITY, f64::max)
                });
            }
        }
        Some(s)
    }

    /// As `stats.json` holds it: `{"min": [...], ..., "count": [n]}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("min".into(), json!(self.min));
        m.insert("max".into(), json!(self.max));
        m.insert("mean".into(), json!(self.mean));
        m.insert("std".into(), json!(self.std));
        m.insert("count".into(), json!([self.count]));
        for (k, (_, key)) in QUANTILES.iter().enumerate() {
            m.insert((*key).into(), json!(self.quantiles[k]));
        }
        Value::Object(m)
    }

    /// Each statistic's name and values, in `to_json`'s order, the count
    /// last (the episodes table has a column per statistic).
    pub fn named(&self) -> Vec<(&'static str, &[f64])> {
        let mut v: Vec<(&'static str, &[f64])> = vec![
            ("min", &self.min),
            ("max", &self.max),
            ("mean", &self.mean),
            ("std", &self.std),
        ];
        for (k, (_, key)) in QUANTILES.iter().enumerate() {
            v.push((key, &self.quantiles[k]));
        }
        v
    }
}

/// The `q` quantile of sorted `xs` (numpy's `linear` method); 0 for none.
fn quantile(xs: &[f64], q: f64) -> f64 {
    let Some(last) = xs.len().checked_sub(1) else {
        return 0.0;
    };
    let pos = q * last as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    match xs.get(i + 1) {
        Some(next) => xs[i] + (next - xs[i]) * frac,
        None => xs[last],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_numpy_and_aggregate_as_lerobot() {
        // Two components, rows (1, 10), (2, 20), (3, 30), (4, 40).
        let s = Stats::of(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0], 2);
        assert_eq!(s.count, 4);
        assert_eq!(s.min, [1.0, 10.0]);
        assert_eq!(s.max, [4.0, 40.0]);
        assert_eq!(s.mean, [2.5, 25.0]);
        assert!((s.std[0] - 1.25f64.sqrt()).abs() < 1e-12);
        // numpy.quantile([1, 2, 3, 4], 0.1) = 1.3, 0.5 -> 2.5.
        assert!((s.quantiles[1][0] - 1.3).abs() < 1e-12);
        assert_eq!(s.quantiles[2][0], 2.5);
        let a = Stats::of(&[1.0, 10.0, 2.0, 20.0], 2);
        let b = Stats::of(&[3.0, 30.0, 4.0, 40.0], 2);
        let all = Stats::aggregate(&[a.clone(), b]).unwrap();
        assert_eq!(all.count, 4);
        assert_eq!(all.mean, s.mean);
        assert!((all.std[1] - s.std[1]).abs() < 1e-9);
        assert_eq!(all.min, s.min);
        assert_eq!(all.quantiles[0][0], a.quantiles[0][0]);
    }
}

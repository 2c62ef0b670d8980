//! The learning curve's files: `curve.csv`, and `curve.svg` plotted.

use super::{LearnError, LearnState, RunDir, write_atomic};
use crate::offline::plot::{CurveSample, learning_curve_svg};

/// Mean and (population) standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Writes the curve of `state` as `curve.csv` and `curve.svg` in `run`.
pub(super) fn write_curve(run: &RunDir, state: &LearnState) -> Result<(), LearnError> {
    let mut csv = String::from(
        "env_steps,episodes,updates,wall_s,eval_return,eval_return_std,eval_success,collect_return\n",
    );
    for p in &state.curve {
        csv.push_str(&format!(
            "{},{},{},{:.1},{:.2},{:.2},{:.3},{:.2}\n",
            p.env_steps,
            p.episodes,
            p.updates,
            p.wall_s,
            p.eval_return,
            p.eval_return_std,
            p.eval_success,
            p.collect_return
        ));
    }
    write_atomic(&run.curve_csv(), csv.as_bytes())?;
    let title = format!(
        "umwelt learn: {}/{} (seed {})",
        state.options.robot, state.options.task, state.options.seed
    );
    let samples: Vec<CurveSample> = state
        .curve
        .iter()
        .map(|p| CurveSample {
            env_steps: p.env_steps,
            eval_return: p.eval_return,
            eval_return_std: p.eval_return_std,
            collect_return: p.collect_return,
        })
        .collect();
    let svg = learning_curve_svg(&title, &samples)
        .map_err(|e| LearnError::Setup(format!("plot: {e}")))?;
    write_atomic(&run.curve_svg(), svg.as_bytes())
}

//! Figures as SVG (plotters' SVG backend: no fonts or system libraries
//! needed), for people who would rather look than read.

use plotters::prelude::*;

/// One evaluation of a learning curve, as [`learning_curve_svg`] draws it
/// (plain data, so that plotting depends on no learning code).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurveSample {
    /// Environment steps collected when it was measured (the x axis).
    pub env_steps: u64,
    /// Mean return of the evaluation episodes.
    pub eval_return: f64,
    /// Standard deviation of those returns (drawn as a bar around the mean).
    pub eval_return_std: f64,
    /// Return of the last exploring episode (drawn where finite).
    pub collect_return: f64,
}

/// A plotting failure, as text.
pub type PlotResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Padded `(min, max)` of some values (a unit range around a single value).
pub fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// The learning curve: evaluation return (mean ± std) and the exploring
/// episode's return against environment steps.
pub fn learning_curve_svg(title: &str, curve: &[CurveSample]) -> PlotResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let x_max = curve.iter().map(|p| p.env_steps).max().unwrap_or(1).max(1) as f64;
        let (y_lo, y_hi) = padded_range(curve.iter().flat_map(|p| {
            [
                p.eval_return - p.eval_return_std,
                p.eval_return + p.eval_return_std,
                p.collect_return,
            ]
        }));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max * 1.02, y_lo.min(0.0)..y_hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("environment steps")
            .y_desc("episode return")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(curve.iter().map(|p| {
                PathElement::new(
                    vec![
                        (p.env_steps as f64, p.eval_return - p.eval_return_std),
                        (p.env_steps as f64, p.eval_return + p.eval_return_std),
                    ],
                    BLUE.mix(0.4),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                curve.iter().map(|p| (p.env_steps as f64, p.eval_return)),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?
            .label("evaluation (no exploration noise), mean ± std")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(
                curve
                    .iter()
                    .map(|p| Circle::new((p.env_steps as f64, p.eval_return), 3, BLUE.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                curve
                    .iter()
                    .filter(|p| p.collect_return.is_finite())
                    .map(|p| (p.env_steps as f64, p.collect_return)),
                RED.mix(0.6),
            ))
            .map_err(err)?
            .label("collection episode (with exploration noise)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.mix(0.6)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

const PALETTE: [RGBColor; 4] = [BLUE, RED, RGBColor(0, 150, 0), RGBColor(200, 120, 0)];

/// Histograms of episode returns, one colour per controller, on shared bins.
pub fn returns_histogram_svg(title: &str, groups: &[(String, Vec<f64>)]) -> PlotResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (lo, hi) = padded_range(groups.iter().flat_map(|(_, v)| v.iter().copied()));
        let bins = 20usize;
        let width = (hi - lo) / bins as f64;
        let counts: Vec<Vec<usize>> = groups
            .iter()
            .map(|(_, v)| {
                let mut c = vec![0usize; bins];
                for x in v.iter().filter(|x| x.is_finite()) {
                    let b = (((x - lo) / width) as usize).min(bins - 1);
                    c[b] += 1;
                }
                c
            })
            .collect();
        let y_max = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0usize..y_max + 1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("episode return")
            .y_desc("episodes")
            .draw()
            .map_err(err)?;
        let k = groups.len().max(1) as f64;
        for (g, ((label, _), c)) in groups.iter().zip(&counts).enumerate() {
            let color = PALETTE[g % PALETTE.len()];
            // Bars side by side within each bin, so no group hides another.
            let bar = width / k;
            chart
                .draw_series(c.iter().enumerate().filter(|(_, n)| **n > 0).map(|(b, n)| {
                    let x0 = lo + b as f64 * width + g as f64 * bar;
                    Rectangle::new([(x0, 0), (x0 + bar * 0.9, *n)], color.mix(0.7).filled())
                }))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One episode as [`traces_svg`] draws it.
#[derive(Clone, Copy, Debug)]
pub struct Trace<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Reward of each step.
    pub rewards: &'a [f32],
    /// Commands, step-major (`steps x action dims`).
    pub actions: &'a [f32],
    /// State variables, one value per state from the reset on (one more
    /// than there are steps), in the order of the state names; empty when
    /// the state is unknown.
    pub states: &'a [Vec<f32>],
}

/// Panel height of one action component, pixels.
const ACTION_PANEL: u32 = 120;

/// Every episode's reward per step (top), then each state variable with
/// the episodes overlaid, then every action component, one row per
/// component and one column per episode (so that chattering actions of
/// one episode do not hide another's), all against time.
pub fn traces_svg(
    title: &str,
    period: f64,
    state_names: &[String],
    action_names: &[String],
    episodes: &[Trace<'_>],
) -> PlotResult<String> {
    let act_dim = action_names.len().max(1);
    let states: Vec<usize> = (0..state_names.len())
        .filter(|k| {
            episodes
                .iter()
                .any(|e| e.states.get(*k).is_some_and(|v| !v.is_empty()))
        })
        .collect();
    let cols = episodes.len().max(1);
    let mut svg = String::new();
    {
        let height = 40 + 260 + 200 * states.len() as u32 + ACTION_PANEL * act_dim as u32 + 30;
        let root = SVGBackend::with_string(&mut svg, (300 * cols.max(3) as u32, height))
            .into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
        let t_max = episodes
            .iter()
            .map(|e| e.rewards.len())
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * period;
        let (top, rest) = root.split_vertically(260);
        let (r_lo, r_hi) = padded_range(
            episodes
                .iter()
                .flat_map(|e| e.rewards.iter().map(|v| *v as f64)),
        );
        let series: Vec<(&str, Vec<(f64, f64)>)> = episodes
            .iter()
            .map(|e| {
                let pts = e.rewards.iter().enumerate();
                // A step's reward is drawn at the end of the step.
                (
                    e.label,
                    pts.map(|(i, v)| ((i + 1) as f64 * period, *v as f64))
                        .collect(),
                )
            })
            .collect();
        overlaid_panel(&top, "reward", t_max, (r_lo.min(0.0), r_hi), &series, true)?;
        let (middle, bottom) = rest.split_vertically(200 * states.len() as u32);
        let state_panels = if states.is_empty() {
            Vec::new()
        } else {
            middle.split_evenly((states.len(), 1))
        };
        for (k, panel) in states.iter().zip(&state_panels) {
            let series: Vec<(&str, Vec<(f64, f64)>)> = episodes
                .iter()
                .map(|e| {
                    let v = e.states.get(*k).map(Vec::as_slice).unwrap_or(&[]);
                    let pts = v.iter().enumerate();
                    (
                        e.label,
                        pts.map(|(i, v)| (i as f64 * period, *v as f64)).collect(),
                    )
                })
                .collect();
            let (lo, hi) = padded_range(series.iter().flat_map(|(_, p)| p.iter().map(|x| x.1)));
            overlaid_panel(panel, &state_names[*k], t_max, (lo, hi), &series, false)?;
        }
        let cells = bottom.split_evenly((act_dim, cols));
        for (c, cell) in cells.iter().enumerate() {
            let (a, g) = (c / cols, c % cols);
            let Some(e) = episodes.get(g) else { continue };
            let values: Vec<(f64, f64)> = e
                .actions
                .chunks_exact(act_dim)
                .enumerate()
                .map(|(i, row)| (i as f64 * period, row.get(a).copied().unwrap_or(0.0) as f64))
                .collect();
            let (lo, hi) = padded_range(episodes.iter().flat_map(|e| {
                e.actions
                    .chunks_exact(act_dim)
                    .map(move |row| row.get(a).copied().unwrap_or(0.0) as f64)
            }));
            let color = PALETTE[g % PALETTE.len()];
            let mut chart = ChartBuilder::on(cell)
                .margin(6)
                .caption(
                    if a == 0 {
                        e.label.to_string()
                    } else {
                        String::new()
                    },
                    ("sans-serif", 13),
                )
                .x_label_area_size(if a + 1 == act_dim { 30 } else { 14 })
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..t_max, lo..hi)
                .map_err(err)?;
            let mut mesh = chart.configure_mesh();
            mesh.y_labels(4).x_labels(5);
            if g == 0 {
                mesh.y_desc(action_names.get(a).map(String::as_str).unwrap_or("action"));
            }
            if a + 1 == act_dim {
                mesh.x_desc("time (s)");
            }
            mesh.draw().map_err(err)?;
            chart
                .draw_series(LineSeries::new(values, color))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One full-width panel with every episode's series overlaid.
fn overlaid_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    y_desc: &str,
    t_max: f64,
    (lo, hi): (f64, f64),
    series: &[(&str, Vec<(f64, f64)>)],
    legend: bool,
) -> PlotResult<()> {
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..t_max, lo..hi)
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(y_desc);
    mesh.draw().map_err(err)?;
    for (g, (label, pts)) in series.iter().enumerate() {
        let color = PALETTE[g % PALETTE.len()];
        let s = chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?;
        if legend {
            s.label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Histogram of controller time per tick (log-spaced bins), with the
/// control period marked.
pub fn controller_time_svg(title: &str, times_us: &[f32], period_us: f64) -> PlotResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let lo = times_us
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f32::INFINITY, f32::min)
            .max(0.1) as f64;
        let hi = (times_us.iter().copied().fold(0.0, f32::max) as f64)
            .max(period_us)
            .max(lo * 10.0);
        let (l0, l1) = (lo.log10().floor(), hi.log10().ceil());
        let bins = 40usize;
        let mut counts = vec![0usize; bins];
        for t in times_us {
            let x = (*t as f64).max(lo).log10();
            let b = (((x - l0) / (l1 - l0)) * bins as f64) as usize;
            counts[b.min(bins - 1)] += 1;
        }
        let y_max = counts.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (10f64.powf(l0)..10f64.powf(l1)).log_scale(),
                0usize..y_max + 1,
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("controller time per tick (us, log scale)")
            .y_desc("ticks")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(b, n)| {
                        let x0 = 10f64.powf(l0 + (l1 - l0) * b as f64 / bins as f64);
                        let x1 = 10f64.powf(l0 + (l1 - l0) * (b + 1) as f64 / bins as f64);
                        Rectangle::new([(x0, 0), (x1, *n)], BLUE.mix(0.6).filled())
                    }),
            )
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(period_us, 0), (period_us, y_max + 1)],
                RED.stroke_width(2),
            )))
            .map_err(err)?
            .label(format!("control period {:.0} us", period_us))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

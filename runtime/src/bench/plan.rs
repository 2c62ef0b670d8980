//! `umwelt bench plan`: the MPC planner's time per decision over the
//! learned model at its full budget, beside the sgemm peak and a fixed
//! reference job that shows the machine's own tail.

use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_sim::{Env, RobotKind, tasks_of};

use super::sgemm::sgemm_operands;
use super::{BenchError, quantile, sgemm_gflops};
use crate::offline::explore::uniform_action;
use crate::offline::plant::Plant;
use umwelt_models::world_model::{pixels_tensor, stack_frames, tensor_to_vec};

/// Options of [`bench_plan`].
#[derive(Clone, Debug)]
pub struct PlanBenchOptions {
    /// Robot (its first task) whose sizes the model gets.
    pub robot: String,
    /// A checkpoint to plan with instead of a randomly initialised model.
    pub checkpoint: Option<std::path::PathBuf>,
    /// The planner (its budget is what is timed).
    pub planner: crate::plan::PlannerConfig,
    /// Model sizes when no checkpoint is given.
    pub model: umwelt_models::world_model::WorldModelConfig,
    /// Rollout threads.
    pub threads: usize,
    /// Plans to time (back to back, and as many paced).
    pub plans: usize,
    /// Also time plans paced at this control period.
    pub period: Option<Duration>,
    /// Where the rollout workers run.
    pub workers: umwelt_models::world_model::WorkerPlacement,
    /// How the model multiplies its wide layers.
    pub precision: umwelt_models::world_model::Precision,
    /// What a random model sees (a checkpoint's own config wins): with
    /// pixels, the robot's first camera's images are rendered every plan
    /// and the encoder's convolutions run in it.
    pub obs: crate::offline::learn::ObsMode,
}

/// What `umwelt bench plan` measures.
#[derive(Clone, Debug, Serialize)]
pub struct PlanBench {
    /// Robot and task.
    pub robot: String,
    /// Task.
    pub task: String,
    /// Where the model came from.
    pub model_source: String,
    /// Its sizes.
    pub model: umwelt_models::world_model::WorldModelConfig,
    /// The planner's budget.
    pub planner: crate::plan::PlannerConfig,
    /// How the model multiplied its wide layers.
    pub precision: umwelt_models::world_model::Precision,
    /// Whether this CPU has bfloat16 multiply-adds (AVX512-BF16).
    pub bf16_native: bool,
    /// How `bf16` products are computed here: `dpbf16` where the CPU has
    /// the instruction and it timed faster than the `f32` kernels, else
    /// `f32` (the same bits, at about f32's speed).
    pub bf16_kernel: umwelt_models::world_model::Bf16Kernel,
    /// What that choice timed, microseconds for four calls of a hidden
    /// layer (64 rows, 128 to 128): `[vdpbf16ps, f32 kernels]`; absent
    /// without AVX512-BF16.
    pub bf16_kernel_timing_us: Option<[f64; 2]>,
    /// Rollout threads.
    pub threads: usize,
    /// The CPU each rollout worker was bound to (`None`: it floated).
    pub worker_cpus: Vec<Option<usize>>,
    /// Latent sample-steps scored per plan.
    pub sample_steps: usize,
    /// FLOPs per plan (rollouts, terminal values and policy-prior samples).
    pub flops_per_plan: f64,
    /// Plans timed.
    pub plans: usize,
    /// Plan time percentiles, milliseconds (encoding included).
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
    /// GFLOP/s at the median plan time.
    pub gflops: f64,
    /// sgemm (512 x 256 x 256, gemm crate) on as many threads, this run.
    pub sgemm_gflops: f64,
    /// `gflops / sgemm_gflops`. Above 1 in `bf16` with bfloat16
    /// instructions, which do twice the multiply-adds of f32's.
    pub fraction_of_sgemm: f64,
    /// Plans per second at the median.
    pub plans_per_s: f64,
    /// `ms_p99 / ms_p50`: how far the slow plans stand out.
    pub tail: f64,
    /// The reference job, timed in blocks between the blocks of plans: a
    /// fixed count of sgemm calls split over as many threads, sized to
    /// take about a plan's time. Its tail is the machine's (preemption, a
    /// slowed vCPU), since the job does the same arithmetic every time.
    pub reference: ReferenceJob,
    /// Plans paced at a control period (`umwelt bench plan --period-ms`),
    /// if asked for.
    pub paced: Option<PacedPlans>,
    /// A pixel model's convolution pass over one stacked input, timed on
    /// its own after each back-to-back plan (whose times include it);
    /// absent for a state model.
    pub encoder: Option<EncoderTimes>,
}

/// The time of a pixel model's convolutions for one decision.
#[derive(Clone, Debug, Serialize)]
pub struct EncoderTimes {
    /// Camera and size.
    pub camera: String,
    /// Image width x height, pixels.
    pub image: [usize; 2],
    /// Frames stacked.
    pub frames: usize,
    /// Multiply-adds of one pass.
    pub macs: f64,
    /// Percentiles, milliseconds.
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
}

/// Plan times when one plan starts every control period, as `umwelt run`
/// plans (the threads idle between plans).
#[derive(Clone, Debug, Serialize)]
pub struct PacedPlans {
    /// The period, milliseconds.
    pub period_ms: f64,
    /// Plan time percentiles, milliseconds.
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
}

/// What [`PlanBench::reference`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct ReferenceJob {
    /// sgemm calls per job (`m x k x n` each, see `shape`).
    pub calls: usize,
    /// The product's shape, `[m, k, n]`.
    pub shape: [usize; 3],
    /// Job time percentiles, milliseconds.
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
    /// `ms_p99 / ms_p50`.
    pub tail: f64,
    /// Threads the calls are split over.
    pub threads: usize,
}

/// Times the MPC planner over the learned model (a checkpoint's or a
/// randomly initialised one of the same sizes; speed does not depend on
/// the weights) from observations of a random-policy episode, with the
/// deadline far away so every iteration runs: the full budget is timed.
/// Blocks of plans alternate with blocks of a fixed reference job of about
/// a plan's length on as many threads, so that the report can say how
/// much of the plans' tail is the machine's; then, with `period`, as many
/// plans paced one per period, as the control loop plans.
pub fn bench_plan(o: &PlanBenchOptions) -> Result<PlanBench, BenchError> {
    use burn::tensor::Device;
    use umwelt_models::world_model::{Checkpoint, InferenceModel, Normalization, WorldModel};

    use crate::control::mpc::Objective;
    use crate::control::{ControlInput, Controller};
    use crate::plan::LearnedModel;

    let kind = RobotKind::from_name(&o.robot)?;
    let task = tasks_of(kind)
        .first()
        .map(|t| t.name.to_string())
        .ok_or("robot without tasks")?;
    let mut env = Env::new(&o.robot, &task)?;
    let (od, ad) = (env.observation_spec().len(), env.action_spec().len());
    let device = Device::flex();
    let (model, norm, gamma, repeat, source) = match &o.checkpoint {
        Some(path) => {
            let ck = Checkpoint::load(path, &device)?;
            let g = ck.meta.train.config.gamma;
            (
                ck.model,
                ck.meta.normalization,
                g,
                ck.meta.action_repeat as usize,
                path.display().to_string(),
            )
        }
        None => {
            let mut cfg = umwelt_models::world_model::WorldModelConfig {
                obs_dim: od,
                act_dim: ad,
                ..o.model.clone()
            };
            if o.obs != crate::offline::learn::ObsMode::State {
                let cam = env.cameras().first().ok_or("the robot has no camera")?;
                let mut p = umwelt_models::world_model::PixelConfig::new(
                    &cam.name,
                    cam.width as usize,
                    cam.height as usize,
                );
                p.state = o.obs == crate::offline::learn::ObsMode::Both;
                cfg.pixels = Some(p);
            }
            (
                WorldModel::new(&cfg, 0, &device)?,
                Normalization::identity(od, ad),
                0.99,
                1,
                "random initialisation".to_string(),
            )
        }
    };
    // A model of several control steps per step plans with that repeat; no
    // holding, so that every call is a full plan and is timed.
    let p = &crate::plan::PlannerConfig {
        action_repeat: repeat,
        hold: false,
        ..o.planner.clone()
    };
    let flops_model = InferenceModel::from_model(&model)?;
    let eyes = model.pixel.clone().zip(model.config.pixels.clone());
    let mut learned = LearnedModel::from_model(
        &model,
        norm,
        gamma,
        repeat,
        &Objective::Task,
        o.precision,
        o.threads,
        p.samples,
        p.horizon,
    )?;
    learned.place_workers(&o.workers)?;
    let worker_cpus = learned.worker_cpus().to_vec();
    // The planner's model chose its bfloat16 kernel; an f32 run reports
    // what a bf16 model would choose here.
    let (bf16_kernel, bf16_timings) = match o.precision {
        umwelt_models::world_model::Precision::Bf16 => {
            let m = learned.inference_model();
            (m.bf16_kernel(), m.bf16_kernel_timings())
        }
        umwelt_models::world_model::Precision::F32 => {
            umwelt_models::world_model::Bf16Kernel::choose()
        }
    };
    let flops_per_plan = p.iterations as f64 * flops_model.flops_rollout(p.samples, p.horizon)
        + flops_model.flops_policy_rollout(p.policy_samples, p.horizon);
    let mut mpc = crate::control::mpc::Mpc::new(p.clone(), Box::new(learned))?;
    mpc.reset();
    let mut obs = env.reset(0)?;
    let cameras = mpc.cameras();
    let mut images = Vec::new();
    let mut stacked = Vec::new();
    let mut encoder_times = Vec::new();
    let mut out = vec![0.0; ad];
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let spec = env.action_spec().clone();
    // The deadline is far away in every plan: the full budget is timed.
    let mut plan = |i: usize, time_encoder: bool| -> Result<f64, BenchError> {
        if !cameras.is_empty() {
            Plant::images(&mut env, &cameras, &mut images)?;
        }
        let input = ControlInput {
            observation: &obs.vector,
            sensors: &obs.sensors,
            images: &images,
            deadline: Instant::now() + Duration::from_secs(10),
        };
        let t = Instant::now();
        mpc.act(&input, &mut out)?;
        let took = t.elapsed().as_secs_f64();
        if let (true, Some((conv, pc))) = (time_encoder, &eyes) {
            // The same work as the plan's encoder step: stack, scale, convolve.
            let t = Instant::now();
            let frames: Vec<&[u8]> = (0..pc.frames).map(|_| images[0].data.as_slice()).collect();
            stacked.clear();
            stack_frames(pc, &frames, (pc.shift, pc.shift), &mut stacked);
            let f = tensor_to_vec(conv.forward(pixels_tensor(&stacked, 1, pc, &device)));
            std::hint::black_box(f);
            encoder_times.push(t.elapsed().as_secs_f64());
        }
        // Move on with random actions: plans from varied states.
        let mut a = Vec::new();
        uniform_action(&spec.entries, &mut rng, &mut a);
        let s = env.step(&a)?;
        obs = if s.terminated || s.truncated {
            env.reset(i as u64)?
        } else {
            s.observation
        };
        Ok(took)
    };
    for i in 0..5 {
        plan(i, false)?;
    }
    let mut reference = Reference::new(o.threads);
    // Back to back, in blocks of plans and of reference jobs in turn: both
    // keep every thread busy, and each block sees the machine as the
    // neighbouring ones do.
    let mut times = Vec::with_capacity(o.plans);
    let mut job_times = Vec::with_capacity(o.plans);
    let mut i = 5;
    while times.len() < o.plans {
        let block = (o.plans - times.len()).min(Reference::BLOCK);
        for _ in 0..block {
            times.push(plan(i, true)?);
            i += 1;
        }
        if job_times.is_empty() {
            // Sized on the first block of timed plans: the first few plans
            // of a fresh engine run slow.
            let mut first = times.clone();
            first.sort_by(f64::total_cmp);
            reference.size_to(quantile(&first, 0.5))?;
        }
        for _ in 0..block {
            job_times.push(reference.run()?);
        }
    }
    // Paced: one plan per control period, as `umwelt run` plans, the
    // threads idle in between.
    let mut paced = Vec::with_capacity(o.plans);
    if let Some(period) = o.period {
        let mut next = Instant::now() + period;
        for _ in 0..o.plans {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next = Instant::now().max(next) + period;
            paced.push(plan(i, false)?);
            i += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    job_times.sort_by(f64::total_cmp);
    paced.sort_by(f64::total_cmp);
    let sgemm = sgemm_gflops(512, 256, 256, o.threads, 1.0)?;
    let p50 = quantile(&times, 0.5);
    let gflops = flops_per_plan / p50 / 1e9;
    let ms = |q: f64, t: &[f64]| quantile(t, q) * 1e3;
    let reference = ReferenceJob {
        calls: reference.calls,
        shape: [Reference::M, Reference::K, Reference::N],
        ms_p50: ms(0.5, &job_times),
        ms_p99: ms(0.99, &job_times),
        ms_max: job_times.last().copied().unwrap_or(f64::NAN) * 1e3,
        tail: quantile(&job_times, 0.99) / quantile(&job_times, 0.5),
        threads: reference.threads,
    };
    let paced = o.period.map(|period| PacedPlans {
        period_ms: period.as_secs_f64() * 1e3,
        ms_p50: ms(0.5, &paced),
        ms_p99: ms(0.99, &paced),
        ms_max: paced.last().copied().unwrap_or(f64::NAN) * 1e3,
    });
    encoder_times.sort_by(f64::total_cmp);
    let encoder = eyes.as_ref().map(|(_, pc)| EncoderTimes {
        camera: pc.camera.clone(),
        image: [pc.width, pc.height],
        frames: pc.frames,
        macs: pc.forward_macs(),
        ms_p50: ms(0.5, &encoder_times),
        ms_p99: ms(0.99, &encoder_times),
        ms_max: encoder_times.last().copied().unwrap_or(f64::NAN) * 1e3,
    });
    Ok(PlanBench {
        encoder,
        robot: o.robot.clone(),
        task,
        model_source: source,
        model: model.config.clone(),
        planner: p.clone(),
        precision: o.precision,
        bf16_native: umwelt_models::world_model::Precision::bf16_native(),
        bf16_kernel,
        bf16_kernel_timing_us: bf16_timings
            .map(|(dp, f)| [dp.as_secs_f64() * 1e6, f.as_secs_f64() * 1e6]),
        threads: o.threads,
        worker_cpus,
        sample_steps: p.sample_steps(),
        flops_per_plan,
        plans: times.len(),
        ms_p50: p50 * 1e3,
        ms_p99: quantile(&times, 0.99) * 1e3,
        ms_max: times.last().copied().unwrap_or(f64::NAN) * 1e3,
        gflops,
        sgemm_gflops: sgemm,
        fraction_of_sgemm: gflops / sgemm,
        plans_per_s: 1.0 / p50,
        tail: quantile(&times, 0.99) / p50,
        reference,
        paced,
    })
}

/// The fixed job [`bench_plan`] times between its blocks of plans (see
/// [`PlanBench::reference`]).
struct Reference {
    lhs: Vec<f32>,
    rhs: Vec<f32>,
    /// One output buffer per thread.
    dst: Vec<Vec<f32>>,
    calls: usize,
    threads: usize,
}

impl Reference {
    /// One call's shape: a rollout tile's rows, twice a hidden layer's width.
    const M: usize = 64;
    const K: usize = 256;
    const N: usize = 256;
    /// Plans, then as many jobs, in turn.
    const BLOCK: usize = 10;

    fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (lhs, rhs) = sgemm_operands(Self::M, Self::K, Self::N);
        Self {
            lhs,
            rhs,
            dst: vec![vec![0.0; Self::M * Self::N]; threads],
            calls: threads,
            threads,
        }
    }

    /// Sets the call count so that a job takes about `seconds`.
    fn size_to(&mut self, seconds: f64) -> Result<(), BenchError> {
        // Rescaled on whole jobs, not single calls: a short call can fit
        // between two preemptions that a plan-long job cannot avoid.
        self.calls = self.threads;
        for _ in 0..4 {
            let mut t = (0..3).map(|_| self.run()).collect::<Result<Vec<_>, _>>()?;
            t.sort_by(f64::total_cmp);
            let per_call = t[1].max(1e-7) / self.calls as f64;
            self.calls = ((seconds / per_call).round() as usize).clamp(self.threads, 1_000_000);
        }
        Ok(())
    }

    /// Runs the job, its calls split evenly over the threads (the calling
    /// one and scoped helpers); its wall time in seconds.
    fn run(&mut self) -> Result<f64, BenchError> {
        use umwelt_models::world_model::{ModelError, sgemm};
        let (m, k, n) = (Self::M, Self::K, Self::N);
        let (lhs, rhs, threads) = (&self.lhs, &self.rhs, self.threads);
        let calls = self.calls;
        let work = |t: usize, dst: &mut Vec<f32>| -> Result<(), ModelError> {
            for _ in 0..(calls * (t + 1) / threads - calls * t / threads) {
                sgemm(m, n, k, dst, n, lhs, k, rhs, n)?;
            }
            Ok(())
        };
        let start = Instant::now();
        std::thread::scope(|s| -> Result<(), BenchError> {
            let (first, rest) = self.dst.split_at_mut(1);
            let helpers: Vec<_> = rest
                .iter_mut()
                .enumerate()
                .map(|(t, dst)| s.spawn(move || work(t + 1, dst)))
                .collect();
            work(0, &mut first[0])?;
            for h in helpers {
                h.join().map_err(|_| "reference job thread panicked")??;
            }
            Ok(())
        })?;
        Ok(start.elapsed().as_secs_f64())
    }
}

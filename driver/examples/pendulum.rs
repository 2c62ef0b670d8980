//! A pendulum integrated by hand, served to umwelt controllers as robot
//! `pendulum` (dm_control's: 1 kg at 0.5 m, 1 N m of torque, angle 0 upright,
//! 50 Hz). `cargo run --release -p umwelt-driver --example pendulum [-- --lockstep]`
use std::sync::atomic::AtomicBool;
use umwelt_driver::{CommandMode, Driver, DriverConfig, Measurement, Robot, RobotError};

/// Angle (rad, 0 upright) and angular speed (rad/s); steps into the episode.
#[derive(Default)]
pub struct Pendulum(f32, f32, u32);

impl Robot for Pendulum {
    fn reset(&mut self, seed: u64) -> Result<Measurement, RobotError> {
        // splitmix64 of the seed: a start angle in [-pi, pi), no RNG crate needed.
        let z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let unit = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
        *self = Self((2.0 * unit - 1.0) * std::f32::consts::PI, 0.0, 0);
        Ok(self.measure(0.0))
    }

    fn step(&mut self, action: &[f32]) -> Result<Measurement, RobotError> {
        let torque = action.first().copied().unwrap_or(0.0).clamp(-1.0, 1.0);
        for _ in 0..10 {
            // Semi-implicit Euler, 2 ms: gravity m g l sin(angle), damping 0.1, inertia m l^2.
            let accel = (9.81 * 0.5 * self.0.sin() + torque - 0.1 * self.1) / 0.25;
            self.1 += accel * 0.002;
            self.0 += self.1 * 0.002;
        }
        self.2 += 1;
        Ok(self.measure(torque))
    }
}

impl Pendulum {
    fn measure(&self, torque: f32) -> Measurement {
        let upright = self.0.cos() >= 8f32.to_radians().cos(); // dm_control's swingup reward
        let (positions, velocities, efforts) = (vec![self.0], vec![self.1], vec![torque]);
        let (reward, done) = (f32::from(u8::from(upright)), self.2 >= 1000); // 20 s episodes
        Measurement {
            positions,
            velocities,
            efforts,
            reward,
            success: upright,
            done,
            ..Default::default()
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut config = DriverConfig::new("pendulum", 1, CommandMode::Torque, vec![0.0]);
    (config.node, config.task_channels) = ("pendulum-example".into(), true);
    config.lockstep = std::env::args().any(|a| a == "--lockstep");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))?;
    let summary = Driver::new(config)?.run(&mut Pendulum::default(), &stop)?;
    println!("{summary}");
    Ok(())
}

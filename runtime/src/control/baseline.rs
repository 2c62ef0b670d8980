//! A model-free cart-pole controller: energy-shaping swing-up (Åström and
//! Furuta, 2000) with cart centring, and a discrete LQR balance near upright.
//! It lets the control loop be tested end to end before any learning exists.

use serde::{Deserialize, Serialize};

use super::controller::{ControlInput, Controller, ControllerError};

/// Model and tuning of the cart-pole baseline. Defaults match the simulated
/// cart-pole (dm_control's): 1 kg cart, 0.1 kg pole of 1 m.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartpoleParams {
    /// Cart mass (kg).
    #[serde(default = "d_cart")]
    pub cart_mass: f64,
    /// Pole mass (kg).
    #[serde(default = "d_pole")]
    pub pole_mass: f64,
    /// Pole length (m), hinged at one end.
    #[serde(default = "d_len")]
    pub pole_length: f64,
    /// Swing-up gain: cart acceleration per joule of energy error.
    #[serde(default = "d_ke")]
    pub energy_gain: f64,
    /// Swing-up cart centring gains on position (1/s^2) and velocity (1/s).
    #[serde(default = "d_centre")]
    pub centre_gains: [f64; 2],
    /// Switch from swing-up to LQR within this angle of upright (deg).
    #[serde(default = "d_switch")]
    pub switch_deg: f64,
    /// LQR state weights on cart position, pole angle, cart and pole velocity.
    #[serde(default = "d_q")]
    pub lqr_q: [f64; 4],
    /// LQR weight on the force.
    #[serde(default = "d_r")]
    pub lqr_r: f64,
    /// Largest force (N).
    #[serde(default = "d_fmax")]
    pub max_force: f64,
}

fn d_cart() -> f64 {
    1.0
}
fn d_pole() -> f64 {
    0.1
}
fn d_len() -> f64 {
    1.0
}
fn d_ke() -> f64 {
    12.0
}
fn d_centre() -> [f64; 2] {
    [1.5, 1.5]
}
fn d_switch() -> f64 {
    30.0
}
fn d_q() -> [f64; 4] {
    [1.0, 20.0, 0.5, 0.5]
}
fn d_r() -> f64 {
    0.05
}
fn d_fmax() -> f64 {
    10.0
}

impl Default for CartpoleParams {
    fn default() -> Self {
        Self {
            cart_mass: d_cart(),
            pole_mass: d_pole(),
            pole_length: d_len(),
            energy_gain: d_ke(),
            centre_gains: d_centre(),
            switch_deg: d_switch(),
            lqr_q: d_q(),
            lqr_r: d_r(),
            max_force: d_fmax(),
        }
    }
}

type M4 = [[f64; 4]; 4];

/// Linearised cart-pole about upright: state (x, theta, x', theta'), input
/// force; theta positive towards +x.
fn linear_model(p: &CartpoleParams) -> (M4, [f64; 4]) {
    let (big_m, m, g) = (p.cart_mass, p.pole_mass, 9.81);
    let l = p.pole_length / 2.0;
    let j = m * p.pole_length * p.pole_length / 12.0 + m * l * l;
    let d = (big_m + m) - m * m * l * l / j;
    let x_theta = -(m * m * l * l * g / j) / d;
    let mut a = [[0.0; 4]; 4];
    a[0][2] = 1.0;
    a[1][3] = 1.0;
    a[2][1] = x_theta;
    a[3][1] = m * g * l / j - (m * l / j) * x_theta;
    (a, [0.0, 0.0, 1.0 / d, -(m * l / j) / d])
}

/// Discrete-time LQR gain by Riccati iteration in Joseph form (the plain
/// form loses positive definiteness on this unstable plant).
pub fn lqr_gain(p: &CartpoleParams, dt: f64) -> Option<[f64; 4]> {
    let (a, b) = linear_model(p);
    // Euler discretisation: A_d = I + A dt, B_d = B dt.
    let ad: M4 = std::array::from_fn(|i| {
        std::array::from_fn(|k| f64::from(u8::from(i == k)) + a[i][k] * dt)
    });
    let bd = b.map(|v| v * dt);
    let mut pm: M4 =
        std::array::from_fn(|i| std::array::from_fn(|k| if i == k { p.lqr_q[i] } else { 0.0 }));
    for _ in 0..100_000 {
        let pb: [f64; 4] = std::array::from_fn(|i| (0..4).map(|k| pm[i][k] * bd[k]).sum());
        let denom = p.lqr_r + (0..4).map(|i| bd[i] * pb[i]).sum::<f64>();
        let gain: [f64; 4] =
            std::array::from_fn(|j| (0..4).map(|k| pb[k] * ad[k][j]).sum::<f64>() / denom);
        let acl: M4 = std::array::from_fn(|i| std::array::from_fn(|j| ad[i][j] - bd[i] * gain[j]));
        let pa: M4 = std::array::from_fn(|i| {
            std::array::from_fn(|j| (0..4).map(|k| pm[i][k] * acl[k][j]).sum())
        });
        let next: M4 = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let q = if i == j { p.lqr_q[i] } else { 0.0 };
                q + (0..4).map(|k| acl[k][i] * pa[k][j]).sum::<f64>() + p.lqr_r * gain[i] * gain[j]
            })
        });
        let scale = next.iter().flatten().fold(1.0f64, |s, v| s.max(v.abs()));
        let change = (0..16)
            .map(|n| (next[n / 4][n % 4] - pm[n / 4][n % 4]).abs())
            .fold(0.0, f64::max);
        pm = next;
        if !scale.is_finite() {
            return None;
        }
        if change < 1e-10 * scale {
            return Some(gain);
        }
    }
    None
}

/// The cart-pole baseline controller.
pub struct CartpoleSwingup {
    p: CartpoleParams,
    gain: [f64; 4],
    slider: usize,
    hinge: usize,
}

impl CartpoleSwingup {
    /// A controller for joints named `slider` and `hinge` among `joints`,
    /// acting every `dt` seconds.
    pub fn new(p: CartpoleParams, joints: &[String], dt: f64) -> Result<Self, ControllerError> {
        let find = |n: &str| {
            joints.iter().position(|j| j == n).ok_or_else(|| {
                ControllerError::Setup(format!("cartpole_swingup needs a joint named `{n}`"))
            })
        };
        let gain = lqr_gain(&p, dt).ok_or_else(|| {
            ControllerError::Setup(
                "cartpole_swingup: the LQR Riccati iteration did not converge".into(),
            )
        })?;
        Ok(Self {
            slider: find("slider")?,
            hinge: find("hinge")?,
            p,
            gain,
        })
    }

    /// The LQR gain in use.
    pub fn gain(&self) -> [f64; 4] {
        self.gain
    }
}

impl Controller for CartpoleSwingup {
    fn name(&self) -> &str {
        "cartpole_swingup"
    }

    fn reset(&mut self) {}

    fn act(&mut self, input: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
        let s = input.sensors;
        let x = f64::from(s.positions[self.slider]);
        let xd = f64::from(s.velocities[self.slider]);
        let th_raw = f64::from(s.positions[self.hinge]);
        let thd = f64::from(s.velocities[self.hinge]);
        let th = th_raw.sin().atan2(th_raw.cos());
        let p = &self.p;
        let force = if th.cos() > p.switch_deg.to_radians().cos() {
            -(self.gain[0] * x + self.gain[1] * th + self.gain[2] * xd + self.gain[3] * thd)
        } else {
            let (m, l) = (p.pole_mass, p.pole_length / 2.0);
            let j = m * p.pole_length * p.pole_length / 12.0 + m * l * l;
            let energy = 0.5 * j * thd * thd + m * 9.81 * l * (th.cos() - 1.0);
            // Pushing the cart against theta' cos(theta) pumps energy in.
            let pump = if thd * th.cos() > 0.0 { 1.0 } else { -1.0 };
            let accel =
                p.energy_gain * energy * pump - p.centre_gains[0] * x - p.centre_gains[1] * xd;
            (p.cart_mass + p.pole_mass) * accel
        };
        out[0] = force.clamp(-p.max_force, p.max_force) as f32;
        Ok(())
    }
}

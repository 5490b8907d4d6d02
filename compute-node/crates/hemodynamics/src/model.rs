//! The closed-loop six-compartment time-varying-elastance model (right-hand side of the ODE).
//!
//! # Reference
//!
//! Smith B.W., Chase J.G., Nokes R.I., Shaw G.M., Wake G., "Minimal haemodynamic system model
//! including ventricular interaction and valve dynamics", Med. Eng. Phys. 26 (2004) 131–139.
//!
//! # Equations (Smith et al. 2004, with the simplifications listed below)
//!
//! Compartments, in state-vector order: left ventricle (lv), aorta (ao), vena cava (vc),
//! right ventricle (rv), pulmonary artery (pa), pulmonary vein (pu). State = the six stressed
//! volumes V (mL); pressures P in mmHg, flows Q in mL/s, time t in s.
//!
//! * Activation (driver) function, t_b = time since the start of the current beat
//!   (t_b = t mod T, T = 60/HR):  `e(t) = exp(−B (t_b − C)²)`  (Smith 2004, single Gaussian, A = 1).
//! * Pericardium (passive, encloses both ventricles), thoracic pressure P_th:
//!   `P_peri = P_0,pcd (exp(λ_pcd (V_lv + V_rv − V_0,pcd)) − 1) + P_th`.
//! * Ventricles (v ∈ {lv, rv}), free wall interpolated between the end-systolic and
//!   end-diastolic pressure–volume relations, plus the pericardial pressure:
//!   `P_es,v = E_es,v (V_v − V_d,v)`,
//!   `P_ed,v = P_0,v (exp(λ_v (V_v − V_0,v)) − 1)`,
//!   `P_v = e(t) P_es,v + (1 − e(t)) P_ed,v + P_peri`.
//! * Passive chambers, zero dead volume (Smith 2004): systemic `P_ao = E_ao V_ao`,
//!   `P_vc = E_vc V_vc`; intrathoracic `P_pa = E_pa V_pa + P_th`, `P_pu = E_pu V_pu + P_th`.
//! * Vascular beds (Poiseuille resistors): `Q_sys = (P_ao − P_vc)/R_sys`,
//!   `Q_pul = (P_pa − P_pu)/R_pul`.
//! * Valves (ideal diodes with resistance): `Q = max(P_up − P_down, 0)/R_valve` for the mitral
//!   (pu→lv), aortic (lv→ao), tricuspid (vc→rv) and pulmonary (rv→pa) valves.
//! * Mass conservation: `dV_lv/dt = Q_mt − Q_av`, `dV_ao/dt = Q_av − Q_sys`,
//!   `dV_vc/dt = Q_sys − Q_tc`, `dV_rv/dt = Q_tc − Q_pv`, `dV_pa/dt = Q_pv − Q_pul`,
//!   `dV_pu/dt = Q_pul − Q_mt`; hence Σ V = V_tot (stressed blood volume) for all t.
//!
//! # Simplifications relative to Smith et al. 2004 (deliberate)
//!
//! 1. **No septum**: Smith et al. split each ventricle into free wall and a shared septum whose
//!    volume V_spt solves an algebraic equation every step (direct ventricular interaction).
//!    Here V_spt ≡ 0, so each ventricle is its free wall; the ventricles still interact through
//!    the shared pericardium (series interaction). The septum's elastance (48.754 mmHg/mL) is
//!    17× the LV free wall's, so its volume excursion, and the error from dropping it, is small.
//! 2. **No valve inertances**: Smith et al. integrate valve flows with inertances L and close a
//!    valve when its flow reverses; here the flow is algebraic and a valve is open exactly when
//!    the pressure gradient across it is positive.
//!
//! With these simplifications the nominal model gives a physiologic adult resting state
//! (about 116/79 mmHg, SV 66 mL, CO 5.3 L/min, EF 61 %; see `tests/validation.rs`).
//! Note that, as in Smith et al., pressures are relative to atmosphere and the intrathoracic
//! compartments carry P_th = −4 mmHg, so pulmonary venous pressure is lower than a clinical
//! (transmural) left-atrial pressure by 4 mmHg.

use ode_solvers::{System, Vector6};

use crate::parameters::CirculationParameters;

/// ODE state: the six compartment volumes (mL) in the order of [`Compartment`].
pub type State = Vector6<f64>;

/// The six compartments; the discriminant is the index in [`State`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compartment {
    /// Left ventricle.
    LeftVentricle = 0,
    /// Aorta (lumped systemic arteries).
    Aorta = 1,
    /// Vena cava (lumped systemic veins).
    VenaCava = 2,
    /// Right ventricle.
    RightVentricle = 3,
    /// Pulmonary artery.
    PulmonaryArtery = 4,
    /// Pulmonary vein (lumped pulmonary veins and left atrium).
    PulmonaryVein = 5,
}

/// Distribution of the stressed volume over the compartments used as the initial condition:
/// the CellML initial values of the Smith et al. 2004 model (V_lv 94.6812, V_ao 133.3381,
/// V_vc 329.7803, V_rv 90.7302, V_pa 43.0123, V_pu 808.4579 mL, summing to 1500 mL) divided by
/// 1500 mL, so that the nominal patient starts close to its periodic orbit.
pub const INITIAL_VOLUME_FRACTIONS: [f64; 6] = [
    94.6812 / 1500.0,
    133.3381 / 1500.0,
    329.7803 / 1500.0,
    90.7302 / 1500.0,
    43.0123 / 1500.0,
    808.4579 / 1500.0,
];

/// Pressures (mmHg) of the six compartments at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompartmentPressures {
    /// Left-ventricular pressure (mmHg).
    pub left_ventricle: f64,
    /// Aortic pressure (mmHg).
    pub aorta: f64,
    /// Vena cava (central venous) pressure (mmHg).
    pub vena_cava: f64,
    /// Right-ventricular pressure (mmHg).
    pub right_ventricle: f64,
    /// Pulmonary arterial pressure (mmHg).
    pub pulmonary_artery: f64,
    /// Pulmonary venous pressure (mmHg).
    pub pulmonary_vein: f64,
}

/// The model: parameters plus the equations of the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct CirculationModel {
    parameters: CirculationParameters,
    period_s: f64,
}

impl CirculationModel {
    /// Builds the model; `parameters` should have passed [`CirculationParameters::validate`].
    pub fn new(parameters: CirculationParameters) -> Self {
        Self {
            period_s: parameters.cardiac_period_s(),
            parameters,
        }
    }

    /// The model parameters.
    pub fn parameters(&self) -> &CirculationParameters {
        &self.parameters
    }

    /// Cardiac period T (s).
    pub fn period_s(&self) -> f64 {
        self.period_s
    }

    /// Initial state: the stressed blood volume (mL) split by [`INITIAL_VOLUME_FRACTIONS`].
    pub fn initial_state(&self) -> State {
        State::from_iterator(
            INITIAL_VOLUME_FRACTIONS
                .iter()
                .map(|fraction| fraction * self.parameters.stressed_blood_volume_ml),
        )
    }

    /// Ventricular activation e(t) ∈ (0, 1] (dimensionless) at time `t_s` (s) since the start of
    /// the first beat; times in [0, T] are used as is (so t = T is the end of the beat, not the
    /// start of the next one), later times are reduced modulo T.
    pub fn activation(&self, t_s: f64) -> f64 {
        let time_in_beat = if (0.0..=self.period_s).contains(&t_s) {
            t_s
        } else {
            t_s.rem_euclid(self.period_s)
        };
        let offset = time_in_beat - self.parameters.driver_peak_time_s;
        (-self.parameters.driver_width_per_s2 * offset * offset).exp()
    }

    /// Pressures (mmHg) of all compartments for volumes `state` (mL) at time `t_s` (s).
    pub fn pressures(&self, t_s: f64, state: &State) -> CompartmentPressures {
        let p = &self.parameters;
        let e = self.activation(t_s);
        let ventricle = |volume: f64, ees: f64, vd: f64, p0: f64, lambda: f64, v0: f64| {
            let end_systolic = ees * (volume - vd);
            let end_diastolic = p0 * ((lambda * (volume - v0)).exp() - 1.0);
            e * end_systolic + (1.0 - e) * end_diastolic
        };
        let thoracic = p.thoracic_pressure_mmhg;
        let pericardial_volume = state[Compartment::LeftVentricle as usize]
            + state[Compartment::RightVentricle as usize];
        let pericardial = p.pericardium_scale_mmhg
            * ((p.pericardium_stiffness_per_ml
                * (pericardial_volume - p.pericardium_unstressed_volume_ml))
                .exp()
                - 1.0)
            + thoracic;
        CompartmentPressures {
            left_ventricle: pericardial
                + ventricle(
                    state[Compartment::LeftVentricle as usize],
                    p.lv_end_systolic_elastance_mmhg_per_ml,
                    p.lv_dead_volume_ml,
                    p.lv_edpvr_scale_mmhg,
                    p.lv_edpvr_stiffness_per_ml,
                    p.lv_edpvr_unstressed_volume_ml,
                ),
            aorta: p.aortic_elastance_mmhg_per_ml * state[Compartment::Aorta as usize],
            vena_cava: p.vena_cava_elastance_mmhg_per_ml * state[Compartment::VenaCava as usize],
            right_ventricle: pericardial
                + ventricle(
                    state[Compartment::RightVentricle as usize],
                    p.rv_end_systolic_elastance_mmhg_per_ml,
                    p.rv_dead_volume_ml,
                    p.rv_edpvr_scale_mmhg,
                    p.rv_edpvr_stiffness_per_ml,
                    p.rv_edpvr_unstressed_volume_ml,
                ),
            pulmonary_artery: thoracic
                + p.pulmonary_artery_elastance_mmhg_per_ml
                    * state[Compartment::PulmonaryArtery as usize],
            pulmonary_vein: thoracic
                + p.pulmonary_vein_elastance_mmhg_per_ml
                    * state[Compartment::PulmonaryVein as usize],
        }
    }
}

/// Flow (mL/s) through a valve modelled as a diode with resistance `resistance` (mmHg·s/mL).
fn valve_flow(upstream_mmhg: f64, downstream_mmhg: f64, resistance: f64) -> f64 {
    (upstream_mmhg - downstream_mmhg).max(0.0) / resistance
}

impl System<f64, State> for CirculationModel {
    fn system(&self, t_s: f64, state: &State, derivative: &mut State) {
        let p = &self.parameters;
        let pressure = self.pressures(t_s, state);
        let mitral = valve_flow(
            pressure.pulmonary_vein,
            pressure.left_ventricle,
            p.mitral_valve_resistance_mmhg_s_per_ml,
        );
        let aortic = valve_flow(
            pressure.left_ventricle,
            pressure.aorta,
            p.aortic_valve_resistance_mmhg_s_per_ml,
        );
        let tricuspid = valve_flow(
            pressure.vena_cava,
            pressure.right_ventricle,
            p.tricuspid_valve_resistance_mmhg_s_per_ml,
        );
        let pulmonary_valve = valve_flow(
            pressure.right_ventricle,
            pressure.pulmonary_artery,
            p.pulmonary_valve_resistance_mmhg_s_per_ml,
        );
        let systemic = (pressure.aorta - pressure.vena_cava) / p.systemic_resistance_mmhg_s_per_ml;
        let pulmonary = (pressure.pulmonary_artery - pressure.pulmonary_vein)
            / p.pulmonary_resistance_mmhg_s_per_ml;

        derivative[Compartment::LeftVentricle as usize] = mitral - aortic;
        derivative[Compartment::Aorta as usize] = aortic - systemic;
        derivative[Compartment::VenaCava as usize] = systemic - tricuspid;
        derivative[Compartment::RightVentricle as usize] = tricuspid - pulmonary_valve;
        derivative[Compartment::PulmonaryArtery as usize] = pulmonary_valve - pulmonary;
        derivative[Compartment::PulmonaryVein as usize] = pulmonary - mitral;
    }
}

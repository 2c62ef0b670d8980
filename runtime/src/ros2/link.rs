//! umwelt as a ROS 2 node on an rmw_zenoh network: one node, one
//! JointState subscription, one command publisher, each announced by a
//! liveliness token so that `ros2 node list` / `ros2 topic list` see them,
//! and every command published with rmw_zenoh's attachment (sequence
//! number, source timestamp, the publisher's GID), without which rmw_zenoh
//! subscriptions drop a sample.

use std::sync::Mutex;

use tracing::warn;
use zenoh::liveliness::LivelinessToken;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::qos::CongestionControl;
use zenoh::{Session, Wait};

use super::graph::{Attachment, EntityKind, NodeId, gid, topic_key};
use super::joints::{CommandBuilder, JointMapper, Refused};
use super::msgs::{self, JOINT_STATE, JointState};
use crate::nodes::transport::TransportError;
use crate::robot::Ros2Settings;
use crate::wire::{CommandMode, ErrorClass, SensorFrame};

/// Entity ids within the session: rmw_zenoh numbers a context's entities
/// from one counter, the node first.
const NODE_ID: u32 = 0;
const SUBSCRIPTION_ID: u32 = 1;
const PUBLISHER_ID: u32 = 2;

/// What the link needs to know of the robot.
pub struct LinkSpec {
    /// The robot's wire name (frames carry it).
    pub robot: String,
    /// Joint names in frame order.
    pub joints: Vec<String>,
    /// Actuated joints, in command order.
    pub actuated: Vec<String>,
    /// The observation (which efforts it reads).
    pub observation: umwelt_sim::ObservationMap,
    /// Command mode.
    pub mode: CommandMode,
    /// Control period, seconds.
    pub period_s: f64,
    /// The `[ros2]` settings.
    pub settings: Ros2Settings,
}

impl LinkSpec {
    /// The link of a resolved run config's robot, with `settings`.
    pub fn new(r: &crate::control::Resolved, settings: &Ros2Settings) -> Self {
        let d = &r.description;
        Self {
            robot: r.wire_name.clone(),
            joints: d.joint_names(),
            actuated: d.actuation.joints.clone(),
            observation: r.observation.clone(),
            mode: d.actuation.mode,
            period_s: d.control_period,
            settings: settings.clone(),
        }
    }
}

/// The declared node. Dropping it undeclares everything.
pub struct Ros2Link<'s> {
    _tokens: Vec<LivelinessToken>,
    _joint_states: Subscriber<()>,
    commands: Publisher<'s>,
    builder: CommandBuilder,
    gid: [u8; super::graph::GID_LEN],
    seq: Mutex<i64>,
    /// The key JointStates are read from (for messages to people).
    pub joint_state_key: String,
    /// The key commands go to.
    pub command_key: String,
}

impl<'s> Ros2Link<'s> {
    /// Declares the node on `session`; `on_frame` gets each JointState as
    /// a frame, or why it was refused (on zenoh's thread).
    pub fn open<F>(
        session: &'s Session,
        spec: &LinkSpec,
        on_frame: F,
    ) -> Result<Self, TransportError>
    where
        F: Fn(Result<SensorFrame, Refused>) + Send + Sync + 'static,
    {
        let s = &spec.settings;
        let node = NodeId {
            domain_id: s.domain_id,
            zid: session.zid().to_string(),
            node_id: NODE_ID,
            namespace: s.namespace.clone(),
            name: s.node_name.clone(),
        };
        let cmd_type = msgs::command_type(s.command_type);
        let js_topic = s.joint_state_topic();
        let cmd_topic = s.command_topic(spec.mode);
        let joint_state_key = topic_key(s.domain_id, &js_topic, &JOINT_STATE);
        let command_key = topic_key(s.domain_id, &cmd_topic, &cmd_type);
        let pub_token = node.token(
            EntityKind::Publisher,
            PUBLISHER_ID,
            Some((&cmd_topic, &cmd_type)),
        );
        let tokens = [
            node.token(EntityKind::Node, NODE_ID, None),
            node.token(
                EntityKind::Subscription,
                SUBSCRIPTION_ID,
                Some((&js_topic, &JOINT_STATE)),
            ),
            pub_token.clone(),
        ];
        let declare = |what: &'static str, key: &str, e: zenoh::Error| TransportError::Declare {
            what,
            key: key.to_string(),
            message: e.to_string(),
        };
        let tokens = tokens
            .iter()
            .map(|t| {
                session
                    .liveliness()
                    .declare_token(t.as_str())
                    .wait()
                    .map_err(|e| declare("liveliness token", t, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mapper_cell = Mutex::new(JointMapper::new(
            &spec.robot,
            &spec.joints,
            &spec.observation,
            s,
        ));
        let joint_states = session
            .declare_subscriber(joint_state_key.clone())
            .callback(move |sample| {
                let res = joint_state(
                    sample.payload().to_bytes().as_ref(),
                    sample.attachment().map(|a| a.to_bytes()),
                );
                let res = res.and_then(|js| match mapper_cell.lock() {
                    Ok(mut m) => m.frame(&js, crate::wire::now_ns()),
                    Err(_) => Err(Refused {
                        class: ErrorClass::Spec,
                        why: "joint mapper poisoned".into(),
                    }),
                });
                on_frame(res);
            })
            .wait()
            .map_err(|e| declare("subscriber", &joint_state_key, e))?;
        // zenoh publishers are reliable by default (Reliability is an
        // unstable API); rmw_zenoh's RELIABLE publishers drop under
        // congestion rather than block, as here.
        let commands = session
            .declare_publisher(command_key.clone())
            .congestion_control(CongestionControl::Drop)
            .express(true)
            .wait()
            .map_err(|e| declare("publisher", &command_key, e))?;
        Ok(Self {
            _tokens: tokens,
            _joint_states: joint_states,
            commands,
            builder: CommandBuilder::new(s.command_type, spec.mode, &spec.actuated, spec.period_s),
            gid: gid(&pub_token),
            seq: Mutex::new(0),
            joint_state_key,
            command_key,
        })
    }

    /// Publishes `values` as the next command; a failure is logged, not
    /// fatal (the next command may go through).
    pub fn command(&self, values: &[f32]) {
        let now = crate::wire::now_ns();
        let payload = match self.builder.payload(values, now) {
            Ok(p) => p,
            Err(e) => return warn!("ROS 2 command on {}: {e}", self.command_key),
        };
        let seq = match self.seq.lock() {
            Ok(mut s) => {
                *s += 1;
                *s
            }
            Err(_) => return,
        };
        let attachment = Attachment {
            sequence_number: seq,
            source_timestamp: i64::try_from(now).unwrap_or(i64::MAX),
            source_gid: self.gid,
        };
        if let Err(e) = self
            .commands
            .put(payload)
            .attachment(attachment.encode().to_vec())
            .wait()
        {
            warn!("publishing on {}: {e}", self.command_key);
        }
    }
}

/// A JointState sample: its attachment must be rmw_zenoh's (rmw_zenoh's
/// own subscriptions drop samples without one) and its payload a CDR
/// JointState.
pub fn joint_state(
    payload: &[u8],
    attachment: Option<impl AsRef<[u8]>>,
) -> Result<JointState, Refused> {
    let Some(a) = attachment else {
        return Err(Refused {
            class: ErrorClass::BadMagic,
            why: "no rmw_zenoh attachment".into(),
        });
    };
    Attachment::decode(a.as_ref()).map_err(|e| Refused {
        class: ErrorClass::BadMagic,
        why: e.to_string(),
    })?;
    msgs::decode::<JointState>(payload).map_err(|e| Refused {
        class: match e {
            msgs::CdrError::TooLarge(_) => ErrorClass::TooLarge,
            msgs::CdrError::BadHeader(_) => ErrorClass::BadMagic,
            _ => ErrorClass::Truncated,
        },
        why: e.to_string(),
    })
}

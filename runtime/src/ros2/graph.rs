//! Where ROS 2 entities live on zenoh under rmw_zenoh (Jazzy/Rolling):
//! topic key expressions, liveliness tokens (how `ros2 node list` and
//! `ros2 topic list` find nodes, publishers and subscriptions), entity
//! GIDs, and the attachment every rmw_zenoh sample carries. Formats
//! follow ros2/rmw_zenoh `rmw_zenoh_cpp/src/detail/liveliness_utils.cpp`
//! (keys, tokens, QoS text, GIDs) and `attachment_helpers.cpp` (the
//! attachment); `docs/ROS2.md` spells them out.

use super::msgs::RosType;

/// The admin space liveliness tokens live in (`ADMIN_SPACE`).
pub const ADMIN_SPACE: &str = "@ros2_lv";
/// Bytes of an entity GID (`RMW_GID_STORAGE_SIZE`).
pub const GID_LEN: usize = 16;
/// Bytes of an attachment: two i64 and a 16-byte sequence with its
/// one-byte length.
pub const ATTACHMENT_LEN: usize = 8 + 8 + 1 + GID_LEN;

/// A topic's key expression: `<domain>/<topic without outer slashes>/<dds
/// type name>/<RIHS01 hash>` (`TopicInfo::TopicInfo`).
pub fn topic_key(domain_id: u32, topic: &str, ty: &RosType) -> String {
    format!(
        "{domain_id}/{}/{}/{}",
        topic.trim_start_matches('/').trim_end_matches('/'),
        ty.dds_name,
        ty.hash
    )
}

/// `mangle_name`: `/` becomes `%`, so that a name is one key chunk.
pub fn mangle(name: &str) -> String {
    name.replace('/', "%")
}

/// Which kind of entity a token announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    /// A node (`NN`).
    Node,
    /// A publisher (`MP`).
    Publisher,
    /// A subscription (`MS`).
    Subscription,
}

impl EntityKind {
    fn tag(self) -> &'static str {
        match self {
            EntityKind::Node => "NN",
            EntityKind::Publisher => "MP",
            EntityKind::Subscription => "MS",
        }
    }
}

/// The QoS umwelt's publisher and subscriptions declare: reliable,
/// volatile, keep last 10 (rclcpp's default `QoS(10)`), the rest default.
/// In the token, fields equal to rmw_zenoh's defaults (reliable, volatile,
/// keep last 42, infinite durations, automatic liveliness) are left
/// empty: `qos_to_keyexpr`.
pub const QOS_KEEP_LAST_10: &str = "::,10:,:,:,,";

/// A ROS 2 node as umwelt announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeId {
    /// ROS_DOMAIN_ID.
    pub domain_id: u32,
    /// The zenoh session's id, as zenoh prints it.
    pub zid: String,
    /// The node's entity id within the session.
    pub node_id: u32,
    /// The node's namespace (`/` for none).
    pub namespace: String,
    /// The node's name.
    pub name: String,
}

impl NodeId {
    /// The liveliness token of entity `id` of `kind` of this node; topic
    /// entities name their topic, type and QoS. Shape:
    /// `@ros2_lv/<domain>/<zid>/<nid>/<id>/<NN|MP|MS>/<enclave>/<ns>/<node>[/<topic>/<type>/<hash>/<qos>]`,
    /// each name mangled; the enclave is `/` (rcl's default).
    pub fn token(&self, kind: EntityKind, id: u32, topic: Option<(&str, &RosType)>) -> String {
        let mut t = format!(
            "{ADMIN_SPACE}/{}/{}/{}/{id}/{}/{}/{}/{}",
            self.domain_id,
            self.zid,
            self.node_id,
            kind.tag(),
            mangle("/"),
            mangle(&self.namespace),
            mangle(&self.name),
        );
        if let Some((topic, ty)) = topic {
            t.push_str(&format!(
                "/{}/{}/{}/{QOS_KEEP_LAST_10}",
                mangle(topic),
                mangle(ty.dds_name),
                mangle(ty.hash)
            ));
        }
        t
    }
}

/// An entity's GID: the XXH3 128-bit hash of its liveliness token, low
/// 64 bits first, each little endian (`Entity::Entity`).
pub fn gid(token: &str) -> [u8; GID_LEN] {
    let h = xxhash_rust::xxh3::xxh3_128(token.as_bytes());
    let mut out = [0u8; GID_LEN];
    out[..8].copy_from_slice(&(h as u64).to_le_bytes());
    out[8..].copy_from_slice(&((h >> 64) as u64).to_le_bytes());
    out
}

/// The attachment of an rmw_zenoh sample: the publisher's sequence number
/// (from 1), its clock at publication (ns since the UNIX epoch) and its
/// GID. On the wire it is zenoh-ext serialisation of `(i64, i64,
/// std::array<uint8_t, 16>)`: two little-endian i64, then the array as a
/// sequence (LEB128 length, 16, then the bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The publisher's sequence number.
    pub sequence_number: i64,
    /// When it was published, ns since the UNIX epoch.
    pub source_timestamp: i64,
    /// The publisher's GID.
    pub source_gid: [u8; GID_LEN],
}

/// Why an attachment is not rmw_zenoh's.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("attachment of {len} bytes is not rmw_zenoh's (sequence number, timestamp, 16-byte GID)")]
pub struct AttachmentError {
    /// Its length.
    pub len: usize,
}

impl Attachment {
    /// The attachment's bytes.
    pub fn encode(&self) -> [u8; ATTACHMENT_LEN] {
        let mut out = [0u8; ATTACHMENT_LEN];
        out[..8].copy_from_slice(&self.sequence_number.to_le_bytes());
        out[8..16].copy_from_slice(&self.source_timestamp.to_le_bytes());
        out[16] = GID_LEN as u8;
        out[17..].copy_from_slice(&self.source_gid);
        out
    }

    /// Reads an attachment: exactly [`ATTACHMENT_LEN`] bytes with the GID's
    /// length 16 (a one-byte LEB128), as rmw_zenoh's deserialiser demands.
    pub fn decode(bytes: &[u8]) -> Result<Self, AttachmentError> {
        let err = AttachmentError { len: bytes.len() };
        if bytes.len() != ATTACHMENT_LEN || bytes[16] != GID_LEN as u8 {
            return Err(err);
        }
        let i64_at = |at: usize| -> Result<i64, AttachmentError> {
            let b: [u8; 8] = bytes[at..at + 8].try_into().map_err(|_| err.clone())?;
            Ok(i64::from_le_bytes(b))
        };
        let mut source_gid = [0u8; GID_LEN];
        source_gid.copy_from_slice(&bytes[17..]);
        Ok(Self {
            sequence_number: i64_at(0)?,
            source_timestamp: i64_at(8)?,
            source_gid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros2::msgs::{FLOAT64_MULTI_ARRAY, JOINT_STATE};

    #[test]
    fn keys_and_tokens_have_rmw_zenohs_shape() {
        assert_eq!(
            topic_key(0, "/joint_states", &JOINT_STATE),
            "0/joint_states/sensor_msgs::msg::dds_::JointState_/RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"
        );
        let node = NodeId {
            domain_id: 3,
            zid: "abc".into(),
            node_id: 0,
            namespace: "/".into(),
            name: "umwelt".into(),
        };
        assert_eq!(
            node.token(EntityKind::Node, 0, None),
            "@ros2_lv/3/abc/0/0/NN/%/%/umwelt"
        );
        let t = node.token(
            EntityKind::Publisher,
            2,
            Some(("/fwd/commands", &FLOAT64_MULTI_ARRAY)),
        );
        assert_eq!(
            t,
            format!(
                "@ros2_lv/3/abc/0/2/MP/%/%/umwelt/%fwd%commands/std_msgs::msg::dds_::Float64MultiArray_/{}/::,10:,:,:,,",
                FLOAT64_MULTI_ARRAY.hash
            )
        );
        // Thirteen chunks, none empty: what `Entity::make` parses.
        assert_eq!(t.split('/').count(), 13);
        assert!(t.split('/').all(|c| !c.is_empty()));
    }

    #[test]
    fn gid_is_xxh3_128_of_the_token_low_half_first() {
        // XXH3-128 of the empty input (seed 0) is
        // 99aa06d3014798d86001c324468d497f (high, low) in xxHash's test
        // vectors.
        let g = gid("");
        assert_eq!(&g[..8], &0x6001c324468d497f_u64.to_le_bytes());
        assert_eq!(&g[8..], &0x99aa06d3014798d8_u64.to_le_bytes());
    }

    #[test]
    fn attachment_round_trips_and_refuses_other_shapes() {
        let a = Attachment {
            sequence_number: 7,
            source_timestamp: 1_700_000_000_000_000_000,
            source_gid: [9; GID_LEN],
        };
        let b = a.encode();
        assert_eq!(b[16], 16);
        assert_eq!(Attachment::decode(&b), Ok(a));
        assert!(Attachment::decode(&b[..32]).is_err());
        let mut c = b;
        c[16] = 15;
        assert!(Attachment::decode(&c).is_err());
    }
}

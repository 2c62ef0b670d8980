//! Property tests of the wire codec (round trips, validation, a decoder fuzz)
//! and a check that the worked examples in docs/PROTOCOL.md are what the
//! encoder writes. Deterministic: every proptest block has a fixed seed.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{RngAlgorithm, RngSeed, TestRunner};
use std::cell::RefCell;
use std::collections::BTreeMap;
use umwelt_protocol::{
    self as wire, Applied, CommandMode, DecodeError, ErrorClass, Estop, Image, ImageEncoding,
    Message, MessageKind, MotorCommand, NodeState, Reset, SensorFrame, Status, Stepping, Telemetry,
};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x5557_0001),
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------ strategies

/// Any finite f32, uniform over bit patterns (so subnormals, -0.0, MAX...).
fn finite_f32() -> impl Strategy<Value = f32> {
    any::<u32>()
        .prop_map(f32::from_bits)
        .prop_filter("finite", |x| x.is_finite())
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<u64>()
        .prop_map(f64::from_bits)
        .prop_filter("finite", |x| x.is_finite())
}

/// Mostly finite, sometimes NaN or infinite.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => finite_f32(),
        1 => select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY]),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

/// Mostly valid names, sometimes just too long.
fn sloppy_name() -> impl Strategy<Value = String> {
    prop_oneof![9 => name(), 1 => "[a-z]{254,257}"]
}

fn sloppy_text() -> impl Strategy<Value = String> {
    prop_oneof![9 => text(), 1 => "[a-z]{4095,4097}"]
}

/// An image whose data is `delta` bytes off the size its header declares.
fn image_with(
    name: impl Strategy<Value = String>,
    delta: impl Strategy<Value = i8>,
) -> impl Strategy<Value = Image> {
    (name, 0u16..5, 0u16..5, select(ImageEncoding::ALL), delta).prop_flat_map(
        |(name, width, height, encoding, delta)| {
            let size = usize::from(width) * usize::from(height) * encoding.bytes_per_pixel();
            let len = size.saturating_add_signed(delta.into());
            vec(any::<u8>(), len).prop_map(move |data| Image {
                name: name.clone(),
                width,
                height,
                encoding,
                data,
            })
        },
    )
}

fn image() -> impl Strategy<Value = Image> {
    image_with(name(), Just(0))
}

fn sensor_frame() -> impl Strategy<Value = SensorFrame> {
    (0usize..10)
        .prop_flat_map(|n| {
            (
                (any::<u64>(), any::<u64>(), name(), applied()),
                vec(finite_f32(), n),
                vec(finite_f32(), n),
                vec(finite_f32(), n),
                vec((name(), finite_f32()), 0..5),
                vec(image(), 0..3),
            )
        })
        .prop_map(
            |(
                (seq, stamp_ns, robot, applied),
                positions,
                velocities,
                efforts,
                channels,
                images,
            )| {
                SensorFrame {
                    seq,
                    stamp_ns,
                    robot,
                    applied,
                    positions,
                    velocities,
                    efforts,
                    channels,
                    images,
                }
            },
        )
}

fn applied() -> impl Strategy<Value = Applied> {
    prop_oneof![
        Just(Applied::None),
        any::<u64>().prop_map(Applied::Command),
        Just(Applied::Safe),
        any::<u64>().prop_map(Applied::Reset),
    ]
}

fn motor_command(value: impl Strategy<Value = f32>) -> impl Strategy<Value = MotorCommand> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        select(CommandMode::ALL),
        vec(value, 0..10),
    )
        .prop_map(
            |((seq, stamp_ns, answers_seq, deadline_ns), mode, values)| MotorCommand {
                seq,
                stamp_ns,
                answers_seq,
                deadline_ns,
                mode,
                values,
            },
        )
}

fn status(text: impl Strategy<Value = String>) -> impl Strategy<Value = Status> {
    (
        any::<(u64, u64, u32, u32)>(),
        (name(), select(Stepping::ALL)),
        select(NodeState::ALL),
        text,
    )
        .prop_map(
            |((seq, stamp_ns, episode, step), (node, stepping), state, message)| Status {
                seq,
                stamp_ns,
                node,
                stepping,
                state,
                episode,
                step,
                message,
            },
        )
}

fn telemetry(
    name: impl Strategy<Value = String>,
    value: impl Strategy<Value = f64>,
    text: impl Strategy<Value = String>,
) -> impl Strategy<Value = Telemetry> {
    (any::<(u64, u64)>(), vec((name, value), 0..6), text).prop_map(
        |((seq, stamp_ns), values, note)| Telemetry {
            seq,
            stamp_ns,
            values,
            note,
        },
    )
}

fn estop(text: impl Strategy<Value = String>) -> impl Strategy<Value = Estop> {
    (any::<(u64, u64, bool)>(), text).prop_map(|((seq, stamp_ns, engage), reason)| Estop {
        seq,
        stamp_ns,
        engage,
        reason,
    })
}

fn reset() -> impl Strategy<Value = Reset> {
    any::<(u64, u64, Option<u64>)>().prop_map(|(seq, stamp_ns, seed)| Reset {
        seq,
        stamp_ns,
        seed,
    })
}

/// A valid message of any kind.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        3 => sensor_frame().prop_map(Message::from),
        2 => motor_command(finite_f32()).prop_map(Message::from),
        1 => status(text()).prop_map(Message::from),
        1 => telemetry(name(), finite_f64(), text()).prop_map(Message::from),
        1 => estop(text()).prop_map(Message::from),
        1 => reset().prop_map(Message::from),
    ]
}

/// A message that may break the rules: non-finite values, joint arrays of
/// different lengths, image data of the wrong size, overlong strings.
fn sloppy_message() -> impl Strategy<Value = Message> {
    let frame = (
        (any::<(u64, u64)>(), sloppy_name(), applied()),
        vec(any_f32(), 2..4),
        vec(any_f32(), 2..4),
        vec(any_f32(), 2..4),
        vec((sloppy_name(), any_f32()), 0..4),
        vec(
            image_with(sloppy_name(), prop_oneof![4 => Just(0), 1 => -1i8..=1]),
            0..3,
        ),
    )
        .prop_map(
            |(
                ((seq, stamp_ns), robot, applied),
                positions,
                velocities,
                efforts,
                channels,
                images,
            )| {
                SensorFrame {
                    seq,
                    stamp_ns,
                    robot,
                    applied,
                    positions,
                    velocities,
                    efforts,
                    channels,
                    images,
                }
            },
        );
    let any_f64 = any_f32().prop_map(f64::from);
    prop_oneof![
        frame.prop_map(Message::from),
        motor_command(any_f32()).prop_map(Message::from),
        status(sloppy_text()).prop_map(Message::from),
        telemetry(sloppy_name(), any_f64, sloppy_text()).prop_map(Message::from),
        estop(sloppy_text()).prop_map(Message::from),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Insert(ref i, b) => bytes.insert(i.index(len + 1), b),
        _ if len == 0 => {}
        Mutation::Flip(ref i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::Set(ref i, b) => bytes[i.index(len)] = b,
        Mutation::Delete(ref i) => {
            bytes.remove(i.index(len));
        }
        Mutation::Truncate(ref i) => bytes.truncate(i.index(len)),
    }
}

/// Valid encodings with one to three bytes flipped, set, inserted or deleted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (message(), vec(mutation(), 1..4)).prop_map(|(msg, mutations)| {
        let mut bytes = wire::encode(&msg);
        mutations.iter().for_each(|m| apply(&mut bytes, m));
        bytes
    })
}

/// A valid header of any kind byte, then random bytes.
fn after_header() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![6 => 1u8..=6, 1 => any::<u8>()],
        any::<(u64, u64)>(),
        vec(any::<u8>(), 0..160),
    )
        .prop_map(|(kind, (seq, stamp_ns), tail)| {
            let mut bytes = vec![b'U', b'W', 1, kind];
            bytes.extend(seq.to_le_bytes());
            bytes.extend(stamp_ns.to_le_bytes());
            bytes.extend(tail);
            bytes
        })
}

// ------------------------------------------------------------ properties

fn decode_as(bytes: &[u8], kind: MessageKind) -> Result<Message, DecodeError> {
    match kind {
        MessageKind::SensorFrame => wire::decode_sensor_frame(bytes).map(Into::into),
        MessageKind::MotorCommand => wire::decode_motor_command(bytes).map(Into::into),
        MessageKind::Status => wire::decode_status(bytes).map(Into::into),
        MessageKind::Telemetry => wire::decode_telemetry(bytes).map(Into::into),
        MessageKind::Estop => wire::decode_estop(bytes).map(Into::into),
        MessageKind::Reset => wire::decode_reset(bytes).map(Into::into),
    }
}

/// Decoding `bytes` does not panic (proptest would report it); what it
/// accepts is valid and canonical: it re-encodes to the very same bytes,
/// which decode to the same message; the typed decoder agrees.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    match wire::decode(bytes) {
        Ok(msg) => {
            let again = wire::encode(&msg);
            prop_assert_eq!(&again, bytes);
            prop_assert_eq!(wire::decode(&again), Ok(msg.clone()));
            prop_assert_eq!(wire::validate(&msg), Ok(()));
            prop_assert_eq!(decode_as(bytes, msg.kind()), Ok(msg));
        }
        Err(err) => {
            prop_assert!(!err.to_string().is_empty());
            if let Ok(header) = wire::peek_header(bytes) {
                prop_assert_eq!(decode_as(bytes, header.kind), Err(err));
            }
        }
    }
    Ok(())
}

/// Equal, but for f64 metrics a few units in the last place apart: serde_json
/// parses f64 fast rather than exactly (its `float_roundtrip` feature is off).
fn json_equal(a: &Message, b: &Message) -> bool {
    match (a, b) {
        (Message::Telemetry(a), Message::Telemetry(b)) => {
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-15 * x.abs();
            (a.seq, a.stamp_ns, &a.note) == (b.seq, b.stamp_ns, &b.note)
                && a.values.len() == b.values.len()
                && a.values
                    .iter()
                    .zip(&b.values)
                    .all(|((n, x), (m, y))| n == m && close(*x, *y))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn round_trip_arbitrary_messages(msg in message()) {
        let bytes = wire::encode(&msg);
        prop_assert_eq!(bytes.len(), wire::encoded_len(&msg));
        prop_assert_eq!(wire::decode(&bytes), Ok(msg.clone()));
        prop_assert_eq!(decode_as(&bytes, msg.kind()), Ok(msg.clone()));
        let json = wire::from_json(&wire::to_json(&msg));
        prop_assert!(json.as_ref().is_ok_and(|m| json_equal(m, &msg)), "{:?}", json);
        let mut buf = vec![0xAA];
        wire::encode_into(&msg, &mut buf);
        prop_assert_eq!(&buf[1..], &bytes[..]);
    }

    #[test]
    fn validate_predicts_decode(msg in sloppy_message()) {
        let bytes = wire::encode(&msg);
        prop_assert_eq!(bytes.len(), wire::encoded_len(&msg));
        match wire::validate(&msg) {
            Ok(()) => prop_assert_eq!(wire::decode(&bytes), Ok(msg)),
            Err(err) => {
                let decoded = wire::decode(&bytes);
                prop_assert!(decoded.is_err(), "validate: {}, yet decoded {:?}", err, decoded);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(30_000))]

    #[test]
    fn fuzz_arbitrary_bytes(bytes in vec(any::<u8>(), 0..200)) {
        check_decode(&bytes)?;
    }

    #[test]
    fn fuzz_bytes_after_a_valid_header(bytes in after_header()) {
        check_decode(&bytes)?;
    }
}

/// 50 000 valid encodings, mutated: the decoder must survive them all, and
/// the mutations must reach every check it has (or the fuzz is too shallow).
#[test]
fn fuzz_mutated_encodings() {
    let seen = RefCell::new(BTreeMap::<&str, u32>::new());
    let mut runner = TestRunner::new(config(50_000));
    let result = runner.run(&mutated(), |bytes| {
        let class = match wire::decode(&bytes) {
            Ok(_) => "ok",
            Err(e) => ErrorClass::from(&e).name(),
        };
        *seen.borrow_mut().entry(class).or_default() += 1;
        check_decode(&bytes)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    for class in ErrorClass::ALL
        .iter()
        // Decode errors only: wrong kind, spec and freshness need a receiver's context.
        .filter(|c| !matches!(c, ErrorClass::WrongKind | ErrorClass::Spec) && !c.is_freshness())
        .map(|c| c.name())
        .chain(["ok"])
    {
        assert!(
            seen.get(class).is_some_and(|&n| n >= 10),
            "{class}: {seen:?}"
        );
    }
}

// ------------------------------------------------------------ the document

const PROTOCOL_MD: &str = include_str!("../../docs/PROTOCOL.md");

fn example_frame() -> SensorFrame {
    SensorFrame {
        seq: 42,
        stamp_ns: 1_700_000_000_000_000_000,
        robot: "arm2".into(),
        applied: Applied::Command(6),
        positions: vec![0.5, -1.0],
        velocities: vec![0.0, 0.25],
        efforts: vec![1.5, 0.0],
        channels: vec![("to_target_x".into(), 0.125)],
        images: vec![Image {
            name: "cam".into(),
            width: 2,
            height: 1,
            encoding: ImageEncoding::Mono8,
            data: vec![0x10, 0xff],
        }],
    }
}

fn example_command() -> MotorCommand {
    MotorCommand {
        seq: 7,
        stamp_ns: 1_700_000_000_002_000_000,
        answers_seq: 42,
        deadline_ns: 1_700_000_000_022_000_000,
        mode: CommandMode::Torque,
        values: vec![0.5, -0.25],
    }
}

/// The bytes of the annotated dump after `<!-- example: {marker} -->`,
/// whose lines read `OFFSET  HEX HEX ... | field`; offsets are checked.
fn annotated_dump(marker: &str) -> Vec<u8> {
    let start = format!("<!-- example: {marker} -->\n```text\n");
    let (_, rest) = PROTOCOL_MD
        .split_once(&start)
        .unwrap_or_else(|| panic!("docs/PROTOCOL.md lacks {start:?}"));
    let (block, _) = rest.split_once("```").unwrap();
    let mut bytes = Vec::new();
    for line in block.lines() {
        let (hex, _field) = line.split_once('|').unwrap_or_else(|| panic!("{line:?}"));
        let mut tokens = hex.split_whitespace();
        let offset: usize = tokens.next().unwrap().parse().unwrap();
        assert_eq!(offset, bytes.len(), "wrong offset in {line:?}");
        bytes.extend(tokens.map(|t| u8::from_str_radix(t, 16).unwrap()));
    }
    bytes
}

#[test]
fn protocol_doc_examples_match_the_encoder() {
    let examples = [
        ("sensor_frame", Message::from(example_frame())),
        ("motor_command", example_command().into()),
    ];
    for (marker, msg) in examples {
        let bytes = wire::encode(&msg);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            PROTOCOL_MD.contains(&format!("```text\n{hex}\n```")),
            "docs/PROTOCOL.md lacks the {marker} example as one hex string:\n{hex}"
        );
        assert!(PROTOCOL_MD.contains(&format!("The same {} bytes as one hex string", bytes.len())));
        assert_eq!(annotated_dump(marker), bytes, "{marker}");
        assert_eq!(wire::decode(&bytes), Ok(msg));
    }
    // The JSON examples are what to_json writes.
    let json = [
        wire::to_json(&example_command().into()),
        wire::to_json(&Message::from(Reset {
            seq: 4,
            stamp_ns: 8,
            seed: None,
        })),
    ];
    for line in json {
        assert!(PROTOCOL_MD.contains(&format!("\n{line}\n")), "{line}");
    }
}

#[test]
fn protocol_doc_states_the_limits() {
    for limit in [
        "| `version`  | `2`".to_string(),
        format!("{} bytes UTF-8", wire::MAX_NAME_LEN),
        format!("{} bytes UTF-8", wire::MAX_TEXT_LEN),
        format!(
            "joints per frame                            | {}",
            wire::MAX_JOINTS
        ),
        format!(
            "channels per frame                          | {}",
            wire::MAX_CHANNELS
        ),
        format!(
            "images per frame                            | {}",
            wire::MAX_IMAGES
        ),
        format!("64 MiB ({})", wire::MAX_IMAGE_BYTES),
        format!("metrics per telemetry   | {}", wire::MAX_VALUES),
    ] {
        assert!(
            PROTOCOL_MD.contains(&limit),
            "docs/PROTOCOL.md lacks {limit:?}"
        );
    }
    assert_eq!(wire::PROTOCOL_VERSION, 2);
}

//! The JSON shapes of the decoded channels: umwelt's own (`umwelt.*`,
//! schemas in `schemas/umwelt.*.json`) and Foxglove's (`foxglove.Log`,
//! `foxglove.RawImage`), as serde structs so that encoding is one pass.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;

use crate::wire::{self, Applied, Image, ImageEncoding};

/// A time as Foxglove's schemas spell it.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Time {
    sec: u64,
    nsec: u32,
}

impl Time {
    /// `ns` since the UNIX epoch (or since an episode's start).
    pub(crate) fn from_ns(ns: u64) -> Self {
        Time {
            sec: ns / 1_000_000_000,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }
}

/// `umwelt.JointState`.
#[derive(Serialize)]
pub(crate) struct JointState<'a> {
    pub timestamp: Time,
    pub robot: &'a str,
    pub seq: u64,
    pub applied: String,
    pub name: &'a [String],
    pub position: &'a [f32],
    pub velocity: &'a [f32],
    pub effort: &'a [f32],
    pub channels: BTreeMap<&'a str, f32>,
}

/// How `applied` reads in a decoded frame.
pub(crate) fn applied_text(a: Applied) -> String {
    match a {
        Applied::None => "none".into(),
        Applied::Safe => "safe".into(),
        Applied::Command(s) => format!("command {s}"),
        Applied::Reset(s) => format!("reset {s}"),
    }
}

/// `umwelt.MotorCommand`.
#[derive(Serialize)]
pub(crate) struct Command<'a> {
    pub timestamp: Time,
    pub seq: u64,
    pub answers_seq: u64,
    pub deadline: Time,
    pub mode: &'static str,
    pub name: &'a [String],
    pub value: &'a [f32],
}

/// A command mode's name, as the protocol's JSON spells it.
pub(crate) fn mode_name(m: wire::CommandMode) -> &'static str {
    match m {
        wire::CommandMode::Torque => "torque",
        wire::CommandMode::Velocity => "velocity",
        wire::CommandMode::Position => "position",
    }
}

/// `umwelt.Telemetry`.
#[derive(Serialize)]
pub(crate) struct Telemetry<'a> {
    pub timestamp: Time,
    pub seq: u64,
    pub values: BTreeMap<&'a str, f64>,
    pub note: &'a str,
}

/// `umwelt.Status`.
#[derive(Serialize)]
pub(crate) struct Status<'a> {
    pub timestamp: Time,
    pub seq: u64,
    pub node: &'a str,
    pub stepping: wire::Stepping,
    pub state: wire::NodeState,
    pub episode: u32,
    pub step: u32,
    pub message: &'a str,
}

/// `foxglove.Log` levels used here.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Level {
    Info = 2,
    Warning = 3,
}

/// `foxglove.Log`.
#[derive(Serialize)]
pub(crate) struct Log<'a> {
    pub timestamp: Time,
    pub level: u8,
    pub message: String,
    pub name: &'a str,
    pub file: &'static str,
    pub line: u32,
}

impl<'a> Log<'a> {
    pub(crate) fn new(timestamp: Time, level: Level, name: &'a str, message: String) -> Self {
        Log {
            timestamp,
            level: level as u8,
            message,
            name,
            file: "",
            line: 0,
        }
    }
}

/// `foxglove.RawImage`: `data` in base64, as JSON carries bytes.
#[derive(Serialize)]
pub(crate) struct RawImage<'a> {
    pub timestamp: Time,
    pub frame_id: &'a str,
    pub width: u16,
    pub height: u16,
    pub encoding: &'static str,
    pub step: u32,
    pub data: String,
}

impl<'a> RawImage<'a> {
    /// A frame's image; depth (f32 metres, little-endian on the wire) as
    /// Foxglove's `32FC1`.
    pub(crate) fn of(timestamp: Time, frame_id: &'a str, im: &Image) -> Self {
        let (encoding, bpp) = match im.encoding {
            ImageEncoding::Rgb8 => ("rgb8", 3),
            ImageEncoding::Mono8 => ("mono8", 1),
            ImageEncoding::DepthF32 => ("32FC1", 4),
        };
        RawImage {
            timestamp,
            frame_id,
            width: im.width,
            height: im.height,
            encoding,
            step: u32::from(im.width) * bpp,
            data: base64::engine::general_purpose::STANDARD.encode(&im.data),
        }
    }
}

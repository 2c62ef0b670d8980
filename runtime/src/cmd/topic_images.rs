//! What `umwelt topic echo` does with camera images: prints a summary of
//! each (name, size, encoding, bytes) instead of its pixels, and with
//! `--save DIR` writes each as a PNG file.

use std::path::Path;

use umwelt_runtime::view::write_png;
use umwelt_runtime::wire::{self, Image, Message};

/// The message as JSON (one line or indented), each image of a sensor
/// frame replaced by a one-line summary such as `"side 64x64 rgb8 (12288 bytes)"`.
pub fn to_json(msg: &Message, pretty: bool) -> String {
    let render = |m: &Message| {
        if pretty {
            wire::to_json_pretty(m)
        } else {
            wire::to_json(m)
        }
    };
    let Message::SensorFrame(f) = msg else {
        return render(msg);
    };
    if f.images.is_empty() {
        return render(msg);
    }
    // The frame without its images, in the protocol's own field order, then
    // the summaries where the empty list stands: an unescaped `"images"`
    // cannot occur inside a JSON string, so the one match is the field.
    let mut bare = f.clone();
    bare.images.clear();
    let text = render(&Message::SensorFrame(bare));
    let list: Vec<String> = f.images.iter().map(summary).collect();
    let (empty, filled) = if pretty {
        (
            "\"images\": []",
            format!("\"images\": {}", serde_json::json!(list)),
        )
    } else {
        (
            "\"images\":[]",
            format!("\"images\":{}", serde_json::json!(list)),
        )
    };
    text.replacen(empty, &filled, 1)
}

/// `name WxH encoding (N bytes)`.
pub fn summary(im: &Image) -> String {
    format!(
        "{} {}x{} {} ({} bytes)",
        im.name,
        im.width,
        im.height,
        encoding_name(im),
        im.data.len()
    )
}

fn encoding_name(im: &Image) -> String {
    serde_json::to_value(im.encoding)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", im.encoding))
}

/// Writes every image of a sensor frame into `dir` as
/// `<robot>_<seq>_<camera>_<encoding>.png` (seq zero-padded to 8 digits);
/// returns the paths written.
pub fn save(msg: &Message, dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let Message::SensorFrame(f) = msg else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for im in &f.images {
        // Names on the wire are free text; keep the file name plain.
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let path = dir.join(format!(
            "{}_{:08}_{}_{}.png",
            clean(&f.robot),
            f.seq,
            clean(&im.name),
            encoding_name(im)
        ));
        write_png(im, 1, &path)?;
        written.push(path);
    }
    Ok(written)
}

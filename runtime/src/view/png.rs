//! Camera images ([`Image`], as sensor frames carry them) as PNG files, for
//! people: `umwelt topic echo --save` and `umwelt bench render --frames`.
//! Encoded with tiny-skia's PNG writer (already in the build for videos).

use std::path::Path;

use umwelt_protocol::{Image, ImageEncoding};

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// Width or height is zero, or the pixels do not fill them.
    #[error("image `{name}`: {width}x{height} {encoding:?} needs {expected} bytes, has {got}")]
    Size {
        /// Camera name.
        name: String,
        /// Width, pixels.
        width: u16,
        /// Height, pixels.
        height: u16,
        /// Its encoding.
        encoding: ImageEncoding,
        /// Bytes the size needs.
        expected: usize,
        /// Bytes it has.
        got: usize,
    },
    /// The scale is not in 1..=16.
    #[error("PNG scale {0}: must be in 1..=16")]
    Scale(u32),
    /// The file could not be read as an opaque PNG image.
    #[error("cannot read {path} as an image: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The encoder or the file failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Writes `image` to `path` as an opaque RGB PNG, each pixel drawn as a
/// `scale` x `scale` block (1..=16). RGB8 and Mono8 are written as they
/// are; depth is drawn in grey, near bright and far dark between the
/// image's nearest and farthest finite depths, black where it is not finite.
pub fn write_png(image: &Image, scale: u32, path: &Path) -> Result<(), PngError> {
    if !(1..=16).contains(&scale) {
        return Err(PngError::Scale(scale));
    }
    let (w, h) = (usize::from(image.width), usize::from(image.height));
    let expected = w * h * image.encoding.bytes_per_pixel();
    if w == 0 || h == 0 || image.data.len() != expected {
        return Err(PngError::Size {
            name: image.name.clone(),
            width: image.width,
            height: image.height,
            encoding: image.encoding,
            expected,
            got: image.data.len(),
        });
    }
    let rgb = to_rgb(image);
    let s = scale as usize;
    let (sw, sh) = (w * s, h * s);
    let mut rgba = Vec::with_capacity(sw * sh * 4);
    for y in 0..sh {
        for x in 0..sw {
            let p = &rgb[3 * ((y / s) * w + x / s)..][..3];
            rgba.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
    }
    let write_err = |message: String| PngError::Write {
        path: path.display().to_string(),
        message,
    };
    let size = tiny_skia::IntSize::from_wh(sw as u32, sh as u32)
        .ok_or_else(|| write_err("image too large".into()))?;
    let pixmap = tiny_skia::Pixmap::from_vec(rgba, size)
        .ok_or_else(|| write_err("image too large".into()))?;
    pixmap.save_png(path).map_err(|e| write_err(e.to_string()))
}

/// Reads the PNG at `path` as camera `name`'s image: RGB8, or with
/// `grey` Mono8 (then every pixel must be grey). The PNG must be opaque
/// (a goal image is what a camera saw; transparency has no meaning there).
/// What [`write_png`] writes at scale 1 reads back as it was.
pub fn read_png(path: &Path, name: &str, grey: bool) -> Result<Image, PngError> {
    let read_err = |message: String| PngError::Read {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    let pixmap = tiny_skia::Pixmap::decode_png(&bytes).map_err(|e| read_err(e.to_string()))?;
    let (width, height) = (pixmap.width(), pixmap.height());
    let (Ok(w16), Ok(h16)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(read_err(format!("{width}x{height} is too large")));
    };
    let mut data = Vec::with_capacity(pixmap.data().len() / 4 * if grey { 1 } else { 3 });
    for (i, p) in pixmap.data().chunks_exact(4).enumerate() {
        if p[3] != 255 {
            return Err(read_err(format!(
                "pixel ({}, {}) is not opaque (alpha {})",
                i as u32 % width,
                i as u32 / width,
                p[3]
            )));
        }
        if grey {
            if p[0] != p[1] || p[1] != p[2] {
                return Err(read_err(format!(
                    "pixel ({}, {}) is not grey: the model sees grey images",
                    i as u32 % width,
                    i as u32 / width
                )));
            }
            data.push(p[0]);
        } else {
            data.extend_from_slice(&p[..3]);
        }
    }
    Ok(Image {
        name: name.to_string(),
        width: w16,
        height: h16,
        encoding: if grey {
            ImageEncoding::Mono8
        } else {
            ImageEncoding::Rgb8
        },
        data,
    })
}

/// Three bytes a pixel, whatever the encoding.
fn to_rgb(image: &Image) -> Vec<u8> {
    match image.encoding {
        ImageEncoding::Rgb8 => image.data.clone(),
        ImageEncoding::Mono8 => image.data.iter().flat_map(|&g| [g, g, g]).collect(),
        ImageEncoding::DepthF32 => {
            let depth: Vec<f32> = image
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let finite = depth.iter().copied().filter(|d| d.is_finite());
            let near = finite.clone().fold(f32::INFINITY, f32::min);
            let far = finite.fold(f32::NEG_INFINITY, f32::max);
            let span = (far - near).max(1e-6);
            depth
                .iter()
                .flat_map(|&d| {
                    let g = if d.is_finite() {
                        (255.0 - 215.0 * (d - near) / span) as u8
                    } else {
                        0
                    };
                    [g, g, g]
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_become_png_files_and_bad_sizes_do_not() {
        let dir = std::env::temp_dir().join(format!("umwelt-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut im = Image {
            name: "c".into(),
            width: 2,
            height: 1,
            encoding: ImageEncoding::Rgb8,
            data: vec![255, 0, 0, 0, 0, 255],
        };
        let path = dir.join("c.png");
        write_png(&im, 3, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // Width 6 and height 3 in the IHDR chunk.
        assert_eq!(&bytes[16..24], &[0, 0, 0, 6, 0, 0, 0, 3]);
        im.encoding = ImageEncoding::DepthF32;
        im.data = [1.0f32, f32::INFINITY]
            .iter()
            .flat_map(|d| d.to_le_bytes())
            .collect();
        write_png(&im, 1, &path).unwrap();
        im.data.pop();
        assert!(write_png(&im, 1, &path).is_err());
        assert!(write_png(&im, 0, &path).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_written_png_reads_back_as_it_was() {
        let dir = std::env::temp_dir().join(format!("umwelt-png-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("goal.png");
        let rgb = Image {
            name: "top".into(),
            width: 3,
            height: 2,
            encoding: ImageEncoding::Rgb8,
            data: (0..18).map(|i| (i * 13) as u8).collect(),
        };
        write_png(&rgb, 1, &path).unwrap();
        assert_eq!(read_png(&path, "top", false).unwrap(), rgb);
        // Not grey: refused as a grey image, naming the pixel.
        let e = read_png(&path, "top", true).unwrap_err().to_string();
        assert!(e.contains("not grey"), "{e}");
        let grey = Image {
            encoding: ImageEncoding::Mono8,
            data: vec![0, 50, 100, 150, 200, 250],
            ..rgb
        };
        write_png(&grey, 1, &path).unwrap();
        assert_eq!(read_png(&path, "top", true).unwrap(), grey);
        std::fs::write(&path, b"not a png").unwrap();
        assert!(read_png(&path, "top", false).is_err());
        assert!(read_png(&dir.join("missing.png"), "top", false).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}

//! A described robot's camera: which images its frames carry under one
//! name, at what size and in which encodings. What a pixel model of a robot
//! no simulator renders needs to know before the first frame arrives.

use serde::{Deserialize, Serialize};

use crate::wire::{ImageEncoding, MAX_IMAGE_BYTES, MAX_IMAGES, MAX_NAME_LEN};

/// The images a pixel model can read, in the order one is chosen when a
/// camera sends several under its name: colour first, then grey.
pub const PIXEL_ENCODINGS: [ImageEncoding; 2] = [ImageEncoding::Rgb8, ImageEncoding::Mono8];

/// Largest width or height a described camera may have, in pixels.
pub const MAX_CAMERA_SIDE: u16 = 8192;

/// One camera (`[[camera]]` in a description): every frame carries one
/// image named `name` of `width x height` pixels in each of `encodings`
/// (a camera with colour and depth sends two images of one name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDescription {
    /// The images' name on the wire (unique among the robot's cameras).
    pub name: String,
    /// Image width, pixels.
    pub width: u16,
    /// Image height, pixels.
    pub height: u16,
    /// What the camera sends: `rgb8`, `mono8`, `depth_f32`. Default `["rgb8"]`.
    #[serde(default = "rgb8")]
    pub encodings: Vec<ImageEncoding>,
}

fn rgb8() -> Vec<ImageEncoding> {
    vec![ImageEncoding::Rgb8]
}

impl CameraDescription {
    /// The 8-bit image a pixel model reads from this camera: RGB8 if it
    /// sends it, else Mono8; `None` for a depth-only camera.
    pub fn pixel_encoding(&self) -> Option<ImageEncoding> {
        PIXEL_ENCODINGS
            .into_iter()
            .find(|e| self.encodings.contains(e))
    }

    /// What is wrong with the camera at `at` (e.g. `camera[0]`), if anything.
    pub(super) fn problems(&self, at: &str) -> Result<(), String> {
        let at = format!("{at} (`{}`)", self.name);
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(format!("{at}.name: must be 1 to {MAX_NAME_LEN} bytes"));
        }
        for (field, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > MAX_CAMERA_SIDE {
                return Err(format!(
                    "{at}.{field} = {v}: must be 1 to {MAX_CAMERA_SIDE} pixels"
                ));
            }
        }
        if self.encodings.is_empty() {
            return Err(format!(
                "{at}.encodings: list at least one of rgb8, mono8, depth_f32"
            ));
        }
        for (i, e) in self.encodings.iter().enumerate() {
            if self.encodings[..i].contains(e) {
                return Err(format!("{at}.encodings: {} listed twice", e.name()));
            }
            let bytes = usize::from(self.width) * usize::from(self.height) * e.bytes_per_pixel();
            if bytes > MAX_IMAGE_BYTES {
                return Err(format!(
                    "{at}: a {}x{} {} image is {bytes} bytes; a frame's image holds at most {MAX_IMAGE_BYTES}",
                    self.width,
                    self.height,
                    e.name()
                ));
            }
        }
        Ok(())
    }
}

/// What is wrong with a description's cameras: each one's fields, their
/// names unique, and all their images within one frame's limit.
pub(super) fn problems(cameras: &[CameraDescription]) -> Result<(), String> {
    let images: usize = cameras.iter().map(|c| c.encodings.len()).sum();
    if images > MAX_IMAGES {
        return Err(format!(
            "camera: {images} images in every frame; a frame carries at most {MAX_IMAGES}"
        ));
    }
    for (i, c) in cameras.iter().enumerate() {
        c.problems(&format!("camera[{i}]"))?;
        if cameras[..i].iter().any(|o| o.name == c.name) {
            return Err(format!(
                "camera[{i}] (`{}`): a second camera of that name",
                c.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(name: &str, w: u16, h: u16, encodings: &[ImageEncoding]) -> CameraDescription {
        CameraDescription {
            name: name.into(),
            width: w,
            height: h,
            encodings: encodings.to_vec(),
        }
    }

    #[test]
    fn a_pixel_model_reads_colour_first_then_grey_and_never_depth() {
        use ImageEncoding::*;
        assert_eq!(
            cam("a", 8, 8, &[DepthF32, Rgb8]).pixel_encoding(),
            Some(Rgb8)
        );
        assert_eq!(
            cam("a", 8, 8, &[Mono8, DepthF32]).pixel_encoding(),
            Some(Mono8)
        );
        assert_eq!(cam("a", 8, 8, &[DepthF32]).pixel_encoding(), None);
    }

    #[test]
    fn bad_cameras_are_named_with_their_field() {
        use ImageEncoding::*;
        let cases: [(Vec<CameraDescription>, &str); 6] = [
            (vec![cam("", 8, 8, &[Rgb8])], "camera[0] (``).name"),
            (vec![cam("a", 0, 8, &[Rgb8])], "camera[0] (`a`).width = 0"),
            (
                vec![cam("a", 8, 9000, &[Rgb8])],
                "camera[0] (`a`).height = 9000",
            ),
            (vec![cam("a", 8, 8, &[])], "camera[0] (`a`).encodings: list"),
            (vec![cam("a", 8, 8, &[Rgb8, Rgb8])], "rgb8 listed twice"),
            (
                vec![cam("a", 8, 8, &[Rgb8]), cam("a", 4, 4, &[Mono8])],
                "camera[1] (`a`): a second camera",
            ),
        ];
        for (cams, want) in cases {
            let e = problems(&cams).unwrap_err();
            assert!(e.contains(want), "{e} lacks {want}");
        }
        let big = cam("a", 8192, 8192, &[DepthF32]);
        assert!(problems(&[big]).unwrap_err().contains("at most 67108864"));
        let many: Vec<_> = (0..11)
            .map(|i| cam(&format!("c{i}"), 8, 8, &[Rgb8, Mono8, DepthF32]))
            .collect();
        assert!(problems(&many).unwrap_err().contains("33 images"));
        assert_eq!(problems(&[cam("a", 64, 48, &[Rgb8, DepthF32])]), Ok(()));
    }
}

//! A 3x5 pixel font for the few characters a video's caption needs (time
//! and reward), drawn as filled squares: no font files or font crates.

use tiny_skia::{Paint, Pixmap, Rect, Transform};

/// Rows of a glyph, top to bottom, 3 bits each (bit 2 is the left column).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '=' => [0, 7, 0, 7, 0],
        't' => [2, 7, 2, 2, 3],
        's' => [3, 4, 2, 1, 6],
        'r' => [0, 5, 6, 4, 4],
        ' ' => [0; 5],
        _ => return None,
    })
}

/// Width in pixels of `text` drawn with cells of `px` pixels.
pub fn text_width(text: &str, px: f32) -> f32 {
    text.chars().count() as f32 * 4.0 * px
}

/// Draws `text` with its top-left corner at `(x, y)`, each font cell `px`
/// pixels square; characters the font lacks are drawn as blanks.
pub fn draw_text(pixmap: &mut Pixmap, text: &str, x: f32, y: f32, px: f32, paint: &Paint) {
    for (i, c) in text.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        let x0 = x + i as f32 * 4.0 * px;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0
                    && let Some(rect) =
                        Rect::from_xywh(x0 + col as f32 * px, y + r as f32 * px, px, px)
                {
                    pixmap.fill_rect(rect, paint, Transform::identity(), None);
                }
            }
        }
    }
}

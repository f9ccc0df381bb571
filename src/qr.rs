//! QR codes of the form's address, for the counter poster and a tablet's pairing link:
//! error correction level Q (a quarter of the code may be scuffed or covered and it still
//! scans, more than the M a screen needs), with the four-module quiet zone the standard
//! asks for around it, drawn as SVG (for print, any size) and PNG.

use maud::{Markup, html};
use qrcode::{EcLevel, QrCode};

/// Modules of white around the code (ISO/IEC 18004 asks for four).
const QUIET_ZONE: usize = 4;

/// A QR code's modules, quiet zone not included.
pub struct QrImage {
    width: usize,
    dark: Vec<bool>,
}

/// The text is too long for any QR code at level Q (about 1,600 characters).
#[derive(Debug, thiserror::Error)]
#[error("the address is too long for a QR code")]
pub struct TooLong;

impl QrImage {
    pub fn of(text: &str) -> Result<Self, TooLong> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
            .map_err(|_| TooLong)?;
        let dark = code
            .to_colors()
            .into_iter()
            .map(|color| color == qrcode::Color::Dark)
            .collect();
        Ok(Self {
            width: code.width(),
            dark,
        })
    }

    /// Modules across, quiet zone included.
    fn size(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// An SVG of one module per unit, scaling to any size: one path of the dark modules,
    /// on white, edges kept crisp. `label` names it for screen readers. Markup, so that a
    /// page can hold it inline as any other element, escaped as any other.
    pub fn svg(&self, label: &str) -> Markup {
        let size = self.size();
        let mut path = String::with_capacity(self.dark.len() * 4);
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                // A run of dark modules is one rectangle.
                let start = x;
                while x < self.width && self.is_dark(x, y) {
                    x += 1;
                }
                let (left, top) = (start + QUIET_ZONE, y + QUIET_ZONE);
                path.push_str(&format!("M{left} {top}h{}v1h-{}z", x - start, x - start));
            }
        }
        html! {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (size) " " (size) }
                shape-rendering="crispEdges" role="img" aria-label=(label) {
                rect width=(size) height=(size) fill="#fff" {}
                path fill="#000" d=(path) {}
            }
        }
    }

    /// A black-and-white PNG, `scale` pixels a module.
    pub fn png(&self, scale: usize) -> Vec<u8> {
        let side = self.size() * scale;
        let mut pixels = vec![255u8; side * side];
        for y in 0..self.width {
            for x in 0..self.width {
                if !self.is_dark(x, y) {
                    continue;
                }
                for row in 0..scale {
                    let top = (y + QUIET_ZONE) * scale + row;
                    let left = (x + QUIET_ZONE) * scale;
                    pixels[top * side + left..top * side + left + scale].fill(0);
                }
            }
        }
        let mut bytes = Vec::new();
        let side = u32::try_from(side).expect("a QR code is a few hundred pixels");
        let mut encoder = png::Encoder::new(&mut bytes, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .expect("writing to memory does not fail");
        writer
            .write_image_data(&pixels)
            .expect("the pixels fit the header");
        writer.finish().expect("writing to memory does not fail");
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_keeps_its_quiet_zone_and_names_what_it_is() {
        let code = QrImage::of("https://shop.example/?src=counter").unwrap();
        let svg = code.svg("Sign up <here>").into_string();
        let size = code.width + 8;
        assert!(svg.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        assert!(svg.contains("aria-label=\"Sign up &lt;here&gt;\""));
        // The first dark module (the finder pattern's corner) sits inside the margin.
        assert!(svg.contains("d=\"M4 4h7v1h-7z"), "{svg}");
    }

    #[test]
    fn an_address_too_long_for_any_code_is_refused() {
        assert!(QrImage::of(&"x".repeat(3_000)).is_err());
    }
}

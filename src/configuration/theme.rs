//! The merchant's accent colour (`ACCENT_COLOR`) turned into the colours the stylesheet
//! uses, each chosen so that text keeps a contrast of at least 4.5:1 (WCAG 2.2, 1.4.3).

use std::fmt;

/// The minimum contrast of normal text (WCAG 2.2 success criterion 1.4.3, level AA).
pub const MIN_TEXT_CONTRAST: f64 = 4.5;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color {
    r: u8,
    g: u8,
    b: u8,
}

const WHITE: Color = Color::rgb(0xff, 0xff, 0xff);
/// The page's text colour, also used on light accents.
const INK: Color = Color::rgb(0x1d, 0x24, 0x28);
const BLACK: Color = Color::rgb(0, 0, 0);
/// The page around the card (`--background` in `static/style.css`), where the language
/// links sit: the darkest background links appear on.
const PAGE_BACKGROUND: Color = Color::rgb(0xf4, 0xf6, 0xf5);

impl Color {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// `#rrggbb` or `#rgb`, as CSS writes them.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let hex = text.trim().strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |s: &str| u8::from_str_radix(s, 16).ok();
        match hex.len() {
            6 => Some(Self::rgb(
                channel(&hex[0..2])?,
                channel(&hex[2..4])?,
                channel(&hex[4..6])?,
            )),
            3 => {
                let double = |i: usize| channel(&hex[i..=i]).map(|v| v * 17);
                Some(Self::rgb(double(0)?, double(1)?, double(2)?))
            }
            _ => None,
        }
    }

    /// Relative luminance (WCAG 2.2, definition of "relative luminance").
    fn luminance(self) -> f64 {
        let linear = |channel: u8| {
            let c = f64::from(channel) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.r) + 0.7152 * linear(self.g) + 0.0722 * linear(self.b)
    }

    /// The contrast ratio of two colours, from 1 to 21.
    pub fn contrast(self, other: Color) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (light, dark) = if a > b { (a, b) } else { (b, a) };
        (light + 0.05) / (dark + 0.05)
    }

    /// This colour moved `amount` (0 to 1) of the way towards `target`.
    fn mix(self, target: Color, amount: f64) -> Color {
        let blend = |from: u8, to: u8| {
            (f64::from(from) + (f64::from(to) - f64::from(from)) * amount).round() as u8
        };
        Color::rgb(
            blend(self.r, target.r),
            blend(self.g, target.g),
            blend(self.b, target.b),
        )
    }

    /// The lightest shade of this colour, darkened step by step towards black, that reads
    /// on `background` at `min` contrast. Black always does, so this ends.
    fn readable_on(self, background: Color, min: f64) -> Color {
        (0..=100)
            .map(|step| self.mix(Color::rgb(0, 0, 0), f64::from(step) / 100.0))
            .find(|shade| shade.contrast(background) >= min)
            .unwrap_or(Color::rgb(0, 0, 0))
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// The colours derived from one accent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Buttons and the checkbox.
    pub accent: Color,
    /// Text on the accent: white, or the page's ink on a light accent.
    pub on_accent: Color,
    /// Buttons under the pointer: the accent a little further from its text colour.
    pub accent_hover: Color,
    /// Links and other accent-coloured text, on the white card and on the page around it.
    pub link: Color,
    /// The background of notices.
    pub tint: Color,
}

impl Theme {
    /// The service's own green, used when `ACCENT_COLOR` is not set.
    pub const DEFAULT_ACCENT: Color = Color::rgb(0x1f, 0x6f, 0x43);

    pub fn from_accent(accent: Color) -> Self {
        // No colour fails against both white and black (one of them always reaches about
        // 4.6:1); the page's ink is preferred to black when it is enough.
        let on_accent = [WHITE, INK, BLACK]
            .into_iter()
            .find(|text| text.contrast(accent) >= MIN_TEXT_CONTRAST)
            .unwrap_or(BLACK);
        let away = if on_accent == WHITE {
            Color::rgb(0, 0, 0)
        } else {
            WHITE
        };
        Self {
            accent,
            on_accent,
            accent_hover: accent.mix(away, 0.2),
            // Readable on the darker of the two backgrounds is readable on both.
            link: accent.readable_on(PAGE_BACKGROUND, MIN_TEXT_CONTRAST),
            tint: accent.mix(WHITE, 0.9),
        }
    }

    /// The custom properties `static/style.css` reads.
    pub fn css(&self) -> String {
        format!(
            ":root {{ --accent: {}; --on-accent: {}; --accent-hover: {}; --link: {}; \
             --accent-tint: {}; }}\n",
            self.accent, self.on_accent, self.accent_hover, self.link, self.tint
        )
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::from_accent(Self::DEFAULT_ACCENT)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn hex_colours_parse_in_both_lengths() {
        assert_eq!(
            Color::parse_hex("#1F6F43"),
            Some(Color::rgb(0x1f, 0x6f, 0x43))
        );
        assert_eq!(Color::parse_hex("#fa0"), Some(Color::rgb(0xff, 0xaa, 0x00)));
        for bad in ["1f6f43", "#1f6f4", "#ggg", "red", "#1f6f43;", ""] {
            assert_eq!(Color::parse_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn contrast_matches_the_published_extremes() {
        assert!((WHITE.contrast(Color::rgb(0, 0, 0)) - 21.0).abs() < 1e-9);
        assert!((WHITE.contrast(WHITE) - 1.0).abs() < 1e-9);
        // #767676 is the lightest grey with 4.5:1 on white.
        assert!(Color::rgb(0x76, 0x76, 0x76).contrast(WHITE) >= 4.5);
        assert!(Color::rgb(0x77, 0x77, 0x77).contrast(WHITE) < 4.5);
    }

    #[test]
    fn a_light_accent_gets_dark_text_and_darker_links() {
        let theme = Theme::from_accent(Color::parse_hex("#ffd400").unwrap());
        assert_eq!(theme.on_accent, INK);
        // Between the two: too light for white, too dark for the ink, fine with black.
        let middle = Theme::from_accent(Color::rgb(0x80, 0x80, 0x80));
        assert_eq!(middle.on_accent, BLACK);
        assert_ne!(theme.link, theme.accent);
    }

    proptest! {
        #[test]
        fn every_accent_keeps_text_readable(r: u8, g: u8, b: u8) {
            let theme = Theme::from_accent(Color::rgb(r, g, b));
            prop_assert!(theme.on_accent.contrast(theme.accent) >= MIN_TEXT_CONTRAST);
            prop_assert!(theme.on_accent.contrast(theme.accent_hover) >= MIN_TEXT_CONTRAST);
            prop_assert!(theme.link.contrast(WHITE) >= MIN_TEXT_CONTRAST);
            prop_assert!(theme.link.contrast(PAGE_BACKGROUND) >= MIN_TEXT_CONTRAST);
        }
    }
}

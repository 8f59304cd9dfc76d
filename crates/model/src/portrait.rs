//! A mandala for a user: the "Mandala for this user" menu.
//!
//! The seed is the user's id, so the same person always gets the same
//! mandala; when their profile has a colour (`accent_color`, or a
//! `banner_color`), the palette is built around it: the colour, a tint and
//! a shade of it, and a muted complement.

use serde_json::Value;

use crate::colour::Rgb;
use crate::spec::{PaletteChoice, RenderSpec};

/// The spec for `user` (a Discord user object) and the name to call them by.
pub fn for_user(user: &Value) -> Option<(RenderSpec, String)> {
    let id = user["id"].as_str().filter(|i| !i.is_empty())?;
    let seed: u64 = id.parse().ok()?;
    let name = user["global_name"]
        .as_str()
        .or(user["username"].as_str())
        .unwrap_or(id)
        .to_owned();
    let colour = user["accent_color"]
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
        .map(|c| Rgb::hex(c & 0xff_ffff))
        .or_else(|| user["banner_color"].as_str().and_then(|c| c.parse().ok()));
    let spec = RenderSpec {
        seed: Some(seed),
        palette: colour.map(|c| PaletteChoice::Custom(around(c))),
        ..Default::default()
    };
    Some((spec, name))
}

/// Four colours around `c`.
fn around(c: Rgb) -> Vec<Rgb> {
    let mix = |a: Rgb, b: Rgb, t: f64| {
        let m = |x: u8, y: u8| (f64::from(x) * (1.0 - t) + f64::from(y) * t).round() as u8;
        Rgb::new(m(a.r, b.r), m(a.g, b.g), m(a.b, b.b))
    };
    let complement = Rgb::new(255 - c.r, 255 - c.g, 255 - c.b);
    vec![
        c,
        mix(c, Rgb::new(255, 255, 255), 0.45),
        mix(c, Rgb::new(0, 0, 0), 0.45),
        mix(complement, Rgb::new(128, 128, 128), 0.5),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_gets_their_own_seed_and_colours() {
        let user = json!({"id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "accent_color": 0x3498db});
        let (spec, name) = for_user(&user).unwrap();
        assert_eq!(
            (spec.seed, name.as_str()),
            (Some(80351110224678912), "Nelly")
        );
        let Some(PaletteChoice::Custom(c)) = &spec.palette else {
            panic!("no palette from the accent colour");
        };
        assert_eq!(c[0], Rgb::hex(0x3498db));
        assert!(spec.resolve().is_ok());
        let plain = json!({"id": "1", "username": "x", "banner_color": null});
        let (spec, name) = for_user(&plain).unwrap();
        assert_eq!((spec.palette, name.as_str()), (None, "x"));
        let banner = json!({"id": "2", "banner_color": "#ff8800"});
        assert!(for_user(&banner).unwrap().0.palette.is_some());
        assert!(for_user(&json!({"username": "no id"})).is_none());
    }
}

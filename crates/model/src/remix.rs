//! The Remix form: an image's options in a modal, and the spec a submitted
//! form asks for.
//!
//! A modal holds at most five text inputs, so the options are grouped:
//!
//! | input     | holds                                   | e.g.                      |
//! |-----------|-----------------------------------------|---------------------------|
//! | `seed`    | the seed                                | `42`                      |
//! | `shape`   | symmetry · layers · elements · mirror    | `8 · 4 · auto · mirrored` |
//! | `style`   | how points are connected                | `spline`                  |
//! | `palette` | a palette name or hex colours           | `ocean`                   |
//! | `canvas`  | size · background                       | `1024 · #101014`          |
//!
//! The form is pre-filled with what the image was drawn with (values the
//! seed chose are written out where writing them keeps the same image;
//! per-layer elements stay `auto`). The modal's `custom_id` is the Remix
//! button's own state, so a submitted form knows the image it started from
//! without any server-side memory. Input is untrusted: every field is
//! parsed and the result validated like the slash command's options, and
//! errors name the field.

use std::collections::HashMap;

use crate::button::{ButtonAction, ButtonError, ButtonState};
use crate::discord::{Component, InteractionResponse};
use crate::i18n::Strings;
use crate::spec::{Background, PaletteChoice, RenderSpec, SpecError, StyleChoice, seed_from_text};

/// The inputs' `custom_id`s, in form order.
pub const FIELDS: [&str; 5] = ["seed", "shape", "style", "palette", "canvas"];

/// Longest value a form input accepts (Discord allows up to 4,000).
const MAX_INPUT: u16 = 200;

/// The word for "let the seed choose".
const AUTO: &str = "auto";

/// The modal for remixing the image `spec` (the user's options and seed).
pub fn modal(spec: &RenderSpec, s: &Strings) -> Result<InteractionResponse, ButtonError> {
    let custom_id = ButtonState {
        action: ButtonAction::Remix,
        spec: spec.clone(),
    }
    .encode_lossy()?;
    let values = prefill(spec, s);
    let hints = [
        "",
        s.field_shape_hint,
        s.field_style_hint,
        s.field_palette_hint,
        s.field_canvas_hint,
    ];
    let labels = [
        s.field_seed,
        s.field_shape,
        s.field_style,
        s.field_palette,
        s.field_canvas,
    ];
    let rows = FIELDS
        .iter()
        .zip(values)
        .zip(labels.iter().zip(hints))
        .map(|((id, value), (label, hint))| {
            Component::row(vec![Component::text_input(
                id,
                label,
                Some(value),
                hint,
                MAX_INPUT,
            )])
        })
        .collect();
    Ok(InteractionResponse::modal(custom_id, s.modal_title, rows))
}

/// The five values the form opens with.
pub fn prefill(spec: &RenderSpec, s: &Strings) -> [String; 5] {
    let seed = spec.seed.map(|n| n.to_string()).unwrap_or_default();
    // The drawn image, when the spec resolves: its symmetry, layers,
    // mirror, palette, size and background are what the seed chose.
    let drawn = spec.resolve().ok();
    let or_auto = |v: Option<String>| v.unwrap_or_else(|| AUTO.to_owned());
    let shape = [
        or_auto(
            spec.symmetry
                .or(drawn.as_ref().map(|d| d.symmetry))
                .map(|n| n.to_string()),
        ),
        or_auto(
            spec.layers
                .or(drawn.as_ref().map(|d| d.layers.len() as u32))
                .map(|n| n.to_string()),
        ),
        or_auto(spec.elements.map(|n| n.to_string())),
        or_auto(
            spec.mirror
                .or(drawn.as_ref().map(|d| d.mirror))
                .map(|m| if m { s.mirror_on } else { s.mirror_off }.to_owned()),
        ),
    ]
    .join(" · ");
    let style = spec.style.unwrap_or(StyleChoice::Random).name().to_owned();
    let palette = match &spec.palette {
        Some(PaletteChoice::Custom(c)) => c
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        Some(PaletteChoice::Named(n)) => n.clone(),
        None => or_auto(drawn.as_ref().map(|d| d.palette.clone())),
    };
    let size = spec.size.or(drawn.as_ref().map(|d| d.size));
    let background = spec.background.or(drawn.as_ref().map(|d| d.background));
    let canvas = format!(
        "{} · {}",
        or_auto(size.map(|n| n.to_string())),
        or_auto(background.map(|b| b.to_string()))
    );
    [seed, shape, style, palette, canvas]
}

/// A form value that cannot be used, naming the field (in the user's
/// language) and the problem (in English: it names options and values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FormError {
    pub field: String,
    pub problem: String,
}

impl FormError {
    /// The message for the user.
    pub fn explain(&self, s: &Strings) -> String {
        crate::i18n::fill(
            s.form_invalid,
            &[("field", &self.field), ("error", &self.problem)],
        )
    }
}

/// Splits a grouped field: `8 · 4 · auto` or `8, 4, auto`.
fn parts(value: &str) -> Vec<&str> {
    value
        .split(['·', ',', ';', '/', '|'])
        .map(str::trim)
        .collect()
}

fn is_auto(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case(AUTO) || v == "-"
}

/// The spec a submitted form asks for. `original` is the image the form
/// was opened on (from the modal's `custom_id`); `values` maps input
/// `custom_id`s to what the user left in them. An input missing from the
/// submission keeps the original's value.
pub fn apply<H: std::hash::BuildHasher>(
    original: &RenderSpec,
    values: &HashMap<String, String, H>,
    s: &Strings,
) -> Result<RenderSpec, FormError> {
    let mut spec = original.clone();
    let get = |id: &str| values.get(id).map(|v| v.trim());
    if let Some(v) = get("seed") {
        apply_seed(&mut spec, original, v);
    }
    if let Some(v) = get("shape") {
        apply_shape(&mut spec, v, s)?;
    }
    if let Some(v) = get("style") {
        spec.style = style(v, s)?;
    }
    if let Some(v) = get("palette") {
        spec.palette = if is_auto(v) {
            None
        } else {
            Some(
                v.parse::<PaletteChoice>()
                    .map_err(|e| invalid(s.field_palette, problem(&e)))?,
            )
        };
    }
    if let Some(v) = get("canvas") {
        apply_canvas(&mut spec, v, s)?;
    }
    spec.validate()
        .map_err(|e| invalid(form_field(&e, s), problem(&e)))?;
    Ok(spec)
}

/// A form error on `field` (its label in the user's language).
fn invalid(field: &str, problem: String) -> FormError {
    FormError {
        field: field.to_owned(),
        problem,
    }
}

/// A whole number, or `None` for auto; `label` names the input, `what`
/// the value within it.
fn number(label: &str, what: &str, v: &str) -> Result<Option<u32>, FormError> {
    if is_auto(v) {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        invalid(
            label,
            format!("{what} must be a whole number or auto (you gave {v:?})"),
        )
    })
}

/// The `seed` input. A new seed is a new mandala: the old variation and
/// tint mean nothing for it.
fn apply_seed(spec: &mut RenderSpec, original: &RenderSpec, v: &str) {
    let seed = (!is_auto(v)).then(|| seed_from_text(v));
    if seed != original.seed {
        spec.seed = seed;
        spec.variant = None;
        spec.tint = None;
    }
}

/// The `shape` input: symmetry · layers · elements · mirror.
fn apply_shape(spec: &mut RenderSpec, v: &str, s: &Strings) -> Result<(), FormError> {
    let p = parts(v);
    if p.len() > 4 {
        return Err(invalid(
            s.field_shape,
            format!(
                "at most four values (symmetry · layers · elements · mirror), you gave {}",
                p.len()
            ),
        ));
    }
    let at = |i: usize| p.get(i).copied().unwrap_or("");
    spec.symmetry = number(s.field_shape, "symmetry", at(0))?;
    spec.layers = number(s.field_shape, "layers", at(1))?;
    spec.elements = number(s.field_shape, "elements", at(2))?;
    spec.mirror = mirror(at(3), s).map_err(|problem| invalid(s.field_shape, problem))?;
    Ok(())
}

/// The `style` input: a style's name in the user's language or in
/// English, or auto.
fn style(v: &str, s: &Strings) -> Result<Option<StyleChoice>, FormError> {
    if is_auto(v) {
        return Ok(None);
    }
    let english = s
        .style_names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(v))
        .map_or(v, |i| StyleChoice::NAMES[i]);
    english
        .parse()
        .map(Some)
        .map_err(|e: SpecError| invalid(s.field_style, problem(&e)))
}

/// The `canvas` input: size · background.
fn apply_canvas(spec: &mut RenderSpec, v: &str, s: &Strings) -> Result<(), FormError> {
    let p = parts(v);
    if p.len() > 2 {
        return Err(invalid(
            s.field_canvas,
            format!(
                "at most two values (size · background), you gave {}",
                p.len()
            ),
        ));
    }
    spec.size = number(s.field_canvas, "size", p.first().copied().unwrap_or(""))?;
    let bg = p.get(1).copied().unwrap_or("");
    spec.background = if is_auto(bg) {
        None
    } else {
        Some(
            bg.parse::<Background>()
                .map_err(|e| invalid(s.field_canvas, problem(&e)))?,
        )
    };
    Ok(())
}

/// The input (its label) that holds the option a validation error names.
fn form_field(e: &SpecError, s: &Strings) -> &'static str {
    match e.field() {
        "seed" => s.field_seed,
        "style" => s.field_style,
        "palette" => s.field_palette,
        "size" | "background" | "format" => s.field_canvas,
        _ => s.field_shape,
    }
}

fn mirror(v: &str, s: &Strings) -> Result<Option<bool>, String> {
    if is_auto(v) {
        return Ok(None);
    }
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(v));
    if is(&[s.mirror_on, "mirrored", "mirror", "yes", "true", "on"]) {
        Ok(Some(true))
    } else if is(&[s.mirror_off, "plain", "no", "false", "off"]) {
        Ok(Some(false))
    } else {
        Err(format!(
            "mirror must be {} or {} (you gave {v:?})",
            s.mirror_on, s.mirror_off
        ))
    }
}

fn problem(e: &SpecError) -> String {
    match e {
        SpecError::OutOfRange {
            field,
            value,
            allowed,
        } => format!("{field} must be in {allowed} (you gave {value})"),
        SpecError::Invalid {
            field,
            value,
            allowed,
        } => format!("{field} cannot be {value:?}: use {allowed}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::strings;

    fn spec() -> RenderSpec {
        RenderSpec {
            seed: Some(42),
            variant: Some(3),
            symmetry: Some(9),
            size: Some(512),
            ..Default::default()
        }
    }

    fn submitted(spec: &RenderSpec, s: &Strings) -> HashMap<String, String> {
        FIELDS
            .iter()
            .map(|f| (*f).to_owned())
            .zip(prefill(spec, s))
            .collect()
    }

    #[test]
    fn an_untouched_form_draws_the_same_image() {
        for lang in [None, Some("ja"), Some("de")] {
            let s = strings(lang);
            let back = apply(&spec(), &submitted(&spec(), s), s).unwrap();
            assert_eq!(
                back.resolve().unwrap(),
                spec().resolve().unwrap(),
                "{lang:?}"
            );
            assert_eq!(back.variant, Some(3), "same seed keeps the variation");
        }
    }

    #[test]
    fn the_form_holds_five_prefilled_inputs_and_the_image() {
        let s = strings(None);
        let m = modal(&spec(), s).unwrap();
        let data = m.data.unwrap();
        let rows = data.message.components.unwrap();
        assert_eq!(rows.len(), 5);
        let inputs: Vec<_> = rows
            .iter()
            .map(|r| &r.components.as_ref().unwrap()[0])
            .collect();
        assert_eq!(inputs[0].value.as_deref(), Some("42"));
        assert!(inputs[1].value.as_deref().unwrap().starts_with("9 · "));
        assert_eq!(
            inputs[4].value.as_deref().unwrap().split(" · ").next(),
            Some("512")
        );
        let st = ButtonState::parse(&data.custom_id.unwrap()).unwrap();
        assert_eq!((st.action, st.spec), (ButtonAction::Remix, spec()));
    }

    #[test]
    fn edits_apply_and_a_new_seed_drops_the_variation() {
        let s = strings(None);
        let mut form = submitted(&spec(), s);
        form.insert("seed".into(), "sunrise".into());
        form.insert("shape".into(), "12, 3, auto, plain".into());
        form.insert("style".into(), "Spline".into());
        form.insert("palette".into(), "#ff0000,#00ff00".into());
        form.insert("canvas".into(), "768 · transparent".into());
        let out = apply(&spec(), &form, s).unwrap();
        assert_eq!(out.seed, Some(seed_from_text("sunrise")));
        assert_eq!(out.variant, None);
        assert_eq!(
            (out.symmetry, out.layers, out.elements, out.mirror),
            (Some(12), Some(3), None, Some(false))
        );
        assert_eq!(out.style, Some(StyleChoice::Spline));
        assert_eq!(out.size, Some(768));
        assert_eq!(out.background, Some(Background::Transparent));
        // Localized words are understood.
        let de = strings(Some("de"));
        let mut form = submitted(&spec(), de);
        form.insert("style".into(), de.style_names[4].into());
        form.insert("shape".into(), format!("8 · 2 · 6 · {}", de.mirror_on));
        let out = apply(&spec(), &form, de).unwrap();
        assert_eq!(
            (out.style, out.mirror),
            (Some(StyleChoice::Spline), Some(true))
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let s = strings(None);
        for (field, value, label, needle) in [
            ("shape", "99", s.field_shape, "symmetry must be in 2..=64"),
            (
                "shape",
                "8 · x",
                s.field_shape,
                "layers must be a whole number",
            ),
            ("shape", "1 · 2 · 3 · 4 · 5", s.field_shape, "at most four"),
            (
                "shape",
                "8 · 2 · 6 · sideways",
                s.field_shape,
                "mirror must be",
            ),
            ("style", "wobbly", s.field_style, "style cannot be"),
            ("palette", "mauve", s.field_palette, "palette cannot be"),
            (
                "canvas",
                "99999",
                s.field_canvas,
                "size must be in 64..=4096",
            ),
            (
                "canvas",
                "512 · blue-ish",
                s.field_canvas,
                "background cannot be",
            ),
        ] {
            let mut form = submitted(&spec(), s);
            form.insert(field.into(), value.into());
            let e = apply(&spec(), &form, s).unwrap_err();
            assert_eq!(e.field, label, "{value}");
            assert!(e.problem.contains(needle), "{value}: {}", e.problem);
            assert!(e.explain(s).contains(label));
        }
    }
}

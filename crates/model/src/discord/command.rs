//! The `/mandala` slash command: its definition for registration and the
//! mapping from its options to a [`RenderSpec`]. Both come from
//! [`crate::bounds`], so the limits Discord enforces in its UI are the limits
//! the ingress checks.

use serde_json::{Value, json};

use crate::bounds;
use crate::palette;
use crate::spec::{RenderSpec, SpecError, StyleChoice, seed_from_text};

use super::interaction::{CommandOption, OptionValue};
use super::response::Choice;

pub const COMMAND_NAME: &str = "mandala";

const STRING: u8 = 3;
const INTEGER: u8 = 4;
const BOOLEAN: u8 = 5;

/// Discord's autocomplete limit.
pub const MAX_CHOICES: usize = 25;

/// The command definition for `PUT /applications/{id}/commands`.
pub fn definition() -> Value {
    let int = |name: &str, description: &str, range: &std::ops::RangeInclusive<u32>| {
        json!({"type": INTEGER, "name": name, "description": description,
               "min_value": range.start(), "max_value": range.end()})
    };
    json!({
        "name": COMMAND_NAME,
        "type": 1,
        "description": "Draw a generated mandala",
        "contexts": [0, 1, 2],
        "integration_types": [0, 1],
        "options": [
            {"type": STRING, "name": "seed", "description": "A number or any word: the same seed draws the same mandala", "max_length": 64},
            int("symmetry", "How many times the pattern repeats around the centre", &bounds::SYMMETRY),
            int("layers", "Number of concentric layers", &bounds::LAYERS),
            int("elements", "Points per layer: more is more intricate", &bounds::ELEMENTS),
            {"type": STRING, "name": "style", "description": "How points are connected",
             "choices": StyleChoice::NAMES.iter().map(|n| json!({"name": n, "value": n})).collect::<Vec<_>>()},
            {"type": STRING, "name": "palette", "description": "A palette name, or hex colours like #ff8800,#0088ff", "autocomplete": true, "max_length": 200},
            {"type": STRING, "name": "background", "description": "A hex colour like #101020, or transparent", "max_length": 20},
            int("size", "Image edge in pixels", &bounds::SIZE),
            {"type": BOOLEAN, "name": "mirror", "description": "Mirror each wedge (kaleidoscope symmetry)"},
        ]
    })
}

/// A bad option value, phrased for the user who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("Option `{option}` {problem}.")]
    Invalid { option: String, problem: String },
}

impl OptionError {
    pub fn option(&self) -> &str {
        match self {
            OptionError::Invalid { option, .. } => option,
        }
    }

    fn from_spec(e: &SpecError) -> Self {
        let problem = match e {
            SpecError::OutOfRange { value, allowed, .. } => {
                format!("must be in {allowed} (you gave {value})")
            }
            SpecError::Invalid { value, allowed, .. } => {
                format!("cannot be {value:?}: use {allowed}")
            }
            other => other.to_string(),
        };
        let option = e.field().split(' ').next().unwrap_or("option").to_owned();
        OptionError::Invalid { option, problem }
    }
}

fn wrong_type(option: &CommandOption, want: &str) -> OptionError {
    OptionError::Invalid {
        option: option.name.clone(),
        problem: format!("must be {want}"),
    }
}

/// Builds and validates a spec from the command's options. Unknown options
/// are ignored (an old registration may still send them).
pub fn spec_from_options(options: &[&CommandOption]) -> Result<RenderSpec, OptionError> {
    let mut spec = RenderSpec::default();
    for o in options {
        let Some(value) = &o.value else { continue };
        let uint = || match value {
            OptionValue::Integer(i) => u32::try_from(*i).map_err(|_| OptionError::Invalid {
                option: o.name.clone(),
                problem: format!("must be a positive whole number (you gave {i})"),
            }),
            _ => Err(wrong_type(o, "a whole number")),
        };
        let text = || value.as_str().ok_or_else(|| wrong_type(o, "text"));
        match o.name.as_str() {
            "seed" => {
                spec.seed = Some(match value {
                    OptionValue::Integer(i) => u64::try_from(*i)
                        .map_err(|_| wrong_type(o, "a positive number or a word"))?,
                    OptionValue::String(s) if !s.trim().is_empty() => seed_from_text(s),
                    _ => return Err(wrong_type(o, "a positive number or a word")),
                });
            }
            "symmetry" => spec.symmetry = Some(uint()?),
            "layers" => spec.layers = Some(uint()?),
            "elements" => spec.elements = Some(uint()?),
            "size" => spec.size = Some(uint()?),
            "mirror" => match value {
                OptionValue::Bool(b) => spec.mirror = Some(*b),
                _ => return Err(wrong_type(o, "true or false")),
            },
            "style" => {
                spec.style = Some(text()?.parse().map_err(|e| OptionError::from_spec(&e))?);
            }
            "palette" => {
                spec.palette = Some(text()?.parse().map_err(|e| OptionError::from_spec(&e))?);
            }
            "background" => {
                spec.background = Some(text()?.parse().map_err(|e| OptionError::from_spec(&e))?);
            }
            _ => {}
        }
    }
    spec.validate().map_err(|e| OptionError::from_spec(&e))?;
    Ok(spec)
}

/// Palette names matching what the user has typed so far: prefix matches
/// first, then substring matches, at most [`MAX_CHOICES`].
pub fn palette_choices(typed: &str) -> Vec<Choice> {
    let typed = typed.trim().to_ascii_lowercase();
    let describe = |name: &str| {
        palette::find(name).map_or_else(
            || format!("{name} — a harmonious palette picked by the seed"),
            |p| format!("{} — {}", p.name, p.description),
        )
    };
    let names: Vec<&str> = palette::names().collect();
    let prefix = names.iter().filter(|n| n.starts_with(&typed));
    let inner = names
        .iter()
        .filter(|n| !n.starts_with(&typed) && n.contains(&typed));
    prefix
        .chain(inner)
        .take(MAX_CHOICES)
        .map(|n| Choice {
            name: describe(n).chars().take(100).collect(),
            value: json!(n),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, kind: u8, value: OptionValue) -> CommandOption {
        CommandOption {
            name: name.into(),
            kind,
            value: Some(value),
            options: vec![],
            focused: None,
        }
    }

    #[test]
    fn definition_uses_the_bounds() {
        let d = definition();
        let sym = d["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "symmetry")
            .unwrap();
        assert_eq!(
            (sym["min_value"].as_u64(), sym["max_value"].as_u64()),
            (Some(2), Some(64))
        );
        assert!(d["options"].as_array().unwrap().len() <= 25);
    }

    #[test]
    fn options_become_a_spec() {
        let opts = [
            opt("seed", STRING, OptionValue::String("1234".into())),
            opt("symmetry", INTEGER, OptionValue::Integer(8)),
            opt("mirror", BOOLEAN, OptionValue::Bool(false)),
            opt("palette", STRING, OptionValue::String("Ocean".into())),
            opt("style", STRING, OptionValue::String("spline".into())),
        ];
        let spec = spec_from_options(&opts.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(
            (spec.seed, spec.symmetry, spec.mirror),
            (Some(1234), Some(8), Some(false))
        );
    }

    #[test]
    fn errors_name_the_option_and_the_allowed_values() {
        let o = [opt("symmetry", INTEGER, OptionValue::Integer(99))];
        let e = spec_from_options(&o.iter().collect::<Vec<_>>()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Option `symmetry` must be in 2..=64 (you gave 99)."
        );
        let o = [opt("palette", STRING, OptionValue::String("mauve".into()))];
        let e = spec_from_options(&o.iter().collect::<Vec<_>>()).unwrap_err();
        assert_eq!(e.option(), "palette");
        assert!(e.to_string().contains("ocean"), "{e}");
        let o = [opt("size", INTEGER, OptionValue::Integer(-5))];
        assert_eq!(
            spec_from_options(&o.iter().collect::<Vec<_>>())
                .unwrap_err()
                .option(),
            "size"
        );
    }

    #[test]
    fn autocomplete_ranks_prefixes_and_caps_at_25() {
        let c = palette_choices("a");
        assert_eq!(c[0].value, json!("aurora"));
        assert!(
            c.iter().any(|c| c.value == json!("ocean")),
            "substring matches are included"
        );
        assert!(palette_choices("").len() <= MAX_CHOICES);
        assert!(palette_choices("zzz").is_empty());
    }
}

//! The bot's commands — `/mandala` and the two context menus — as
//! registered, in every language the bot speaks, and the mapping from the
//! slash command's options to a [`RenderSpec`]. Both come from
//! [`crate::bounds`], so the limits Discord enforces in its UI are the limits
//! the ingress checks.

use serde_json::{Map, Value, json};

use crate::bounds;
use crate::i18n::{Lang, Strings};
use crate::palette;
use crate::spec::{Format, RenderSpec, SpecError, StyleChoice, seed_from_text};

use super::interaction::{CommandOption, OptionValue};
use super::response::Choice;

pub const COMMAND_NAME: &str = "mandala";

const STRING: u8 = 3;
const INTEGER: u8 = 4;
const BOOLEAN: u8 = 5;

/// Discord's autocomplete limit.
pub const MAX_CHOICES: usize = 25;

/// The message context-menu command: "Remix mandala".
pub const REMIX_MENU: &str = "Remix mandala";
/// The user context-menu command: "Mandala for this user".
pub const USER_MENU: &str = "Mandala for this user";

/// Command types.
pub const CHAT_INPUT: u8 = 1;
pub const USER: u8 = 2;
pub const MESSAGE: u8 = 3;

/// `{locale: text}` for every language but English.
fn localized(text: impl Fn(&Strings) -> &'static str) -> Value {
    let mut map = Map::new();
    for lang in Lang::ALL {
        for locale in lang.discord_locales() {
            map.insert((*locale).to_owned(), json!(text(lang.strings())));
        }
    }
    Value::Object(map)
}

/// Where every command may be used: servers, the bot's DMs, private channels;
/// installed to a server or to a user.
fn everywhere(mut command: Value) -> Value {
    command["contexts"] = json!([0, 1, 2]);
    command["integration_types"] = json!([0, 1]);
    command
}

/// The `/mandala` definition, with its names and descriptions in every
/// language the bot speaks.
pub fn definition() -> Value {
    let en = Lang::En.strings();
    let option = |kind: u8, i: usize| {
        let (name, text) = en.options()[i];
        json!({
            "type": kind,
            "name": name,
            "name_localizations": localized(|s| s.options()[i].1.name),
            "description": text.description,
            "description_localizations": localized(|s| s.options()[i].1.description),
        })
    };
    let int = |i: usize, range: &std::ops::RangeInclusive<u32>| {
        let mut o = option(INTEGER, i);
        o["min_value"] = json!(range.start());
        o["max_value"] = json!(range.end());
        o
    };
    let text = |i: usize, max: u32| {
        let mut o = option(STRING, i);
        o["max_length"] = json!(max);
        o
    };
    let mut style = option(STRING, 4);
    style["choices"] = StyleChoice::NAMES
        .iter()
        .enumerate()
        .map(|(k, n)| {
            json!({"name": n, "value": n, "name_localizations": localized(|s| s.style_names[k])})
        })
        .collect();
    let mut palette = text(5, 200);
    palette["autocomplete"] = json!(true);
    let mut format = option(STRING, 10);
    format["choices"] = [Format::Webp, Format::Png, Format::Svg]
        .iter()
        .map(|f| json!({"name": f.extension(), "value": f.extension()}))
        .collect();
    everywhere(json!({
        "name": COMMAND_NAME,
        "type": CHAT_INPUT,
        "description": en.command_description,
        "description_localizations": localized(|s| s.command_description),
        "options": [
            text(0, 64),
            int(1, &bounds::SYMMETRY),
            int(2, &bounds::LAYERS),
            int(3, &bounds::ELEMENTS),
            style,
            palette,
            text(6, 20),
            int(7, &bounds::SIZE),
            option(BOOLEAN, 8),
            option(BOOLEAN, 9),
            format,
        ]
    }))
}

/// "Remix mandala" on a message of this bot.
pub fn remix_menu() -> Value {
    everywhere(json!({
        "name": REMIX_MENU,
        "type": MESSAGE,
        "name_localizations": localized(|s| s.menu_remix),
    }))
}

/// "Mandala for this user" on a user.
pub fn user_menu() -> Value {
    everywhere(json!({
        "name": USER_MENU,
        "type": USER,
        "name_localizations": localized(|s| s.menu_for_user),
    }))
}

/// Every command, as `mandala register-commands` puts them.
pub fn definitions() -> Value {
    json!([definition(), remix_menu(), user_menu()])
}

/// The `grid` option: `None` when the user left it to the default.
pub fn grid_option(options: &[&CommandOption]) -> Option<bool> {
    options
        .iter()
        .find(|o| o.name == "grid")
        .and_then(|o| match o.value {
            Some(OptionValue::Bool(b)) => Some(b),
            _ => None,
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
            "format" => {
                spec.format = Some(text()?.parse().map_err(|e| OptionError::from_spec(&e))?);
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
        // Every option is localized, and the grid switch is there.
        for o in d["options"].as_array().unwrap() {
            assert!(o["name_localizations"]["ja"].is_string(), "{o}");
            assert!(o["description_localizations"]["pt-BR"].is_string(), "{o}");
        }
        assert!(
            d["options"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["name"] == "grid")
        );
        let all = definitions();
        let kinds: Vec<u64> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_u64().unwrap())
            .collect();
        assert_eq!(kinds, [1, 3, 2]);
        assert_eq!(
            all[1]["name_localizations"]["es-419"],
            Lang::Es.strings().menu_remix
        );
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
    fn the_format_option_keeps_png_and_svg_within_reach() {
        let def = definition();
        let format = def["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "format")
            .unwrap();
        let values: Vec<&str> = format["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["webp", "png", "svg"], "the default first");
        let o = [opt("format", STRING, OptionValue::String("png".into()))];
        let spec = spec_from_options(&o.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(spec.format, Some(Format::Png));
        let o = [opt("format", STRING, OptionValue::String("gif".into()))];
        let e = spec_from_options(&o.iter().collect::<Vec<_>>()).unwrap_err();
        assert_eq!(e.option(), "format");
        assert!(e.to_string().contains("webp"), "{e}");
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

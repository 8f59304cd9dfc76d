//! Checks application command definitions the way Discord's bulk-overwrite
//! endpoint does (`PUT /applications/{app}/commands`).

use std::collections::HashSet;

use serde_json::Value;

use super::checks::FormErrors;

const OPTION_TYPES: std::ops::RangeInclusive<u64> = 1..=11;
const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;
const STRING: u64 = 3;
const INTEGER: u64 = 4;
const NUMBER: u64 = 10;

/// Chat-input names: 1–32 lowercase letters, digits, `-` or `_`.
fn valid_name(name: &str, chat_input: bool) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name.chars().all(|c| {
            if chat_input {
                (c.is_alphanumeric() && !c.is_uppercase()) || c == '-' || c == '_'
            } else {
                !c.is_control()
            }
        })
}

fn text(
    errors: &mut FormErrors,
    v: Option<&Value>,
    path: &str,
    range: std::ops::RangeInclusive<usize>,
) {
    match v.and_then(Value::as_str) {
        None => errors.add(path, "BASE_TYPE_REQUIRED", "This field is required"),
        Some(s) if !range.contains(&s.chars().count()) => errors.add(
            path,
            "BASE_TYPE_BAD_LENGTH",
            format!(
                "Must be between {} and {} in length.",
                range.start(),
                range.end()
            ),
        ),
        Some(_) => {}
    }
}

/// The locales Discord accepts in `*_localizations`.
const LOCALES: [&str; 32] = [
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th",
    "zh-CN", "ja", "zh-TW", "ko",
];

/// How a localized field is checked.
#[derive(Clone, Copy)]
enum Rule {
    /// A command or option name (chat input: lowercase, no spaces).
    Name { chat_input: bool },
    /// Text of 1–100 characters: descriptions, choice names.
    Text,
}

/// Checks `{field}_localizations` of `object`: known locales, and each
/// value under the field's own rule.
fn localizations(errors: &mut FormErrors, object: &Value, field: &str, path: &str, rule: Rule) {
    let key = format!("{field}_localizations");
    let Some(map) = object.get(&key).filter(|v| !v.is_null()) else {
        return;
    };
    let Some(map) = map.as_object() else {
        errors.add(
            format!("{path}.{key}"),
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        );
        return;
    };
    for (locale, value) in map {
        let p = format!("{path}.{key}.{locale}");
        if !LOCALES.contains(&locale.as_str()) {
            errors.add(&p, "LOCALE_INVALID", format!("Invalid locale {locale:?}"));
            continue;
        }
        match rule {
            Rule::Name { chat_input } => {
                if !value.as_str().is_some_and(|n| valid_name(n, chat_input)) {
                    errors.add(
                        &p,
                        "APPLICATION_COMMAND_INVALID_NAME",
                        format!("Localized name is invalid: {value}"),
                    );
                }
            }
            Rule::Text => text(errors, Some(value), &p, 1..=100),
        }
    }
}

/// The longest of a field and its localizations, in characters: what
/// Discord counts towards a command's size.
fn longest(object: &Value, field: &str) -> usize {
    let own = object
        .get(field)
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count());
    object
        .get(format!("{field}_localizations"))
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .map(|s| s.chars().count())
        .fold(own, usize::max)
}

/// Discord's size budget of a command: names, descriptions and choice names
/// and values of the command and every option, each at its longest locale.
pub const COMMAND_BUDGET: usize = 8000;

fn size(command: &Value) -> usize {
    fn options(list: Option<&Value>) -> usize {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| {
                let choices: usize = o
                    .get("choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        longest(c, "name")
                            + c.get("value").map_or(0, |v| match v {
                                Value::String(s) => s.chars().count(),
                                other => other.to_string().len(),
                            })
                    })
                    .sum();
                longest(o, "name") + longest(o, "description") + choices + options(o.get("options"))
            })
            .sum()
    }
    longest(command, "name") + longest(command, "description") + options(command.get("options"))
}

/// Checks a bulk overwrite body: an array of at most 100 commands with unique names.
pub fn check(body: &Value) -> FormErrors {
    let mut errors = FormErrors::default();
    let Some(list) = body.as_array() else {
        errors.add("_root", "BASE_TYPE_ARRAY", "Must be an array.");
        return errors;
    };
    if list.len() > 100 {
        errors.add(
            "_root",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 100 or fewer in length.",
        );
    }
    // Names are unique per kind: a slash command and a context menu may share one.
    let mut names = HashSet::new();
    for (i, cmd) in list.iter().enumerate() {
        check_command(cmd, &i.to_string(), &mut names, &mut errors);
    }
    errors
}

/// One command of the overwrite, at `path` (its index). The checks run
/// in Discord's order, so the errors come out in the same order.
fn check_command(
    cmd: &Value,
    path: &str,
    names: &mut HashSet<(Option<u64>, String)>,
    errors: &mut FormErrors,
) {
    let kind = command_kind(cmd, path, errors);
    let chat_input = kind == Some(1);
    command_name(cmd, path, kind, names, errors);
    localizations(errors, cmd, "name", path, Rule::Name { chat_input });
    if size(cmd) > COMMAND_BUDGET {
        errors.add(
            path,
            "APPLICATION_COMMAND_TOO_LARGE",
            format!("Command exceeds maximum size ({COMMAND_BUDGET})"),
        );
    }
    if chat_input {
        chat_input_parts(cmd, path, errors);
    } else if cmd
        .get("options")
        .is_some_and(|o| o.as_array().is_some_and(|a| !a.is_empty()))
    {
        errors.add(
            format!("{path}.options"),
            "APPLICATION_COMMAND_OPTIONS_NOT_ALLOWED",
            "Only chat input commands have options.",
        );
    }
    integer_lists(cmd, path, errors);
}

/// The command's `type` (1, chat input, when absent); `Some` of anything
/// else than 1–4 is refused but still returned, for the uniqueness key.
fn command_kind(cmd: &Value, path: &str, errors: &mut FormErrors) -> Option<u64> {
    let kind = cmd.get("type").map_or(Some(1), Value::as_u64);
    if !matches!(kind, Some(1..=4)) {
        errors.add(
            format!("{path}.type"),
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2, 3, 4}.",
        );
    }
    kind
}

/// The command's name: valid for its kind, and not taken by an earlier
/// command of the same kind.
fn command_name(
    cmd: &Value,
    path: &str,
    kind: Option<u64>,
    names: &mut HashSet<(Option<u64>, String)>,
    errors: &mut FormErrors,
) {
    let name = cmd.get("name").and_then(Value::as_str).unwrap_or_default();
    if !valid_name(name, kind == Some(1)) {
        errors.add(
            format!("{path}.name"),
            "APPLICATION_COMMAND_INVALID_NAME",
            format!("Command name is invalid: {name:?}"),
        );
    }
    if !names.insert((kind, name.to_owned())) {
        errors.add(
            format!("{path}.name"),
            "APPLICATION_COMMANDS_DUPLICATE_NAME",
            format!("Application command names must be unique: {name:?}"),
        );
    }
}

/// What only a chat-input (slash) command has: a description and options.
fn chat_input_parts(cmd: &Value, path: &str, errors: &mut FormErrors) {
    localizations(errors, cmd, "description", path, Rule::Text);
    text(
        errors,
        cmd.get("description"),
        &format!("{path}.description"),
        1..=100,
    );
    if let Some(options) = cmd.get("options").filter(|o| !o.is_null()) {
        check_options(options, &format!("{path}.options"), 0, errors);
    }
}

/// `contexts` and `integration_types`: arrays of integers when present.
fn integer_lists(cmd: &Value, path: &str, errors: &mut FormErrors) {
    for list_field in ["contexts", "integration_types"] {
        if let Some(v) = cmd.get(list_field).filter(|v| !v.is_null())
            && !v.as_array().is_some_and(|a| a.iter().all(Value::is_u64))
        {
            errors.add(
                format!("{path}.{list_field}"),
                "BASE_TYPE_ARRAY",
                "Must be an array of integers.",
            );
        }
    }
}

/// The options of a command or of a sub-command (group) `depth` levels down.
fn check_options(options: &Value, path: &str, depth: u8, errors: &mut FormErrors) {
    let Some(list) = options.as_array() else {
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.");
        return;
    };
    if list.len() > 25 {
        errors.add(
            path,
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        );
    }
    let mut names = HashSet::new();
    let mut optional_seen = false;
    for (i, o) in list.iter().enumerate() {
        let p = format!("{path}.{i}");
        let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
        option_identity(o, &p, kind, &mut names, errors);
        // Discord wants every required option before the first optional one.
        let required = o.get("required").and_then(Value::as_bool).unwrap_or(false);
        if required && optional_seen {
            errors.add(
                format!("{p}.required"),
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            );
        }
        optional_seen |= !required;
        match kind {
            SUB_COMMAND | SUB_COMMAND_GROUP => sub_command(o, &p, kind, depth, errors),
            _ => value_option(o, &p, kind, errors),
        }
    }
}

/// What every option has: a known type, a unique valid name, a
/// description, and their localizations.
fn option_identity(
    o: &Value,
    p: &str,
    kind: u64,
    names: &mut HashSet<String>,
    errors: &mut FormErrors,
) {
    if !OPTION_TYPES.contains(&kind) {
        errors.add(
            format!("{p}.type"),
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2, ..., 11}.",
        );
    }
    let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
    if !valid_name(name, true) {
        errors.add(
            format!("{p}.name"),
            "APPLICATION_COMMAND_INVALID_NAME",
            format!("Option name is invalid: {name:?}"),
        );
    }
    if !names.insert(name.to_owned()) {
        errors.add(
            format!("{p}.name"),
            "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
            "Option names must be unique",
        );
    }
    text(
        errors,
        o.get("description"),
        &format!("{p}.description"),
        1..=100,
    );
    localizations(errors, o, "name", p, Rule::Name { chat_input: true });
    localizations(errors, o, "description", p, Rule::Text);
}

/// A sub-command or group: nested at most two levels (a group holds
/// sub-commands, never groups), its own options checked one level down.
fn sub_command(o: &Value, p: &str, kind: u64, depth: u8, errors: &mut FormErrors) {
    if depth >= 2 || (depth == 1 && kind == SUB_COMMAND_GROUP) {
        errors.add(
            format!("{p}.type"),
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Sub-commands nest at most two levels.",
        );
    }
    if let Some(sub) = o.get("options").filter(|v| !v.is_null()) {
        check_options(sub, &format!("{p}.options"), depth + 1, errors);
    }
}

/// An option that takes a value: its choices, autocomplete and bounds.
fn value_option(o: &Value, p: &str, kind: u64, errors: &mut FormErrors) {
    let choices = o.get("choices").and_then(Value::as_array);
    if let Some(choices) = choices {
        option_choices(choices, p, kind, errors);
    }
    if o.get("autocomplete").and_then(Value::as_bool) == Some(true)
        && choices.is_some_and(|c| !c.is_empty())
    {
        errors.add(
            format!("{p}.autocomplete"),
            "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
            "Autocomplete cannot be set with choices.",
        );
    }
    value_bounds(o, p, kind, errors);
    length_bounds(o, p, kind, errors);
}

/// At most 25 choices, only on string, integer and number options, each
/// named and with a value of the option's type.
fn option_choices(choices: &[Value], p: &str, kind: u64, errors: &mut FormErrors) {
    if choices.len() > 25 {
        errors.add(
            format!("{p}.choices"),
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        );
    }
    if !matches!(kind, STRING | INTEGER | NUMBER) {
        errors.add(
            format!("{p}.choices"),
            "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
            "Only string, integer and number options have choices.",
        );
    }
    for (c, choice) in choices.iter().enumerate() {
        text(
            errors,
            choice.get("name"),
            &format!("{p}.choices.{c}.name"),
            1..=100,
        );
        localizations(
            errors,
            choice,
            "name",
            &format!("{p}.choices.{c}"),
            Rule::Text,
        );
        if !choice_value_fits(kind, choice.get("value")) {
            errors.add(
                format!("{p}.choices.{c}.value"),
                "BASE_TYPE_CHOICES",
                "Choice value does not match the option type.",
            );
        }
    }
}

/// Whether a choice's value is of its option's type (strings 1–100 characters).
fn choice_value_fits(kind: u64, value: Option<&Value>) -> bool {
    match (kind, value) {
        (STRING, Some(Value::String(s))) => (1..=100).contains(&s.chars().count()),
        (INTEGER, Some(v)) => v.is_i64(),
        (NUMBER, Some(v)) => v.is_number(),
        _ => false,
    }
}

/// `min_value`/`max_value`: only on integer and number options, of their
/// type, and not crossed.
fn value_bounds(o: &Value, p: &str, kind: u64, errors: &mut FormErrors) {
    for bound in ["min_value", "max_value"] {
        if let Some(v) = o.get(bound).filter(|v| !v.is_null()) {
            let ok = match kind {
                INTEGER => v.is_i64(),
                NUMBER => v.is_number(),
                _ => false,
            };
            if !ok {
                errors.add(
                    format!("{p}.{bound}"),
                    "BASE_TYPE_NUMBER",
                    "Only integer and number options take min_value/max_value of their type.",
                );
            }
        }
    }
    if let (Some(lo), Some(hi)) = (
        o.get("min_value").and_then(Value::as_f64),
        o.get("max_value").and_then(Value::as_f64),
    ) && lo > hi
    {
        errors.add(
            format!("{p}.max_value"),
            "NUMBER_TYPE_MIN",
            "max_value must not be below min_value.",
        );
    }
}

/// `min_length`/`max_length`: only on string options, in 0..=6000.
fn length_bounds(o: &Value, p: &str, kind: u64, errors: &mut FormErrors) {
    for bound in ["min_length", "max_length"] {
        if let Some(v) = o.get(bound).filter(|v| !v.is_null()) {
            let ok = kind == STRING && v.as_u64().is_some_and(|n| n <= 6000);
            if !ok {
                errors.add(
                    format!("{p}.{bound}"),
                    "BASE_TYPE_NUMBER",
                    "Only string options take min_length/max_length in 0..=6000.",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bots_commands_pass() {
        let errors = check(&mandala_model::discord::command::definitions());
        assert!(errors.is_empty(), "{}", errors.summary());
        let size = size(&mandala_model::discord::command::definition());
        assert!(size <= COMMAND_BUDGET, "{size}");
    }

    #[test]
    fn localizations_follow_the_fields_rules_and_count_towards_the_size() {
        let bad = json!([
            {"name": "ok", "description": "d",
             "name_localizations": {"de": "Mit Leerzeichen", "xx": "a"},
             "description_localizations": {"fr": ""},
             "options": [{"type": 3, "name": "o", "description": "d",
                          "description_localizations": {"ja": "x".repeat(101)}}]},
            {"name": "Menu", "type": 3, "name_localizations": {"ja": "x".repeat(33)}},
            {"name": "big", "description": "d", "options": (0..25).map(|i| json!({
                "type": 3, "name": format!("o{i}"), "description": "d".repeat(100),
                "description_localizations": {"de": "e".repeat(100)},
                "choices": (0..25).map(|c| json!({"name": "n".repeat(10), "value": format!("v{c}")})).collect::<Vec<_>>()
            })).collect::<Vec<_>>()},
        ]);
        let e = check(&bad).summary();
        for needle in [
            "0.name_localizations.de",
            "0.name_localizations.xx",
            "0.description_localizations.fr",
            "0.options.0.description_localizations.ja",
            "1.name_localizations.ja",
            "2: Command exceeds maximum size",
        ] {
            assert!(e.contains(needle), "{needle} not in {e}");
        }
    }

    #[test]
    fn discord_rules_are_checked() {
        let bad = json!([
            {"name": "Mandala", "description": "x"},
            {"name": "ok", "description": "", "options": [
                {"type": 3, "name": "a", "description": "a"},
                {"type": 3, "name": "b", "description": "b", "required": true},
                {"type": 12, "name": "c", "description": "c"},
                {"type": 3, "name": "d", "description": "d", "autocomplete": true, "choices": [{"name": "x", "value": "x"}]},
                {"type": 4, "name": "e", "description": "e", "choices": [{"name": "x", "value": "x"}]}
            ]}
        ]);
        let s = check(&bad).summary();
        for expected in [
            "0.name",
            "1.description",
            "1.options.1.required",
            "1.options.2.type",
            "1.options.3.autocomplete",
            "1.options.4.choices.0.value",
        ] {
            assert!(s.contains(expected), "{expected} missing from {s}");
        }
    }
}

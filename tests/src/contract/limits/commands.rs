//! Command definitions: names, options, choices and the size budget.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::{
    COMMAND_BUDGET, COMMANDS_PER_TYPE_MAX, STRING_CHOICE_VALUE_MAX, at, chars, complaint, list,
};

/// A string choice's value is at most 100 characters.
pub(super) fn choice_value(choice: &Value, p: &str, out: &mut Vec<String>) {
    if let Some(Value::String(v)) = choice.get("value") {
        let n = v.chars().count();
        if n > STRING_CHOICE_VALUE_MAX {
            out.push(complaint(
                &at(p, "value"),
                format!(
                    "has {n} characters, more than {STRING_CHOICE_VALUE_MAX} for a choice value"
                ),
            ));
        }
    }
}

/// `^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$`, the docs' rule for
/// chat-input command and option names.
fn name_pattern() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$").ok())
        .as_ref()
}

/// A chat-input name: the pattern, and lowercase wherever a letter has a
/// lowercase form.
fn chat_name(name: &str, p: &str, what: &str, out: &mut Vec<String>) {
    let matches = name_pattern().is_some_and(|re| re.is_match(name));
    if !matches {
        out.push(complaint(
            p,
            format!("{name:?} is not a valid {what} name (1 to 32 letters, digits, - _ ')"),
        ));
    } else if name
        .chars()
        .any(|c| c.to_lowercase().ne(std::iter::once(c)))
    {
        out.push(complaint(
            p,
            format!("{name:?} has capitals; {what} names must be lowercase"),
        ));
    }
}

/// A bulk overwrite (`PUT /applications/{id}/commands` and the guild
/// variant): per-type counts, unique names, and each command.
pub fn command_overwrite(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let commands = list(Some(body));
    for (kind, max) in COMMANDS_PER_TYPE_MAX {
        let n = commands.iter().filter(|c| command_type(c) == kind).count();
        if n > max {
            out.push(complaint(
                "",
                format!("has {n} commands of type {kind}, more than {max}"),
            ));
        }
    }
    let mut names = HashSet::new();
    for (i, c) in commands.iter().enumerate() {
        let p = at("", i);
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
        if !names.insert((command_type(c), name)) {
            out.push(complaint(
                &at(&p, "name"),
                format!("{name:?} is used twice for the same command type"),
            ));
        }
        command_at(c, &p, &mut out);
    }
    out
}

fn command_type(c: &Value) -> u64 {
    c.get("type").and_then(Value::as_u64).unwrap_or(1)
}

/// One command definition.
pub fn command(c: &Value) -> Vec<String> {
    let mut out = Vec::new();
    command_at(c, "", &mut out);
    out
}

fn command_at(c: &Value, p: &str, out: &mut Vec<String>) {
    let chat_input = command_type(c) == 1;
    let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
    if chat_input {
        chat_name(name, &at(p, "name"), "command", out);
        let d = chars(c.get("description"));
        if !(1..=100).contains(&d) {
            out.push(complaint(
                &at(p, "description"),
                format!("has {d} characters; a chat-input command's description has 1 to 100"),
            ));
        }
        localized_names(c, p, "command", out);
        options(list(c.get("options")), &at(p, "options"), 0, out);
    } else {
        if !(1..=32).contains(&name.chars().count()) {
            out.push(complaint(&at(p, "name"), "must have 1 to 32 characters"));
        }
        if chars(c.get("description")) > 0 || !list(c.get("options")).is_empty() {
            out.push(complaint(
                p,
                "is a user or message command: it has no description and no options",
            ));
        }
    }
    let spent = budget(c);
    if spent > COMMAND_BUDGET {
        out.push(complaint(p, format!("spends {spent} characters on names, descriptions and values, more than {COMMAND_BUDGET}")));
    }
}

fn localized_names(o: &Value, p: &str, what: &str, out: &mut Vec<String>) {
    if let Some(Value::Object(names)) = o.get("name_localizations") {
        for (locale, name) in names {
            chat_name(
                name.as_str().unwrap_or_default(),
                &at(&at(p, "name_localizations"), locale),
                what,
                out,
            );
        }
    }
}

const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;

fn options(level: &[Value], p: &str, depth: u8, out: &mut Vec<String>) {
    let mut names = HashSet::new();
    let mut optional_seen = false;
    let subs = level
        .iter()
        .filter(|o| {
            matches!(
                o.get("type").and_then(Value::as_u64),
                Some(SUB_COMMAND | SUB_COMMAND_GROUP)
            )
        })
        .count();
    if subs > 0 && subs < level.len() {
        out.push(complaint(
            p,
            "mixes sub-commands with plain options; a level holds one or the other",
        ));
    }
    for (i, o) in level.iter().enumerate() {
        let op = at(p, i);
        let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
        let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
        chat_name(name, &at(&op, "name"), "option", out);
        localized_names(o, &op, "option", out);
        if !names.insert(name) {
            out.push(complaint(
                &at(&op, "name"),
                format!("{name:?} is used twice at this level"),
            ));
        }
        let required = o.get("required").and_then(Value::as_bool).unwrap_or(false);
        if required && optional_seen {
            out.push(complaint(
                &at(&op, "required"),
                "is a required option after an optional one; required options come first",
            ));
        }
        optional_seen |= !required;
        match kind {
            SUB_COMMAND_GROUP if depth > 0 => {
                out.push(complaint(
                    &op,
                    "is a sub-command group inside a sub-command or group",
                ));
            }
            SUB_COMMAND if depth > 1 => out.push(complaint(
                &op,
                "is a sub-command nested deeper than a group",
            )),
            SUB_COMMAND | SUB_COMMAND_GROUP => {
                let inner = list(o.get("options"));
                if kind == SUB_COMMAND_GROUP
                    && inner
                        .iter()
                        .any(|x| x.get("type").and_then(Value::as_u64) != Some(SUB_COMMAND))
                {
                    out.push(complaint(
                        &at(&op, "options"),
                        "a sub-command group holds only sub-commands",
                    ));
                }
                options(inner, &at(&op, "options"), depth + 1, out);
            }
            _ => plain_option(o, &op, out),
        }
    }
}

fn plain_option(o: &Value, p: &str, out: &mut Vec<String>) {
    let choices = list(o.get("choices"));
    if o.get("autocomplete").and_then(Value::as_bool) == Some(true) && !choices.is_empty() {
        out.push(complaint(
            &at(p, "autocomplete"),
            "is set together with choices; an option has one or the other",
        ));
    }
    for (i, c) in choices.iter().enumerate() {
        choice_value(c, &at(&at(p, "choices"), i), out);
    }
    for (lo, hi) in [("min_value", "max_value"), ("min_length", "max_length")] {
        if let (Some(a), Some(b)) = (
            o.get(lo).and_then(Value::as_f64),
            o.get(hi).and_then(Value::as_f64),
        ) && a > b
        {
            out.push(complaint(&at(p, hi), format!("{b} is below {lo} {a}")));
        }
    }
}

/// Characters counted against [`COMMAND_BUDGET`]: every name, description
/// and choice value of the command and its options, localizations included.
pub fn budget(c: &Value) -> usize {
    let localized = |v: Option<&Value>| {
        v.and_then(Value::as_object)
            .map_or(0, |m| m.values().map(|s| chars(Some(s))).sum::<usize>())
    };
    let own = chars(c.get("name"))
        + chars(c.get("description"))
        + localized(c.get("name_localizations"))
        + localized(c.get("description_localizations"));
    let choices: usize = list(c.get("choices"))
        .iter()
        .map(|ch| {
            let value = match ch.get("value") {
                Some(Value::String(s)) => s.chars().count(),
                Some(v @ Value::Number(_)) => v.to_string().len(),
                _ => 0,
            };
            chars(ch.get("name")) + localized(ch.get("name_localizations")) + value
        })
        .sum();
    own + choices + list(c.get("options")).iter().map(budget).sum::<usize>()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn the_name_rule_takes_scripts_and_refuses_capitals_and_spaces() {
        let mut out = Vec::new();
        for ok in ["mandala", "größe", "दिन", "ไทย", "it's", "a-b_c", "中文"] {
            chat_name(ok, "/name", "option", &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        for bad in [
            "Mandala",
            "two words",
            "",
            "x".repeat(33).as_str(),
            "emoji🌀",
        ] {
            let mut out = Vec::new();
            chat_name(bad, "/name", "option", &mut out);
            assert_eq!(out.len(), 1, "{bad:?} passed");
        }
    }

    #[test]
    fn the_budget_counts_names_descriptions_values_and_localizations() {
        let c = json!({"name": "ab", "description": "cde", "name_localizations": {"de": "fg"},
            "options": [{"name": "h", "description": "ij", "choices": [{"name": "k", "value": "lmn"}, {"name": "o", "value": 42}]}]});
        assert_eq!(budget(&c), 2 + 3 + 2 + 1 + 2 + 1 + 3 + 1 + 2);
    }
}

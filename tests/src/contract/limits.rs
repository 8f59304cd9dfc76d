//! Limits Discord documents but its OpenAPI description does not express:
//! how components nest and count, which flags each kind of message may
//! carry, the names commands and options may have, how long a string
//! choice may be, and the 8,000-character budget of one command.
//!
//! Each function returns every complaint, `<JSON pointer>: <what is
//! wrong>` as [`super::openapi`] writes them; none means the payload keeps
//! within the limits. Sources: discord.com/developers/docs
//! (`interactions/application-commands`, `interactions/receiving-and-responding`,
//! `resources/message`, `resources/webhook`, `components/reference`).

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// Message flags.
pub const SUPPRESS_EMBEDS: u64 = 1 << 2;
pub const EPHEMERAL: u64 = 1 << 6;
pub const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
pub const IS_VOICE_MESSAGE: u64 = 1 << 13;
pub const IS_COMPONENTS_V2: u64 = 1 << 15;

/// Combined characters of all embeds of one message.
pub const EMBEDS_TOTAL_MAX: usize = 6000;
/// Action rows of a message without `IS_COMPONENTS_V2`.
pub const ACTION_ROWS_MAX: usize = 5;
/// Components, nested ones included, of a message with `IS_COMPONENTS_V2`.
pub const COMPONENTS_V2_MAX: usize = 40;
/// Characters of a string choice's value (the schema allows 6,000).
pub const STRING_CHOICE_VALUE_MAX: usize = 100;
/// Combined characters of a command's names, descriptions and values.
pub const COMMAND_BUDGET: usize = 8000;
/// Commands of each type per application (or guild): chat input, user, message.
pub const COMMANDS_PER_TYPE_MAX: [(u64, usize); 3] = [(1, 100), (2, 15), (3, 15)];

/// How a message body reaches Discord: it decides the flags it may carry
/// and whether it may carry interactive components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The `data` of an interaction response of type 4 or 7.
    InteractionResponse,
    /// An edit of an interaction's message (`PATCH …/messages/@original`),
    /// through the application's own webhook.
    InteractionEdit,
    /// A post through a channel webhook the application does not own.
    ChannelWebhookPost,
    /// An edit of a message posted through such a webhook.
    ChannelWebhookEdit,
}

impl Via {
    fn allowed_flags(self) -> u64 {
        match self {
            Via::InteractionResponse => {
                SUPPRESS_EMBEDS
                    | EPHEMERAL
                    | SUPPRESS_NOTIFICATIONS
                    | IS_VOICE_MESSAGE
                    | IS_COMPONENTS_V2
            }
            Via::ChannelWebhookPost => SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
            Via::InteractionEdit | Via::ChannelWebhookEdit => SUPPRESS_EMBEDS | IS_COMPONENTS_V2,
        }
    }

    fn is_edit(self) -> bool {
        matches!(self, Via::InteractionEdit | Via::ChannelWebhookEdit)
    }

    /// Channel webhooks not owned by the application cannot send
    /// interactive components (Discord drops them).
    fn interactive_allowed(self) -> bool {
        !matches!(self, Via::ChannelWebhookPost | Via::ChannelWebhookEdit)
    }
}

fn at(pointer: &str, key: impl std::fmt::Display) -> String {
    format!("{pointer}/{key}")
}

fn complaint(pointer: &str, message: impl std::fmt::Display) -> String {
    let pointer = if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    };
    format!("{pointer}: {message}")
}

fn chars(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map_or(0, |s| s.chars().count())
}

fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// An interaction response (`POST /interactions/{id}/{token}/callback`).
pub fn interaction_response(response: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let data = response.get("data").filter(|d| !d.is_null());
    match response.get("type").and_then(Value::as_u64) {
        Some(4 | 7) => match data {
            Some(d) => message_in(d, Via::InteractionResponse, "/data", &mut out),
            None if response["type"] == 4 => {
                out.push(complaint("", "a type 4 response needs data with a message"));
            }
            None => {}
        },
        Some(5) => {
            if let Some(flags) = data.and_then(|d| d.get("flags")).and_then(Value::as_u64)
                && flags & !(EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS) != 0
            {
                out.push(complaint("/data/flags", format!("{flags} sets flags a deferred response cannot carry (IS_COMPONENTS_V2 goes on the later edit)")));
            }
        }
        Some(8) => {
            for (i, c) in list(data.and_then(|d| d.get("choices"))).iter().enumerate() {
                choice_value(c, &at("/data/choices", i), &mut out);
            }
        }
        Some(9) => modal(data.unwrap_or(&Value::Null), &mut out),
        _ => {}
    }
    out
}

fn modal(data: &Value, out: &mut Vec<String>) {
    let title = chars(data.get("title"));
    if !(1..=45).contains(&title) {
        out.push(complaint(
            "/data/title",
            format!("has {title} characters; a modal title has 1 to 45"),
        ));
    }
    let id = chars(data.get("custom_id"));
    if !(1..=100).contains(&id) {
        out.push(complaint(
            "/data/custom_id",
            format!("has {id} characters; a custom id has 1 to 100"),
        ));
    }
    let rows = list(data.get("components"));
    if !(1..=5).contains(&rows.len()) {
        out.push(complaint(
            "/data/components",
            format!("has {} components; a modal has 1 to 5", rows.len()),
        ));
    }
    let mut ids = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let p = format!("/data/components/{i}");
        // Each row holds one text input: in an action row (type 1) or a
        // label (type 18), the two layouts Discord documents.
        let input = match row.get("type").and_then(Value::as_u64) {
            Some(1) => match list(row.get("components")) {
                [one] => Some((one, at(&at(&p, "components"), 0))),
                other => {
                    out.push(complaint(
                        &p,
                        format!(
                            "holds {} components; a modal's action row holds one text input",
                            other.len()
                        ),
                    ));
                    None
                }
            },
            Some(18) => row.get("component").map(|c| (c, at(&p, "component"))),
            other => {
                out.push(complaint(
                    &p,
                    format!(
                        "is of type {other:?}; a modal row is an action row (1) or a label (18)"
                    ),
                ));
                None
            }
        };
        if let Some((input, ip)) = input {
            text_input(input, &ip, &mut ids, out);
        }
    }
}

/// One text input of a modal: its id, label, style and lengths.
fn text_input(c: &Value, p: &str, ids: &mut HashSet<String>, out: &mut Vec<String>) {
    if c.get("type").and_then(Value::as_u64) != Some(4) {
        out.push(complaint(p, "is not a text input (type 4)"));
        return;
    }
    let id = c
        .get("custom_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !(1..=100).contains(&id.chars().count()) {
        out.push(complaint(
            &at(p, "custom_id"),
            format!(
                "has {} characters; a custom id has 1 to 100",
                id.chars().count()
            ),
        ));
    } else if !ids.insert(id.to_owned()) {
        out.push(complaint(
            &at(p, "custom_id"),
            format!("{id:?} is used twice; custom ids are unique within a modal"),
        ));
    }
    if let Some(label) = c.get("label") {
        let n = chars(Some(label));
        if !(1..=45).contains(&n) {
            out.push(complaint(
                &at(p, "label"),
                format!("has {n} characters; a text input's label has 1 to 45"),
            ));
        }
    }
    if !matches!(c.get("style").and_then(Value::as_u64), Some(1 | 2)) {
        out.push(complaint(
            &at(p, "style"),
            "must be 1 (short) or 2 (paragraph)",
        ));
    }
    let max = c.get("max_length").and_then(Value::as_u64).unwrap_or(4000);
    if !(1..=4000).contains(&max) {
        out.push(complaint(
            &at(p, "max_length"),
            format!("is {max}; a text input's max_length is 1 to 4000"),
        ));
    }
    let min = c.get("min_length").and_then(Value::as_u64).unwrap_or(0);
    if min > 4000 || min > max {
        out.push(complaint(
            &at(p, "min_length"),
            format!("is {min}; it is 0 to 4000 and at most max_length"),
        ));
    }
    let value = chars(c.get("value"));
    if value > max as usize {
        out.push(complaint(
            &at(p, "value"),
            format!("has {value} characters, more than its max_length {max}"),
        ));
    }
    let placeholder = chars(c.get("placeholder"));
    if placeholder > 100 {
        out.push(complaint(
            &at(p, "placeholder"),
            format!("has {placeholder} characters; a placeholder has at most 100"),
        ));
    }
}

/// A message body: `payload_json`, a JSON body, or a response's `data`.
pub fn message(payload: &Value, via: Via) -> Vec<String> {
    let mut out = Vec::new();
    message_in(payload, via, "", &mut out);
    out
}

/// [`message`] for a payload found at pointer `base`.
fn message_in(payload: &Value, via: Via, base: &str, out: &mut Vec<String>) {
    let flags = payload.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let stray = flags & !via.allowed_flags();
    if stray != 0 {
        out.push(complaint(
            &at(base, "flags"),
            format!(
                "{flags} sets bits {stray:#x}, which a message sent this way ({via:?}) cannot carry"
            ),
        ));
    }
    let v2 = flags & IS_COMPONENTS_V2 != 0;
    empty(payload, via, base, out);
    embeds(payload, v2, base, out);
    components(payload, via, v2, base, out);
    attachment_references(payload, base, out);
    mentions(payload, base, out);
}

/// Discord refuses a message with nothing in it ("Cannot send an empty message").
fn empty(payload: &Value, via: Via, base: &str, out: &mut Vec<String>) {
    let filled = |k: &str| match payload.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(!s.is_empty()),
        Some(Value::Array(a)) => Some(!a.is_empty()),
        Some(_) => Some(true),
    };
    let fields = ["content", "embeds", "components", "attachments", "poll"];
    let empty = if via.is_edit() {
        // An edit keeps what it does not mention: empty only if it clears all.
        fields
            .iter()
            .all(|k| filled(k) == Some(false) || (*k == "poll" && filled(k).is_none()))
    } else {
        fields.iter().all(|k| filled(k) != Some(true))
    };
    if empty {
        out.push(complaint(
            base,
            "is an empty message: no content, embed, component, attachment or poll",
        ));
    }
}

fn embeds(payload: &Value, v2: bool, base: &str, out: &mut Vec<String>) {
    let embeds = list(payload.get("embeds"));
    if v2 && (chars(payload.get("content")) > 0 || !embeds.is_empty()) {
        out.push(complaint(
            base,
            "sets IS_COMPONENTS_V2 but has content or embeds, which such a message cannot have",
        ));
    }
    let total: usize = embeds
        .iter()
        .map(|e| {
            let fields: usize = list(e.get("fields"))
                .iter()
                .map(|f| chars(f.get("name")) + chars(f.get("value")))
                .sum();
            chars(e.get("title"))
                + chars(e.get("description"))
                + chars(e.pointer("/footer/text"))
                + chars(e.pointer("/author/name"))
                + fields
        })
        .sum();
    if total > EMBEDS_TOTAL_MAX {
        out.push(complaint(
            &at(base, "embeds"),
            format!("have {total} characters together, more than {EMBEDS_TOTAL_MAX}"),
        ));
    }
}

const ACTION_ROW: u64 = 1;
const BUTTON: u64 = 2;
const SELECTS: [u64; 5] = [3, 5, 6, 7, 8];
const LINK: u64 = 5;
const PREMIUM: u64 = 6;

fn components(payload: &Value, via: Via, v2: bool, base: &str, out: &mut Vec<String>) {
    let top = list(payload.get("components"));
    let rows = at(base, "components");
    let mut ids = HashSet::new();
    if v2 {
        let mut count = 0;
        for (i, c) in top.iter().enumerate() {
            walk(c, &at(&rows, i), via, &mut ids, &mut count, out);
        }
        if count > COMPONENTS_V2_MAX {
            out.push(complaint(
                &rows,
                format!("hold {count} components, more than {COMPONENTS_V2_MAX}"),
            ));
        }
        return;
    }
    if top.len() > ACTION_ROWS_MAX {
        out.push(complaint(
            &rows,
            format!(
                "has {} rows, more than {ACTION_ROWS_MAX} (without IS_COMPONENTS_V2)",
                top.len()
            ),
        ));
    }
    for (r, row) in top.iter().enumerate() {
        let p = at(&rows, r);
        if row.get("type").and_then(Value::as_u64) != Some(ACTION_ROW) {
            out.push(complaint(
                &p,
                "is not an action row; without IS_COMPONENTS_V2 only action rows may be top-level",
            ));
            continue;
        }
        let children = list(row.get("components"));
        let selects = children
            .iter()
            .filter(|c| {
                c.get("type")
                    .and_then(Value::as_u64)
                    .is_some_and(|t| SELECTS.contains(&t))
            })
            .count();
        if selects > 0 && children.len() > 1 {
            out.push(complaint(
                &at(&p, "components"),
                "mixes a select menu with other components; a select fills its row alone",
            ));
        }
        let mut count = 0;
        for (i, c) in children.iter().enumerate() {
            walk(
                c,
                &at(&at(&p, "components"), i),
                via,
                &mut ids,
                &mut count,
                out,
            );
        }
    }
}

/// Checks one component and what it contains, counting them.
fn walk(
    c: &Value,
    p: &str,
    via: Via,
    ids: &mut HashSet<String>,
    count: &mut usize,
    out: &mut Vec<String>,
) {
    *count += 1;
    let kind = c.get("type").and_then(Value::as_u64).unwrap_or(0);
    if let Some(id) = c.get("custom_id").and_then(Value::as_str)
        && !ids.insert(id.to_owned())
    {
        out.push(complaint(
            &at(p, "custom_id"),
            format!("{id:?} is used twice; custom ids are unique within a message"),
        ));
    }
    if kind == BUTTON {
        button(c, p, via, out);
    } else if SELECTS.contains(&kind) && !via.interactive_allowed() {
        out.push(complaint(
            p,
            "is a select menu, which a channel webhook the application does not own cannot send",
        ));
    }
    for key in ["components", "accessory"] {
        let nested: Vec<&Value> = match c.get(key) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        for (i, n) in nested.into_iter().enumerate() {
            let np = if key == "accessory" {
                at(p, key)
            } else {
                at(&at(p, key), i)
            };
            walk(n, &np, via, ids, count, out);
        }
    }
}

fn button(b: &Value, p: &str, via: Via, out: &mut Vec<String>) {
    let style = b.get("style").and_then(Value::as_u64).unwrap_or(0);
    let has = |k: &str| b.get(k).is_some_and(|v| !v.is_null());
    match style {
        LINK => {
            if !has("url") || has("custom_id") {
                out.push(complaint(
                    p,
                    "is a link button: it needs a url and no custom_id",
                ));
            }
        }
        PREMIUM => {
            if !has("sku_id") || has("custom_id") || has("url") || has("label") || has("emoji") {
                out.push(complaint(
                    p,
                    "is a premium button: it needs a sku_id and no custom_id, url, label or emoji",
                ));
            }
        }
        _ => {
            if !has("custom_id") || has("url") {
                out.push(complaint(
                    p,
                    "is an interactive button: it needs a custom_id and no url",
                ));
            }
            if !via.interactive_allowed() {
                out.push(complaint(p, "is an interactive button, which a channel webhook the application does not own cannot send"));
            }
        }
    }
    if style != PREMIUM && !has("label") && !has("emoji") {
        out.push(complaint(p, "has neither a label nor an emoji"));
    }
}

/// Every `attachment://name` in the embeds names an attachment the payload lists.
fn attachment_references(payload: &Value, base: &str, out: &mut Vec<String>) {
    let Some(Value::Array(attachments)) = payload.get("attachments") else {
        return;
    };
    let names: HashSet<&str> = attachments
        .iter()
        .filter_map(|a| a.get("filename").and_then(Value::as_str))
        .collect();
    let mut ids = HashSet::new();
    for (i, a) in attachments.iter().enumerate() {
        if let Some(id) = a.get("id").map(ToString::to_string)
            && !ids.insert(id.clone())
        {
            out.push(complaint(
                &at(&at(&at(base, "attachments"), i), "id"),
                format!("{id} is listed twice"),
            ));
        }
    }
    for (i, e) in list(payload.get("embeds")).iter().enumerate() {
        for key in [
            "/image/url",
            "/thumbnail/url",
            "/footer/icon_url",
            "/author/icon_url",
        ] {
            if let Some(name) = e
                .pointer(key)
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix("attachment://"))
                && !names.contains(name)
            {
                out.push(complaint(
                    &format!("{base}/embeds/{i}{key}"),
                    format!(
                        "names attachment://{name}, which is not among the message's attachments"
                    ),
                ));
            }
        }
    }
}

fn mentions(payload: &Value, base: &str, out: &mut Vec<String>) {
    let Some(am) = payload.get("allowed_mentions").filter(|a| a.is_object()) else {
        return;
    };
    let parse: Vec<&str> = list(am.get("parse"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (kind, ids) in [("users", "users"), ("roles", "roles")] {
        if parse.contains(&kind) && !list(am.get(ids)).is_empty() {
            out.push(complaint(
                &at(base, "allowed_mentions"),
                format!("parses all {kind} and lists {ids} too; Discord refuses the two together"),
            ));
        }
    }
}

/// A string choice's value is at most 100 characters.
fn choice_value(choice: &Value, p: &str, out: &mut Vec<String>) {
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

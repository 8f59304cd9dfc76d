//! Every word a user reads, in every language the bot speaks.
//!
//! One [`Strings`] per language, one file each (`en`, `de`, `fr`, `es`,
//! `pt_br`, `ja`): the compiler makes every language define every string,
//! and the tests check Discord's length and naming rules and that each
//! translation keeps the `{placeholders}` of the English one. English is the
//! fallback for every other locale.
//!
//! [`Lang::from_locale`] maps Discord's locale codes (`de`, `es-ES`,
//! `es-419`, `pt-BR`, `ja`, …) to a language; [`fill`] puts values into a
//! template.

mod de;
mod en;
mod es;
mod fr;
mod ja;
mod pt_br;

/// A language the bot speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    De,
    Fr,
    Es,
    PtBr,
    Ja,
}

impl Lang {
    pub const ALL: [Lang; 6] = [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::PtBr, Lang::Ja];

    /// The language for a Discord locale; English for any other.
    pub fn from_locale(locale: Option<&str>) -> Lang {
        let locale = locale.unwrap_or("").trim();
        let primary = locale.split(['-', '_']).next().unwrap_or("");
        match primary.to_ascii_lowercase().as_str() {
            "de" => Lang::De,
            "fr" => Lang::Fr,
            "es" => Lang::Es,
            "pt" => Lang::PtBr,
            "ja" => Lang::Ja,
            _ => Lang::En,
        }
    }

    /// Discord's locale codes this language is registered under (for
    /// `name_localizations` and `description_localizations`).
    pub fn discord_locales(self) -> &'static [&'static str] {
        match self {
            Lang::En => &[],
            Lang::De => &["de"],
            Lang::Fr => &["fr"],
            Lang::Es => &["es-ES", "es-419"],
            Lang::PtBr => &["pt-BR"],
            Lang::Ja => &["ja"],
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &en::STRINGS,
            Lang::De => &de::STRINGS,
            Lang::Fr => &fr::STRINGS,
            Lang::Es => &es::STRINGS,
            Lang::PtBr => &pt_br::STRINGS,
            Lang::Ja => &ja::STRINGS,
        }
    }
}

/// The strings of one language.
pub fn strings(locale: Option<&str>) -> &'static Strings {
    Lang::from_locale(locale).strings()
}

/// Replaces each `{name}` in `template` with its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// An option's localized name (lowercase, no spaces) and description.
#[derive(Debug, Clone, Copy)]
pub struct OptionText {
    pub name: &'static str,
    pub description: &'static str,
}

/// Everything said to users. Templates name their placeholders in braces.
#[derive(Debug)]
pub struct Strings {
    // ---- the slash command and its options
    pub command_description: &'static str,
    pub opt_seed: OptionText,
    pub opt_symmetry: OptionText,
    pub opt_layers: OptionText,
    pub opt_elements: OptionText,
    pub opt_style: OptionText,
    pub opt_palette: OptionText,
    pub opt_background: OptionText,
    pub opt_size: OptionText,
    pub opt_mirror: OptionText,
    pub opt_grid: OptionText,
    pub opt_format: OptionText,
    /// Names of the style choices, in the order of `StyleChoice::NAMES`.
    pub style_names: [&'static str; 6],
    // ---- context menus (names up to 32 characters)
    pub menu_remix: &'static str,
    pub menu_for_user: &'static str,
    // ---- buttons (labels up to 80 characters)
    pub button_reroll: &'static str,
    pub button_vary: &'static str,
    pub button_subtle: &'static str,
    pub button_strong: &'static str,
    pub button_upscale: &'static str,
    pub button_remix: &'static str,
    // ---- the first answer
    pub ack_render: &'static str,
    pub ack_grid: &'static str,
    pub ack_reroll: &'static str,
    pub ack_vary: &'static str,
    pub ack_subtle: &'static str,
    pub ack_strong: &'static str,
    /// `{px}`: the new edge.
    pub ack_upscale: &'static str,
    /// `{n}`: the grid cell, 1–4.
    pub ack_pick: &'static str,
    /// `{n}`: the grid cell, 1–4.
    pub ack_vary_cell: &'static str,
    pub ack_new_grid: &'static str,
    pub ack_remix: &'static str,
    /// `{name}`: whom the mandala is for.
    pub ack_for_user: &'static str,
    /// Followed by `~4 s`.
    pub ready_in: &'static str,
    /// `{n}`: jobs ahead, more than one.
    pub jobs_ahead: &'static str,
    pub one_job_ahead: &'static str,
    /// `{n}`: how many of the jobs ahead are the user's.
    pub yours_ahead: &'static str,
    // ---- private refusals
    /// `{n}`: jobs the user has queued.
    pub queue_full: &'static str,
    /// The user's own earlier requests are still being admitted and the
    /// time to answer ran out: refused rather than let past the cap.
    pub queue_busy: &'static str,
    /// `{wait}`: the estimate, e.g. `~17 min`.
    pub too_long: &'static str,
    pub try_again: &'static str,
    /// `{error}`: what is wrong, in English.
    pub cannot_draw: &'static str,
    /// `{error}`: why the button is not understood.
    pub bad_button: &'static str,
    pub largest_size: &'static str,
    pub unknown_command: &'static str,
    pub not_my_mandala: &'static str,
    // ---- the Remix form (title up to 45, labels up to 45, placeholders up to 100)
    pub modal_title: &'static str,
    pub field_seed: &'static str,
    pub field_shape: &'static str,
    pub field_shape_hint: &'static str,
    pub field_style: &'static str,
    pub field_style_hint: &'static str,
    pub field_palette: &'static str,
    pub field_palette_hint: &'static str,
    pub field_canvas: &'static str,
    pub field_canvas_hint: &'static str,
    /// The words the shape field uses for a mirrored and a plain mandala.
    pub mirror_on: &'static str,
    pub mirror_off: &'static str,
    /// `{field}`: the form field; `{error}`: what is wrong, in English.
    pub form_invalid: &'static str,
    // ---- the finished message
    pub caption_reroll: &'static str,
    pub caption_variation: &'static str,
    pub caption_subtle: &'static str,
    pub caption_strong: &'static str,
    pub caption_upscale: &'static str,
    pub caption_remix: &'static str,
    /// `{seed}`.
    pub embed_title: &'static str,
    pub grid_title: &'static str,
    pub grid_hint: &'static str,
    /// `{small}`, `{full}`: edges in pixels; `{location}`: where the full image is.
    pub preview_note: &'static str,
    /// `{mib}`, `{limit}`: sizes in MiB; `{location}`.
    pub too_large_note: &'static str,
    // ---- the last word
    /// `{error}`.
    pub last_invalid: &'static str,
    /// `{error}`.
    pub last_render_failed: &'static str,
    /// `{error}`.
    pub last_refused: &'static str,
    /// `{attempts}`, `{why}`.
    pub last_gave_up: &'static str,
    /// `{attempts}`.
    pub last_dead_letter: &'static str,
    pub last_dead_letter_unknown: &'static str,
    /// The interaction token would die before the image could be sent.
    pub last_out_of_time: &'static str,
    /// A job that was being worked on stopped making progress (its worker
    /// died and nothing will redeliver it).
    pub last_stalled: &'static str,
    pub why_store: &'static str,
    pub why_discord: &'static str,
    pub why_slow: &'static str,
    /// A job this build cannot read, from a newer one, during an upgrade.
    pub why_upgrade: &'static str,
    // ---- the waiting notice
    /// `{ready}`: e.g. `ready in ~2 min`.
    pub still_waiting: &'static str,
}

impl Strings {
    /// `ready in ~4 s`.
    pub fn ready(&self, wait: std::time::Duration) -> String {
        format!("{} {}", self.ready_in, crate::wait::approx(wait))
    }

    /// Every option text, in the order the command declares its options.
    pub fn options(&self) -> [(&'static str, OptionText); 11] {
        [
            ("seed", self.opt_seed),
            ("symmetry", self.opt_symmetry),
            ("layers", self.opt_layers),
            ("elements", self.opt_elements),
            ("style", self.opt_style),
            ("palette", self.opt_palette),
            ("background", self.opt_background),
            ("size", self.opt_size),
            ("mirror", self.opt_mirror),
            ("grid", self.opt_grid),
            ("format", self.opt_format),
        ]
    }
}

/// How long a string may be where Discord shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A command or option description: 1–100 characters.
    Description,
    /// A context-menu command name: 1–32 characters.
    MenuName,
    /// A button label: up to 80 characters.
    ButtonLabel,
    /// A modal's title or a text input's label: up to 45 characters.
    ModalLabel,
    /// A text input's placeholder: up to 100 characters.
    Placeholder,
    /// A choice name: 1–100 characters.
    ChoiceName,
    /// Message text: up to 2,000 characters.
    Message,
}

impl Limit {
    pub fn max_chars(self) -> usize {
        match self {
            Limit::Description | Limit::Placeholder | Limit::ChoiceName => 100,
            Limit::MenuName => 32,
            Limit::ButtonLabel => 80,
            Limit::ModalLabel => 45,
            Limit::Message => 2000,
        }
    }
}

/// A string's name, its text, and where Discord shows it.
type Entry = (&'static str, &'static str, Limit);

impl Strings {
    /// Every string with its name and where Discord shows it (option names
    /// are checked on their own: they follow Discord's naming rule).
    pub fn all(&self) -> Vec<(&'static str, &'static str, Limit)> {
        let mut v = self.command_texts();
        v.extend(self.menu_names());
        v.extend(self.button_labels());
        v.extend(self.answers());
        v.extend(self.form_texts());
        v.extend(self.reply_texts());
        v
    }

    /// The slash command's and its options' descriptions, and the style choices.
    fn command_texts(&self) -> Vec<Entry> {
        let mut v = vec![(
            "command_description",
            self.command_description,
            Limit::Description,
        )];
        for (name, o) in self.options() {
            v.push((name, o.description, Limit::Description));
        }
        for n in self.style_names {
            v.push(("style_names", n, Limit::ChoiceName));
        }
        v
    }

    /// Context-menu command names.
    fn menu_names(&self) -> [Entry; 2] {
        use Limit::MenuName;
        [
            ("menu_remix", self.menu_remix, MenuName),
            ("menu_for_user", self.menu_for_user, MenuName),
        ]
    }

    /// The buttons under an image.
    fn button_labels(&self) -> [Entry; 6] {
        use Limit::ButtonLabel;
        [
            ("button_reroll", self.button_reroll, ButtonLabel),
            ("button_vary", self.button_vary, ButtonLabel),
            ("button_subtle", self.button_subtle, ButtonLabel),
            ("button_strong", self.button_strong, ButtonLabel),
            ("button_upscale", self.button_upscale, ButtonLabel),
            ("button_remix", self.button_remix, ButtonLabel),
        ]
    }

    /// What the bot answers at once: acknowledgements, the queue, refusals.
    fn answers(&self) -> [Entry; 24] {
        use Limit::Message;
        [
            ("ack_render", self.ack_render, Message),
            ("ack_grid", self.ack_grid, Message),
            ("ack_reroll", self.ack_reroll, Message),
            ("ack_vary", self.ack_vary, Message),
            ("ack_subtle", self.ack_subtle, Message),
            ("ack_strong", self.ack_strong, Message),
            ("ack_upscale", self.ack_upscale, Message),
            ("ack_pick", self.ack_pick, Message),
            ("ack_vary_cell", self.ack_vary_cell, Message),
            ("ack_new_grid", self.ack_new_grid, Message),
            ("ack_remix", self.ack_remix, Message),
            ("ack_for_user", self.ack_for_user, Message),
            ("ready_in", self.ready_in, Message),
            ("jobs_ahead", self.jobs_ahead, Message),
            ("one_job_ahead", self.one_job_ahead, Message),
            ("yours_ahead", self.yours_ahead, Message),
            ("queue_full", self.queue_full, Message),
            ("too_long", self.too_long, Message),
            ("try_again", self.try_again, Message),
            ("cannot_draw", self.cannot_draw, Message),
            ("bad_button", self.bad_button, Message),
            ("largest_size", self.largest_size, Message),
            ("unknown_command", self.unknown_command, Message),
            ("not_my_mandala", self.not_my_mandala, Message),
        ]
    }

    /// The Remix modal: its title, labels, placeholders, and its error.
    fn form_texts(&self) -> [Entry; 13] {
        use Limit::{Message, ModalLabel, Placeholder};
        [
            ("modal_title", self.modal_title, ModalLabel),
            ("field_seed", self.field_seed, ModalLabel),
            ("field_shape", self.field_shape, ModalLabel),
            ("field_shape_hint", self.field_shape_hint, Placeholder),
            ("field_style", self.field_style, ModalLabel),
            ("field_style_hint", self.field_style_hint, Placeholder),
            ("field_palette", self.field_palette, ModalLabel),
            ("field_palette_hint", self.field_palette_hint, Placeholder),
            ("field_canvas", self.field_canvas, ModalLabel),
            ("field_canvas_hint", self.field_canvas_hint, Placeholder),
            ("mirror_on", self.mirror_on, Placeholder),
            ("mirror_off", self.mirror_off, Placeholder),
            ("form_invalid", self.form_invalid, Message),
        ]
    }

    /// What comes with an image or instead of it: captions, embeds, notes, last words.
    fn reply_texts(&self) -> [Entry; 22] {
        use Limit::Message;
        [
            ("caption_reroll", self.caption_reroll, Message),
            ("caption_variation", self.caption_variation, Message),
            ("caption_subtle", self.caption_subtle, Message),
            ("caption_strong", self.caption_strong, Message),
            ("caption_upscale", self.caption_upscale, Message),
            ("caption_remix", self.caption_remix, Message),
            ("embed_title", self.embed_title, Message),
            ("grid_title", self.grid_title, Message),
            ("grid_hint", self.grid_hint, Message),
            ("preview_note", self.preview_note, Message),
            ("too_large_note", self.too_large_note, Message),
            ("last_invalid", self.last_invalid, Message),
            ("last_render_failed", self.last_render_failed, Message),
            ("last_refused", self.last_refused, Message),
            ("last_gave_up", self.last_gave_up, Message),
            ("last_dead_letter", self.last_dead_letter, Message),
            (
                "last_dead_letter_unknown",
                self.last_dead_letter_unknown,
                Message,
            ),
            ("why_store", self.why_store, Message),
            ("why_discord", self.why_discord, Message),
            ("why_slow", self.why_slow, Message),
            ("why_upgrade", self.why_upgrade, Message),
            ("still_waiting", self.still_waiting, Message),
        ]
    }
}

#[cfg(test)]
mod tests;

//! Every language is complete (the compiler sees to that) and fits
//! Discord's rules; every translation keeps the English placeholders.

use std::collections::BTreeSet;

use super::*;

fn placeholders(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.insert(rest[open + 1..open + close].to_owned());
        rest = &rest[open + close + 1..];
    }
    out
}

#[test]
fn every_string_fits_where_discord_shows_it() {
    for lang in Lang::ALL {
        for (name, text, limit) in lang.strings().all() {
            let n = text.chars().count();
            assert!(
                n >= 1 && n <= limit.max_chars(),
                "{lang:?} {name} is {n} characters (limit {}): {text}",
                limit.max_chars()
            );
            assert_eq!(text.trim(), text, "{lang:?} {name} has stray spaces");
        }
    }
}

#[test]
fn translations_keep_the_english_placeholders() {
    let english = Lang::En.strings().all();
    for lang in Lang::ALL {
        let strings = lang.strings().all();
        assert_eq!(strings.len(), english.len());
        for ((name, text, _), (_, en, _)) in strings.iter().zip(&english) {
            assert_eq!(
                placeholders(text),
                placeholders(en),
                "{lang:?} {name} must use the placeholders of the English string: {text}"
            );
        }
    }
}

#[test]
fn option_names_follow_discords_naming_rule() {
    for lang in Lang::ALL {
        let mut seen = BTreeSet::new();
        for (canonical, o) in lang.strings().options() {
            let n = o.name.chars().count();
            assert!((1..=32).contains(&n), "{lang:?} {canonical}: {}", o.name);
            assert_eq!(
                o.name.to_lowercase(),
                o.name,
                "{lang:?} {canonical} must be lowercase"
            );
            assert!(
                o.name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_'),
                "{lang:?} {canonical}: {} has a character Discord refuses in names",
                o.name
            );
            assert!(
                seen.insert(o.name),
                "{lang:?}: option name {} twice",
                o.name
            );
        }
        let styles: BTreeSet<_> = lang.strings().style_names.iter().collect();
        assert_eq!(styles.len(), 6, "{lang:?} style names must differ");
    }
}

#[test]
fn locales_map_to_languages() {
    let cases = [
        (Some("de"), Lang::De),
        (Some("fr"), Lang::Fr),
        (Some("es-ES"), Lang::Es),
        (Some("es-419"), Lang::Es),
        (Some("pt-BR"), Lang::PtBr),
        (Some("ja"), Lang::Ja),
        (Some("en-US"), Lang::En),
        (Some("zh-CN"), Lang::En),
        (None, Lang::En),
    ];
    for (locale, lang) in cases {
        assert_eq!(Lang::from_locale(locale), lang, "{locale:?}");
    }
    assert_eq!(
        fill(strings(Some("de")).queue_full, &[("n", "5")]),
        "⏳ Du hast schon 5 Mandalas in der Warteschlange – mehr geht pro Person nicht gleichzeitig. Warte, bis eines fertig ist, und versuch es dann noch einmal."
    );
}

//! The walker's rules, each shown to fire on a broken body.
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

use super::*;
use serde_json::json;

/// A document with one operation whose body is `schema`, and `components`.
fn api(schema: Value, components: Value) -> Api {
    Api::new(json!({
        "paths": {"/things/{id}": {"post": {
            "operationId": "make_thing",
            "requestBody": {"content": {"application/json": {"schema": schema}}}
        }}},
        "components": {"schemas": components}
    }))
}

fn errors(api: &Api, body: Value) -> Vec<String> {
    api.validate("make_thing", &body).err().unwrap_or_default()
}

#[track_caller]
fn complains(api: &Api, body: Value, fragment: &str) {
    let e = errors(api, body);
    assert!(
        e.iter().any(|e| e.contains(fragment)),
        "expected {fragment:?} in {e:?}"
    );
}

#[test]
fn operations_are_found_by_id_or_by_method_and_path() {
    let a = api(json!({"type": "integer"}), json!({}));
    assert!(a.validate("make_thing", &json!(1)).is_ok());
    assert!(a.validate("POST /things/{id}", &json!(1)).is_ok());
    assert!(a.validate("POST /things/{id}", &json!("x")).is_err());
    assert!(a.validate("PUT /things/{id}", &json!(1)).unwrap_err()[0].contains("no operation"));
    assert!(a.validate("make_other", &json!(1)).unwrap_err()[0].contains("no operation"));
}

#[test]
fn refs_resolve_and_errors_carry_json_pointers() {
    let a = api(
        json!({"$ref": "#/components/schemas/Outer"}),
        json!({
            "Outer": {"type": "object", "properties": {"list": {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}}}},
            "Inner": {"type": "object", "properties": {"a/b": {"type": "string", "maxLength": 2}}, "required": ["a/b"]}
        }),
    );
    assert!(errors(&a, json!({"list": [{"a/b": "ok"}]})).is_empty());
    complains(
        &a,
        json!({"list": [{"a/b": "ok"}, {"a/b": "long"}]}),
        "/list/1/a~1b: has 4 characters, more than maxLength 2",
    );
    complains(
        &a,
        json!({"list": [{}]}),
        "/list/0: lacks the required property \"a/b\"",
    );
    let broken = api(json!({"$ref": "#/components/schemas/Gone"}), json!({}));
    complains(&broken, json!({}), "does not resolve");
    let cycle = api(
        json!({"$ref": "#/components/schemas/A"}),
        json!({"A": {"$ref": "#/components/schemas/A"}}),
    );
    complains(&cycle, json!({}), "$ref cycle");
}

#[test]
fn types_nullable_enums_and_consts() {
    let a = api(
        json!({"type": "object", "properties": {
            "n": {"type": ["integer", "null"]},
            "old": {"type": "string", "nullable": true},
            "e": {"enum": [1, 2]},
            "c": {"const": "x"},
            "i": {"type": "integer"}
        }}),
        json!({}),
    );
    assert!(
        errors(
            &a,
            json!({"n": null, "old": null, "e": 2.0, "c": "x", "i": 3.0})
        )
        .is_empty()
    );
    complains(
        &a,
        json!({"n": "1"}),
        "/n: is the string \"1\", not integer or null",
    );
    complains(&a, json!({"i": 1.5}), "/i: is the number 1.5, not integer");
    complains(&a, json!({"e": 3}), "/e: is 3, not one of 1, 2");
    complains(&a, json!({"c": "y"}), "/c: is \"y\", not \"x\"");
    complains(
        &api(json!({"type": "string"}), json!({})),
        json!(null),
        "(root): is null, not string",
    );
}

#[test]
fn lengths_counts_bounds_and_uniqueness() {
    let a = api(
        json!({"type": "object", "properties": {
            "s": {"type": "string", "minLength": 1, "maxLength": 3},
            "a": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true},
            "n": {"type": "integer", "minimum": 0, "maximum": 18014398509481983_u64},
            "x": {"type": "number", "exclusiveMinimum": 0},
            "o": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
        }}),
        json!({}),
    );
    assert!(
        errors(
            &a,
            json!({"s": "äöü", "a": [1, 2], "n": 18014398509481983_u64, "x": 0.5, "o": {"k": "v"}})
        )
        .is_empty()
    );
    complains(
        &a,
        json!({"s": ""}),
        "/s: has 0 characters, fewer than minLength 1",
    );
    complains(
        &a,
        json!({"a": []}),
        "/a: has 0 items, fewer than minItems 1",
    );
    complains(
        &a,
        json!({"a": [1, 2, 3]}),
        "/a: has 3 items, more than maxItems 2",
    );
    complains(&a, json!({"a": [1, 1]}), "/a/1: repeats item 0");
    complains(
        &a,
        json!({"n": 18014398509481984_u64}),
        "/n: is 18014398509481984, more than maximum",
    );
    complains(&a, json!({"n": -1}), "/n: is -1, less than minimum 0");
    complains(
        &a,
        json!({"x": 0}),
        "/x: is 0, not more than exclusiveMinimum 0",
    );
    complains(
        &a,
        json!({"o": {"a": "1", "b": "2"}}),
        "/o: has 2 properties, more than maxProperties 1",
    );
    complains(
        &a,
        json!({"o": {"a": 1}}),
        "/o/a: is the number 1, not string",
    );
}

#[test]
fn formats_patterns_and_unknown_keywords() {
    let a = api(
        json!({"type": "object", "properties": {
            "id": {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "format": "snowflake"},
            "url": {"type": "string", "format": "uri"},
            "at": {"type": "string", "format": "date-time"},
            "small": {"type": "integer", "format": "int32"}
        }}),
        json!({}),
    );
    assert!(errors(&a, json!({"id": "0", "url": "attachment://a.png", "at": "2026-11-24T10:00:00Z", "small": 5})).is_empty());
    complains(
        &a,
        json!({"id": "01"}),
        "/id: is \"01\", which does not match the pattern",
    );
    complains(
        &a,
        json!({"id": "99999999999999999999"}),
        "not a valid snowflake",
    );
    complains(
        &a,
        json!({"url": "no scheme"}),
        "/url: is \"no scheme\", not a valid uri",
    );
    complains(&a, json!({"at": "yesterday"}), "not a valid date-time");
    complains(
        &a,
        json!({"small": 2_147_483_648_u64}),
        "/small: is 2147483648, outside int32",
    );
    let odd = api(json!({"type": "string", "format": "hostname"}), json!({}));
    complains(
        &odd,
        json!("x"),
        "format `hostname`, which this checker does not know",
    );
    let new = api(
        json!({"type": "object", "dependentRequired": {}}),
        json!({}),
    );
    complains(
        &new,
        json!({}),
        "keyword `dependentRequired`, which this checker does not implement",
    );
    let annotated = api(
        json!({"title": "T", "description": "D", "x-discord-union": "oneOf"}),
        json!({}),
    );
    assert!(errors(&annotated, json!(1)).is_empty());
}

#[test]
fn all_any_and_one_of() {
    let a = api(
        json!({"type": "object", "properties": {
            "all": {"allOf": [{"type": "integer"}, {"minimum": 2}]},
            "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "one": {"oneOf": [{"type": "integer"}, {"minimum": 10}]},
            "row": {"oneOf": [{"$ref": "#/components/schemas/Button"}, {"$ref": "#/components/schemas/Row"}]}
        }}),
        json!({
            "Row": {"type": "object", "properties": {"type": {"const": 1}, "components": {"type": "array", "items": {"$ref": "#/components/schemas/Button"}}}, "required": ["type"]},
            "Button": {"type": "object", "properties": {"type": {"const": 2}, "label": {"type": "string", "maxLength": 3}}, "required": ["type"]}
        }),
    );
    assert!(
        errors(
            &a,
            json!({"all": 3, "any": "x", "one": 5, "row": {"type": 1, "components": [{"type": 2}]}})
        )
        .is_empty()
    );
    complains(&a, json!({"all": 1}), "/all: is 1, less than minimum 2");
    complains(
        &a,
        json!({"any": null}),
        "/any: matches none of the 2 anyOf alternatives",
    );
    complains(
        &a,
        json!({"one": 11}),
        "/one: matches 2 of the oneOf alternatives",
    );
    // The closest alternative's complaint is reported with its pointer.
    let e = errors(
        &a,
        json!({"row": {"type": 1, "components": [{"type": 2, "label": "long"}]}}),
    );
    assert!(e[0].contains("the closest, Row, objects"), "{e:?}");
    assert!(
        e.iter()
            .any(|e| e.starts_with("/row/components/0/label: has 4 characters")),
        "{e:?}"
    );
}

#[test]
fn properties_no_schema_describes_are_reported() {
    let a = api(
        json!({"anyOf": [
            {"type": "object", "properties": {"type": {"const": 1}}, "required": ["type"]},
            {"type": "object", "properties": {"type": {"const": 4}, "data": {"type": "object", "properties": {"content": {"type": "string"}}}}, "required": ["type"]}
        ]}),
        json!({}),
    );
    assert!(errors(&a, json!({"type": 4, "data": {"content": "x"}})).is_empty());
    complains(
        &a,
        json!({"type": 1, "data": {}}),
        "/data: is not a property Discord's schema describes here",
    );
    complains(
        &a,
        json!({"type": 4, "data": {"ephemeral": true}}),
        "/data/ephemeral: is not a property",
    );
    // A free-form object (no properties listed) takes anything.
    let free = api(json!({"type": "object"}), json!({}));
    assert!(errors(&free, json!({"anything": 1})).is_empty());
}

//! What is wrong, and where: complaints with their JSON pointers, and
//! the words for values in them.

use serde_json::Value;

/// One thing wrong, where.
#[derive(Debug, Clone)]
pub(super) struct Complaint {
    pub(super) pointer: String,
    pub(super) message: String,
    /// A wrong type, `const` or `enum`: the mark of a different kind of
    /// thing rather than a flawed one of this kind.
    pub(super) mismatch: bool,
}

impl Complaint {
    pub(super) fn new(pointer: &str, message: impl Into<String>) -> Complaint {
        Complaint {
            pointer: pointer.to_owned(),
            message: message.into(),
            mismatch: false,
        }
    }

    pub(super) fn mismatch(pointer: &str, message: impl Into<String>) -> Complaint {
        Complaint {
            mismatch: true,
            ..Complaint::new(pointer, message)
        }
    }
}

impl std::fmt::Display for Complaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// The JSON pointer of `key` under `at` (RFC 6901 escaping).
pub(super) fn child(at: &str, key: &str) -> String {
    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"))
}

pub(super) fn describe(inst: &Value) -> String {
    match inst {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {:?}", truncate(s)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

pub(super) fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        s.chars().take(40).collect::<String>() + "…"
    } else {
        s.to_owned()
    }
}

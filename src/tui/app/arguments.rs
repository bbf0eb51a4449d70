//! The try-tool modal's JSON arguments: a typed template from the tool's input schema, and
//! parsing the edited text back into an argument object.

use serde_json::{Map, Value};

/// Parse the editor's text as a JSON object of tool arguments.
pub(crate) fn parse_arguments(text: &str) -> Result<Map<String, Value>, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "arguments must be a JSON object, not {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        )),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// A starting point for the arguments: every property of the schema with a typed placeholder.
pub(crate) fn arguments_template(schema: &Value) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return "{}".to_string();
    };
    if props.is_empty() {
        return "{}".to_string();
    }
    let mut map = Map::new();
    for (name, prop) in props {
        let placeholder = match prop.get("type").and_then(Value::as_str) {
            Some("string") => Value::String(String::new()),
            Some("integer") | Some("number") => Value::from(0),
            Some("boolean") => Value::Bool(false),
            Some("array") => Value::Array(Vec::new()),
            Some("object") => Value::Object(Map::new()),
            _ => Value::Null,
        };
        map.insert(name.clone(), placeholder);
    }
    serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_else(|_| "{}".to_string())
}

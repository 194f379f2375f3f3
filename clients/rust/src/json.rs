//! `google.protobuf.Value` (how ListPages carries items) to `serde_json::Value`.

use prost_types::value::Kind;
use serde_json::Value as Json;

/// Converts a protobuf `Value` to JSON. Numbers are doubles on the wire (protobuf's `Value`
/// has no integer), so whole numbers that fit come back as JSON integers for readability.
pub fn value_to_json(value: &prost_types::Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => Json::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// 2^53: above it a double no longer represents every integer exactly.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn number_to_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() <= MAX_EXACT_INTEGER {
        return Json::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{ListValue, Struct, Value};

    fn num(n: f64) -> Value {
        Value {
            kind: Some(Kind::NumberValue(n)),
        }
    }

    #[test]
    fn nested_values_convert_to_the_same_json() {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("id".to_string(), num(7.0));
        fields.insert("score".to_string(), num(0.5));
        fields.insert(
            "tags".to_string(),
            Value {
                kind: Some(Kind::ListValue(ListValue {
                    values: vec![Value {
                        kind: Some(Kind::StringValue("a".into())),
                    }],
                })),
            },
        );
        let v = Value {
            kind: Some(Kind::StructValue(Struct { fields })),
        };
        assert_eq!(
            value_to_json(&v),
            serde_json::json!({"id": 7, "score": 0.5, "tags": ["a"]})
        );
    }

    #[test]
    fn non_finite_numbers_become_null() {
        assert_eq!(value_to_json(&num(f64::NAN)), Json::Null);
    }
}

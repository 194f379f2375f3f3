//! JSON items as `google.protobuf.Value`: every JSON value has a faithful protobuf form
//! (numbers become doubles, as JSON itself specifies no wider type).

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// Converts a `serde_json::Value` to a `google.protobuf.Value`.
pub(crate) fn json_to_proto(v: serde_json::Value) -> Value {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.into_iter().map(json_to_proto).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(Struct {
            fields: o.into_iter().map(|(k, v)| (k, json_to_proto(v))).collect(),
        }),
    };
    Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_strings_nested_objects_and_nulls_survive() {
        let v = json_to_proto(
            json!({"id": 7, "name": "a", "tags": ["x", null], "deep": {"ok": true, "f": 1.5}}),
        );
        let Some(Kind::StructValue(s)) = v.kind else {
            panic!("not a struct")
        };
        assert_eq!(s.fields["id"].kind, Some(Kind::NumberValue(7.0)));
        assert_eq!(s.fields["name"].kind, Some(Kind::StringValue("a".into())));
        let Some(Kind::ListValue(l)) = &s.fields["tags"].kind else {
            panic!("not a list")
        };
        assert_eq!(l.values[1].kind, Some(Kind::NullValue(0)));
        let Some(Kind::StructValue(d)) = &s.fields["deep"].kind else {
            panic!("not a struct")
        };
        assert_eq!(d.fields["ok"].kind, Some(Kind::BoolValue(true)));
        assert_eq!(d.fields["f"].kind, Some(Kind::NumberValue(1.5)));
    }
}

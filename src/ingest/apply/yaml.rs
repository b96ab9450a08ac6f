//! YAML (and JSON) of spec files, read within named limits: serde-saphyr with a budget, and
//! the scalar forms manifest-tool's Go reader accepts.

use crate::boundary::terminal::cut_quoted;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The most a spec file may use of YAML's counted features (the file itself is at most 1 MiB,
/// `fsutil::caps::APPLY_SPEC`): a spec is a few dozen entries, so these are far above any real
/// one and far below what exhausts memory.
pub mod limits {
    /// Aliases (`*name`): each may repeat a whole anchored subtree.
    pub const MAX_ALIASES: usize = 1_000;
    /// Anchors (`&name`).
    pub const MAX_ANCHORS: usize = 1_000;
    /// Nodes (scalars, lists, maps), aliases expanded.
    pub const MAX_NODES: usize = 100_000;
    /// Parser events, aliases expanded.
    pub const MAX_EVENTS: usize = 200_000;
    /// Nesting of lists and maps.
    pub const MAX_DEPTH: usize = 32;
    /// Bytes of all scalars together, aliases expanded.
    pub const MAX_SCALAR_BYTES: usize = 4 << 20;
    /// Values kept to replay anchors (each value copied into each open anchor counts).
    pub const MAX_ANCHOR_EVENTS: usize = 100_000;
    /// Bytes kept to replay anchors.
    pub const MAX_ANCHOR_BYTES: usize = 4 << 20;
}

/// What a spec file went past, with the limit it went past.
fn over_budget(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let (what, limit) = match breach {
        B::Aliases { .. } => ("aliases (*name)", limits::MAX_ALIASES),
        B::Anchors { .. } => ("anchors (&name)", limits::MAX_ANCHORS),
        B::Nodes { .. } => ("values, aliases expanded", limits::MAX_NODES),
        B::Events { .. } => ("parser events, aliases expanded", limits::MAX_EVENTS),
        B::Depth { .. } => ("levels of nesting", limits::MAX_DEPTH),
        B::Documents { .. } => ("YAML documents", 1),
        B::ScalarBytes { .. } => ("bytes of text, aliases expanded", limits::MAX_SCALAR_BYTES),
        B::RecordedAnchorEvents { .. } => {
            ("values kept to repeat anchors", limits::MAX_ANCHOR_EVENTS)
        }
        B::RecordedAnchorBytes { .. } => ("bytes kept to repeat anchors", limits::MAX_ANCHOR_BYTES),
        other => return format!("the YAML is over a limit of this tool: {other:?}"),
    };
    format!("the YAML has more than {limit} {what}, the most a spec file may have")
}

/// The YAML budget of a spec file ([`limits`]); one document.
fn yaml_budget() -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = limits::MAX_ALIASES;
    budget.max_anchors = limits::MAX_ANCHORS;
    budget.max_nodes = limits::MAX_NODES;
    budget.max_events = limits::MAX_EVENTS;
    budget.max_depth = limits::MAX_DEPTH;
    budget.flow_nesting_limit = limits::MAX_DEPTH;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = limits::MAX_SCALAR_BYTES;
    budget.max_recorded_anchor_events = limits::MAX_ANCHOR_EVENTS;
    budget.max_recorded_anchor_bytes = limits::MAX_ANCHOR_BYTES;
    budget
}

/// Parses `text` within the budget; the error is the message to show (naming the limit passed).
pub(super) fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let breach = std::rc::Rc::new(std::cell::RefCell::new(None));
    let seen = breach.clone();
    let options = serde_saphyr::options! { budget: Some(yaml_budget()) }
        .with_budget_report(move |report| *seen.borrow_mut() = report.breached);
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let text = e.to_string();
        match breach.borrow_mut().take() {
            Some(breach) => over_budget(&breach),
            // The parser's own nesting limit, set to the same depth (its words).
            None if text.contains("recursion limit exceeded") => {
                over_budget(&serde_saphyr::budget::BudgetBreach::Depth {
                    depth: limits::MAX_DEPTH + 1,
                })
            }
            None => cut_quoted(&text),
        }
    })
}

/// A value of an unknown key: read (within the budget) and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

/// A scalar as the text YAML gave it. Go's YAML reader (manifest-tool's) keeps `1` as "1" for a
/// string field; a float is refused, since `1.10` would read back as "1.1".
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
        Err(E::custom(format!(
            "{v} is a number in YAML; write it in quotes (\"{v}\") to keep it as it is written"
        )))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }
}

impl Scalar {
    fn required<E: serde::de::Error>(self) -> Result<String, E> {
        self.0
            .ok_or_else(|| E::custom("expected a string, got nothing"))
    }
}

pub(super) fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Scalar::deserialize(d)?.0)
}

/// A list of scalars; a lone scalar is a list of one (manifest-tool's `--tags a,b` is a list).
pub(super) fn scalar_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> serde::de::Visitor<'de> for ListVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings, or one string")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<Scalar>()? {
                out.push(item.required()?);
            }
            Ok(out)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![ScalarVisitor.visit_str::<E>(v)?.required()?])
        }

        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Vec<String>, E> {
            ScalarVisitor.visit_f64(v).map(|_| Vec::new())
        }
    }
    d.deserialize_any(ListVisitor)
}

/// A map of scalars to scalars (annotations).
pub(super) fn scalar_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct MapVisitor;
    impl<'de> serde::de::Visitor<'de> for MapVisitor {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of annotations")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<Scalar, Scalar>()? {
                out.insert(key.required()?, value.required()?);
            }
            Ok(out)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
    }
    d.deserialize_any(MapVisitor)
}

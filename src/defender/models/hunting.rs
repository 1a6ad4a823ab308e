//! Advanced-hunting results, from Defender (`Schema`/`Results`/`Stats`) or Graph
//! (`schema`/`results`), in one shape.

use serde::{Deserialize, Serialize};

/// One column of a hunting result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HuntingColumn {
    /// Column name.
    #[serde(alias = "Name", default)]
    pub name: String,
    /// Column type, e.g. `DateTime`, `String`, `Int64` (Graph: `Name`/`Type` become lower case).
    #[serde(rename = "type", alias = "Type", default)]
    pub r#type: String,
}

/// A hunting query's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HuntingResult {
    /// Columns, in order.
    #[serde(alias = "Schema", default)]
    pub schema: Vec<HuntingColumn>,
    /// Rows: column name to JSON value.
    #[serde(rename = "results", alias = "Results", default)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Execution statistics (Defender XDR's `Stats`), when given.
    #[serde(alias = "Stats", default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
}

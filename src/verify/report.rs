//! What a check found, in the two forms it is shown: one line per problem and a summary for
//! people, and the `--format json` document (schemas/verify.json) for scripts.

use super::subject::Subject;
use super::Problem;
use crate::model::digest::Digest;
use serde::Serialize;

/// How much was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Image manifests read and parsed.
    pub images: u64,
    /// Blobs (configs and layers) looked up.
    pub blobs: u64,
    /// Layers streamed and hashed (`--deep`).
    pub layers: u64,
    /// Bytes of those layers.
    pub bytes: u64,
    /// Executables whose headers were read (`--deep`).
    pub executables: u64,
}

/// The outcome of a check that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The list or reference as named.
    pub target: String,
    /// The digest of the index (or single image), when known.
    pub digest: Option<Digest>,
    /// Its media type, when known.
    pub media_type: Option<String>,
    /// Whether layers were read (`--deep`).
    pub deep: bool,
    /// How much was looked at.
    pub checked: Checked,
    /// Every fault found; none means everything holds.
    pub problems: Vec<Problem>,
}

/// The `--format json` document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    ok: bool,
    target: &'a str,
    digest: Option<&'a Digest>,
    media_type: Option<&'a str>,
    deep: bool,
    checked: &'a Checked,
    problems: &'a [Problem],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Report {
    pub(super) fn new(subject: &Subject, deep: bool) -> Self {
        Self {
            target: subject.label.clone(),
            digest: subject.digest.clone(),
            media_type: subject.media_type.clone(),
            deep,
            checked: Checked::default(),
            problems: Vec::new(),
        }
    }

    /// A report of a check that could not run, for the JSON form of its error.
    pub fn failed(target: &str, deep: bool) -> Self {
        Self {
            target: target.to_string(),
            digest: None,
            media_type: None,
            deep,
            checked: Checked::default(),
            problems: Vec::new(),
        }
    }

    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Problems grouped by image in a stable order (the order they were found in otherwise).
    pub(super) fn sort_problems(&mut self) {
        self.problems.sort_by(|a, b| {
            (a.digest.as_ref().map(Digest::as_str), a.kind)
                .cmp(&(b.digest.as_ref().map(Digest::as_str), b.kind))
        });
    }

    /// The `--format json` document; `error` says why the check stopped, when it did (then
    /// `ok` is false whatever was found).
    pub fn json(&self, error: Option<&str>) -> String {
        let document = Document {
            ok: self.ok() && error.is_none(),
            target: &self.target,
            digest: self.digest.as_ref(),
            media_type: self.media_type.as_deref(),
            deep: self.deep,
            checked: &self.checked,
            problems: &self.problems,
            error,
        };
        let value = serde_json::to_value(&document).expect("the report always serialises");
        crate::model::oci::pretty(&value)
    }

    /// One line per problem, then the summary; every line escaped for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            out.push_str(&crate::boundary::terminal::escape_controls(&problem.line()));
            out.push('\n');
        }
        let c = &self.checked;
        let mut looked = format!("{} images, {} blobs", c.images, c.blobs);
        if self.deep {
            looked.push_str(&format!(
                ", {} layers ({:.1} MiB), {} executables",
                c.layers,
                c.bytes as f64 / (1024.0 * 1024.0),
                c.executables
            ));
        }
        let verdict = match self.problems.len() {
            0 => "ok".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        };
        let digest = self
            .digest
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        out.push_str(&crate::boundary::terminal::escape_controls(&format!(
            "{}{digest}: {verdict} ({looked} checked)",
            self.target
        )));
        out.push('\n');
        out
    }
}

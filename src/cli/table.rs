//! `inspect --format table`, for people: one row per entry of an index (platform, digest, media
//! type, size, annotations), or per blob of an image manifest (its config and layers). Columns
//! are aligned; every cell is escaped, since the text may come from a registry.

use crate::boundary::terminal::escape_controls;
use crate::model::oci::{self, Descriptor, ImageManifest, Index};

/// The table of a manifest document (an index, a manifest list or an image manifest).
pub fn table(document: &[u8]) -> Result<String, oci::DocumentError> {
    let value: serde_json::Value = serde_json::from_slice(document)
        .map_err(|e| oci::DocumentError::Malformed(e.to_string()))?;
    let rows = if value.get("manifests").is_some() {
        let index = Index::parse(document)?;
        // Artifacts (Helm charts, SBOMs, `add --artifact`) say what they are in their
        // `artifactType`: a column of its own when any entry has one.
        let artifacts = index.manifests.iter().any(|e| e.artifact_type.is_some());
        let mut header = row(["PLATFORM", "DIGEST", "MEDIA TYPE", "SIZE", "ANNOTATIONS"]);
        if artifacts {
            header.insert(3, "ARTIFACT TYPE".to_string());
        }
        let mut rows = vec![header];
        rows.extend(index.manifests.iter().map(|entry| {
            let mut cells = vec![
                crate::model::platform::describe(entry),
                entry.digest.to_string(),
                entry.media_type.clone(),
                entry.size.to_string(),
                annotations(entry),
            ];
            if artifacts {
                cells.insert(3, entry.artifact_type.clone().unwrap_or_default());
            }
            cells
        }));
        rows
    } else {
        let image = ImageManifest::parse(document)?;
        let mut rows = vec![row(["BLOB", "DIGEST", "MEDIA TYPE", "SIZE", "ANNOTATIONS"])];
        rows.push(blob_row("config", &image.config));
        rows.extend(
            image
                .layers
                .iter()
                .enumerate()
                .map(|(n, layer)| blob_row(&format!("layer {}", n + 1), layer)),
        );
        rows
    };
    Ok(render(&rows))
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn blob_row(what: &str, blob: &Descriptor) -> Vec<String> {
    vec![
        what.to_string(),
        blob.digest.to_string(),
        blob.media_type.clone(),
        blob.size.to_string(),
        annotations(blob),
    ]
}

/// `key=value` pairs, sorted by key, joined with `, `.
fn annotations(entry: &Descriptor) -> String {
    entry
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn render(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|cell| escape_controls(cell).into_owned())
                .collect()
        })
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::Digest;

    #[test]
    fn an_index_has_a_row_per_entry() {
        let a = Digest::sha256_of(b"a");
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
            {{"mediaType":"{m}","digest":"{a}","size":7,"platform":{{"architecture":"arm","os":"linux","variant":"v7"}},"annotations":{{"z":"1","a":"x\u001b[2J"}}}},
            {{"mediaType":"{m}","digest":"{b}","size":12,"platform":{{"architecture":"unknown","os":"unknown"}},
              "annotations":{{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"{a}"}}}}]}}"#,
            oci::OCI_INDEX,
            m = oci::OCI_MANIFEST,
            b = Digest::sha256_of(b"b"),
        );
        let text = table(doc.as_bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("PLATFORM  "), "{text}");
        assert!(lines[1].starts_with("linux/arm/v7  "), "{text}");
        assert!(
            lines[1].contains(&format!("{a}  {}  7", oci::OCI_MANIFEST)),
            "{text}"
        );
        assert!(
            lines[1].ends_with("a=x\\x1b[2J, z=1"),
            "escaped and sorted: {text}"
        );
        assert!(
            lines[2].starts_with(&format!("attestation of {a}")),
            "{text}"
        );
        // Columns line up: every digest starts at the same place.
        let b = Digest::sha256_of(b"b").to_string();
        assert_eq!(lines[1].find(&a.to_string()), lines[2].find(&b), "{text}");
    }

    #[test]
    fn artifact_types_get_a_column_when_an_entry_has_one() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
            {{"mediaType":"{m}","digest":"{a}","size":7,"artifactType":"application/vnd.cncf.helm.chart"}},
            {{"mediaType":"{m}","digest":"{b}","size":9,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            oci::OCI_INDEX,
            m = oci::OCI_MANIFEST,
        );
        let text = table(doc.as_bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let column = lines[0].find("ARTIFACT TYPE").expect("the column");
        assert_eq!(
            lines[1].find("application/vnd.cncf.helm.chart"),
            Some(column),
            "{text}"
        );
        // The image has no artifact type: an empty cell, the columns still aligned.
        assert_eq!(lines[1].rfind("  7"), lines[2].rfind("  9"), "{text}");
    }

    #[test]
    fn an_image_has_a_row_per_blob() {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{}","digest":"{}","size":30}}]}}"#,
            oci::OCI_MANIFEST,
            oci::OCI_CONFIG,
            Digest::sha256_of(b"c"),
            oci::OCI_LAYER_GZIP,
            Digest::sha256_of(b"l"),
        );
        let text = table(doc.as_bytes()).unwrap();
        assert!(
            text.lines().nth(1).unwrap().starts_with("config "),
            "{text}"
        );
        assert!(
            text.lines().nth(2).unwrap().starts_with("layer 1 "),
            "{text}"
        );
        assert!(table(b"not json").is_err());
    }
}

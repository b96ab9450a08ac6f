//! The record of a list (`lists/<id>/list.json`), the store's one file format for a list:
//! written and parsed here only. It is also the only place an entry's source is text.

use super::{StoreError, StoredList, STORE_VERSION};
use crate::model::digest::Digest;
use crate::model::list::{ManifestList, Source};
use crate::model::oci::{Index, MAX_MANIFEST_BYTES};
use crate::model::reference::parse_image;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The source recorded for an entry whose manifest and blobs are kept in the store itself (an
/// artifact made by `add --artifact`).
const STORE_SOURCE: &str = "store:";

#[derive(Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) version: u32,
    id: String,
    name: String,
    /// The compact list document, as pushed; kept as a string so its bytes are exact.
    document: String,
    /// Entry digest → its source: an image reference (`docker://…`, `oci:/abs/dir`), or
    /// [`STORE_SOURCE`].
    sources: BTreeMap<String, String>,
    /// Artifact entry digest → the files it was made from (absent in lists without artifacts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    artifact_files: BTreeMap<String, Vec<String>>,
}

/// The record of a list; every create and save goes through here, so no list over
/// [`MAX_MANIFEST_BYTES`] is ever built.
pub(super) fn record_bytes(list: &StoredList) -> Result<Vec<u8>, StoreError> {
    let (document, _) = list.document()?;
    if document.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(StoreError::ListTooLarge {
            name: list.name.clone(),
            size: document.len() as u64,
            limit: MAX_MANIFEST_BYTES,
        });
    }
    let record = Record {
        version: STORE_VERSION,
        id: list.id.clone(),
        name: list.name.clone(),
        document: String::from_utf8(document).expect("serde_json writes UTF-8"),
        sources: list
            .list
            .sources
            .iter()
            .map(|(d, s)| (d.to_string(), source_text(s)))
            .collect(),
        artifact_files: list
            .list
            .artifact_files
            .iter()
            .map(|(d, files)| (d.to_string(), files.clone()))
            .collect(),
    };
    Ok(serde_json::to_vec(&record).expect("records always serialise"))
}

impl Record {
    /// The list this record holds; `Err` says what is wrong with it (the caller names the file).
    pub(super) fn into_list(self) -> Result<StoredList, String> {
        let index = Index::parse(self.document.as_bytes()).map_err(|e| e.to_string())?;
        let mut sources = BTreeMap::new();
        for (digest, source) in self.sources {
            let digest = Digest::parse(&digest).map_err(|e| e.to_string())?;
            let source = parse_source(&source)
                .map_err(|reason| format!("the source of entry {digest}: {reason}"))?;
            sources.insert(digest, source);
        }
        let mut artifact_files = BTreeMap::new();
        for (digest, files) in self.artifact_files {
            let digest = Digest::parse(&digest).map_err(|e| e.to_string())?;
            artifact_files.insert(digest, files);
        }
        Ok(StoredList {
            id: self.id,
            name: self.name,
            list: ManifestList {
                index,
                sources,
                artifact_files,
            },
        })
    }
}

fn source_text(source: &Source) -> String {
    match source {
        Source::Image(image) => image.to_string(),
        Source::Store => STORE_SOURCE.to_string(),
    }
}

fn parse_source(text: &str) -> Result<Source, String> {
    if text == STORE_SOURCE {
        return Ok(Source::Store);
    }
    parse_image(text)
        .map(Source::Image)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_an_entry_gets_reads_back_as_it_was_written() {
        let digest = Digest::sha256_of(b"x");
        let sources = [
            format!("docker://127.0.0.1:5000/app@{digest}"),
            format!("docker://docker.io/library/busybox@{digest}"),
            "docker://[::1]:5000/a/b:v1".to_string(),
            "oci:/var/lib/layouts/app".to_string(),
            "oci-archive:/tmp/app.tar".to_string(),
            "oci:/tmp/out:v1".to_string(),
            format!(
                "containers-storage:[overlay@/var/lib/c+/run/c]localhost/app:v1@{}",
                "a".repeat(64)
            ),
            format!("containers-storage:[/var/lib/c]@{}", "b".repeat(64)),
            STORE_SOURCE.to_string(),
        ];
        for text in sources {
            let source = parse_source(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(source_text(&source), text);
            assert_eq!(parse_source(&source_text(&source)), Ok(source));
        }
        assert_eq!(parse_source("store:"), Ok(Source::Store));
        for bad in ["", "docker://x/UPPER", "dir:/x", "oci:"] {
            assert!(parse_source(bad).is_err(), "{bad:?}");
        }
    }
}

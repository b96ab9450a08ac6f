//! Artifact entries of a list (`add --artifact`): the files each was made from, so that
//! `annotate LIST FILE` finds it as buildah does.

use super::{ManifestList, Source};
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;

impl ManifestList {
    /// Appends an artifact entry made from `files` (absolute paths), as [`ManifestList::add`];
    /// its content is read from the store itself.
    pub fn add_artifact(&mut self, entry: Descriptor, files: Vec<String>) {
        let digest = entry.digest.clone();
        self.add(entry, Source::Store);
        self.artifact_files.insert(digest, files);
    }

    /// The first entry (in list order) made from the file at `absolute_path`, as buildah's
    /// `annotate LIST FILE` finds an artifact.
    pub fn instance_by_file(&self, absolute_path: &str) -> Option<Digest> {
        self.index
            .manifests
            .iter()
            .map(|entry| &entry.digest)
            .find(|digest| {
                self.artifact_files
                    .get(*digest)
                    .is_some_and(|files| files.iter().any(|f| f == absolute_path))
            })
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::OCI_MANIFEST;

    #[test]
    fn artifact_files_follow_their_entry() {
        let entry = |n: u8| Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 1);
        let mut list = ManifestList::default();
        let artifact = entry(1);
        list.add(entry(2), Source::image("docker://b"));
        list.add_artifact(artifact.clone(), vec!["/a/f".into(), "/a/g".into()]);
        assert_eq!(list.instance_by_file("/a/g"), Some(artifact.digest.clone()));
        assert_eq!(list.instance_by_file("/a/h"), None);
        // Re-added as an image, it no longer stands for the files; removed, nothing is kept.
        list.add(artifact.clone(), Source::image("docker://a"));
        assert_eq!(list.instance_by_file("/a/f"), None);
        list.add_artifact(artifact.clone(), vec!["/a/f".into()]);
        list.remove(&artifact.digest, "l").unwrap();
        assert!(list.artifact_files.is_empty() && list.instance_by_file("/a/f").is_none());
    }
}

//! One transaction on one list: take the lock, find the list once, run a pure edit, save it
//! atomically. Every command that changes a list goes through here.

use super::{Store, StoreError, StoredList};
use crate::model::digest::Digest;
use crate::model::list::ManifestList;
use crate::model::reference::normalize_list_name;
use bytes::Bytes;

impl Store {
    /// Finds a list by name (normalised first: `a` is `localhost/a:latest`), full ID, or an
    /// unambiguous ID prefix.
    pub fn find(&self, name_or_id: &str) -> Result<StoredList, StoreError> {
        let (id, _) = self.find_id(name_or_id)?;
        self.load(&id)
    }

    /// Like [`Store::find`], without reading the list itself: `(id, name)`. Lets `rm` delete a
    /// list whose file is corrupt.
    pub fn find_id(&self, name_or_id: &str) -> Result<(String, String), StoreError> {
        let name = normalize_list_name(name_or_id).ok();
        self.resolve_id(name.as_deref(), name_or_id)
    }

    /// The name of a list whose name is close to `name` (a typo: `localhost/lsit` for
    /// `localhost/list:latest`), for "did you mean" hints. `None` when none is close.
    pub fn similar_name(&self, name: &str) -> Option<String> {
        let wanted = normalize_list_name(name).unwrap_or_else(|_| name.to_string());
        // Close means a slip of a few keys: at most one edit per three characters of the part
        // that was typed (names share `localhost/` and `:latest`, which says nothing).
        let typed = name.strip_prefix("localhost/").unwrap_or(name);
        let allowed = (typed.chars().count() / 3).max(1);
        self.names()
            .ok()?
            .into_iter()
            .map(|(_, known)| (strsim::damerau_levenshtein(&wanted, &known), known))
            .filter(|(edits, _)| *edits <= allowed)
            .min_by_key(|(edits, _)| *edits)
            .map(|(_, known)| known)
    }

    /// Edits the list `name_or_id` names as one transaction: under the lock it is found once,
    /// `edit` changes it (without I/O: what an edit needs from the network is read before) and
    /// it is saved atomically, together with `blobs` (what new entries were read with). Returns
    /// what `edit` returned. When `edit` fails or the result is refused, nothing is written.
    ///
    /// `edit` changes `list.list`; the ID and name are the list's identity and stay as found.
    pub fn update<T>(
        &self,
        name_or_id: &str,
        blobs: &[(Digest, Bytes)],
        edit: impl FnOnce(&mut StoredList) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock = self.lock()?;
        let mut list = self.find(name_or_id)?;
        let identity = (list.id.clone(), list.name.clone());
        let value = edit(&mut list)?;
        (list.id, list.name) = identity;
        self.save_with_blobs(&list, blobs, &lock)?;
        Ok(value)
    }

    /// `create --amend`: edits the list called `name` (already normalised) as [`Store::update`]
    /// does, or, when there is none, creates it as `edit` leaves an empty list. Returns the list
    /// as saved.
    pub fn update_or_create(
        &self,
        name: &str,
        blobs: &[(Digest, Bytes)],
        edit: impl FnOnce(&mut ManifestList),
    ) -> Result<StoredList, StoreError> {
        let lock = self.lock()?;
        match self.id_of(name)? {
            Some(id) => {
                let mut list = self.load(&id)?;
                edit(&mut list.list);
                self.save_with_blobs(&list, blobs, &lock)?;
                Ok(list)
            }
            None => {
                let mut content = ManifestList::default();
                edit(&mut content);
                self.create(name, content, blobs, &lock)
            }
        }
    }
}

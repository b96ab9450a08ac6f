//! Which files of a lower layer an entry of a higher layer takes away, as an overlay mount
//! assembles layers (the OCI image spec's "Representing Changes"): a whiteout `D/.wh.NAME`
//! deletes `D/NAME` and all below it, an opaque marker `D/.wh..wh..opq` hides everything below
//! `D`, and any entry at a path replaces what was there (a file or link over a directory
//! replaces all below it). Pure functions on normalised paths (`usr/bin/x`, no leading `/` or
//! `./`, no trailing `/`).

/// The prefix that marks a whiteout entry.
const WHITEOUT: &str = ".wh.";
/// The name of the opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// What an entry of a higher layer does to the paths below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change<'a> {
    /// `D/.wh.NAME`: `D/NAME` is deleted.
    Delete(String),
    /// `D/.wh..wh..opq`: everything below `D` is hidden (`D` may be the root, "").
    Opaque(&'a str),
    /// An entry at this path; `directory` when it is one.
    Replace {
        /// The entry's path.
        path: &'a str,
        /// Whether the entry is a directory (which keeps what is below it).
        directory: bool,
    },
}

/// A path as a layer names it, normalised: `./usr/bin/` is `usr/bin`.
pub(super) fn normalise(path: &str) -> &str {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let path = path.trim_end_matches('/');
    if path == "." {
        ""
    } else {
        path
    }
}

/// What the entry at `path` (normalised) changes.
pub(super) fn change(path: &str, directory: bool) -> Change<'_> {
    let (parent, name) = match path.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", path),
    };
    if name == OPAQUE {
        return Change::Opaque(parent);
    }
    match name.strip_prefix(WHITEOUT) {
        Some(deleted) if parent.is_empty() => Change::Delete(deleted.to_string()),
        Some(deleted) => Change::Delete(format!("{parent}/{deleted}")),
        None => Change::Replace { path, directory },
    }
}

/// Whether a whiteout entry (which a scan does not treat as a file).
pub(super) fn is_whiteout(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(WHITEOUT))
}

/// Whether `change` takes away the lower layer's file at `path`.
pub(super) fn hides(change: &Change<'_>, path: &str) -> bool {
    let below =
        |dir: &str| dir.is_empty() || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'));
    match change {
        Change::Delete(deleted) => path == deleted || below(deleted),
        Change::Opaque(dir) => below(dir),
        Change::Replace {
            path: at,
            directory,
        } => path == *at || (!directory && below(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_rules() {
        struct Case {
            entry: &'static str,
            directory: bool,
            path: &'static str,
            hidden: bool,
        }
        let case = |entry, directory, path, hidden| Case {
            entry,
            directory,
            path,
            hidden,
        };
        let cases = [
            case("./usr/bin/.wh.tool", false, "usr/bin/tool", true),
            case("usr/bin/.wh.tool", false, "usr/bin/toolbox", false),
            case("usr/.wh.bin", false, "usr/bin/tool", true),
            case("usr/.wh.bin", false, "usr/binary", false),
            case(".wh.usr", false, "usr/bin/tool", true),
            case("usr/bin/.wh..wh..opq", false, "usr/bin/tool", true),
            case("usr/bin/.wh..wh..opq", false, "usr/bin", false),
            case("usr/bin/.wh..wh..opq", false, "usr/lib/x", false),
            case(".wh..wh..opq", false, "anything/at/all", true),
            case("usr/bin/tool", false, "usr/bin/tool", true),
            case("usr/bin/tool/", true, "usr/bin/tool", true),
            case("usr/bin", false, "usr/bin/tool", true),
            case("usr/bin/", true, "usr/bin/tool", false),
            case("usr/bin/other", false, "usr/bin/tool", false),
            case("/usr/bin/tool", false, "usr/bin/tool", true),
        ];
        for case in cases {
            let path = normalise(case.entry);
            assert_eq!(
                hides(&change(path, case.directory), case.path),
                case.hidden,
                "{} over {}",
                case.entry,
                case.path
            );
        }
        assert!(is_whiteout("usr/.wh.bin") && is_whiteout(".wh..wh..opq"));
        assert!(!is_whiteout("usr/bin/what.wh.x"));
        assert_eq!(normalise("./"), "");
        assert_eq!(normalise("./usr/bin/"), "usr/bin");
    }
}

//! Media types of artifact files, decided as buildah decides them (Go's `mime.TypeByExtension`,
//! then `http.DetectContentType`, which follows the WHATWG MIME Sniffing standard), and the
//! check that a media type given on the command line is one (RFC 6838).

/// What a file holds when nothing else says: any bytes.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The media type of a file named `name` whose first bytes (up to 512) are `head`: the type
/// its extension names, else the type its first bytes show, without parameters.
pub fn guess(name: &str, head: &[u8]) -> String {
    let by_extension = name
        .rfind('.')
        .map(|dot| &name[dot + 1..])
        .filter(|extension| !extension.is_empty())
        .and_then(|extension| mime_guess::from_ext(extension).first_raw());
    let found = by_extension.unwrap_or_else(|| sniff(head));
    // Go strips parameters (`text/plain; charset=utf-8` → `text/plain`).
    found.split(';').next().unwrap_or(found).trim().to_string()
}

/// The first bytes a sniffer looks at.
const SNIFF_LEN: usize = 512;

/// Whitespace the standard skips before markup (`\t \n \x0c \r` and space).
fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

/// Markup that makes a document HTML when it starts it (after whitespace), case-insensitively,
/// followed by a space or `>`.
const HTML_TAGS: &[&[u8]] = &[
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

/// What a file is when it starts with these bytes.
const PREFIXES: &[(&[u8], &str)] = &[
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xFE\xFF", "text/plain; charset=utf-16be"),
    (b"\xFF\xFE", "text/plain; charset=utf-16le"),
    (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xFF\xD8\xFF", "image/jpeg"),
    (b"ID3", "audio/mpeg"),
    (b"OggS\x00", "application/ogg"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
    (b"\x1A\x45\xDF\xA3", "video/webm"),
    (b"\x00\x01\x00\x00", "font/ttf"),
    (b"OTTO", "font/otf"),
    (b"ttcf", "font/collection"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x1F\x8B\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
    (b"\x00\x61\x73\x6D", "application/wasm"),
];

/// RIFF and IFF containers: the form type at bytes 8..12 says what they hold.
const CONTAINERS: &[(&[u8; 4], &[u8], &str)] = &[
    (b"RIFF", b"WEBPVP", "image/webp"),
    (b"RIFF", b"WAVE", "audio/wave"),
    (b"RIFF", b"AVI ", "video/avi"),
    (b"FORM", b"AIFF", "audio/aiff"),
];

/// The type the first bytes of a file show (the WHATWG MIME Sniffing standard, as Go's
/// `http.DetectContentType` applies it).
fn sniff(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(SNIFF_LEN)];
    let markup = {
        let start = data.iter().position(|b| !is_ws(*b)).unwrap_or(data.len());
        &data[start..]
    };
    for tag in HTML_TAGS {
        let ends_tag = markup
            .get(tag.len())
            .is_some_and(|b| *b == b' ' || *b == b'>');
        if ends_tag && markup[..tag.len()].eq_ignore_ascii_case(tag) {
            return "text/html; charset=utf-8";
        }
    }
    if markup.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    if let Some((_, kind)) = PREFIXES.iter().find(|(prefix, _)| data.starts_with(prefix)) {
        return kind;
    }
    for (magic, form, kind) in CONTAINERS {
        if data.starts_with(*magic) && data.get(8..8 + form.len()) == Some(form) {
            return kind;
        }
    }
    if is_mp4(data) {
        return "video/mp4";
    }
    // No byte that only binary data has: text.
    let binary = |b: &u8| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F);
    if !data.iter().any(binary) {
        return "text/plain; charset=utf-8";
    }
    OCTET_STREAM
}

/// An ISO base media file whose `ftyp` box names an `mp4` brand.
fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 || &data[4..8] != b"ftyp" {
        return false;
    }
    let box_size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    if box_size > data.len() || !box_size.is_multiple_of(4) {
        return false;
    }
    (8..box_size)
        .step_by(4)
        .filter(|&at| at != 12)
        .any(|at| data.get(at..at + 3) == Some(b"mp4"))
}

/// Why a text is not a media type (`type/subtype`, RFC 6838 names: a letter or digit, then up
/// to 126 of letters, digits and `!#$&-^_.+`, on each side); `None` when it is one.
pub fn media_type_problem(text: &str) -> Option<String> {
    let name_ok = |name: &str| {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && name.len() <= 127
            && bytes.all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match text.split_once('/') {
        Some((kind, subtype)) if name_ok(kind) && name_ok(subtype) => None,
        _ => Some(format!(
            "{text:?} is not a media type (type/subtype, e.g. application/vnd.example.thing.v1+json)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_win_then_contents_decide() {
        for (name, head, expected) in [
            ("listed.txt", &b"oh yeah\n"[..], "text/plain"),
            ("zeroes", &[0u8; 512][..], OCTET_STREAM),
            ("notes", b"oh yeah\n", "text/plain"),
            ("page", b"  <html><body>", "text/html"),
            ("page", b"<HTMLX", "text/plain"),
            ("doc", b"<?xml version=\"1.0\"?>", "text/xml"),
            ("pic", b"\x89PNG\r\n\x1a\n\0\0", "image/png"),
            ("pic.png", b"not a png at all", "image/png"),
            ("archive", b"\x1f\x8b\x08\0\0\0\0\0", "application/x-gzip"),
            ("sound", b"RIFF\0\0\0\0WAVEfmt ", "audio/wave"),
            ("film", b"\0\0\0\x18ftypmp42\0\0\0\0mp41isom", "video/mp4"),
            ("model.wasm", b"\0asm", "application/wasm"),
            ("chart.json", b"{}", "application/json"),
            ("dotfile.", b"\x00\x01\x02", OCTET_STREAM),
            ("empty", b"", "text/plain"),
        ] {
            assert_eq!(guess(name, head), expected, "{name}");
        }
    }

    #[test]
    fn media_types_are_checked() {
        for good in [
            "image/png",
            "text/x-not-really",
            "application/vnd.oci.empty.v1+json",
            "application/vnd.cncf.helm.config.v1+json",
        ] {
            assert_eq!(media_type_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "png",
            "/png",
            "image/",
            "image/png; charset=x",
            "a/b/c",
            "-x/y",
        ] {
            assert!(media_type_problem(bad).is_some(), "{bad:?}");
        }
    }
}

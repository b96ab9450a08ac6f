use super::*;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::transport::verified;

fn elf_x86_64() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[16] = 2;
    h[18] = 62;
    h[20] = 1;
    h.extend(std::iter::repeat_n(0xab, 10_000));
    h
}

/// A tar of `(path, kind, data)` entries.
fn tar_of(entries: &[(&str, EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn run(bytes: Vec<u8>, digest_of: &[u8], look: Look<'_>) -> Result<Walked, WalkError> {
    let descriptor = Descriptor::new("", Digest::sha256_of(digest_of), bytes.len() as u64);
    let chunks: Vec<Result<Bytes, TransportError>> = bytes
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream: BlobStream = Box::pin(futures_util::stream::iter(chunks));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let stream = verified(stream, &descriptor);
    // The walk blocks on the runtime from another thread, as spawn_blocking would.
    std::thread::scope(|scope| {
        scope
            .spawn(move || walk(stream, handle, look, None))
            .join()
            .unwrap()
    })
}

fn arm64() -> Vec<(String, String)> {
    vec![("linux".to_string(), "arm64".to_string())]
}

#[test]
fn executables_of_another_machine_are_found_in_every_compression() {
    let binary = elf_x86_64();
    let tar = tar_of(&[
        ("./bin/", EntryType::Directory, b""),
        ("./bin/true", EntryType::Regular, &binary),
        ("./bin/script", EntryType::Regular, b"#!/bin/sh\n"),
        ("./bin/.wh.gone", EntryType::Regular, b""),
    ]);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &tar).unwrap();
    let gzip = gzip.finish().unwrap();
    let zstd = zstd::encode_all(&tar[..], 3).unwrap();
    let platforms = arm64();
    for layer in [tar.clone(), gzip, zstd] {
        let walked = run(layer.clone(), &layer, Look::Executables(&platforms)).unwrap();
        assert_eq!(walked.executables, 1);
        assert_eq!(walked.bytes, layer.len() as u64);
        let found: Vec<(&String, &str)> = walked
            .findings
            .iter()
            .map(|(p, m)| (p, m.text.as_str()))
            .collect();
        assert_eq!(found, [(&"bin/true".to_string(), "ELF 64-bit x86-64")]);
    }
    let amd64 = vec![("linux".to_string(), "amd64".to_string())];
    let walked = run(tar.clone(), &tar, Look::Executables(&amd64)).unwrap();
    assert!(walked.findings.is_empty());
}

#[test]
fn long_names_and_a_later_entry_at_the_same_path() {
    let binary = elf_x86_64();
    let deep = format!("usr/{}/tool", "d".repeat(300));
    let tar = tar_of(&[
        (&deep, EntryType::Regular, &binary),
        ("usr/bin/replaced", EntryType::Regular, &binary),
        ("usr/bin/replaced", EntryType::Regular, b"text now"),
    ]);
    let platforms = arm64();
    let walked = run(tar.clone(), &tar, Look::Executables(&platforms)).unwrap();
    let paths: Vec<&String> = walked.findings.keys().collect();
    assert_eq!(paths, [&deep]);
}

#[test]
fn a_pax_path_names_the_entry() {
    let binary = elf_x86_64();
    let mut builder = tar::Builder::new(Vec::new());
    let long = format!("opt/{}/tool", "p".repeat(200));
    builder
        .append_pax_extensions([("path", long.as_bytes())])
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_size(binary.len() as u64);
    header.set_entry_type(EntryType::Regular);
    header.set_path("short").unwrap();
    header.set_cksum();
    builder.append(&header, &binary[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let platforms = arm64();
    let walked = run(tar.clone(), &tar, Look::Executables(&platforms)).unwrap();
    assert_eq!(walked.findings.keys().collect::<Vec<_>>(), [&long]);
}

#[test]
fn whiteouts_are_reported_for_the_paths_asked_about() {
    let tar = tar_of(&[
        ("usr/bin/.wh.true", EntryType::Regular, b""),
        ("opt/.wh..wh..opq", EntryType::Regular, b""),
        ("etc/passwd", EntryType::Regular, b"root"),
    ]);
    let asked = vec![
        "usr/bin/true".to_string(),
        "usr/bin/false".to_string(),
        "opt/app/bin".to_string(),
        "etc/passwd".to_string(),
    ];
    let walked = run(tar.clone(), &tar, Look::Hides(&asked)).unwrap();
    let hidden: Vec<&String> = walked.hidden.iter().collect();
    assert_eq!(hidden, ["etc/passwd", "opt/app/bin", "usr/bin/true"]);
}

#[test]
fn a_wrong_digest_and_a_broken_layer_are_faults() {
    let tar = tar_of(&[("a", EntryType::Regular, b"x")]);
    let platforms = arm64();
    match run(tar.clone(), b"other bytes", Look::Executables(&platforms)) {
        Err(WalkError::Fault(ProblemKind::DigestMismatch, detail)) => {
            assert!(detail.contains("does not match"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    let garbage = vec![0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    match run(garbage.clone(), &garbage, Look::Executables(&platforms)) {
        Err(WalkError::Fault(ProblemKind::InvalidLayer, _)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_long_name_past_the_limit_is_refused() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(EntryType::GNULongName);
    let name = vec![b'n'; (MAX_NAME_BYTES + 1) as usize];
    header.set_size(name.len() as u64);
    header.set_path("././@LongLink").unwrap();
    header.set_cksum();
    builder.append(&header, &name[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let platforms = arm64();
    match run(tar.clone(), &tar, Look::Executables(&platforms)) {
        Err(WalkError::Fault(ProblemKind::InvalidLayer, detail)) => {
            assert!(detail.contains("over the limit"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

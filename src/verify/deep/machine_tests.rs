use super::*;

/// An ELF header: class 1 or 2, data 1 (little) or 2 (big), type, machine.
fn elf(class: u8, data: u8, kind: u16, machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = data;
    h[6] = 1; // EV_CURRENT
    let put = |h: &mut Vec<u8>, at: usize, v: u16| {
        let bytes = if data == 1 {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        h[at..at + 2].copy_from_slice(&bytes);
    };
    put(&mut h, 16, kind);
    put(&mut h, 18, machine);
    h[20] = if data == 1 { 1 } else { 0 };
    h[23] = if data == 2 { 1 } else { 0 };
    h
}

/// A PE header: `MZ`, the NT headers at 0x80, a 64-bit optional header; `clr` sets the CLR
/// (.NET) data directory.
fn pe(machine: u16, clr: bool) -> Vec<u8> {
    let mut h = vec![0u8; 1024];
    h[..2].copy_from_slice(b"MZ");
    h[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    h[0x80..0x84].copy_from_slice(b"PE\0\0");
    h[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
    let optional_size: u16 = 112 + 16 * 8;
    h[0x94..0x96].copy_from_slice(&optional_size.to_le_bytes());
    let optional = 0x98;
    h[optional..optional + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    // NumberOfRvaAndSizes, then 16 directories.
    h[optional + 108..optional + 112].copy_from_slice(&16u32.to_le_bytes());
    if clr {
        let directory = optional + 112 + 14 * 8;
        h[directory..directory + 4].copy_from_slice(&0x2000u32.to_le_bytes());
        h[directory + 4..directory + 8].copy_from_slice(&0x48u32.to_le_bytes());
    }
    h
}

fn mach_o(cpu: u32, kind: u32) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(&0xfeed_facfu32.to_le_bytes());
    h[4..8].copy_from_slice(&cpu.to_le_bytes());
    h[12..16].copy_from_slice(&kind.to_le_bytes());
    h
}

fn fat(cpus: &[u32]) -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..4].copy_from_slice(&0xcafe_babeu32.to_be_bytes());
    h[4..8].copy_from_slice(&(cpus.len() as u32).to_be_bytes());
    for (n, cpu) in cpus.iter().enumerate() {
        let at = 8 + n * 20;
        h[at..at + 4].copy_from_slice(&cpu.to_be_bytes());
    }
    h
}

#[test]
fn headers_name_their_machine() {
    struct Case {
        head: Vec<u8>,
        text: Option<&'static str>,
        arches: Vec<Option<&'static str>>,
    }
    let cases = [
        Case {
            head: elf(2, 1, 2, 62),
            text: Some("ELF 64-bit x86-64"),
            arches: vec![Some("amd64")],
        },
        Case {
            head: elf(2, 1, 3, 183),
            text: Some("ELF 64-bit ARM aarch64"),
            arches: vec![Some("arm64")],
        },
        Case {
            head: elf(1, 1, 2, 40),
            text: Some("ELF 32-bit ARM"),
            arches: vec![Some("arm")],
        },
        Case {
            head: elf(2, 1, 3, 21),
            text: Some("ELF 64-bit 64-bit PowerPC, little-endian"),
            arches: vec![Some("ppc64le")],
        },
        Case {
            head: elf(2, 2, 2, 21),
            text: Some("ELF 64-bit 64-bit PowerPC, big-endian"),
            arches: vec![Some("ppc64")],
        },
        Case {
            head: elf(2, 2, 2, 22),
            text: Some("ELF 64-bit IBM S/390 (64-bit)"),
            arches: vec![Some("s390x")],
        },
        Case {
            head: elf(1, 1, 3, 3),
            text: Some("ELF 32-bit Intel 80386"),
            arches: vec![Some("386")],
        },
        Case {
            head: elf(2, 1, 2, 9999),
            text: Some("ELF 64-bit machine 9999"),
            arches: vec![None],
        },
        // Relocatable objects and core files are not executables.
        Case {
            head: elf(2, 1, 1, 62),
            text: None,
            arches: vec![],
        },
        Case {
            head: elf(2, 1, 4, 62),
            text: None,
            arches: vec![],
        },
        Case {
            head: pe(0x8664, false),
            text: Some("PE x86-64"),
            arches: vec![Some("amd64")],
        },
        Case {
            head: pe(0xaa64, false),
            text: Some("PE ARM64"),
            arches: vec![Some("arm64")],
        },
        // A .NET assembly is byte code whatever its machine field says.
        Case {
            head: pe(0x14c, true),
            text: None,
            arches: vec![],
        },
        Case {
            head: mach_o(0x0100_000c, 2),
            text: Some("Mach-O 64-bit arm64"),
            arches: vec![Some("arm64")],
        },
        Case {
            head: mach_o(0x0100_0007, 1),
            text: None,
            arches: vec![],
        },
        Case {
            head: fat(&[0x0100_0007, 0x0100_000c]),
            text: Some("Mach-O universal binary (x86_64, arm64)"),
            arches: vec![Some("amd64"), Some("arm64")],
        },
        // A Java class file: same magic, a class-file version where the slice count would be.
        Case {
            head: fat(&[0; 52]),
            text: None,
            arches: vec![],
        },
        Case {
            head: b"#!/bin/sh\necho hello\n".to_vec(),
            text: None,
            arches: vec![],
        },
        Case {
            head: b"\x7fELF".to_vec(),
            text: None,
            arches: vec![],
        },
        Case {
            head: Vec::new(),
            text: None,
            arches: vec![],
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        let found = machine(&case.head);
        assert_eq!(
            found.as_ref().map(|m| m.text.as_str()),
            case.text,
            "case {n}"
        );
        if let Some(found) = found {
            assert_eq!(found.arches, case.arches, "case {n}");
        }
    }
}

#[test]
fn this_machines_own_binary_is_read() {
    let head = std::fs::read("/bin/true").expect("/bin/true");
    let found = machine(&head[..HEADER_BYTES.min(head.len())]).expect("an ELF executable");
    let host = crate::model::platform::PlatformWanted::host();
    assert_eq!(found.format, Format::Elf);
    assert_eq!(
        fits(&found, "linux", &host.arch),
        Some(true),
        "{}",
        found.text
    );
}

#[test]
fn what_runs_where() {
    let amd64 = machine(&elf(2, 1, 2, 62)).unwrap();
    let i386 = machine(&elf(1, 1, 2, 3)).unwrap();
    let arm = machine(&elf(1, 1, 2, 40)).unwrap();
    let arm64 = machine(&elf(2, 1, 2, 183)).unwrap();
    let windows = machine(&pe(0x8664, false)).unwrap();
    let universal = machine(&fat(&[0x0100_0007, 0x0100_000c])).unwrap();
    let cases = [
        (&amd64, "linux", "amd64", Some(true)),
        (&amd64, "linux", "arm64", Some(false)),
        (&i386, "linux", "amd64", Some(true)),
        (&amd64, "linux", "386", Some(false)),
        (&arm, "linux", "arm64", Some(false)),
        (&arm64, "linux", "arm64", Some(true)),
        (&arm64, "freebsd", "arm64", Some(true)),
        // Formats foreign to the OS are not judged (a Windows tool inside a Linux image).
        (&windows, "linux", "arm64", None),
        (&windows, "windows", "amd64", Some(true)),
        (&amd64, "windows", "arm64", None),
        (&universal, "darwin", "arm64", Some(true)),
        (&universal, "darwin", "ppc64le", Some(false)),
        // An architecture without a known machine is not judged.
        (&amd64, "linux", "wasm", None),
    ];
    for (machine, os, arch, want) in cases {
        assert_eq!(
            fits(machine, os, arch),
            want,
            "{} on {os}/{arch}",
            machine.text
        );
    }
}

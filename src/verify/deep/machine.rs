//! The machine an executable is for, from its header alone (the `object` crate reads ELF, PE
//! and Mach-O headers), and whether it runs on an image's platform.
//!
//! Only formats native to the image's OS are judged: ELF on Linux and the other Unixes, PE on
//! Windows, Mach-O on darwin. ELF executables and shared objects count (not relocatable objects
//! or core files); .NET assemblies (PE with a CLR header) are byte code and do not count. The
//! architecture, word size and byte order are compared, not the variant (`arm/v6` and `arm/v7`
//! binaries look alike here). An `amd64` image may hold `386` binaries (every amd64 CPU runs
//! them); an `arm64` image may not hold 32-bit `arm` ones (many arm64 CPUs cannot run them).

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::FileHeader;
use object::read::macho::{FatArch as _, MachHeader as _};
use object::read::pe::ImageNtHeaders as _;
use object::{elf, macho, pe, Endianness, FileKind};

/// How many bytes of a file are read to tell its machine (PE headers sit a little way in).
pub(super) const HEADER_BYTES: usize = 4096;

/// The executable formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Elf,
    Pe,
    MachO,
}

/// What an executable's header says it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Machine {
    pub(super) format: Format,
    /// The OCI architectures it is for (several for a Mach-O universal binary); `None` for a
    /// machine with no OCI name.
    pub(super) arches: Vec<Option<&'static str>>,
    /// The machine in words, as `file` would say it (`ELF 64-bit x86-64`).
    pub(super) text: String,
}

/// The machine of the file whose first bytes are `head`, when it is an executable.
pub(super) fn machine(head: &[u8]) -> Option<Machine> {
    match FileKind::parse(head).ok()? {
        FileKind::Elf32 => elf_header::<FileHeader32<Endianness>>(head, 32),
        FileKind::Elf64 => elf_header::<FileHeader64<Endianness>>(head, 64),
        FileKind::Pe32 | FileKind::Pe64 => portable_executable(head),
        FileKind::MachO32 | FileKind::MachO64 => mach_o(head),
        FileKind::MachOFat32 => mach_o_universal(head),
        _ => None,
    }
}

/// An ELF header of either class (`bits` says which `H` is).
fn elf_header<H: FileHeader<Endian = Endianness>>(head: &[u8], bits: u8) -> Option<Machine> {
    let header = H::parse(head).ok()?;
    let endian = header.endian().ok()?;
    elf_machine(
        header.e_type(endian),
        header.e_machine(endian),
        bits,
        header.is_little_endian(),
    )
}

fn elf_machine(
    kind: elf::FileType,
    machine: elf::Machine,
    bits: u8,
    little: bool,
) -> Option<Machine> {
    if kind != elf::ET_EXEC && kind != elf::ET_DYN {
        return None;
    }
    let (arch, name): (Option<&'static str>, String) = match (machine, bits, little) {
        (elf::EM_X86_64, 64, _) => (Some("amd64"), "x86-64".into()),
        (elf::EM_X86_64, _, _) => (Some("amd64"), "x86-64 (x32)".into()),
        (elf::EM_386, _, _) => (Some("386"), "Intel 80386".into()),
        (elf::EM_AARCH64, _, _) => (Some("arm64"), "ARM aarch64".into()),
        (elf::EM_ARM, _, _) => (Some("arm"), "ARM".into()),
        (elf::EM_PPC64, _, true) => (Some("ppc64le"), "64-bit PowerPC, little-endian".into()),
        (elf::EM_PPC64, _, false) => (Some("ppc64"), "64-bit PowerPC, big-endian".into()),
        (elf::EM_S390, 64, _) => (Some("s390x"), "IBM S/390 (64-bit)".into()),
        (elf::EM_RISCV, 64, _) => (Some("riscv64"), "RISC-V (64-bit)".into()),
        (elf::EM_MIPS, 64, true) => (Some("mips64le"), "MIPS64, little-endian".into()),
        (elf::EM_MIPS, 64, false) => (Some("mips64"), "MIPS64, big-endian".into()),
        (elf::EM_MIPS, _, true) => (Some("mipsle"), "MIPS, little-endian".into()),
        (elf::EM_MIPS, _, false) => (Some("mips"), "MIPS, big-endian".into()),
        (elf::EM_LOONGARCH, 64, _) => (Some("loong64"), "LoongArch (64-bit)".into()),
        (other, _, _) => (None, format!("machine {}", other.0)),
    };
    Some(Machine {
        format: Format::Elf,
        arches: vec![arch],
        text: format!("ELF {bits}-bit {name}"),
    })
}

fn portable_executable(head: &[u8]) -> Option<Machine> {
    let dos = pe::ImageDosHeader::parse(head).ok()?;
    let mut offset = u64::from(dos.nt_headers_offset());
    // A 32- and a 64-bit optional header start alike; only the file header and the data
    // directories are needed, and both kinds are tried.
    let (machine, clr) = match pe::ImageNtHeaders64::parse(head, &mut offset) {
        Ok((headers, directories)) => (
            headers.file_header().machine.get(object::LittleEndian),
            directories
                .get(pe::IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR)
                .is_some_and(|d| d.virtual_address.get(object::LittleEndian) != 0),
        ),
        Err(_) => {
            let mut offset = u64::from(dos.nt_headers_offset());
            let (headers, directories) = pe::ImageNtHeaders32::parse(head, &mut offset).ok()?;
            (
                headers.file_header().machine.get(object::LittleEndian),
                directories
                    .get(pe::IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR)
                    .is_some_and(|d| d.virtual_address.get(object::LittleEndian) != 0),
            )
        }
    };
    if clr {
        return None;
    }
    let (arch, name): (Option<&'static str>, String) = match machine {
        pe::IMAGE_FILE_MACHINE_AMD64 => (Some("amd64"), "x86-64".into()),
        pe::IMAGE_FILE_MACHINE_I386 => (Some("386"), "Intel 80386".into()),
        pe::IMAGE_FILE_MACHINE_ARM64 => (Some("arm64"), "ARM64".into()),
        pe::IMAGE_FILE_MACHINE_ARM | pe::IMAGE_FILE_MACHINE_ARMNT => (Some("arm"), "ARM".into()),
        other => (None, format!("machine {:#06x}", other.0)),
    };
    Some(Machine {
        format: Format::Pe,
        arches: vec![arch],
        text: format!("PE {name}"),
    })
}

fn mach_o_arch(cpu: macho::CpuType) -> (Option<&'static str>, String) {
    match cpu {
        macho::CPU_TYPE_X86_64 => (Some("amd64"), "x86_64".into()),
        macho::CPU_TYPE_X86 => (Some("386"), "i386".into()),
        macho::CPU_TYPE_ARM64 => (Some("arm64"), "arm64".into()),
        macho::CPU_TYPE_ARM => (Some("arm"), "arm".into()),
        macho::CPU_TYPE_POWERPC64 => (Some("ppc64"), "ppc64".into()),
        other => (None, format!("cpu type {:#x}", other.0)),
    }
}

fn runnable(kind: macho::FileType) -> bool {
    kind == macho::MH_EXECUTE || kind == macho::MH_DYLIB || kind == macho::MH_BUNDLE
}

fn mach_o(head: &[u8]) -> Option<Machine> {
    let (cpu, kind, bits) = match macho::MachHeader64::<Endianness>::parse(head, 0) {
        Ok(header) if header.is_type_64() => {
            let endian = header.endian().ok()?;
            (header.cputype(endian), header.filetype(endian), 64)
        }
        _ => {
            let header = macho::MachHeader32::<Endianness>::parse(head, 0).ok()?;
            let endian = header.endian().ok()?;
            (header.cputype(endian), header.filetype(endian), 32)
        }
    };
    if !runnable(kind) {
        return None;
    }
    let (arch, name) = mach_o_arch(cpu);
    Some(Machine {
        format: Format::MachO,
        arches: vec![arch],
        text: format!("Mach-O {bits}-bit {name}"),
    })
}

/// A universal binary: runs where any of its slices does. Java class files start with the same
/// magic; their "slice count" is a class file version (45 or more), so a count over 30 is no
/// Mach-O (as file(1) decides).
fn mach_o_universal(head: &[u8]) -> Option<Machine> {
    let fat = object::read::macho::MachOFatFile32::parse(head).ok()?;
    if fat.arches().is_empty() || fat.arches().len() > 30 {
        return None;
    }
    let slices: Vec<(Option<&'static str>, String)> = fat
        .arches()
        .iter()
        .map(|arch| mach_o_arch(arch.cputype()))
        .collect();
    Some(Machine {
        format: Format::MachO,
        arches: slices.iter().map(|(arch, _)| *arch).collect(),
        text: format!(
            "Mach-O universal binary ({})",
            slices
                .iter()
                .map(|(_, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Whether an executable of `machine` runs on `os`/`arch` (OCI names): `None` when the file's
/// format is not the OS's own (not judged), or the image's architecture has no known machine.
pub(super) fn fits(machine: &Machine, os: &str, arch: &str) -> Option<bool> {
    let native = match os {
        "windows" => Format::Pe,
        "darwin" | "ios" => Format::MachO,
        _ => Format::Elf,
    };
    if machine.format != native || !KNOWN_ARCHES.contains(&arch) {
        return None;
    }
    let runs = |file: &Option<&'static str>| match (*file, arch) {
        (Some(file), _) if file == arch => true,
        (Some("386"), "amd64") => true,
        _ => false,
    };
    Some(machine.arches.iter().any(runs))
}

/// The architectures whose executables can be told apart by their headers.
const KNOWN_ARCHES: &[&str] = &[
    "amd64", "386", "arm64", "arm", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
    "mipsle", "mips", "loong64",
];

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

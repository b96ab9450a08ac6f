//! Hides the password of `--creds USER:PASS` from `ps` and `/proc/PID/cmdline`, which every
//! user of the machine can read, by overwriting it in the process's own argument memory once
//! clap has copied the arguments.

use crate::boundary::fsutil;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Replaces the password part of every `--creds` value with `*`. Best effort: on failure the
/// arguments stay as they were (the kernel offers no other way to change them).
pub fn mask_password() {
    let _ = try_mask();
}

fn try_mask() -> Option<()> {
    let arg_start = argument_area_start()?;
    let cmdline = fsutil::read_proc(Path::new("/proc/self/cmdline")).ok()?;
    // Writes this process's own memory; nothing is read from outside.
    #[allow(clippy::disallowed_methods)]
    let mut mem = fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .ok()?;
    for (offset, len) in password_spans(&cmdline) {
        mem.seek(SeekFrom::Start(arg_start + offset as u64)).ok()?;
        mem.write_all(&vec![b'*'; len]).ok()?;
    }
    Some(())
}

/// Field 48 of /proc/self/stat: where the argument strings start in our memory.
fn argument_area_start() -> Option<u64> {
    let stat = fsutil::read_proc(Path::new("/proc/self/stat")).ok()?;
    let stat = String::from_utf8(stat).ok()?;
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(48 - 3)?.parse().ok()
}

/// Byte ranges of passwords inside the NUL-separated argument block.
fn password_spans(cmdline: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut offset = 0;
    let mut value_follows = false;
    for arg in cmdline.split(|b| *b == 0) {
        let value_at = if value_follows {
            Some(0)
        } else if arg.starts_with(b"--creds=") {
            Some(b"--creds=".len())
        } else {
            None
        };
        if let Some(at) = value_at {
            if let Some(colon) = arg[at..].iter().position(|b| *b == b':') {
                let start = at + colon + 1;
                if start < arg.len() {
                    spans.push((offset + start, arg.len() - start));
                }
            }
        }
        value_follows = arg == b"--creds";
        offset += arg.len() + 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::password_spans;

    #[test]
    fn finds_both_spellings() {
        let cmdline = b"manifest\0push\0--creds\0bob:pw1\0--creds=al:x:y\0list\0";
        let spans = password_spans(cmdline);
        let shown: Vec<&[u8]> = spans.iter().map(|(o, l)| &cmdline[*o..o + l]).collect();
        assert_eq!(shown, vec![&b"pw1"[..], &b"x:y"[..]]);
        assert!(password_spans(b"manifest\0--creds\0bob\0").is_empty());
    }
}

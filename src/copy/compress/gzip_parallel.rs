//! gzip on every core, as pigz and buildah's pgzip do: the input is cut into blocks, each block
//! is deflated on a worker (primed with the previous block's last 32 KiB, so the ratio stays
//! close to plain gzip) and flushed to a byte boundary, and the blocks are written in order as
//! one gzip member. Memory is a few blocks, whatever the input's size.

use flate2::{Compress, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Input bytes per block.
const BLOCK: usize = 1024 * 1024;
/// Deflate's window: what a block may refer back to.
const DICTIONARY: usize = 32 * 1024;
/// gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    number: u64,
    input: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
}

/// Compresses what `next_chunk` yields (until it yields `None`) into `out` as gzip at `level`,
/// on `workers` threads.
pub(crate) fn compress<E>(
    level: u32,
    workers: usize,
    mut next_chunk: impl FnMut() -> Option<Result<bytes::Bytes, E>>,
    out: &mut dyn Write,
    to_io: impl Fn(E) -> io::Error,
) -> io::Result<()> {
    out.write_all(&HEADER)?;
    let mut crc = crc32fast::Hasher::new();
    let mut total: u64 = 0;
    let (jobs, job_queue) = mpsc::channel::<Job>();
    let job_queue = Arc::new(Mutex::new(job_queue));
    let (done, results) = mpsc::channel::<(u64, io::Result<Vec<u8>>)>();
    std::thread::scope(|scope| -> io::Result<()> {
        for _ in 0..workers.max(1) {
            let (queue, done) = (job_queue.clone(), done.clone());
            scope.spawn(move || loop {
                let job = match queue.lock().map(|q| q.recv()) {
                    Ok(Ok(job)) => job,
                    _ => return,
                };
                let number = job.number;
                if done.send((number, deflate_block(level, job))).is_err() {
                    return;
                }
            });
        }
        drop(done);
        let mut written = Writer {
            next: 0,
            ready: BTreeMap::new(),
            in_flight: 0,
        };
        let mut pending: Vec<u8> = Vec::with_capacity(BLOCK);
        let mut previous_tail: Vec<u8> = Vec::new();
        let mut input_done = false;
        let mut number = 0u64;
        loop {
            while !input_done && pending.len() < BLOCK {
                match next_chunk() {
                    Some(chunk) => {
                        let chunk = chunk.map_err(&to_io)?;
                        crc.update(&chunk);
                        total += chunk.len() as u64;
                        pending.extend_from_slice(&chunk);
                    }
                    None => input_done = true,
                }
            }
            let rest = pending.split_off(pending.len().min(BLOCK));
            let input = std::mem::replace(&mut pending, rest);
            let last = input_done && pending.is_empty();
            let tail = input[input.len().saturating_sub(DICTIONARY)..].to_vec();
            jobs.send(Job {
                number,
                input,
                dictionary: std::mem::replace(&mut previous_tail, tail),
                last,
            })
            .map_err(|_| io::Error::other("a compression worker stopped"))?;
            number += 1;
            written.in_flight += 1;
            // One block per worker in flight, plus the one being read; all drained at the end.
            while written.in_flight > workers.max(1) || (last && written.in_flight > 0) {
                let (n, result) = results
                    .recv()
                    .map_err(|_| io::Error::other("a compression worker stopped"))?;
                written.accept(n, result?, out)?;
            }
            if last {
                break;
            }
        }
        drop(jobs);
        Ok(())
    })?;
    out.write_all(&crc.finalize().to_le_bytes())?;
    // ISIZE: the input's length modulo 2^32, as RFC 1952 says.
    out.write_all(&(total as u32).to_le_bytes())?;
    Ok(())
}

/// Writes finished blocks in order.
struct Writer {
    next: u64,
    ready: BTreeMap<u64, Vec<u8>>,
    in_flight: usize,
}

impl Writer {
    fn accept(&mut self, number: u64, bytes: Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
        self.in_flight -= 1;
        self.ready.insert(number, bytes);
        while let Some(bytes) = self.ready.remove(&self.next) {
            out.write_all(&bytes)?;
            self.next += 1;
        }
        Ok(())
    }
}

/// Bytes of each sample that [`looks_incompressible`] deflates, and how many samples a block gets.
const SAMPLE: usize = 4 * 1024;
const SAMPLES: usize = 16;

/// Whether deflate would save next to nothing on `input` (under 2 % on every sample; the samples
/// are at most 68 KiB apart, so a compressible part larger than that is always seen): already-compressed content such as model weights, archives or media. Deflating it
/// at level 6 costs about 20 ns a byte for no gain, so such a block is stored instead, at the speed
/// of a copy (buildah's pgzip skips incompressible data likewise). The decision depends on the
/// bytes alone, so a layer still compresses to the same digest every time.
fn looks_incompressible(input: &[u8]) -> bool {
    if input.len() < SAMPLE * SAMPLES {
        return false;
    }
    (0..SAMPLES).all(|n| {
        let start = n * (input.len() - SAMPLE) / (SAMPLES - 1);
        let sample = &input[start..start + SAMPLE];
        let mut probe = Compress::new(flate2::Compression::fast(), false);
        let mut out = Vec::with_capacity(SAMPLE + SAMPLE / 8);
        match probe.compress_vec(sample, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => out.len() * 50 >= sample.len() * 49,
            _ => false,
        }
    })
}

/// Raw deflate of one block: finished (final bit set) for the last block, else flushed to a
/// byte boundary so the next block's output can follow it. A block deflate would not shrink is
/// stored (level 0).
fn deflate_block(level: u32, job: Job) -> io::Result<Vec<u8>> {
    let level = if level > 0 && looks_incompressible(&job.input) {
        0
    } else {
        level
    };
    let mut deflate = Compress::new(flate2::Compression::new(level), false);
    if level > 0 && !job.dictionary.is_empty() {
        deflate
            .set_dictionary(&job.dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.input.len() + job.input.len() / 16 + 64);
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity() / 2 + 1024);
        }
        let before_in = deflate.total_in();
        let status = deflate
            .compress_vec(&job.input[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        consumed += (deflate.total_in() - before_in) as usize;
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is in and output had room to spare.
            _ => !job.last && consumed == job.input.len() && out.capacity() > out.len(),
        };
        if done {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gzip(data: &[u8], chunk: usize, workers: usize) -> Vec<u8> {
        let mut chunks = data
            .chunks(chunk.max(1))
            .map(|c| Ok::<_, io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>()
            .into_iter();
        let mut out = Vec::new();
        compress(6, workers, || chunks.next(), &mut out, |e| e).unwrap();
        out
    }

    fn round_trip(data: &[u8], chunk: usize, workers: usize) {
        let out = gzip(data, chunk, workers);
        // The same bytes whatever the chunking and the number of workers, so a layer always
        // compresses to the same digest.
        assert!(out == gzip(data, 65_536, 1), "deterministic");
        let mut back = Vec::new();
        let mut decoder = flate2::read::GzDecoder::new(&out[..]);
        decoder.read_to_end(&mut back).unwrap();
        assert!(back == data, "{} bytes in {chunk}-byte chunks", data.len());
        // One member only: nothing follows the trailer.
        assert_eq!(decoder.into_inner().len(), 0);
    }

    #[test]
    fn any_size_and_chunking_round_trips() {
        let text: Vec<u8> = (0..3 * BLOCK + 12345)
            .map(|i| b"layer contents, somewhat repetitive "[i % 36])
            .collect();
        let mut state = 7u64;
        let noise: Vec<u8> = (0..2 * BLOCK + 1)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for (data, chunk) in [
            (&b""[..], 1),
            (&b"x"[..], 1),
            (&text[..BLOCK], 4096),
            (&text[..], 100_000),
            (&text[..], 3 * BLOCK),
            (&noise[..], 256 * 1024),
        ] {
            for workers in [1, 2, 3] {
                round_trip(data, chunk, workers);
            }
        }
    }

    #[test]
    fn the_dictionary_keeps_the_ratio_close_to_plain_gzip() {
        let text: Vec<u8> = (0..4 * BLOCK)
            .map(|i| b"abcdefghij klmnop "[i % 18])
            .collect();
        let mut chunks = vec![Ok::<_, io::Error>(bytes::Bytes::from(text.clone()))].into_iter();
        let mut parallel = Vec::new();
        compress(6, 2, || chunks.next(), &mut parallel, |e| e).unwrap();
        let mut plain = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        plain.write_all(&text).unwrap();
        let plain = plain.finish().unwrap();
        assert!(
            parallel.len() < plain.len() * 2 + 1024,
            "{} vs {}",
            parallel.len(),
            plain.len()
        );
    }

    #[test]
    fn incompressible_blocks_are_stored_and_compressible_parts_still_shrink() {
        let mut state = 11u64;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        let random = noise(3 * BLOCK);
        assert!(looks_incompressible(&random[..BLOCK]));
        let stored = gzip(&random, 100_000, 2);
        // Stored blocks: the input plus 5 bytes per 64 KiB, the header and the trailer.
        assert!(stored.len() <= random.len() + random.len() / 10_000 + 64);
        round_trip(&random, 100_000, 2);
        // A block that is noise but for one compressible part is deflated as before.
        let mut mixed = noise(BLOCK);
        for (i, byte) in mixed[BLOCK / 2..BLOCK / 2 + 64 * 1024]
            .iter_mut()
            .enumerate()
        {
            *byte = b"compressible text "[i % 18];
        }
        assert!(!looks_incompressible(&mixed));
        assert!(gzip(&mixed, BLOCK, 1).len() < BLOCK - 32 * 1024);
        round_trip(&mixed, 4096, 3);
    }

    #[test]
    fn an_input_error_stops_the_stream() {
        let mut chunks = vec![
            Ok(bytes::Bytes::from(vec![1u8; BLOCK + 5])),
            Err(io::Error::other("source broke")),
        ]
        .into_iter();
        let err = compress(6, 2, || chunks.next(), &mut Vec::new(), |e| e).unwrap_err();
        assert!(err.to_string().contains("source broke"));
    }
}

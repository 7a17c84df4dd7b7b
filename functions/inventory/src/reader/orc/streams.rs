//! The byte-level layers of an ORC stream: generic decompression of its chunks, and
//! the run-length encodings its values are written in (byte RLE, boolean RLE, integer
//! RLE versions 1 and 2).
//!
//! Decoders never hold the bytes they read: each keeps its position and is handed the
//! decompressed stream on every call, so a column owns its streams' buffers and
//! reuses them from stripe to stripe. Every read is bounds-checked; bytes that do not
//! decode are an [`OrcError::Malformed`] naming what was wrong.

use flate2::{Decompress, FlushDecompress, Status};

use super::OrcError;

/// The generic codec of an ORC file's streams and footers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    /// Raw deflate chunks; no chunk expands past `block_size` bytes.
    Zlib {
        block_size: usize,
    },
}

/// Undoes a file's generic compression, keeping one inflater for all its chunks.
pub(super) struct Decompressor {
    inflater: Decompress,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decompressor")
    }
}

impl Decompressor {
    pub(super) fn new() -> Self {
        Self {
            inflater: Decompress::new(false),
        }
    }

    /// Appends the decompressed contents of `input`, a whole compressed stream (or
    /// footer), to `out`.
    pub(super) fn decompress(
        &mut self,
        compression: Compression,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), OrcError> {
        let block_size = match compression {
            Compression::None => {
                out.extend_from_slice(input);
                return Ok(());
            }
            Compression::Zlib { block_size } => block_size,
        };
        let mut rest = input;
        while !rest.is_empty() {
            let (header, body) = rest
                .split_first_chunk::<3>()
                .ok_or_else(|| malformed("a compression chunk header is cut short"))?;
            let [low, middle, high] = *header;
            let header = u32::from(low) | (u32::from(middle) << 8) | (u32::from(high) << 16);
            let length = (header >> 1) as usize;
            let chunk = body.get(..length).ok_or_else(|| {
                malformed(format!(
                    "a compression chunk of {length} bytes runs past the end of its stream"
                ))
            })?;
            if header & 1 == 1 {
                if chunk.len() > block_size {
                    return Err(malformed(format!(
                        "an uncompressed chunk of {length} bytes exceeds the block size of {block_size}"
                    )));
                }
                out.extend_from_slice(chunk);
            } else {
                self.inflate_chunk(chunk, out, block_size)?;
            }
            rest = body.get(length..).unwrap_or_default();
        }
        Ok(())
    }

    /// Inflates one raw-deflate chunk onto `out`, failing if it holds more than
    /// `limit` bytes or ends before its last block.
    fn inflate_chunk(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), OrcError> {
        self.inflater.reset(false);
        let start = out.len();
        // Deflate rarely gains more than 8 times on inventory data; grow as needed.
        let mut room = input.len().saturating_mul(8).max(1 << 12).min(limit.max(1));
        loop {
            out.reserve(room);
            let consumed = self.inflater.total_in() as usize;
            let produced_before = out.len();
            let remaining = input.get(consumed..).unwrap_or_default();
            let status = self
                .inflater
                .decompress_vec(remaining, out, FlushDecompress::Finish)
                .map_err(|err| malformed(format!("a ZLIB chunk does not inflate: {err}")))?;
            if out.len() - start > limit {
                return Err(malformed(format!(
                    "a ZLIB chunk inflates past the block size of {limit} bytes"
                )));
            }
            match status {
                Status::StreamEnd => return Ok(()),
                Status::Ok | Status::BufError => {
                    let progressed =
                        out.len() > produced_before || self.inflater.total_in() as usize > consumed;
                    let output_full = out.len() == out.capacity();
                    if !output_full && !progressed {
                        return Err(malformed("a ZLIB chunk ends before its last block"));
                    }
                    if output_full {
                        room = room.saturating_mul(2).min(limit.max(1));
                    }
                }
            }
        }
    }
}

pub(super) fn malformed(reason: impl Into<String>) -> OrcError {
    OrcError::Malformed(reason.into())
}

fn ended() -> OrcError {
    malformed("a stream ends before the values its stripe promises")
}

fn byte_at(buf: &[u8], pos: &mut usize) -> Result<u8, OrcError> {
    let byte = *buf.get(*pos).ok_or_else(ended)?;
    *pos += 1;
    Ok(byte)
}

/// A base-128 varint, least significant group first.
pub(super) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, OrcError> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = byte_at(buf, pos)?;
        if shift > 63 {
            return Err(malformed("a varint is longer than ten bytes"));
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

pub(super) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A big-endian unsigned value of `bytes` bytes (1 to 8).
fn read_be(buf: &[u8], pos: &mut usize, bytes: usize) -> Result<u64, OrcError> {
    let end = pos.checked_add(bytes).ok_or_else(ended)?;
    let slice = buf.get(*pos..end).ok_or_else(ended)?;
    *pos = end;
    Ok(slice
        .iter()
        .fold(0u64, |value, byte| (value << 8) | u64::from(*byte)))
}

/// Appends `count` values of `width` bits (0 to 64), packed big-endian from the most
/// significant bit and padded to a whole byte at the end, to `out`.
fn unpack(
    buf: &[u8],
    pos: &mut usize,
    width: u32,
    count: usize,
    out: &mut Vec<i64>,
) -> Result<(), OrcError> {
    if width == 0 {
        out.extend(std::iter::repeat_n(0, count));
        return Ok(());
    }
    if width > 64 {
        return Err(malformed(format!("a bit width of {width} exceeds 64")));
    }
    let bits = (width as usize).checked_mul(count).ok_or_else(ended)?;
    let bytes = bits.div_ceil(8);
    let end = pos.checked_add(bytes).ok_or_else(ended)?;
    let packed = buf.get(*pos..end).ok_or_else(ended)?;
    *pos = end;
    out.reserve(count);
    match width {
        8 => out.extend(packed.iter().map(|b| i64::from(*b))),
        16 => out.extend(
            packed
                .as_chunks::<2>()
                .0
                .iter()
                .map(|pair| i64::from(u16::from_be_bytes(*pair))),
        ),
        32 => out.extend(
            packed
                .as_chunks::<4>()
                .0
                .iter()
                .map(|quad| i64::from(u32::from_be_bytes(*quad))),
        ),
        64 => out.extend(
            packed
                .as_chunks::<8>()
                .0
                .iter()
                .map(|eight| i64::from_be_bytes(*eight)),
        ),
        w if w % 8 == 0 => {
            let size = (w / 8) as usize;
            out.extend(packed.chunks_exact(size).map(|c| {
                c.iter()
                    .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
                    as i64
            }));
        }
        w if w <= 56 => {
            let mask = (1u64 << w) - 1;
            let mut acc = 0u64;
            let mut held = 0u32;
            let mut bytes = packed.iter();
            for _ in 0..count {
                while held < w {
                    acc = (acc << 8) | u64::from(*bytes.next().unwrap_or(&0));
                    held += 8;
                }
                held -= w;
                out.push(((acc >> held) & mask) as i64);
            }
        }
        w => {
            let mask = u128::from(u64::MAX) >> (64 - w);
            let mut acc = 0u128;
            let mut held = 0u32;
            let mut bytes = packed.iter();
            for _ in 0..count {
                while held < w {
                    acc = (acc << 8) | u128::from(*bytes.next().unwrap_or(&0));
                    held += 8;
                }
                held -= w;
                out.push(((acc >> held) & mask) as u64 as i64);
            }
        }
    }
    Ok(())
}

/// The bit width a 5-bit code of RLE v2 stands for.
fn decode_width(code: u8) -> u32 {
    match code & 0x1f {
        code @ 0..=23 => u32::from(code) + 1,
        24 => 26,
        25 => 28,
        26 => 30,
        27 => 32,
        28 => 40,
        29 => 48,
        30 => 56,
        _ => 64,
    }
}

/// The width a patch list entry of `bits` bits is padded to.
fn closest_fixed_bits(bits: u32) -> u32 {
    match bits {
        0..=24 => bits.max(1),
        25..=26 => 26,
        27..=28 => 28,
        29..=30 => 30,
        31..=32 => 32,
        33..=40 => 40,
        41..=48 => 48,
        49..=56 => 56,
        _ => 64,
    }
}

/// Which integer run-length encoding a stream uses: version 1 for the `DIRECT` and
/// `DICTIONARY` column encodings, version 2 for their `_V2` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RleVersion {
    V1,
    V2,
}

/// Integer run-length decoding of one stream: signed streams zigzag-encode their
/// values, unsigned ones (lengths, dictionary ids, nanoseconds) do not.
#[derive(Debug)]
pub(super) struct IntDecoder {
    version: RleVersion,
    signed: bool,
    pos: usize,
    /// Values of the last run not yet handed out.
    held: Vec<i64>,
    held_pos: usize,
}

impl IntDecoder {
    pub(super) fn new(version: RleVersion, signed: bool) -> Self {
        Self {
            version,
            signed,
            pos: 0,
            held: Vec::new(),
            held_pos: 0,
        }
    }

    /// Starts over on a new stream (a new stripe's).
    pub(super) fn reset(&mut self, version: RleVersion) {
        self.version = version;
        self.pos = 0;
        self.held.clear();
        self.held_pos = 0;
    }

    /// Appends the next `n` values of the stream `buf` to `out`.
    pub(super) fn read(
        &mut self,
        buf: &[u8],
        n: usize,
        out: &mut Vec<i64>,
    ) -> Result<(), OrcError> {
        let target = out.len() + n;
        let held = self.held.get(self.held_pos..).unwrap_or_default();
        let take = held.len().min(n);
        out.extend_from_slice(&held[..take]);
        self.held_pos += take;
        while out.len() < target {
            match self.version {
                RleVersion::V1 => self.run_v1(buf, out)?,
                RleVersion::V2 => self.run_v2(buf, out)?,
            }
            if out.len() > target {
                self.held.clear();
                self.held.extend_from_slice(&out[target..]);
                self.held_pos = 0;
                out.truncate(target);
            }
        }
        Ok(())
    }

    fn varint(&self, buf: &[u8], pos: &mut usize) -> Result<i64, OrcError> {
        let value = read_varint(buf, pos)?;
        Ok(if self.signed {
            unzigzag(value)
        } else {
            value as i64
        })
    }

    /// One run of RLE v1: up to 130 values of a fixed delta, or up to 128 literals.
    fn run_v1(&mut self, buf: &[u8], out: &mut Vec<i64>) -> Result<(), OrcError> {
        let mut pos = self.pos;
        let header = byte_at(buf, &mut pos)?;
        if header < 0x80 {
            let count = usize::from(header) + 3;
            let delta = i64::from(byte_at(buf, &mut pos)? as i8);
            let mut value = self.varint(buf, &mut pos)?;
            out.reserve(count);
            for _ in 0..count {
                out.push(value);
                value = value.wrapping_add(delta);
            }
        } else {
            let count = 256 - usize::from(header);
            out.reserve(count);
            for _ in 0..count {
                let value = self.varint(buf, &mut pos)?;
                out.push(value);
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// One run of RLE v2, in any of its four sub-encodings.
    fn run_v2(&mut self, buf: &[u8], out: &mut Vec<i64>) -> Result<(), OrcError> {
        let mut pos = self.pos;
        let header = byte_at(buf, &mut pos)?;
        match header >> 6 {
            0 => {
                // Short repeat: 3 to 10 copies of one value of 1 to 8 bytes.
                let bytes = usize::from((header >> 3) & 0x07) + 1;
                let count = usize::from(header & 0x07) + 3;
                let raw = read_be(buf, &mut pos, bytes)?;
                let value = if self.signed {
                    unzigzag(raw)
                } else {
                    raw as i64
                };
                out.extend(std::iter::repeat_n(value, count));
            }
            1 => {
                // Direct: bit-packed values.
                let width = decode_width(header >> 1);
                let count = run_length(header, buf, &mut pos)?;
                let start = out.len();
                unpack(buf, &mut pos, width, count, out)?;
                if self.signed {
                    for value in &mut out[start..] {
                        *value = unzigzag(*value as u64);
                    }
                }
            }
            2 => self.patched_base(header, buf, &mut pos, out)?,
            _ => {
                // Delta: a base, a first delta, then the magnitudes of the others.
                let code = (header >> 1) & 0x1f;
                let width = if code == 0 { 0 } else { decode_width(code) };
                let count = run_length(header, buf, &mut pos)?;
                let base = self.varint(buf, &mut pos)?;
                let delta = unzigzag(read_varint(buf, &mut pos)?);
                out.reserve(count);
                out.push(base);
                if width == 0 {
                    let mut value = base;
                    for _ in 1..count {
                        value = value.wrapping_add(delta);
                        out.push(value);
                    }
                } else {
                    if count < 2 {
                        return Err(malformed("a delta run of packed deltas has one value"));
                    }
                    let mut value = base.wrapping_add(delta);
                    out.push(value);
                    let start = out.len();
                    unpack(buf, &mut pos, width, count - 2, out)?;
                    for slot in &mut out[start..] {
                        value = if delta < 0 {
                            value.wrapping_sub(*slot)
                        } else {
                            value.wrapping_add(*slot)
                        };
                        *slot = value;
                    }
                }
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// Patched base: values packed at a narrow width above a base, with a short list
    /// of patches supplying the high bits of the few that do not fit.
    fn patched_base(
        &self,
        header: u8,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<i64>,
    ) -> Result<(), OrcError> {
        let width = decode_width(header >> 1);
        let count = run_length(header, buf, pos)?;
        let third = byte_at(buf, pos)?;
        let fourth = byte_at(buf, pos)?;
        let base_bytes = usize::from(third >> 5) + 1;
        let patch_width = decode_width(third);
        let gap_width = u32::from(fourth >> 5) + 1;
        let patches = usize::from(fourth & 0x1f);
        let raw_base = read_be(buf, pos, base_bytes)?;
        let sign = 1u64 << (base_bytes * 8 - 1);
        let base = if raw_base & sign != 0 {
            ((raw_base & !sign) as i64).wrapping_neg()
        } else {
            raw_base as i64
        };
        let start = out.len();
        unpack(buf, pos, width, count, out)?;
        if patch_width + gap_width > 64 {
            return Err(malformed(format!(
                "a patch of {patch_width} bits with a gap of {gap_width} bits exceeds 64 bits"
            )));
        }
        let mut list = Vec::with_capacity(patches);
        unpack(
            buf,
            pos,
            closest_fixed_bits(patch_width + gap_width),
            patches,
            &mut list,
        )?;
        let patch_mask = u64::MAX >> (64 - patch_width);
        let mut index = 0usize;
        for entry in list {
            let entry = entry as u64;
            let gap = (entry >> patch_width) as usize;
            let patch = entry & patch_mask;
            index = index.saturating_add(gap);
            if patch == 0 {
                // A filler entry that only skips a gap longer than 255 values.
                continue;
            }
            let slot = out
                .get_mut(start + index)
                .filter(|_| index < count)
                .ok_or_else(|| malformed("a patch lies past the end of its run"))?;
            let high = patch
                .checked_shl(width)
                .filter(|_| width < 64)
                .ok_or_else(|| malformed("a patch shifts past 64 bits"))?;
            *slot = ((*slot as u64) | high) as i64;
        }
        for value in &mut out[start..] {
            *value = base.wrapping_add(*value);
        }
        Ok(())
    }
}

/// The 9-bit run length of an RLE v2 header (the low bit of its first byte and all of
/// its second), plus one.
fn run_length(header: u8, buf: &[u8], pos: &mut usize) -> Result<usize, OrcError> {
    let low = byte_at(buf, pos)?;
    Ok(((usize::from(header & 1) << 8) | usize::from(low)) + 1)
}

/// Byte run-length decoding: runs of 3 to 130 copies of a byte, or 1 to 128 literal
/// bytes.
#[derive(Debug, Default)]
pub(super) struct ByteDecoder {
    pos: usize,
    /// Bytes left in the current group, and the repeated byte when it is a run.
    left: usize,
    repeat: Option<u8>,
}

impl ByteDecoder {
    pub(super) fn next(&mut self, buf: &[u8]) -> Result<u8, OrcError> {
        if self.left == 0 {
            let header = byte_at(buf, &mut self.pos)?;
            if header < 0x80 {
                self.left = usize::from(header) + 3;
                self.repeat = Some(byte_at(buf, &mut self.pos)?);
            } else {
                self.left = 256 - usize::from(header);
                self.repeat = None;
            }
        }
        self.left -= 1;
        match self.repeat {
            Some(byte) => Ok(byte),
            None => byte_at(buf, &mut self.pos),
        }
    }
}

/// Boolean run-length decoding: byte RLE over bits, most significant bit first.
#[derive(Debug, Default)]
pub(super) struct BoolDecoder {
    bytes: ByteDecoder,
    current: u8,
    bits_left: u32,
}

impl BoolDecoder {
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Appends the next `n` values of the stream `buf` to `out`.
    pub(super) fn read(
        &mut self,
        buf: &[u8],
        n: usize,
        out: &mut Vec<bool>,
    ) -> Result<(), OrcError> {
        out.reserve(n);
        let mut left = n;
        while left > 0 {
            if self.bits_left == 0 {
                self.current = self.bytes.next(buf)?;
                self.bits_left = 8;
                // A whole byte at once while it fits.
                if left >= 8 {
                    let byte = self.current;
                    out.extend((0..8).rev().map(|bit| byte & (1 << bit) != 0));
                    self.bits_left = 0;
                    left -= 8;
                    continue;
                }
            }
            self.bits_left -= 1;
            out.push(self.current & (1 << self.bits_left) != 0);
            left -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(bytes: &[u8], version: RleVersion, signed: bool, n: usize) -> Vec<i64> {
        let mut decoder = IntDecoder::new(version, signed);
        let mut out = Vec::new();
        decoder.read(bytes, n, &mut out).unwrap();
        out
    }

    #[test]
    fn rle_v2_examples_of_the_specification() {
        assert_eq!(
            ints(&[0x0a, 0x27, 0x10], RleVersion::V2, false, 5),
            [10000; 5]
        );
        assert_eq!(
            ints(
                &[0x5e, 0x03, 0x5c, 0xa1, 0xab, 0x1e, 0xde, 0xad, 0xbe, 0xef],
                RleVersion::V2,
                false,
                4
            ),
            [23713, 43806, 57005, 48879]
        );
        assert_eq!(
            ints(
                &[
                    0x8e, 0x13, 0x2b, 0x21, 0x07, 0xd0, 0x1e, 0x00, 0x14, 0x70, 0x28, 0x32, 0x3c,
                    0x46, 0x50, 0x5a, 0x64, 0x6e, 0x78, 0x82, 0x8c, 0x96, 0xa0, 0xaa, 0xb4, 0xbe,
                    0xfc, 0xe8
                ],
                RleVersion::V2,
                false,
                20
            ),
            [
                2030, 2000, 2020, 1000000, 2040, 2050, 2060, 2070, 2080, 2090, 2100, 2110, 2120,
                2130, 2140, 2150, 2160, 2170, 2180, 2190
            ]
        );
        assert_eq!(
            ints(
                &[0xc6, 0x09, 0x02, 0x02, 0x22, 0x42, 0x42, 0x46],
                RleVersion::V2,
                false,
                10
            ),
            [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
        );
    }

    #[test]
    fn rle_v1_examples_of_the_specification() {
        assert_eq!(
            ints(&[0x61, 0x00, 0x07], RleVersion::V1, false, 100),
            [7; 100]
        );
        let down: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(ints(&[0x61, 0xff, 0x64], RleVersion::V1, false, 100), down);
        assert_eq!(
            ints(
                &[0xfb, 0x02, 0x03, 0x04, 0x07, 0x0b],
                RleVersion::V1,
                false,
                5
            ),
            [2, 3, 4, 7, 11]
        );
        // Signed: zigzag.
        assert_eq!(
            ints(&[0xfd, 0x01, 0x02, 0x03], RleVersion::V1, true, 3),
            [-1, 1, -2]
        );
    }

    #[test]
    fn a_read_may_end_inside_a_run_and_the_next_goes_on_from_there() {
        let bytes = [
            0xc6, 0x09, 0x02, 0x02, 0x22, 0x42, 0x42, 0x46, 0x0a, 0x27, 0x10,
        ];
        let mut decoder = IntDecoder::new(RleVersion::V2, false);
        let mut out = Vec::new();
        for n in [3, 4, 5, 3] {
            decoder.read(&bytes, n, &mut out).unwrap();
        }
        assert_eq!(
            out,
            [
                2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 10000, 10000, 10000, 10000, 10000
            ]
        );
        assert!(matches!(
            decoder.read(&bytes, 1, &mut out),
            Err(OrcError::Malformed(_))
        ));
    }

    #[test]
    fn byte_and_boolean_rle_examples_of_the_specification() {
        let mut bytes = ByteDecoder::default();
        let hundred: Vec<u8> = (0..100)
            .map(|_| bytes.next(&[0x61, 0x00]).unwrap())
            .collect();
        assert_eq!(hundred, [0; 100]);
        let mut bytes = ByteDecoder::default();
        let literal = [0xfe, 0x44, 0x45];
        assert_eq!(bytes.next(&literal).unwrap(), 0x44);
        assert_eq!(bytes.next(&literal).unwrap(), 0x45);
        assert!(bytes.next(&literal).is_err());

        let mut bools = BoolDecoder::default();
        let mut out = Vec::new();
        bools.read(&[0xfe, 0xff, 0x80], 3, &mut out).unwrap();
        bools.read(&[0xfe, 0xff, 0x80], 13, &mut out).unwrap();
        let mut expected = vec![true; 8];
        expected.push(true);
        expected.extend([false; 7]);
        assert_eq!(out, expected);
    }

    #[test]
    fn truncated_runs_are_errors_not_panics() {
        let whole = [
            0x8e, 0x13, 0x2b, 0x21, 0x07, 0xd0, 0x1e, 0x00, 0x14, 0x70, 0x28, 0x32, 0x3c, 0x46,
            0x50, 0x5a, 0x64, 0x6e, 0x78, 0x82, 0x8c, 0x96, 0xa0, 0xaa, 0xb4, 0xbe, 0xfc, 0xe8,
        ];
        for end in 0..whole.len() {
            let mut decoder = IntDecoder::new(RleVersion::V2, true);
            assert!(decoder.read(&whole[..end], 20, &mut Vec::new()).is_err());
        }
        // Every header byte, followed by arbitrary bytes, decodes or fails cleanly.
        for header in 0..=255u8 {
            for fill in [0x00, 0x7f, 0xff] {
                let bytes = [header, fill, fill, fill, fill, fill, fill];
                for version in [RleVersion::V1, RleVersion::V2] {
                    let mut decoder = IntDecoder::new(version, header % 2 == 0);
                    let _ = decoder.read(&bytes, 600, &mut Vec::new());
                }
            }
        }
    }

    #[test]
    fn chunks_are_stored_or_deflated() {
        use std::io::Write;

        let text = b"inventory-test/key1inventory-test/key2".repeat(20);
        let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        deflated.write_all(&text).unwrap();
        let deflated = deflated.finish().unwrap();
        let mut stream = Vec::new();
        let header = (deflated.len() as u32) << 1;
        stream.extend_from_slice(&header.to_le_bytes()[..3]);
        stream.extend_from_slice(&deflated);
        let header = (5u32 << 1) | 1;
        stream.extend_from_slice(&header.to_le_bytes()[..3]);
        stream.extend_from_slice(b"tail!");

        let mut decompressor = Decompressor::new();
        let mut out = Vec::new();
        let zlib = Compression::Zlib { block_size: 4096 };
        decompressor.decompress(zlib, &stream, &mut out).unwrap();
        let mut expected = text.clone();
        expected.extend_from_slice(b"tail!");
        assert_eq!(out, expected);

        // A chunk larger than the block size, a cut chunk and a cut header are errors.
        let small = Compression::Zlib { block_size: 100 };
        assert!(decompressor.decompress(small, &stream, &mut out).is_err());
        let boundary = 3 + deflated.len();
        for end in (1..stream.len()).filter(|end| *end != boundary) {
            let mut out = Vec::new();
            assert!(
                decompressor
                    .decompress(zlib, &stream[..end], &mut out)
                    .is_err(),
                "cut at {end}"
            );
        }
    }
}

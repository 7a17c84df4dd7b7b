//! An ORC file's layout: its tail (postscript, footer and stripe statistics), read
//! once on opening, and each stripe's footer and streams, read when the stripe is
//! decoded. Every length and offset the file gives is checked against the file
//! before anything is read or allocated for it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use prost::Message;

use super::OrcError;
use super::proto::{
    ColumnEncoding, CompressionKind, EncodingKind, Footer, Metadata, PostScript, StreamKind,
    StripeFooter,
};
use super::streams::{Compression, Decompressor, malformed};

/// How much of the end of the file is read at first: the postscript and, usually,
/// the footer and stripe statistics with it.
const TAIL_GUESS: u64 = 16 * 1024;

/// The block size of the ZLIB chunks when the postscript does not say.
const DEFAULT_BLOCK_SIZE: u64 = 256 * 1024;

const MAGIC: &[u8] = b"ORC";

/// An open ORC file and what its tail says.
pub(super) struct OrcFile {
    handle: File,
    len: u64,
    /// Where the stripes end: the metadata section or the footer starts there.
    content_end: u64,
    pub(super) compression: Compression,
    pub(super) footer: Footer,
    /// Per-stripe statistics, when the file has them and they decode.
    pub(super) metadata: Option<Metadata>,
    /// The writer version of the postscript (0 for the oldest Java writers, whose
    /// string statistics are not to be trusted).
    pub(super) writer_version: u32,
    decompressor: Decompressor,
    /// Compressed bytes of the section being read.
    raw: Vec<u8>,
}

/// One stream of a stripe: its column, kind and place in the file.
#[derive(Debug, Clone, Copy)]
struct StreamLocation {
    column: u32,
    kind: i32,
    offset: u64,
    length: u64,
}

/// A stripe's directory: its row count, column encodings and where its streams are.
#[derive(Debug)]
pub(super) struct Stripe {
    pub(super) index: usize,
    pub(super) rows: u64,
    pub(super) footer: StripeFooter,
    streams: Vec<StreamLocation>,
}

impl Stripe {
    /// How `column` is encoded in this stripe.
    pub(super) fn encoding(
        &self,
        column: u32,
    ) -> Result<(EncodingKind, &ColumnEncoding), OrcError> {
        let encoding = self.footer.columns.get(column as usize).ok_or_else(|| {
            malformed(format!(
                "stripe {} gives no encoding for column {column}",
                self.index
            ))
        })?;
        let raw = encoding.kind.unwrap_or_default();
        let kind = EncodingKind::try_from(raw).map_err(|_| {
            malformed(format!(
                "column {column} of stripe {} has unknown encoding {raw}",
                self.index
            ))
        })?;
        Ok((kind, encoding))
    }
}

impl OrcFile {
    /// Reads and checks the tail of the file open as `handle`.
    pub(super) fn open(mut handle: File) -> Result<Self, OrcError> {
        let len = handle.metadata()?.len();
        if len < MAGIC.len() as u64 + 1 {
            return Err(malformed(format!(
                "the file is {len} bytes long, too short to be ORC"
            )));
        }
        let mut header = Vec::new();
        read_exact_at(&mut handle, 0, MAGIC.len() as u64, &mut header)?;
        if header != MAGIC {
            return Err(malformed("the file does not start with ORC's magic bytes"));
        }

        let tail_len = len.min(TAIL_GUESS);
        let mut tail = Vec::new();
        read_exact_at(&mut handle, len - tail_len, tail_len, &mut tail)?;
        let (&postscript_len, before) = tail
            .split_last()
            .ok_or_else(|| malformed("the file has no postscript"))?;
        let postscript_len = usize::from(postscript_len);
        let postscript_start = before
            .len()
            .checked_sub(postscript_len)
            .filter(|_| postscript_len > 0)
            .ok_or_else(|| {
                malformed(format!(
                    "the postscript length {postscript_len} does not fit the file"
                ))
            })?;
        let postscript = before.get(postscript_start..).unwrap_or_default();
        let postscript = PostScript::decode(postscript)
            .map_err(|err| malformed(format!("the postscript does not decode: {err}")))?;
        if postscript
            .magic
            .as_deref()
            .is_some_and(|magic| magic.as_bytes() != MAGIC)
        {
            return Err(malformed("the postscript lacks ORC's magic"));
        }
        let compression = compression(&postscript)?;

        let footer_len = postscript.footer_length.unwrap_or(0);
        let metadata_len = postscript.metadata_length.unwrap_or(0);
        if footer_len == 0 {
            return Err(malformed("the postscript gives no footer length"));
        }
        let tail_bytes = 1u64
            .checked_add(postscript_len as u64)
            .and_then(|n| n.checked_add(footer_len))
            .and_then(|n| n.checked_add(metadata_len))
            .filter(|n| *n <= len - MAGIC.len() as u64)
            .ok_or_else(|| {
                malformed(format!(
                    "a footer of {footer_len} bytes and statistics of {metadata_len} bytes do not fit a file of {len} bytes"
                ))
            })?;
        let footer_offset = len - 1 - postscript_len as u64 - footer_len;
        let content_end = len - tail_bytes;

        let mut file = OrcFile {
            handle,
            len,
            content_end,
            compression,
            footer: Footer::default(),
            metadata: None,
            writer_version: postscript.writer_version.unwrap_or(0),
            decompressor: Decompressor::new(),
            raw: Vec::new(),
        };
        let mut bytes = Vec::new();
        file.read_section(footer_offset, footer_len, &mut bytes)?;
        file.footer = Footer::decode(bytes.as_slice())
            .map_err(|err| malformed(format!("the footer does not decode: {err}")))?;
        if metadata_len > 0 {
            // Statistics only inform: a file whose statistics do not decode is still read.
            bytes.clear();
            file.metadata = file
                .read_section(content_end, metadata_len, &mut bytes)
                .ok()
                .and_then(|()| Metadata::decode(bytes.as_slice()).ok());
        }
        Ok(file)
    }

    /// The file's length in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Reads `length` bytes at `offset` and appends them, decompressed, to `out`.
    fn read_section(
        &mut self,
        offset: u64,
        length: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), OrcError> {
        if offset.checked_add(length).is_none_or(|end| end > self.len) {
            return Err(malformed(format!(
                "a section of {length} bytes at offset {offset} runs past the end of the file ({} bytes)",
                self.len
            )));
        }
        let mut raw = std::mem::take(&mut self.raw);
        let read = read_exact_at(&mut self.handle, offset, length, &mut raw)
            .and_then(|()| self.decompressor.decompress(self.compression, &raw, out));
        self.raw = raw;
        read
    }

    /// Reads stripe `index`'s footer and locates its streams.
    pub(super) fn stripe(&mut self, index: usize) -> Result<Stripe, OrcError> {
        let info = self
            .footer
            .stripes
            .get(index)
            .ok_or_else(|| malformed(format!("there is no stripe {index}")))?;
        let offset = info.offset.unwrap_or(0);
        let index_len = info.index_length.unwrap_or(0);
        let data_len = info.data_length.unwrap_or(0);
        let footer_len = info.footer_length.unwrap_or(0);
        let rows = info.number_of_rows.unwrap_or(0);
        let data_end = offset
            .checked_add(index_len)
            .and_then(|n| n.checked_add(data_len))
            .filter(|end| {
                end.checked_add(footer_len)
                    .is_some_and(|end| end <= self.content_end)
            })
            .ok_or_else(|| {
                malformed(format!(
                    "stripe {index} (offset {offset}, {index_len} + {data_len} + {footer_len} bytes) runs past the stripes' end at {}",
                    self.content_end
                ))
            })?;
        let mut bytes = Vec::new();
        self.read_section(data_end, footer_len, &mut bytes)?;
        let footer = StripeFooter::decode(bytes.as_slice()).map_err(|err| {
            malformed(format!(
                "the footer of stripe {index} does not decode: {err}"
            ))
        })?;
        let mut streams = Vec::with_capacity(footer.streams.len());
        let mut position = offset;
        for stream in &footer.streams {
            let length = stream.length.unwrap_or(0);
            let end = position
                .checked_add(length)
                .filter(|end| *end <= data_end)
                .ok_or_else(|| {
                    malformed(format!("the streams of stripe {index} run past its data"))
                })?;
            streams.push(StreamLocation {
                column: stream.column.unwrap_or(0),
                kind: stream.kind.unwrap_or(0),
                offset: position,
                length,
            });
            position = end;
        }
        Ok(Stripe {
            index,
            rows,
            footer,
            streams,
        })
    }

    /// Replaces `out` with the decompressed contents of `column`'s stream of `kind`
    /// in `stripe`; returns whether the stripe has such a stream (`out` is left empty
    /// when not).
    pub(super) fn read_stream(
        &mut self,
        stripe: &Stripe,
        column: u32,
        kind: StreamKind,
        out: &mut Vec<u8>,
    ) -> Result<bool, OrcError> {
        out.clear();
        let found = stripe
            .streams
            .iter()
            .find(|s| s.column == column && s.kind == kind as i32)
            .copied();
        match found {
            Some(stream) => {
                self.read_section(stream.offset, stream.length, out)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

fn compression(postscript: &PostScript) -> Result<Compression, OrcError> {
    let raw = postscript.compression.unwrap_or(0);
    match CompressionKind::try_from(raw) {
        Ok(CompressionKind::None) => Ok(Compression::None),
        Ok(CompressionKind::Zlib) => {
            let block_size = postscript
                .compression_block_size
                .unwrap_or(DEFAULT_BLOCK_SIZE);
            let block_size = usize::try_from(block_size)
                .ok()
                .filter(|size| *size > 0)
                .ok_or_else(|| {
                    malformed(format!("a compression block size of {block_size} bytes"))
                })?;
            Ok(Compression::Zlib { block_size })
        }
        Ok(other) => Err(malformed(format!(
            "its compression {} is not supported (S3 Inventory writes ZLIB)",
            format!("{other:?}").to_uppercase()
        ))),
        Err(_) => Err(malformed(format!("unknown compression kind {raw}"))),
    }
}

/// Replaces `out` with the `length` bytes at `offset`.
fn read_exact_at(
    handle: &mut File,
    offset: u64,
    length: u64,
    out: &mut Vec<u8>,
) -> Result<(), OrcError> {
    out.clear();
    let length =
        usize::try_from(length).map_err(|_| malformed(format!("a section of {length} bytes")))?;
    out.resize(length, 0);
    handle.seek(SeekFrom::Start(offset))?;
    handle.read_exact(out).map_err(|err| match err.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            malformed(format!("the file ends inside a section at offset {offset}"))
        }
        _ => OrcError::Io(err),
    })
}

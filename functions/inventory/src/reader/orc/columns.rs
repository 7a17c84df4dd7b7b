//! The columns the import reads, each decoded a batch of rows at a time from its
//! stripe's streams: strings (direct or dictionary), booleans, integers and
//! timestamps, with nulls where the column's PRESENT stream says so.
//!
//! A column keeps its streams' decompressed bytes for the stripe being read and the
//! values of the batch being visited, indexed by the batch's row; strings are spans of
//! the stream bytes, never copied.

use super::OrcError;
use super::file::{OrcFile, Stripe};
use super::proto::{EncodingKind, StreamKind};
use super::streams::{BoolDecoder, IntDecoder, RleVersion, malformed};

/// Unix seconds of 2015-01-01T00:00:00Z, from which ORC counts a timestamp's seconds.
const ORC_EPOCH_SECONDS: i64 = 1_420_070_400;

/// The integer run-length encoding of a column's streams in a stripe.
fn rle_version(stripe: &Stripe, column: u32) -> Result<(EncodingKind, RleVersion), OrcError> {
    let (kind, _) = stripe.encoding(column)?;
    let version = match kind {
        EncodingKind::Direct | EncodingKind::Dictionary => RleVersion::V1,
        EncodingKind::DirectV2 | EncodingKind::DictionaryV2 => RleVersion::V2,
    };
    Ok((kind, version))
}

/// Which of a batch's rows have a value.
#[derive(Debug, Default)]
struct Present {
    bytes: Vec<u8>,
    decoder: BoolDecoder,
    /// Whether the stripe has a PRESENT stream for the column (without one, every row
    /// has a value).
    exists: bool,
    valid: Vec<bool>,
}

impl Present {
    fn load(&mut self, file: &mut OrcFile, stripe: &Stripe, column: u32) -> Result<(), OrcError> {
        self.exists = file.read_stream(stripe, column, StreamKind::Present, &mut self.bytes)?;
        self.decoder.reset();
        Ok(())
    }

    /// Decodes the next `n` rows' presence; returns how many have a value.
    fn read(&mut self, n: usize) -> Result<usize, OrcError> {
        self.valid.clear();
        if !self.exists {
            self.valid.resize(n, true);
            return Ok(n);
        }
        self.decoder.read(&self.bytes, n, &mut self.valid)?;
        Ok(self.valid.iter().filter(|v| **v).count())
    }

    fn is_valid(&self, row: usize) -> bool {
        self.valid.get(row).copied().unwrap_or(false)
    }
}

/// Spreads the values of the rows that have one over all of a batch's rows, `fill`
/// standing in for nulls.
fn spread<T: Copy>(valid: &[bool], dense: &[T], fill: T, out: &mut Vec<T>) {
    out.clear();
    if dense.len() == valid.len() {
        out.extend_from_slice(dense);
        return;
    }
    let mut values = dense.iter();
    out.extend(valid.iter().map(|valid| match valid {
        true => values.next().copied().unwrap_or(fill),
        false => fill,
    }));
}

/// A string, varchar, char or binary column.
#[derive(Debug)]
pub(super) struct StringColumn {
    id: u32,
    present: Present,
    dictionary: bool,
    /// The DATA stream of a direct encoding, the DICTIONARY_DATA of a dictionary one.
    text: Vec<u8>,
    /// Bytes of `text` handed out so far (direct encoding).
    consumed: usize,
    lengths: Vec<u8>,
    length_decoder: IntDecoder,
    /// The DATA stream of a dictionary encoding: an entry id per value.
    ids: Vec<u8>,
    id_decoder: IntDecoder,
    /// Where each dictionary entry starts in `text`, and where the last ends.
    entries: Vec<usize>,
    scratch: Vec<i64>,
    /// Each row's value as a span of `text`.
    spans: Vec<(usize, usize)>,
}

impl StringColumn {
    pub(super) fn new(id: u32) -> Self {
        Self {
            id,
            present: Present::default(),
            dictionary: false,
            text: Vec::new(),
            consumed: 0,
            lengths: Vec::new(),
            length_decoder: IntDecoder::new(RleVersion::V2, false),
            ids: Vec::new(),
            id_decoder: IntDecoder::new(RleVersion::V2, false),
            entries: Vec::new(),
            scratch: Vec::new(),
            spans: Vec::new(),
        }
    }

    pub(super) fn id(&self) -> u32 {
        self.id
    }

    pub(super) fn load(&mut self, file: &mut OrcFile, stripe: &Stripe) -> Result<(), OrcError> {
        let id = self.id;
        let (kind, version) = rle_version(stripe, id)?;
        self.present.load(file, stripe, id)?;
        self.length_decoder.reset(version);
        self.id_decoder.reset(version);
        self.consumed = 0;
        file.read_stream(stripe, id, StreamKind::Length, &mut self.lengths)?;
        self.dictionary = matches!(kind, EncodingKind::Dictionary | EncodingKind::DictionaryV2);
        if !self.dictionary {
            file.read_stream(stripe, id, StreamKind::Data, &mut self.text)?;
            return Ok(());
        }
        file.read_stream(stripe, id, StreamKind::DictionaryData, &mut self.text)?;
        file.read_stream(stripe, id, StreamKind::Data, &mut self.ids)?;
        let size = stripe.encoding(id)?.1.dictionary_size.unwrap_or(0) as usize;
        // Entries are distinct, so all but one (the empty string) take a byte at least.
        if size > self.text.len() + 1 {
            return Err(malformed(format!(
                "column {id} has a dictionary of {size} entries in {} bytes",
                self.text.len()
            )));
        }
        self.scratch.clear();
        self.length_decoder
            .read(&self.lengths, size, &mut self.scratch)?;
        self.entries.clear();
        self.entries.reserve(size + 1);
        let mut end = 0usize;
        self.entries.push(0);
        for length in &self.scratch {
            end = usize::try_from(*length)
                .ok()
                .and_then(|length| end.checked_add(length))
                .filter(|end| *end <= self.text.len())
                .ok_or_else(|| {
                    malformed(format!(
                        "the dictionary of column {id} is longer than its data"
                    ))
                })?;
            self.entries.push(end);
        }
        Ok(())
    }

    /// Decodes the next `n` rows.
    pub(super) fn read(&mut self, n: usize) -> Result<(), OrcError> {
        let values = self.present.read(n)?;
        self.scratch.clear();
        self.spans.clear();
        self.spans.reserve(n);
        let id = self.id;
        if self.dictionary {
            self.id_decoder.read(&self.ids, values, &mut self.scratch)?;
            let mut ids = self.scratch.iter();
            for valid in &self.present.valid {
                if !valid {
                    self.spans.push((0, 0));
                    continue;
                }
                let entry = ids.next().copied().unwrap_or(-1);
                let span = usize::try_from(entry).ok().and_then(|entry| {
                    let start = *self.entries.get(entry)?;
                    let end = *self.entries.get(entry.checked_add(1)?)?;
                    Some((start, end))
                });
                let span = span.ok_or_else(|| {
                    malformed(format!(
                        "column {id} refers to dictionary entry {entry}, past its {} entries",
                        self.entries.len().saturating_sub(1)
                    ))
                })?;
                self.spans.push(span);
            }
        } else {
            self.length_decoder
                .read(&self.lengths, values, &mut self.scratch)?;
            let mut lengths = self.scratch.iter();
            for valid in &self.present.valid {
                if !valid {
                    self.spans.push((0, 0));
                    continue;
                }
                let length = lengths.next().copied().unwrap_or(-1);
                let start = self.consumed;
                let end = usize::try_from(length)
                    .ok()
                    .and_then(|length| start.checked_add(length))
                    .filter(|end| *end <= self.text.len())
                    .ok_or_else(|| {
                        malformed(format!(
                            "a value of column {id} of {length} bytes runs past its data"
                        ))
                    })?;
                self.spans.push((start, end));
                self.consumed = end;
            }
        }
        Ok(())
    }

    /// Row `row` of the batch; `None` when null.
    pub(super) fn get(&self, row: usize) -> Option<&[u8]> {
        if !self.present.is_valid(row) {
            return None;
        }
        let (start, end) = *self.spans.get(row)?;
        self.text.get(start..end)
    }

    /// The value as text: `Err` with its bytes when it is not UTF-8.
    pub(super) fn text(&self, row: usize) -> Option<Result<&str, &[u8]>> {
        self.get(row)
            .map(|bytes| std::str::from_utf8(bytes).map_err(|_| bytes))
    }
}

/// A boolean column.
#[derive(Debug)]
pub(super) struct BoolColumn {
    id: u32,
    present: Present,
    bytes: Vec<u8>,
    decoder: BoolDecoder,
    dense: Vec<bool>,
    values: Vec<bool>,
}

impl BoolColumn {
    pub(super) fn new(id: u32) -> Self {
        Self {
            id,
            present: Present::default(),
            bytes: Vec::new(),
            decoder: BoolDecoder::default(),
            dense: Vec::new(),
            values: Vec::new(),
        }
    }

    pub(super) fn load(&mut self, file: &mut OrcFile, stripe: &Stripe) -> Result<(), OrcError> {
        self.present.load(file, stripe, self.id)?;
        file.read_stream(stripe, self.id, StreamKind::Data, &mut self.bytes)?;
        self.decoder.reset();
        Ok(())
    }

    pub(super) fn read(&mut self, n: usize) -> Result<(), OrcError> {
        let values = self.present.read(n)?;
        self.dense.clear();
        self.decoder.read(&self.bytes, values, &mut self.dense)?;
        spread(&self.present.valid, &self.dense, false, &mut self.values);
        Ok(())
    }

    pub(super) fn get(&self, row: usize) -> Option<bool> {
        if !self.present.is_valid(row) {
            return None;
        }
        self.values.get(row).copied()
    }
}

/// How an integer column's values are read: as they are, or as an ORC timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IntKind {
    /// A signed integer (bigint, int, smallint).
    Plain,
    /// A timestamp: seconds since 2015-01-01 in DATA, nanoseconds in SECONDARY; read
    /// as milliseconds since the Unix epoch.
    Timestamp,
}

/// An integer or timestamp column.
#[derive(Debug)]
pub(super) struct IntColumn {
    id: u32,
    kind: IntKind,
    present: Present,
    data: Vec<u8>,
    decoder: IntDecoder,
    secondary: Vec<u8>,
    nanos_decoder: IntDecoder,
    dense: Vec<i64>,
    nanos: Vec<i64>,
    values: Vec<i64>,
}

impl IntColumn {
    pub(super) fn new(id: u32, kind: IntKind) -> Self {
        Self {
            id,
            kind,
            present: Present::default(),
            data: Vec::new(),
            decoder: IntDecoder::new(RleVersion::V2, true),
            secondary: Vec::new(),
            nanos_decoder: IntDecoder::new(RleVersion::V2, false),
            dense: Vec::new(),
            nanos: Vec::new(),
            values: Vec::new(),
        }
    }

    pub(super) fn load(&mut self, file: &mut OrcFile, stripe: &Stripe) -> Result<(), OrcError> {
        let (_, version) = rle_version(stripe, self.id)?;
        self.present.load(file, stripe, self.id)?;
        file.read_stream(stripe, self.id, StreamKind::Data, &mut self.data)?;
        self.decoder.reset(version);
        if self.kind == IntKind::Timestamp {
            file.read_stream(stripe, self.id, StreamKind::Secondary, &mut self.secondary)?;
            self.nanos_decoder.reset(version);
        }
        Ok(())
    }

    pub(super) fn read(&mut self, n: usize) -> Result<(), OrcError> {
        let values = self.present.read(n)?;
        self.dense.clear();
        self.decoder.read(&self.data, values, &mut self.dense)?;
        if self.kind == IntKind::Timestamp {
            self.nanos.clear();
            self.nanos_decoder
                .read(&self.secondary, values, &mut self.nanos)?;
            for (seconds, nanos) in self.dense.iter_mut().zip(&self.nanos) {
                *seconds = timestamp_millis(*seconds, *nanos)?;
            }
        }
        spread(&self.present.valid, &self.dense, 0, &mut self.values);
        Ok(())
    }

    pub(super) fn get(&self, row: usize) -> Option<i64> {
        if !self.present.is_valid(row) {
            return None;
        }
        self.values.get(row).copied()
    }
}

/// Milliseconds since the Unix epoch of an ORC timestamp: `seconds` since 2015-01-01
/// and `encoded` nanoseconds, whose low three bits count the trailing decimal zeros
/// taken off (0, or 2 to 8 zeros as 1 to 7).
fn timestamp_millis(seconds: i64, encoded: i64) -> Result<i64, OrcError> {
    let zeros = (encoded & 0x07) as u32;
    let mut nanos = (encoded as u64) >> 3;
    if zeros != 0 {
        nanos = nanos
            .checked_mul(10u64.pow(zeros + 1))
            .filter(|n| *n < 1_000_000_000)
            .ok_or_else(|| malformed(format!("a timestamp has {encoded} as nanoseconds")))?;
    } else if nanos >= 1_000_000_000 {
        return Err(malformed(format!("a timestamp has {nanos} nanoseconds")));
    }
    let mut seconds = seconds.saturating_add(ORC_EPOCH_SECONDS);
    // Writers count seconds before 1970 towards zero when there are milliseconds.
    if seconds < 0 && nanos > 999_999 {
        seconds -= 1;
    }
    Ok(seconds
        .saturating_mul(1000)
        .saturating_add((nanos / 1_000_000) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_milliseconds_since_the_unix_epoch() {
        // 2024-05-06T22:37:48Z, no fraction.
        assert_eq!(
            timestamp_millis(1_715_035_068 - ORC_EPOCH_SECONDS, 0).unwrap(),
            1_715_035_068_000
        );
        // 1000 ns is 1 with two zeros taken off (0x0a); 123 ms is 123 with 6 zeros.
        assert_eq!(timestamp_millis(0, 0x0a).unwrap(), 1_420_070_400_000);
        assert_eq!(
            timestamp_millis(0, (123 << 3) | 5).unwrap(),
            1_420_070_400_123
        );
        // Before 2015: negative seconds.
        assert_eq!(
            timestamp_millis(-ORC_EPOCH_SECONDS + 1, (5 << 3) | 7).unwrap(),
            1_500
        );
        // Before 1970, with milliseconds: the seconds were counted towards zero.
        assert_eq!(
            timestamp_millis(-ORC_EPOCH_SECONDS - 1, (5 << 3) | 7).unwrap(),
            -1_500
        );
        assert!(timestamp_millis(0, (10 << 3) | 7).is_err());
    }
}

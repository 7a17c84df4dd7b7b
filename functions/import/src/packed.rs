//! Rows packed into a shared text: where a row's key, ETag and version id lie, so that
//! rows by the million make no string each (the dry run's delivery rows, the
//! committer's staged batches).

/// Where a row's key, ETag and version id lie, back to back, in a text many rows
/// share: rows packed so make no string each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackedFields {
    start: usize,
    key_len: u32,
    etag_len: u32,
    version_len: Option<u32>,
}

impl PackedFields {
    /// The fields at `start` of a text, of these lengths; `Err` names the first field
    /// too long to pack.
    pub(crate) fn new(
        start: usize,
        key_len: usize,
        etag_len: usize,
        version_len: Option<usize>,
    ) -> Result<Self, &'static str> {
        let length = |len: usize, field| u32::try_from(len).map_err(|_| field);
        Ok(Self {
            start,
            key_len: length(key_len, "key")?,
            etag_len: length(etag_len, "ETag")?,
            version_len: version_len.map(|v| length(v, "version id")).transpose()?,
        })
    }

    /// Appends the fields to `text`, the key being `path` then `key` (an entry's
    /// repository path under a source's `--path`; empty: the key alone).
    pub(crate) fn push(
        text: &mut String,
        path: &str,
        key: &str,
        etag: &str,
        version_id: Option<&str>,
    ) -> Result<Self, &'static str> {
        let key_len = path.len() + key.len();
        let fields = Self::new(text.len(), key_len, etag.len(), version_id.map(str::len))?;
        text.push_str(path);
        text.push_str(key);
        text.push_str(etag);
        text.push_str(version_id.unwrap_or_default());
        Ok(fields)
    }

    pub(crate) fn start(&self) -> usize {
        self.start
    }

    fn key_end(&self) -> usize {
        self.start + self.key_len as usize
    }

    fn etag_end(&self) -> usize {
        self.key_end() + self.etag_len as usize
    }

    fn end(&self) -> usize {
        self.etag_end() + self.version_len.unwrap_or(0) as usize
    }

    /// Bytes of text the fields take, all three together.
    pub(crate) fn len(&self) -> usize {
        self.end() - self.start
    }

    pub(crate) fn key<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start..self.key_end()]
    }

    pub(crate) fn etag<'a>(&self, text: &'a str) -> &'a str {
        &text[self.key_end()..self.etag_end()]
    }

    pub(crate) fn version_id<'a>(&self, text: &'a str) -> Option<&'a str> {
        self.version_len.map(|_| &text[self.etag_end()..self.end()])
    }

    /// Whether every field starts and ends on a character of `text` (which makes each
    /// field of a valid text valid).
    pub(crate) fn on_char_boundaries(&self, text: &str) -> bool {
        [self.start, self.key_end(), self.etag_end(), self.end()]
            .into_iter()
            .all(|at| text.is_char_boundary(at))
    }
}

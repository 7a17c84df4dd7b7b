//! The protobuf messages of an ORC file's tail, stripe footers and statistics: the
//! subset of the ORC v1 specification's `orc_proto.proto` that reading and writing S3
//! Inventory data files needs. Fields this product never reads are left out; protobuf
//! decoding skips them.

/// `CompressionKind`: the generic codec of everything but the postscript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompressionKind {
    None = 0,
    Zlib = 1,
    Snappy = 2,
    Lzo = 3,
    Lz4 = 4,
    Zstd = 5,
}

/// The uncompressed last message of the file: where the footer is and how it is
/// compressed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostScript {
    #[prost(uint64, optional, tag = "1")]
    pub footer_length: Option<u64>,
    #[prost(enumeration = "CompressionKind", optional, tag = "2")]
    pub compression: Option<i32>,
    #[prost(uint64, optional, tag = "3")]
    pub compression_block_size: Option<u64>,
    #[prost(uint32, repeated, packed = "true", tag = "4")]
    pub version: Vec<u32>,
    #[prost(uint64, optional, tag = "5")]
    pub metadata_length: Option<u64>,
    #[prost(uint32, optional, tag = "6")]
    pub writer_version: Option<u32>,
    #[prost(string, optional, tag = "8000")]
    pub magic: Option<String>,
}

/// The file's schema, stripes, row count and file-level statistics.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Footer {
    #[prost(uint64, optional, tag = "1")]
    pub header_length: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    pub content_length: Option<u64>,
    #[prost(message, repeated, tag = "3")]
    pub stripes: Vec<StripeInformation>,
    #[prost(message, repeated, tag = "4")]
    pub types: Vec<Type>,
    #[prost(uint64, optional, tag = "6")]
    pub number_of_rows: Option<u64>,
    /// One per column id, the root struct first.
    #[prost(message, repeated, tag = "7")]
    pub statistics: Vec<ColumnStatistics>,
    #[prost(uint32, optional, tag = "8")]
    pub row_index_stride: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub writer: Option<u32>,
}

/// Where a stripe is and how many rows it holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StripeInformation {
    #[prost(uint64, optional, tag = "1")]
    pub offset: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    pub index_length: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub data_length: Option<u64>,
    #[prost(uint64, optional, tag = "4")]
    pub footer_length: Option<u64>,
    #[prost(uint64, optional, tag = "5")]
    pub number_of_rows: Option<u64>,
}

/// `Type.Kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TypeKind {
    Boolean = 0,
    Byte = 1,
    Short = 2,
    Int = 3,
    Long = 4,
    Float = 5,
    Double = 6,
    String = 7,
    Binary = 8,
    Timestamp = 9,
    List = 10,
    Map = 11,
    Struct = 12,
    Union = 13,
    Decimal = 14,
    Date = 15,
    Varchar = 16,
    Char = 17,
    TimestampInstant = 18,
}

impl TypeKind {
    /// The type's name in ORC's schema notation (`struct<…:bigint>`).
    pub fn schema_name(self) -> &'static str {
        match self {
            TypeKind::Boolean => "boolean",
            TypeKind::Byte => "tinyint",
            TypeKind::Short => "smallint",
            TypeKind::Int => "int",
            TypeKind::Long => "bigint",
            TypeKind::Float => "float",
            TypeKind::Double => "double",
            TypeKind::String => "string",
            TypeKind::Binary => "binary",
            TypeKind::Timestamp => "timestamp",
            TypeKind::List => "array",
            TypeKind::Map => "map",
            TypeKind::Struct => "struct",
            TypeKind::Union => "uniontype",
            TypeKind::Decimal => "decimal",
            TypeKind::Date => "date",
            TypeKind::Varchar => "varchar",
            TypeKind::Char => "char",
            TypeKind::TimestampInstant => "timestamp with local time zone",
        }
    }
}

/// One node of the schema tree; column ids are positions in `Footer.types`, in
/// pre-order, the root struct being column 0.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Type {
    #[prost(enumeration = "TypeKind", optional, tag = "1")]
    pub kind: Option<i32>,
    #[prost(uint32, repeated, packed = "true", tag = "2")]
    pub subtypes: Vec<u32>,
    #[prost(string, repeated, tag = "3")]
    pub field_names: Vec<String>,
    #[prost(uint32, optional, tag = "4")]
    pub maximum_length: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub precision: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub scale: Option<u32>,
}

/// The directory of a stripe: its streams in file order and each column's encoding.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StripeFooter {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<Stream>,
    /// One per column id.
    #[prost(message, repeated, tag = "2")]
    pub columns: Vec<ColumnEncoding>,
    #[prost(string, optional, tag = "3")]
    pub writer_timezone: Option<String>,
}

/// `Stream.Kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StreamKind {
    Present = 0,
    Data = 1,
    Length = 2,
    DictionaryData = 3,
    DictionaryCount = 4,
    Secondary = 5,
    RowIndex = 6,
    BloomFilter = 7,
    BloomFilterUtf8 = 8,
    EncryptedIndex = 9,
    EncryptedData = 10,
    StripeStatistics = 100,
    FileStatistics = 101,
}

/// One stream of a stripe: its kind, column and length in bytes; streams follow each
/// other from the stripe's offset in the order the footer lists them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stream {
    #[prost(enumeration = "StreamKind", optional, tag = "1")]
    pub kind: Option<i32>,
    #[prost(uint32, optional, tag = "2")]
    pub column: Option<u32>,
    #[prost(uint64, optional, tag = "3")]
    pub length: Option<u64>,
}

/// `ColumnEncoding.Kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EncodingKind {
    Direct = 0,
    Dictionary = 1,
    DirectV2 = 2,
    DictionaryV2 = 3,
}

/// How a column is encoded in a stripe.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ColumnEncoding {
    #[prost(enumeration = "EncodingKind", optional, tag = "1")]
    pub kind: Option<i32>,
    #[prost(uint32, optional, tag = "2")]
    pub dictionary_size: Option<u32>,
}

/// A column's statistics, for the file or for one stripe.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ColumnStatistics {
    #[prost(uint64, optional, tag = "1")]
    pub number_of_values: Option<u64>,
    #[prost(message, optional, tag = "2")]
    pub int_statistics: Option<IntegerStatistics>,
    #[prost(message, optional, tag = "4")]
    pub string_statistics: Option<StringStatistics>,
    #[prost(message, optional, tag = "5")]
    pub bucket_statistics: Option<BucketStatistics>,
    #[prost(message, optional, tag = "9")]
    pub timestamp_statistics: Option<TimestampStatistics>,
    #[prost(bool, optional, tag = "10")]
    pub has_null: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IntegerStatistics {
    #[prost(sint64, optional, tag = "1")]
    pub minimum: Option<i64>,
    #[prost(sint64, optional, tag = "2")]
    pub maximum: Option<i64>,
    #[prost(sint64, optional, tag = "3")]
    pub sum: Option<i64>,
}

/// The least and greatest value of a string column and the total length of its
/// values; writers that truncate long values give bounds instead of the minimum and
/// maximum.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStatistics {
    #[prost(string, optional, tag = "1")]
    pub minimum: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub maximum: Option<String>,
    #[prost(sint64, optional, tag = "3")]
    pub sum: Option<i64>,
    #[prost(string, optional, tag = "4")]
    pub lower_bound: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub upper_bound: Option<String>,
}

/// For a boolean column: how many values are true.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketStatistics {
    #[prost(uint64, repeated, packed = "true", tag = "1")]
    pub count: Vec<u64>,
}

/// Milliseconds since the Unix epoch: `minimum`/`maximum` in the writer's time zone,
/// the `_utc` pair in UTC.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimestampStatistics {
    #[prost(sint64, optional, tag = "1")]
    pub minimum: Option<i64>,
    #[prost(sint64, optional, tag = "2")]
    pub maximum: Option<i64>,
    #[prost(sint64, optional, tag = "3")]
    pub minimum_utc: Option<i64>,
    #[prost(sint64, optional, tag = "4")]
    pub maximum_utc: Option<i64>,
}

/// One stripe's statistics, one per column id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StripeStatistics {
    #[prost(message, repeated, tag = "1")]
    pub col_stats: Vec<ColumnStatistics>,
}

/// The section between the last stripe and the footer: per-stripe statistics.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(message, repeated, tag = "1")]
    pub stripe_stats: Vec<StripeStatistics>,
}

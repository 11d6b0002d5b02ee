//! Why a session description was refused, and on which line.

use super::crypto::CryptoError;

/// What was wrong with a session description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("empty session description")]
    Empty,
    #[error("session description too large")]
    TooLarge,
    #[error("too many lines")]
    TooManyLines,
    #[error("too many m= sections")]
    TooManyMedia,
    #[error("too many attributes in one section")]
    TooManyAttributes,
    #[error("too many formats on the m= line")]
    TooManyFormats,
    #[error("too many t= lines")]
    TooManyTimes,
    /// Not `<letter>=<value>`, or a NUL or stray CR in the line.
    #[error("not a `<type>=<value>` line")]
    BadLine,
    /// RFC 4566 says to ignore a description with a type we do not know.
    #[error("unknown line type `{0}=`")]
    UnknownType(char),
    /// A line type that belongs to the other section (`t=` in a media section).
    #[error("`{0}=` is not allowed here")]
    OutOfPlace(char),
    #[error("`{0}=` given twice")]
    Duplicate(char),
    #[error("first line is not v=")]
    MissingVersion,
    #[error("unsupported SDP version (only v=0)")]
    UnsupportedVersion,
    #[error("o= missing (it must follow v=)")]
    MissingOrigin,
    #[error("s= missing (it must follow o=)")]
    MissingSessionName,
    #[error("no t= line before the first m=")]
    MissingTiming,
    #[error("malformed o= line")]
    BadOrigin,
    #[error("malformed c= line")]
    BadConnection,
    #[error("malformed t= line")]
    BadTiming,
    #[error("malformed k= line")]
    BadKeyField,
    #[error("malformed m= line")]
    BadMedia,
    #[error("malformed attribute")]
    BadAttribute,
    #[error("malformed a=rtpmap")]
    BadRtpmap,
    #[error("malformed a=fmtp")]
    BadFmtp,
    #[error("malformed a=ptime")]
    BadPtime,
    #[error("direction attribute with a value")]
    BadDirection,
    #[error("more than one direction attribute in a section")]
    ConflictingDirection,
    #[error("a=crypto tag used twice in one m= section")]
    DuplicateCryptoTag,
    #[error("a=crypto: {0}")]
    Crypto(CryptoError),
}

/// A refused session description with the 1-based line at fault (0 when
/// the whole input is at fault, such as when it is too large).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {kind}")]
pub struct ParseError {
    pub kind: ErrorKind,
    pub line: u16,
}

impl From<CryptoError> for ErrorKind {
    fn from(e: CryptoError) -> ErrorKind {
        ErrorKind::Crypto(e)
    }
}

/// Why a packet or a key was refused.
///
/// A failed authentication is one opaque [`SrtpError::AuthFailed`]: the
/// receiver does not say which byte was wrong. Every error leaves the
/// context exactly as it was before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SrtpError {
    /// Shorter than its header, tag and trailer.
    #[error("packet too short")]
    TooShort,
    /// Longer than 65,535 bytes.
    #[error("packet too long")]
    TooLong,
    /// Not RTP/RTCP version 2, or the header runs past the packet.
    #[error("malformed RTP/RTCP header")]
    BadHeader,
    /// `protect`: the buffer has no room for the tag and trailer.
    #[error("buffer too small for the protected packet")]
    BufferTooSmall,
    /// The packet index was already received, or is older than the window.
    #[error("replayed or too old")]
    Replayed,
    /// The tag does not match: tampered, truncated or under another key.
    #[error("authentication failed")]
    AuthFailed,
    /// The packet carries an MKI other than this context's.
    #[error("unknown MKI")]
    UnknownMki,
    /// `protect`: this index was already protected; sending it again would
    /// reuse a keystream.
    #[error("packet index already used")]
    IndexReused,
    /// The key has protected its maximum number of packets (2^48 SRTP or
    /// 2^31 SRTCP): rekey.
    #[error("key exhausted")]
    KeyExhausted,
    /// `join_stream` for an SSRC the context already tracks.
    #[error("stream already known")]
    StreamExists,
    /// More SSRCs than one context tracks.
    #[error("too many SSRCs for one context")]
    TooManyStreams,
    /// A sending context was asked to receive, or the other way round.
    #[error("context used in the wrong direction")]
    WrongDirection,
    /// Master key, salt, call key or MKI of the wrong length.
    #[error("key material of the wrong length")]
    BadKeyLength,
    /// A call id that is empty or longer than 255 bytes.
    #[error("bad call id")]
    BadCallId,
    /// A suite name we recognise but do not implement.
    #[error("unsupported SRTP suite")]
    UnsupportedSuite,
    /// A suite name we do not recognise at all.
    #[error("unknown SRTP suite")]
    UnknownSuite,
}

//! Why a message could not be read, and what a gateway would answer.

use core::fmt;

use super::code::ReturnCode;
use super::message::TransactionId;
use super::params::ParamName;

/// What was wrong with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing but white space: no response is owed.
    Empty,
    TooLarge,
    TooManyLines,
    TooManyParams,
    TooManyMessages,
    NotText,
    /// The first line is not `VERB tid endpoint MGCP 1.0` nor `code tid [commentary]`.
    BadHeader,
    UnknownVerb,
    BadTransactionId,
    BadEndpoint,
    MissingVersion,
    UnsupportedVersion,
    BadReturnCode,
    /// A parameter line without `name:`.
    BadParamLine,
    UnknownParam,
    DuplicateParam(ParamName),
    BadValue(ParamName),
    BadMode,
    BadRestartMethod,
    LcoSyntax,
    LcoValue,
    LcoDuplicate,
}

/// A message that could not be read, with the transaction id if it was
/// readable (so a gateway can still answer) and the 1-based line at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    pub tid: Option<TransactionId>,
    pub line: u16,
    /// The first line named a command (so an error response is owed).
    pub is_command: bool,
}

impl ParseError {
    /// The RFC 3435 code a gateway answers this with.
    pub fn return_code(&self) -> ReturnCode {
        use ErrorKind::*;
        match self.kind {
            UnknownVerb => ReturnCode::UNKNOWN_COMMAND,
            BadEndpoint => ReturnCode::UNKNOWN_ENDPOINT,
            UnsupportedVersion => ReturnCode::INCOMPATIBLE_VERSION,
            UnknownParam => ReturnCode::BAD_PARAMETER,
            BadMode => ReturnCode::BAD_MODE,
            BadRestartMethod => ReturnCode::BAD_RESTART_METHOD,
            LcoSyntax => ReturnCode::BAD_LCO,
            LcoValue => ReturnCode::LCO_UNSUPPORTED_VALUE,
            LcoDuplicate => ReturnCode::LCO_INCONSISTENT,
            Empty | TooLarge | TooManyLines | TooManyParams | TooManyMessages | NotText
            | BadHeader | BadTransactionId | MissingVersion | BadReturnCode | BadParamLine
            | DuplicateParam(_) | BadValue(_) => ReturnCode::PROTOCOL_ERROR,
        }
    }

    /// Whether a response should go back: a command whose id we could read.
    pub fn wants_response(&self) -> Option<TransactionId> {
        if self.is_command && self.kind != ErrorKind::Empty {
            self.tid
        } else {
            None
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Empty => f.write_str("empty message"),
            TooLarge => f.write_str("message too large"),
            TooManyLines => f.write_str("too many lines"),
            TooManyParams => f.write_str("too many parameter lines"),
            TooManyMessages => f.write_str("too many piggy-backed messages"),
            NotText => f.write_str("message is not UTF-8 text"),
            BadHeader => f.write_str("malformed first line"),
            UnknownVerb => f.write_str("unknown command verb"),
            BadTransactionId => f.write_str("transaction id is not a number from 1 to 999999999"),
            BadEndpoint => f.write_str("malformed endpoint name"),
            MissingVersion => f.write_str("missing protocol version"),
            UnsupportedVersion => f.write_str("unsupported protocol version"),
            BadReturnCode => f.write_str("return code is not three digits"),
            BadParamLine => f.write_str("parameter line without a name and colon"),
            UnknownParam => f.write_str("unknown parameter"),
            DuplicateParam(p) => write!(f, "parameter {} given twice", p.code()),
            BadValue(p) => write!(f, "invalid value for parameter {}", p.code()),
            BadMode => f.write_str("unknown connection mode"),
            BadRestartMethod => f.write_str("unknown restart method"),
            LcoSyntax => f.write_str("malformed LocalConnectionOptions"),
            LcoValue => f.write_str("unsupported value in LocalConnectionOptions"),
            LcoDuplicate => f.write_str("LocalConnectionOptions item given twice"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {} ({})",
            self.line,
            self.kind,
            self.return_code()
        )
    }
}

impl core::error::Error for ParseError {}

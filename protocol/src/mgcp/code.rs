//! RFC 3435 section 2.4 return codes.

use core::fmt;

/// A three-digit MGCP return code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct ReturnCode(pub u16);

macro_rules! codes {
    ($($name:ident = $n:literal, $text:literal;)*) => {
        impl ReturnCode {
            $(#[doc = $text] pub const $name: ReturnCode = ReturnCode($n);)*

            /// The RFC's short description, or a class description for codes it does not list.
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($n => $text,)*
                    0..=99 => "response acknowledgement",
                    100..=199 => "provisional",
                    200..=299 => "success",
                    400..=499 => "transient error",
                    800..=899 => "package-specific",
                    _ => "permanent error",
                }
            }
        }
    };
}

codes! {
    ACK = 0, "response acknowledgement";
    TRYING = 100, "the transaction is being executed";
    QUEUED = 101, "the transaction has been queued";
    OK = 200, "the requested transaction was executed normally";
    DELETED = 250, "the connection was deleted";
    TRANSIENT = 400, "transient error";
    PHONE_OFF_HOOK = 401, "the phone is already off hook";
    PHONE_ON_HOOK = 402, "the phone is already on hook";
    NO_RESOURCES_NOW = 403, "insufficient resources available now";
    NO_BANDWIDTH_NOW = 404, "insufficient bandwidth";
    RESTARTING_NOW = 405, "the endpoint is restarting";
    TIMEOUT = 406, "transaction time-out";
    ABORTED = 407, "transaction aborted";
    OVERLOAD = 409, "internal overload";
    NO_ENDPOINT_AVAILABLE = 410, "no endpoint available";
    UNKNOWN_ENDPOINT = 500, "the endpoint is unknown";
    NOT_READY = 501, "the endpoint is not ready";
    NO_RESOURCES = 502, "insufficient resources";
    WILDCARD_TOO_COMPLICATED = 503, "all of: wildcard too complicated";
    UNKNOWN_COMMAND = 504, "unknown or unsupported command";
    UNSUPPORTED_RCD = 505, "unsupported RemoteConnectionDescriptor";
    LCO_RCD_CONFLICT = 506, "unable to satisfy both LocalConnectionOptions and RemoteConnectionDescriptor";
    UNSUPPORTED_FUNCTIONALITY = 507, "unsupported functionality";
    UNKNOWN_QUARANTINE = 508, "unknown or unsupported quarantine handling";
    BAD_RCD = 509, "error in RemoteConnectionDescriptor";
    PROTOCOL_ERROR = 510, "protocol error";
    UNRECOGNIZED_EXTENSION = 511, "unrecognized extension";
    CANT_DETECT_EVENT = 512, "cannot detect the requested event";
    CANT_GENERATE_SIGNAL = 513, "cannot generate the requested signal";
    CANT_SEND_ANNOUNCEMENT = 514, "cannot send the specified announcement";
    INCORRECT_CONNECTION_ID = 515, "incorrect connection-id";
    UNKNOWN_CALL_ID = 516, "unknown call-id";
    BAD_MODE = 517, "unsupported or invalid mode";
    UNKNOWN_PACKAGE = 518, "unsupported or unknown package";
    NO_DIGIT_MAP = 519, "endpoint does not have a digit map";
    RESTARTING = 520, "the endpoint is restarting";
    REDIRECTED = 521, "endpoint redirected to another call agent";
    NO_SUCH_EVENT = 522, "no such event or signal";
    BAD_ACTION = 523, "unknown action or illegal combination of actions";
    LCO_INCONSISTENT = 524, "internal inconsistency in LocalConnectionOptions";
    LCO_UNKNOWN_EXTENSION = 525, "unknown extension in LocalConnectionOptions";
    NO_BANDWIDTH = 526, "insufficient bandwidth";
    MISSING_RCD = 527, "missing RemoteConnectionDescriptor";
    INCOMPATIBLE_VERSION = 528, "incompatible protocol version";
    HARDWARE_FAILURE = 529, "internal hardware failure";
    CAS_ERROR = 530, "CAS signaling protocol error";
    TRUNK_GROUP_FAILURE = 531, "failure of a grouping of trunks";
    LCO_UNSUPPORTED_VALUE = 532, "unsupported value in LocalConnectionOptions";
    RESPONSE_TOO_LARGE = 533, "response too large";
    CODEC_NEGOTIATION = 534, "codec negotiation failure";
    PACKETIZATION = 535, "packetization period not supported";
    BAD_RESTART_METHOD = 536, "unknown or unsupported RestartMethod";
    BAD_DIGIT_MAP_EXTENSION = 537, "unknown or unsupported digit map extension";
    EVENT_PARAMETER_ERROR = 538, "event or signal parameter error";
    BAD_PARAMETER = 539, "invalid or unsupported command parameter";
    CONNECTION_LIMIT = 540, "per-endpoint connection limit exceeded";
    BAD_LCO = 541, "invalid or unsupported LocalConnectionOptions";
}

impl ReturnCode {
    pub fn is_ack(self) -> bool {
        self.0 < 100
    }
    pub fn is_provisional(self) -> bool {
        (100..200).contains(&self.0)
    }
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
    /// A final response: anything but an acknowledgement or a provisional one.
    pub fn is_final(self) -> bool {
        self.0 >= 200
    }
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl fmt::Debug for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} ({})", self.0, self.description())
    }
}

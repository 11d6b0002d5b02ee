//! Which call key a CRCX or MDCX asks for: one carried in `k:`, or one the
//! device derives from its session key (`x-key:derived` and no `k:`, see
//! `docs/keys.md`). Read and checked before anything changes.

use cablekey_protocol::callkey::{DERIVED_ITEM, DERIVED_VALUE};
use cablekey_protocol::mgcp::{LcoItem, LocalConnectionOptions, ReturnCode};
use cablekey_protocol::secret::SecretBytes;

use crate::connection::Id;
use crate::security::{SecurityError, SecurityManager};

pub(crate) enum KeyRequest {
    /// K itself, from `k:`.
    Carried(SecretBytes),
    /// Derive K for the connection's call id.
    Derived,
}

impl KeyRequest {
    /// The request in `lco`, if any. `k:` and `x-key:derived` together
    /// contradict each other (524); another `x-key` value, or a `k:` that
    /// holds no key bytes, is a value we do not support (532).
    pub(crate) fn read(
        lco: Option<&LocalConnectionOptions<'_>>,
    ) -> Result<Option<Self>, ReturnCode> {
        let Some(lco) = lco else {
            return Ok(None);
        };
        let derived = match lco.find(DERIVED_ITEM) {
            Some(LcoItem::Other { value, .. }) if value.eq_ignore_ascii_case(DERIVED_VALUE) => true,
            Some(_) => return Err(ReturnCode::LCO_UNSUPPORTED_VALUE),
            None => false,
        };
        match (lco.encryption_key(), derived) {
            (Some(_), true) => Err(ReturnCode::LCO_INCONSISTENT),
            (Some(k), false) => k
                .decode()
                .map(|k| Some(KeyRequest::Carried(k)))
                .map_err(|_| ReturnCode::LCO_UNSUPPORTED_VALUE),
            (None, true) => Ok(Some(KeyRequest::Derived)),
            (None, false) => Ok(None),
        }
    }

    pub(crate) fn is_derived(&self) -> bool {
        matches!(self, KeyRequest::Derived)
    }

    /// The key for call `call`.
    pub(crate) fn resolve(
        self,
        security: &SecurityManager,
        call: &Id,
    ) -> Result<SecretBytes, SecurityError> {
        match self {
            KeyRequest::Carried(k) => Ok(k),
            KeyRequest::Derived => security.derive_call_key(call),
        }
    }
}

//! Unparsed SDP text shown without its keys, for `Debug` and JSON of
//! messages that carry a session description.

use core::fmt;

use crate::secret::Fingerprint;

/// Writes SDP text with every `inline:` key and `k=` value replaced by a
/// fingerprint; the rest of each line is kept so the text stays useful.
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.0.split_inclusive('\n') {
            if let Some(value) = line.strip_prefix("k=") {
                write!(f, "k=<{}>", Fingerprint::of(value.trim_end().as_bytes()))?;
                f.write_str(&line[line.trim_end().len()..])?;
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("inline:") {
                let (head, tail) = rest.split_at(at + "inline:".len());
                f.write_str(head)?;
                let end = tail
                    .find(|c: char| c == '|' || c == ';' || c.is_ascii_whitespace())
                    .unwrap_or(tail.len());
                write!(f, "<{}>", Fingerprint::of(&tail.as_bytes()[..end]))?;
                rest = &tail[end..];
            }
            f.write_str(rest)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", alloc::format!("{self}"))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Redacted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn keys_become_fingerprints_and_the_rest_stays() {
        let sdp = "v=0\r\nk=base64:c2VjcmV0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3|2^20|1:4;inline:WllYV1ZVVFNSUVBPTk1MS0pJSEdGRURDQkE3NjU0|2^20|2:4 KDR=1\r\nm=audio 4000 RTP/SAVP 0\r\n";
        let shown = format!("{}", Redacted(sdp));
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(!shown.contains("QUJDREVG"), "{shown}");
        assert!(!shown.contains("WllYV1ZV"), "{shown}");
        assert!(shown.contains("inline:<fp:"), "{shown}");
        assert!(shown.contains("|2^20|1:4;inline:<fp:"), "{shown}");
        assert!(
            shown.contains(" KDR=1\r\nm=audio 4000 RTP/SAVP 0\r\n"),
            "{shown}"
        );
        assert!(!format!("{:?}", Redacted(sdp)).contains("QUJDREVG"));
    }
}
